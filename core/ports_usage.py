"""Who is asking, and which modules target a segment: the records and port of segment management.

A caller is what the authorizer made of an API key: its tenant, a name (recorded as
the creator and last editor of what it saves, and as who registered a usage) and its
team scopes. A key with no team sees the whole tenant, as every key did before teams
existed; a key with teams sees the segments scoped to none of them plus those scoped
to one of its teams. Pinned segments are ANDed into every segment whatever their
scope: scoping decides who may see and use a segment, never what it evaluates to.

A usage is a module's registration that it targets a segment (a campaign, a journey,
a nudge): changing or archiving a segment that has users needs the caller's explicit
confirmation, and its users are told on the bus.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

__all__ = ["TEAM_PATTERN", "TEAM_RE", "USER_PATTERN", "USER_RE", "Caller", "SegmentUsages", "UsageRecord"]

TEAM_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,39}$"
TEAM_RE = re.compile(TEAM_PATTERN)

USER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,99}$"
"""A usage's user: ``#`` never appears (it separates key parts), nor ``/`` (it is a path segment)."""
USER_RE = re.compile(USER_PATTERN)


@dataclass(frozen=True, slots=True)
class Caller:
    tenant_id: str
    name: str | None = None
    """``None`` only for a request whose authorizer named no key (an older cached verdict)."""
    teams: frozenset[str] = frozenset()

    def sees(self, segment_teams: Iterable[str]) -> bool:
        scoped = frozenset(segment_teams)
        return not self.teams or not scoped or bool(self.teams & scoped)


@dataclass(frozen=True, slots=True)
class UsageRecord:
    segment_id: str
    user: str
    """The module's own name for what targets the segment, e.g. ``campaign:cmp_42``."""
    registered_by: str | None
    registered_at: str


class SegmentUsages(Protocol):
    """Registrations of the modules that target a tenant's segments."""

    def register(self, tenant_id: str, segment_id: str, user: str, *, by: str | None,
                 now: datetime) -> UsageRecord:
        """Record (or re-record: the latest registration wins) that ``user`` targets the segment."""
        ...

    def remove(self, tenant_id: str, segment_id: str, user: str) -> None:
        """Forget the registration; removing one that does not exist is not an error."""
        ...

    def users(self, tenant_id: str, segment_id: str) -> list[UsageRecord]:
        """Every registration of the segment, ordered by ``user``."""
        ...

    def users_by_segment(self, tenant_id: str) -> dict[str, list[UsageRecord]]:
        """Every registration of the tenant's segments, by segment id (a segment nobody
        uses is absent), each ordered by ``user``: the segment list shows which are in
        use with one read, not one per segment."""
        ...
