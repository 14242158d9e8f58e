"""Storage and local stack: cost of loading a contact view, and `make run` to ready."""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.support import free_port, moto_in_process
from benchmarks.timing import row

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CONTACTS = 3000
LOADS = 300


def view_load() -> None:
    """The demo tenant's 3,000 contacts and events in moto in-process (tuned, as the stack
    runs it); the views of 300 different contacts, each loaded once."""
    from growthos_segments.devstack.demo_data import generate, write
    from growthos_segments.devstack.template import create_tables
    from growthos_segments.infra.repos import build_repositories
    from growthos_segments.infra.settings import Settings

    with moto_in_process():
        settings = Settings.local("bench")
        repos = build_repositories(settings)
        create_tables(settings, repos.client)
        data = generate("t1", CONTACTS, now=NOW)
        write(repos, data, now=NOW)
        samples, requests, events = [], set(), 0
        for contact in data.contacts[:: CONTACTS // LOADS]:
            started = time.perf_counter()
            view = repos.views.load_view("t1", contact["contact_id"], now=NOW, lookback=timedelta(days=30))
            samples.append(time.perf_counter() - started)
            assert view is not None
            requests.add(repos.views.last_requests)
            events += len(view["events"])
        row(f"DynamoDB requests to load one contact view (30-day lookback, {len(samples)} contacts)",
            "/".join(map(str, sorted(requests))), "target ≤ 2")
        row(f"  time for it, moto in-process ({CONTACTS:,}-contact tenant, median)",
            f"{statistics.median(samples) * 1000:.1f} ms", f"{events / len(samples):.1f} events per view")


def stack_ready() -> None:
    """Start the local stack as `make run` does (3,000 demo contacts) and time it to ready."""
    api, moto = free_port(), free_port()
    env = {**os.environ, "LOCAL_API_PORT": str(api), "MOTO_PORT": str(moto), "DEMO_CONTACTS": "3000"}
    root = Path(__file__).resolve().parent.parent
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "growthos_segments.devstack"], cwd=root, env=env,
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
    row("`make run` (python -m growthos_segments.devstack, 3,000 contacts) to ready",
        f"{ready:.1f} s" if ready is not None else "did not start")


def main() -> None:
    view_load()
    stack_ready()


if __name__ == "__main__":
    main()
