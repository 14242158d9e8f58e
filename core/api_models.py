"""Request and response bodies of the audience API, as pydantic models.

They live in ``core`` (pure pydantic, no AWS) because both sides use them: the
API's routes (``growthos_segments.handlers.api_*``) validate requests with them and
the OpenAPI document is generated from them, and ``growthos_segments.services.audience``
builds the responses. The
rule itself is typed loosely here (a JSON object) on purpose: its real
validation is the rule language's (every error with a JSON pointer), which a
JSON Schema could not express.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from growthos_segments.core.ids import (
    CONTACT_ID_DESCRIPTION,
    CONTACT_ID_PATTERN,
    SEGMENT_ID_DESCRIPTION,
    SEGMENT_ID_PATTERN,
)
from growthos_segments.core.ports import SEGMENT_STATUSES, SEGMENT_TYPES, SNAPSHOT_CATEGORIES
from growthos_segments.core.ports_usage import TEAM_PATTERN, USER_PATTERN
from growthos_segments.core.segments import MAX_NAME_LENGTH, MAX_VERSION, refuse_control_characters

__all__ = [
    "MAX_VERSION",
    "BackfillProgressOut",
    "ConditionEstimateOut",
    "ConditionTypesOut",
    "ContactSegmentOut",
    "ContactSegmentsOut",
    "CountOut",
    "ErrorDetail",
    "ErrorOut",
    "EstimateIn",
    "EstimateOut",
    "ExplainOut",
    "FieldsOut",
    "HistoryOut",
    "HistoryPoint",
    "MembersOut",
    "MembershipOut",
    "RuleErrorOut",
    "RuleWarningOut",
    "SegmentCreate",
    "SegmentDuplicate",
    "SegmentListOut",
    "SegmentOut",
    "SegmentTypeName",
    "SegmentUpdate",
    "SnapshotCategory",
    "SnapshotContactsOut",
    "SnapshotIn",
    "SnapshotListOut",
    "SnapshotOut",
    "StoredMembership",
    "TemplatesOut",
    "TransitionOut",
    "TransitionsOut",
    "UsageOut",
    "UsagesOut",
    "UserId",
    "ValidateIn",
    "ValidateOut",
]

SegmentId = Annotated[
    str, StringConstraints(pattern=SEGMENT_ID_PATTERN), Field(description=SEGMENT_ID_DESCRIPTION)
]
ContactId = Annotated[
    str, StringConstraints(pattern=CONTACT_ID_PATTERN), Field(description=CONTACT_ID_DESCRIPTION)
]
Rule = Annotated[
    dict[str, Any],
    Field(
        description="A segment rule in JsonLogic shape, e.g. "
        '{"and": [{"score": {"name": "nps", "gte": 9}}]}; see GET /condition-types',
        examples=[{"and": [{"score": {"name": "nps", "gte": 9}}]}],
        # Every rule node has exactly one key. The rule language checks it (with a message
        # and a pointer); the document says it so that it describes the same requests.
        json_schema_extra={"minProperties": 1, "maxProperties": 1},
    ),
]
Team = Annotated[str, StringConstraints(pattern=TEAM_PATTERN),
                 Field(description="a team scope: 1-40 lower-case letters, digits, _ or -")]
Teams = Annotated[list[Team], Field(
    max_length=20, description="team scopes: only keys of one of these teams (or of no team) see the "
    "segment; empty: every key of the tenant. A key with teams may add or remove only its own teams")]
UserId = Annotated[str, StringConstraints(pattern=USER_PATTERN), Field(
    description="what targets the segment, in its module's words, e.g. campaign:cmp_42 (1-100 letters, "
    "digits or _.:@-, starting with a letter or digit)")]
SegmentTypeName = Literal[SEGMENT_TYPES]  # type: ignore[valid-type]  # the stored types, one definition
SnapshotCategory = Literal[SNAPSHOT_CATEGORIES]  # type: ignore[valid-type]
Version = Annotated[int, Field(ge=1, le=MAX_VERSION)]


def _text(*, allow_line_breaks: bool) -> AfterValidator:
    allowed = "\t\n\r" if allow_line_breaks else ""
    return AfterValidator(lambda value: refuse_control_characters(value, allowed))


_ONE_LINE = r"^[^\x00-\x1f\x7f-\x9f]*$"
_LINES = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
Name = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_NAME_LENGTH),
    _text(allow_line_breaks=False),
    Field(description=f"1-{MAX_NAME_LENGTH} characters, no control characters",
          json_schema_extra={"pattern": _ONE_LINE}),
]
Description = Annotated[
    str,
    StringConstraints(max_length=2000),
    _text(allow_line_breaks=True),
    Field(description="up to 2,000 characters; line breaks and tabs are the only control characters allowed",
          json_schema_extra={"pattern": _LINES}),
]
Label = Annotated[
    str,
    StringConstraints(max_length=200),
    _text(allow_line_breaks=False),
    Field(json_schema_extra={"pattern": _ONE_LINE}),
]
_RULE_UNLESS_STATIC: dict[str, Any] = {
    # What Audience checks on save, said in JSON Schema: a static segment is its list only.
    "if": {"properties": {"type": {"const": "static"}}, "required": ["type"]},
    "then": {"properties": {"rule": {"type": "null"}}},
    "else": {"properties": {"rule": {"type": "object"}}, "required": ["rule"]},
}


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- errors -------------------------------------------------------------------------------


class ErrorDetail(BaseModel):
    location: Literal["body", "query", "path", "header", "request"] = Field(
        description="which part of the request 'path' points into"
    )
    path: str = Field(description="JSON pointer to the offending value within 'location' ('' for all of it)")
    message: str
    suggestion: str | None = None


class ErrorOut(BaseModel):
    """Every 4xx: what went wrong, and where."""

    message: str
    errors: list[ErrorDetail] = Field(default_factory=list)


# --- catalog and rules ----------------------------------------------------------------------


class ConditionTypesOut(BaseModel):
    condition_types: list[dict[str, Any]] = Field(
        description="name, label, description, category, JSON Schema of the params, examples"
    )


class TemplatesOut(BaseModel):
    templates: list[dict[str, Any]]


class ValidateIn(_In):
    rule: Rule


class RuleErrorOut(BaseModel):
    path: str = Field(description="JSON pointer into the rule ('' for the whole rule)")
    message: str
    suggestion: str | None = None


class RuleWarningOut(BaseModel):
    path: str = Field(description="JSON pointer of the condition node in 'normalized' (the normal form)")
    message: str
    suggestion: str | None = None


class ValidateOut(BaseModel):
    valid: bool
    normalized: dict[str, Any] | None = None
    reads: dict[str, Any] | None = None
    errors: list[RuleErrorOut] = Field(default_factory=list)
    warnings: list[RuleWarningOut] = Field(
        default_factory=list, description="on a valid rule: each attribute path or event a condition reads "
        "that no contact of the tenant has had (never when nothing was observed yet); never makes it invalid"
    )


class EstimateIn(_In):
    rule: Rule
    exclude_segments: list[SegmentId] = Field(default_factory=list, max_length=100)
    include_contacts: list[ContactId] = Field(
        default_factory=list, max_length=1000, description="contacts always counted (unless also "
        "excluded), as a saved segment's manual include list: added to the estimate, not scaled from the "
        "sample (unless every contact was read, an id no contact has counts too)"
    )
    exclude_contacts: list[ContactId] = Field(
        default_factory=list, max_length=1000, description="contacts never counted, as a saved segment's "
        "manual exclude list"
    )
    type: SegmentTypeName = Field(
        default="shared", description="as what the rule would be saved: pinned segments are ANDed into "
        "every type but 'pinned'"
    )
    per_condition: StrictBool = Field(
        default=False, description="also size each child of the rule's root 'and' / 'or' (or the single "
        "condition) alone, over the same sample"
    )


class ConditionEstimateOut(BaseModel):
    path: str = Field(description="JSON pointer into the request body to the condition, e.g. /rule/and/1")
    estimate: int = Field(description="estimated contacts this condition alone matches (same type, "
                          "exclusions and pinned segments as the whole rule)")
    low: int
    high: int
    matches: int = Field(description="matching contacts in the sample (the whole rule's sample)")


class EstimateOut(BaseModel):
    estimate: int = Field(description="estimated number of matching contacts")
    low: int = Field(description="lower bound of the confidence interval")
    high: int = Field(description="upper bound of the confidence interval")
    confidence: float = Field(description="confidence level of [low, high]")
    exact: bool = Field(description="true when every contact was evaluated (small tenants)")
    sample_size: int
    matches: int = Field(description="matching contacts in the sample")
    population: int = Field(description="the tenant's contacts the sample was scaled to")
    population_source: Literal["counter", "sample", "exact"]
    sampled_fraction: float
    evaluated_at: str
    reads: dict[str, Any] = Field(description="what the rule (with pinned/referenced segments) reads")
    per_condition: list[ConditionEstimateOut] | None = Field(
        default=None, description="when asked for: each top-level condition sized alone, in rule order"
    )


# --- segments -----------------------------------------------------------------------------


class SegmentCreate(_In):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_RULE_UNLESS_STATIC)

    id: SegmentId | None = Field(default=None, description="chosen by the caller, or generated")
    name: Name
    description: Description = ""
    type: SegmentTypeName = "shared"
    rule: Rule | None = Field(default=None, description="required unless the type is 'static'")
    exclude_segments: list[SegmentId] = Field(default_factory=list, max_length=100)
    include_contacts: list[ContactId] = Field(default_factory=list, max_length=1000)
    exclude_contacts: list[ContactId] = Field(default_factory=list, max_length=1000)
    teams: Teams = Field(default_factory=list)


class SegmentDuplicate(_In):
    """A deep copy of a segment's current version (rule, exclusions, contact lists, type,
    description, team scopes), saved as a new segment with its own backfill."""

    id: SegmentId | None = Field(default=None, description="the copy's id (default: generated)")
    name: Name | None = Field(default=None, description="the copy's name; default '<name> (copy)'")


class SegmentUpdate(_In):
    """The whole new definition, and the version it was edited from (optimistic
    concurrency: a stale version is a 409)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_RULE_UNLESS_STATIC)

    version: Version = Field(description="the current version, as last read")
    name: Name
    description: Description = ""
    type: SegmentTypeName = "shared"
    rule: Rule | None = Field(default=None, description="required unless the type is 'static'")
    exclude_segments: list[SegmentId] = Field(default_factory=list, max_length=100)
    include_contacts: list[ContactId] = Field(default_factory=list, max_length=1000)
    exclude_contacts: list[ContactId] = Field(default_factory=list, max_length=1000)
    teams: Teams | None = Field(default=None, description="the new team scopes; omitted or null: keep the "
                                "current ones (a client that knows nothing of teams never drops them)")


