"""The exact service on the in-memory ports, its copy answered contact by contact.

The copy here is the per-contact evaluator over documents: the semantics the
analytical port promises (tests/analytics hold the SQL path to it), so what is
tested is the service's part: composing the draft as a save would, paging
members, comparing a saved version with its edit, and refusing in the error shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from growthos_segments.core.api_models import SegmentCreate
from growthos_segments.core.api_models_exact import ImpactIn, RuleCountIn
from growthos_segments.core.ports_analytics import ExactAnswer, NoCopy, TooCostly
from growthos_segments.core.segments import SegmentSet
from growthos_segments.infra.memory import MemoryBackend
from growthos_segments.services.audience import Conflict, NotFound, Unprocessable
from growthos_segments.services.exact import ExactCounts
from tests.unit.test_services_audience import NOW, build

AS_OF = NOW - timedelta(minutes=3)
PRO = {"attribute": {"field": "plan", "op": "equals", "value": "pro"}}
TEAM = {"attribute": {"field": "plan", "op": "equals", "value": "team"}}
VIP = {"tag": {"match": "any", "tags": ["vip"]}}


class DocumentCopy:
    """A tenant's copy as documents, each question answered per contact; counts openings."""

    def __init__(self, docs: dict[str, list[dict[str, Any]]]) -> None:
        self.docs = docs
        self.openings: list[list[str]] = []
        self.contexts: list[Mapping[str, Any] | None] = []
        self.refuse: Exception | None = None

    def available(self, tenant_id: str) -> bool:
        return tenant_id in self.docs

    def members(
        self, tenant_id: str, questions: Sequence[tuple[SegmentSet, str]], now: datetime,
        *, context: Mapping[str, Any] | None = None,
    ) -> list[ExactAnswer]:
        if self.refuse is not None:
            raise self.refuse
        if tenant_id not in self.docs:
            raise NoCopy(tenant_id)
        self.openings.append([segment_id for _, segment_id in questions])
        self.contexts.append(context)
        answers = []
        for segments, segment_id in questions:
            evaluate = segments.segments[segment_id].evaluate
            docs = self.docs[tenant_id]
            members = sorted(d["contact_id"] for d in docs
                             if evaluate(segments.view(d, context=context), now)[0])
            answers.append(ExactAnswer(tuple(members), "sql", AS_OF))
        return answers


def contacts() -> list[dict[str, Any]]:
    """c00..c11: plans cycle pro, free, team; every fourth is tagged vip."""
    return [
        {"contact_id": f"c{i:02d}", "attributes": {"plan": ("pro", "free", "team")[i % 3]},
         "tags": ["vip"] if i % 4 == 0 else [], "events": []}
        for i in range(12)
    ]


@pytest.fixture
def backend() -> MemoryBackend:
    return MemoryBackend()


@pytest.fixture
def copy() -> DocumentCopy:
    return DocumentCopy({"t1": contacts()})


@pytest.fixture
def exact(backend: MemoryBackend, copy: DocumentCopy) -> ExactCounts:
    audience = build(backend)
    return ExactCounts(audience=audience, copy=copy, clock=lambda: NOW)


def save(exact: ExactCounts, segment_id: str, rule: Any, **fields: Any) -> None:
    exact.audience.create_segment("t1", SegmentCreate(id=segment_id, name=segment_id, rule=rule, **fields))


def located(error: Any) -> list[tuple[str, str]]:
    return [(e["location"], e["path"]) for e in error.errors]


# --- counts -------------------------------------------------------------------------------


def test_a_draft_is_counted_with_the_copys_as_of_and_the_instant(exact: ExactCounts) -> None:
    out = exact.count("t1", RuleCountIn(rule=PRO))
    assert (out.count, out.path, out.as_of, out.evaluated_at) == (4, "sql", "2026-11-22T11:57:00Z",
                                                                   "2026-11-22T12:00:00Z")
    assert out.members is None and out.cursor is None
    assert exact.count("t1", RuleCountIn(rule=PRO, now="2026-11-01T00:00:00+01:00")).evaluated_at \
        == "2026-10-31T23:00:00Z"


def test_members_come_a_page_at_a_time_and_the_pages_make_the_whole(exact: ExactCounts) -> None:
    rule = {"or": [PRO, TEAM]}
    whole = exact.count("t1", RuleCountIn(rule=rule, members=True, limit=1000))
    assert whole.count == 8 and whole.cursor is None
    assert whole.members == ["c00", "c02", "c03", "c05", "c06", "c08", "c09", "c11"]
    pages, cursor = [], None
    while True:
        page = exact.count("t1", RuleCountIn(rule=rule, members=True, limit=3, cursor=cursor))
        assert page.members is not None and len(page.members) <= 3 and page.count == 8
        pages.append(page.members)
        cursor = page.cursor
        if cursor is None:
            break
    assert pages == [["c00", "c02", "c03"], ["c05", "c06", "c08"], ["c09", "c11"]]
    after_last = exact.count("t1", RuleCountIn(rule=rule, members=True, cursor="c11"))
    assert (after_last.members, after_last.cursor) == ([], None)


