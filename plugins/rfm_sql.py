"""The RFM conditions and the ``rfm`` tenant context in SQL (the analytical path only).

:mod:`growthos_segments.plugins.rfm` loads this module when a rule is compiled to
SQL or the context is computed by the analytical engine, so the plugin host (and
every function's cold start) never imports sqlglot. Each form answers at NOW what
the per-contact predicate answers at ``now``:

- Per contact, in the compiler's single pass over events, only ``order.completed``
  rows of the window are read: for scores and tiers the last order and the number
  and spend of the orders of the period ``(NOW - 365 days, NOW]`` (a contact is a
  customer when it has one).
- Spend is a left-to-right float sum (``list_reduce``) of the window's amounts in
  time order and, at one instant, in ascending amount: exactly the additions, in
  the same order, that the per-contact path makes (``_total``), so the totals agree
  to the last bit. An order's amount is its ``amount`` read as ``as_number`` reads
  it (a JSON number, as a double; anything else adds 0 to the spend of scores and
  leaves the order out of ``rfm_monetary``).
- The thresholds of scores and tiers are query parameters bound from the tenant
  context when the query runs (:func:`growthos_segments.kit.sql.context_parameter`),
  through the plugin's own parser: a missing or malformed context binds NULLs and
  matches nothing, as it does per contact; recency cuts are bound as whole
  microseconds (the ``timedelta`` the per-contact path compares with), and
  ``if_stale: "no_match"`` compares NOW with the instant the set turns stale.
- The ``rfm`` context is one query over the tenant's orders: the same measures at
  ``now``, then the 20/40/60/80th percentiles by nearest rank, read from each
  sorted list at rank ``ceil(k * n / 5)`` computed in integers, as
  :func:`growthos_segments.plugins.rfm._cuts` picks them (no dependence on how an
  engine's percentile function rounds its rank).

Not exact in SQL, so answered per contact: ``rfm_monetary`` with a bound that is an
integer beyond 2**53 (no exact double), and, when a currency is asked for, contacts
with a priced order in the window whose ``currency`` is text beyond ASCII (Python's
``str.upper`` maps some such letters into ASCII: ``ß`` is ``SS``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlglot
from sqlglot import exp

from growthos_segments.core.timeutil import to_iso
from growthos_segments.kit.counts import Count
from growthos_segments.kit.occurrences import occurrence_of
from growthos_segments.kit.sql import (
    NOW,
    ContextForm,
    SqlForm,
    context_parameter,
    is_kind,
    json_at,
    text_of,
)
from growthos_segments.kit.sql_events import (
    EVENT_AT,
    EVENT_PROPERTIES,
    Selection,
    count_form,
    count_of,
    happened,
    in_window,
    last_at,
    names_match,
    occurrence_form,
    since,
)
from growthos_segments.kit.windows import Window
from growthos_segments.plugins import rfm

__all__ = ["CONTEXT_FORM", "frequency_form", "monetary_form", "recency_form", "score_form", "tier_form"]

_US_PER_DAY = 86_400_000_000
_DOUBLE = exp.DataType.build("DOUBLE")


def _orders() -> exp.Expression:
    return names_match([rfm.ORDER_EVENT])


def _amount() -> exp.Expression:
    """The order's ``amount`` as ``as_number`` reads it: a JSON number as a double, else NULL."""
    value = json_at(("amount",), EVENT_PROPERTIES)
    return exp.Case(ifs=[exp.If(this=is_kind(value, "BIGINT", "UBIGINT", "DOUBLE"),
                                true=exp.TryCast(this=text_of(value.copy()), to=_DOUBLE.copy()))])


def _total(amount: exp.Expression, rows: exp.Expression) -> exp.Expression:
    """Aggregate: ``amount`` added left to right over ``rows`` in (time, amount) order,
    from 0.0 (the per-contact ``_total`` of those rows); NULL for no rows."""
    ordered = exp.Order(this=amount, expressions=[exp.Ordered(this=EVENT_AT.copy(), nulls_first=False),
                                                  exp.Ordered(this=amount.copy(), nulls_first=False)])
    amounts = exp.Filter(this=exp.ArrayAgg(this=ordered), expression=exp.Where(this=rows))
    total, item = exp.to_identifier("rfm_total"), exp.to_identifier("rfm_amount")
    add = exp.Lambda(this=exp.Add(this=exp.column(total), expression=exp.column(item)),
                     expressions=[total, item])
    return exp.Anonymous(this="list_reduce", expressions=[amounts, add, exp.Literal.number("0.0")])


def _measures() -> dict[str, exp.Expression]:
    """Aggregates of the per-contact measures at NOW (see the module docstring)."""
    period = exp.and_(_orders(), happened(), since(rfm.PERIOD))
    amount = exp.func("coalesce", _amount(), exp.Literal.number("0.0"))
    return {"last_order": last_at(period), "orders": count_of(period), "spend": _total(amount, period)}


