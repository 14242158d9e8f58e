"""ISO text of instants: one writer and one strict reader for every stored time."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from growthos_segments.core.timeutil import parse_iso, to_iso


@pytest.fixture
def host_in_new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The host's local time zone is not UTC (a developer's laptop)."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_a_naive_instant_is_utc_whatever_the_host_zone(host_in_new_york: None) -> None:
    assert to_iso(datetime(2026, 11, 22, 10, 0)) == "2026-11-22T10:00:00Z"


def test_iso_text_is_utc_with_z_and_fixed_width_on_request() -> None:
    moment = datetime(2026, 11, 22, 11, 30, tzinfo=timezone(timedelta(hours=1)))
    assert to_iso(moment) == "2026-11-22T10:30:00Z"
    assert to_iso(moment.replace(microsecond=5)) == "2026-11-22T10:30:00.000005Z"
    assert to_iso(moment, "microseconds") == "2026-11-22T10:30:00.000000Z"
    assert to_iso(moment, "minutes") == "2026-11-22T10:30Z"
    assert to_iso(None) is None


def test_stored_stamps_read_back_strictly() -> None:
    assert parse_iso("2026-11-22T10:30:00Z") == datetime(2026, 11, 22, 10, 30, tzinfo=UTC)
    assert parse_iso("2026-11-22T11:30:00+01:00") == datetime(2026, 11, 22, 10, 30, tzinfo=UTC)
    assert parse_iso("2026-11-22T10:30:00") == datetime(2026, 11, 22, 10, 30, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_iso("yesterday")
