"""Built-in condition plugins, one module per family.

They use the same public ``hookimpl`` as an outside GrowthOS module would; the
only difference is that they are registered by import here instead of through
the ``growthos.segments`` entry-point group.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from growthos_segments.core.host import PluginHost

BUILTIN_MODULES: tuple[str, ...] = (
    "growthos_segments.plugins.attributes",
    "growthos_segments.plugins.email",
    "growthos_segments.plugins.events",
    "growthos_segments.plugins.scores",
    "growthos_segments.plugins.referrals",
    "growthos_segments.plugins.nudges",
    "growthos_segments.plugins.rfm",
    "growthos_segments.plugins.templates",
)
"""Built-in plugin modules, registered in this order."""


def builtin_plugins() -> list[ModuleType]:
    return [importlib.import_module(name) for name in BUILTIN_MODULES]


def default_host(*, load_entry_points: bool = True) -> PluginHost:
    """The host every entry point uses: built-ins plus installed outside plugins."""
    return PluginHost(builtin_plugins(), load_entry_points=load_entry_points)
