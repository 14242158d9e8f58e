"""Ingestion throughput over HTTP on the local stack: contacts in batches of 100, events in batches of 500.

The stack runs in this process (as ``bench_api`` runs it: the minute scheduler
paused, so the figures are the ingest path's), with the demo tenant's 16 segments
saved, so the stream evaluator evaluates every write while the batches arrive, on
the same two cores. Every call goes over HTTP through the local API Gateway front
and the real authorizer. A figure is items stored per second of wall time over
the whole run, and the DynamoDB requests one batch cost (counted on the API
function's client). Each path has its own function, so other ingestion paths
(the bus) add theirs beside them.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from benchmarks.support import api_call
from benchmarks.timing import row

CONTACT_BATCHES = 20
EVENT_BATCHES = 10
NAMES = ("email.opened", "email.clicked", "order.completed", "app.login", "nudge.dismissed")


def _ingest(base: str, route: str, batches: list[list[dict[str, Any]]], again: str) -> None:
    """The batches once (every item ``created``), then again (every item ``again``): items per
    second and the DynamoDB requests of one batch (the last; counted on the API's client)."""
    from growthos_segments.handlers.api_wiring import service

    counter, items = service().repos.requests, sum(map(len, batches))
    for label, expected in (("new", "created"), ("re-sent", again)):
        statuses: dict[str, int] = {}
        started = time.perf_counter()
        for batch in batches:
            with counter.measure() as tally:
                status, body = api_call(base, "POST", route, {"items": batch})
            assert status == 200, body
            for result in body["results"]:
                statuses[result["status"]] = statuses.get(result["status"], 0) + 1
        rate = items / (time.perf_counter() - started)
        assert statuses == {expected: items}, statuses
        row(f"POST {route}, batches of {len(batches[0])}, {label} ({items:,})", f"{rate:,.0f} /s",
            f"{tally.total} DynamoDB requests per batch")


def contacts_over_http(base: str) -> None:
    """New contacts, then the same batches again (``unchanged``: one read, no write)."""
    batches = [[{"contact_id": f"bench-{b}-{i}", "attributes": {"plan": ("pro", "free")[i % 2],
                                                                   "email": f"b{b}i{i}@bench.io"},
                 "custom": {"lead_score": i}, "tags": {"add": ["bench"]}, "scores": {"nps": i % 11}}
                for i in range(100)] for b in range(CONTACT_BATCHES)]
    _ingest(base, "/contacts", batches, "unchanged")


def events_over_http(base: str) -> None:
    """New events of the contacts above, then the same batches again (``duplicate``)."""
    now = datetime.now(UTC)
    batches = [[{"event_id": f"bench-{b}-{i}", "contact_id": f"bench-{b % CONTACT_BATCHES}-{i % 100}",
                 "name": NAMES[i % len(NAMES)], "at": (now - timedelta(minutes=i)).isoformat()}
                for i in range(500)] for b in range(EVENT_BATCHES)]
    _ingest(base, "/events", batches, "duplicate")


def main() -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        os.environ.setdefault(name, value)
    logging.getLogger("infra").setLevel(logging.WARNING)
    from growthos_segments.devstack.stack import LocalStack, Options

    environment = dict(os.environ)  # the stack points this process's AWS clients at its moto server
    options = Options(port=0, moto_port=0, prefix="benchingest", handler_log_level="ERROR",
                      tenants=(("demo", 200),))
    stack = LocalStack(options, emit=lambda _: None)
    stack.app = replace(stack.app, schedules=())
    stack.start()
    try:
        assert stack.front is not None
        contacts_over_http(stack.front.url)
        events_over_http(stack.front.url)
    finally:
        stack.stop()
        os.environ.clear()
        os.environ.update(environment)


if __name__ == "__main__":
    main()
