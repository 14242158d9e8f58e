"""CSV contact imports: parse and infer alone, and `segments import` of 100,000 rows into the local stack.

The file is generated here (ten columns: profile fields, a date, a number that
is inferred, a multi-value custom field, tags, a score and a suppression flag).
Parsing is timed in this process. The import runs the real command,
``segments import FILE --list spring``, in a subprocess against a local stack
started here (a demo tenant of 1,000 contacts, with its stream evaluator, notifier and
scheduler running, so the imported contacts are evaluated while the import
writes, as under ``make run``); its rate is rows over the command's wall time.
"""

from __future__ import annotations

import logging
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from benchmarks.timing import row

ROWS = 100_000
INTERESTS = ("automation", "crm", "email", "analytics", "ads")


def generate_csv(rows: int, *, seed: int = 13) -> bytes:
    """A realistic export: one row per contact, a few empty cells, ids unknown to the demo tenant."""
    rng = random.Random(seed)
    lines = ["contact_id,email,first_name,plan,signup_date,nps,interests:multi,tags,score.lead,"
             "suppression.unsubscribed"]
    for i in range(rows):
        interests = ";".join(rng.sample(INTERESTS, rng.randint(0, 3)))
        nps = str(rng.randint(0, 10)) if rng.random() < 0.6 else ""
        lines.append(f"imp{i},person{i}@example.com,Name{i % 977},{rng.choice(('free', 'pro', 'team'))},"
                     f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d},{nps},{interests},"
                     f"{rng.choice(('', 'vip', 'beta;vip'))},{rng.randint(0, 100)},"
                     f"{rng.choice(('no', 'yes'))}")
    return ("\n".join(lines) + "\n").encode()


def bench_parse(data: bytes, rows: int) -> None:
    from growthos_segments.services.csv_import import parse_csv

    started = time.perf_counter()
    parsed = parse_csv(data)
    elapsed = time.perf_counter() - started
    assert len(parsed.rows) == rows and not parsed.bad
    row(f"parse + infer {rows:,} rows ({len(data) / 1e6:.1f} MB)", f"{rows / elapsed:,.0f} rows/s",
        f"{elapsed:.1f} s")


def bench_local_stack(data: bytes, rows: int) -> None:
    from growthos_segments.devstack.stack import LocalStack, Options

    logging.getLogger("infra").setLevel(logging.WARNING)
    environment = dict(os.environ)
    stack = LocalStack(Options(port=0, moto_port=0, prefix="benchimport", handler_log_level="ERROR",
                               tenants=(("demo", 1000),)), emit=lambda _: None)
    stack.app = replace(stack.app, schedules=())  # the minute scheduler's first run reads every contact
    stack.start()
    try:
        assert stack.settings is not None
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "contacts.csv"
            path.write_bytes(data)
            command = [sys.executable, "-m", "growthos_segments.devstack.cli", "import", str(path),
                       "--tenant", "demo", "--list", "spring", "--prefix", "benchimport",
                       "--endpoint", str(stack.settings.endpoint_url)]
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, check=False, env=environment)
            elapsed = time.perf_counter() - started
        summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr.strip()
        assert done.returncode == 0, summary
        row(f"segments import {rows:,} rows into the local stack", f"{rows / elapsed:,.0f} rows/s",
            f"{elapsed:.0f} s")
        print(f"    {summary}")
    finally:
        stack.stop()
        os.environ.clear()
        os.environ.update(environment)


def main() -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        os.environ.setdefault(name, value)
    data = generate_csv(ROWS)
    bench_parse(data, ROWS)
    bench_local_stack(data, ROWS)


if __name__ == "__main__":
    main()
