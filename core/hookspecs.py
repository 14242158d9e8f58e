"""Hook specifications for condition plugins (pluggy project ``growthos.segments``).

Plugins implement these with ``@hookimpl``; built-in plugins are registered by
import and outside plugins through the entry-point group ``growthos.segments``.
The registration hooks run once, when a host is built, and ``tenant_context``
off the evaluation path (on a schedule, or when a tenant is first loaded); no
hook runs per contact, so pluggy's dispatch never costs evaluation anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

import pluggy

from growthos_segments.core.view import ContactView

PROJECT = "growthos.segments"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_condition_types(register: Callable[..., None]) -> None:
    """Contribute condition types to the engine.

    Call ``register(*condition_types)`` with every type the plugin offers. Names
    must be unique across all installed plugins: registering a name twice makes
    the host refuse to start (``DuplicateNameError``), so a GrowthOS module
    cannot silently shadow a built-in.

    :param register: adds :class:`growthos_segments.core.contract.ConditionType` objects.
    """


@hookspec
def register_templates(register: Callable[..., None]) -> None:
    """Contribute pre-built segments (templates) for the rule builder.

    Call ``register(*templates)``; ids must be unique. Every template's rule is
    validated against the registered condition types when the host is built
    (``InvalidTemplateError``), so a broken template is found at start-up, not
    when a user picks it.

    :param register: adds :class:`growthos_segments.core.contract.Template` objects.
    """


@hookspec
def tenant_context(
    tenant_id: str, contacts: Iterable[ContactView], now: datetime
) -> Mapping[str, Any] | None:
    """Compute tenant-wide data that this plugin's conditions need.

    Called off the per-contact path (on a schedule, or when a tenant's data is
    first loaded), never per evaluation. Return a mapping ``{namespace: data}``
    (namespace normally the plugin's condition-type prefix, e.g. ``"rfm"``) or
    ``None`` when the plugin needs nothing. Results from all plugins are merged
    into :attr:`growthos_segments.core.view.ContactView.context`; two plugins returning the same
    namespace is an error.

    :param tenant_id: the tenant whose data to summarise.
    :param contacts: every contact of that tenant, as views that carry only what
        the conditions reading a tenant context declare in their
        :class:`growthos_segments.core.contract.Reads` (event-name prefixes, lookback, profile
        paths): declare there what the context is computed from. It is a
        stream: iterate it once, keep per-contact aggregates rather than the
        views (a tenant may have millions of contacts), and let exceptions
        raised while iterating propagate (one says the caller ran out of time).
        Callers that hold plain contact documents (the CLI) pass those: wrap an
        item that is not a :class:`~growthos_segments.core.view.ContactView` in one.
    :param now: the instant the data is computed for; plugins never read the
        clock themselves, so a recomputation for a past instant is reproducible.
    """


@hookspec
def tenant_context_sql() -> Mapping[str, Any] | None:
    """The SQL forms of this plugin's tenant context, for the analytical path.

    Return ``{namespace: growthos_segments.kit.sql.ContextForm}`` for every namespace
    this plugin's :func:`tenant_context` returns (or ``None``): the analytical engine
    then computes those namespaces with one query over the tenant's copy, and calls
    :func:`tenant_context` only for plugins without this hook. A form must give
    exactly the data :func:`tenant_context` gives for the same contacts and ``now``.
    """
