"""The Segment Builder in a real browser (Debian's chromium driven by Playwright)
against the local stack: build a two-level rule by clicking, see its estimate, see
a validation error on the node it names and fix it, save.

The fixtures (the stack, the browser, screenshots) are in ``conftest.py``.
"""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path
from typing import Any

from growthos_segments.devstack.demo_data import api_key_for
from tests.web.conftest import WEB_MARKS, Dialogs, get, open_app, post, shoot, sync_api

pytestmark = WEB_MARKS


def group(page: Any, *path: int) -> Any:
    """The rule group at ``path`` in react-querybuilder's tree (no indexes: the root)."""
    return page.locator(f".ruleGroup[data-path='{json.dumps(list(path), separators=(',', ':'))}']")


def condition_type(page: Any, *path: int) -> Any:
    """The condition-type select of the rule at ``path``."""
    where = json.dumps(list(path), separators=(",", ":"))
    return page.locator(f".rule[data-path='{where}'] select[aria-label='condition type']")


def add_rule(page: Any, condition: str, *path: int) -> None:
    """Clicks "+ Rule" in the group at ``path`` and picks the condition type of the new rule."""
    scope = group(page, *path)
    scope.locator(":scope > .ruleGroup-header > .ruleGroup-addRule").click()
    rule = scope.locator(":scope > .ruleGroup-body > .rule").last
    rule.locator('select[aria-label="condition type"]').select_option(condition)


def test_build_estimate_fix_and_save_a_two_level_rule(
    api: str, page: Any, artifacts: Path, dialogs: Dialogs
) -> None:
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

    # Leaving with unsaved edits asks first; staying keeps them.
    pages = page.get_by_role("navigation", name="pages")
    dialogs.accept = False
    pages.get_by_role("link", name="All segments").click()
    assert dialogs.seen == ["confirm"]
    sync_api.expect(page).to_have_url(re.compile(r"#/new$"))
    dialogs.accept = True

    page.get_by_label("segment id").fill("web_two_level")
    page.get_by_label("segment name").fill("Opened lately, or a plan and a score")
    page.get_by_role("button", name="Save").click()
    # A new segment is then edited at its own address, the save's result in view.
    sync_api.expect(page).to_have_url(re.compile(r"#/segments/web_two_level/edit$"))
    sync_api.expect(page.get_by_test_id("save-result")).to_contain_text("saved web_two_level (version 1)")
    sync_api.expect(page.get_by_role("button", name="Save a new version")).to_be_visible()
    shoot(page, artifacts, "05-saved")
    name = page.get_by_label("segment name")
    name.fill("Renamed, not saved")
    page.reload()  # the browser's own prompt, accepted: the edit is dropped
    assert dialogs.seen == ["confirm", "beforeunload"]
    sync_api.expect(name).to_have_value("Opened lately, or a plan and a score")
    name.fill("Renamed, then discarded")
    page.get_by_role("button", name="Discard changes").click()
    sync_api.expect(name).to_have_value("Opened lately, or a plan and a score")
    pages.get_by_role("link", name="All segments").click()  # nothing unsaved: no question
    sync_api.expect(page).to_have_url(re.compile(r"#/$"))
    assert dialogs.seen == ["confirm", "beforeunload"]

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


EXPECTED_CONSOLE_ERRORS = ("the server responded with a status of 409",)
"""The conflict test provokes one 409 on purpose (a save over a newer version)."""


