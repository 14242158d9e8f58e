"""Time-based operators: ``recheck_at`` is honest.

For random tests, stored values (in every accepted representation) and ``now``:
the result is unchanged at every sampled instant ``t`` with ``now <= t <
recheck_at`` (including ``recheck_at - 1µs``), the predicted ``recheck_at`` does
not move in that interval, it lies strictly after ``now``, and at
``recheck_at`` the result has actually flipped (so it is the earliest change,
not just a safe one). With ``recheck_at`` None, nothing changes over the
following years.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from growthos_segments.core.timeutil import zone
from growthos_segments.kit.operators import ValueTest, compile_value_test

ADAPTER: TypeAdapter[Any] = TypeAdapter(ValueTest)
MICRO = timedelta(microseconds=1)
HORIZON = timedelta(days=3 * 366)

# Zones with DST gaps at local midnight (the GAP_DAYS below), half-hour DST
# (Lord Howe), 45-minute offsets (Chatham), plain DST and no DST.
ZONES = [
    "UTC",
    "Europe/London",
    "America/New_York",
    "America/Santiago",
    "America/Sao_Paulo",
    "America/Havana",
    "Asia/Tehran",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "Asia/Kolkata",
]
GAP_DAYS = {  # local dates whose midnight does not exist (checked against tzdata)
    "America/Santiago": ["2019-09-08", "2026-09-06"],
    "America/Sao_Paulo": ["2017-10-15", "2018-11-04"],
    "America/Havana": ["2026-03-08", "2027-03-14"],
    "Asia/Tehran": ["2021-03-22", "2022-03-22"],
}
UNITS = {"minutes": 60, "hours": 3600, "days": 86400, "weeks": 604800}

random_nows = st.datetimes(
    min_value=datetime(2005, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
)


@st.composite
def time_tests(draw: st.DrawFn) -> tuple[dict[str, Any], int]:
    """A time-based test and its natural span in seconds (where its edges are)."""
    tz = draw(st.sampled_from(ZONES))
    kind = draw(st.sampled_from(["relative", "calendar", "anniversary"]))
    if kind == "relative":
        unit = draw(st.sampled_from(sorted(UNITS)))
        amount = draw(st.integers(1, 400))
        op = draw(st.sampled_from(["within_last", "more_than_ago", "within_next"]))
        return {"op": op, "amount": amount, "unit": unit, "tz": tz}, amount * UNITS[unit]
    if kind == "calendar":
        days = draw(st.one_of(st.integers(0, 3), st.integers(0, 400)))
        op = draw(st.sampled_from(["last_days", "next_days"]))
        return {"op": op, "days": days, "tz": tz}, days * 86400
    period = draw(st.sampled_from(["today", "this_week", "this_month", "in_days", "within_days"]))
    test: dict[str, Any] = {"op": "anniversary", "period": period, "tz": tz}
    if period in ("in_days", "within_days"):
        test["days"] = draw(st.one_of(st.integers(0, 3), st.integers(0, 366)))
    return test, test.get("days", 0) * 86400


@st.composite
def nows_for(draw: st.DrawFn, tz_name: str) -> datetime:
    """Any instant, or one within a few days of a midnight DST gap in the test's zone."""
    gaps = GAP_DAYS.get(tz_name)
    if not gaps or draw(st.booleans()):
        return draw(random_nows)
    day = datetime.fromisoformat(draw(st.sampled_from(gaps))).replace(tzinfo=UTC)
    return day + timedelta(seconds=draw(st.integers(-4 * 86400, 4 * 86400)))


@st.composite
def stored_values(draw: st.DrawFn, now: datetime, span: int, tz_name: str) -> Any:
    """A stored value near ``now`` or a window edge, in any representation we accept."""
    offset = draw(
        st.one_of(
            st.integers(-(10**8), 10**8),
            st.sampled_from([-2, -1, 0, 1, 2]).map(lambda k: k * span),
            st.floats(-2.5, 2.5).map(lambda f: int(f * max(span, 86400))),
        )
    ) + draw(st.integers(-3, 3))
    moment = now + timedelta(seconds=offset, microseconds=draw(st.sampled_from([0, 0, 1, 999999])))
    local = moment.astimezone(zone(tz_name))
    form = draw(st.sampled_from(["z", "offset", "naive", "date", "epoch", "datetime", "feb29"]))
    if form == "z":
        return moment.isoformat().replace("+00:00", "Z")
    if form == "offset":
        return local.isoformat()
    if form == "naive":
        return local.replace(tzinfo=None).isoformat()
    if form == "date":
        return local.date().isoformat()
    if form == "epoch":
        return int(moment.timestamp())
    if form == "feb29":
        return f"{draw(st.sampled_from([1996, 2000, 2024]))}-02-29"
    return moment


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[dict[str, Any], datetime, Any]:
    test, span = draw(time_tests())
    now = draw(nows_for(test["tz"]))
    return test, now, draw(stored_values(now, span, test["tz"]))


def samples(now: datetime, recheck: datetime | None, extra: list[float]) -> list[datetime]:
    end = recheck if recheck is not None else now + HORIZON
    points = [now, now + MICRO, end - MICRO, end - timedelta(seconds=1)]
    points += [now + (end - now) * fraction for fraction in extra]
    return [t for t in points if now <= t < end]


SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(scenario=scenarios(), fractions=st.lists(st.floats(0, 1), min_size=3, max_size=3))
def test_result_and_recheck_hold_until_recheck_at(
    scenario: tuple[dict[str, Any], datetime, Any], fractions: list[float]
) -> None:
    test, now, value = scenario
    fn = compile_value_test(ADAPTER.validate_python(test))
    match, recheck = fn(value, now)
    assert recheck is None or recheck > now
    for t in samples(now, recheck, fractions):
        assert fn(value, t) == (match, recheck), (test, value, now, t)


@SETTINGS
@given(scenario=scenarios())
def test_result_flips_at_recheck_at(scenario: tuple[dict[str, Any], datetime, Any]) -> None:
    test, now, value = scenario
    fn = compile_value_test(ADAPTER.validate_python(test))
    match, recheck = fn(value, now)
    if recheck is not None:
        assert fn(value, recheck)[0] is not match, (test, value, now, recheck)


@settings(max_examples=100, deadline=None)
@given(case=time_tests(), now=random_nows)
def test_unparseable_values_never_match_and_never_recheck(
    case: tuple[dict[str, Any], int], now: datetime
) -> None:
    fn = compile_value_test(ADAPTER.validate_python(case[0]))
    for value in ("", "soon", "2026-02-30", "2026-13-01T00:00:00Z", True, None, [], {}, float("nan")):
        assert fn(value, now) == (False, None)
