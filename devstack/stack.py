"""``make run``: the whole service on 127.0.0.1, from ``template.yaml``, ready in seconds.

Order of start-up, and why:

1. Bind the API port and moto's port first, so a taken port is one clear line
   before any work is done.
2. Create what the template declares (tables, queues, the bus) on moto, tables
   with their streams *off*.
3. Seed the demo tenants through the DynamoDB layer, fill their segments, then
   switch the streams on. Seed data is history, like an import before go-live:
   replaying thousands of seed records through the evaluator would keep the
   pump busy for minutes and put a user's first real-time change at the back of
   that queue. The seeded documents are still in memory, so
   :class:`growthos_segments.devstack.initial_load.InitialLoad` evaluates them with the membership engine
   (tenant context first) and writes the memberships, counters and re-checks in
   bulk: every seeded segment is filled at "ready", as of the seeding instant.
   Running the real backfill of every segment instead reads each contact back
   and writes each enter as its own transaction, which on moto took minutes for
   the 3,000-contact demo.
4. Start one stream pump per ``Type: DynamoDB`` event, the SQS pollers, the
   schedules and the bus printer, for every function whose handler exists.
5. Warm the API and authorizer (their cold start happens before "ready", not on
   the user's first curl), then answer requests.

Ctrl-C (or SIGTERM) stops everything in reverse and exits 0 once every thread
has finished; a second Ctrl-C during shutdown exits at once.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from growthos_segments.devstack.bus import EventPrinter, tap_bus
from growthos_segments.devstack.demo_data import (
    SeedReport,
    api_key_for,
    demo_segments,
    documents,
    generate,
    team_key_for,
    write,
)
from growthos_segments.devstack.front import WEB_DIST, ApiFront
from growthos_segments.devstack.functions import LocalApp, Resolver, TemplateError, load_app
from growthos_segments.devstack.initial_load import InitialLoad, LoadReport
from growthos_segments.devstack.motoserver import MotoServer, PortInUse
from growthos_segments.devstack.progress import ProgressLine
from growthos_segments.devstack.pump import MappingConfig, StreamPump, StreamReader, failure_message
from growthos_segments.devstack.queues import QueuePoller, ScheduleRunner
from growthos_segments.devstack.runtime import ACCOUNT_ID, LambdaFunction
from growthos_segments.devstack.template import TEMPLATE_PATH, create_tables, load_template, table_properties
from growthos_segments.infra import aws
from growthos_segments.infra.repos._common import iso
from growthos_segments.infra.settings import TABLE_LOGICAL_IDS, Settings, SettingsError

__all__ = ["DEFAULT_MOTO_PORT", "DEFAULT_PORT", "LocalStack", "Options", "auth_header", "cli_hint", "main"]

log = logging.getLogger("growthos_segments.devstack")

DEFAULT_PORT = 3000
DEFAULT_MOTO_PORT = 5055
LOOPBACK = "127.0.0.1"
READY_MARKER = "local stack ready in"
"""Start of the line printed when the stack answers requests (tests wait for it)."""
FILLED_MARKER = "seeded segments filled as of"
"""Names the instant the seeded memberships were evaluated at (tests compare at it)."""

_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "FifoQueue",
    "ContentBasedDeduplication",
    "SqsManagedSseEnabled",
)


@dataclass(frozen=True, slots=True)
class Options:
    port: int = DEFAULT_PORT
    moto_port: int = DEFAULT_MOTO_PORT
    prefix: str = "growthos"
    """The stack name: tables are ``<prefix>-contacts`` ..., the bus ``<prefix>-segments``."""
    region: str = "us-east-1"
    tenants: tuple[tuple[str, int], ...] = (("demo", 3000), ("acme", 100))
    seed: int = 7
    handler_log_level: str = "WARNING"
    """Overrides the template's ``LogLevel`` parameter (Powertools JSON logs are noisy)."""
    poll_interval: float = 0.25
    """Seconds between GetRecords calls on an idle shard (Lambda polls four times a second)."""
    template_path: Path = TEMPLATE_PATH
    verbose_moto: bool = False
    data_dir: Path | None = None
    """Where the stack keeps files (the analytical copy, ``ANALYTICS_COPY``); ``None``: a
    temporary folder, removed when the stack stops."""


