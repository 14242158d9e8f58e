"""Ingestion on the local stack: a contact upserted through ``POST /contacts`` enters a
segment, and ``DELETE /contacts/{id}`` makes it exit; a CSV file imported with ``segments
import`` enters its contacts. Each is a bus event that travelled the real path (table ->
stream -> evaluator -> memberships -> notifier -> bus). Deadlines are generous; nothing
here asserts how fast."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from growthos_segments.devstack.stack import READY_MARKER
from growthos_segments.infra.settings import Settings
from tests.e2e.test_realtime import EVENT_TIMEOUT, START_TIMEOUT, Stack, receive, subscribe
from tests.e2e.test_realtime import stack as stack  # the fixture

RULE = {"attribute": {"field": "plan", "op": "equals", "value": "e2e-enterprise"}}


def _call(api: str, method: str, route: str, body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"x-api-key": "local-demo-key", "Content-Type": "application/json"}
    request = urllib.request.Request(f"{api}{route}", data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read())


def test_an_upsert_over_http_enters_and_a_forget_exits(stack: Stack) -> None:
    api = stack.wait_for(rf"{READY_MARKER} [\d.]+ s: API (http://127\.0\.0\.1:\d+)", START_TIMEOUT).group(1)
    moto = stack.wait_for(r"moto .*(http://127\.0\.0\.1:\d+)", 5).group(1)
    settings = Settings.local(stack.prefix, endpoint_url=moto)
    sqs, url = subscribe(settings, {"source": ["growthos.segments"], "detail": {"segment_id": ["e2e_ent"]}})
    status, _ = _call(api, "POST", "/segments", {"id": "e2e_ent", "name": "E2E enterprise", "rule": RULE})
    assert status == 201
    contact = f"e2e-{os.getpid()}"
    item = {"contact_id": contact, "attributes": {"plan": "e2e-enterprise"}, "tags": ["e2e"]}
    status, body = _call(api, "POST", "/contacts", {"items": [item]})
    assert status == 200 and body["results"][0]["status"] == "created"

    [entered] = receive(sqs, url, EVENT_TIMEOUT)
    assert entered["detail-type"] == "Segment Entered" and entered["detail"]["contact_id"] == contact
    status, body = _call(api, "DELETE", f"/contacts/{contact}")
    assert status == 200 and body["found"] is True and body["complete"] is True
    [exited] = receive(sqs, url, EVENT_TIMEOUT)
    assert exited["detail-type"] == "Segment Exited" and exited["detail"]["contact_id"] == contact
    assert _call(api, "GET", "/segments/e2e_ent/count")[1]["count"] == 0
    stack.process.send_signal(signal.SIGINT)
    assert stack.process.wait(60) == 0


def test_a_csv_import_enters_its_contacts_and_a_second_run_changes_nothing(
    stack: Stack, tmp_path: Path
) -> None:
    """``segments import`` run as a user runs it, against the running stack (its moto
    endpoint and prefix): the good rows are written and evaluated, the bad one reported
    with its line, and the same file again changes nothing (exit 3 both times)."""
    api = stack.wait_for(rf"{READY_MARKER} [\d.]+ s: API (http://127\.0\.0\.1:\d+)", START_TIMEOUT).group(1)
    moto = stack.wait_for(r"moto .*(http://127\.0\.0\.1:\d+)", 5).group(1)
    settings = Settings.local(stack.prefix, endpoint_url=moto)
    sqs, url = subscribe(settings, {"source": ["growthos.segments"], "detail": {"segment_id": ["e2e_csv"]}})
    rule = {"attribute": {"field": "plan", "op": "equals", "value": "e2e-csv"}}
    assert _call(api, "POST", "/segments", {"id": "e2e_csv", "name": "E2E CSV", "rule": rule})[0] == 201
    path = tmp_path / "contacts.csv"
    path.write_text("contact_id,plan,score.lead\ncsv-1,e2e-csv,90\ncsv-2,free,10\ncsv-3,e2e-csv,oops\n")

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "growthos_segments.devstack.cli", "import", str(path),
                               "--endpoint", moto, "--prefix", stack.prefix],
                              capture_output=True, text=True, timeout=120)

    first = run()
    assert first.returncode == 3, first.stderr
    assert first.stdout.endswith("imported 2 of 3 rows (2 created, 0 updated, 0 unchanged); 1 bad row\n")
    assert f'{path}: line 4, column "score.lead": "oops" is not a number' in first.stderr
    [entered] = receive(sqs, url, EVENT_TIMEOUT)
    assert entered["detail-type"] == "Segment Entered" and entered["detail"]["contact_id"] == "csv-1"
    again = run()
    assert again.returncode == 3 and "(0 created, 0 updated, 2 unchanged)" in again.stdout
    assert receive(sqs, url, 5) == []
    assert _call(api, "GET", "/segments/e2e_csv/count")[1]["count"] == 1
