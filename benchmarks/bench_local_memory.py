"""Local stack memory: peak RSS through 20 segment backfills and 20,000 simulated changes.

The scenario a user of ``make run`` lives through in an afternoon, compressed:
the stack starts at the default demo size (3,000 contacts) in its own process,
20 segments are created through the API (each queues a backfill of the whole
tenant), and ``segments simulate`` writes 20,000 changes while the backfills
run. The run ends when every backfill is complete and a sentinel contact change
and a sentinel event, written after the last simulated change, have reached
their segments, so everything before them in the streams was evaluated too.

The figure is the stack process's peak resident set (``VmHWM``), the whole
process: moto, the pumps, the functions, the API front. Linux only (it reads
``/proc``); elsewhere the bench says so and stops.

Not part of ``make bench``: every request goes through one moto server, and
the whole scenario takes over an hour on a 2-core machine. Run it alone, with
these defaults or other sizes and ports (``--timeline`` prints RSS every 30 s,
``--limit-mib`` stops a run that grows past a bound)::

    .venv/bin/python -m benchmarks.bench_local_memory --contacts 3000 --segments 20 --changes 20000
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.support import FAKE_AWS, api_call, free_port
from benchmarks.timing import row

ROOT = Path(__file__).resolve().parents[1]
TENANT = "demo"
SENTINEL_CONTACT = "bench-sentinel"
SENTINEL_EVENT = "bench.sentinel"
MIB = 1024 * 1024


def segment_rules(count: int) -> list[tuple[str, dict[str, Any]]]:
    """``count`` segments of the kinds a GrowthOS user creates; the first two are the sentinels'."""
    rules: list[tuple[str, dict[str, Any]]] = [
        ("bench_sentinel_contact", {"attribute": {"field": "custom.bench", "op": "equals", "value": "done"}}),
        ("bench_sentinel_event", {"event": {"name": SENTINEL_EVENT, "within": "1d"}}),
    ]
    plans = ("free", "pro", "enterprise")
    kinds = (
        lambda i: {"attribute": {"field": "plan", "op": "equals", "value": plans[i % 3]}},
        lambda i: {"email": {"action": "opened", "min_count": 1 + i % 3, "within": f"{14 + i}d"}},
        lambda i: {"event": {"name": "order.completed", "min_count": 1 + i % 2, "within": f"{60 + i}d"}},
        lambda i: {"score": {"name": "nps", "gte": i % 11}},
        lambda i: {"and": [{"score": {"name": "lead", "gte": 40 + i}},
                           {"attribute": {"field": "country", "op": "in", "values": ["GB", "IE", "US"]}}]},
    )
    i = 0
    while len(rules) < count:
        rules.append((f"bench_mem_{i:02d}", kinds[i % len(kinds)](i)))
        i += 1
    return rules[:count]