def cli_hint(command: str, moto_port: int, prefix: str, region: str) -> str:
    """The ``segments`` command line that reaches this stack (ports and names as started)."""
    words = [f"MOTO_PORT={moto_port}"] if moto_port != DEFAULT_MOTO_PORT else []
    words += [".venv/bin/segments", command]
    defaults = Options()
    if prefix != defaults.prefix:
        words += ["--prefix", prefix]
    if region != defaults.region:
        words += ["--region", region]
    return " ".join(words)


def auth_header(app: LocalApp, api_key: str) -> tuple[str, str]:
    """The header that carries an API key for this template's authorizer.

    The authorizer reads ``x-api-key`` only, and API Gateway refuses a request
    that lacks the authorizer's declared identity header before calling it, so
    a template that declares another identity source cannot be served.
    """
    identities = {h.lower() for a in app.authorizers.values() if a for h in a.identity_headers}
    if not identities or "x-api-key" in identities:
        return "x-api-key", api_key
    raise TemplateError(f"the authorizer reads x-api-key, but the template declares {sorted(identities)}")


@dataclass
class _Started:
    pumps: list[StreamPump] = field(default_factory=list)
    pollers: list[QueuePoller] = field(default_factory=list)
    schedules: list[ScheduleRunner] = field(default_factory=list)
    printer: EventPrinter | None = None