def put(api: str, path: str, body: Any) -> Any:
    request = urllib.request.Request(
        api + path, data=json.dumps(body).encode(), method="PUT",
        headers={"x-api-key": api_key_for("demo"), "content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def apply_json(page: Any, rule: Any) -> None:
    page.get_by_text("JSON", exact=True).click()
    page.get_by_label("rule JSON").fill(json.dumps(rule))
    page.get_by_role("button", name="Apply JSON").click()


def test_template_warnings_counts_new_version_and_conflict(api: str, page: Any, artifacts: Path) -> None:
    template = next(t for t in get(api, "/templates")["templates"] if t["id"] == "at_risk")
    open_app(page, api, f"/new/template/{template['id']}")
    sync_api.expect(page.get_by_label("segment name")).to_have_value(template["name"])
    sync_api.expect(page.get_by_test_id("estimate-value")).to_be_visible()
    shoot(page, artifacts, "08-builder-from-template")
    page.get_by_label("segment id").fill("web_at_risk")
    page.get_by_role("button", name="Save", exact=True).click()
    sync_api.expect(page.get_by_test_id("save-result")).to_contain_text("saved web_at_risk (version 1)")
    assert get(api, "/segments/web_at_risk")["rule"] == template["rule"]

    # A typo in an attribute path: a warning with the suggestion on its node, and each
    # top-level condition's size alone beside it.
    open_app(page, api, "/new")
    typo = {"attribute": {"field": "pln", "op": "equals", "value": "pro"}}
    tag = {"tag": {"tags": ["vip"]}}
    score = {"score": {"name": "nps", "gte": 9}}
    last = {"email_last": {"action": "opened", "within": "7d"}}
    apply_json(page, {"and": [tag, {"or": [typo, score]}, last]})
    warning = page.get_by_test_id("warnings-1.0")
    sync_api.expect(warning).to_contain_text("attributes.pln")
    sync_api.expect(warning).to_contain_text("did you mean 'plan'?")
    for node in ("0", "1", "2"):
        sync_api.expect(page.get_by_test_id(f"alone-{node}")).to_contain_text("alone:")
    for offered in ("plan", "vip", "nps"):  # the tenant's attribute paths, tags and scores
        assert page.locator(f"datalist option[value='{offered}']").count() > 0, offered
    shoot(page, artifacts, "09-builder-warning-and-counts-alone")

    # Edit the saved segment: version 2, with its manual lists kept.
    segment_id = "web_versions"
    post(api, "/segments", {"id": segment_id, "name": "Versions", "rule": tag, "exclude_contacts": ["c1"]})
    open_app(page, api, f"/segments/{segment_id}/edit")
    name = page.get_by_label("segment name")
    sync_api.expect(name).to_have_value("Versions")
    name.fill("Versions, renamed")
    page.get_by_role("button", name="Save a new version").click()
    sync_api.expect(page.get_by_test_id("save-result")).to_contain_text(f"saved {segment_id} (version 2)")
    saved = get(api, f"/segments/{segment_id}")
    assert (saved["name"], saved["rule"], saved["exclude_contacts"]) == ("Versions, renamed", tag, ["c1"])
    shoot(page, artifacts, "10-builder-new-version")

    # Someone else saves version 3 meanwhile: the save is refused, Reload shows theirs.
    put(api, f"/segments/{segment_id}", {"version": 2, "name": "Changed elsewhere", "rule": tag})
    name.fill("Mine")
    page.get_by_role("button", name="Save a new version").click()
    conflict = page.get_by_test_id("save-conflict")
    sync_api.expect(conflict).to_contain_text("changed by someone else since you opened it")
    shoot(page, artifacts, "11-builder-conflict")
    conflict.get_by_role("button", name="Reload").click()
    sync_api.expect(page.get_by_label("segment name")).to_have_value("Changed elsewhere")
    sync_api.expect(page.get_by_role("heading", name="version 3")).to_be_visible()
    page.get_by_label("segment name").fill("Mine, after reloading")
    page.get_by_role("button", name="Save a new version").click()
    sync_api.expect(page.get_by_test_id("save-result")).to_contain_text(f"saved {segment_id} (version 4)")
    assert get(api, f"/segments/{segment_id}")["name"] == "Mine, after reloading"


def test_drag_a_condition_into_another_group(api: str, page: Any, artifacts: Path) -> None:
    """Playwright drives a real HTML5 drag in chromium (mouse down on the handle, moves,
    mouse up over the target), which react-dnd's HTML5 backend receives as the browser's
    own dragstart / dragover / drop events: nothing is dispatched by hand."""
    open_app(page, api, "/new")
    tag = {"tag": {"tags": ["vip"]}}
    score = {"score": {"name": "nps", "gte": 9}}
    email = {"email": {"action": "opened", "within": "30d"}}
    apply_json(page, {"and": [tag, {"or": [score, email]}]})
    sync_api.expect(group(page, 1)).to_be_visible()
    handle = page.locator(".rule[data-path='[0]'] > .queryBuilder-dragHandle")
    handle.drag_to(page.locator(".rule[data-path='[1,0]']"))
    sync_api.expect(condition_type(page, 0, 1)).to_have_value("tag")
    assert json.loads(page.get_by_label("rule JSON").input_value()) == {"or": [score, tag, email]}
    sync_api.expect(page.get_by_test_id("estimate-value")).to_be_visible()
    shoot(page, artifacts, "12-builder-dragged-into-a-group")

    # An example fills the form, and what it sets is in view, not folded under "more options".
    page.get_by_test_id("node-0.0").get_by_role("button", name="name lead, at least 50, less than 80").click()
    sync_api.expect(page.get_by_test_id("node-0.0").get_by_label("less than")).to_have_value("80")
    sync_api.expect(page.get_by_test_id("node-0.0").get_by_label("less than")).to_be_visible()
    lead = {"score": {"name": "lead", "gte": 50, "lt": 80}}
    assert json.loads(page.get_by_label("rule JSON").input_value()) == {"or": [lead, tag, email]}


def tab_to(page: Any, selector: str, most: int = 120) -> None:
    """Presses Tab until the focused element matches ``selector`` (reading which element
    has the focus is all the script does besides pressing keys)."""
    for _ in range(most):
        if page.evaluate("s => document.activeElement?.matches(s) ?? false", selector):
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached {selector}")


def test_keyboard_only_build_and_save(api: str, page: Any, artifacts: Path) -> None:
    """Tab, Enter, Space, arrow keys and typing only: no click, no fill, no focus()."""
    open_app(page, api, "/new")
    keys = page.keyboard
    tab_to(page, ".ruleGroup[data-path='[]'] > .ruleGroup-header > .ruleGroup-addRule")
    keys.press("Enter")
    tab_to(page, ".rule[data-path='[0]'] input[aria-label='search condition types']")
    keys.type("Email action count")
    keys.press("Tab")  # the condition type: only the matching type is offered before "other"
    keys.press("ArrowDown")
    sync_api.expect(condition_type(page, 0)).to_have_value("email")
    tab_to(page, ".rule[data-path='[0]'] input[id$='within']")
    keys.press("Control+A")
    keys.type("7d")
    tab_to(page, ".ruleGroup[data-path='[]'] > .ruleGroup-header > .ruleGroup-addGroup")
    keys.press("Space")
    tab_to(page, ".ruleGroup[data-path='[1]'] > .ruleGroup-header > .ruleGroup-addRule")
    keys.press("Enter")
    tab_to(page, ".rule[data-path='[1,0]'] input[aria-label='search condition types']")
    keys.type("RFM score")
    keys.press("Tab")
    keys.press("ArrowDown")
    sync_api.expect(condition_type(page, 1, 0)).to_have_value("rfm_score")
    sync_api.expect(page.get_by_test_id("estimate-value")).to_be_visible()
    tab_to(page, "input[aria-label='segment id']")
    keys.type("web_keyboard")
    keys.press("Tab")
    keys.type("Built with the keyboard")
    shoot(page, artifacts, "13-builder-keyboard-only")
    keys.press("Enter")  # submits the save form
    sync_api.expect(page.get_by_test_id("save-result")).to_contain_text("saved web_keyboard (version 1)")
    rule = get(api, "/segments/web_keyboard")["rule"]
    assert rule == {"and": [{"email": {"action": "opened", "min_count": 3, "within": "7d"}},
                            {"rfm_score": {"dimension": "monetary", "min": 4}}]}


def test_static_segment_and_exclusions(api: str, page: Any, artifacts: Path) -> None:
    open_app(page, api, "/new")
    page.get_by_label("segment type").select_option("static")
    sync_api.expect(page.locator(".queryBuilder")).to_have_count(0)  # a static segment has no rule
    page.get_by_label("contacts of the static segment").fill("c1\nc2, c3")
    page.get_by_label("segment id").fill("web_static")
    page.get_by_label("segment name").fill("Hand-picked")
    page.get_by_role("button", name="Save", exact=True).click()
    sync_api.expect(page.get_by_test_id("save-result")).to_contain_text("saved web_static (version 1)")
    shoot(page, artifacts, "14-builder-static")
    saved = get(api, "/segments/web_static")
    assert (saved["type"], saved["rule"], saved["include_contacts"]) == ("static", None, ["c1", "c2", "c3"])

    open_app(page, api, "/")
    open_app(page, api, "/new")  # a new builder (the same address would keep the saved one)
    apply_json(page, {"tag": {"tags": ["vip"]}})
    sync_api.expect(page.get_by_test_id("estimate-value")).to_be_visible()
    page.get_by_text("Manual include / exclude").click()
    # The size counts the manual picks as a save would: one more included, then one member excluded.
    value = page.get_by_test_id("estimate-value")
    size = int(value.inner_text().replace(",", ""))
    vip = {"tag": {"tags": ["vip"]}}
    member = post(api, "/rules/count", {"rule": vip, "members": True, "limit": 1})["members"][0]
    outsider = post(api, "/rules/count", {"rule": {"!": vip}, "members": True, "limit": 1})["members"][0]
    page.get_by_label("always include contacts").fill(outsider)
    sync_api.expect(value).to_have_text(f"{size + 1:,}")
    page.get_by_label("always exclude contacts").fill(member)
    sync_api.expect(value).to_have_text(f"{size:,}")
    page.get_by_label("always include contacts").fill("")
    page.get_by_label("exclude segments").select_option(label="Hand-picked")
    page.get_by_label("always exclude contacts").fill("c9")
    page.get_by_label("segment id").fill("web_exclusions")
    page.get_by_label("segment name").fill("VIPs but not the hand-picked")
    page.get_by_role("button", name="Save", exact=True).click()
    sync_api.expect(page.get_by_test_id("save-result")).to_contain_text("saved web_exclusions (version 1)")
    sync_api.expect(page.get_by_label("segment id")).to_have_attribute("readonly", "")

    # A segment reference is chosen by name among the tenant's segments, never itself.
    page.get_by_text("JSON", exact=True).click()
    group(page).locator(":scope > .ruleGroup-header > .ruleGroup-addRule").click()
    condition_type(page, 1).select_option("segment")
    chooser = page.locator(".rule[data-path='[1]'] select[aria-label='segment']")
    assert chooser.locator("option", has_text="VIPs but not the hand-picked").count() == 0
    offered = chooser.locator("option").all_inner_texts()
    chooser.select_option(label=next(text for text in offered if text.startswith("Hand-picked")))
    view = page.get_by_label("rule JSON")
    reference = {"segment": {"id": "web_static"}}
    assert json.loads(view.input_value()) == {"and": [{"tag": {"tags": ["vip"]}}, reference]}
    page.get_by_role("button", name="Save a new version").click()
    sync_api.expect(page.get_by_test_id("save-result")).to_contain_text("saved web_exclusions (version 2)")
    page.get_by_role("link", name="open its page").click()
    sync_api.expect(page).to_have_url(re.compile(r"#/segments/web_exclusions$"))
    saved = get(api, "/segments/web_exclusions")
    assert (saved["exclude_segments"], saved["exclude_contacts"]) == (["web_static"], ["c9"])


def test_every_condition_type_draws_its_form(api: str, page: Any, artifacts: Path) -> None:
    """Every example of every condition type in the catalog, in one rule: each gets a params
    form with no console error, and the rule comes back from the tree unchanged."""
    catalog = get(api, "/condition-types")["condition_types"]
    examples = [example for entry in catalog for example in entry["examples"]]
    open_app(page, api, "/new")
    apply_json(page, {"or": examples})
    forms = page.locator(".rule .params")
    sync_api.expect(forms).to_have_count(len(examples))
    for details in page.locator(".more-options").all():
        details.locator("summary").click()
    assert json.loads(page.get_by_label("rule JSON").input_value()) == {"or": examples}
    shoot(page, artifacts, "15-builder-every-condition-type")

    # An event's property filter names its property once, in the input that renames it.
    where = {"amount": {"op": "greater_than", "value": 100}}
    page.get_by_label("rule JSON").fill(json.dumps({"event": {"name": "order.completed", "where": where}}))
    page.get_by_role("button", name="Apply JSON").click()  # the JSON view is still open
    node = page.locator(".rule").first
    sync_api.expect(node.get_by_label("property name")).to_have_value("amount")
    sync_api.expect(node.get_by_text("amount", exact=True)).to_have_count(0)  # no label, no heading
    shoot(page, artifacts, "16-builder-event-property-filter")
    node.get_by_label("property name").fill("total")
    node.get_by_label("property name").press("Tab")
    assert json.loads(page.get_by_label("rule JSON").input_value()) == {
        "event": {"name": "order.completed", "where": {"total": where["amount"]}}}
