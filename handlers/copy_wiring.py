"""Where functions other than the copy's own read the analytical copy (``ANALYTICS_COPY``).

One answer for every reader: a tenant's copy is the folder
:func:`growthos_segments.infra.analytics_copy.copy_storage` gives (a local
directory, or the tenant's S3 prefix synchronised to /tmp with an ETag cache), so
the API's exact counts, the backfill's candidates and the scheduler's tenant
contexts read the same files. The copy's watermark is computed from the same
storage (the copy function's progress) and the two tables' streams. Nothing here
imports duckdb.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from growthos_segments.analytics.contexts import CopyContexts
from growthos_segments.core.host import PluginHost
from growthos_segments.core.ports_copy import CopyProgress
from growthos_segments.infra.settings import Settings
from growthos_segments.services.copy import StreamWatermark

__all__ = ["copy_contexts", "copy_roots", "stream_watermark"]


def copy_roots(settings: Settings) -> Callable[[str], Path | None] | None:
    """``tenant_id -> folder holding tenant_id=<tenant>/`` (``None``: the deployment has no copy)."""
    if not settings.analytics_copy:
        return None
    from growthos_segments.infra.analytics_copy import copy_storage

    return copy_storage(settings).local_root


def copy_contexts(settings: Settings, host: PluginHost) -> CopyContexts | None:
    """Tenant contexts computed over the copy, for the scheduler (``None``: no copy)."""
    roots = copy_roots(settings)
    return None if roots is None else CopyContexts(host, roots)


def stream_watermark(settings: Settings, progress: CopyProgress | None = None) -> StreamWatermark:
    """The copy's watermark from the deployment's streams and the copy function's progress
    (``progress``: kept in the copy's storage unless given)."""
    from growthos_segments.infra import aws
    from growthos_segments.infra.analytics_copy import copy_storage
    from growthos_segments.infra.stream_progress import DynamoStreamBacklog, StorageProgress

    backlog = DynamoStreamBacklog(aws.client("dynamodb", settings), aws.client("dynamodbstreams", settings),
                                  settings.tables)
    return StreamWatermark(progress or StorageProgress(copy_storage(settings)), backlog)
