"""Explaining a contact in a real browser against the local stack: a member and a
non-member of the seeded ``engaged`` segment (opened at least 3 emails and clicked
one in the last 30 days, so a member's answer has a re-check time), each node of
the rule marked matched / not matched / skipped with the event counts it read, the
contact's other segments, and ids the API does not know or cannot take.

The fixtures (the stack, the browser, screenshots) are in ``conftest.py``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.web.conftest import STEP_TIMEOUT_MS, WEB_MARKS, get, open_app, post, shoot, sync_api

pytestmark = WEB_MARKS

SEGMENT = "engaged"
NOT_FOUND = "the server responded with a status of 404"


def members(api: str, segment: str) -> set[str]:
    found: set[str] = set()
    cursor = None
    while True:
        page = get(api, f"/segments/{segment}/members?limit=500" + (f"&cursor={cursor}" if cursor else ""))
        found.update(page["members"])
        cursor = page["cursor"]
        if cursor is None:
            return found


def short_circuited_non_member(api: str, inside: set[str]) -> str:
    """A demo contact outside the segment whose rule stops at its first condition,
    so the second is skipped: the API's own answer picks it, the page must draw it."""
    for number in range(1, 201):
        contact = f"c{number}"
        if contact in inside:
            continue
        trace = post(api, f"/segments/{SEGMENT}/explain/{contact}", None)["trace"]
        if trace["children"][1].get("short_circuited"):
            return contact
    raise AssertionError("no non-member of engaged fails its first condition")


def other_segment_names(api: str, contact: str) -> list[str]:
    entries = get(api, f"/contacts/{contact}/segments")["segments"]
    return [entry["name"] for entry in entries if entry["segment_id"] != SEGMENT]


