"""Fault-injection soak of real-time membership: operations, faults injected, divergences (must be 0).

The soak itself is ``tests/soak/harness.py``: random writes and deletes,
duplicated, reordered and redelivered stream records, failing reads and
writes, a bus that throttles and loses responses, two hosts whose seq clocks
disagree, time moved through the scheduler, all compared with a plain-Python
model and with the outbox. ``make test`` runs the small size; this prints it
and a larger one. Another size or seed:

    .venv/bin/python -m benchmarks.bench_soak --seed 11 --rounds 100 --writes 20 --contacts 6
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

from benchmarks.timing import row

FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
}


def soak(label: str, **options: int) -> int:
    """One run on a fresh moto deployment; prints its figures, returns its divergences."""
    os.environ.update(FAKE_AWS)
    from moto import mock_aws

    from growthos_segments.devstack.template import create_tables
    from growthos_segments.infra.repos import build_repositories
    from growthos_segments.infra.settings import Settings
    from tests.soak.harness import Soak, SoakConfig

    config = SoakConfig(**options)  # type: ignore[arg-type]
    started = time.perf_counter()
    with mock_aws():
        settings = Settings.local("soak", segment_cache_seconds=3600)
        repos = build_repositories(settings)
        create_tables(settings, repos.client)
        report = Soak(repos, config).run()
    elapsed = time.perf_counter() - started
    print(f"  {label}: seed {config.seed}, {len(config.tenants)} tenants x {config.contacts} contacts, "
          f"{config.rounds} checkpoints, skew {config.skew_ms} ms, {elapsed:.0f} s")
    row("operations (writes and deletes)", f"{sum(report.operations.values())}")
    row("faults injected (engine reads/writes, PutEvents)", f"{sum(report.faults.values())}")
    row("stream batches (change / notifier), scheduler runs",
        f"{report.delivery['change batches']} / {report.delivery['notifier batches']}, "
        f"{report.delivery['scheduler runs']}")
    row("transitions committed, events on the bus (with repeats)", f"{report.transitions}, {report.events}")
    row("divergences", f"{len(report.divergences)}", "0")
    for line in report.divergences[:10]:
        print(f"    {line}")
    return len(report.divergences)


def main(argv: list[str] | None = None) -> int:
    """Prints the figures; returns the number of divergences."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_soak", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--writes", type=int)
    parser.add_argument("--contacts", type=int)
    parser.add_argument("--skew-ms", type=int)
    args = parser.parse_args([] if argv is None else argv)
    chosen = {k: v for k, v in vars(args).items() if v is not None}
    logging.disable(logging.CRITICAL)  # the code under test logs every injected fault
    try:
        if chosen:
            return soak("custom", **chosen)
        return soak("small (make test)", seed=3) + soak("large", seed=1, rounds=40, writes=15, contacts=6)
    finally:
        logging.disable(logging.NOTSET)


if __name__ == "__main__":
    sys.exit(1 if main(sys.argv[1:]) else 0)
