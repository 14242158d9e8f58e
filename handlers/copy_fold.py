"""Copy fold function: every minute, the copy's watermark, and its deltas folded into base files.

First the watermark (``services/copy.py``): how far the copy function has applied
every shard of both streams, kept beside the copy for its readers. A watermark
that cannot be computed is logged and the last one stays: it is only older.

Each tenant holding more than ``FOLD_AFTER`` delta files (each one is a file
every query of the tenant opens and merges) gets them folded, the most first,
until the time-out is near; the rest wait for the next run. ``template.yaml``
gives the function one concurrent execution, so two folds never run at once.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aws_lambda_powertools import Logger

from growthos_segments.core.timeutil import to_iso
from growthos_segments.handlers.copy import build_copy_service
from growthos_segments.infra.settings import current_settings
from growthos_segments.services.copy import CopyService

__all__ = ["RESERVE_MS", "handler"]

logger = Logger(service="growthos-segments-copy-fold")

RESERVE_MS = 150_000
"""No tenant's fold starts with less than this left of the 300 s time-out: ``make bench``'s
fold of a 1M-contact tenant took 12 s on a quiet 2-core machine here, and ten times that
while other jobs kept it busy."""


@cache
def service() -> CopyService:
    """Built on the first invocation of a container and kept; the only copy service that
    computes the watermark."""
    return build_copy_service(current_settings(), watermark=True)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    copier = service()
    try:
        mark = to_iso(copier.refresh_watermark().at, "microseconds")
    except Exception:  # an older watermark is still a true one
        logger.exception("computing the copy's watermark failed")
        mark = None
    folded = copier.fold_due(out_of_time=lambda: context.get_remaining_time_in_millis() < RESERVE_MS)
    logger.info("deltas folded", extra={"tenants": len(folded), "files": sum(folded.values()),
                                        "watermark": mark})
    return {"folded": folded, "watermark": mark}
