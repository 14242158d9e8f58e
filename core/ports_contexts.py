"""The tenant-context port of the analytical copy: a tenant's context computed in one pass of SQL.

The scheduler recomputes a stale tenant context (RFM thresholds) from the whole
tenant. Through the real-time tables that is a scan of every contact the
context reads, in a Lambda function, in pages; over the analytical copy it is
one query per namespace. The copy is a little behind the tables (its
``as_of``), so the caller decides whether that is fresh enough; services see
only this Protocol and stay free of DuckDB.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

__all__ = ["CopyContext", "TenantContexts"]


@dataclass(frozen=True, slots=True)
class CopyContext:
    """A tenant's whole context at ``now``, computed from its copy as it stood at ``as_of``."""

    context: Mapping[str, Any]
    as_of: datetime | None


class TenantContexts(Protocol):
    def compute(self, tenant_id: str, now: datetime) -> CopyContext | None:
        """The context of ``tenant_id`` at ``now`` (``None``: the tenant has no copy)."""
        ...