def test_a_draft_composes_as_a_save_would(exact: ExactCounts) -> None:
    """References resolve among the tenant's segments, exclusions apply and pinned segments are
    ANDed in (but not into a draft that is pinned itself)."""
    save(exact, "vip", VIP)
    assert exact.count("t1", RuleCountIn(rule={"segment": {"id": "vip"}})).count == 3  # c00 c04 c08
    assert exact.count("t1", RuleCountIn(rule=PRO, exclude_segments=["vip"])).count == 3  # c03 c06 c09
    save(exact, "not_free", {"!": {"attribute": {"field": "plan", "op": "equals", "value": "free"}}},
         type="pinned")
    assert exact.count("t1", RuleCountIn(rule=VIP)).count == 2  # c00 (pro), c08 (team); c04 is free
    assert exact.count("t1", RuleCountIn(rule=VIP, type="pinned")).count == 3


def test_an_invalid_rule_reference_or_instant_is_422_located_in_the_body(
    exact: ExactCounts, copy: DocumentCopy
) -> None:
    with pytest.raises(Unprocessable) as bad_rule:
        exact.count("t1", RuleCountIn(rule={"and": [PRO, {"atribute": {}}]}))
    assert located(bad_rule.value) == [("body", "/rule/and/1")]
    with pytest.raises(Unprocessable) as unknown:
        exact.count("t1", RuleCountIn(rule={"segment": {"id": "nope"}}))
    assert located(unknown.value) == [("body", "/rule/segment/id")]
    for now in ("yesterday", "2300-01-01T00:00:00Z", "1800-01-01T00:00:00Z"):
        with pytest.raises(Unprocessable) as bad_now:
            exact.count("t1", RuleCountIn(rule=PRO, now=now))
        assert located(bad_now.value) == [("body", "/now")]
    assert copy.openings == []  # nothing invalid reaches the copy


def test_no_copy_and_a_too_costly_question_are_409_saying_why(exact: ExactCounts, copy: DocumentCopy) -> None:
    with pytest.raises(Conflict) as missing:
        exact.count("t2", RuleCountIn(rule=PRO))
    assert missing.value.status == 409 and "no analytical copy" in missing.value.errors[0]["message"]
    copy.refuse = TooCostly("/: no SQL form; 2,000,000 contacts")
    with pytest.raises(Conflict) as costly:
        exact.count("t1", RuleCountIn(rule=PRO))
    assert located(costly.value) == [("body", "/rule")] and "2,000,000" in costly.value.errors[0]["message"]


# --- impact -------------------------------------------------------------------------------


def test_impact_counts_who_would_enter_and_exit_from_one_opening(
    exact: ExactCounts, copy: DocumentCopy
) -> None:
    save(exact, "pro", PRO)  # c00 c03 c06 c09
    out = exact.impact("t1", "pro", ImpactIn(rule={"or": [TEAM, VIP]}, examples=2))
    # after: team c02 c05 c08 c11, vip c00 c04 c08 -> c00 c02 c04 c05 c08 c11
    assert (out.members, out.after, out.would_enter, out.would_exit) == (4, 6, 5, 3)
    assert out.enter_examples == ["c02", "c04"] and out.exit_examples == ["c03", "c06"]
    assert (out.version, out.path, out.as_of) == (1, "sql", "2026-11-22T11:57:00Z")
    assert copy.openings == [["pro", "pro"]]  # the saved version and the edit, side by side


def test_impact_keeps_the_saved_picks_unless_the_edit_gives_them(exact: ExactCounts) -> None:
    save(exact, "pro", PRO, exclude_contacts=["c00"], include_contacts=["c01"])  # c01 c03 c06 c09
    same = exact.impact("t1", "pro", ImpactIn(rule=PRO))
    assert (same.members, same.would_enter, same.would_exit) == (4, 0, 0)
    unpicked = exact.impact("t1", "pro", ImpactIn(rule=PRO, exclude_contacts=[], include_contacts=[]))
    assert (unpicked.enter_examples, unpicked.exit_examples) == (["c00"], ["c01"])


