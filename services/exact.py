"""Exact answers for the rule builder: a draft rule's count and members, and an edit's impact.

``POST /rules/estimate`` samples; these routes answer exactly from the tenant's
analytical copy (the :class:`growthos_segments.core.ports_analytics.ExactAudience`
port), so they are exact *as of* the copy's last change, which every answer
states. The draft is checked and composed exactly as the estimate and a save
compose it (:meth:`growthos_segments.services.audience.Audience.draft_set`):
references to the tenant's segments, exclusions, pinned segments.

The impact of an edit compares the saved version and the edited one evaluated
on the same copy at the same instant, so the difference is the edit's alone, not
the copy lagging behind the live memberships.

Failures a caller can fix are the audience service's :class:`ApiError` kinds:
422 for a rule or instant that does not validate, 404 for another tenant's
segment, 409 for an archived or static segment and for a tenant with no copy
yet (the builder then keeps showing the estimate) or a question too costly for
one request.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from growthos_segments.core.api_models_exact import (
    CopyStatusOut,
    ImpactIn,
    ImpactOut,
    RuleCountIn,
    RuleCountOut,
)
from growthos_segments.core.contract import Reads
from growthos_segments.core.dependencies import DependencyIndex
from growthos_segments.core.ids import SEGMENT_ID_RE
from growthos_segments.core.limits import in_time_range
from growthos_segments.core.membership import TenantSegments
from growthos_segments.core.ports_analytics import ExactAnswer, ExactAudience, NoCopy, TooCostly
from growthos_segments.core.ports_usage import Caller
from growthos_segments.core.segments import SegmentDefinition, SegmentSet, SegmentType
from growthos_segments.core.timeutil import parse_instant, to_iso
from growthos_segments.services.audience import (
    DRAFT_ID,
    Audience,
    Conflict,
    NotFound,
    Unprocessable,
    caller_of,
    located,
)
from growthos_segments.services.catalog import definition_of

__all__ = ["ExactCounts"]

NO_COPY = "this tenant has no analytical copy yet: exact counts are not available (the estimate is)"


@dataclass(kw_only=True)
class ExactCounts:
    """The exact routes' service: drafts composed (and segments read) by ``audience``,
    answered by ``copy``."""

    audience: Audience
    copy: ExactAudience
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def status(self, tenant_id: str) -> CopyStatusOut:
        """Asked by the rule builder before it asks for exact answers: a 409 for every edit
        of a tenant without a copy would be noise in the browser's console."""
        return CopyStatusOut(available=self.copy.available(tenant_id))

    def count(self, who: Caller | str, request: RuleCountIn) -> RuleCountOut:
        """References resolve among the segments the caller's teams see."""
        now = self._now(request.now)
        draft = SegmentDefinition(id=DRAFT_ID, rule=request.rule, type=SegmentType(request.type),
                                  exclude_segments=tuple(request.exclude_segments),
                                  include_contacts=frozenset(request.include_contacts),
                                  exclude_contacts=frozenset(request.exclude_contacts))
        tenant, segment_set = self.audience.draft_set(who, draft)
        (answer,) = self._ask(tenant, [(segment_set, DRAFT_ID)], now)
        out = RuleCountOut(count=len(answer.members), path=answer.path, as_of=to_iso(answer.as_of),
                           evaluated_at=to_iso(now), reason=answer.reason,
                           decided_per_contact=answer.decided_per_contact)
        if request.members:
            start = 0 if request.cursor is None else bisect.bisect_right(answer.members, request.cursor)
            page = answer.members[start:start + request.limit]
            out.members = list(page)
            out.cursor = page[-1] if page and start + len(page) < len(answer.members) else None
        return out

    def impact(self, who: Caller | str, segment_id: str, request: ImpactIn) -> ImpactOut:
        now = self._now(request.now)
        tenant_id = caller_of(who).tenant_id
        found = SEGMENT_ID_RE.fullmatch(segment_id) is not None
        saved = self.audience.segments.get(tenant_id, segment_id) if found else None
        if saved is None:
            raise NotFound("segment not found", [located("path", "/segment_id",
                                                         "no such segment in this tenant")])
        if saved.status != "active":
            raise Conflict("segment is archived", [located("path", "/segment_id", "segment is archived")])
        if saved.type == SegmentType.STATIC:
            raise Conflict("a static segment has no rule", [located(
                "path", "/segment_id", "a static segment is its list of contacts; it has no rule to edit")])
        current = definition_of(saved)
        edited = replace(
            current, rule=request.rule, type=SegmentType(request.type or current.type),
            exclude_segments=_given(request.exclude_segments, current.exclude_segments),
            include_contacts=frozenset(_given(request.include_contacts, current.include_contacts)),
            exclude_contacts=frozenset(_given(request.exclude_contacts, current.exclude_contacts)),
        )
        tenant, edited_set = self.audience.draft_set(who, edited)
        if segment_id not in tenant.segments.segments:
            raise Conflict("the saved version cannot be evaluated", [located(
                "path", "/segment_id", "the saved version no longer compiles with the tenant's segments")])
        before, after = self._ask(tenant, [(tenant.segments, segment_id), (edited_set, segment_id)], now)
        was, will = set(before.members), set(after.members)
        entering, exiting = sorted(will - was), sorted(was - will)
        per_contact = next((a for a in (before, after) if a.path == "per-contact"), None)
        return ImpactOut(
            segment_id=segment_id, version=saved.version, members=len(was), after=len(will),
            would_enter=len(entering), would_exit=len(exiting),
            enter_examples=entering[:request.examples], exit_examples=exiting[:request.examples],
            path="sql" if per_contact is None else "per-contact",
            reason=None if per_contact is None else per_contact.reason,
            as_of=to_iso(after.as_of), evaluated_at=to_iso(now),
        )

    def _ask(
        self, tenant: TenantSegments, questions: Sequence[tuple[SegmentSet, str]], now: datetime
    ) -> list[ExactAnswer]:
        """The copy's answers, in the tenant context real-time membership uses: a count of an
        RFM rule then agrees with the members the stream keeps (the stored thresholds),
        not with thresholds computed afresh, which move between the scheduler's refreshes."""
        reads = Reads()
        for segments, segment_id in questions:
            reads = reads.union(DependencyIndex.of(segments).reads_of([segment_id]))
        context = self.audience.stored_context(tenant, reads)
        try:
            return self.copy.members(tenant.tenant_id, questions, now, context=context)
        except NoCopy:
            raise Conflict("no analytical copy", [located("request", "", NO_COPY)]) from None
        except TooCostly as exc:
            raise Conflict("too costly to answer exactly", [located("body", "/rule", str(exc))]) from None

    def _now(self, text: str | None) -> datetime:
        if text is None:
            return self.clock()
        moment = parse_instant(text)
        if moment is None or not in_time_range(moment):
            raise Unprocessable("the request does not validate", [
                located("body", "/now", "expected an ISO 8601 instant in 1900-2199, "
                        "e.g. 2026-11-22T12:00:00Z")])
        return moment


def _given(value: Sequence[str] | None, saved: Iterable[str]) -> tuple[str, ...]:
    """What the request gives, else what is saved."""
    return tuple(saved) if value is None else tuple(value)
