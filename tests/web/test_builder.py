"""The Segment Builder in a real browser (Debian's chromium driven by Playwright)
against the local stack: build a two-level rule by clicking, see its estimate, see
a validation error on the node it names and fix it, save.

The fixtures (the stack, the browser, screenshots) are in ``conftest.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.web.conftest import WEB_MARKS, get, open_app, shoot, sync_api

pytestmark = WEB_MARKS


def group(page: Any, *path: int) -> Any:
    """The rule group at ``path`` in react-querybuilder's tree (no indexes: the root)."""
    return page.locator(f".ruleGroup[data-path='{json.dumps(list(path), separators=(',', ':'))}']")


def add_rule(page: Any, condition: str, *path: int) -> None:
    """Clicks "+ Rule" in the group at ``path`` and picks the condition type of the new rule."""
    scope = group(page, *path)
    scope.locator(":scope > .ruleGroup-header > .ruleGroup-addRule").click()
    rule = scope.locator(":scope > .ruleGroup-body > .rule").last
    rule.locator('select[aria-label="condition type"]').select_option(condition)


def test_build_estimate_fix_and_save_a_two_level_rule(api: str, page: Any, artifacts: Path) -> None:
    open_app(page, api, "/new")
    estimate = page.get_by_test_id("estimate")
    sync_api.expect(estimate).to_contain_text("add a condition")
    shoot(page, artifacts, "01-connected")

    add_rule(page, "email")
    group(page).locator(":scope > .ruleGroup-header > .ruleGroup-addGroup").click()
    add_rule(page, "attribute", 1)
    add_rule(page, "score", 1)
    group(page, 1).locator(":scope > .ruleGroup-header .ruleGroup-combinators").select_option("or")
    sync_api.expect(page.get_by_test_id("estimate-value")).to_be_visible()
    sync_api.expect(estimate).to_contain_text("exact")
    shoot(page, artifacts, "02-two-level-rule-estimated")

    within = page.get_by_test_id("node-0").locator('input[id$="within"]')
    within.fill("banana")
    errors = page.get_by_test_id("errors-0")
    sync_api.expect(errors).to_contain_text("within: not a duration")
    sync_api.expect(estimate).to_contain_text("errors")
    shoot(page, artifacts, "03-validation-error-on-its-node")

    within.fill("7d")
    sync_api.expect(errors).to_have_count(0)
    sync_api.expect(page.get_by_test_id("estimate-value")).to_be_visible()
    shoot(page, artifacts, "04-fixed")

    page.get_by_label("segment id").fill("web_two_level")
    page.get_by_label("segment name").fill("Opened lately, or a plan and a score")
    page.get_by_role("button", name="Save").click()
    sync_api.expect(page.get_by_test_id("save-result")).to_contain_text("saved web_two_level (version 1)")
    shoot(page, artifacts, "05-saved")

    rule = get(api, "/segments/web_two_level")["rule"]
    assert list(rule) == ["and"] and len(rule["and"]) == 2
    assert rule["and"][0]["email"]["within"] == "7d"
    assert [next(iter(node)) for node in rule["and"][1]["or"]] == ["attribute", "score"]


def test_json_view_round_trips_and_the_keyboard_moves_a_rule(api: str, page: Any, artifacts: Path) -> None:
    open_app(page, api, "/new")
    page.get_by_text("JSON", exact=True).click()
    score = {"score": {"name": "nps", "gte": 9}}
    email = {"email": {"action": "opened", "within": "30d"}}
    plain = {"in": ["vip", {"var": "tags"}]}
    rule = {"and": [score, {"or": [email, {"!": plain}]}]}
    view = page.get_by_label("rule JSON")
    view.fill(json.dumps(rule))
    page.get_by_role("button", name="Apply JSON").click()
    sync_api.expect(group(page, 1, 1)).to_be_visible()  # the negated JsonLogic leaf is a NOT group
    assert json.loads(page.get_by_label("JsonLogic").input_value()) == plain
    assert json.loads(view.input_value()) == rule
    sync_api.expect(page.get_by_test_id("estimate-value")).to_be_visible()
    shoot(page, artifacts, "06-from-json")

    shift_down = page.locator(".rule[data-path='[0]'] .shiftActions button[title='Shift down']")
    shift_down.focus()
    page.keyboard.press("Enter")  # into the OR group, first
    moved = page.locator(".rule[data-path='[0,0]'] select[aria-label='condition type']")
    sync_api.expect(moved).to_have_value("score")
    assert json.loads(view.input_value()) == {"or": [score, email, {"!": plain}]}
    shoot(page, artifacts, "07-moved-by-keyboard")