def _since_last_us() -> exp.Expression:
    now, last = (exp.Anonymous(this="epoch_us", expressions=[moment])
                 for moment in (NOW.copy(), exp.column("last_order")))
    return exp.Sub(this=now, expression=last)


# --------------------------------------------------------------------------- thresholds from the context


def _threshold(dimension: str, index: int) -> exp.Expression:
    def bind(context: Mapping[str, Any]) -> float | int | None:
        cuts = rfm._parse_thresholds(context)
        if cuts is None:
            return None
        if dimension == "recency":
            return cuts.recency[index] // timedelta(microseconds=1)  # within 100 years: 52 bits
        return (cuts.frequency if dimension == "frequency" else cuts.monetary)[index]

    kind = "BIGINT" if dimension == "recency" else "DOUBLE"
    return context_parameter(f"rfm_{dimension}_{index + 1}", kind, bind)


def _stale_at(context: Mapping[str, Any]) -> datetime | None:
    cuts = rfm._parse_thresholds(context)
    return None if cuts is None else cuts.stale_at


def _count_true(tests: list[exp.Expression]) -> exp.Expression:
    total: exp.Expression = exp.cast(tests[0], exp.DataType.build("INT"))
    for test in tests[1:]:
        total = exp.Add(this=total, expression=exp.cast(test, exp.DataType.build("INT")))
    return exp.paren(total)


def _scores() -> tuple[exp.Expression, exp.Expression, exp.Expression]:
    """R, F and M (1-5) as :func:`growthos_segments.plugins.rfm._scores` gives them;
    NULL when the context has no thresholds."""
    since_last = _since_last_us()
    r = exp.Sub(this=exp.Literal.number(5), expression=_count_true(
        [exp.LTE(this=_threshold("recency", i), expression=since_last.copy()) for i in range(4)]))
    f = exp.Add(this=exp.Literal.number(1), expression=_count_true(
        [exp.LT(this=_threshold("frequency", i), expression=exp.column("orders")) for i in range(4)]))
    m = exp.Add(this=exp.Literal.number(1), expression=_count_true(
        [exp.LT(this=_threshold("monetary", i), expression=exp.column("spend")) for i in range(4)]))
    return exp.paren(r), exp.paren(f), exp.paren(m)


def _score_form(test: exp.Expression, if_stale: str) -> SqlForm:
    """A test on the scores, for customers only, honouring ``if_stale``."""
    held = [exp.not_(exp.Is(this=exp.column("last_order"), expression=exp.null())), exp.paren(test)]
    if if_stale == "no_match":
        stale_at = context_parameter("rfm_stale_at", "TIMESTAMPTZ", _stale_at)
        held.append(exp.LT(this=NOW.copy(), expression=stale_at))
    return SqlForm(exp.and_(*held), _measures())


def score_form(p: rfm.RfmScoreParams) -> SqlForm:
    """``rfm_score``: the dimension's score lies in [min, max]."""
    score = _scores()[("recency", "frequency", "monetary").index(p.dimension)]
    test = exp.Between(this=score, low=exp.Literal.number(p.min), high=exp.Literal.number(p.max))
    return _score_form(test, p.if_stale)


def tier_form(p: rfm.RfmTierParams) -> SqlForm:
    """``rfm_tier``: the (R, FM) cell of :data:`growthos_segments.plugins.rfm.TIER_GRID` is one
    of the wanted tiers' (cell ``10 * R + FM``, FM the mean of F and M rounded half up)."""
    wanted = {p.tier} if isinstance(p.tier, str) else set(p.tier)
    cells = sorted(10 * r + fm for r, row in rfm.TIER_GRID.items()
                   for fm, tier in enumerate(row, start=1) if tier in wanted)
    r, f, m = _scores()
    f_plus_m = exp.Add(this=exp.Add(this=f, expression=m), expression=exp.Literal.number(1))
    fm = exp.IntDiv(this=exp.paren(f_plus_m), expression=exp.Literal.number(2))
    cell = exp.Add(this=exp.Mul(this=exp.Literal.number(10), expression=r), expression=exp.paren(fm))
    return _score_form(exp.In(this=cell, expressions=[exp.Literal.number(c) for c in cells]), p.if_stale)


# --------------------------------------------------------------------------- raw measures


def recency_form(p: rfm.RecencyParams) -> SqlForm | None:
    """``rfm_recency``: the last order's occurrence test, as the ``event`` type's."""
    return occurrence_form(Selection(_orders()), occurrence_of(p))


def frequency_form(p: rfm.FrequencyParams) -> SqlForm | None:
    """``rfm_frequency``: a count of orders in a window, as the ``event`` type's."""
    return count_form(Selection(_orders()), Window.of(p), Count.of(p), p.young_contacts)


_BOUNDS = (("gte", exp.GTE), ("gt", exp.GT), ("lte", exp.LTE), ("lt", exp.LT), ("eq", exp.EQ))