class LocalStack:
    """The running local stack; :meth:`start` then :meth:`stop`."""

    def __init__(self, options: Options, emit: Callable[[str], None] | None = None) -> None:
        self.options = options
        self.emit = emit or (lambda line: print(line, flush=True))
        self.template = load_template(options.template_path)
        self.app = load_app(self.template)
        self.stop_event = threading.Event()
        self.ready = threading.Event()
        self.functions = {
            name: LambdaFunction(spec, options.region, stop=self.stop_event)
            for name, spec in self.app.functions.items()
        }
        self.resolver = Resolver(conditions=self.template.get("Conditions") or {})
        self.front: ApiFront | None = None
        self.moto: MotoServer | None = None
        self.settings: Settings | None = None
        self.reports: list[SeedReport] = []
        self.fills: list[LoadReport] = []
        self.filled_at: datetime | None = None
        """The instant the seeded segments were evaluated at (their state is as of then)."""
        self.progress = ProgressLine(self.emit if emit is not None else None)
        self.queue_urls: dict[str, str] = {}
        """Queue URL by ARN, for on-failure destinations given as ``!GetAtt Queue.Arn``."""
        self.tap_url = ""
        """The queue the bus forwards every event to (read by the printer)."""
        self._started = _Started()
        self._clients: dict[str, Any] = {}
        self.data_dir = options.data_dir
        self._own_data_dir = options.data_dir is None
        self.copied: dict[str, int] = {}
        """Contacts in each seeded tenant's analytical copy, built at start."""

    @property
    def analytics_copy(self) -> Path:
        """The folder of the analytical copy (``ANALYTICS_COPY`` of the functions)."""
        assert self.data_dir is not None
        return self.data_dir / "analytics-copy"

    # --- start ------------------------------------------------------------------------

    def start(self) -> None:
        began = time.perf_counter()
        options = self.options
        self._pseudo_parameters()
        stages = {
            api: str(self.resolver.resolve(stage, f"{api}.StageName"))
            for api, stage in self.app.stages.items()
        }
        self.front = ApiFront(
            self.app.routes,
            self.functions,
            self.app.authorizers,
            stages,
            host=LOOPBACK,
            port=options.port,
            region=options.region,
            ready=self.ready,
        )
        self.moto = MotoServer(LOOPBACK, options.moto_port, verbose=options.verbose_moto)
        self.moto.start()
        self.front.start()
        self.progress.note(f"moto on {self.moto.url}: creating the template's tables, queues and event bus")
        bus_name = self._bus_name()
        self.settings = Settings.local(
            options.prefix, endpoint_url=self.moto.url, region=options.region, event_bus_name=bus_name
        )
        for service in ("dynamodb", "dynamodbstreams", "sqs", "events", "s3"):
            self._clients[service] = aws.client(service, self.settings)
        self._create_resources(bus_name)
        if self.data_dir is None:
            self.data_dir = Path(tempfile.mkdtemp(prefix=f"{options.prefix}-stack-"))
        self._handler_environment()
        self._seed()
        self._copy_seeded()
        self._enable_streams()
        self._start_triggers()
        for function in self._api_functions():
            function.available()  # cold start now, not on the first request
        self.ready.set()
        self._banner(time.perf_counter() - began)

    def _pseudo_parameters(self) -> None:
        refs = self.resolver.refs
        for name, parameter in (self.template.get("Parameters") or {}).items():
            refs[name] = parameter.get("Default")
        refs["LogLevel"] = self.options.handler_log_level
        refs.update(
            {
                "AWS::StackName": self.options.prefix,
                "AWS::Region": self.options.region,
                "AWS::AccountId": ACCOUNT_ID,
                "AWS::Partition": "aws",
                "AWS::URLSuffix": "amazonaws.com",
            }
        )
        for name in self.app.functions:
            refs[name] = name
            self.resolver.attributes[(name, "Arn")] = self.functions[name].arn
        for api in self.app.stages:
            refs[api] = api.lower()

    def _resources(self, kind: str) -> dict[str, Mapping[str, Any]]:
        return {k: v for k, v in self.template.get("Resources", {}).items() if v.get("Type") == kind}

    def _bus_name(self) -> str:
        buses = self._resources("AWS::Events::EventBus")
        if len(buses) != 1:
            raise TemplateError(f"expected one AWS::Events::EventBus in the template, found {len(buses)}")
        ((logical_id, bus),) = buses.items()
        name = str(self.resolver.resolve(bus.get("Properties", {}).get("Name"), f"{logical_id}.Name"))
        region = self.options.region
        self.resolver.refs[logical_id] = name
        self.resolver.attributes[(logical_id, "Name")] = name
        self.resolver.attributes[(logical_id, "Arn")] = (
            f"arn:aws:events:{region}:{ACCOUNT_ID}:event-bus/{name}"
        )
        return name

    def _create_resources(self, bus_name: str) -> None:
        assert self.settings is not None
        settings = self.settings
        names = {TABLE_LOGICAL_IDS[n]: table for n, table in settings.tables.as_dict().items()}
        quiet = json.loads(
            json.dumps(self.template)
        )  # the same tables with their streams off (see module doc)
        for resource in quiet["Resources"].values():
            if resource.get("Type") == "AWS::DynamoDB::Table":
                resource["Properties"].pop("StreamSpecification", None)
        create_tables(settings, self._clients["dynamodb"], quiet)
        for logical_id, table in names.items():
            self.resolver.refs[logical_id] = table
            self.resolver.attributes[(logical_id, "Arn")] = (
                f"arn:aws:dynamodb:{settings.region}:{ACCOUNT_ID}:table/{table}"
            )
        for logical_id in self._resources("AWS::S3::Bucket"):  # created empty: CSV imports upload to one
            bucket = f"{self.options.prefix}-{logical_id.lower()}"
            self._clients["s3"].create_bucket(Bucket=bucket)
            self.resolver.refs[logical_id] = bucket
            self.resolver.attributes[(logical_id, "Arn")] = f"arn:aws:s3:::{bucket}"
        self._create_queues()
        self.tap_url = tap_bus(self._clients["events"], self._clients["sqs"], bus_name, self.options.prefix)
        self._create_rules()

    def _create_rules(self) -> None:
        """Each ``AWS::Events::Rule``: its pattern on its bus, delivering to its queues."""
        events = self._clients["events"]
        for logical_id, rule in self._resources("AWS::Events::Rule").items():
            props = self.resolver.resolve(rule.get("Properties") or {}, f"{logical_id}.Properties")
            targets = props.get("Targets") or []
            strange = [t.get("Arn") for t in targets if t.get("Arn") not in self.queue_urls]
            if "EventPattern" not in props or strange:
                raise TemplateError(f"{logical_id}: the local stack runs event-pattern rules with queue "
                                    f"targets only, not {strange or 'a rule without EventPattern'}")
            name, bus = f"{self.options.prefix}-{logical_id}", str(props.get("EventBusName") or "default")
            arn = events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps(props["EventPattern"]),
                                  State=str(props.get("State") or "ENABLED"))["RuleArn"]
            if targets:
                events.put_targets(Rule=name, EventBusName=bus,
                                   Targets=[{"Id": str(t["Id"]), "Arn": str(t["Arn"])} for t in targets])
            self.resolver.refs[logical_id] = name
            self.resolver.attributes[(logical_id, "Arn")] = arn

    def _create_queues(self) -> None:
        pending = dict(self._resources("AWS::SQS::Queue"))
        sqs = self._clients["sqs"]
        while pending:
            progressed = False
            for logical_id, queue in list(pending.items()):
                props = dict(queue.get("Properties") or {})
                try:
                    redrive = self.resolver.resolve(props.get("RedrivePolicy"), f"{logical_id}.RedrivePolicy")
                except TemplateError:
                    continue  # its dead-letter queue is not created yet
                attributes = {
                    k: str(props[k]).lower() if isinstance(props[k], bool) else str(props[k])
                    for k in _QUEUE_ATTRIBUTES
                    if k in props
                }
                if redrive:
                    attributes["RedrivePolicy"] = json.dumps(redrive)
                name = f"{self.options.prefix}-{logical_id}" + (".fifo" if props.get("FifoQueue") else "")
                url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
                arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                    "QueueArn"
                ]
                self.resolver.refs[logical_id] = url
                self.resolver.attributes.update(
                    {(logical_id, "Arn"): arn, (logical_id, "QueueName"): name, (logical_id, "QueueUrl"): url}
                )
                self.queue_urls[arn] = url
                del pending[logical_id]
                progressed = True
            if not progressed:
                raise TemplateError(
                    f"queues reference something the local stack cannot resolve: {sorted(pending)}"
                )

    def _handler_environment(self) -> None:
        """One process, one environment: the template's variables for every function."""
        merged: dict[str, str] = {}
        for name, spec in self.app.functions.items():
            for variable, value in spec.environment.items():
                resolved = str(self.resolver.resolve(value, f"{name}.Environment.{variable}"))
                if variable in merged and merged[variable] != resolved:
                    log.warning(
                        "%s sets %s=%s but another function sets %s; the local stack uses one value",
                        name,
                        variable,
                        resolved,
                        merged[variable],
                    )
                merged.setdefault(variable, resolved)
        assert self.moto is not None
        if "ANALYTICS_COPY" in merged:  # the template's bucket on AWS, a folder of the stack here
            merged["ANALYTICS_COPY"] = str(self.analytics_copy)
        # Every tenant's key is its administrator's (no team); the first tenant also has a key of
        # team "growth", which sees only segments of no team or of that team.
        tenants = [tenant for tenant, _ in self.options.tenants]
        keys = ",".join([*(f"{api_key_for(tenant)}={tenant}/{tenant}-admin" for tenant in tenants),
                         f"{team_key_for(tenants[0])}={tenants[0]}/growth-app/growth"])
        merged.update(
            {
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_REGION": self.options.region,
                "AWS_DEFAULT_REGION": self.options.region,
                "AWS_ENDPOINT_URL": self.moto.url,
                "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
                "POWERTOOLS_TRACE_DISABLED": "true",
                "API_KEYS": keys,
            }
        )
        for variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
            os.environ.pop(variable, None)
        os.environ.update(merged)
        forget_process_caches()

    def _seed(self) -> None:
        from growthos_segments.infra.repos import build_repositories
        from growthos_segments.plugins import default_host

        assert self.settings is not None
        repos = build_repositories(self.settings)
        host = default_host()
        now = datetime.now(UTC).replace(microsecond=0)
        self.filled_at = now
        for tenant, contacts in self.options.tenants:
            if self.stop_event.is_set():
                return
            data = generate(tenant, contacts, now=now, seed=self.options.seed)
            report = write(repos, data, demo_segments(tenant, host), now=now,
                           progress=self._progress(f"{tenant}: seeding"))
            self.reports.append(report)
            log.info("seeded %s: %d contacts, %d events, %d segments in %.1f s",
                     tenant, report.contacts, report.events, len(report.segments), report.seconds)
            filled = InitialLoad(repos, host).run(
                tenant, documents(data), now, cancelled=self.stop_event.is_set,
                progress=self._progress(f"{tenant}: filling segments,"),
            )
            if filled is None:
                return
            self.fills.append(filled)
            log.info("filled %s: %d memberships of %d segments and %d re-checks, as of %s, in %.1f s",
                     tenant, filled.memberships, filled.segments, filled.rechecks, iso(now), filled.seconds)

    def _copy_seeded(self) -> None:
        """Build each seeded tenant's analytical copy from the tables (the rebuild an existing
        tenant gets), before the streams are on: every later change arrives as a delta."""
        if "ANALYTICS_COPY" not in os.environ or self.stop_event.is_set():
            return
        from growthos_segments.handlers.copy import build_copy_service

        assert self.settings is not None
        service = build_copy_service(replace(self.settings, analytics_copy=str(self.analytics_copy)))
        for report in self.reports:
            self.progress.note(f"{report.tenant_id}: building the analytical copy")
            self.copied[report.tenant_id] = service.rebuild(report.tenant_id)

    def _progress(self, prefix: str) -> Callable[[str, int, int], None]:
        def report(what: str, done: int, total: int) -> None:
            self.progress.step(f"{prefix} {what}", done, total)

        return report

    def _enable_streams(self) -> None:
        dynamodb = self._clients["dynamodb"]
        for logical_id, props in table_properties(self.template).items():
            stream = props.get("StreamSpecification")
            if not stream:
                continue
            table = self.resolver.refs[logical_id]
            dynamodb.update_table(TableName=table, StreamSpecification={"StreamEnabled": True, **stream})
            arn = dynamodb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
            self.resolver.attributes[(logical_id, "StreamArn")] = arn

    def _start_triggers(self) -> None:
        started = self._started
        region = self.options.region
        for source in self.app.streams:
            function = self.functions[source.function]
            if not source.enabled or not function.available():
                continue
            arn = self.resolver.getatt(source.table, "StreamArn", f"{source.function}.{source.name}")
            destination = self._destination(source.on_failure, source.on_failure_type, source.function)
            pump = StreamPump(
                f"{source.function}:{source.name}",
                StreamReader(self._clients["dynamodbstreams"], arn, region),
                MappingConfig.from_source(source),
                function.invoke,
                self._on_failure(function, arn, destination),
                self.stop_event,
                poll_interval=self.options.poll_interval,
            )
            pump.start()
            started.pumps.append(pump)
        for queue_source in self.app.queues:
            function = self.functions[queue_source.function]
            if not queue_source.enabled or not function.available():
                continue
            url = self.resolver.ref(queue_source.queue, f"{queue_source.function}.{queue_source.name}")
            arn = self.resolver.getatt(queue_source.queue, "Arn", queue_source.name)
            poller = QueuePoller(
                queue_source, self._clients["sqs"], url, arn, function.invoke, self.stop_event, region
            )
            poller.start()
            started.pollers.append(poller)
        for schedule in self.app.schedules:
            function = self.functions[schedule.function]
            if not schedule.enabled or not function.available():
                continue
            runner = ScheduleRunner(schedule, function.invoke, self.stop_event, region)
            runner.start()
            started.schedules.append(runner)
        started.printer = EventPrinter(self._clients["sqs"], self.tap_url, self.stop_event, self.emit)
        started.printer.start()

    def _destination(self, destination: Any, kind: str | None, function: str) -> str | None:
        if destination is None:
            return None
        if kind not in (None, "SQS"):
            log.warning(
                "%s: on-failure destination type %s is not reproduced locally; failures are logged",
                function,
                kind,
            )
            return None
        arn = self.resolver.resolve(destination, f"{function}.DestinationConfig")
        return self.queue_urls.get(str(arn))

    def _on_failure(
        self, function: LambdaFunction, stream_arn: str, queue_url: str | None
    ) -> Callable[[str, list[dict[str, Any]], str, int, str | None], None]:
        sqs = self._clients["sqs"]

        def send(
            shard_id: str, records: list[dict[str, Any]], condition: str, count: int, error: str | None
        ) -> None:
            message = failure_message(
                function_arn=function.arn,
                stream_arn=stream_arn,
                shard_id=shard_id,
                records=records,
                condition=condition,
                invoke_count=count,
                error=error,
            )
            info = message["DDBStreamBatchInfo"]
            log.warning(
                "%s gave up on %d record(s) %s..%s (%s)%s",
                function.spec.logical_id,
                len(records),
                info["startSequenceNumber"],
                info["endSequenceNumber"],
                condition,
                "" if queue_url else "; no on-failure destination, they are dropped",
            )
            if queue_url:
                sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(message))

        return send

    def _api_functions(self) -> list[LambdaFunction]:
        names = {route.function for route in self.app.routes}
        names |= {a.function for a in self.app.authorizers.values() if a is not None}
        return [self.functions[name] for name in sorted(names)]

    def _banner(self, seconds: float) -> None:
        assert self.front is not None and self.moto is not None
        url = self.front.url
        triggered = {source.function for sources in (self.app.streams, self.app.queues, self.app.schedules,
                                                     self.app.routes) for source in sources}
        triggered |= {a.function for a in self.app.authorizers.values() if a is not None}
        running = sorted(n for n, f in self.functions.items() if n in triggered and f.available())
        untriggered = sorted(n for n in self.functions if n not in triggered)
        missing = sorted(n for n, f in self.functions.items() if n in triggered and not f.available())
        lines = [
            f"{READY_MARKER} {seconds:.1f} s: API {url}",
            self._app_line(url),
            f"  moto (DynamoDB, Streams, SQS, EventBridge)  {self.moto.url}",
        ]
        members = {fill.tenant_id: fill.memberships for fill in self.fills}
        for report in self.reports:
            lines.append(
                f"  tenant {report.tenant_id:<6} {report.contacts} contacts, {report.events} events, "
                f"{len(report.segments)} segments ({members.get(report.tenant_id, 0)} memberships)   "
                f"API key: {api_key_for(report.tenant_id)}"
            )
        first = self.reports[0].tenant_id if self.reports else None
        if first is not None:
            lines.append(f"  tenant {first}'s team key (team growth: its segments and those of no team): "
                         f"{team_key_for(first)}")
        if self.filled_at is not None:
            lines.append(f"  {FILLED_MARKER} {iso(self.filled_at)}; the scheduler applies what time changes")
        if self.copied:
            counts = ", ".join(f"{tenant} {contacts}" for tenant, contacts in self.copied.items())
            lines.append(f"  analytical copy ({counts} contacts) in {self.analytics_copy}")
        lines.append(f"  running: {', '.join(running)}")
        if untriggered:
            lines.append(f"  no local trigger (deploy-time only): {', '.join(untriggered)}")
        if missing:
            lines.append(f"  not written yet (triggers skipped): {', '.join(missing)}")
        tenant = self.options.tenants[0][0]
        name, value = auth_header(self.app, api_key_for(tenant))
        header = f"-H '{name}: {value}'"
        rule = json.dumps(
            {
                "rule": {
                    "and": [
                        {"score": {"name": "nps", "gte": 9}},
                        {"attribute": {"field": "plan", "op": "equals", "value": "pro"}},
                    ]
                }
            }
        )
        seeded = next((r.segments for r in self.reports if r.tenant_id == tenant and r.segments), [])
        example = "at_risk" if "at_risk" in seeded else next(iter(seeded), None)
        options = self.options
        lines += ["", "Try:", f"  curl -s {url}/health {header}"]
        if example is not None:
            lines.append(f"  curl -s {url}/segments/{example}/count {header}")
        lines += [
            f"  curl -s {url}/condition-types {header} | head -c 600; echo",
            f"  curl -s -X POST {url}/rules/validate {header} -d '{rule}'",
            "In another terminal:",
            f"  {cli_hint('tail', self.moto.port, options.prefix, options.region)}"
            "       # every Segment Entered / Exited on the bus (--json: whole events)",
            f"  {cli_hint('simulate', self.moto.port, options.prefix, options.region)}"
            "   # realistic changes; their transitions print here and in tail",
            "Ctrl-C stops everything.",
        ]
        self.emit("\n".join(lines))

    def _app_line(self, url: str) -> str:
        """Where a browser finds the Segment Builder, already connected with the first demo
        tenant's key, or why it is not served."""
        assert self.front is not None
        if self.front.site is None or not (self.front.site / "index.html").is_file():
            return f"  Segment Builder: not served, {WEB_DIST} is not built (make web)"
        return f"  Segment Builder (web app)  {url}/?key={api_key_for(self.options.tenants[0][0])}"

    # --- stop -------------------------------------------------------------------------

    def stop(self, timeout: float = 8.0) -> bool:
        """Stop every thread and server; ``True`` if all of them finished in time.

        Functions in flight see no time left (:class:`~growthos_segments.devstack.runtime.FakeContext`)
        and wind down, pollers and pumps finish the batch in hand: the whole stack
        is down well within the 10 s a person waits after Ctrl-C. An invocation
        still running at ``timeout`` is cut off, as a Lambda time-out would cut it
        (that is not a failure to stop); any other thread still running is.
        """
        deadline = time.monotonic() + timeout
        self.ready.clear()
        self.stop_event.set()
        stuck: list[str] = []
        if self.front is not None and not self.front.stop(max(0.1, deadline - time.monotonic())):
            stuck.append("api-front")
        started = self._started
        for pump in started.pumps:
            stuck += pump.join(max(0.1, deadline - time.monotonic()))
        threads = [p.thread for p in started.pollers] + [
            s.thread for s in started.schedules if s.thread.ident
        ]
        if started.printer is not None:
            threads.append(started.printer.thread)
        for thread in threads:
            thread.join(max(0.1, deadline - time.monotonic()))
            if thread.is_alive():
                stuck.append(thread.name)
        busy = {name for name, function in self.functions.items() if function.busy}
        cut = [name for name in stuck if busy & set(name.split(":"))]
        if self.moto is not None and not self.moto.stop(max(0.1, deadline - time.monotonic())):
            stuck.append("moto-server")
        if cut:
            # A handler that does not watch its time (the stream evaluator mid-batch) is
            # cut off, as Lambda cuts off a time-out; its data goes with moto anyway.
            log.warning("cut off at shutdown, as a time-out would: %s", ", ".join(sorted(busy)))
            stuck = [name for name in stuck if name not in cut]
        if stuck:
            log.error("still running after %.0f s: %s", timeout, ", ".join(stuck))
        if self._own_data_dir and self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        return not stuck


