"""The plugin kit: everything a GrowthOS module needs to add condition types to the engine.

A **condition type** is a kind of node in a segment rule, ``{"<name>":
{params}}``: ``{"vip": {"level": 2}}``. A plugin gives the engine a
:class:`ConditionType` for each: its name, texts for the rule builder, a
pydantic params model (its JSON Schema is the builder's form), what it
:class:`Reads`, and ``compile(params)`` returning a plain
:data:`Predicate` ``(view, now) -> (match, recheck_at)``. The engine validates
params when a rule is saved and calls ``compile`` once per rule version; the
predicate then runs per contact, so do all parsing in ``compile`` and keep the
predicate to lookups and comparisons. Never read the clock: use ``now``.

**Registering.** A plugin is a module with :data:`hookimpl` functions (the
hooks are in :mod:`growthos_segments.core.hookspecs`)::

    @hookimpl
    def register_condition_types(register):
        register(VIP, VIP_TIER)          # one call, any number of types

and is declared in its distribution's ``pyproject.toml`` under the entry-point
group ``growthos.segments`` (``loyalty = "loyalty_segments"``); every entry
point of the engine (CLI, Lambdas) then loads it. The built-in plugins of
:mod:`growthos_segments.plugins` are modules of exactly this shape. Names are
unique across plugins (a duplicate stops the host from starting), and ``and``,
``or``, ``!``, ``not``, ``segment`` are reserved. ``register_templates``
contributes pre-built segments (:class:`Template`), checked against the
registered condition types when the host is built; ``tenant_context``
computes tenant-wide data a condition reads from ``view.context``.

**Declaring reads.** ``reads(params)`` returns the :class:`Reads` of one
configured condition: the contact-document paths it reads
(``attributes.vip_level``, ``tags``, ``scores.nps``), the event-name prefixes
(``email.``, ``order.completed``) and how far back events matter
(``lookback``; :data:`~growthos_segments.kit.windows.ALL_HISTORY` for all of
it), and the tenant-context namespaces it reads. The engine re-evaluates a
contact only when something it declared changes, and loads only those events:
a read left out is a missed enter or exit, a read too many is wasted work.

**Computing** ``recheck_at``. It is the earliest instant the answer could
change with no new data (``None``: never). It must never be late (the
scheduler would miss the change) and should be exact. A condition over events
changes only where an event enters or leaves its window or a future event
arrives; the building blocks below solve that once:

- :mod:`~growthos_segments.kit.params`: :class:`~growthos_segments.kit.params.ParamsModel`
  and the shared field types (``Duration``, ``Instant``, ``NonNegInt``,
  ``Number``, ``one_or_many``);
- :mod:`~growthos_segments.kit.windows`: ``within`` / ``between`` windows;
- :mod:`~growthos_segments.kit.counts`: ``min_count`` / ``max_count`` /
  ``exactly`` in a window, with their exact re-check (``count_result`` is a
  whole predicate);
- :mod:`~growthos_segments.kit.occurrences`: first / last occurrence
  ``within`` / ``older_than``;
- :mod:`~growthos_segments.kit.young`: the ``young_contacts`` policy;
- :mod:`~growthos_segments.kit.selection`: which events (names, ``where``
  property filters), memoised per contact;
- :mod:`~growthos_segments.kit.numbers`: numeric comparisons;
- :mod:`~growthos_segments.kit.rechecks`: generic exact re-check searches;
- :mod:`~growthos_segments.kit.wording`: how counts, windows and ages are described;
- :mod:`~growthos_segments.kit.operators`: the value operators (``equals``,
  ``within_last``, ...) of attribute conditions and ``where`` filters;
- :mod:`~growthos_segments.kit.sql`: the SQL form ``bulk_compile(params)``
  returns (:class:`~growthos_segments.kit.sql.SqlForm`) so whole-tenant
  questions run as one query; without it rules using the type are answered
  per contact;
- :mod:`~growthos_segments.kit.sql_events`: the pieces of behavioural SQL forms
  (event selection, windows at ``now``, per-contact aggregates, sequences);
- :mod:`~growthos_segments.kit.sql_email`: the email and referral SQL pieces
  (ids, devices, message timelines) on top of it;
- :mod:`~growthos_segments.kit.sql_calendar`: the calendar value operators
  (``last_days``, ``next_days``, ``anniversary``) as SQL, local days from the
  zone offsets Python's tz database gives;
- :mod:`~growthos_segments.kit.sql_geo`: great-circle distance from a point in
  SQL, the same operations in the same order as the per-contact haversine;
- :mod:`~growthos_segments.kit.sql_text`: case- and accent-insensitive text
  search in SQL, folding by a table built from the per-contact folding.
"""

from __future__ import annotations

from growthos_segments.core.contract import ConditionType, Predicate, Reads, Result, Template
from growthos_segments.core.hookspecs import hookimpl
from growthos_segments.core.view import MISSING, ContactView, Event

__all__ = [
    "MISSING",
    "ConditionType",
    "ContactView",
    "Event",
    "Predicate",
    "Reads",
    "Result",
    "Template",
    "hookimpl",
]
