"""The README's plugin example, as another GrowthOS module would ship it.

The module lives in a project that has ``core`` and ``plugins`` packages of
its own, imports nothing of the engine but :mod:`growthos_segments.kit`, and
is registered the documented way: an entry point in the ``growthos.segments``
group (here a ``*.dist-info`` on the project's path, as an installed
distribution has). A fresh interpreter started in that project then runs the
condition types through the engine's default host and through the CLI, and
``import core`` still gives the project's own package.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PLUGIN_SOURCE = textwrap.dedent(
    '''
    """Loyalty conditions: a VIP level, and store visits counted in a window."""

    from datetime import datetime

    from pydantic import Field

    from growthos_segments.kit import ConditionType, ContactView, Predicate, Reads, Result, hookimpl
    from growthos_segments.kit.counts import Count, CountWindowFields, count_result
    from growthos_segments.kit.params import ParamsModel
    from growthos_segments.kit.selection import Selector
    from growthos_segments.kit.windows import Window
    from growthos_segments.kit.wording import describe_count, describe_window
    from growthos_segments.kit.young import young_reads


    class VipParams(ParamsModel):
        level: int = Field(ge=1, le=5, description="minimum VIP level")


    def compile_vip(params: VipParams) -> Predicate:
        level = params.level

        def is_vip(view: ContactView, now: datetime) -> Result:
            value = view.attributes.get("vip_level")
            return type(value) is int and value >= level, None  # never changes with time alone

        return is_vip


    VIP = ConditionType(
        name="vip", label="VIP level", description="VIP level is at least N.",
        category="loyalty", params=VipParams, compile=compile_vip,
        reads=lambda p: Reads(attributes=frozenset({"attributes.vip_level"})),
        examples=({"level": 2},),
        describe=lambda p: f"VIP level >= {p.level}",
    )


    class VisitParams(CountWindowFields):
        """Visited a store, how often, in which window."""


    VISITS = Selector.make(["store.visited"])

    STORE_VISITS = ConditionType(
        name="store_visits", label="Store visits",
        description="Visited a store, compared as a count in a window.",
        category="loyalty", params=VisitParams,
        compile=lambda p: count_result(VISITS, Window.of(p), Count.of(p), p.young_contacts),
        reads=lambda p: Reads(events=VISITS.prefixes, lookback=Window.of(p).lookback,
                              attributes=young_reads(p.young_contacts)),
        examples=({"min_count": 3, "within": "30d"},),
        describe=lambda p: f"visited a store {describe_count(p)} {describe_window(p)}",
    )


    @hookimpl
    def register_condition_types(register):
        register(VIP, STORE_VISITS)
    '''
)

RUN = textwrap.dedent(
    '''
    import json
    from datetime import datetime, timezone

    import core
    from growthos_segments.core.compiler import compile_rule
    from growthos_segments.core.rules import parse_rule
    from growthos_segments.core.view import ContactView
    from growthos_segments.plugins import default_host

    host = default_host()
    now = datetime(2026, 11, 22, 12, tzinfo=timezone.utc)
    visits = [{"name": "store.visited", "at": f"2026-11-{day}T10:00:00Z"} for day in ("01", "10", "20")]
    contacts = [{"contact_id": "a", "attributes": {"vip_level": 3}, "events": visits},
                {"contact_id": "b", "attributes": {"vip_level": 1}, "events": visits[1:]}]
    out = {"core": core.WHOSE, "catalog": sorted(e["name"] for e in host.catalog()
                                                 if e["category"] == "loyalty")}
    for name, rule in (("vip", {"vip": {"level": 2}}),
                       ("visits", {"store_visits": {"min_count": 3, "within": "30d"}})):
        compiled = compile_rule(parse_rule(rule, host))
        out[name] = []
        for doc in contacts:
            match, recheck = compiled.evaluate(ContactView(doc), now)
            out[name].append([match, None if recheck is None else recheck.isoformat()])
    print(json.dumps(out))
    '''
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """Another module's checkout: its own core and plugins, the plugin installed by entry point."""
    root = tmp_path / "loyalty"
    (root / "core").mkdir(parents=True)
    (root / "core" / "__init__.py").write_text('WHOSE = "the loyalty project"\n')
    (root / "plugins").mkdir()
    (root / "plugins" / "__init__.py").write_text("")
    (root / "plugins" / "loyalty_segments.py").write_text(PLUGIN_SOURCE)
    dist = root / "loyalty_segments-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: loyalty-segments\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[growthos.segments]\nloyalty = plugins.loyalty_segments\n")
    return root


def _run(args: list[str], project: Path, **kwargs: str) -> str:
    """A fresh interpreter with the project as cwd and first on sys.path, as its own code runs."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    return subprocess.run([sys.executable, *args], cwd=project, env=env, capture_output=True,
                          text=True, check=True, timeout=120, **kwargs).stdout


def test_the_plugin_imports_the_kit_only() -> None:
    tree = ast.parse(PLUGIN_SOURCE)
    engine = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("growthos"):
            engine.add(node.module)
        if isinstance(node, ast.Import):
            engine.update(alias.name for alias in node.names if alias.name.startswith("growthos"))
    assert engine
    assert all(module == "growthos_segments.kit" or module.startswith("growthos_segments.kit.")
               for module in engine), engine


def test_the_readme_plugin_runs_in_a_project_with_its_own_core(project: Path) -> None:
    result = json.loads(_run(["-c", RUN], project))
    assert result["core"] == "the loyalty project"
    assert result["catalog"] == ["store_visits", "vip"]
    assert result["vip"] == [[True, None], [False, None]]
    # Three visits in the last 30 days until the oldest (Nov 1, 10:00) leaves the window.
    assert result["visits"] == [[True, "2026-12-01T10:00:00+00:00"], [False, None]]


def test_the_cli_picks_the_plugin_up(project: Path) -> None:
    (project / "rule.json").write_text(json.dumps({"vip": {"level": 2}}))
    (project / "contacts.jsonl").write_text('{"contact_id": "a", "attributes": {"vip_level": 5}}\n'
                                            '{"contact_id": "b", "attributes": {}}\n')
    out = _run(["-m", "growthos_segments.devstack.cli", "evaluate", "--rule", "rule.json",
                "--contacts", "contacts.jsonl", "--now", "2026-11-22T12:00:00Z"], project)
    assert [json.loads(line)["match"] for line in out.splitlines()] == [True, False]