CACHED_MODULES = (
    "growthos_segments.handlers.", "growthos_segments.infra.settings", "growthos_segments.infra.aws",
)
"""Where functions cache what they build from the environment (settings, clients, services)."""


def forget_process_caches() -> None:
    """Drop what the handlers built once per process (``functools.cache``), as Lambda
    builds it once per container: a new environment — a second stack in the same
    process, as ``make bench`` starts several — must not reach the first stack's
    moto endpoint through a client built for it."""
    for name, module in list(sys.modules.items()):
        if not name.startswith(CACHED_MODULES):
            continue
        for value in list(vars(module).values()):
            clear = getattr(value, "cache_clear", None)
            if callable(clear) and getattr(value, "__module__", None) == name:
                clear()


# --- command line -------------------------------------------------------------------------


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    try:
        return int(raw) if raw else default
    except ValueError:
        raise SystemExit(f"{name} must be a port number, got {raw!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m growthos_segments.devstack",
        description="Run the segment engine locally on moto (no AWS, no Docker).",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=_env_int("LOCAL_API_PORT", DEFAULT_PORT),
        help=f"API port on 127.0.0.1 (env LOCAL_API_PORT, default {DEFAULT_PORT}; 0: any free)",
    )
    parser.add_argument(
        "--moto-port",
        type=int,
        default=_env_int("MOTO_PORT", DEFAULT_MOTO_PORT),
        help=f"moto port on 127.0.0.1 (env MOTO_PORT, default {DEFAULT_MOTO_PORT}; 0: any free)",
    )
    parser.add_argument(
        "--contacts",
        type=int,
        default=_env_int("DEMO_CONTACTS", 3000),
        help="contacts of the demo tenant (env DEMO_CONTACTS, default 3000)",
    )
    parser.add_argument("--seed", type=int, default=7, help="demo data seed")
    parser.add_argument(
        "--prefix", default="growthos", help="stack name: prefix of every table, queue and bus"
    )
    parser.add_argument("--log-level", default="INFO", help="local stack log level (default INFO)")
    parser.add_argument(
        "--handler-log-level",
        default="WARNING",
        help="the template's LogLevel parameter for the functions (default WARNING)",
    )
    parser.add_argument("--verbose-moto", action="store_true", help="log every request moto serves")
    return parser


