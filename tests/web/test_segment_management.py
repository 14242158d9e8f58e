"""Segment management in a real browser against the local stack: a segment's page names
who created and last saved it and the modules that target it; saving or archiving a
segment in use asks for confirmation first, naming them; Duplicate opens the copy.

The fixtures (the stack, the browser, screenshots) are in ``conftest.py``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.web.conftest import WEB_MARKS, get, open_app, send, shoot, sync_api

pytestmark = WEB_MARKS

EXPECTED_CONSOLE_ERRORS = ("the server responded with a status of 409",)
"""The refusals of a change to a segment in use, before the marketer confirms it."""

SEGMENT = "detractors"
"""A demo segment no other demo segment references, so it can be archived."""

expect = sync_api.expect


def test_a_segment_in_use_is_saved_and_archived_only_when_confirmed(
    api: str, page: Any, artifacts: Path
) -> None:
    send(api, "PUT", f"/segments/{SEGMENT}/users/campaign:winback")
    open_app(page, api, f"/segments/{SEGMENT}")
    expect(page.get_by_test_id("segment-users")).to_contain_text("In use by campaign:winback")
    expect(page.get_by_test_id("segment-provenance")).to_contain_text("created by an unnamed key")  # seeded

    # Saving a new version from the builder: the API refuses until the marketer confirms.
    open_app(page, api, f"/segments/{SEGMENT}/edit")
    page.get_by_label("segment name").fill("Detractors (NPS 0-6)")
    page.get_by_role("button", name="Save a new version").click()
    confirm = page.get_by_test_id("save-confirm")
    expect(confirm).to_contain_text("A module targets this segment (campaign:winback)")
    assert get(api, f"/segments/{SEGMENT}")["version"] == 1
    shoot(page, artifacts, "management-01-save-confirm")
    confirm.get_by_role("button", name="Save anyway").click()
    expect(page.get_by_test_id("save-result")).to_contain_text(f"saved {SEGMENT} (version 2)")

    open_app(page, api, f"/segments/{SEGMENT}")
    expect(page.get_by_test_id("segment-provenance")).to_contain_text("version 2 saved by demo-admin")
    page.get_by_role("button", name="Archive").click()
    archiving = page.get_by_test_id("archive-confirm")
    expect(archiving).to_contain_text("A module targets this segment (campaign:winback)")
    shoot(page, artifacts, "management-02-archive-confirm")
    assert get(api, f"/segments/{SEGMENT}")["status"] == "active"
    archiving.get_by_role("button", name="Archive anyway").click()
    expect(page.get_by_test_id("segment-archived")).to_contain_text("Archived")
    assert get(api, f"/segments/{SEGMENT}")["status"] == "archived"

    # A duplicate is a new, active segment with the same rule, created by this key.
    page.get_by_role("button", name="Duplicate").click()
    expect(page.get_by_role("heading", name="Detractors (NPS 0-6) (copy)")).to_be_visible()
    copy_id = re.sub(r".*#/segments/", "", page.url)
    copy = get(api, f"/segments/{copy_id}")
    assert copy_id != SEGMENT and copy["status"] == "active" and copy["created_by"] == "demo-admin"
    assert copy["rule"] == get(api, f"/segments/{SEGMENT}")["rule"]
    expect(page.get_by_test_id("segment-users")).to_contain_text("No module has registered")
    shoot(page, artifacts, "management-03-duplicate")
