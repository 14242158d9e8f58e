"""Generated tenants the analytical benches share: one of each size per `make bench` run.

``bench_analytics`` and ``bench_backfill_sql`` both read a 1M-contact tenant
written by :mod:`growthos_segments.analytics.generate` and never change it, so
the first to ask writes it (half a minute at 1M, two at 4M) and the other reads
the same folder; it is removed when the process exits. A bench that changes its
copy (``bench_copy`` applies deltas and folds) writes its own.
"""

from __future__ import annotations

import atexit
import tempfile
from pathlib import Path

from benchmarks.timing import row

TENANT = "bench"
_made: dict[int, Path] = {}


def generated(contacts: int) -> str:
    """The root of a copy holding tenant :data:`TENANT` with ``contacts`` contacts
    (written, with a row saying so, the first time a size is asked for)."""
    from growthos_segments.analytics.generate import generate

    if contacts not in _made:
        folder = tempfile.TemporaryDirectory(prefix=f"bench-tenant-{contacts}-")
        atexit.register(folder.cleanup)
        made = generate(folder.name, contacts, tenant_id=TENANT)
        row(f"generate {contacts:,} contacts x ~10 events ({made.events:,} events)",
            f"{made.seconds:,.1f} s", f"{made.bytes / 1e6:,.0f} MB of Parquet (zstd)")
        _made[contacts] = Path(folder.name)
    return str(_made[contacts])