class BackfillProgressOut(BaseModel):
    """How far the backfill of the segment's current version has got."""

    status: Literal["queued", "running", "complete"] = Field(
        description="queued: saved, no page of contacts evaluated yet"
    )
    contacts_done: int = Field(description="contacts evaluated so far")
    entered: int
    exited: int
    slices_finished: int = Field(description="contact slices done (they run in parallel)")
    slices: int
    queued_at: str | None = Field(description="when a save queued it (null for a segment filled "
                                  "another way, such as the local stack's initial load)")
    started_at: str | None = Field(description="when its first page of contacts was counted")
    finished_at: str | None = Field(description="when its last slice finished (null while running)")


class UsageOut(BaseModel):
    user: UserId
    registered_by: str | None = Field(description="name of the API key that registered it")
    registered_at: str


class SegmentOut(BaseModel):
    id: str
    version: int
    name: str
    description: str
    type: SegmentTypeName
    status: Literal[SEGMENT_STATUSES]  # type: ignore[valid-type]
    rule: dict[str, Any] | None
    exclude_segments: list[str]
    include_contacts: list[str]
    exclude_contacts: list[str]
    created_at: str | None
    updated_at: str | None
    created_by: str | None = Field(description="name of the API key that created the segment (null: "
                                   "not saved through a named key, e.g. seeded)")
    updated_by: str | None = Field(description="name of the API key that saved this version")
    teams: list[str] = Field(description="team scopes (empty: every key of the tenant sees it)")
    used_by: list[UsageOut] | None = Field(
        default=None, description="on get and in lists: the modules registered as targeting the segment; "
        "changing or archiving it then needs ?confirm=true"
    )
    notified: bool | None = Field(
        default=None, description="after a confirmed change or archive of a segment in use: true when its "
        "users were told on the bus, false when the bus refused (the change is saved; tell them another "
        "way); null when no one was to be told"
    )
    backfill: Literal["queued", "running", "none"] | None = Field(
        default=None, description="on create/update: how the new version's members are being filled"
    )
    count: int | None = Field(
        default=None, description="in lists and on get: exact number of current members (a live counter)"
    )
    backfill_progress: BackfillProgressOut | None = Field(
        default=None, description="on get and in lists (active segments): the backfill of the current "
        "version, from when a save queued it; null when none was queued or ran"
    )