def monetary_form(p: rfm.MonetaryParams) -> SqlForm | None:
    """``rfm_monetary``: total or average of the priced orders (of the currency) in the
    window, as :func:`growthos_segments.plugins.rfm._compile_monetary` computes them at
    NOW. ``None`` for an integer bound with no exact double."""
    bounds = [(getattr(p, key), op) for key, op in _BOUNDS if getattr(p, key) is not None]
    if any(isinstance(v, int) and float(v) != v for v, _ in bounds):
        return None
    rows = exp.and_(_orders(), exp.not_(exp.Is(this=_amount(), expression=exp.null())),
                    in_window(Window.of(p)))
    undecided = None
    aggregates: dict[str, exp.Expression] = {}
    if p.currency is not None:
        currency = json_at(("currency",), EVENT_PROPERTIES)
        text = is_kind(currency, "VARCHAR")
        wide = exp.and_(rows.copy(), text, exp.RegexpLike(
            this=text_of(currency.copy()), expression=exp.Literal.string(r"[^\x00-\x7f]")))
        rows = exp.and_(rows, text.copy(), exp.EQ(this=exp.Upper(this=text_of(currency.copy())),
                                                  expression=exp.Literal.string(p.currency.upper())))
        aggregates["wide_currency"] = count_of(wide)
        undecided = exp.GT(this=exp.func("coalesce", exp.column("wide_currency"), exp.Literal.number(0)),
                           expression=exp.Literal.number(0))
    aggregates.update({"spend": _total(_amount(), rows), "orders": count_of(rows.copy())})
    total = exp.func("coalesce", exp.column("spend"), exp.Literal.number("0.0"))
    if p.measure == "average":
        count = exp.func("coalesce", exp.column("orders"), exp.Literal.number(0))
        value: exp.Expression = exp.Div(this=total, expression=exp.cast(count, _DOUBLE.copy()))
        guard: list[exp.Expression] = [exp.GT(this=count.copy(), expression=exp.Literal.number(0))]
    else:
        value, guard = total, []
    tests = [op(this=exp.paren(value.copy()),
                expression=exp.cast(exp.Literal.number(repr(float(v))), _DOUBLE.copy()))
             for v, op in bounds]
    return SqlForm(exp.and_(*guard, *tests), aggregates, undecided)


# --------------------------------------------------------------------------- the rfm context


def _context_query() -> exp.Select:
    """One row: customers, then the four cuts of R (days), F and M."""
    per_contact = (
        exp.select(*(exp.alias_(aggregate, name) for name, aggregate in _measures().items()))
        .from_("events")
        .where(exp.and_(
            exp.EQ(this=exp.column("tenant_id"), expression=exp.Placeholder(this="tenant")),
            _orders(),
            exp.column("contact_id").isin(query=exp.select("contact_id").from_("contacts").where(
                exp.EQ(this=exp.column("tenant_id"), expression=exp.Placeholder(this="tenant"))))))
        .group_by(exp.column("contact_id"))
    )
    days = exp.Div(this=exp.cast(_since_last_us(), _DOUBLE.copy()),
                   expression=exp.cast(exp.Literal.number(_US_PER_DAY), _DOUBLE.copy()))
    customers = (
        exp.select(exp.alias_(days, "r"), exp.alias_(exp.column("orders"), "f"),
                   exp.alias_(exp.column("spend"), "m"))
        .from_(per_contact.subquery("p"))
        .where(exp.not_(exp.Is(this=exp.column("last_order"), expression=exp.null())))
    )
    sorted_lists = exp.select(
        exp.alias_(exp.Count(this=exp.Star()), "n"),
        *(exp.alias_(exp.Anonymous(this="list_sort", expressions=[exp.ArrayAgg(this=exp.column(d))]), f"{d}s")
          for d in "rfm"))
    # Nearest rank ceil(k * n / 5), in integers; constant text, no value of anyone's in it.
    picks = [sqlglot.parse_one(f"{d}s[({k} * n + 4) // 5]", read="duckdb")
             for d in "rfm" for k in (1, 2, 3, 4)]
    lists = sorted_lists.from_(customers.subquery("c")).subquery("s")
    return exp.select(exp.column("n"), *picks).from_(lists)


def _shape(row: tuple[Any, ...], now: datetime) -> dict[str, Any]:
    """The row as :func:`growthos_segments.plugins.rfm.compute_rfm_context` returns it (F cuts
    are integers there, as orders are counted)."""
    customers, *cuts = row
    thresholds = None
    if customers:
        thresholds = {
            "recency_days": [float(x) for x in cuts[0:4]],
            "frequency": [int(x) for x in cuts[4:8]],
            "monetary": [float(x) for x in cuts[8:12]],
        }
    return {
        "version": 1,
        "computed_at": to_iso(now),
        "period_days": rfm.PERIOD.days,
        "max_age_days": rfm.MAX_AGE / timedelta(days=1),
        "customers": int(customers),
        "thresholds": thresholds,
    }


CONTEXT_FORM = ContextForm(_context_query(), _shape)
"""The ``rfm`` namespace of the tenant context, as the ``tenant_context`` hook computes it."""
