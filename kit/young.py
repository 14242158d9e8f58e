"""Young contacts: "has not done X in the last N days" for a contact that has existed for less.

Such a contact has not done X, but only because it could not have yet. Each
condition that can meet this case offers ``young_contacts``: ``"match"`` judges
the contact on its life so far, ``"wait"`` keeps it out until it has existed
for the whole window. A contact's age comes from ``attributes.created_at``,
else ``attributes.signup_date``; a contact with neither counts as old enough.
A condition offering ``"wait"`` declares :func:`young_reads` in its
:class:`~growthos_segments.core.contract.Reads`, so a change to either date
re-evaluates it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Literal

from growthos_segments.core.limits import in_time_range
from growthos_segments.core.timeutil import parse_instant
from growthos_segments.core.view import ContactView

__all__ = [
    "AGE_ATTRIBUTES",
    "YoungContacts",
    "contact_created_at",
    "wait_until_old_enough",
    "young_reads",
]

YoungContacts = Literal["match", "wait"]
"""The ``young_contacts`` policy of a condition."""

AGE_ATTRIBUTES: tuple[str, ...] = ("created_at", "signup_date")
"""Where a contact's age comes from, in order of preference (names under ``attributes``)."""

_AGE_READS = frozenset(f"attributes.{name}" for name in AGE_ATTRIBUTES)


def young_reads(policy: YoungContacts) -> frozenset[str]:
    """The attribute paths a condition with this policy reads to know a contact's age."""
    return _AGE_READS if policy == "wait" else frozenset()


def contact_created_at(view: ContactView) -> datetime | None:
    """When the contact came to exist: ``attributes.created_at``, else ``signup_date``.

    A date outside :func:`growthos_segments.core.limits.in_time_range` is not taken for one
    (adding the window to it could leave the years a ``datetime`` holds).
    """

    def compute() -> datetime | None:
        for name in AGE_ATTRIBUTES:
            moment = parse_instant(view.attributes.get(name))
            if moment is not None and in_time_range(moment):  # "9999-12-31" is no birth date
                return moment
        return None

    return view.memo(("behavior", "created_at"), compute)  # type: ignore[no-any-return]


def wait_until_old_enough(
    evaluate: Callable[[datetime], tuple[bool, datetime | None]],
    created: datetime | None,
    width: timedelta,
    now: datetime,
) -> tuple[bool, datetime | None]:
    """``young_contacts: "wait"``: no match before ``created + width``, normal after.

    The re-check of a young contact is when it comes of age only if it would
    match then; otherwise it is when the normal answer first changes after that.
    """
    if created is None:
        return evaluate(now)
    ripe = created + width
    if now >= ripe:
        return evaluate(now)
    match, recheck = evaluate(ripe)
    return False, (ripe if match else recheck)
