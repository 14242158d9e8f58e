"""The plugin host: discovery through pluggy and entry points, duplicates, catalog."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from growthos_segments.core.contract import Template
from growthos_segments.core.hookspecs import hookimpl
from growthos_segments.core.host import DuplicateNameError, InvalidTemplateError, PluginHost
from growthos_segments.core.rules import parse_rule
from growthos_segments.core.segments import SegmentDefinition, SegmentSet
from tests.conftest import NOW
from tests.support import toy_plugin

PLUGIN_SOURCE = textwrap.dedent(
    '''
    """An outside GrowthOS module's plugin, installed as a distribution."""
    from pydantic import BaseModel
    from growthos_segments.core.contract import ConditionType, Reads
    from growthos_segments.core.hookspecs import hookimpl

    class Params(BaseModel):
        level: int

    def compile(params):
        def is_vip(view, now):
            return view.attributes.get("vip_level", 0) >= params.level, None
        return is_vip

    @hookimpl
    def register_condition_types(register):
        register(ConditionType(
            name="vip", label="VIP level", description="VIP level at least N.",
            category="loyalty", params=Params, compile=compile,
            reads=lambda p: Reads(attributes=frozenset({"attributes.vip_level"})),
            examples=({"level": 2},),
        ))
    '''
)


@pytest.fixture
def installed_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A real distribution on sys.path: a module plus dist-info with an entry point."""
    (tmp_path / "loyalty_segments.py").write_text(PLUGIN_SOURCE)
    dist = tmp_path / "loyalty_segments-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: loyalty-segments\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[growthos.segments]\nloyalty = loyalty_segments\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_entry_point_plugin_is_discovered_and_used_end_to_end(installed_plugin: Path) -> None:
    host = PluginHost([toy_plugin])
    assert "vip" in host.condition_types
    segments = SegmentSet(host, [SegmentDefinition("vips", {"and": [
        {"vip": {"level": 2}}, {"toy_eq": {"field": "plan", "value": "pro"}}]})])
    view = segments.view({"contact_id": "c1", "attributes": {"vip_level": 3, "plan": "pro"}})
    assert segments.evaluate(view, NOW)["vips"] == (True, None)
    view = segments.view({"contact_id": "c2", "attributes": {"vip_level": 1, "plan": "pro"}})
    assert segments.evaluate(view, NOW)["vips"] == (False, None)


def test_entry_point_plugin_works_through_the_cli(installed_plugin: Path, tmp_path: Path) -> None:
    rule = tmp_path / "rule.json"
    rule.write_text(json.dumps({"vip": {"level": 2}}))
    contacts = tmp_path / "contacts.jsonl"
    contacts.write_text('{"contact_id": "a", "attributes": {"vip_level": 5}}\n'
                        '{"contact_id": "b", "attributes": {}}\n')
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(installed_plugin), os.getcwd()])}
    out = subprocess.run(
        [sys.executable, "-m", "growthos_segments.devstack.cli", "evaluate",
         "--rule", str(rule), "--contacts", str(contacts),
         "--now", "2026-11-22T12:00:00Z"],
        capture_output=True, text=True, env=env, check=True,
    ).stdout.splitlines()
    assert [json.loads(line)["match"] for line in out] == [True, False]


class _Duplicate:
    @hookimpl
    def register_condition_types(self, register):
        register(toy_plugin.EQ)


def test_duplicate_condition_type_names_are_rejected() -> None:
    with pytest.raises(DuplicateNameError, match="'toy_eq' is registered twice"):
        PluginHost([toy_plugin, _Duplicate()], load_entry_points=False)


class _Reserved:
    @hookimpl
    def register_condition_types(self, register):
        from dataclasses import replace

        register(replace(toy_plugin.EQ, name="segment"))


def test_reserved_names_are_rejected() -> None:
    with pytest.raises(DuplicateNameError, match="reserved"):
        PluginHost([_Reserved()], load_entry_points=False)


class _Templates:
    @hookimpl
    def register_templates(self, register):
        register(Template("free", "Free plan", "Everyone on the free plan.",
                          {"toy_eq": {"field": "plan", "value": "free"}}))
        register(Template("free", "Again", "Duplicate id.", {}))


def test_duplicate_template_ids_are_rejected() -> None:
    with pytest.raises(DuplicateNameError, match="template 'free'"):
        PluginHost([toy_plugin, _Templates()], load_entry_points=False)


class _UnknownTypeTemplate:
    @hookimpl
    def register_templates(self, register):
        register(Template("vips", "VIPs", "Contacts with a VIP level.", {"vip": {"level": 2}}))


def test_a_template_naming_an_unknown_condition_type_stops_the_host() -> None:
    with pytest.raises(InvalidTemplateError, match="template 'vips' is not a valid rule: /: "
                                                   "unknown condition type 'vip'"):
        PluginHost([toy_plugin, _UnknownTypeTemplate()], load_entry_points=False)


class _BadParamsTemplate:
    @hookimpl
    def register_templates(self, register):
        register(Template("hourly", "Hourly", "A window of no length.",
                          {"and": [{"toy_window": {"field": "signup", "seconds": 0}}]}))


def test_a_template_with_invalid_params_stops_the_host_and_names_the_place() -> None:
    with pytest.raises(InvalidTemplateError, match=r"'hourly'.*/and/0/toy_window/seconds"):
        PluginHost([toy_plugin, _BadParamsTemplate()], load_entry_points=False)


class _Context:
    def __init__(self, namespace: str) -> None:
        self.namespace = namespace

    @hookimpl
    def tenant_context(self, tenant_id, contacts, now):
        return {self.namespace: {"tenant": tenant_id, "n": len(contacts)}}


def test_tenant_context_merges_namespaces_and_rejects_clashes() -> None:
    host = PluginHost([_Context("rfm"), _Context("bands")], load_entry_points=False)
    assert host.tenant_context("t1", [{}, {}], NOW) == {"rfm": {"tenant": "t1", "n": 2},
                                                   "bands": {"tenant": "t1", "n": 2}}
    clash = PluginHost([_Context("rfm"), _Context("rfm")], load_entry_points=False)
    with pytest.raises(DuplicateNameError, match="'rfm'"):
        clash.tenant_context("t1", [], NOW)


def test_catalog_lists_schema_and_valid_examples(toy_host: PluginHost) -> None:
    catalog = {entry["name"]: entry for entry in toy_host.catalog()}
    assert set(catalog) == {"toy_eq", "toy_window"}
    entry = catalog["toy_window"]
    assert entry["schema"]["properties"]["seconds"]["exclusiveMinimum"] == 0
    for example in entry["examples"]:
        parse_rule(example, toy_host)


def test_pluggy_is_not_on_the_evaluation_path(toy_host: PluginHost, monkeypatch) -> None:
    segments = SegmentSet(toy_host, [SegmentDefinition("s", {"toy_eq": {"field": "a", "value": 1}})])

    def refuse(*args, **kwargs):
        raise AssertionError("a hook was called during evaluation")

    monkeypatch.setattr(toy_host.manager, "hook", None)
    monkeypatch.setattr(toy_host.manager, "_hookexec", refuse)
    assert segments.evaluate(segments.view({"contact_id": "c", "attributes": {"a": 1}}), NOW)["s"][0]