def _options(args: argparse.Namespace) -> Options:
    if args.contacts < 1:
        raise SystemExit("--contacts must be at least 1")
    tenants = (("demo", args.contacts), ("acme", min(100, args.contacts)))
    return replace(
        Options(),
        port=args.port,
        moto_port=args.moto_port,
        prefix=args.prefix,
        tenants=tenants,
        seed=args.seed,
        handler_log_level=args.handler_log_level.upper(),
        verbose_moto=args.verbose_moto,
    )


def _configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("infra").setLevel(level.upper())


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging(args.log_level)
    options = _options(args)

    def terminate(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    # Explicitly: a process started in the background of a script inherits SIGINT
    # as ignored, and Python then installs no KeyboardInterrupt handler of its own.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, terminate)
    stack: LocalStack | None = None
    code = 0
    try:
        stack = LocalStack(options)
        stack.start()
        while not stack.stop_event.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    except PortInUse as error:
        flag = "--moto-port (or MOTO_PORT)" if error.what == "moto server" else "--port (or LOCAL_API_PORT)"
        print(
            f"error: port {error.port} on {error.host} is already in use; stop whatever listens there "
            f"or choose another with {flag}",
            file=sys.stderr,
            flush=True,
        )
        code = 2
    except (TemplateError, SettingsError) as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        code = 1

    def force(signum: int, frame: FrameType | None) -> None:
        print("\nforced exit", file=sys.stderr, flush=True)
        os._exit(130)

    signal.signal(signal.SIGINT, force)
    signal.signal(signal.SIGTERM, force)
    if stack is not None:
        if code == 0:
            print("\nstopping ...", flush=True)
        clean = stack.stop()
        if code == 0:
            print("stopped cleanly" if clean else "stopped, but some threads did not finish", flush=True)
            code = 0 if clean else 1
    return code
