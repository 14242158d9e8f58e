"""Storage and local stack: cost of loading a contact view, and `make run` to ready."""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.timing import row

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
}


def view_load() -> None:
    os.environ.update(FAKE_AWS)
    from moto import mock_aws

    from infra.repos import build_repositories, create_tables
    from infra.settings import Settings

    with mock_aws():
        settings = Settings.local("bench")
        repos = build_repositories(settings)
        create_tables(settings, repos.client)
        for n in range(50):  # a small tenant: moto's Query cost grows with table size
            repos.contacts.put({"tenant_id": "t1", "contact_id": f"c{n}", "attributes": {"plan": "free"},
                                "scores": {"nps": n % 11}}, now=NOW)
        repos.events.append_many(
            {"tenant_id": "t1", "contact_id": "c7", "name": "email.opened",
             "at": NOW - timedelta(hours=6 * i), "properties": {"campaign_id": f"cmp_{i % 4}"}}
            for i in range(40)
        )
        samples = []
        for _ in range(30):
            started = time.perf_counter()
            view = repos.views.load_view("t1", "c7", now=NOW, lookback=timedelta(days=30))
            samples.append(time.perf_counter() - started)
        assert view is not None and view["events"]
        row("DynamoDB requests to load one contact view (40 events, 30-day lookback)",
            f"{repos.views.last_requests}", "target ≤ 2")
        row("  time for it, moto in-process (median of 30)", f"{statistics.median(samples) * 1000:.1f} ms")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stack_ready() -> None:
    """Start the local stack as `make run` does (3,000 demo contacts) and time it to ready."""
    api, moto = _free_port(), _free_port()
    env = {**os.environ, "LOCAL_API_PORT": str(api), "MOTO_PORT": str(moto), "DEMO_CONTACTS": "3000"}
    root = Path(__file__).resolve().parent.parent
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "infra.local"], cwd=root, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ready = None
    try:
        while time.perf_counter() - started < 180 and process.poll() is None:
            request = urllib.request.Request(f"http://127.0.0.1:{api}/health",
                                             headers={"x-api-key": "local-demo-key"})
            try:
                with urllib.request.urlopen(request, timeout=2) as response:
                    if response.status == 200:
                        ready = time.perf_counter() - started
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
    row("`make run` (python -m infra.local, 3,000 contacts) to ready",
        f"{ready:.1f} s" if ready is not None else "did not start")


def main() -> None:
    view_load()
    stack_ready()


if __name__ == "__main__":
    main()
