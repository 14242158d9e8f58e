"""Built-in condition plugins, one module per family.

Each is a module of ``@hookimpl`` functions built on :mod:`growthos_segments.kit`,
exactly what an outside GrowthOS module writes; the only difference is that
:data:`BUILTIN_PLUGINS` registers them here instead of the ``growthos.segments``
entry-point group.
"""

from __future__ import annotations

from types import ModuleType

from growthos_segments.core.host import PluginHost
from growthos_segments.plugins import (
    attributes,
    email,
    events,
    geo,
    nudges,
    referrals,
    rfm,
    scores,
    search,
    templates,
)

BUILTIN_PLUGINS: tuple[ModuleType, ...] = (
    attributes,
    email,
    events,
    scores,
    referrals,
    nudges,
    rfm,
    geo,
    search,
    templates,
)
"""Built-in plugin modules, registered in this order."""


def default_host(*, load_entry_points: bool = True) -> PluginHost:
    """The host every entry point uses: built-ins plus installed outside plugins."""
    return PluginHost(BUILTIN_PLUGINS, load_entry_points=load_entry_points)
