"""The README's audience-API walkthrough, over HTTP against ``python -m infra.local``.

Create a segment from a template, watch it fill (the save queues a backfill
that the local stack's SQS trigger runs), check a member, explain a
non-member, estimate a draft rule, and see that another tenant's key gets 404s.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from infra.demo_data import api_key_for
from infra.local.stack import READY_MARKER
from tests.e2e.test_local_stack import START_TIMEOUT, STOP_TIMEOUT, Running, request, start_stack

pytestmark = pytest.mark.e2e

FILL_TIMEOUT = 120.0


@pytest.fixture
def stack() -> Iterator[Running]:
    running = start_stack(
        "--port", "0", "--moto-port", "0", "--contacts", "200", "--prefix", f"e2eapi{os.getpid()}"
    )
    yield running
    if running.process.poll() is None:
        running.process.kill()
        running.process.wait(10)


def test_the_readme_walkthrough_over_http(stack: Running) -> None:
    api = stack.wait_for(rf"{READY_MARKER} [\d.]+ s: API (http://127\.0\.0\.1:\d+)", START_TIMEOUT).group(1)
    demo = {"x-api-key": api_key_for("demo")}
    acme = {"x-api-key": api_key_for("acme")}

    def call(
        method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        return request(f"{api}{path}", headers=headers or demo, body=body, method=method)

    status, body = call("GET", "/templates")
    template = next(t for t in body["templates"] if t["id"] == "promoters")
    status, created = call(
        "POST",
        "/segments",
        {"id": "vip_promoters", "name": "VIP promoters", "rule": template["rule"]},
        {**demo, "Idempotency-Key": "walk-1"},
    )
    assert status == 201 and created["backfill"] == "queued", created
    status, again = call(
        "POST",
        "/segments",
        {"id": "vip_promoters", "name": "VIP promoters", "rule": template["rule"]},
        {**demo, "Idempotency-Key": "walk-1"},
    )
    assert (status, again) == (201, created)  # a retried create replays, it does not conflict

    status, estimate = call("POST", "/rules/estimate", {"rule": template["rule"]})
    assert status == 200 and estimate["exact"] is True  # 200 contacts: counted exactly
    deadline = time.monotonic() + FILL_TIMEOUT
    count = 0
    while time.monotonic() < deadline:
        count = call("GET", "/segments/vip_promoters/count")[1]["count"]
        if count == estimate["estimate"]:
            break
        time.sleep(1.0)
    assert count == estimate["estimate"] > 0, (count, estimate)

    status, page = call("GET", "/segments/vip_promoters/members?limit=5")
    assert status == 200 and len(page["members"]) == 5 and page["cursor"]
    member = page["members"][0]
    status, check = call("GET", f"/segments/vip_promoters/members/{member}")
    assert status == 200 and check["member"] is True and check["entered_at"]
    status, contact = call("GET", f"/contacts/{member}/segments")
    assert "vip_promoters" in {s["segment_id"] for s in contact["segments"]}

    everyone = {f"c{i}" for i in range(1, 201)}
    members: set[str] = set()
    cursor = None
    while True:
        status, page = call(
            "GET", "/segments/vip_promoters/members?limit=100" + (f"&cursor={cursor}" if cursor else "")
        )
        members |= set(page["members"])
        cursor = page["cursor"]
        if not cursor:
            break
    outsider = sorted(everyone - members)[0]
    status, why = call("POST", f"/segments/vip_promoters/explain/{outsider}")
    assert status == 200 and why["match"] is False and why["stored"]["member"] is False
    assert why["trace"]["type"] == "score" and "scores.nps" in why["trace"]["values"]

    status, draft = call(
        "POST",
        "/rules/estimate",
        {"rule": {"and": [template["rule"], {"email": {"action": "opened", "within": "30d"}}]}},
    )
    assert status == 200 and 0 <= draft["low"] <= draft["estimate"] <= draft["high"] <= estimate["estimate"]

    status, snapshot = call("POST", "/segments/vip_promoters/snapshots", {"label": "walkthrough"})
    assert status == 201 and snapshot["counts"]["all"] == count

    for path in (
        "/segments/vip_promoters",
        f"/segments/vip_promoters/members/{member}",
        "/segments/vip_promoters/count",
        f"/contacts/{member}/segments",
    ):
        status, body = call("GET", path, headers=acme)
        if path.startswith("/contacts"):  # acme has its own c1..c100: an id both tenants use
            assert status in (200, 404) and "vip_promoters" not in str(body)
        else:
            assert status == 404, (path, body)

    status, doc = call("GET", "/openapi.json")
    assert status == 200 and "/rules/estimate" in doc["paths"]

    stack.process.send_signal(signal.SIGINT)
    assert stack.process.wait(STOP_TIMEOUT) == 0
    assert not any("Traceback" in line for line in stack.stderr), "".join(stack.stderr)
