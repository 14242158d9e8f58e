"""Time handling shared by every condition and every layer.

Evaluation is a pure function of (view, now): conditions never read the clock,
they receive ``now`` as an aware UTC datetime. Customers' values arrive as
ISO-8601 strings of varying precision, so parsing lives here, once, with defined
results for bad input (``None``) instead of exceptions on the hot path
(:func:`parse_instant`). The times the engine writes itself (stored stamps, API
answers, keys) are written by :func:`to_iso` and read back by :func:`parse_iso`.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import overload
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "DURATION_RE",
    "UTC",
    "as_utc",
    "parse_duration",
    "parse_instant",
    "parse_iso",
    "parse_now",
    "to_iso",
    "zone",
]

DURATION_RE = re.compile(r"^(\d{1,6})\s*(m|min|h|d|w)$")
_UNIT_SECONDS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """Parse ``"30d"``, ``"12h"``, ``"15m"``, ``"2w"``; raises ``ValueError`` otherwise."""
    match = DURATION_RE.match(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"not a duration: {text!r} (use e.g. '15m', '12h', '30d', '2w')")
    return timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])


@lru_cache(maxsize=64)
def zone(name: str) -> tzinfo:
    """Return the IANA zone ``name``; raises ``ValueError`` for an unknown zone."""
    if name in ("UTC", "Z", "utc"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: a folder of zones ("America")
        raise ValueError(f"unknown time zone {name!r}") from exc


def as_utc(moment: datetime) -> datetime:
    """Naive datetimes are taken as UTC; aware ones are converted to UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


@lru_cache(maxsize=4096)
def _parse_text(text: str, tz: tzinfo) -> datetime | None:
    text = text.strip()  # cached by the raw text, so this runs once per distinct value
    try:
        if len(text) == 10:  # a calendar date: midnight in the given zone
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=tz).astimezone(UTC)
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=tz)
        return moment.astimezone(UTC)
    except (ValueError, OverflowError):  # not a date, or one that is outside years 1-9999 in UTC
        return None


def parse_instant(value: object, tz: tzinfo = UTC) -> datetime | None:
    """Read a stored timestamp as an aware UTC datetime, or ``None`` if it is not one.

    Accepts ISO-8601 date-times (``Z`` or offsets; naive ones are in ``tz``),
    calendar dates (midnight in ``tz``), ``datetime``/``date`` objects and Unix
    epoch seconds. Booleans are not numbers here (JSON keeps them apart).
    """
    if isinstance(value, str):
        return _parse_text(value, tz)
    try:
        if isinstance(value, datetime):
            return value.replace(tzinfo=tz).astimezone(UTC) if value.tzinfo is None else as_utc(value)
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day, tzinfo=tz).astimezone(UTC)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):  # outside years 1-9999 in UTC
        return None
    return None


def parse_now(text: str | None) -> datetime:
    """Parse a user-supplied ``--now``; ``None`` means the current time (CLI only)."""
    if text is None:
        return datetime.now(UTC)
    moment = parse_instant(text)
    if moment is None:
        raise ValueError(f"not an ISO-8601 instant: {text!r}")
    return moment


@overload
def to_iso(moment: datetime, timespec: str = "auto") -> str: ...


@overload
def to_iso(moment: None, timespec: str = "auto") -> None: ...


def to_iso(moment: datetime | None, timespec: str = "auto") -> str | None:
    """Format an instant as ``2026-11-22T10:00:00Z`` (or ``None``), in UTC.

    Every stored or returned time is written by this one function, so they all
    compare as text. A naive datetime is taken as UTC (:func:`as_utc`), never as
    the host's local time. ``timespec`` is :meth:`datetime.isoformat`'s: the
    default shows microseconds only when there are some; ``"microseconds"`` gives
    fixed-width text that sorts in time order (keys, conditional writes).
    """
    if moment is None:
        return None
    return as_utc(moment).isoformat(timespec=timespec).replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    """Read back a time this engine stored (:func:`to_iso`) as an aware UTC datetime.

    Unlike :func:`parse_instant`, which reads what customers' data holds and answers
    ``None`` to anything else, a stored stamp that does not parse is a corrupted
    item: this raises ``ValueError`` so the caller fails loudly instead of treating
    the time as absent. A naive text is taken as UTC.
    """
    return as_utc(datetime.fromisoformat(text))