def _status_kib(pid: int, field_name: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


@dataclass
class Sampler:
    """RSS of one process every ``every`` seconds, on a thread (peak from the kernel's VmHWM)."""

    pid: int
    every: float = 1.0
    samples: list[tuple[float, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        began = time.monotonic()

        def sample() -> None:
            while not self._stop.wait(self.every):
                rss = _status_kib(self.pid, "VmRSS")
                if rss is None:
                    return
                self.samples.append((time.monotonic() - began, rss * 1024))

        self._thread = threading.Thread(target=sample, name="rss-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    @property
    def current(self) -> int:
        return self.samples[-1][1] if self.samples else 0

    def peak(self) -> int:
        hwm = _status_kib(self.pid, "VmHWM")
        sampled = max((rss for _, rss in self.samples), default=0)
        return max(sampled, hwm * 1024 if hwm is not None else 0)


@dataclass
class Outcome:
    ready_s: float = 0.0
    rss_ready: int = 0
    peak: int = 0
    rss_end: int = 0
    changes: int = 0
    backfills_complete: int = 0
    drained: bool = False
    seconds: float = 0.0
    aborted: str = ""
    timeline: list[tuple[float, int]] = field(default_factory=list)


class _Abort(Exception):
    pass


def run(
    *,
    contacts: int = 3000,
    segments: int = 20,
    changes: int = 20000,
    rate: float = 500.0,
    api_port: int = 0,
    moto_port: int = 0,
    limit_mib: int | None = None,
    timeout: float = 7200.0,
) -> Outcome:
    """The scenario of the module docstring; ``limit_mib`` stops it early when the stack grows past it."""
    api_port = api_port or free_port()
    moto_port = moto_port or free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for variable in ("LOCAL_API_PORT", "MOTO_PORT", "DEMO_CONTACTS", "AWS_ENDPOINT_URL", "AWS_PROFILE"):
        env.pop(variable, None)
    prefix = f"benchmem{os.getpid()}"
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "growthos_segments.devstack",
         "--port", str(api_port), "--moto-port", str(moto_port),
         "--contacts", str(contacts), "--prefix", prefix, "--log-level", "WARNING"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    outcome = Outcome()
    sampler = Sampler(process.pid)
    sampler.start()
    base = f"http://127.0.0.1:{api_port}"
    deadline = started + timeout

    def check() -> None:
        if process.poll() is not None:
            raise _Abort(f"the stack exited with code {process.returncode}")
        if limit_mib is not None and sampler.current > limit_mib * MIB:
            raise _Abort(f"RSS passed {limit_mib} MiB after {time.monotonic() - started:.0f} s")
        if time.monotonic() > deadline:
            raise _Abort(f"not finished after {timeout:.0f} s")

    try:
        while True:
            check()
            try:
                if api_call(base, "GET", "/health")[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.2)
        outcome.ready_s = time.monotonic() - started
        time.sleep(1.5)
        outcome.rss_ready = sampler.current
        _drive(base, f"http://127.0.0.1:{moto_port}", prefix, segments, changes, rate, check, outcome)
    except _Abort as stopped:
        outcome.aborted = str(stopped)
    finally:
        outcome.seconds = time.monotonic() - started
        outcome.peak = sampler.peak()
        outcome.rss_end = sampler.current
        sampler.stop()
        outcome.timeline = sampler.samples
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    return outcome


def _drive(
    base: str,
    moto_url: str,
    prefix: str,
    segments: int,
    changes: int,
    rate: float,
    check: Callable[[], None],
    outcome: Outcome,
) -> None:
    """Create the segments, write the changes, then wait for the backfills and the sentinels
    (``outcome`` follows along, so a run stopped early still says how far it got)."""
    from growthos_segments.devstack.simulate import simulate
    from growthos_segments.infra.repos import build_repositories
    from growthos_segments.infra.repos.progress import ProgressStore
    from growthos_segments.infra.settings import Settings

    for name, value in FAKE_AWS.items():
        os.environ.setdefault(name, value)
    settings = Settings.local(prefix, endpoint_url=moto_url)
    repos = build_repositories(settings)
    versions: dict[str, int] = {}
    for segment_id, rule in segment_rules(segments):
        body = {"id": segment_id, "name": segment_id, "rule": rule}
        status, body = api_call(base, "POST", "/segments", body)
        if status != 201:
            raise _Abort(f"POST /segments {segment_id}: {status} {body}")
        versions[segment_id] = int(body["version"])

    batch = 100
    while outcome.changes < changes:
        check()
        outcome.changes += simulate(settings, TENANT, rate=rate, count=min(batch, changes - outcome.changes),
                                    seed=outcome.changes, emit=lambda _line: None)
    now = datetime.now(UTC)
    repos.contacts.put({"tenant_id": TENANT, "contact_id": SENTINEL_CONTACT,
                        "attributes": {"custom": {"bench": "done"}}}, now=now)
    repos.events.append(TENANT, SENTINEL_CONTACT, SENTINEL_EVENT, at=now)

    progress = ProgressStore(repos.client, settings.tables.counters)
    complete: set[str] = set()
    while len(complete) < len(versions) or not outcome.drained:
        check()
        for segment_id, version in versions.items():
            if segment_id not in complete and progress.progress(TENANT, segment_id, version).complete:
                complete.add(segment_id)
        outcome.backfills_complete = len(complete)
        outcome.drained = outcome.drained or all(
            api_call(base, "GET", f"/segments/{sid}/members/{SENTINEL_CONTACT}")[1].get("member") is True
            for sid in ("bench_sentinel_contact", "bench_sentinel_event")
        )
        time.sleep(2.0)


def report(outcome: Outcome, contacts: int, segments: int, changes: int) -> None:
    if outcome.aborted:
        row("local stack memory scenario", "stopped", outcome.aborted)
    row(f"stack ready ({contacts:,} demo contacts)", f"{outcome.ready_s:.1f} s",
        f"RSS {outcome.rss_ready / MIB:,.0f} MiB")
    row(f"peak RSS through {segments} backfills + {outcome.changes:,} of {changes:,} changes",
        f"{outcome.peak / MIB:,.0f} MiB", "target < 1,024 MiB")
    row("  RSS at the end", f"{outcome.rss_end / MIB:,.0f} MiB",
        f"{outcome.backfills_complete}/{segments} backfills complete, "
        f"{'drained' if outcome.drained else 'streams not drained'}, {outcome.seconds:.0f} s")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_local_memory")
    parser.add_argument("--contacts", type=int, default=3000)
    parser.add_argument("--segments", type=int, default=20)
    parser.add_argument("--changes", type=int, default=20000)
    parser.add_argument("--rate", type=float, default=500.0, help="simulated changes per second (at most)")
    parser.add_argument("--api-port", type=int, default=0)
    parser.add_argument("--moto-port", type=int, default=0)
    parser.add_argument("--limit-mib", type=int, default=None, help="stop early past this RSS")
    parser.add_argument("--timeout", type=float, default=7200.0, help="give up after this many seconds")
    parser.add_argument("--timeline", action="store_true", help="print RSS every 30 s")
    args = parser.parse_args(argv)
    if not Path("/proc/self/status").exists():
        row("local stack memory scenario", "n/a", "needs /proc (Linux)")
        return
    outcome = run(contacts=args.contacts, segments=max(2, args.segments), changes=args.changes,
                  rate=args.rate, api_port=args.api_port, moto_port=args.moto_port, limit_mib=args.limit_mib,
                  timeout=args.timeout)
    report(outcome, args.contacts, max(2, args.segments), args.changes)
    if args.timeline:
        next_at = 0.0
        for at, rss in outcome.timeline:
            if at >= next_at:
                print(f"    {at:6.0f} s  {rss / MIB:8,.0f} MiB")
                next_at = at + 30


if __name__ == "__main__":
    main()
