"""In-app nudge conditions over ``nudge.shown``, ``nudge.clicked`` and ``nudge.dismissed``.

Events carry the nudge in the ``nudge_id`` property. Missing data: an event
without a ``nudge_id`` never matches a specific nudge but counts for "any
nudge"; a contact with no nudge events has a count of 0, so "never shown a
nudge" (``{"nudge": {"action": "shown", "exactly": 0}}``) matches it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from growthos_segments.kit import ConditionType, Predicate, Reads, hookimpl
from growthos_segments.kit.counts import Count, CountWindowFields, count_result
from growthos_segments.kit.params import IdOrIds, ParamsModel
from growthos_segments.kit.selection import Selector, id_filter
from growthos_segments.kit.windows import Window
from growthos_segments.kit.wording import describe_count, describe_ids, describe_window
from growthos_segments.kit.young import young_reads

if TYPE_CHECKING:
    from growthos_segments.kit.sql import SqlForm

CATEGORY = "nudges"


class _NudgeTarget(ParamsModel):
    # A base listed last so that its fields come first in the schema and normal form.
    action: Literal["shown", "clicked", "dismissed"] = Field(
        description="The nudge event: nudge.<action>.")
    nudge_id: IdOrIds | None = Field(
        default=None, description="Only this nudge, or any of these (default: any nudge).")


class NudgeParams(CountWindowFields, _NudgeTarget):
    """Shown / clicked / dismissed a nudge (or any), how often, in which window."""


def _selector(p: NudgeParams) -> Selector:
    keep, key = id_filter("nudge_id", p.nudge_id)
    return Selector.make([f"nudge.{p.action}"], keep, key)


def _compile_nudge(p: NudgeParams) -> Predicate:
    return count_result(_selector(p), Window.of(p), Count.of(p), p.young_contacts)


def _sql_nudge(p: NudgeParams) -> SqlForm | None:
    # kit.sql (and sqlglot) load on the analytical path only: no function's cold start pays for them.
    from sqlglot import exp

    from growthos_segments.kit.sql_events import Selection, count_form, ids_match, names_match

    rows = names_match([f"nudge.{p.action}"])
    if p.nudge_id is not None:
        rows = exp.and_(rows, ids_match("nudge_id", p.nudge_id))
    return count_form(Selection(rows), Window.of(p), Count.of(p), p.young_contacts)


NUDGE = ConditionType(
    name="nudge",
    label="Nudge interaction",
    description=(
        "Was shown / clicked / dismissed a given nudge (or any of several, or any at all), "
        "compared as a count (min_count / max_count / exactly; none given means at least 1) "
        "in a window. 'exactly: 0' is 'never'."
    ),
    category=CATEGORY,
    params=NudgeParams,
    compile=_compile_nudge,
    reads=lambda p: Reads(
        events=frozenset({f"nudge.{p.action}"}),
        lookback=Window.of(p).lookback,
        attributes=young_reads(p.young_contacts),
    ),
    describe=lambda p: (f"nudge {p.action}{describe_ids('nudge', p.nudge_id)} "
                        f"{describe_count(p)} {describe_window(p)}"),
    bulk_compile=_sql_nudge,
    examples=(
        {"action": "shown", "nudge_id": "upgrade_banner", "min_count": 3, "within": "7d"},
        {"action": "dismissed", "nudge_id": ["tour", "upgrade_banner"], "within": "30d"},
        {"action": "shown", "exactly": 0},
        {"action": "clicked", "exactly": 0, "within": "14d", "young_contacts": "wait"},
    ),
)

CONDITION_TYPES: tuple[ConditionType[Any], ...] = (NUDGE,)


@hookimpl
def register_condition_types(register: Callable[..., None]) -> None:
    register(*CONDITION_TYPES)
