"""RFM conditions: recency, frequency, monetary value, quintile scores and named tiers.

Orders are ``order.completed`` events with properties ``amount`` (a number),
``currency`` and ``order_id``.

Raw measures (conditions ``rfm_recency``, ``rfm_frequency``, ``rfm_monetary``)
are computed from the contact alone. Missing data: an order without a numeric
``amount`` counts as an order (frequency, recency) but adds nothing to spend
and is left out of averages; with no order in the window the total is 0 and
the average is unknown (matches nothing). A contact who never ordered has no
recency: ``include_never`` decides.

Scores and tiers (``rfm_score``, ``rfm_tier``) compare the contact with the
rest of its tenant, through quintile thresholds that this plugin computes in
the ``tenant_context`` hook (see :func:`compute_rfm_context`):

- The analysis period is the last :data:`PERIOD` (365 days). A *customer* is
  a contact with at least one order in the period; only customers get scores,
  so a contact whose last order is older than the period has no score and no
  tier (not even "lost": lost customers are still customers of the period).
- Per customer: R = days since the last order (fractional), F = orders in the
  period, M = total amount in the period (amounts summed as numbers, whatever
  their currency: a multi-currency tenant should send converted amounts).
- Thresholds are the 20/40/60/80th percentiles (nearest rank) of R, F and M
  over the tenant's customers. Scores are 1-5: F and M score ``1 +`` the number
  of thresholds strictly below the value (so ties at a threshold score low,
  which keeps a tenant where most customers bought once from calling them all
  frequent); R scores ``5 -`` the number of thresholds at or below the days
  since the last order (fewer days is better). R therefore falls at exactly
  ``last order + threshold``, an instant the scheduler can be given.
- FM is the mean of the F and M scores rounded half up; the tier is a fixed
  5x5 grid over (R, FM), see :data:`TIER_GRID`.

Context and staleness: conditions read ``view.context["rfm"]``. Without it (or
with no customers, or malformed: a list that is not four numbers, a recency cut
beyond 100 years either way) scores and tiers match nothing: the
segment waits for data rather than guessing. A threshold set older than its
``max_age_days`` (default 7) is *stale*; by default (``if_stale: "use"``) it is
still used, because thresholds drift slowly and emptying "champions" because a
nightly job failed would send every member a spurious exit. A condition can
ask for ``if_stale: "no_match"`` instead; then the instant the set turns stale
is part of its ``recheck_at``. A set stamped in the future counts as fresh.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, Self

from pydantic import Field, model_validator

from growthos_segments.core.limits import MAX_SPAN
from growthos_segments.core.timeutil import parse_instant, to_iso
from growthos_segments.kit import ConditionType, ContactView, Event, Predicate, Reads, Result, hookimpl
from growthos_segments.kit.counts import Count, CountWindowFields, count_result
from growthos_segments.kit.numbers import NumberFields, all_of, as_number, bound_checks, number_test
from growthos_segments.kit.occurrences import OccurrenceFields, occurrence_of, occurrence_result
from growthos_segments.kit.params import ParamsModel, one_or_many
from growthos_segments.kit.rechecks import first_change, merged
from growthos_segments.kit.selection import Selector
from growthos_segments.kit.windows import Window, WindowFields
from growthos_segments.kit.wording import describe_count, describe_number, describe_window
from growthos_segments.kit.young import young_reads

CATEGORY = "rfm"
ORDER_EVENT = "order.completed"
PERIOD = timedelta(days=365)
"""The analysis period for scores and tiers (and their declared lookback)."""
MAX_AGE = timedelta(days=7)
"""Default age after which a threshold set is stale."""
_DAY = timedelta(days=1)
ORDERS = Selector.make([ORDER_EVENT])

Tier = Literal[
    "champions",
    "loyal",
    "potential_loyalists",
    "new_customers",
    "promising",
    "need_attention",
    "about_to_sleep",
    "at_risk",
    "cant_lose_them",
    "hibernating",
    "lost",
]
TIERS: tuple[str, ...] = Tier.__args__  # type: ignore[attr-defined]

TIER_GRID: Mapping[int, tuple[str, str, str, str, str]] = {
    # R: tiers for FM = 1, 2, 3, 4, 5
    5: ("new_customers", "potential_loyalists", "potential_loyalists", "champions", "champions"),
    4: ("promising", "potential_loyalists", "potential_loyalists", "loyal", "champions"),
    3: ("about_to_sleep", "about_to_sleep", "need_attention", "loyal", "loyal"),
    2: ("hibernating", "hibernating", "at_risk", "at_risk", "cant_lose_them"),
    1: ("lost", "lost", "at_risk", "at_risk", "cant_lose_them"),
}
"""Every (R, FM) pair has exactly one tier, so tiers never overlap or leave gaps."""


def tier_of(r: int, f: int, m: int) -> str:
    fm = (f + m + 1) // 2
    return TIER_GRID[r][fm - 1]


# --------------------------------------------------------------------------- thresholds


def _cuts(values: Iterable[float]) -> list[float]:
    """The 20/40/60/80th percentiles by nearest rank (values need not be sorted)."""
    ordered = sorted(values)
    n = len(ordered)
    return [ordered[math.ceil(k * n / 5) - 1] for k in (1, 2, 3, 4)]


def compute_rfm_context(
    contacts: Iterable[Mapping[str, Any] | ContactView],
    as_of: datetime,
    *,
    max_age: timedelta = MAX_AGE,
) -> dict[str, Any]:
    """The ``rfm`` tenant context: quintile thresholds over the tenant's customers at ``as_of``.

    Pure (the hook supplies the clock), so tests and backfills can pin ``as_of``.
    ``contacts`` is read once, as a stream; per customer only its three measures
    are kept, in typed arrays (about 24 bytes a customer), never the contact or its
    events, so a tenant of millions fits in a function's memory. The
    percentiles are exact: each dimension is sorted once at the end.
    """
    recency = array("d")
    frequency = array("q")
    monetary = array("d")
    for contact in contacts:
        view = contact if isinstance(contact, ContactView) else ContactView(contact)
        state = _measures(_orders(view), as_of)
        if state is None:
            continue
        since_last, count, spend = state
        recency.append(since_last / _DAY)
        frequency.append(count)
        monetary.append(spend)
    thresholds = None
    if recency:
        thresholds = {
            "recency_days": _cuts(recency),
            "frequency": _cuts(frequency),
            "monetary": _cuts(monetary),
        }
    return {
        "version": 1,
        "computed_at": to_iso(as_of),
        "period_days": PERIOD.days,
        "max_age_days": max_age / _DAY,
        "customers": len(recency),
        "thresholds": thresholds,
    }


@hookimpl
def tenant_context(
    tenant_id: str, contacts: Iterable[ContactView], now: datetime
) -> Mapping[str, Any] | None:
    """RFM thresholds for the tenant as of ``now`` (the caller's instant, never the clock).

    This hook runs off the evaluation path (on a schedule, or when a tenant is
    first loaded); conditions only ever see the stored ``computed_at``. The
    views carry the orders of the last :data:`PERIOD`, which is what the score
    and tier conditions declare they read.
    """
    return {"rfm": compute_rfm_context(contacts, now)}


@hookimpl
def tenant_context_sql() -> Mapping[str, Any]:
    """The ``rfm`` context as one query over the analytical copy (same data as the hook's)."""
    from growthos_segments.plugins.rfm_sql import CONTEXT_FORM

    return {"rfm": CONTEXT_FORM}


def _sql(form: str) -> Callable[[Any], Any]:
    """A type's ``bulk_compile``: its form in :mod:`growthos_segments.plugins.rfm_sql`,
    imported on first use so that only the analytical path loads sqlglot."""

    def bulk_compile(params: Any) -> Any:
        from growthos_segments.plugins import rfm_sql

        return getattr(rfm_sql, form)(params)

    return bulk_compile


@dataclass(frozen=True, slots=True)
class Thresholds:
    """A parsed threshold set: recency cuts as exact durations, F/M cuts as numbers."""

    recency: tuple[timedelta, ...]
    frequency: tuple[float, ...]
    monetary: tuple[float, ...]
    stale_at: datetime | None
    """When the set turns stale (None: it has no valid computed_at, so it is stale already)."""


def _numbers(raw: Any) -> tuple[float, ...] | None:
    if not isinstance(raw, list | tuple) or len(raw) != 4:
        return None
    out = [as_number(x) for x in raw]
    if any(x is None for x in out):
        return None
    return tuple(sorted(x for x in out if x is not None))


def _parse_thresholds(context: Mapping[str, Any]) -> Thresholds | None:
    data = context.get("rfm")
    if not isinstance(data, Mapping):
        return None
    raw = data.get("thresholds")
    if not isinstance(raw, Mapping):
        return None
    recency = _numbers(raw.get("recency_days"))
    frequency = _numbers(raw.get("frequency"))
    monetary = _numbers(raw.get("monetary"))
    if recency is None or frequency is None or monetary is None:
        return None
    computed = parse_instant(data.get("computed_at"))
    max_age = as_number(data.get("max_age_days"))
    age = MAX_AGE if max_age is None or max_age < 0 else timedelta(days=max_age)
    try:
        cuts = tuple(timedelta(days=c) for c in recency)
        stale_at = None if computed is None else computed + age
    except OverflowError:
        return None
    if any(abs(cut) > MAX_SPAN for cut in cuts):
        return None  # an order time plus such a cut would leave the calendar
    return Thresholds(cuts, frequency, monetary, stale_at)


def _thresholds(view: ContactView) -> Thresholds | None:
    return view.memo(("rfm", "thresholds"), lambda: _parse_thresholds(view.context))  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- per-contact measures


@dataclass(frozen=True, slots=True)
class Orders:
    times: list[datetime]
    amounts: list[float]
    """``amounts[i]`` is the amount of the order at ``times[i]`` (:func:`_amounts`)."""


def _amounts(events: Sequence[Event]) -> list[float]:
    """The events' amounts (a missing or non-numeric amount is 0.0) in time order and, at
    one instant, in ascending amount: the order :func:`_total` adds them in.

    Float additions depend on their order, and events of one instant have no order
    the analytical copy keeps; ascending amount is one both paths can follow, so the
    SQL forms (:mod:`growthos_segments.plugins.rfm_sql`) add the same numbers in the
    same order and get the same totals to the last bit.
    """
    return [amount for _, amount in sorted((e.at, as_number(e.properties.get("amount")) or 0.0)
                                           for e in events)]


def _total(amounts: list[float], low: int, high: int) -> float:
    """``amounts[low:high]`` added left to right from 0.0.

    A window's total is a sum over the window's orders only, never a difference of
    running totals since the first order: that would depend, in the last bits, on
    orders older than the window, which a view holding only the declared lookback
    does not have. With no negative amount it never grows as orders leave (float
    addition is monotonic), which :func:`_falling_total_flip` relies on.
    """
    total = 0.0
    for amount in amounts[low:high]:
        total += amount
    return total


def _orders(view: ContactView) -> Orders:
    def compute() -> Orders:
        series = ORDERS.series(view)
        return Orders(series.times, _amounts(series.events))

    return view.memo(("rfm", "orders"), compute)  # type: ignore[no-any-return]


def _measures(orders: Orders, at: datetime) -> tuple[timedelta, int, float] | None:
    """(time since last order, orders in period, spend in period) at ``at``; None: no customer."""
    high = bisect_right(orders.times, at)
    low = bisect_right(orders.times, at - PERIOD, 0, high)
    if high == low:
        return None
    return at - orders.times[high - 1], high - low, _total(orders.amounts, low, high)


def _scores(orders: Orders, cuts: Thresholds, at: datetime) -> tuple[int, int, int] | None:
    state = _measures(orders, at)
    if state is None:
        return None
    since_last, count, spend = state
    r = 5 - bisect_right(cuts.recency, since_last)
    f = 1 + bisect_left(cuts.frequency, count)
    m = 1 + bisect_left(cuts.monetary, spend)
    return r, f, m


def _candidates(orders: Orders, cuts: Thresholds, now: datetime, stale: bool) -> Iterator[datetime]:
    """Every instant after ``now`` at which a score could change, ascending.

    R changes when the time since the last order reaches a threshold, F and M
    when an order leaves the period, everything when a future order lands.
    """
    times = orders.times
    high = bisect_right(times, now)
    low = bisect_right(times, now - PERIOD, 0, high)
    extra = [cuts.stale_at] if stale and cuts.stale_at is not None else []
    if high == len(times):  # the usual case: no future orders, one last order
        last = [times[high - 1] + c for c in cuts.recency] if high else []
        departures = (times[i] + PERIOD for i in range(low, high))
        return merged(last, departures, extra)
    instants = [*extra]
    for i in range(low, len(times)):
        instants.append(times[i] + PERIOD)
        if i >= high - 1:
            instants.extend(times[i] + c for c in cuts.recency)
            instants.append(times[i])
    instants.sort()
    return iter(instants)


IfStale = Literal["use", "no_match"]


class _StaleFields(ParamsModel):
    if_stale: IfStale = Field(
        default="use",
        description=(
            "When the tenant's thresholds are older than their max age: 'use' them anyway "
            "(default), or match nothing until they are recomputed."
        ),
    )


def _score_predicate(
    decide: Callable[[tuple[int, int, int] | None], bool], if_stale: IfStale
) -> Predicate:
    """Evaluate ``decide`` on the contact's scores and find the exact instant it flips."""
    strict = if_stale == "no_match"

    def predicate(view: ContactView, now: datetime) -> Result:
        cuts = _thresholds(view)
        if cuts is None:
            return False, None
        if strict and (cuts.stale_at is None or now >= cuts.stale_at):
            return False, None
        orders = _orders(view)

        def at(moment: datetime) -> bool:
            if strict and cuts.stale_at is not None and moment >= cuts.stale_at:
                return False
            return decide(_scores(orders, cuts, moment))

        match = at(now)
        return match, first_change(match, _candidates(orders, cuts, now, strict), at, now)

    return predicate


# --------------------------------------------------------------------------- rfm_recency


class RecencyParams(OccurrenceFields):
    """Days since the last order: recent (within) or lapsed (older_than), or between."""

    @model_validator(mode="after")
    def _needs_timing(self) -> Self:
        if self.within is None and self.older_than is None:
            raise ValueError("give 'within' (ordered recently) and/or 'older_than' (lapsed)")
        return self


def _compile_recency(p: RecencyParams) -> Predicate:
    occurrence = occurrence_of(p)

    def recency(view: ContactView, now: datetime) -> Result:
        return occurrence_result(ORDERS.series(view).times, occurrence, now)

    return recency


def _describe_recency(p: RecencyParams) -> str:
    parts = []
    if p.within:
        parts.append(f"less than {p.within} ago")
    if p.older_than:
        parts.append(f"at least {p.older_than} ago")
    return "last order " + " and ".join(parts) + (" (or never ordered)" if p.include_never else "")


RFM_RECENCY = ConditionType(
    name="rfm_recency",
    label="Recency: days since last order",
    description=(
        "Time since the last order.completed: 'within' (ordered in the last N) and/or "
        "'older_than' (no order in the last N: 'no order in 60 days'). It flips at exactly "
        "last order + N. A contact who never ordered matches only with include_never."
    ),
    category=CATEGORY,
    params=RecencyParams,
    compile=_compile_recency,
    bulk_compile=_sql("recency_form"),
    reads=lambda p: Reads(events=frozenset({ORDER_EVENT}), lookback=occurrence_of(p).lookback()),
    describe=_describe_recency,
    examples=(
        {"older_than": "60d"},
        {"within": "30d"},
        {"older_than": "30d", "within": "90d"},
    ),
)


# --------------------------------------------------------------------------- rfm_frequency


class FrequencyParams(CountWindowFields):
    """How many orders in a period."""


RFM_FREQUENCY = ConditionType(
    name="rfm_frequency",
    label="Frequency: orders in a period",
    description=(
        "Number of order.completed in a window (within, between, or ever), compared with "
        "min_count / max_count / exactly (none given means at least 1)."
    ),
    category=CATEGORY,
    params=FrequencyParams,
    compile=lambda p: count_result(ORDERS, Window.of(p), Count.of(p), p.young_contacts),
    bulk_compile=_sql("frequency_form"),
    reads=lambda p: Reads(
        events=frozenset({ORDER_EVENT}),
        lookback=Window.of(p).lookback,
        attributes=young_reads(p.young_contacts),
    ),
    describe=lambda p: f"ordered {describe_count(p)} {describe_window(p)}",
    examples=(
        {"min_count": 3, "within": "365d"},
        {"exactly": 1},
        {"exactly": 0, "within": "90d", "young_contacts": "wait"},
    ),
)


# --------------------------------------------------------------------------- rfm_monetary


class _MonetaryTarget(ParamsModel):
    # A base listed last so that its fields come first in the schema and normal form.
    measure: Literal["total", "average"] = Field(
        default="total", description="Sum of order amounts, or their mean (average order value).")
    currency: Annotated[str, Field(pattern=r"^[A-Za-z]{3}$")] | None = Field(
        default=None,
        description="Only orders in this currency (ISO code, any case); default: all orders, "
                    "amounts summed as they are.",
    )


class MonetaryParams(NumberFields, WindowFields, _MonetaryTarget):
    """Total spend or average order value in a window."""


def _monetary_selector(currency: str | None) -> Selector:
    code = currency.upper() if currency else None

    def keep(event: Event) -> bool:
        if as_number(event.properties.get("amount")) is None:
            return False
        if code is None:
            return True
        value = event.properties.get("currency")
        return isinstance(value, str) and value.upper() == code

    return Selector.make([ORDER_EVENT], keep, {"priced": code})


def _compile_monetary(p: MonetaryParams) -> Predicate:
    selector = _monetary_selector(p.currency)
    window = Window.of(p)
    width = window.width
    test = number_test(p)
    average = p.measure == "average"
    amounts_key = ("rfm", "priced", selector.key)

    def value_at(times: list[datetime], amounts: list[float], at: datetime) -> bool:
        high = bisect_right(times, at)
        if width is not None:
            low = bisect_right(times, at - width, 0, high)
        elif window.start is not None:
            assert window.end is not None
            low = bisect_left(times, window.start)
            high = max(low, min(high, bisect_left(times, window.end)))
        else:
            low = 0
        total = _total(amounts, low, high)
        if average:
            return high > low and test(total / (high - low))
        return test(total)

    lows, highs = bound_checks(p)
    floor_ok, ceiling_ok = all_of(lows), all_of(highs)

    def monetary(view: ContactView, now: datetime) -> Result:
        series = selector.series(view)
        times = series.times

        def priced() -> tuple[list[float], bool]:
            amounts = _amounts(series.events)
            return amounts, all(amount >= 0 for amount in amounts)

        amounts, no_refunds = view.memo(amounts_key, priced)
        match = value_at(times, amounts, now)
        high = bisect_right(times, now)
        future = times[high:]
        if width is None:
            stream: Iterable[datetime] = future
        else:
            low = bisect_right(times, now - width, 0, high)
            if not future and not average and no_refunds:
                return match, _falling_total_flip(
                    times, amounts, low, high, width, match, floor_ok, ceiling_ok)
            stream = merged((times[i] + width for i in range(low, len(times))), future)
        return match, first_change(match, stream, lambda at: value_at(times, amounts, at), now)

    return monetary


def _falling_total_flip(
    times: list[datetime], amounts: list[float], low: int, high: int, width: timedelta,
    match: bool, floor_ok: Callable[[float], bool], ceiling_ok: Callable[[float], bool],
) -> datetime | None:
    """When a total that only falls (orders leave, none arrive, no refunds) flips the test.

    The lower bounds can only go from met to unmet and the upper bounds from
    unmet to met, each exactly once, so a binary search over departures finds
    the instant instead of a walk through every order in the window.
    """
    count = high - low

    def after(departed: int) -> float:
        return _total(amounts, low + departed, high)

    if match:
        fails = bisect_left(range(1, count + 1), True, key=lambda j: not floor_ok(after(j)))
        return None if fails == count else times[low + fails] + width
    if not floor_ok(after(0)):
        return None  # too small already, and it only falls
    fits = bisect_left(range(1, count + 1), True, key=lambda j: ceiling_ok(after(j)))
    if fits == count:
        return None
    at = times[low + fits]
    departed = bisect_right(times, at, low, high) - low  # orders at the same instant leave together
    return at + width if floor_ok(after(departed)) else None


RFM_MONETARY = ConditionType(
    name="rfm_monetary",
    label="Monetary: spend or average order value",
    description=(
        "Total spend (sum of order amounts) or average order value in a window, compared with "
        "gte / gt / lte / lt / eq. Orders without a numeric amount are ignored; no orders in "
        "the window is a total of 0 and an unknown average (which matches nothing)."
    ),
    category=CATEGORY,
    params=MonetaryParams,
    compile=_compile_monetary,
    bulk_compile=_sql("monetary_form"),
    reads=lambda p: Reads(events=frozenset({ORDER_EVENT}), lookback=Window.of(p).lookback),
    describe=lambda p: (f"{'average order value' if p.measure == 'average' else 'total spend'} "
                        f"{describe_number(p)} {describe_window(p)}"
                        + (f" ({p.currency.upper()})" if p.currency else "")),
    examples=(
        {"measure": "total", "gte": 500, "within": "365d"},
        {"measure": "average", "gt": 80, "within": "90d", "currency": "EUR"},
        {"measure": "total", "lt": 50, "between": ["2026-01-01", "2026-12-31"]},
    ),
)


# --------------------------------------------------------------------------- rfm_score

ScoreValue = Annotated[int, Field(ge=1, le=5, strict=True)]


class RfmScoreParams(_StaleFields):
    """One RFM score (1-5, from the tenant's quintiles) in a range."""

    dimension: Literal["recency", "frequency", "monetary"]
    min: ScoreValue = Field(default=1, description="Lowest score that matches (inclusive).")
    max: ScoreValue = Field(default=5, description="Highest score that matches (inclusive).")

    @model_validator(mode="after")
    def _range(self) -> Self:
        if self.min > self.max:
            raise ValueError("'min' is larger than 'max': nothing could match")
        return self


def _compile_rfm_score(p: RfmScoreParams) -> Predicate:
    index = ("recency", "frequency", "monetary").index(p.dimension)
    low, high = p.min, p.max

    def decide(scores: tuple[int, int, int] | None) -> bool:
        return scores is not None and low <= scores[index] <= high

    return _score_predicate(decide, p.if_stale)


_CONTEXT_READS = Reads(events=frozenset({ORDER_EVENT}), lookback=PERIOD,
                       context=frozenset({"rfm"}))

RFM_SCORE = ConditionType(
    name="rfm_score",
    label="RFM score",
    description=(
        "The contact's R, F or M score (1-5, from the tenant's quintile thresholds over the "
        "last 365 days) lies in [min, max]. Contacts without an order in the period, or a "
        "tenant without thresholds, never match."
    ),
    category=CATEGORY,
    params=RfmScoreParams,
    compile=_compile_rfm_score,
    bulk_compile=_sql("score_form"),
    reads=lambda p: _CONTEXT_READS,
    describe=lambda p: f"RFM {p.dimension} score between {p.min} and {p.max}",
    examples=(
        {"dimension": "monetary", "min": 4},
        {"dimension": "recency", "max": 2},
        {"dimension": "frequency", "min": 3, "max": 4, "if_stale": "no_match"},
    ),
)


# --------------------------------------------------------------------------- rfm_tier


class RfmTierParams(_StaleFields):
    """The contact's named RFM tier (champions, at risk, ...)."""

    tier: one_or_many("tier", choices=TIERS, max_items=11) = Field(  # type: ignore[valid-type]
        description="The tier, or any of several.")


def _compile_rfm_tier(p: RfmTierParams) -> Predicate:
    wanted = frozenset([p.tier] if isinstance(p.tier, str) else p.tier)

    def decide(scores: tuple[int, int, int] | None) -> bool:
        return scores is not None and tier_of(*scores) in wanted

    return _score_predicate(decide, p.if_stale)


def _tier_words(tier: str | Sequence[str]) -> str:
    return tier if isinstance(tier, str) else " or ".join(tier)


RFM_TIER = ConditionType(
    name="rfm_tier",
    label="RFM tier",
    description=(
        "The contact's standard RFM tier: champions, loyal, potential_loyalists, "
        "new_customers, promising, need_attention, about_to_sleep, at_risk, cant_lose_them, "
        "hibernating, lost (from the R score and the mean of the F and M scores). "
        "Contacts without an order in the last 365 days have no tier."
    ),
    category=CATEGORY,
    params=RfmTierParams,
    compile=_compile_rfm_tier,
    bulk_compile=_sql("tier_form"),
    reads=lambda p: _CONTEXT_READS,
    describe=lambda p: f"RFM tier {_tier_words(p.tier)}",
    examples=(
        {"tier": "champions"},
        {"tier": ["at_risk", "cant_lose_them"]},
        {"tier": "lost", "if_stale": "no_match"},
    ),
)

CONDITION_TYPES: tuple[ConditionType[Any], ...] = (
    RFM_RECENCY,
    RFM_FREQUENCY,
    RFM_MONETARY,
    RFM_SCORE,
    RFM_TIER,
)


@hookimpl
def register_condition_types(register: Callable[..., None]) -> None:
    register(*CONDITION_TYPES)

