"""The audience API's service functions: one per route, tenant first, storage behind ports.

Each route of the API (``growthos_segments.handlers.api_*``) parses a request, calls
one method of :class:`Audience` (or, for the catalog routes, the plugin host and
:func:`validate`) and shapes the response; everything a route *means* is here, so it can be tested
without API Gateway events. Failures a caller can fix are :class:`ApiError`
subclasses carrying the HTTP status and a located error list; anything else
is a bug (a 500).

Choices worth knowing:

- **Tenant isolation.** Every method takes the tenant from the caller (the
  authorizer's context) and passes it to every port, whose adapters build keys
  with it, so another tenant's segment, contact, cursor or snapshot id is simply
  "not found".
- **Saving validates the whole tenant.** A segment is checked alone first (the
  rule language's errors, with pointers into the request body), then with every
  active segment of the tenant (:class:`growthos_segments.core.segments.SegmentSet`): unknown
  references, cycles, and segments that the change would break. Nothing is
  stored unless the whole set compiles. Every create and update then queues
  the backfill of the saved version (:class:`BackfillQueue`).
- **Explanations evaluate now.** ``explain`` evaluates the segment for the
  contact at the current instant within the tenant's compiled set, so segment
  references are *evaluated* at that same instant, not read from stored
  memberships: the trace is self-consistent and shows why a referenced
  segment matched. The stored membership is returned beside it; they differ
  only while the real-time path is catching up (seconds).
- **Membership check in one request.** The segment head, the membership row
  and the contact's existence come from one strongly consistent read
  (:meth:`AudienceLookups.membership_check`), so a check costs one request
  whatever the answer.
- **Idempotent creates.** Segment and snapshot creation take an optional
  ``Idempotency-Key``; with one, the :class:`IdempotentCalls` port replays the
  first response (for 24 h on AWS), refuses the same key with another body
  (422) and a concurrent duplicate (409). The key is scoped by the tenant id,
  so two tenants cannot collide.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from growthos_segments.core.api_models import (
    BackfillProgressOut,
    ConditionEstimateOut,
    ContactSegmentOut,
    ContactSegmentsOut,
    CountOut,
    EstimateIn,
    EstimateOut,
    ExplainOut,
    HistoryOut,
    HistoryPoint,
    MembershipOut,
    MembersOut,
    SegmentCreate,
    SegmentDuplicate,
    SegmentListOut,
    SegmentOut,
    SegmentUpdate,
    SnapshotContactsOut,
    SnapshotIn,
    SnapshotListOut,
    SnapshotOut,
    StoredMembership,
    UsageOut,
    UsagesOut,
    ValidateOut,
)
from growthos_segments.core.contract import Reads
from growthos_segments.core.dependencies import DependencyIndex
from growthos_segments.core.errors import RuleError, RuleValidationError, suggest
from growthos_segments.core.host import PluginHost
from growthos_segments.core.ids import CONTACT_ID_RE, SEGMENT_ID_RE
from growthos_segments.core.membership import TenantSegments
from growthos_segments.core.ports import (
    HISTORY_KEEP,
    SNAPSHOT_CATEGORIES,
    AudienceLookups,
    BackfillJob,
    BackfillProgress,
    BackfillProgressStore,
    BackfillQueue,
    ContactViewLoader,
    CursorError,
    EventPublisher,
    FieldCatalog,
    IdempotencyInProgress,
    IdempotencyKeyReused,
    IdempotentCalls,
    MembershipStore,
    OutboundEvent,
    Resolution,
    SegmentRecord,
    SegmentSizes,
    SegmentStore,
    SegmentVersionConflict,
    SnapshotMember,
    SnapshotRecord,
    SnapshotStore,
    TenantContextStore,
    bucket_start,
)
from growthos_segments.core.ports_usage import USER_RE, Caller, SegmentUsages, UsageRecord
from growthos_segments.core.rules import parse_rule, rule_reads, segment_references, to_json
from growthos_segments.core.segments import (
    MAX_NAME_LENGTH,
    SegmentDefinition,
    SegmentSet,
    SegmentSetError,
    SegmentType,
)
from growthos_segments.core.timeutil import as_utc, to_iso
from growthos_segments.services.catalog import SegmentCatalog, definition_of
from growthos_segments.services.estimate import Estimator, top_level_conditions
from growthos_segments.services.fields import rule_warnings
from growthos_segments.services.history import HISTORY_DEFAULT

__all__ = [
    "ApiError",
    "Audience",
    "BadRequest",
    "Conflict",
    "IdempotentCreates",
    "NotFound",
    "Unprocessable",
    "caller_of",
    "located",
    "validate",
]


DRAFT_ID = "_draft"
"""Id of an unsaved rule inside a segment set: ids of saved segments start with a
letter or digit, so it can never collide with one."""
MEMBER_PAGE = 1000


# --------------------------------------------------------------------------- errors


def located(location: str, path: str, message: str, suggestion: str | None = None) -> dict[str, Any]:
    """One error entry: which part of the request, the JSON pointer within it, what."""
    entry: dict[str, Any] = {"location": location, "path": path, "message": message}
    if suggestion:
        entry["suggestion"] = suggestion
    return entry


class ApiError(Exception):
    """A failure the caller can fix; ``status`` is the HTTP status to answer with."""

    status = 400

    def __init__(self, message: str, errors: Sequence[Mapping[str, Any]] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.errors = [dict(e) for e in errors]

    def body(self) -> dict[str, Any]:
        return {"message": self.message, "errors": self.errors}


class BadRequest(ApiError):
    status = 400


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class Unprocessable(ApiError):
    status = 422


def _not_found(kind: str, location: str, name: str) -> NotFound:
    return NotFound(f"{kind} not found", [located(location, f"/{name}", f"no such {kind} in this tenant")])


# --------------------------------------------------------------------------- helpers


def _segment_out(
    record: SegmentRecord, backfill: str | None = None, *, count: int | None = None,
    progress: BackfillProgressOut | None = None, used_by: Sequence[UsageRecord] | None = None,
    notified: bool | None = None,
) -> SegmentOut:
    return SegmentOut(
        id=record.segment_id,
        version=record.version,
        name=record.name,
        description=record.description,
        type=record.type,  # type: ignore[arg-type]
        status=record.status,  # type: ignore[arg-type]
        rule=dict(record.rule) if record.rule else None,
        exclude_segments=list(record.exclude_segments),
        include_contacts=list(record.include_contacts),
        exclude_contacts=list(record.exclude_contacts),
        created_at=record.created_at,
        updated_at=record.updated_at,
        created_by=record.created_by,
        updated_by=record.updated_by,
        teams=list(record.teams),
        used_by=None if used_by is None else [_usage_out(u) for u in used_by],
        notified=notified,
        backfill=backfill,  # type: ignore[arg-type]
        count=count,
        backfill_progress=progress,
    )


def _usage_out(record: UsageRecord) -> UsageOut:
    return UsageOut(user=record.user, registered_by=record.registered_by, registered_at=record.registered_at)


def caller_of(who: Caller | str) -> Caller:
    """A bare tenant id is an unnamed key of the whole tenant (what every caller was before
    keys had names and teams; the CLI and the services' own tests still call so)."""
    return who if isinstance(who, Caller) else Caller(who)


def _progress_out(done: BackfillProgress) -> BackfillProgressOut | None:
    """``None`` for a version no save queued and no backfill counted (filled some other
    way, such as the local stack's initial load): there is nothing to wait for."""
    status: Literal["queued", "running", "complete"]
    if done.complete:
        status = "complete"
    elif done.done or done.slices_finished or done.started_at:
        status = "running"
    elif done.queued_at:
        status = "queued"
    else:
        return None
    return BackfillProgressOut(
        status=status, contacts_done=done.done, entered=done.entered, exited=done.exited,
        slices_finished=done.slices_finished, slices=done.slices, queued_at=to_iso(done.queued_at),
        started_at=to_iso(done.started_at), finished_at=to_iso(done.finished_at),
    )


def _snapshot_out(record: SnapshotRecord) -> SnapshotOut:
    return SnapshotOut(
        snapshot_id=record.snapshot_id,
        segment_id=record.segment_id,
        segment_version=record.segment_version,
        label=record.label,
        taken_at=record.taken_at,
        counts=dict(record.counts),
    )


def _rule_errors(errors: Iterable[RuleError], prefix: str = "/rule") -> list[dict[str, Any]]:
    return [located("body", prefix + e.path, e.message, e.suggestion) for e in errors]


def _valid(pattern: Any, value: str) -> bool:
    return pattern.fullmatch(value) is not None


def suppression_flags(doc: Mapping[str, Any] | None) -> dict[str, bool]:
    """Why a send would skip a contact; a missing profile is not addressable."""
    if not doc:
        return {"bounced": False, "unsubscribed": False, "spam": False, "no_email": True}
    suppression = doc.get("suppression") if isinstance(doc.get("suppression"), Mapping) else {}
    assert isinstance(suppression, Mapping)
    status = suppression.get("status")
    attributes = doc.get("attributes") if isinstance(doc.get("attributes"), Mapping) else {}
    assert isinstance(attributes, Mapping)
    email = attributes.get("email")
    return {
        "bounced": suppression.get("bounced") is True or status == "bounced",
        "unsubscribed": suppression.get("unsubscribed") is True or status == "unsubscribed",
        "spam": status in ("complained", "spam") or suppression.get("complained") is True
        or suppression.get("spam") is True,
        "no_email": not (isinstance(email, str) and email.strip()),
    }


def validate(host: PluginHost, rule: Any, fields: Callable[[], FieldCatalog] | None = None) -> ValidateOut:
    """Every error of a rule (pointers into the rule), or its normal form and reads, with a
    warning for each path or event it reads that the tenant's catalog (``fields()``, read
    only for a valid rule) never saw."""
    try:
        node = parse_rule(rule, host)
    except RuleValidationError as exc:
        errors = [{"path": e.path, "message": e.message, "suggestion": e.suggestion} for e in exc.errors]
        return ValidateOut(valid=False, errors=errors)
    warnings = [w.to_json() for w in rule_warnings(node, fields())] if fields is not None else []
    return ValidateOut(valid=True, normalized=to_json(node), reads=rule_reads(node).to_json(),
                       warnings=warnings)


# --------------------------------------------------------------------------- the service


@dataclass(kw_only=True)
class Audience:
    """What every route of the audience API does, over the ports it reads and writes."""

    host: PluginHost
    segments: SegmentStore
    memberships: MembershipStore
    views: ContactViewLoader
    snapshots: SnapshotStore
    lookups: AudienceLookups
    contexts: TenantContextStore
    catalog: SegmentCatalog
    """The tenant's active segments compiled together (what ``explain`` and ``estimate``
    evaluate in), invalidated by every save made here."""
    estimator: Estimator
    sizes: SegmentSizes
    """Live counts of many segments in one read (the segment list's)."""
    progress: BackfillProgressStore
    """The backfill's per-slice progress, summed on ``get_segment``."""
    usages: SegmentUsages
    """Which modules target each segment (changing or archiving one in use needs confirmation)."""
    publisher: EventPublisher
    """Where the users of a segment are told that it changed or was archived."""
    backfills: BackfillQueue | None = None
    """Where every save queues the backfill of its version (the response says
    ``queued``); ``None`` where the deployment has no queue (it says ``none``)."""
    segment_cache_seconds: float = 5.0
    """How long stream evaluators may keep using the previous version of a segment
    (the deployment's ``SEGMENT_CACHE_SECONDS``)."""
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    # --- estimate --------------------------------------------------------------------------

    def estimate(self, who: Caller | str, request: EstimateIn) -> EstimateOut:
        """Size of an unsaved rule as it would be saved (pinned segments ANDed in, the manual
        lists applied). The included contacts are known members, not a share to estimate:
        they are counted outright and the sample sizes the rest."""
        tenant_id = caller_of(who).tenant_id
        now = self.clock()
        draft = SegmentDefinition(
            id=DRAFT_ID, rule=request.rule, type=SegmentType(request.type),
            exclude_segments=tuple(request.exclude_segments),
            include_contacts=frozenset(request.include_contacts),
            exclude_contacts=frozenset(request.exclude_contacts),
        )
        conditions = top_level_conditions(request.rule) if request.per_condition else []
        alone = [replace(draft, id=DRAFT_ID + pointer, rule=child) for pointer, child in conditions]
        tenant, segment_set = self.draft_set(who, draft, alone)
        reads = DependencyIndex.of(segment_set).reads_of([DRAFT_ID])
        context = self._context(tenant, reads)
        compiled = [segment_set.segments[d.id] for d in (draft, *alone)]

        def matches(doc: Mapping[str, Any]) -> list[bool]:
            view = segment_set.view(doc, context=context)
            return [bool(segment.evaluate(view, now)[0]) for segment in compiled]

        listed = draft.include_contacts - draft.exclude_contacts
        result, *each = self.estimator.estimate_each(tenant_id, matches, len(compiled), reads, now,
                                                     listed=listed)
        return EstimateOut(
            estimate=result.estimate,
            low=result.low,
            high=result.high,
            confidence=result.confidence,
            exact=result.exact,
            sample_size=result.sample_size,
            matches=result.matches,
            population=result.population,
            population_source=result.population_source,  # type: ignore[arg-type]
            sampled_fraction=round(result.sampled_fraction, 6),
            evaluated_at=to_iso(now),
            reads=reads.to_json(),
            per_condition=[
                ConditionEstimateOut(path="/rule" + pointer, estimate=one.estimate, low=one.low,
                                     high=one.high, matches=one.matches)
                for (pointer, _), one in zip(conditions, each, strict=True)
            ] if request.per_condition else None,
        )

    def draft_set(
        self, who: Caller | str, draft: SegmentDefinition, extra: Sequence[SegmentDefinition] = ()
    ) -> tuple[TenantSegments, SegmentSet]:
        """``draft`` (and ``extra``, built from it) checked as a save would check it, compiled
        with the tenant's segments it needs: what it references and excludes and, unless
        it is pinned itself, the pinned ones. A draft under a saved segment's id stands in
        for that segment, so a reference back to it is the cycle a save would refuse. A
        segment the caller's teams do not see is an unknown one to reference."""
        caller = caller_of(who)
        tenant = self.catalog.for_tenant(caller.tenant_id)
        others = {sid: d for sid, d in tenant.segments.definitions.items() if sid != draft.id}
        hidden = self._hidden(caller, self.segments.active_segments(caller.tenant_id))
        self._check_alone(draft, {sid: d for sid, d in others.items() if sid not in hidden}, for_draft=True)
        pinned = tenant.pinned if draft.type is not SegmentType.PINNED else ()
        roots = [*self._own_references(draft), *draft.exclude_segments, *pinned]
        definitions = [others[sid] for sid in tenant.index.requirements(roots) if sid in others]
        try:
            return tenant, SegmentSet(self.host, [*definitions, draft, *extra])
        except SegmentSetError as exc:
            raise Unprocessable("the rule cannot be evaluated", self._set_errors(exc, draft.id)) from None

    def _context(self, tenant: TenantSegments, reads: Reads) -> Mapping[str, Any]:
        stored = self.stored_context(tenant, reads)
        return {} if stored is None else stored

    def stored_context(self, tenant: TenantSegments, reads: Reads) -> Mapping[str, Any] | None:
        """The tenant context real-time membership evaluates in (the scheduler's stored one),
        when ``reads`` needs one; ``None`` when none is stored yet."""
        if not reads.context or tenant.context:
            return tenant.context
        stored = self.contexts.get(tenant.tenant_id)
        return stored.context if stored is not None else None

    # --- segments --------------------------------------------------------------------------

    def create_segment(self, who: Caller | str, request: SegmentCreate) -> SegmentOut:
        caller = caller_of(who)
        self._check_teams(caller, (), request.teams)
        return self._create(caller, request.id, SegmentRecord(
            tenant_id=caller.tenant_id, segment_id="", name=request.name,
            description=request.description, type=request.type,
            rule=request.rule if request.type != "static" and request.rule is not None else {},
            exclude_segments=tuple(request.exclude_segments),
            include_contacts=tuple(request.include_contacts),
            exclude_contacts=tuple(request.exclude_contacts),
            teams=tuple(request.teams),
        ), request.rule)

    def duplicate_segment(self, who: Caller | str, segment_id: str, request: SegmentDuplicate) -> SegmentOut:
        """A deep copy of the current version, scoped to the same teams (the caller sees the
        original, so it may see the copy), created by the caller and backfilled like any save."""
        caller = caller_of(who)
        head = self._visible_head(caller, segment_id)
        copy = replace(head, name=request.name or f"{head.name} (copy)"[:MAX_NAME_LENGTH], status="active")
        return self._create(caller, request.id, copy, None if head.type == "static" else dict(head.rule))

    def _create(self, caller: Caller, segment_id: str | None, record: SegmentRecord, rule: Any) -> SegmentOut:
        self._check_type(record.type, rule)
        return self._save(caller, replace(
            record, segment_id=segment_id or f"seg_{secrets.token_hex(6)}", version=0, created_at=None,
            updated_at=None, created_by=None, updated_by=caller.name,
        ), rule)

    def update_segment(
        self, who: Caller | str, segment_id: str, request: SegmentUpdate, *, confirm: bool = False
    ) -> SegmentOut:
        """A new version; a segment in use is changed only with ``confirm``, and its users are told."""
        caller = caller_of(who)
        head = self._visible_head(caller, segment_id)
        if head.version != request.version:
            raise Conflict(
                f"segment is at version {head.version}, not {request.version}: reload and retry",
                [located("body", "/version", f"current version is {head.version}")],
            )
        self._check_type(request.type, request.rule)
        teams = head.teams if request.teams is None else tuple(request.teams)
        self._check_teams(caller, head.teams, teams)
        users = self._users_confirmed(head, confirm)
        record = replace(
            head, name=request.name, description=request.description, type=request.type,
            status="active",
            rule=request.rule if request.type != "static" and request.rule is not None else {},
            exclude_segments=tuple(request.exclude_segments),
            include_contacts=tuple(request.include_contacts),
            exclude_contacts=tuple(request.exclude_contacts),
            teams=teams, updated_by=caller.name,
        )
        saved = self._save(caller, record, request.rule)
        return saved.model_copy(update={"notified": self._notify("Segment Changed", caller, saved, users)})

    def archive_segment(
        self, who: Caller | str, segment_id: str, version: int | None, *, confirm: bool = False
    ) -> SegmentOut:
        """Archive (the API's delete): a new version with status ``archived``. Refused
        while another active segment references it, and without ``confirm`` while a
        module targets it (whose users are then told)."""
        caller = caller_of(who)
        tenant_id = caller.tenant_id
        head = self._visible_head(caller, segment_id)
        if version is not None and head.version != version:
            raise Conflict(
                f"segment is at version {head.version}, not {version}: reload and retry",
                [located("query", "/version", f"current version is {head.version}")],
            )
        if head.status == "archived":
            return _segment_out(head)
        others = [r for r in self.segments.list_segments(tenant_id) if r.segment_id != segment_id]
        try:
            SegmentSet(self.host, [definition_of(r) for r in others])
        except SegmentSetError as exc:
            hidden = self._hidden(caller, others)
            raise Conflict(
                "other segments reference this one; change them first",
                [located("path", "/segment_id", "referenced by a segment of another team" if sid in hidden
                         else f"referenced by segment {sid!r}") for sid in sorted(exc.errors)],
            ) from None
        using = self._users_confirmed(head, confirm)
        try:
            archived = replace(head, status="archived", updated_by=caller.name)
            saved = self.segments.save(archived, now=self.clock())
        except SegmentVersionConflict as exc:
            raise Conflict(str(exc)) from None
        out = _segment_out(saved)
        return out.model_copy(update={"notified": self._notify("Segment Archived", caller, out, using)})

    # --- usages ----------------------------------------------------------------------------

    def register_usage(self, who: Caller | str, segment_id: str, user: str) -> UsageOut:
        """The caller's module targets the segment (again: the latest registration wins)."""
        caller = caller_of(who)
        head = self._visible_head(caller, segment_id)
        if head.status != "active":
            raise Conflict("segment is archived", [located("path", "/segment_id", "segment is archived")])
        self._check_user(user)
        return _usage_out(self.usages.register(caller.tenant_id, segment_id, user, by=caller.name,
                                               now=self.clock()))

    def remove_usage(self, who: Caller | str, segment_id: str, user: str) -> UsagesOut:
        """Idempotent: the users that remain."""
        caller = caller_of(who)
        self._visible_head(caller, segment_id)
        self._check_user(user)
        self.usages.remove(caller.tenant_id, segment_id, user)
        return self._users_out(caller.tenant_id, segment_id)

    def segment_users(self, who: Caller | str, segment_id: str) -> UsagesOut:
        caller = caller_of(who)
        self._visible_head(caller, segment_id)
        return self._users_out(caller.tenant_id, segment_id)

    def _users_out(self, tenant_id: str, segment_id: str) -> UsagesOut:
        return UsagesOut(segment_id=segment_id,
                         users=[_usage_out(u) for u in self.usages.users(tenant_id, segment_id)])

    @staticmethod
    def _check_user(user: str) -> None:
        if not _valid(USER_RE, user):
            raise _not_found("usage", "path", "user")

    def _users_confirmed(self, head: SegmentRecord, confirm: bool) -> list[UsageRecord]:
        users = self.usages.users(head.tenant_id, head.segment_id)
        if users and not confirm:
            raise Conflict(
                f"segment is in use by {len(users)} module(s): repeat with ?confirm=true to change it anyway "
                "(they are told on the bus)",
                [located("query", "/confirm", f"in use by {u.user}") for u in users],
            )
        return users

    def _notify(
        self, detail_type: str, caller: Caller, saved: SegmentOut, users: Sequence[UsageRecord]
    ) -> bool | None:
        """``Segment Changed`` / ``Segment Archived`` for the segment's users, after the save
        (``None``: no one to tell; ``False``: the bus refused, the save stands)."""
        if not users:
            return None
        detail = {
            "tenant_id": caller.tenant_id, "segment_id": saved.id, "version": saved.version,
            "name": saved.name, "status": saved.status, "changed_by": caller.name,
            "changed_at": saved.updated_at, "users": [u.user for u in users],
        }
        event = OutboundEvent(detail_type, detail, f"{caller.tenant_id}#{saved.id}#{saved.version}",
                              time=self.clock())
        return self.publisher.publish([event]).ok

    # --- scopes ----------------------------------------------------------------------------

    @staticmethod
    def _hidden(caller: Caller, records: Iterable[SegmentRecord]) -> set[str]:
        return {r.segment_id for r in records if not caller.sees(r.teams)} if caller.teams else set()

    def require_visible(self, caller: Caller, segment_id: str) -> None:
        """A segment scoped to teams the caller is in none of is answered as one that does not
        exist (the same 404), whatever the route; a segment that does not exist is left to the
        route. A caller of no team sees every segment without a read."""
        if caller.teams and (head := self._get_head(caller.tenant_id, segment_id)) is not None \
                and not caller.sees(head.teams):
            raise _not_found("segment", "path", "segment_id")

    def _visible_head(self, caller: Caller, segment_id: str) -> SegmentRecord:
        head = self._head(caller.tenant_id, segment_id)
        if not caller.sees(head.teams):
            raise _not_found("segment", "path", "segment_id")
        return head

    @staticmethod
    def _check_teams(caller: Caller, before: Sequence[str], after: Sequence[str]) -> None:
        """A key with teams may add or remove only its own teams (a key of no team, any)."""
        if not caller.teams:
            return
        changed = set(before) ^ set(after)
        errors = [located("body", f"/teams/{i}", f"this key is not of team {team!r}")
                  for i, team in enumerate(after) if team in changed - caller.teams]
        errors += [located("body", "/teams", f"this key is not of team {team!r}, so it cannot remove it")
                   for team in sorted(changed - caller.teams - set(after))]
        if errors:
            raise Unprocessable("a key may change only its own teams' scopes", errors)

    def _check_type(self, segment_type: str, rule: Any) -> None:
        if segment_type == "static" and rule is not None:
            raise Unprocessable("a static segment has no rule", [
                located("body", "/rule", "a static segment is its include_contacts list; drop the rule")])
        if segment_type != "static" and rule is None:
            raise Unprocessable("a rule is required", [located("body", "/rule", "a rule is required")])

    def _save(self, caller: Caller, record: SegmentRecord, rule: Any) -> SegmentOut:
        """Checks references among the segments the caller sees, compiles with all of them."""
        tenant_id = record.tenant_id
        current = {r.segment_id: r for r in self.segments.list_segments(tenant_id)}
        current.pop(record.segment_id, None)
        definitions = {sid: definition_of(r) for sid, r in current.items()}
        candidate = definition_of(replace(record, version=record.version + 1))
        if rule is None:
            candidate = replace(candidate, rule=None)
        hidden = self._hidden(caller, current.values())
        visible = {sid: d for sid, d in definitions.items() if sid not in hidden}
        node = self._check_alone(candidate, visible, for_draft=False)
        try:
            SegmentSet(self.host, [*definitions.values(), candidate])
        except SegmentSetError as exc:
            errors = self._set_errors(exc, record.segment_id)
            raise Unprocessable("the segment set would not compile", errors) from None
        if node is not None:
            record = replace(record, rule=to_json(node))
        try:
            saved = self.segments.save(record, now=self.clock())
        except SegmentVersionConflict as exc:
            if record.version == 0:
                raise Conflict(
                    f"segment {record.segment_id!r} already exists",
                    [located("body", "/id", "choose another id, or update the existing segment")],
                ) from None
            raise Conflict(str(exc), [located("body", "/version", str(exc))]) from None
        except ValueError as exc:  # too large for one item
            raise Unprocessable(str(exc), [located("body", "", str(exc))]) from None
        backfill = self._queue_backfill(saved)
        self.catalog.invalidate(tenant_id)
        return _segment_out(saved, backfill)

    def _queue_backfill(self, saved: SegmentRecord) -> str:
        """Every create and update queues its backfill, delayed past the segment cache window
        so every stream evaluator already uses the saved version when the backfill reads
        contacts."""
        if self.backfills is None:
            return "none"
        job = BackfillJob(saved.tenant_id, saved.segment_id, saved.version)
        self.progress.queued(saved.tenant_id, saved.segment_id, saved.version, at=self.clock())
        self.backfills.send([job], delay_seconds=int(self.segment_cache_seconds + 1 + 0.999))
        return "queued"

    def _own_references(self, definition: SegmentDefinition) -> list[str]:
        if definition.rule is None or definition.type is SegmentType.STATIC:
            return []
        return [sid for _, sid in segment_references(parse_rule(definition.rule, self.host))]

    def _check_alone(
        self, definition: SegmentDefinition, others: Mapping[str, SegmentDefinition], *, for_draft: bool
    ) -> Any:
        """The rule language's errors (pointers into the body), then references.
        Returns the parsed rule (``None`` for static segments)."""
        errors: list[dict[str, Any]] = []
        node = None
        if definition.type is not SegmentType.STATIC and definition.rule is not None:
            try:
                node = parse_rule(definition.rule, self.host)
            except RuleValidationError as exc:
                raise Unprocessable("the rule is not valid", _rule_errors(exc.errors)) from None
            for path, referenced in segment_references(node):
                if referenced == definition.id:
                    errors.append(located("body", "/rule" + path, "a segment cannot reference itself"))
                elif referenced not in others:
                    errors.append(located("body", "/rule" + path + "/segment/id",
                                          f"unknown segment {referenced!r}", suggest(referenced, others)))
        for index, excluded in enumerate(definition.exclude_segments):
            if excluded == definition.id:
                errors.append(located("body", f"/exclude_segments/{index}",
                                      "a segment cannot exclude itself"))
            elif excluded not in others:
                errors.append(located("body", f"/exclude_segments/{index}", f"unknown segment {excluded!r}",
                                      suggest(excluded, others)))
        if errors:
            raise Unprocessable("the segment references segments that do not exist", errors)
        return node

    @staticmethod
    def _set_errors(exc: SegmentSetError, own_id: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for sid, errors in sorted(exc.errors.items()):
            for error in errors:
                if sid == own_id:
                    out.append(located("body", "/rule" + error.path, error.message, error.suggestion))
                else:
                    out.append(located("body", "", f"segment {sid!r} would break: {error.path or '/'}: "
                                       f"{error.message}", error.suggestion))
        return out

    def _head(self, tenant_id: str, segment_id: str) -> SegmentRecord:
        record = self._get_head(tenant_id, segment_id)
        if record is None:
            raise _not_found("segment", "path", "segment_id")
        return record

    def _get_head(self, tenant_id: str, segment_id: str) -> SegmentRecord | None:
        if not _valid(SEGMENT_ID_RE, segment_id):
            return None
        return self.segments.get(tenant_id, segment_id)

    def _active_head(self, tenant_id: str, segment_id: str) -> SegmentRecord:
        head = self._head(tenant_id, segment_id)
        if head.status != "active":
            raise Conflict("segment is archived", [located("path", "/segment_id", "segment is archived")])
        return head

    def get_segment(self, who: Caller | str, segment_id: str) -> SegmentOut:
        """With its live count, its users, and the progress of its current version's backfill
        from the moment a save queued it (or, for one nobody queued, its first counted page)."""
        caller = caller_of(who)
        tenant_id = caller.tenant_id
        head = self._visible_head(caller, segment_id)
        progress = _progress_out(self.progress.progress(tenant_id, segment_id, head.version))
        count = self.sizes.counts(tenant_id, [segment_id])[segment_id]
        return _segment_out(head, count=count, progress=progress,
                            used_by=self.usages.users(tenant_id, segment_id))

    def list_segments(
        self, who: Caller | str, *, include_archived: bool = False, segment_type: str | None = None
    ) -> SegmentListOut:
        """Embedded segments belong to one module and are listed only when asked for. Each
        item carries its count, its users and, for an active one, its backfill's progress:
        a list that shows what is filling and what is in use needs no request per segment."""
        caller = caller_of(who)
        tenant_id = caller.tenant_id
        records = [r for r in self.segments.list_segments(tenant_id, include_archived=include_archived)
                   if caller.sees(r.teams)]
        if segment_type is not None:
            records = [r for r in records if r.type == segment_type]
        else:
            records = [r for r in records if r.type != "embedded"]
        records.sort(key=lambda r: r.segment_id)
        counts = self.sizes.counts(tenant_id, [r.segment_id for r in records])
        active = {r.segment_id: r.version for r in records if r.status == "active"}
        progress = self.progress.progress_many(tenant_id, active) if active else {}
        users = self.usages.users_by_segment(tenant_id)
        return SegmentListOut(segments=[
            _segment_out(r, count=counts[r.segment_id],
                         progress=_progress_out(progress[r.segment_id]) if r.segment_id in progress else None,
                         used_by=users.get(r.segment_id, []))
            for r in records
        ])

    # --- size history ----------------------------------------------------------------------

    def history(self, tenant_id: str, segment_id: str, resolution: Resolution,
                since: datetime | None) -> HistoryOut:
        """Points from ``since`` (default: 30 days of hours, or 400 days of days), oldest
        first. A ``since`` older than what is kept reads from the oldest kept bucket, so
        points that expired but that DynamoDB has not deleted yet never appear."""
        self._head(tenant_id, segment_id)
        now = self.clock()
        oldest = bucket_start(now - HISTORY_KEEP[resolution], resolution)
        try:
            start = max(now - HISTORY_DEFAULT[resolution] if since is None else as_utc(since), oldest)
        except OverflowError:  # an offset moved ``since`` past 9999-12-31: no bucket starts that late
            return HistoryOut(segment_id=segment_id, resolution=resolution.value, points=[])
        points = self.sizes.history(tenant_id, segment_id, resolution, since=start)
        return HistoryOut(
            segment_id=segment_id, resolution=resolution.value,
            points=[HistoryPoint(at=to_iso(p.at), count=p.count) for p in points],
        )

    # --- membership ------------------------------------------------------------------------

    def members(self, tenant_id: str, segment_id: str, *, limit: int, cursor: str | None) -> MembersOut:
        self._active_head(tenant_id, segment_id)
        try:
            page = self.memberships.members(tenant_id, segment_id, limit=limit, cursor=cursor)
        except CursorError as exc:
            raise BadRequest(str(exc), [located("query", "/cursor", str(exc))]) from None
        return MembersOut(segment_id=segment_id, members=page.items, cursor=page.cursor)

    def count(self, tenant_id: str, segment_id: str) -> CountOut:
        self._active_head(tenant_id, segment_id)
        return CountOut(segment_id=segment_id, count=self.memberships.count(tenant_id, segment_id))

    def membership(self, tenant_id: str, segment_id: str, contact_id: str) -> MembershipOut:
        """One strongly consistent read: segment head, membership row, contact."""
        if not _valid(SEGMENT_ID_RE, segment_id):
            raise _not_found("segment", "path", "segment_id")
        if not _valid(CONTACT_ID_RE, contact_id):
            raise _not_found("contact", "path", "contact_id")
        found = self.lookups.membership_check(tenant_id, segment_id, contact_id)
        if found.segment_status is None:
            raise _not_found("segment", "path", "segment_id")
        if found.segment_status != "active":
            raise Conflict("segment is archived", [located("path", "/segment_id", "segment is archived")])
        row = found.stored
        if row is not None and row.member:
            return MembershipOut(
                segment_id=segment_id, contact_id=contact_id, member=True,
                entered_at=row.entered_at, segment_version=row.segment_version,
            )
        if not found.contact_exists:
            raise _not_found("contact", "path", "contact_id")
        return MembershipOut(
            segment_id=segment_id, contact_id=contact_id, member=False,
            exited_at=row.exited_at if row else None,
            segment_version=row.segment_version if row else None,
        )

    def contact_segments(self, who: Caller | str, contact_id: str) -> ContactSegmentsOut:
        """Only the segments the caller's teams see."""
        caller = caller_of(who)
        tenant_id = caller.tenant_id
        self._contact_exists(tenant_id, contact_id)
        active = self.segments.active_segments(tenant_id)
        hidden = self._hidden(caller, active)
        records = [r for r in self.memberships.segments_of(tenant_id, contact_id)
                   if r.segment_id not in hidden]
        names = {r.segment_id: r.name for r in active}
        return ContactSegmentsOut(
            contact_id=contact_id,
            segments=[
                ContactSegmentOut(segment_id=r.segment_id, name=names.get(r.segment_id),
                                  entered_at=r.entered_at, segment_version=r.segment_version)
                for r in sorted(records, key=lambda r: r.segment_id)
            ],
        )

    def _contact_exists(self, tenant_id: str, contact_id: str) -> None:
        if not _valid(CONTACT_ID_RE, contact_id) or not self.lookups.contact_exists(tenant_id, contact_id):
            raise _not_found("contact", "path", "contact_id")

    # --- explain ---------------------------------------------------------------------------

    def explain(self, tenant_id: str, segment_id: str, contact_id: str) -> ExplainOut:
        head = self._active_head(tenant_id, segment_id)
        if not _valid(CONTACT_ID_RE, contact_id):
            raise _not_found("contact", "path", "contact_id")
        tenant = self.catalog.for_tenant(tenant_id, fresh=True)
        if segment_id in tenant.rejected:
            raise Conflict("the stored segment no longer compiles",
                           [located("path", "/segment_id", tenant.rejected[segment_id])])
        segment_set = tenant.segments
        if segment_id not in segment_set.segments:
            raise _not_found("segment", "path", "segment_id")
        reads = tenant.index.reads_of([segment_id])
        now = self.clock()
        doc = self.views.load_view(tenant_id, contact_id, now=now, lookback=reads.lookback)
        if doc is None:
            raise _not_found("contact", "path", "contact_id")
        view = segment_set.view(doc, context=self._context(tenant, reads))
        explanation = segment_set.explain(segment_id, view, now)
        stored = self.memberships.get(tenant_id, segment_id, contact_id)
        return ExplainOut(
            segment_id=segment_id,
            contact_id=contact_id,
            version=tenant.versions.get(segment_id, head.version),
            evaluated_at=to_iso(now),
            match=explanation.match,
            recheck_at=to_iso(explanation.recheck_at),
            trace=explanation.trace,
            stored=StoredMembership(
                member=bool(stored and stored.member),
                entered_at=stored.entered_at if stored and stored.member else None,
                exited_at=stored.exited_at if stored and not stored.member else None,
            ),
        )

    # --- snapshots -------------------------------------------------------------------------

    def create_snapshot(self, tenant_id: str, segment_id: str, request: SnapshotIn) -> SnapshotOut:
        """Every current member with the suppression state it has right now."""
        head = self._active_head(tenant_id, segment_id)
        now = self.clock()
        ids: list[str] = []
        cursor = None
        while True:
            page = self.memberships.members(tenant_id, segment_id, limit=MEMBER_PAGE, cursor=cursor)
            ids.extend(page.items)
            cursor = page.cursor
            if cursor is None:
                break
        profiles = self.lookups.suppression_profiles(tenant_id, ids)
        members = [SnapshotMember(cid, **suppression_flags(profiles.get(cid))) for cid in ids]
        record = self.snapshots.create(
            tenant_id, segment_id, members, segment_version=head.version, label=request.label, now=now
        )
        return _snapshot_out(record)

    def list_snapshots(
        self, tenant_id: str, segment_id: str, *, limit: int, cursor: str | None
    ) -> SnapshotListOut:
        self._head(tenant_id, segment_id)
        try:
            page = self.snapshots.list(tenant_id, segment_id, limit=limit, cursor=cursor)
        except CursorError as exc:
            raise BadRequest(str(exc), [located("query", "/cursor", str(exc))]) from None
        return SnapshotListOut(snapshots=[_snapshot_out(r) for r in page.items], cursor=page.cursor)

    def get_snapshot(self, tenant_id: str, segment_id: str, snapshot_id: str) -> SnapshotOut:
        return _snapshot_out(self._snapshot(tenant_id, segment_id, snapshot_id))

    def _snapshot(self, tenant_id: str, segment_id: str, snapshot_id: str) -> SnapshotRecord:
        self._head(tenant_id, segment_id)
        record = self.snapshots.get(tenant_id, segment_id, snapshot_id)
        if record is None:
            raise _not_found("snapshot", "path", "snapshot_id")
        return record

    def snapshot_contacts(
        self, tenant_id: str, segment_id: str, snapshot_id: str, *, category: str, cursor: str | None
    ) -> SnapshotContactsOut:
        if category not in SNAPSHOT_CATEGORIES:
            raise Unprocessable("unknown category", [located(
                "query", "/category", f"category must be one of {', '.join(SNAPSHOT_CATEGORIES)}",
                suggest(category, SNAPSHOT_CATEGORIES))])
        record = self._snapshot(tenant_id, segment_id, snapshot_id)
        try:
            page = self.snapshots.contacts(record, category, cursor=cursor)
        except CursorError as exc:
            raise BadRequest(str(exc), [located("query", "/cursor", str(exc))]) from None
        return SnapshotContactsOut(snapshot_id=snapshot_id, category=category, contacts=page.items,
                                   cursor=page.cursor)


# --------------------------------------------------------------------------- idempotency


class IdempotentCreates:
    """Segment and snapshot creation that replays the first response to a retried request.

    The request body is the payload the port compares, so a key replays only
    the request it was first used for.
    """

    def __init__(self, audience: Audience, calls: IdempotentCalls) -> None:
        def create_segment(request: dict[str, Any]) -> dict[str, Any]:
            body = SegmentCreate.model_validate(request["body"])
            caller = Caller(request["tenant_id"], request.get("caller"), frozenset(request.get("teams", ())))
            return audience.create_segment(caller, body).model_dump(mode="json")

        def create_snapshot(request: dict[str, Any]) -> dict[str, Any]:
            body = SnapshotIn.model_validate(request["body"])
            return audience.create_snapshot(
                request["tenant_id"], request["segment_id"], body
            ).model_dump(mode="json")

        self._create_segment = calls.wrap("audience.create_segment", create_segment)
        self._create_snapshot = calls.wrap("audience.create_snapshot", create_snapshot)

    def create_segment(self, who: Caller | str, key: str, body: SegmentCreate) -> dict[str, Any]:
        """Who creates it is not part of the key (the tenant and the key are): a retry by
        another key of the tenant replays the first response."""
        caller = caller_of(who)
        request = {"tenant_id": caller.tenant_id, "key": key, "body": body.model_dump(mode="json"),
                   "caller": caller.name, "teams": sorted(caller.teams)}
        return self._call(self._create_segment, request)

    def create_snapshot(self, tenant_id: str, segment_id: str, key: str, body: SnapshotIn) -> dict[str, Any]:
        # The segment is part of the key: one key may snapshot two segments.
        request = {"tenant_id": tenant_id, "key": f"{segment_id}#{key}", "segment_id": segment_id,
                   "body": body.model_dump(mode="json")}
        return self._call(self._create_snapshot, request)

    @staticmethod
    def _call(
        function: Callable[[dict[str, Any]], dict[str, Any]], request: dict[str, Any]
    ) -> dict[str, Any]:
        try:
            return function(request)
        except IdempotencyKeyReused:
            raise Unprocessable(
                "this Idempotency-Key was used with a different request",
                [located("header", "/Idempotency-Key", "use a new key for a different request")],
            ) from None
        except IdempotencyInProgress:
            raise Conflict(
                "a request with this Idempotency-Key is still in progress",
                [located("header", "/Idempotency-Key", "retry when the first request has finished")],
            ) from None
