"""Analytical copy kept from the streams: records applied per second, lag to visible, merge and fold at 1M.

A synthetic tenant of ``BENCH_COPY_CONTACTS`` contacts (default 1,000,000; about
ten events each, ``growthos_segments.analytics.generate``) is the base. Then:

- **apply**: :data:`BATCHES` stream batches of :data:`BATCH` records each, shaped
  as Lambda delivers them (DynamoDB JSON; half contact MODIFYs of existing
  contacts, half event INSERTs), go through the copy function's service
  (``CopyService.apply_batch``: records read, one delta per batch written by
  DuckDB to a local folder; S3's upload time is not in it);
- **lag to visible**: after a batch is applied, the next opening of the tenant
  (views merged with the deltas) sees it; the time to open the tenant and answer
  :data:`RULE` with member ids (``engine.answer``), with no delta, after one batch
  and after all :data:`BATCHES` (the merge's cost);
- **fold**: the :data:`BATCHES` deltas folded into new base files, in a fresh
  process (wall time and its peak resident memory, Linux's VmHWM);
- **end to end, local stack**: a contact written through the repositories of a
  running local stack (moto), until the copy's views show it: the stream pump,
  the template's batching window (2 s) and the copy function (p50 and max of
  :data:`WRITES` writes).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.timing import row

SIZE = int(os.environ.get("BENCH_COPY_CONTACTS", "1000000"))
BATCHES = 64
BATCH = 1000
WRITES = 10
TENANT = "bench"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
TABLES = ("bench-contacts", "bench-events")
RULE = {"and": [{"attribute": {"field": "plan", "op": "equals", "value": "pro"}},
                 {"email": {"action": "opened", "min_count": 3, "within": "30d"}}]}
"""A profile condition and an event condition: the engine's answer reads both merged views."""


