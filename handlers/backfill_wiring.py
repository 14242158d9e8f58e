"""The backfill of one deployment, on the analytical copy when it has one.

Beside :mod:`growthos_segments.handlers.wiring` (which builds the engine): with
``ANALYTICS_COPY`` set, a backfill evaluates only the candidates the copy names
(:mod:`growthos_segments.services.backfill`), reading the copy where the copy
function writes it: a local folder, or the S3 prefix synchronised to /tmp
(:func:`growthos_segments.infra.analytics_copy.copy_storage`), and computing the
copy's watermark from the streams when the stored one is short of a save
(:func:`growthos_segments.handlers.copy_wiring.stream_watermark`). duckdb is
imported only when a backfill asks the copy.
"""

from __future__ import annotations

from datetime import timedelta

from growthos_segments.handlers.wiring import build_service
from growthos_segments.infra.settings import Settings
from growthos_segments.services.backfill import Backfill, SqlCandidates
from growthos_segments.services.realtime import EvaluationService

__all__ = ["build_backfill", "copy_candidates"]


def copy_candidates(settings: Settings) -> SqlCandidates | None:
    """How backfills use the deployment's analytical copy (``None``: it has none)."""
    if not settings.analytics_copy:
        return None
    from growthos_segments.analytics.candidates import CopyCandidates
    from growthos_segments.handlers.copy_wiring import stream_watermark
    from growthos_segments.infra.analytics_copy import copy_storage

    marks = stream_watermark(settings)
    return SqlCandidates(
        CopyCandidates(copy_storage(settings).local_root),
        cache_window=timedelta(seconds=settings.segment_cache_seconds),
        wait=settings.backfill_copy_wait,
        watermark=lambda: marks.compute().at,
    )


def build_backfill(settings: Settings, service: EvaluationService | None = None) -> Backfill:
    """The backfill service (``service``: the engine, when the caller built it already)."""
    return Backfill(service or build_service(settings), page_size=settings.backfill_page_size,
                    candidates=copy_candidates(settings))