class SegmentListOut(BaseModel):
    segments: list[SegmentOut]


class UsagesOut(BaseModel):
    segment_id: str
    users: list[UsageOut]


# --- membership ---------------------------------------------------------------------------


class MembersOut(BaseModel):
    segment_id: str
    members: list[str]
    cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last page")


class CountOut(BaseModel):
    segment_id: str
    count: int = Field(description="exact number of current members (a live counter)")


class MembershipOut(BaseModel):
    segment_id: str
    contact_id: str
    member: bool
    entered_at: str | None = None
    exited_at: str | None = None
    segment_version: int | None = None


class ContactSegmentOut(BaseModel):
    segment_id: str
    name: str | None
    entered_at: str | None
    segment_version: int | None


class ContactSegmentsOut(BaseModel):
    contact_id: str
    segments: list[ContactSegmentOut]


class StoredMembership(BaseModel):
    member: bool
    entered_at: str | None = None
    exited_at: str | None = None


class ExplainOut(BaseModel):
    segment_id: str
    contact_id: str
    version: int
    evaluated_at: str
    match: bool
    recheck_at: str | None
    trace: dict[str, Any] = Field(description="per node: JSON pointer, kind, match, what it read, why")
    stored: StoredMembership = Field(
        description="the stored membership, which the real-time path keeps in step with this"
    )


