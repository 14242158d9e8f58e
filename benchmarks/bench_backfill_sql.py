"""Backfill by SQL candidates: a new segment on a 1M-contact tenant, candidates vs every contact.

A synthetic tenant (``growthos_segments.analytics.generate``, as ``bench_analytics``
writes it: about ten events a contact over 120 days; the same folder when that
bench already wrote one of the size, :mod:`benchmarks.tenants`) is at hand at
each size of ``BENCH_BACKFILL_SQL_CONTACTS`` (comma-separated; default
1,000,000). For each of the issue's five representative rules saved as a new
segment:

- **the candidates at full size**: what the backfill asks the copy
  (:class:`growthos_segments.analytics.candidates.CopyCandidates`: the SQL answer
  plus the contacts a condition reading the instant can move with time), in a
  fresh process so its peak resident memory (VmHWM) is its own; p50 of
  :data:`RUNS` after a warm-up. The number of candidates is the number of
  per-contact evaluations the backfill does (a new segment has no members yet).
- **the per-contact cost**, measured, not assumed: the first :data:`SAMPLE`
  contacts of the copy loaded into the in-memory ports and backfilled twice with
  the real engine (:class:`growthos_segments.services.backfill.Backfill`): every
  contact, and the candidates of a copy of that sample. Both must leave the same
  members and re-checks (``same``). The full backfill's CPU per contact, times
  the tenant's size, is the estimate of evaluating every contact at full size
  (scaled from the sample, as stated in the row); the candidate backfill's
  estimate is the SQL's CPU plus that cost per candidate. On DynamoDB each
  evaluation also costs reads and writes (``bench_backfill``: 84-149 contacts/s
  on the local stack), so the ratio of evaluations is the figure that carries over.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from benchmarks.bench_analytics import SQL
from benchmarks.tenants import TENANT, generated
from benchmarks.timing import row

SIZES = tuple(int(n) for n in os.environ.get("BENCH_BACKFILL_SQL_CONTACTS", "1000000").split(","))
RUNS = 3
SAMPLE = 5_000
CACHE = timedelta(seconds=5)


def measure(root: str, name: str) -> dict[str, Any]:
    """The candidates of one rule at ``DEFAULT_NOW`` in this (fresh) process: how many,
    p50 wall and CPU seconds, peak RSS in MB."""
    from growthos_segments.analytics.candidates import CopyCandidates
    from growthos_segments.analytics.generate import DEFAULT_NOW
    from growthos_segments.core.segments import SegmentDefinition, SegmentSet
    from growthos_segments.plugins import default_host

    with open("/proc/self/clear_refs", "w") as refs:  # Linux: reset the peak inherited at fork
        refs.write("5")
    segments = SegmentSet(default_host(), [SegmentDefinition("rule", SQL[name][0])])
    source = CopyCandidates(lambda tenant: Path(root))
    found = source.candidates(TENANT, segments, ["rule"], DEFAULT_NOW)  # warm-up
    wall, cpu = [], []
    for _ in range(RUNS):
        started, used = time.perf_counter(), time.process_time()
        found = source.candidates(TENANT, segments, ["rule"], DEFAULT_NOW)
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - used)
    assert found is not None
    status = Path("/proc/self/status").read_text()
    peak_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
    return {"candidates": len(found.ids), "wall": statistics.median(wall), "cpu": statistics.median(cpu),
            "rss_mb": peak_kb / 1024}


def _in_fresh_process(root: str, name: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "benchmarks.bench_backfill_sql", root, name],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def sample_backfills(root: str, work: Path) -> dict[str, dict[str, Any]]:
    """Per rule, on the first :data:`SAMPLE` contacts: the full and the candidate backfill
    on the in-memory ports (evaluations, CPU seconds, same members and re-checks)."""
    import duckdb

    from growthos_segments.analytics.candidates import CopyCandidates
    from growthos_segments.analytics.generate import DEFAULT_NOW
    from growthos_segments.analytics.parquet import open_tenant, read_documents, write_tenant
    from growthos_segments.core.ports import SegmentRecord
    from growthos_segments.core.timeutil import to_iso
    from growthos_segments.infra.memory import MemoryBackend
    from growthos_segments.plugins import default_host
    from growthos_segments.services.backfill import Backfill, SqlCandidates
    from growthos_segments.services.realtime import evaluation_service

    con = duckdb.connect()
    open_tenant(con, root, TENANT)
    docs = list(read_documents(con, limit=SAMPLE))
    con.close()
    saved_at = DEFAULT_NOW - timedelta(minutes=10)
    copy = work / "sample"
    write_tenant(copy, TENANT, [{**doc, "updated_at": to_iso(saved_at + CACHE)} for doc in docs])
    policy = SqlCandidates(CopyCandidates(lambda tenant: copy), cache_window=CACHE)
    host = default_host()
    out: dict[str, dict[str, Any]] = {}
    for name, (rule, _) in SQL.items():
        runs: dict[str, Any] = {}
        for mode in ("full", "sql"):
            memory = MemoryBackend()
            for doc in docs:
                memory.contacts.put({**doc, "tenant_id": TENANT})
            memory.segments.save(SegmentRecord(TENANT, "rule", "rule", rule), now=saved_at)
            service = evaluation_service(memory.ports(), host, clock=lambda: DEFAULT_NOW)
            backfill = Backfill(service, candidates=policy if mode == "sql" else None)
            used = time.process_time()
            progress = backfill.run(TENANT, "rule", workers=1)
            runs[mode] = {"done": progress.done, "cpu": time.process_time() - used,
                          "state": (memory.memberships.members(TENANT, "rule", limit=SAMPLE).items,
                                    sorted((r.contact_id, r.recheck_at) for r in memory.rechecks.records()))}
        full, sql = runs["full"], runs["sql"]
        out[name] = {"full": full["done"], "full_cpu": full["cpu"], "sql": sql["done"], "sql_cpu": sql["cpu"],
                     "same": full["state"] == sql["state"], "members": len(full["state"][0])}
    return out


def main() -> None:
    for contacts in SIZES:
        root = generated(contacts)
        with tempfile.TemporaryDirectory(prefix="bench-backfill-sql-") as work:
            sampled = sample_backfills(root, Path(work))
            for name in SQL:
                big = _in_fresh_process(root, name)
                small = sampled[name]
                per_contact = small["full_cpu"] / small["full"]
                full_s = contacts * per_contact
                sql_s = big["cpu"] + big["candidates"] * per_contact
                row(f"{contacts:,}: {name}: SQL candidates ({big['candidates']:,} evaluations)",
                    f"{big['wall'] * 1000:,.0f} ms",
                    f"CPU {big['cpu'] * 1000:,.0f} ms; peak RSS {big['rss_mb']:,.0f} MB; "
                    f"{contacts / max(big['candidates'], 1):,.1f}x fewer evaluations than {contacts:,}")
                row(f"{contacts:,}: {name}: backfill CPU, candidates vs every contact",
                    f"{sql_s:,.1f} s", f"vs {full_s:,.0f} s evaluating everyone ({full_s / sql_s:,.1f}x), "
                    f"engine {per_contact * 1e6:,.0f} us/contact measured on {small['full']:,}")
                row(f"{SAMPLE:,} sampled: {name}: evaluations, candidates vs every contact",
                    f"{small['sql']:,} / {small['full']:,}",
                    f"CPU {small['sql_cpu']:,.2f} s vs {small['full_cpu']:,.2f} s (SQL included); "
                    f"{small['members']:,} members; same members and re-checks: "
                    f"{'yes' if small['same'] else 'NO'}")


if __name__ == "__main__":
    if len(sys.argv) == 3:  # one rule in a fresh process (see _in_fresh_process)
        print(json.dumps(measure(sys.argv[1], sys.argv[2])))
    else:
        main()
