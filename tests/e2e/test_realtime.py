"""Real time on the local stack: a write through the public writer becomes a
``Segment Entered`` event on the bus, travelling the real path (table -> stream
-> pump -> evaluator -> memberships -> stream -> notifier -> EventBridge).

The stack runs as ``make run`` runs it (a subprocess on free ports); the test
subscribes to the bus the way another module would (a rule and an SQS target)
and waits for the event with a generous deadline, asserting what arrived, never
how fast.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from growthos_segments.devstack.stack import READY_MARKER
from growthos_segments.infra import aws
from growthos_segments.infra.repos import build_repositories
from growthos_segments.infra.settings import Settings

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 180.0
EVENT_TIMEOUT = 60.0
"""Generous: on a loaded two-core machine the first invocation includes a cold start."""


class Stack:
    def __init__(self, prefix: str) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        for variable in ("LOCAL_API_PORT", "MOTO_PORT", "DEMO_CONTACTS", "AWS_ENDPOINT_URL", "AWS_PROFILE"):
            env.pop(variable, None)
        self.prefix = prefix
        self.process = subprocess.Popen(
            [sys.executable, "-m", "growthos_segments.devstack",
             "--port", "0", "--moto-port", "0", "--contacts", "60",
             "--prefix", prefix],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        for stream in (self.process.stdout, self.process.stderr):
            threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: Any) -> None:
        for line in stream:
            self.output.append(line)
            self.lines.put(line)

    def wait_for(self, pattern: str, timeout: float) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            found = re.search(pattern, line)
            if found:
                return found
        pytest.fail(f"no line matching {pattern!r} (exit {self.process.poll()}):\n{''.join(self.output)}")


@pytest.fixture
def stack() -> Iterator[Stack]:
    running = Stack(f"e2ert{os.getpid()}")
    yield running
    if running.process.poll() is None:
        running.process.send_signal(signal.SIGINT)
        try:
            running.process.wait(30)
        except subprocess.TimeoutExpired:
            running.process.kill()
            running.process.wait(10)


def subscribe(settings: Settings, pattern: dict[str, Any]) -> tuple[Any, str]:
    """What another module does: a rule on the segments bus with an SQS target."""
    events, sqs = aws.client("events", settings), aws.client("sqs", settings)
    url = sqs.create_queue(QueueName=f"{settings.event_bus_name}-e2e")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = settings.event_bus_name
    events.put_rule(Name="e2e-onboarded", EventBusName=bus, EventPattern=json.dumps(pattern))
    events.put_targets(Rule="e2e-onboarded", EventBusName=bus, Targets=[{"Id": "e2e", "Arn": arn}])
    return sqs, url


def receive(sqs: Any, url: str, timeout: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        messages = response.get("Messages")
        if messages:
            return [json.loads(m["Body"]) for m in messages]
    return []


def test_an_event_written_by_another_module_becomes_a_segment_entered_event(stack: Stack) -> None:
    stack.wait_for(READY_MARKER, START_TIMEOUT)
    moto = stack.wait_for(r"moto .*(http://127\.0\.0\.1:\d+)", 5).group(1)
    settings = Settings.local(stack.prefix, endpoint_url=moto)
    sqs, url = subscribe(settings, {
        "source": ["growthos.segments"],
        "detail-type": ["Segment Entered"],
        "detail": {"tenant_id": ["demo"], "segment_id": ["completed_onboarding"]},
    })
    repos = build_repositories(settings)
    now = datetime.now(UTC)
    contact = "e2e-ada"
    repos.contacts.put({"tenant_id": "demo", "contact_id": contact, "attributes": {"plan": "free"}}, now=now)
    assert receive(sqs, url, 3) == []  # a profile alone is not onboarding
    repos.events.append("demo", contact, "onboarding.completed", at=now, event_id="e2e-onboarding-1")

    [event] = receive(sqs, url, EVENT_TIMEOUT)
    assert event["source"] == "growthos.segments" and event["detail-type"] == "Segment Entered"
    detail = event["detail"]
    assert (detail["tenant_id"], detail["segment_id"], detail["contact_id"]) == (
        "demo", "completed_onboarding", contact
    )
    assert detail["member"] is True and detail["segment_version"] >= 1
    assert detail["idempotency_id"].startswith(f"demo#completed_onboarding#{contact}#")
    stack.wait_for(rf"ENTER completed_onboarding {contact} \(tenant demo", 10)  # the stack's bus printer

    # The same event id again is a no-op for the writer; nothing new reaches the bus.
    again = repos.events.append("demo", contact, "onboarding.completed", at=now, event_id="e2e-onboarding-1")
    assert again is None
    assert receive(sqs, url, 3) == []
    stack.process.send_signal(signal.SIGINT)
    assert stack.process.wait(60) == 0