def test_impact_refuses_what_a_save_would_refuse_and_unknown_segments(exact: ExactCounts) -> None:
    save(exact, "pro", PRO)
    save(exact, "uses_pro", {"segment": {"id": "pro"}})
    with pytest.raises(Unprocessable) as itself:
        exact.impact("t1", "pro", ImpactIn(rule={"segment": {"id": "pro"}}))
    assert located(itself.value) == [("body", "/rule")]
    with pytest.raises(Unprocessable):  # pro -> uses_pro -> pro
        exact.impact("t1", "pro", ImpactIn(rule={"segment": {"id": "uses_pro"}}))
    for unknown in ("nope", "../x"):
        with pytest.raises(NotFound):
            exact.impact("t1", unknown, ImpactIn(rule=PRO))
    with pytest.raises(NotFound):
        exact.impact("t2", "pro", ImpactIn(rule=PRO))  # another tenant's segment


def test_impact_of_a_static_or_archived_segment_is_409(exact: ExactCounts) -> None:
    exact.audience.create_segment("t1", SegmentCreate(id="list", name="l", type="static",
                                                      include_contacts=["c01"]))
    with pytest.raises(Conflict):
        exact.impact("t1", "list", ImpactIn(rule=PRO))
    save(exact, "pro", PRO)
    exact.audience.archive_segment("t1", "pro", None)
    with pytest.raises(Conflict):
        exact.impact("t1", "pro", ImpactIn(rule=PRO))


def test_the_instant_is_the_requests_for_both_versions() -> None:
    day = datetime(2026, 11, 20, tzinfo=UTC)
    docs = [{"contact_id": "c1", "attributes": {"plan": "pro"},
             "events": [{"name": "email.opened", "at": (day - timedelta(days=1)).isoformat()}]}]
    copy = DocumentCopy({"t1": docs})
    exact = ExactCounts(audience=build(MemoryBackend()), copy=copy, clock=lambda: NOW)
    save(exact, "pro", PRO)
    opened = {"email": {"action": "opened", "within": "2d"}}
    then = exact.impact("t1", "pro", ImpactIn(rule={"and": [PRO, opened]}, now="2026-11-20T00:00:00Z"))
    later = exact.impact("t1", "pro", ImpactIn(rule={"and": [PRO, opened]}))
    assert (then.would_exit, later.would_exit) == (0, 1)


def test_the_status_says_whether_the_tenant_has_a_copy(exact: ExactCounts) -> None:
    assert exact.status("t1").available is True
    assert exact.status("t2").available is False


def test_impact_of_excluding_a_segment_and_of_a_reference_in_the_edit(exact: ExactCounts) -> None:
    save(exact, "pro", PRO)  # c00 c03 c06 c09
    save(exact, "vip", VIP)  # c00 c04 c08
    excluded = exact.impact("t1", "pro", ImpactIn(rule=PRO, exclude_segments=["vip"]))
    assert (excluded.would_enter, excluded.exit_examples) == (0, ["c00"])
    referenced = exact.impact("t1", "pro", ImpactIn(rule={"or": [PRO, {"segment": {"id": "vip"}}]}))
    assert (referenced.enter_examples, referenced.would_exit) == (["c04", "c08"], 0)
    with pytest.raises(Unprocessable) as unknown:
        exact.impact("t1", "pro", ImpactIn(rule=PRO, exclude_segments=["vpi"]))
    assert located(unknown.value) == [("body", "/exclude_segments/0")]


def test_impact_of_a_change_of_type(exact: ExactCounts) -> None:
    """Pinned segments are ANDed into every other type, so making this one pinned drops them."""
    save(exact, "vip", VIP)  # c00 c04 c08
    save(exact, "not_free", {"!": {"attribute": {"field": "plan", "op": "equals", "value": "free"}}},
         type="pinned")
    same = exact.impact("t1", "vip", ImpactIn(rule=VIP))
    assert (same.members, same.would_enter, same.would_exit) == (2, 0, 0)  # c04 is free
    pinned = exact.impact("t1", "vip", ImpactIn(rule=VIP, type="pinned"))
    assert (pinned.enter_examples, pinned.would_exit) == (["c04"], 0)


# --- the tenant context ---------------------------------------------------------------------

CHAMPIONS = {"rfm_tier": {"tier": "champions"}}


def test_rfm_rules_are_answered_in_the_stored_context_real_time_membership_uses(
    exact: ExactCounts, backend: MemoryBackend, copy: DocumentCopy
) -> None:
    exact.count("t1", RuleCountIn(rule=CHAMPIONS))
    assert copy.contexts == [None]  # nothing stored yet: the copy computes it at the instant
    stored = {"rfm": {"computed_at": "2026-11-21T00:00:00Z", "customers": 0}}
    backend.contexts.put("t1", stored, NOW - timedelta(days=1))
    save(exact, "buyers", CHAMPIONS)
    exact.count("t1", RuleCountIn(rule=CHAMPIONS))
    exact.impact("t1", "buyers", ImpactIn(rule={"rfm_tier": {"tier": "lost"}}))
    assert copy.contexts[1:] == [stored, stored]
