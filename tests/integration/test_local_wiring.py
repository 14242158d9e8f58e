"""The local stack wires template.yaml's functions to its streams, queues and bus.

The real stream evaluator and notifier arrive in a later issue, so this test
runs the stack in-process on a copy of the template whose handlers are the test
functions below, and follows one change all the way: contact write -> contacts
stream -> "evaluator" (writes a membership through the table named in its
template environment) -> memberships stream -> "notifier" (puts an event on
the template's bus) -> the printed ``ENTER`` line. A poison contact exhausts the
template's retries and must land, as Lambda describes it, in the on-failure
queue the template names.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from growthos_segments.devstack.stack import LocalStack, Options
from growthos_segments.devstack.template import load_template

EVALUATED: list[str] = []
LOCK = threading.Lock()
RELEASE = threading.Event()
"""Lets the evaluator's "slow" contact finish (a handler that ignores its time budget)."""


def evaluator(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Stands in for handlers.stream: one membership per contact, a failure for the poison one."""
    table = boto3.resource("dynamodb").Table(os.environ["MEMBERSHIPS_TABLE"])  # template env + local endpoint
    failures = []
    for record in event["Records"]:
        image = record["dynamodb"].get("NewImage") or {}
        if "contact_id" not in image:  # moto's key-only INSERT (see test_local_streams)
            continue
        contact_id = image["contact_id"]["S"]
        with LOCK:
            EVALUATED.append(contact_id)
        if contact_id == "poison":
            failures.append({"itemIdentifier": record["dynamodb"]["SequenceNumber"]})
            continue
        if contact_id == "slow":
            RELEASE.wait(60)
            continue
        table.put_item(
            Item={
                "pk": "t1#wired",
                "sk": contact_id,
                "tenant_id": "t1",
                "segment_id": "wired",
                "contact_id": contact_id,
                "member": True,
                "seq": 1,
            }
        )
    return {"batchItemFailures": failures}


def notifier(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Stands in for handlers.notifier: a Segment Entered event per new membership."""
    events = boto3.client("events")
    for record in event["Records"]:
        image = record["dynamodb"]["NewImage"]
        detail = {k: image[k]["S"] for k in ("tenant_id", "segment_id", "contact_id")}
        events.put_events(
            Entries=[
                {
                    "Source": "growthos.segments",
                    "DetailType": "Segment Entered",
                    "Detail": json.dumps({**detail, "segment_version": 1}),
                    "EventBusName": os.environ["EVENT_BUS_NAME"],
                }
            ]
        )
    return {"batchItemFailures": []}


@pytest.fixture
def wired_template(tmp_path: Path) -> Path:
    template = load_template()
    resources = template["Resources"]
    resources["StreamEvaluatorFunction"]["Properties"]["Handler"] = f"{__name__}.evaluator"
    resources["NotifierFunction"]["Properties"]["Handler"] = f"{__name__}.notifier"
    contact_changes = resources["StreamEvaluatorFunction"]["Properties"]["Events"]["ContactChanges"][
        "Properties"
    ]
    contact_changes["MaximumRetryAttempts"] = 1  # keep the poison record's retries short
    path = tmp_path / "template.yaml"
    path.write_text(yaml.safe_dump(template, sort_keys=False))
    return path


@pytest.fixture
def restored_environment() -> Iterator[None]:
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)


def test_a_contact_change_travels_from_the_table_to_a_printed_enter_line(
    wired_template: Path, restored_environment: None
) -> None:
    EVALUATED.clear()
    lines: list[str] = []
    options = Options(
        port=0,
        moto_port=0,
        prefix="wired",
        tenants=(("demo", 5),),
        template_path=wired_template,
        poll_interval=0.05,
    )
    stack = LocalStack(options, emit=lines.append)
    try:
        stack.start()
        from growthos_segments.infra.repos import build_repositories

        assert stack.settings is not None
        repos = build_repositories(stack.settings)
        # The poison contact comes last: a partial failure retries from the failed record
        # *onwards*, so anything written after it would (rightly) be redelivered too.
        for contact_id in ("ok-1", "ok-2", "poison"):
            repos.contacts.put({"tenant_id": "t1", "contact_id": contact_id, "attributes": {"plan": "free"}})
        deadline = time.monotonic() + 60
        wanted = {"ENTER wired ok-1 (tenant t1, v1)", "ENTER wired ok-2 (tenant t1, v1)"}
        while not wanted <= set(lines) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert wanted <= set(lines), lines
        failure_queue = stack.resolver.ref("StreamFailureQueue", "test")
        sqs = boto3.client("sqs")
        messages: list[dict[str, Any]] = []
        while not messages and time.monotonic() < deadline:
            messages = sqs.receive_message(QueueUrl=failure_queue, WaitTimeSeconds=1).get("Messages", [])
        [message] = messages
        info = json.loads(message["Body"])
        assert info["requestContext"]["condition"] == "RetryAttemptsExhausted"
        assert info["requestContext"]["functionArn"].endswith(":function:StreamEvaluatorFunction")
        assert info["DDBStreamBatchInfo"]["batchSize"] == 1
        assert info["DDBStreamBatchInfo"]["streamArn"].startswith("arn:aws:dynamodb:")
        assert EVALUATED.count("poison") == 2  # the first try and the template's (edited) one retry
        assert EVALUATED.count("ok-1") == 1 and EVALUATED.count("ok-2") == 1  # never redelivered
    finally:
        assert stack.stop()


def test_an_invocation_still_running_at_shutdown_is_cut_off_like_a_time_out(
    wired_template: Path, restored_environment: None, caplog: pytest.LogCaptureFixture
) -> None:
    EVALUATED.clear()
    RELEASE.clear()
    options = Options(port=0, moto_port=0, prefix="cutoff", tenants=(("demo", 5),),
                      template_path=wired_template, poll_interval=0.05)
    stack = LocalStack(options, emit=lambda line: None)
    try:
        stack.start()
        from growthos_segments.infra.repos import build_repositories

        assert stack.settings is not None
        build_repositories(stack.settings).contacts.put(
            {"tenant_id": "t1", "contact_id": "slow", "attributes": {"plan": "free"}})
        deadline = time.monotonic() + 60
        while "slow" not in EVALUATED and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "slow" in EVALUATED  # the evaluator is inside its invocation, ignoring the stop
        with caplog.at_level("WARNING", logger="growthos_segments.devstack"):
            assert stack.stop(timeout=1.0)
        assert "cut off at shutdown, as a time-out would: StreamEvaluatorFunction" in caplog.text
    finally:
        RELEASE.set()
