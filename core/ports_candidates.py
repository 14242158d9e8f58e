"""The port through which a backfill asks the analytical copy whom it must evaluate.

A backfill of a new or changed segment need not evaluate every contact of the
tenant: the contacts whose membership can change are a small set the copy can
name with one query (:mod:`growthos_segments.services.backfill` says which and why).
The copy lives outside DynamoDB (Parquet read by DuckDB, see
``growthos_segments.analytics.candidates``), so the service sees it only through
this Protocol; a deployment without a copy passes none and every backfill
evaluates every contact, as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from growthos_segments.core.segments import SegmentSet

__all__ = ["CandidateSet", "CandidateSource", "NoCandidates"]


class NoCandidates(Exception):
    """The copy cannot name the candidates exactly (a rule without an exact SQL form);
    the message says which node, so the backfill can log why it evaluates everyone."""


@dataclass(frozen=True, slots=True)
class CandidateSet:
    """Contacts the copy names for a set of segments, and the copy's instant."""

    ids: frozenset[str]
    as_of: datetime
    """Every change to the tenant's contacts and events before this instant is in the copy."""


@runtime_checkable
class CandidateSource(Protocol):
    """The analytical copy, asked about one tenant at a time."""

    def as_of(self, tenant_id: str) -> datetime | None:
        """How fresh the tenant's copy is (see :attr:`CandidateSet.as_of`); ``None``
        when the tenant has no copy. Cheap: a backfill polls it while it waits."""
        ...

    def candidates(
        self, tenant_id: str, segments: SegmentSet, segment_ids: Sequence[str], now: datetime,
        context: Mapping[str, Any] | None = None,
    ) -> CandidateSet | None:
        """The contacts of the copy that are, at ``now``, a member of one of ``segment_ids``
        (or one SQL cannot decide), plus those whose answer could change with time
        alone after ``now``; ``None`` when the tenant has no copy. Conditions reading
        the tenant context read ``context`` (the one the backfill evaluates in). Raises
        :class:`NoCandidates` when a segment has no exact SQL form."""
        ...
