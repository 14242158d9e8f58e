"""Backfill rate of one segment at 1k, 3k and 10k contacts (moto tuned; untuned at 1k and 3k as the peer).

The demo tenant's data (``growthos_segments.devstack.demo_data``: profiles with 90 days of email,
order, product and nudge events) at each size, in moto in-process; one
segment is saved and backfilled by one worker, 100 contacts a page, through
the same engine as the stream. The figure is contacts evaluated per second
(pages, pair states, transitions, progress items), over the whole backfill or
its first :data:`BUDGET` seconds, whichever ends first: a backfill's pages
all cost the same, so the rate of its first pages is its rate. Untuned is moto
as installed, on the same data: its Query lists and sorts every item of a
table, and each transition copies the memberships table, so its rate falls as
the tenant grows; tuned, it should not.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from benchmarks.support import moto_in_process
from benchmarks.timing import row

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
TENANT = "demo"
SIZES = (1000, 3000, 10000)
UNTUNED_SIZES = (1000, 3000)
BUDGET = 30.0
"""Seconds one measurement may take (the rest of the backfill is not needed for its rate)."""
RULES: tuple[tuple[str, dict[str, Any]], ...] = (
    ("attribute rule", {"attribute": {"field": "plan", "op": "equals", "value": "pro"}}),
    ("email rule (opened in 30 days)", {"email": {"action": "opened", "within": "30d"}}),
)


@contextmanager
def seeded(contacts: int) -> Iterator[tuple[Any, Any]]:
    """Repositories and an evaluation service over a demo tenant of ``contacts`` contacts."""
    from growthos_segments.devstack.demo_data import generate, write
    from growthos_segments.devstack.template import create_tables
    from growthos_segments.handlers.wiring import build_service
    from growthos_segments.infra.repos import build_repositories
    from growthos_segments.infra.settings import Settings

    with moto_in_process():
        settings = Settings.local("benchfill", segment_cache_seconds=3600)
        repos = build_repositories(settings)
        create_tables(settings, repos.client)
        write(repos, generate(TENANT, contacts, now=NOW), now=NOW)
        yield repos, build_service(settings, repos=repos, clock=lambda: NOW)


def backfill_rate(repos: Any, service: Any, segment_id: str, rule: dict[str, Any]) -> tuple[float, Any]:
    """(contacts per second, progress) of one segment's backfill, stopped after :data:`BUDGET`."""
    from growthos_segments.core.ports import SegmentRecord
    from growthos_segments.services.backfill import Backfill

    repos.segments.save(SegmentRecord(TENANT, segment_id, segment_id, rule), now=NOW)
    started = time.perf_counter()
    progress = Backfill(service, page_size=100).run(
        TENANT, segment_id, workers=1, cancelled=lambda: time.perf_counter() - started > BUDGET
    )
    return progress.done / (time.perf_counter() - started), progress


def main() -> None:
    from growthos_segments.devstack import moto_tuning

    def over(progress: Any) -> str:
        return "all" if progress.complete else f"first {progress.done:,}"

    for contacts in SIZES:
        with seeded(contacts) as (repos, service):
            for n, (label, rule) in enumerate(RULES):
                tuned, progress = backfill_rate(repos, service, f"tuned{n}", rule)
                row(f"backfill of {contacts:,} contacts, one worker: {label}", f"{tuned:,.0f} contacts/s",
                    f"over {over(progress)} contacts")
                if contacts in UNTUNED_SIZES:
                    with moto_tuning.untuned():
                        untuned, progress = backfill_rate(repos, service, f"untuned{n}", rule)
                    row("  the same, moto untuned", f"{untuned:,.0f} contacts/s",
                        f"over {over(progress)} contacts")


if __name__ == "__main__":
    main()