def test_explain_a_member_and_a_non_member(api: str, page: Any, artifacts: Path) -> None:
    expect = sync_api.expect
    inside = members(api, SEGMENT)
    member = sorted(inside)[0]
    outsider = short_circuited_non_member(api, inside)

    open_app(page, api, "/explain")
    page.get_by_label("segment", exact=True).fill(SEGMENT)
    page.get_by_label("contact id").fill(member)
    page.get_by_role("button", name="Explain").click()
    expect(page).to_have_url(re.compile(rf"#/explain/{SEGMENT}/{member}$"))
    expect(page.get_by_test_id("explain-verdict")).to_contain_text(f"{member} is a member of “Engaged”")
    expect(page.get_by_test_id("explain-stored")).to_contain_text("member since")
    recheck = re.compile(r"Re-checked .* \(in \d+ (day|hour)s?\)")
    expect(page.get_by_test_id("explain-recheck")).to_contain_text(recheck)
    expect(page.get_by_test_id("explain-disagreement")).to_have_count(0)
    for path in ("", "/and/0", "/and/1"):
        mark = page.get_by_test_id(f"trace-node{path}").get_by_test_id("trace-mark").first
        expect(mark).to_have_text("✓ matched")
    opened = page.get_by_test_id("trace-node/and/0")
    expect(opened).to_contain_text("Email action count: email opened at least 3 times in the last 30d")
    expect(opened.get_by_role("definition")).to_have_text(re.compile(r"^\d+$"))
    expect(opened).to_contain_text("email.opened events counted")
    others = page.get_by_test_id("other-segments")
    for name in other_segment_names(api, member):
        expect(others.get_by_role("link", name=name, exact=True)).to_be_visible()
    shoot(page, artifacts, "20-explain-member")

    open_app(page, api, f"/explain/{SEGMENT}/{outsider}")
    expect(page.get_by_test_id("explain-verdict")).to_contain_text(f"{outsider} is not a member of “Engaged”")
    expect(page.get_by_label("contact id")).to_have_value(outsider)
    expect(page.get_by_test_id("explain-stored")).to_have_text("not a member")
    root, first, second = (page.get_by_test_id(f"trace-node{p}") for p in ("", "/and/0", "/and/1"))
    expect(root.get_by_test_id("trace-mark").first).to_have_text("✗ not matched")
    expect(first.get_by_test_id("trace-mark")).to_have_text("✗ not matched")
    expect(first.get_by_role("definition")).to_have_text(re.compile(r"^[0-2]$"))
    expect(second.get_by_test_id("trace-mark")).to_have_text("↷ skipped")
    expect(second).to_contain_text("not needed for the answer")
    because = page.get_by_test_id("trace-reasons").get_by_role("listitem")
    reason = "✗ not matched Email action count: email opened at least 3 times in the last 30d"
    expect(because).to_have_text([reason], use_inner_text=True)
    names = other_segment_names(api, outsider)
    others = page.get_by_test_id("other-segments")
    if names:
        expect(others.get_by_role("link")).to_have_count(2 * len(names))  # its page and "explain"
    else:
        expect(others).to_have_text(f"{outsider} is in no other segment.")
    shoot(page, artifacts, "21-explain-non-member")

    rule = {"or": [{"segment": {"id": SEGMENT}},
                   {"and": [{"!": {"attribute": {"field": "plan", "op": "equals", "value": "free"}}},
                            {">": [{"var": "attributes.custom.seats"}, 10]}]}]}
    post(api, "/segments", {"id": "web_explain_mix", "name": "Engaged, or paying teams", "rule": rule,
                            "exclude_segments": ["detractors"]})
    open_app(page, api, f"/explain/web_explain_mix/{member}")
    # saved after the app read its segments: the page reads them again for the name
    expect(page.get_by_test_id("explain-verdict")).to_contain_text("of “Engaged, or paying teams”")
    reference = page.get_by_test_id("trace-node/and/0/or/0")
    expect(reference.get_by_test_id("trace-mark").first).to_have_text("✓ matched")
    expect(reference.get_by_role("link", name="In the segment “Engaged”")).to_be_visible()
    teams = page.get_by_test_id("trace-node/and/0/or/1")
    expect(teams.get_by_test_id("trace-mark")).to_have_text(["↷ skipped"] * 4)  # the group and all below it
    expect(teams.get_by_test_id("trace-node/and/0/or/1/and/0")).to_contain_text("Not this (NOT)")
    expect(teams.get_by_test_id("trace-node/and/0/or/1/and/1")).to_contain_text('{">":[{"var":"attributes.custom.seats"},10]}')
    expect(teams).to_contain_text("attributes.plan")
    excluded = page.get_by_test_id("trace-node/and/1/!")
    expect(excluded).to_contain_text("In the segment “Detractors”")
    shoot(page, artifacts, "22-explain-nested")

    open_app(page, api, f"/explain/{SEGMENT}/")  # the segment page's link: the segment chosen, no contact yet
    expect(page.get_by_label("segment", exact=True)).to_have_value(SEGMENT)
    expect(page.get_by_label("contact id")).to_be_focused()
    expect(page.get_by_test_id("explain-answer")).to_have_count(0)
    page.keyboard.type("bad#id")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("explain-problem")).to_contain_text("“bad#id” is not a contact id")
    expect(page).to_have_url(re.compile(rf"#/explain/{SEGMENT}/$"))
    shoot(page, artifacts, "23-explain-bad-id")


def test_ids_the_api_does_not_know_are_named(api: str, page: Any, artifacts: Path) -> None:
    # The API's 404 is the answer under test, and chromium logs every 404 as a console
    # error: this tab allows exactly that one message; the fixture's tab stays strict.
    tab = page.context.browser.new_page(viewport={"width": 1280, "height": 1000})
    problems: list[str] = []
    tab.on("console", lambda m: m.type == "error" and NOT_FOUND not in m.text and problems.append(m.text))
    tab.on("pageerror", lambda error: problems.append(str(error)))
    tab.set_default_timeout(STEP_TIMEOUT_MS)

    open_app(tab, api, f"/explain/{SEGMENT}/nobody99")
    problem = tab.get_by_test_id("explain-problem")
    sync_api.expect(problem).to_have_text(
        "No contact “nobody99” in this tenant. Check the id: "
        "it is the contact's id as your systems send it, and case matters."
    )
    shoot(tab, artifacts, "24-explain-unknown-contact")
    open_app(tab, api, "/explain/no_such_segment/c1")
    sync_api.expect(problem).to_have_text("No segment “no_such_segment” in this tenant.")
    assert problems == [], "console errors on the page"
