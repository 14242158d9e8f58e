"""Audience API on the local stack (demo tenant, 3,000 contacts): latency and DynamoDB requests per call.

The stack runs in this process (so the API's request counter can be read),
with the minute scheduler paused (see ``main``), and every call goes over HTTP
through the local API Gateway front and the real authorizer, as `curl` would.
Figures are p50 / p99 wall time per call and the DynamoDB requests one call
costs (counted on the API function's client). The estimate is measured cold
(its one-minute sample cache emptied before every call) and warm (the rule
builder's case: the same tenant again within a minute).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from benchmarks.support import api_call
from benchmarks.timing import percentiles_ms, row

PROMOTERS = {"score": {"name": "nps", "gte": 9}}
RULES = {
    "attribute rule": {"attribute": {"field": "plan", "op": "equals", "value": "pro"}},
    "email rule (30 days)": {"email": {"action": "opened", "min_count": 2, "within": "30d"}},
    "score AND order (90 days)": {
        "and": [PROMOTERS, {"event": {"name": "order.completed", "within": "90d"}}]
    },
}


def _measure(
    call: Callable[[], Any], times: int, before: Callable[[], None] | None = None
) -> tuple[float, float, int]:
    """p50, p99 (ms) and the DynamoDB requests of the last call."""
    from growthos_segments.handlers.api_wiring import service

    counter = service().repos.requests
    samples = []
    requests = 0
    for _ in range(times):
        if before is not None:
            before()
        with counter.measure() as tally:
            started = time.perf_counter()
            call()
            samples.append(time.perf_counter() - started)
        requests = tally.total
    p50, p99 = percentiles_ms(samples)
    return p50, p99, requests


def main() -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        os.environ.setdefault(name, value)
    logging.getLogger("infra").setLevel(logging.WARNING)
    from growthos_segments.devstack.stack import LocalStack, Options

    environment = dict(os.environ)  # the stack points this process's AWS clients at its moto server
    stack = LocalStack(
        Options(port=0, moto_port=0, prefix="benchapi", handler_log_level="ERROR"), emit=lambda _: None
    )
    # The minute scheduler is paused: its first run computes the tenant context by reading
    # every demo contact, and that (not the API) is what the figures would measure.
    stack.app = replace(stack.app, schedules=())
    started = time.perf_counter()
    stack.start()
    try:
        assert stack.front is not None
        base = stack.front.url
        row("local stack start (3,000 demo contacts) to ready", f"{time.perf_counter() - started:.1f} s")
        assert stack.settings is not None
        _run(base, stack.settings)
    finally:
        stack.stop()
        os.environ.clear()
        os.environ.update(environment)  # later modules use moto in-process, not a stopped server


def _run(base: str, settings: Any) -> None:
    """A segment with 300 stored members, written straight through the repositories
    (what is measured here is the read path; the backfill has its own figures)."""
    from datetime import UTC, datetime

    from growthos_segments.core.ports import SegmentRecord
    from growthos_segments.handlers.api_wiring import service
    from growthos_segments.infra.repos import build_repositories

    repos = build_repositories(settings)
    now = datetime.now(UTC)
    repos.segments.save(
        SegmentRecord(tenant_id="demo", segment_id="bench_promoters", name="Promoters", rule=PROMOTERS),
        now=now,
    )
    for n in range(1, 301):
        repos.memberships.enter("demo", "bench_promoters", f"c{n}", seq=1, at=now, segment_version=1)
    count = api_call(base, "GET", "/segments/bench_promoters/count")[1]["count"]
    row("segment with stored members", f"{count}")

    members = api_call(base, "GET", "/segments/bench_promoters/members?limit=100")[1]["members"]
    contacts = iter([*members, *(f"c{i}" for i in range(1001, 1101))])  # each checked once

    def check() -> None:
        contact = next(contacts)
        status, _ = api_call(base, "GET", f"/segments/bench_promoters/members/{contact}")
        assert status == 200

    p50, p99, requests = _measure(check, 200)  # 100 members, then 100 non-members
    row(
        "membership check (GET /segments/{id}/members/{contact})",
        f"{p50:.1f} / {p99:.1f} ms",
        f"p50 / p99, {requests} DynamoDB request(s)",
    )

    def page() -> None:
        status, body = api_call(base, "GET", "/segments/bench_promoters/members?limit=100")
        assert status == 200 and len(body["members"]) == min(100, count)

    p50, p99, requests = _measure(page, 100)
    row(
        "member page of 100 (GET /segments/{id}/members)",
        f"{p50:.1f} / {p99:.1f} ms",
        f"p50 / p99, {requests} DynamoDB request(s)",
    )

    estimator = service().audience.estimator
    assert estimator is not None
    for label, rule in RULES.items():

        def estimate(rule: Any = rule) -> None:
            status, body = api_call(base, "POST", "/rules/estimate", {"rule": rule})
            assert status == 200 and not body["exact"], body

        p50, p99, requests = _measure(estimate, 15, before=lambda: estimator._cache.clear())
        row(
            f"estimate, cold: {label}",
            f"{p50:.0f} / {p99:.0f} ms",
            f"p50 / p99, {requests} DynamoDB request(s)",
        )
        p50, p99, requests = _measure(estimate, 50)
        row(
            f"estimate, warm (same tenant within a minute): {label}",
            f"{p50:.0f} / {p99:.0f} ms",
            f"p50 / p99, {requests} DynamoDB request(s)",
        )
    _, sample = api_call(base, "POST", "/rules/estimate", {"rule": RULES["attribute rule"]})
    row(
        "  estimate sample size / tenant contacts",
        f"{sample['sample_size']} / {sample['population']}",
        "target ≤ 1 s",
    )


if __name__ == "__main__":
    main()
