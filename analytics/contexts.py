"""The tenant-context port over the tenant's Parquet copy (DuckDB embedded, one connection a call).

Namespaces a plugin gives in SQL (RFM's thresholds) are one query each
(:func:`growthos_segments.analytics.context.tenant_context`); a plugin without a
SQL form still gets the tenant's documents, read back from the copy, through its
``tenant_context`` hook. duckdb is imported when a context is computed, not when
this module is, so the scheduler's cold start does not pay for it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from growthos_segments.core.host import PluginHost
from growthos_segments.core.ports_contexts import CopyContext

__all__ = ["CopyContexts"]


class CopyContexts:
    """:class:`~growthos_segments.core.ports_contexts.TenantContexts` over copies on local disk;
    ``root_of(tenant_id)`` is the folder holding ``tenant_id=<tenant>/`` (``None``: no copy)."""

    def __init__(self, host: PluginHost, root_of: Callable[[str], Path | None]) -> None:
        self.host = host
        self.root_of = root_of

    def compute(self, tenant_id: str, now: datetime) -> CopyContext | None:
        from growthos_segments.analytics.context import tenant_context
        from growthos_segments.analytics.engine import copy_as_of, documents
        from growthos_segments.analytics.parquet import open_copy

        con = open_copy(self.root_of(tenant_id), tenant_id)
        if con is None:
            return None
        try:
            context = tenant_context(con, self.host, tenant_id, now, lambda: documents(con, tenant_id))
            return CopyContext(context, copy_as_of(con, tenant_id))
        finally:
            con.close()
