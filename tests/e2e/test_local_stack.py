"""``make run`` as a user runs it: a subprocess, real HTTP on loopback, Ctrl-C to stop.

The stack starts on free ports (``--port 0 --moto-port 0``) with a small demo
tenant, and the test waits for the ready line rather than sleeping, so it is
quick on an idle machine and still passes on a loaded two-core CI runner.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from growthos_segments.core.segments import SegmentSet
from growthos_segments.devstack.bus import SEGMENT_EVENTS, subscribe
from growthos_segments.devstack.demo_data import api_key_for
from growthos_segments.devstack.functions import load_app
from growthos_segments.devstack.stack import FILLED_MARKER, READY_MARKER, auth_header
from growthos_segments.devstack.template import load_template
from growthos_segments.infra import aws, keys
from growthos_segments.infra.repos import build_repositories
from growthos_segments.infra.repos.progress import ProgressStore
from growthos_segments.infra.settings import Settings
from growthos_segments.plugins import default_host
from growthos_segments.services.catalog import definition_of

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 180.0
"""Generous: a loaded CI machine may be several times slower than a laptop."""
STOP_TIMEOUT = 30.0


@dataclass
class Running:
    process: subprocess.Popen[str]
    lines: queue.Queue[tuple[str, str]] = field(default_factory=queue.Queue)
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        """The first stdout line matching ``pattern`` (fails with everything printed so far)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                stream, line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            found = re.search(pattern, line) if stream == "out" else None
            if found:
                return found
        pytest.fail(
            f"no line matching {pattern!r} within {timeout:.0f} s (exit code {self.process.poll()})\n"
            f"stdout:\n{''.join(self.stdout)}\nstderr:\n{''.join(self.stderr)}"
        )


def _pump(stream: Any, name: str, running: Running) -> None:
    for line in stream:
        (running.stdout if name == "out" else running.stderr).append(line)
        running.lines.put((name, line))


