"""Where functions other than the copy's own read the analytical copy (``ANALYTICS_COPY``).

One answer for every reader: a tenant's copy is the folder
:func:`growthos_segments.infra.analytics_copy.copy_storage` gives (a local
directory, or the tenant's S3 prefix synchronised to /tmp with an ETag cache), so
the API's exact counts, the backfill's candidates and the scheduler's tenant
contexts read the same files. Nothing here imports duckdb.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from growthos_segments.analytics.contexts import CopyContexts
from growthos_segments.core.host import PluginHost
from growthos_segments.infra.settings import Settings

__all__ = ["copy_contexts", "copy_roots"]


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
