"""Exact re-checks: finding the first instant a condition's answer changes with no new data.

A predicate returns ``(match, recheck_at)``; ``recheck_at`` must never be late
(the scheduler would miss an enter or exit) and should be exact (an early one
costs a wasted evaluation). A condition over events changes only where an
event enters or leaves its window, or where an event stamped after ``now``
arrives, so these helpers search those instants.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta

__all__ = [
    "CAP",
    "and_results",
    "first_change",
    "merged",
    "settle",
    "sweep",
]

CAP = 256
"""Most candidate instants a recheck search examines before it settles for an
early (safe) re-check. Only pathological contacts hit it: hundreds of future
events or a windowed aggregate that stays stable across hundreds of changes."""


def first_change(
    current: bool,
    candidates: Iterable[datetime],
    evaluate: Callable[[datetime], bool],
    after: datetime,
    cap: int = CAP,
) -> datetime | None:
    """The first of ``candidates`` (ascending) at which ``evaluate`` differs from ``current``.

    For conditions whose value is a function of "which events are in the window
    at instant t": it can only change where an event enters or leaves, so those
    instants are the candidates. Past ``cap`` candidates the next one is returned
    unexamined: early, so still safe.
    """
    previous = None
    examined = 0
    for at in candidates:
        if at <= after or at == previous:
            continue
        if examined >= cap:
            return at
        if evaluate(at) != current:
            return at
        previous = at
        examined += 1
    return None


def sweep(
    times: Sequence[datetime],
    counted: range,
    arrivals: range,
    width: timedelta | None,
    apply: Callable[[int, int], None],
    holds: Callable[[], bool],
    match: bool,
) -> datetime | None:
    """The first instant a windowed aggregate flips, walking arrivals and departures in order.

    For an aggregate over the events ``times[counted]`` (oldest first) when
    events stamped after now, ``times[arrivals]``, are still to come: each
    arrives at its time and, with a sliding ``width``, leaves at time + width.
    ``apply(i, +1 or -1)`` adds or removes event ``i`` from the caller's
    aggregate; after every change at one instant, ``holds()`` is the answer
    there. Only :data:`CAP` arrivals are examined; past them the next arrival is
    returned unexamined (early, so still safe).
    """
    future = range(arrivals.start, min(arrivals.stop, arrivals.start + CAP))
    changes: list[tuple[datetime, int, int]] = [(times[i], 1, i) for i in future]
    if width is not None:
        changes.extend((times[i] + width, -1, i) for i in counted)
        changes.extend((times[i] + width, -1, i) for i in future)
    horizon = times[future.stop] if future.stop < arrivals.stop else None
    changes.sort(key=lambda change: change[0])
    index = 0
    while index < len(changes):
        at = changes[index][0]
        if horizon is not None and at >= horizon:
            return horizon  # unexamined arrivals from here: re-check early, safely
        while index < len(changes) and changes[index][0] == at:
            _, delta, event = changes[index]
            apply(event, delta)
            index += 1
        if holds() != match:
            return at
    return horizon


def settle(
    evaluate: Callable[[datetime], tuple[bool, datetime | None]], now: datetime, cap: int = 32
) -> tuple[bool, datetime | None]:
    """Turn a safe (possibly early) ``recheck_at`` into the exact one.

    ``evaluate(t)`` must be the condition at instant ``t`` with a re-check that is
    never late. Re-evaluating at each re-check until the answer differs walks
    from one safe bound to the next, so the first differing instant is exact.
    Used where two exact parts are combined (their combination alone is only safe).
    """
    match, recheck = evaluate(now)
    for _ in range(cap):
        if recheck is None:
            return match, None
        later, next_recheck = evaluate(recheck)
        if later != match:
            return match, recheck
        if next_recheck is None:
            return match, None  # same at the re-check, and nothing changes after it
        if next_recheck <= recheck:
            return match, recheck  # a part that cannot tell: settle for the safe bound
        recheck = next_recheck
    return match, recheck


def merged(*streams: Iterable[datetime]) -> Iterator[datetime]:
    """Merge ascending streams of instants lazily (candidates for :func:`first_change`)."""
    return heapq.merge(*streams)


def and_results(
    a: tuple[bool, datetime | None], b: tuple[bool, datetime | None]
) -> tuple[bool, datetime | None]:
    """Combine two parts of one condition with "and", keeping the re-check safe and tight.

    Both true: whichever flips first. One false: it must flip before anything
    changes. Both false: both must flip, so nothing changes before the later one.
    """
    (ma, ra), (mb, rb) = a, b
    if ma and mb:
        return True, _earliest(ra, rb)
    if not ma and not mb:
        return False, (None if ra is None or rb is None else max(ra, rb))
    return False, (ra if not ma else rb)


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    """The earlier of two re-checks, ``None`` meaning never."""
    if a is None:
        return b
    if b is None:
        return a
    return a if a <= b else b
