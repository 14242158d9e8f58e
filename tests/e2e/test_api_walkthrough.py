"""The README's audience-API walkthrough, over HTTP against ``python -m growthos_segments.devstack``.

Create a segment from a template, watch it fill (the save queues a backfill
that the local stack's SQS trigger runs), check a member, explain a
non-member, estimate a draft rule, and see that another tenant's key gets 404s.
Before it, on the same stack: every kind of bad input the README lists gets its
documented 4xx in the error shape, never a 5xx.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from growthos_segments.devstack.demo_data import api_key_for
from growthos_segments.devstack.stack import READY_MARKER
from tests.e2e.test_local_stack import START_TIMEOUT, STOP_TIMEOUT, Running, request, start_stack

pytestmark = pytest.mark.e2e

FILL_TIMEOUT = 120.0


@pytest.fixture(scope="module")
def stack() -> Iterator[Running]:
    """One stack for the module: the walkthrough (last) stops it and checks the exit."""
    running = start_stack(
        "--port", "0", "--moto-port", "0", "--contacts", "200", "--prefix", f"e2eapi{os.getpid()}"
    )
    yield running
    if running.process.poll() is None:
        running.process.kill()
        running.process.wait(10)


@pytest.fixture(scope="module")
def api(stack: Running) -> str:
    """The stack's API URL, once it is ready."""
    return stack.wait_for(rf"{READY_MARKER} [\d.]+ s: API (http://127\.0\.0\.1:\d+)", START_TIMEOUT).group(1)


Answer = tuple[int, dict[str, str], Any]


def raw(api: str, method: str, path: str, body: bytes = b"", **headers: str) -> Answer:
    """One request with exactly these bytes and headers (``x_api_key`` for ``x-api-key``)."""
    where = urlsplit(api)
    connection = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
    try:
        connection.request(method, path, body=body or None,
                           headers={k.replace("_", "-"): v for k, v in headers.items()})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), json.loads(response.read() or b"null")
    finally:
        connection.close()


def test_bad_input_is_a_documented_4xx_over_http(stack: Running, api: str) -> None:
    key = api_key_for("demo")
    json_type = "application/json"

    def check(expected: int, answer: Answer) -> dict[str, Any]:
        status, headers, body = answer
        assert status == expected, (expected, status, body)
        assert headers.get("Content-Type") == json_type, headers
        assert isinstance(body["message"], str) and body["errors"], body
        assert all({"location", "path", "message"} <= set(e) for e in body["errors"]), body
        return dict(body)

    # the key: missing, empty (a Bearer beside it is not read), unknown
    for headers in ({}, {"x_api_key": "", "Authorization": f"Bearer {key}"}, {"x_api_key": "nope"}):
        body = check(401, raw(api, "GET", "/segments", **headers))
        assert body["errors"][0]["path"] == "/x-api-key" and "x-api-key" in body["errors"][0]["message"]
    check(404, raw(api, "GET", "/", x_api_key=key))
    check(405, raw(api, "PATCH", "/segments", x_api_key=key))
    # paths are routed as sent: an encoded slash is not a separator, control characters are ids
    body = check(404, raw(api, "GET", "/segments/hot_leads%2Fmembers", x_api_key=key))
    assert body["errors"][0]["path"] == "/segment_id"
    check(404, raw(api, "GET", "/segments/%0A/count", x_api_key=key))
    # bodies that are not JSON, or that JSON cannot hold in Python
    rule = b'{"rule": {"score": {"name": "nps", "gte": 9}}}'
    for content_type in ("application/xml", "multipart/form-data", "multipart/form-data; boundary=x"):
        check(415, raw(api, "POST", "/rules/validate", rule, x_api_key=key, Content_Type=content_type))
    huge = b"9" * 5000
    score = b'{"rule": {"score": {"name": "nps", "gte": ' + huge + b"}}}"
    check(400, raw(api, "POST", "/rules/validate", score, x_api_key=key))
    version = b'{"version": ' + huge + b', "name": "x"}'
    check(400, raw(api, "PUT", "/segments/hot_leads", version, x_api_key=key))
    check(400, raw(api, "POST", "/rules/validate", b"[" + rule + b"]", x_api_key=key))
    # names are one line of text
    named = b'{"name": "a\\u0000b", "rule": {"tag": {"match": "any", "tags": ["vip"]}}}'
    body = check(422, raw(api, "POST", "/segments", named, x_api_key=key, Content_Type=json_type))
    assert body["errors"][0]["path"] == "/name"
    # rule-level bounds (core.rules): the same 422 with a pointer on every route with a rule
    amount = {"attribute": {"field": "signup_date", "op": "within_last", "amount": 2**31, "unit": "days"}}
    status, _, hot_leads = raw(api, "GET", "/segments/hot_leads", x_api_key=key)
    assert status == 200, hot_leads
    for rule_json, pointer in ((amount, "/attribute/amount"),
                               ({"score": {"name": "nps", "gte": 1e308}}, "/score/gte")):
        status, _, answer = raw(api, "POST", "/rules/validate", json.dumps({"rule": rule_json}).encode(),
                                x_api_key=key)
        assert status == 422 and answer["errors"][0]["path"] == pointer, answer
        update = {"name": "n", "version": hot_leads["version"]}
        for method, path, extra in (("POST", "/rules/estimate", {}), ("POST", "/segments", {"name": "n"}),
                                    ("PUT", "/segments/hot_leads", update)):
            payload = json.dumps({**extra, "rule": rule_json}).encode()
            body = check(422, raw(api, method, path, payload, x_api_key=key))
            assert body["errors"][0]["path"] == "/rule" + pointer, (method, path, body)
    assert not any("Traceback" in line for line in stack.stderr), "".join(stack.stderr)


def test_the_readme_walkthrough_over_http(stack: Running, api: str) -> None:
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