# --- snapshots ----------------------------------------------------------------------------


class SnapshotIn(_In):
    label: Label = Field(default="", description="what the snapshot is for, e.g. a campaign id")


class SnapshotOut(BaseModel):
    snapshot_id: str
    segment_id: str
    segment_version: int | None
    label: str
    taken_at: str
    counts: dict[str, int] = Field(
        description="all, addressable, bounced, unsubscribed, spam, no_email (flags can overlap; "
        "addressable = none of them)"
    )


class SnapshotListOut(BaseModel):
    snapshots: list[SnapshotOut]
    cursor: str | None


class SnapshotContactsOut(BaseModel):
    snapshot_id: str
    category: str
    contacts: list[str]
    cursor: str | None


# --- size history -------------------------------------------------------------------------


class HistoryPoint(BaseModel):
    at: str = Field(description="start of the hour or UTC day")
    count: int = Field(description="members as first counted in that hour or day")


class HistoryOut(BaseModel):
    segment_id: str
    resolution: Literal["hour", "day"]
    points: list[HistoryPoint] = Field(description="oldest first, at most 800")


# --- observed fields ----------------------------------------------------------------------


class ObservedAttributeOut(BaseModel):
    path: str = Field(description="dotted path in the contact document, e.g. attributes.plan, "
                      "attributes.custom.lead_score, scores.nps; tags.<name> and lists.<name> for names")
    types: list[str] = Field(description="JSON types seen: string, number, boolean, null, array")
    samples: list[str | int | float | bool] = Field(description="first values seen, at most 5, strings "
                                                    "cut to 40 characters")


class ObservedEventOut(BaseModel):
    name: str
    count: int = Field(description="approximate: events seen, counted once per contact per stream batch")


class FieldsOut(BaseModel):
    attributes: list[ObservedAttributeOut] = Field(description="sorted by path, at most 2,000")
    events: list[ObservedEventOut] = Field(description="sorted by name, at most 2,000")


# --- transition feed ----------------------------------------------------------------------


class TransitionOut(BaseModel):
    contact_id: str
    kind: Literal["enter", "exit"]
    at: str = Field(description="when the membership changed")
    segment_version: int | None = Field(description="the version of the segment that decided it")


class TransitionsOut(BaseModel):
    segment_id: str
    transitions: list[TransitionOut] = Field(description="newest first, at most 30 days old")
    cursor: str | None = Field(description="pass as ?cursor= (with the same 'after') for older "
                               "transitions; null on the last page")
    newest: str | None = Field(description="pass as ?after= to poll for transitions newer than this "
                               "page's first; null when there are none yet")
