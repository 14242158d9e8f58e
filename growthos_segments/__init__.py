"""GrowthOS segment engine: one import root for everything this distribution installs.

The repository keeps one top-level folder per job (``core``, ``plugins``,
``services``, ``infra``, ``handlers``, ``devstack``); ``pyproject.toml`` maps each
under this name, so a GrowthOS module that installs the engine to add
condition types can keep its own ``core`` or ``plugins`` package.
"""
