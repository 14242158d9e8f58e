"""The exact-audience port over a Parquet copy on disk: one tenant's folder per opening, SQL
where the rule allows, per contact where it does not (bounded), and no copy said as such."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from growthos_segments.analytics.audience import CopyAudience
from growthos_segments.analytics.parquet import write_tenant
from growthos_segments.core.host import PluginHost
from growthos_segments.core.ports_analytics import NoCopy, TooCostly
from growthos_segments.core.segments import SegmentDefinition, SegmentSet
from growthos_segments.kit import ConditionType, ContactView, Reads, Result, hookimpl
from growthos_segments.kit.params import ParamsModel
from growthos_segments.plugins import BUILTIN_PLUGINS

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
PRO = {"attribute": {"field": "plan", "op": "equals", "value": "pro"}}


class PlanParams(ParamsModel):
    plan: str


def _plan_is(p: PlanParams) -> Callable[[ContactView, datetime], Result]:
    def test(view: ContactView, now: datetime) -> Result:
        return view.attributes.get("plan") == p.plan, None

    return test


class _OpaquePlugin:
    """An outside plugin's type with no SQL form: its rules are answered per contact."""

    @hookimpl
    def register_condition_types(self, register: Callable[..., None]) -> None:
        register(ConditionType(name="opaque_plan", label="plan", description="test", category="test",
                               params=PlanParams, compile=_plan_is,
                               reads=lambda p: Reads(attributes=frozenset({"attributes.plan"}))))


@pytest.fixture(scope="module")
def host() -> PluginHost:
    return PluginHost((*BUILTIN_PLUGINS, _OpaquePlugin()), load_entry_points=False)


def docs(tenant: str, plans: list[str]) -> list[dict[str, Any]]:
    return [{"tenant_id": tenant, "contact_id": f"{tenant}-{i}", "attributes": {"plan": plan},
             "updated_at": (NOW - timedelta(hours=len(plans) - i)).isoformat(), "events": []}
            for i, plan in enumerate(plans)]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    write_tenant(tmp_path, "t1", docs("t1", ["pro", "free", "pro", "team"]))
    write_tenant(tmp_path, "t2", docs("t2", ["pro", "pro", "pro"]))
    return tmp_path


def one(host: PluginHost, rule: Any) -> SegmentSet:
    return SegmentSet(host, [SegmentDefinition("rule", rule)])


def test_each_question_reads_its_tenants_folder_only(host: PluginHost, root: Path) -> None:
    copy = CopyAudience(host, lambda tenant: root)
    (first,) = copy.members("t1", [(one(host, PRO), "rule")], NOW)
    assert (first.members, first.path, first.reason, first.decided_per_contact) == (("t1-0", "t1-2"), "sql",
                                                                                     None, 0)
    assert first.as_of == NOW - timedelta(hours=1)  # the newest updated_at of t1's contacts
    (second,) = copy.members("t2", [(one(host, PRO), "rule")], NOW)
    assert second.members == ("t2-0", "t2-1", "t2-2")


def test_several_questions_are_answered_in_order(host: PluginHost, root: Path) -> None:
    both = SegmentSet(host, [SegmentDefinition("pro", PRO), SegmentDefinition("not_pro", {"!": PRO})])
    pro, rest = CopyAudience(host, lambda tenant: root).members("t1", [(both, "pro"), (both, "not_pro")], NOW)
    assert (pro.members, rest.members) == (("t1-0", "t1-2"), ("t1-1", "t1-3"))


def test_a_tenant_without_a_copy_is_no_copy(host: PluginHost, root: Path) -> None:
    assert CopyAudience(host, lambda tenant: root).available("t1")
    assert not CopyAudience(host, lambda tenant: root).available("t3")
    assert not CopyAudience(host, lambda tenant: root).available("../t1")
    assert not CopyAudience(host, lambda tenant: None).available("t1")
    with pytest.raises(NoCopy):
        CopyAudience(host, lambda tenant: root).members("t3", [(one(host, PRO), "rule")], NOW)
    with pytest.raises(NoCopy):
        CopyAudience(host, lambda tenant: None).members("t1", [(one(host, PRO), "rule")], NOW)


def test_a_type_without_a_sql_form_is_answered_per_contact_up_to_the_bound(
    host: PluginHost, root: Path
) -> None:
    rule = {"or": [PRO, {"opaque_plan": {"plan": "team"}}]}
    (answer,) = CopyAudience(host, lambda tenant: root, max_per_contact=4).members(
        "t1", [(one(host, rule), "rule")], NOW)
    assert answer.members == ("t1-0", "t1-2", "t1-3") and answer.path == "per-contact"
    assert answer.reason is not None and "/or/1/opaque_plan" in answer.reason
    with pytest.raises(TooCostly, match="4 contacts, more than the 3"):
        CopyAudience(host, lambda tenant: root, max_per_contact=3).members(
            "t1", [(one(host, rule), "rule")], NOW)
    # the bound is for the per-contact path only: SQL answers any size
    (sql,) = CopyAudience(host, lambda tenant: root, max_per_contact=0).members(
        "t1", [(one(host, PRO), "rule")], NOW)
    assert sql.path == "sql" and sql.members == ("t1-0", "t1-2")