def start_stack(*args: str, environment: dict[str, str] | None = None) -> Running:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(environment or {})}
    for variable in ("LOCAL_API_PORT", "MOTO_PORT", "DEMO_CONTACTS", "AWS_ENDPOINT_URL", "AWS_PROFILE"):
        env.pop(variable, None)
    process = subprocess.Popen(
        [sys.executable, "-m", "growthos_segments.devstack", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # our SIGINT is the only Ctrl-C it gets
    )
    running = Running(process)
    for stream, name in ((process.stdout, "out"), (process.stderr, "err")):
        threading.Thread(target=_pump, args=(stream, name, running), daemon=True).start()
    return running


PREFIX = f"e2e{os.getpid()}"


@dataclass(frozen=True)
class Ready:
    """What the banner of a running stack says."""

    running: Running
    api: str
    moto: str
    filled_at: datetime
    ready_at: datetime
    banner: str

    def hint(self, command: str) -> list[str]:
        """The banner's ``segments <command>`` line as argv and env, run with this interpreter."""
        line = rf"^ +((?:MOTO_PORT=\d+ )?)\.venv/bin/segments {command}((?: --\S+ \S+)*)"
        found = re.search(line, self.banner, re.MULTILINE)
        assert found, self.banner
        return [found.group(1).strip(), *found.group(2).split()]


@pytest.fixture(scope="module")
def stack() -> Iterator[Ready]:
    running = start_stack("--port", "0", "--moto-port", "0", "--contacts", "200", "--prefix", PREFIX)
    try:
        ready = running.wait_for(rf"{READY_MARKER} ([\d.]+) s: API (http://127\.0\.0\.1:\d+)", START_TIMEOUT)
        ready_at = datetime.now(UTC)
        moto = running.wait_for(r"moto .*(http://127\.0\.0\.1:\d+)", 5).group(1)
        filled = running.wait_for(rf"{FILLED_MARKER} (\S+);", 5).group(1)
        running.wait_for(r"^Ctrl-C stops everything", 5)
        banner = "".join(running.stdout[running.stdout.index(ready.string):])
        yield Ready(running, ready.group(2), moto, datetime.fromisoformat(filled.replace("Z", "+00:00")),
                    ready_at, banner)
    finally:
        if running.process.poll() is None:  # a test failed before stopping it
            running.process.kill()
            running.process.wait(10)


def request(
    url: str, *, headers: dict[str, str] | None = None, body: Any = None, method: str | None = None
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    call = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(call, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def test_start_up_says_what_it_is_doing_and_how_far_along_it_is(stack: Ready) -> None:
    before_ready = "".join(stack.running.stdout).split(READY_MARKER, 1)[0]
    for step in ("demo: seeding contacts", "demo: seeding events", "demo: filling segments, evaluating",
                 "demo: filling segments, writing", "acme: filling segments, writing"):
        counts = re.findall(rf"^  {step} ([\d,]+)/([\d,]+)$", before_ready, re.MULTILINE)
        assert counts, f"no progress for {step!r}:\n{before_ready}"
        assert counts[-1][0] == counts[-1][1]  # ends at its total
    assert re.search(r"^  moto on http://127\.0\.0\.1:\d+: creating", before_ready, re.MULTILINE)


def test_make_run_serves_the_api(stack: Ready) -> None:
    api = stack.api
    name, value = auth_header(load_app(load_template()), api_key_for("demo"))
    key = {name: value}

    status, body = request(f"{api}/health", headers=key)
    assert (status, body["status"]) == (200, "ok")

    status, body = request(f"{api}/condition-types", headers=key)
    assert status == 200
    assert {"attribute", "email", "score"} <= {entry["name"] for entry in body["condition_types"]}

    assert request(f"{api}/condition-types")[0] == 401
    assert request(f"{api}/condition-types", headers={name: value.replace("demo", "nobody")})[0] == 401

    status, body = request(f"{api}/rules/validate", headers=key, body={"rule": {"emial": {}}})
    assert status == 422
    assert body["errors"][0]["suggestion"] == "did you mean 'email'?"

    status, body = request(f"{api}/templates", headers={name: value.replace("demo", "acme")})
    assert status == 200 and body["templates"]


def _from_scratch(settings: Settings, tenant_id: str, context_at: datetime,
                  instants: list[datetime]) -> list[dict[str, set[str]]]:
    """Members of every segment of the tenant at each instant, evaluated from the stored
    contacts and events alone (the tenant context as of ``context_at``, like the stored one)."""
    repos = build_repositories(settings)
    host = default_host()
    segments = SegmentSet(host, [definition_of(r) for r in repos.segments.list_segments(tenant_id)])
    ids = [cid for shard in range(keys.CONTACT_SHARDS)
           for cid in repos.contacts.contact_ids(tenant_id, shard=shard, limit=1000).items]
    docs = [repos.views.load_view(tenant_id, cid, now=context_at, lookback=timedelta.max) for cid in ids]
    context = host.tenant_context(tenant_id, docs, context_at)
    found = []
    for at in instants:
        members: dict[str, set[str]] = {sid: set() for sid in segments.segments}
        for doc in docs:
            assert doc is not None
            for sid, (match, _) in segments.evaluate(segments.view(doc, context=context), at).items():
                if match:
                    members[sid].add(doc["contact_id"])
        found.append(members)
    return found


def test_every_seeded_segment_is_filled_when_the_banner_says_ready(stack: Ready) -> None:
    """Stored members equal a from-scratch evaluation at the instant the fill evaluated
    at, exactly; at the ready instant they may differ only where a window edge fell
    in between (time-driven changes are the scheduler's, at most a minute later)."""
    settings = Settings.local(PREFIX, endpoint_url=stack.moto)
    repos = build_repositories(settings)
    name, value = auth_header(load_app(load_template()), api_key_for("demo"))
    filled = 0
    for tenant_id in ("demo", "acme"):
        instants = [stack.filled_at, stack.ready_at]
        at_fill, at_ready = _from_scratch(settings, tenant_id, stack.filled_at, instants)
        assert at_fill, f"tenant {tenant_id} has no segments"
        key = {name: value.replace("demo", tenant_id)}
        for sid, expected in at_fill.items():
            stored = set(repos.memberships.members(tenant_id, sid, limit=1000).items)
            assert stored == expected, (tenant_id, sid)
            status, body = request(f"{stack.api}/segments/{sid}/count", headers=key)
            assert (status, body["count"]) == (200, len(expected)), (tenant_id, sid)
            edges = expected ^ at_ready[sid]
            assert stored ^ edges == at_ready[sid]
            filled += bool(expected)
    assert filled >= 20  # most of the 2 x 20 segments have members: the check is not between empties


def test_the_banner_hints_reach_this_stack_and_tail_prints_its_events(stack: Ready) -> None:
    moto_port = stack.moto.rsplit(":", 1)[1]
    env_tail, *tail_args = stack.hint("tail")
    env_sim, *sim_args = stack.hint("simulate")
    assert env_tail == env_sim == f"MOTO_PORT={moto_port}"  # started with a port other than 5055
    assert tail_args == sim_args == ["--prefix", PREFIX]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MOTO_PORT": moto_port}
    # Started as a script's background job would be: with SIGINT ignored (the tail must still stop on it).
    tail = subprocess.Popen([sys.executable, "-m", "growthos_segments.devstack.cli", "tail", *tail_args],
                            cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    watching = Running(tail)
    for stream, label in ((tail.stdout, "out"), (tail.stderr, "err")):
        threading.Thread(target=_pump, args=(stream, label, watching), daemon=True).start()
    try:
        deadline = time.monotonic() + 60
        while not any("watching" in line for line in watching.stderr) and time.monotonic() < deadline:
            assert tail.poll() is None, "".join(watching.stderr)
            time.sleep(0.1)
        events = aws.client("events", Settings.local(PREFIX, endpoint_url=stack.moto))
        detail = {"tenant_id": "demo", "segment_id": "at_risk", "contact_id": "c42", "segment_version": 1}
        events.put_events(Entries=[{"Source": "growthos.segments", "DetailType": "Segment Entered",
                                    "Detail": json.dumps(detail), "EventBusName": f"{PREFIX}-segments"}])
        watching.wait_for(r"^ENTER at_risk c42 \(tenant demo, v1\)$", 30)  # the tail
        stack.running.wait_for(r"^ENTER at_risk c42 \(tenant demo, v1\)$", 30)  # the stack's own printer

        simulate = subprocess.Popen([sys.executable, "-m", "growthos_segments.devstack.cli", "simulate",
                                     *sim_args, "--rate", "20",
                                     "--seed", "1"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, start_new_session=True)
        writing = Running(simulate)
        for stream, label in ((simulate.stdout, "out"), (simulate.stderr, "err")):
            threading.Thread(target=_pump, args=(stream, label, writing), daemon=True).start()
        for _ in range(3):
            writing.wait_for(r"^-> ", 60)  # three changes written into this stack
        simulate.send_signal(signal.SIGTERM)  # stopped by a supervisor: the same as Ctrl-C
        assert simulate.wait(STOP_TIMEOUT) == 0
        writing.wait_for(r"^stopped$", 5)
        assert not any("Traceback" in line for line in writing.stderr), "".join(writing.stderr)
    finally:
        tail.send_signal(signal.SIGINT)
        assert tail.wait(STOP_TIMEOUT) == 0
    time.sleep(0.2)
    assert not any("Traceback" in line for line in watching.stderr), "".join(watching.stderr)
    rules = events.list_rules(EventBusName=f"{PREFIX}-segments")["Rules"]
    assert not [r["Name"] for r in rules if "-tail-" in r["Name"]]  # the tail removed its subscription


def test_a_module_publishing_on_the_bus_puts_a_contact_in_a_segment(stack: Ready) -> None:
    """The path another module takes: PutEvents on the bus -> IngestRule -> IngestQueue ->
    IngestFunction -> tables -> streams -> evaluator -> Segment Entered on the bus."""
    settings = Settings.local(PREFIX, endpoint_url=stack.moto)
    events, sqs = aws.client("events", settings), aws.client("sqs", settings)
    onboarded = {"tenant_id": ["demo"], "segment_id": ["completed_onboarding"]}
    entered = subscribe(events, sqs, settings.event_bus_name, f"{PREFIX}-onboarded",
                        {**SEGMENT_EVENTS, "detail": onboarded})
    now, contact = datetime.now(UTC), "bus-ada"
    event = {"event_id": "bus-1", "contact_id": contact, "action": "completed", "at": now.isoformat()}
    published = [
        ("growthos.crm", "Contact Upserted", {"contact": {"contact_id": contact, "tags": ["bus"]}}),
        ("growthos.onboarding", "Event Recorded", {"event": event}),
        ("growthos.crm", "Contact Upserted", {"contact": {"contact_id": "no-tenant"}, "tenant_id": "a#b"}),
    ]
    answer = events.put_events(Entries=[
        {"Source": source, "DetailType": kind, "Detail": json.dumps({"tenant_id": "demo", **detail}),
         "EventBusName": settings.event_bus_name} for source, kind, detail in published])
    assert answer["FailedEntryCount"] == 0
    deadline, arrived = time.monotonic() + 90, []
    while not arrived and time.monotonic() < deadline:
        arrived = sqs.receive_message(QueueUrl=entered.queue_url, WaitTimeSeconds=1).get("Messages", [])
    entered.close(events, sqs)
    [message] = arrived
    detail = json.loads(message["Body"])["detail"]
    assert (detail["tenant_id"], detail["contact_id"], detail["member"]) == ("demo", contact, True)
    # Only the refused message is dead-lettered, with its reason: not the engine's own events.
    dead = sqs.get_queue_url(QueueName=f"{PREFIX}-IngestDeadLetterQueue")["QueueUrl"]
    refused = sqs.receive_message(QueueUrl=dead, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                  MessageAttributeNames=["All"]).get("Messages", [])
    assert [m["MessageAttributes"]["reason"]["StringValue"] for m in refused] == [
        "/detail/tenant_id: 'a#b' is not a tenant id"]


def test_ctrl_c_stops_the_running_stack_cleanly(stack: Ready) -> None:
    running = stack.running
    running.process.send_signal(signal.SIGINT)
    assert running.process.wait(STOP_TIMEOUT) == 0
    running.wait_for(r"stopped cleanly", 5)
    assert not any("Traceback" in line for line in running.stderr), "".join(running.stderr)
    with socket.socket() as probe:  # the API port is free again (TIME_WAIT aside, as for any server)
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", int(stack.api.rsplit(":", 1)[1])))


@pytest.mark.parametrize("which", ["--port", "--moto-port"])
def test_a_taken_port_is_one_clear_line_and_a_non_zero_exit(which: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ports = {"--port": "0", "--moto-port": "0", which: str(port)}
        running = start_stack(*[item for pair in ports.items() for item in pair], "--contacts", "5")
        try:
            code = running.process.wait(60)
        finally:
            if running.process.poll() is None:
                running.process.kill()
                running.process.wait(10)
    time.sleep(0.2)  # let the reader threads drain the pipes
    errors = [line for line in running.stderr if line.strip()]
    assert code == 2
    assert errors == [
        f"error: port {port} on 127.0.0.1 is already in use; stop whatever listens there or "
        f"choose another with {which} (or {'LOCAL_API_PORT' if which == '--port' else 'MOTO_PORT'})\n"
    ]


def test_ctrl_c_while_seeding_stops_cleanly() -> None:
    running = start_stack(
        "--port", "0", "--moto-port", "0", "--contacts", "3000", "--prefix", f"e2ei{os.getpid()}"
    )
    try:
        time.sleep(3)  # past imports, inside start-up (seeding 3,000 contacts takes longer than this)
        running.process.send_signal(signal.SIGINT)
        assert running.process.wait(STOP_TIMEOUT) == 0
    finally:
        if running.process.poll() is None:
            running.process.kill()
            running.process.wait(10)
    running.wait_for(r"stopped cleanly", 5)
    assert not any("Traceback" in line for line in running.stderr), "".join(running.stderr)


STOP_BOUND = 10.0
"""What a person waits after Ctrl-C, at most (the stack's own stop allows itself 8 s)."""


def test_ctrl_c_while_a_backfill_runs_and_simulate_writes_stops_within_ten_seconds() -> None:
    prefix = f"e2eb{os.getpid()}"
    # Two contacts a page: the backfill of 300 contacts takes many pages, so it is
    # certainly in the middle of one when Ctrl-C comes.
    running = start_stack("--port", "0", "--moto-port", "0", "--contacts", "300", "--prefix", prefix,
                          environment={"BACKFILL_PAGE_SIZE": "2"})
    simulate: subprocess.Popen[str] | None = None
    try:
        ready = rf"{READY_MARKER} [\d.]+ s: API (http://127\.0\.0\.1:\d+)"
        api = running.wait_for(ready, START_TIMEOUT).group(1)
        moto = running.wait_for(r"moto .*(http://127\.0\.0\.1:\d+)", 5).group(1)
        simulate = subprocess.Popen(
            [sys.executable, "-m", "growthos_segments.devstack.cli", "simulate",
             "--endpoint", moto, "--prefix", prefix,
             "--rate", "20"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )
        name, value = auth_header(load_app(load_template()), api_key_for("demo"))
        rule = {"email": {"action": "opened", "within": "30d"}}
        status, body = request(f"{api}/segments", headers={name: value}, body={"id": "e2e_openers",
                               "name": "Openers", "rule": rule})
        assert status == 201, body
        settings = Settings.local(prefix, endpoint_url=moto)
        progress = ProgressStore(aws.client("dynamodb", settings), settings.tables.counters)
        deadline = time.monotonic() + 120
        while True:
            done = progress.progress("demo", "e2e_openers", body["version"])
            if done.done > 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert done.done > 0 and not done.complete, done  # the backfill is under way
        assert simulate.poll() is None  # and simulate is writing
        running.process.send_signal(signal.SIGINT)
        assert running.process.wait(STOP_BOUND) == 0
    finally:
        for process in (running.process, simulate):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(10)
    running.wait_for(r"stopped cleanly", 5)
    assert not any("Traceback" in line for line in running.stderr), "".join(running.stderr)
