"""Request and response bodies of the exact routes (``POST /rules/count``,
``POST /segments/{id}/impact``), beside :mod:`growthos_segments.core.api_models` for the
same reason: the routes validate with them, the OpenAPI document is generated from
them, and :mod:`growthos_segments.services.exact` builds the answers.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, StrictBool

from growthos_segments.core.api_models import ContactId, Rule, SegmentId, SegmentTypeName, _In

__all__ = ["CopyStatusOut", "ImpactIn", "ImpactOut", "RuleCountIn", "RuleCountOut"]

MAX_MEMBERS_PAGE = 1000
MAX_EXAMPLES = 100

Path = Literal["sql", "per-contact"]
_NOW = Field(default=None, max_length=64, description="the instant to answer at (ISO 8601, 1900-2199); "
             "default: now", examples=["2026-11-22T12:00:00Z"])
_PATH = Field(description="'sql': one query over the copy; 'per-contact': the rule (or a part of it) has "
              "no exact SQL form, so every contact of the copy was evaluated one by one")
_AS_OF = Field(description="the newest change the tenant's analytical copy holds: the answer is exact for "
               "the contacts as they stood then (null: the copy does not say)")
_REASON = Field(default=None, description="why the per-contact path answered (JSON pointer into the rule)")
_DECIDED = Field(default=0, description="on the SQL path: contacts whose answer SQL left to the "
                 "per-contact evaluator (values only it reads exactly)")


class RuleCountIn(_In):
    rule: Rule
    exclude_segments: list[SegmentId] = Field(default_factory=list, max_length=100)
    include_contacts: list[ContactId] = Field(
        default_factory=list, max_length=1000, description="as a saved segment's manual include list: "
        "those of the copy's contacts are members"
    )
    exclude_contacts: list[ContactId] = Field(
        default_factory=list, max_length=1000, description="as a saved segment's manual exclude list"
    )
    type: SegmentTypeName = Field(
        default="shared", description="as what the rule would be saved: pinned segments are ANDed into "
        "every type but 'pinned'"
    )
    now: str | None = _NOW
    members: StrictBool = Field(default=False, description="also list member contact ids, a page at a time")
    limit: int = Field(default=100, ge=1, le=MAX_MEMBERS_PAGE, description="members per page")
    cursor: ContactId | None = Field(
        default=None, description="the previous page's 'cursor': members after this contact id"
    )


class RuleCountOut(BaseModel):
    count: int = Field(description="exact number of contacts of the copy the rule matches at 'evaluated_at'")
    path: Path = _PATH
    as_of: str | None = _AS_OF
    evaluated_at: str
    reason: str | None = _REASON
    decided_per_contact: int = _DECIDED
    members: list[str] | None = Field(default=None, description="when asked for: a page of member contact "
                                      "ids in ascending order (as text)")
    cursor: str | None = Field(default=None, description="when members were asked for and more remain: pass "
                               "it as 'cursor' for the next page")


class ImpactIn(_In):
    rule: Rule = Field(description="the edited rule; the segment's type, exclusions and manual picks stay "
                       "as saved unless given here")
    type: Literal["shared", "embedded", "pinned"] | None = Field(
        default=None, description="the type it would be saved as (a static segment has no rule)")
    exclude_segments: list[SegmentId] | None = Field(default=None, max_length=100)
    include_contacts: list[ContactId] | None = Field(default=None, max_length=1000)
    exclude_contacts: list[ContactId] | None = Field(default=None, max_length=1000)
    now: str | None = _NOW
    examples: int = Field(default=10, ge=0, le=MAX_EXAMPLES, description="example contact ids of each side")


class ImpactOut(BaseModel):
    segment_id: str
    version: int = Field(description="the saved version the edit is compared with")
    members: int = Field(description="members of the saved version, evaluated on the same copy at the "
                         "same instant")
    would_enter: int = Field(description="contacts the edited rule matches that are not members now")
    would_exit: int = Field(description="members now that the edited rule does not match")
    after: int = Field(description="members under the edited rule")
    enter_examples: list[str] = Field(description="up to 'examples' of the contacts that would enter, "
                                      "in ascending order")
    exit_examples: list[str]
    path: Path = Field(description="'sql' when both versions were answered by SQL, else 'per-contact'")
    reason: str | None = _REASON
    as_of: str | None = _AS_OF
    evaluated_at: str


class CopyStatusOut(BaseModel):
    available: bool = Field(description="whether this tenant has an analytical copy, so POST /rules/count "
                            "and POST /segments/{segment_id}/impact can answer (else they answer 409)")
