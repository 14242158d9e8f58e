"""Run every benchmark module and print its figures."""

from __future__ import annotations

import importlib
import platform
import sys

MODULES = (
    "benchmarks.bench_core",
    "benchmarks.bench_behavior",
    "benchmarks.bench_storage",
    "benchmarks.bench_membership",
    "benchmarks.bench_backfill",
    "benchmarks.bench_api",
    "benchmarks.bench_ingest",
    "benchmarks.bench_soak",
    "benchmarks.bench_web",
    "benchmarks.bench_analytics",
    "benchmarks.bench_backfill_sql",
    "benchmarks.bench_copy",
    "benchmarks.bench_import",
)


def main() -> int:
    print(f"GrowthOS segment engine benchmarks — Python {platform.python_version()} on {platform.machine()}")
    for name in MODULES:
        module = importlib.import_module(name)
        print(f"\n[{name.split('.')[-1]}] {(module.__doc__ or '').strip().splitlines()[0]}")
        module.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