def _records(batch: int) -> list[dict[str, Any]]:
    """One stream batch as Lambda delivers it: contact MODIFYs and event INSERTs of the tenant."""
    from boto3.dynamodb.types import TypeSerializer

    serialize = TypeSerializer().serialize
    created = (NOW - timedelta(hours=1)).timestamp() + batch
    out = []
    for n in range(BATCH):
        number = batch * BATCH + n
        contact_id = f"c{1 + (number * 7919) % SIZE}"
        position = str(10**20 + number)
        if n % 2 == 0:
            table, keys = TABLES[0], {"pk": f"{TENANT}#{contact_id}"}
            image = {**keys, "tenant_id": TENANT, "contact_id": contact_id,
                     "attributes": {"plan": "pro", "country": "GB", "custom": {"lead_score": n}},
                     "tags": ["bench"], "lists": [], "suppression": {}, "scores": {"lead": 80},
                     "updated_at": "2026-11-22T11:00:00Z"}
            name = "MODIFY"
        else:
            at = (NOW - timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            keys = {"pk": f"{TENANT}#{contact_id}", "sk": f"{at}#b{number}"}
            image = {**keys, "tenant_id": TENANT, "contact_id": contact_id, "event_id": f"b{number}",
                     "name": "email.opened", "at": at, "properties": {"campaign_id": "bench"}}
            table, name = TABLES[1], "INSERT"
        out.append({
            "eventID": position, "eventName": name, "eventSource": "aws:dynamodb",
            "eventSourceARN": f"arn:aws:dynamodb:us-east-1:123456789012:table/{table}/stream/x",
            "dynamodb": {"Keys": {k: serialize(v) for k, v in keys.items()},
                         "NewImage": {k: serialize(v) for k, v in image.items()},
                         "SequenceNumber": position, "ApproximateCreationDateTime": created},
        })
    return out


def _open_and_answer(root: Path) -> tuple[float, int]:
    """Seconds to open the tenant (deltas merged) and answer :data:`RULE` with member ids."""
    import duckdb

    from growthos_segments.analytics.engine import answer
    from growthos_segments.analytics.parquet import open_tenant
    from growthos_segments.core.segments import SegmentDefinition, SegmentSet
    from growthos_segments.plugins import default_host

    host = default_host()
    segments = SegmentSet(host, [SegmentDefinition("rule", RULE)])
    began = time.perf_counter()
    con = duckdb.connect()
    open_tenant(con, root, TENANT)
    got = answer(con, host, segments, "rule", TENANT, NOW)
    return time.perf_counter() - began, len(got.members)


def _p50(root: Path) -> tuple[float, int]:
    runs = [_open_and_answer(root) for _ in range(5)]
    return statistics.median(took for took, _ in runs), runs[-1][1]


def _fold(root: str) -> dict[str, Any]:
    """In a fresh process: fold every delta (see the module docstring)."""
    from growthos_segments.analytics.deltas import ParquetCopy
    from growthos_segments.infra.analytics_copy import LocalCopyStorage

    with open("/proc/self/clear_refs", "w") as refs:  # Linux: reset the peak inherited at fork
        refs.write("5")
    copy = ParquetCopy(LocalCopyStorage(root), workdir=Path(root).parent / "work")
    began = time.perf_counter()
    folded = copy.compact(TENANT, now=datetime.now(UTC) + timedelta(days=1))
    took = time.perf_counter() - began
    status = Path("/proc/self/status").read_text()
    peak = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
    return {"folded": folded, "seconds": took, "rss_mb": peak / 1024}


def _end_to_end() -> list[float]:
    """Seconds from a contact write on a running local stack to the copy showing it."""
    import duckdb

    from growthos_segments.analytics.parquet import open_tenant
    from growthos_segments.devstack.stack import LocalStack, Options
    from growthos_segments.infra.repos import build_repositories

    saved = dict(os.environ)
    stack = LocalStack(Options(port=0, moto_port=0, prefix="benchcopy", tenants=(("demo", 100),),
                               handler_log_level="ERROR", poll_interval=0.05), emit=lambda _: None)
    lags = []
    try:
        stack.start()
        assert stack.settings is not None
        repos = build_repositories(stack.settings)
        for n in range(WRITES):
            contact_id = f"lag-{n}"
            began = time.perf_counter()
            repos.contacts.put({"tenant_id": "demo", "contact_id": contact_id, "attributes": {"plan": "pro"}})
            while True:
                con = duckdb.connect()
                open_tenant(con, stack.analytics_copy, "demo")
                if con.execute("SELECT 1 FROM contacts WHERE contact_id = $c", {"c": contact_id}).fetchall():
                    break
                time.sleep(0.02)
            lags.append(time.perf_counter() - began)
    finally:
        stack.stop()
        os.environ.clear()
        os.environ.update(saved)
    return lags


def main() -> None:
    from growthos_segments.analytics.deltas import ParquetCopy
    from growthos_segments.analytics.generate import generate
    from growthos_segments.infra.analytics_copy import DynamoCopyRecords, LocalCopyStorage
    from growthos_segments.infra.settings import TableNames
    from growthos_segments.services.copy import FOLD_AFTER, CopyService

    with tempfile.TemporaryDirectory(prefix="bench-copy-") as scratch:
        root = Path(scratch) / "copy"
        made = generate(root, SIZE, tenant_id=TENANT)
        row(f"generate {SIZE:,} contacts x ~10 events ({made.events:,} events)", f"{made.seconds:,.1f} s")
        tables = TableNames(TABLES[0], TABLES[1], *("unused",) * 6)
        copy = ParquetCopy(LocalCopyStorage(root), workdir=Path(scratch) / "work")
        service = CopyService(DynamoCopyRecords(tables), copy, fold_after=BATCHES * 2)
        batches = [_records(n) for n in range(BATCHES)]
        base_s, base_count = _p50(root)
        took = []
        for number, batch in enumerate(batches):
            began = time.perf_counter()
            result = service.apply_batch(batch)
            took.append(time.perf_counter() - began)
            assert not result.failed
            if number == 0:
                one_s, _ = _p50(root)
        total = sum(took)
        row(f"apply {BATCHES} batches of {BATCH:,} records (contacts and events)",
            f"{BATCHES * BATCH / total:,.0f} rec/s",
            f"p50 {statistics.median(took) * 1000:,.0f} ms a batch, one delta each; S3 upload not included")
        all_s, all_count = _p50(root)
        row(f"{SIZE:,}: open + engine answer, no delta ({base_count:,} members)", f"{base_s * 1000:,.0f} ms",
            "a change is visible to the next open after its batch is applied")
        row(f"{SIZE:,}: the same after 1 batch", f"{one_s * 1000:,.0f} ms", "merge on read")
        row(f"{SIZE:,}: the same after {BATCHES} batches, {2 * BATCHES} delta files ({all_count:,})",
            f"{all_s * 1000:,.0f} ms",
            f"{all_s / base_s:.2f}x no delta; the copy function folds past {FOLD_AFTER} delta files")
        out = subprocess.run([sys.executable, "-m", "benchmarks.bench_copy", str(root)],
                             capture_output=True, text=True, check=False)
        if out.returncode != 0:
            why = out.stderr.strip().splitlines()[-1:] or [f"exit {out.returncode}"]
            row(f"{SIZE:,}: fold", "FAILED", why[0])
            return
        fold = json.loads(out.stdout)
        folded_s, folded_count = _p50(root)
        assert folded_count == all_count
        row(f"{SIZE:,}: fold {fold['folded']} delta files into new base files", f"{fold['seconds']:,.1f} s",
            f"peak RSS {fold['rss_mb']:,.0f} MB (DuckDB memory_limit 1 GB, spills past it); "
            f"then open + answer {folded_s * 1000:,.0f} ms")
    lags = _end_to_end()
    row(f"local stack: contact write -> visible in the copy ({WRITES} writes)",
        f"{statistics.median(lags):,.2f} s", f"p50; max {max(lags):,.2f} s (batching window 2 s)")


if __name__ == "__main__":
    if len(sys.argv) == 2:  # the fold in a fresh process (see _fold)
        print(json.dumps(_fold(sys.argv[1])))
    else:
        main()
