"""The analytical port: exact whole-tenant answers from the tenant's columnar copy.

The audience API's exact counts and edit impacts ask this port rather than the
real-time stores because a whole-tenant question through those is a read per
contact; the copy answers it in one query. Its implementation lives in
``growthos_segments.analytics.audience`` (DuckDB over the Parquet copy); services
see only this Protocol and its records, so they stay free of DuckDB and AWS.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from growthos_segments.core.segments import SegmentSet

__all__ = ["ExactAnswer", "ExactAudience", "NoCopy", "TooCostly"]


class NoCopy(Exception):
    """The tenant has no analytical copy (yet): whole-tenant answers must come from elsewhere."""


class TooCostly(Exception):
    """The question would be answered contact by contact over more contacts than one
    request may evaluate; the message says why SQL could not answer and how many."""


@dataclass(frozen=True, slots=True)
class ExactAnswer:
    """Who is in one segment at ``now``, from the tenant's copy as it stood at ``as_of``."""

    members: tuple[str, ...]
    """Member contact ids, sorted (as text, the order DuckDB and Python agree on)."""
    path: Literal["sql", "per-contact"]
    """Which path answered: one SQL query, or the per-contact evaluator over the copy."""
    as_of: datetime | None
    """The newest change the copy holds (``None``: the copy does not say)."""
    reason: str | None = None
    """Why the per-contact path answered (``None`` on the SQL path)."""
    decided_per_contact: int = 0
    """On the SQL path, contacts whose answer SQL left to the per-contact evaluator."""


class ExactAudience(Protocol):
    """Exact members of segments of one tenant, over that tenant's copy only."""

    def available(self, tenant_id: str) -> bool:
        """Whether the tenant has a copy to answer from (no query is run to tell)."""
        ...

    def members(
        self, tenant_id: str, questions: Sequence[tuple[SegmentSet, str]], now: datetime,
        *, context: Mapping[str, Any] | None = None,
    ) -> list[ExactAnswer]:
        """One answer per ``(segments, segment_id)`` question (a segment of that set), in
        order, all from one opening of the copy: a saved version and its edit are then
        compared on the same contacts. Rules reading the tenant context read ``context``
        (``None``: the context computed from the copy at ``now``).

        Raises :class:`NoCopy` when the tenant has no copy and :class:`TooCostly` when a
        segment has no exact SQL form and the tenant is too large to evaluate one by one.
        """
        ...
