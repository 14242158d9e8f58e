"""Helpers for the audience API route tests: synthetic API Gateway events on moto."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import cache
from typing import Any
from urllib.parse import quote

from growthos_segments.core.ports import SegmentRecord
from growthos_segments.devstack.front import ApiFront
from growthos_segments.devstack.functions import Authorizer, load_app
from growthos_segments.devstack.runtime import LambdaFunction
from growthos_segments.devstack.template import load_template
from growthos_segments.handlers.api_wiring import Service, build_service
from growthos_segments.handlers.wiring import build_service as build_evaluation
from growthos_segments.infra.memory import MemoryBackfillQueue
from growthos_segments.infra.repos import Repositories
from growthos_segments.infra.settings import TABLE_ENV, Settings
from growthos_segments.services.audience import Audience
from growthos_segments.services.backfill import Backfill


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, list[str]]


class FakeContext:
    function_name = "api"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:api"
    aws_request_id = "req"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def event(
    method: str,
    path: str,
    *,
    tenant: str | None = "t1",
    body: Any = None,
    raw_body: str | None = None,
    query: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    caller: str | None = None,
    teams: str | None = None,
) -> dict[str, Any]:
    """An API Gateway REST proxy event as the deployed API (and the local front) sends it
    (``caller`` and ``teams``: the key's name and teams, as the authorizer passes them)."""
    text = raw_body if raw_body is not None else (None if body is None else json.dumps(body))
    all_headers = {"Content-Type": "application/json", **(headers or {})}
    context: dict[str, Any] = {
        "stage": "v1",
        "requestId": "r1",
        "path": f"/v1{path}",
        "identity": {"sourceIp": "127.0.0.1"},
    }
    if tenant is not None:
        context["authorizer"] = {"tenant_id": tenant, "principalId": f"tenant:{tenant}",
                                 **({} if caller is None else {"caller": caller}),
                                 **({} if teams is None else {"teams": teams})}
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": all_headers,
        "multiValueHeaders": {k: [v] for k, v in all_headers.items()},
        "queryStringParameters": dict(query) if query else None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": context,
        "body": text,
        "isBase64Encoded": False,
    }


@dataclass
class Api:
    """Calls ``growthos_segments.handlers.api.handler`` with synthetic events, against moto."""

    repos: Repositories
    audience: Audience
    clock: Callable[[], datetime]
    queue: MemoryBackfillQueue = field(default_factory=MemoryBackfillQueue)

    @property
    def backfills(self) -> list[tuple[str, str, int]]:
        """(tenant, segment, version) of every backfill the API queued, in order."""
        return [(job.tenant_id, job.segment_id, job.version) for job in self.queue.jobs]

    def call(self, method: str, path: str, **kwargs: Any) -> Reply:
        from growthos_segments.handlers.api import handler

        result = handler(event(method, path, **kwargs), FakeContext())
        body = json.loads(result["body"]) if result.get("body") else None
        return Reply(result["statusCode"], body, result.get("multiValueHeaders") or {})

    def get(self, path: str, **kwargs: Any) -> Reply:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> Reply:
        return self.call("POST", path, body=body, **kwargs)

    # --- data ------------------------------------------------------------------------------

    def contact(self, contact_id: str, tenant: str = "t1", **profile: Any) -> None:
        self.repos.contacts.put({"tenant_id": tenant, "contact_id": contact_id, **profile}, now=self.clock())

    def save(self, segment_id: str, rule: Any, tenant: str = "t1", **fields: Any) -> SegmentRecord:
        head = self.repos.segments.get(tenant, segment_id)
        return self.repos.segments.save(
            SegmentRecord(
                tenant_id=tenant,
                segment_id=segment_id,
                name=fields.pop("name", segment_id),
                rule=rule,
                version=head.version if head else 0,
                **fields,
            ),
            now=self.clock(),
        )

    def backfill(self, tenant: str, segment_id: str) -> None:
        """What the backfill worker does for a saved segment, in-process."""
        service = build_evaluation(self.repos.settings, repos=self.repos, clock=self.clock)
        Backfill(service).run(tenant, segment_id, workers=1)


def build_api(repos: Repositories, clock: Callable[[], datetime]) -> tuple[Api, Service]:
    """The API wired to ``repos`` with a fixed clock; returns it and the Service to install."""
    queue = MemoryBackfillQueue()
    service = build_service(repos, clock=clock, backfills=queue)
    return Api(repos, service.audience, clock, queue), service


def path(*parts: str) -> str:
    return "/" + "/".join(quote(p, safe="") for p in parts)


PRO = {"attribute": {"field": "plan", "op": "equals", "value": "pro"}}
OPENED = {"email": {"action": "opened", "within": "30d"}}


def install(repos: Repositories, clock: Callable[[], datetime], patch: Any) -> Api:
    """Point the API's routes at ``repos`` (the environment too, for code reading it)."""
    import growthos_segments.handlers.api_wiring as module

    for name, value in repos.settings.table_env().items():
        patch.setenv(name, value)
    api, service = build_api(repos, clock)
    patch.setattr(module, "service", lambda: service)
    return api


def install_imports(repos: Repositories, patch: Any) -> Repositories:
    """The CSV imports' bucket and queue on moto: ``repos`` with settings naming them, as
    the template's variables name them for the API function, and the same variables in
    the environment (the import function reads its settings from there)."""
    from growthos_segments.infra import aws

    aws.client("s3", repos.settings).create_bucket(Bucket=IMPORTS_BUCKET)
    queue = str(aws.client("sqs", repos.settings).create_queue(QueueName=IMPORTS_BUCKET)["QueueUrl"])
    patch.setenv("IMPORTS_BUCKET", IMPORTS_BUCKET)
    patch.setenv("IMPORT_QUEUE_URL", queue)
    settings = replace(repos.settings, imports_bucket=IMPORTS_BUCKET, import_queue_url=queue)
    return replace(repos, settings=settings)


IMPORTS_BUCKET = "it-imports"


def local_front(
    functions: dict[str, LambdaFunction] | None = None,
    *,
    identity: tuple[str, ...] = ("x-api-key",),
    ready: bool = True,
    listen: bool = False,
) -> ApiFront:
    """The local API Gateway over the template's routes and functions (or ``functions``),
    with ``identity`` as the authorizer's identity headers. Call its ``handle`` directly,
    or with ``listen`` start and stop it to serve HTTP on 127.0.0.1 (a free port).
    The authorizer reads ``API_KEYS`` from the environment."""
    app = load_app(load_template())
    authorizers = {
        api: Authorizer(a.name, a.function, a.payload_type, identity, a.reauthorize_every) if a else None
        for api, a in app.authorizers.items()
    }
    built = functions or {name: LambdaFunction(spec, "us-east-1") for name, spec in app.functions.items()}
    event = threading.Event()
    if ready:
        event.set()
    front = ApiFront(app.routes, built, authorizers, {api: "v1" for api in app.stages}, port=0, ready=event)
    if not listen:
        front.server.server_close()  # handle() is called directly; no socket needed
    return front


def reset_authorizer(patch: Any, api_keys: str) -> None:
    """``API_KEYS`` for the authorizer function, read afresh on its next call (into
    settings of its own: the process's cached settings stay as they were). Table
    names the test did not set are made up: the authorizer reads none of them."""
    import growthos_segments.handlers.authorizer as module

    patch.setenv("API_KEYS", api_keys)
    for name, variable in TABLE_ENV.items():
        if not os.environ.get(variable):
            patch.setenv(variable, f"authorizer-test-{name}")
    patch.setattr(module, "current_settings", cache(Settings.from_env))
