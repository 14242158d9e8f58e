"""The plugin host: discovers condition types and templates once, then steps aside.

Building a host runs the pluggy hooks and checks every template's rule against
the condition types registered; afterwards lookups are plain dict reads and
compiled predicates are called directly, so per-contact evaluation never pays
pluggy's dispatch cost.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

import pluggy

from growthos_segments.core import hookspecs
from growthos_segments.core.contract import ConditionType, Template
from growthos_segments.core.errors import RuleValidationError

__all__ = ["RESERVED_NAMES", "DuplicateNameError", "InvalidTemplateError", "PluginHost", "PluginLoadError"]

RESERVED_NAMES = frozenset({"and", "or", "!", "not", "segment"})
"""Node keys the rule language owns; no condition type may take them."""


class DuplicateNameError(ValueError):
    """Two plugins registered the same condition-type or template name."""


class PluginLoadError(RuntimeError):
    """An installed plugin could not be imported; names the entry point."""


class InvalidTemplateError(ValueError):
    """A registered template's rule is not valid with the registered condition types."""


class PluginHost:
    """Registry of condition types and templates contributed by plugins."""

    def __init__(
        self,
        plugins: Iterable[ModuleType | object] = (),
        *,
        load_entry_points: bool = True,
    ) -> None:
        self.manager = pluggy.PluginManager(hookspecs.PROJECT)
        self.manager.add_hookspecs(hookspecs)
        for plugin in plugins:
            self.manager.register(plugin)
        if load_entry_points:
            self._load_entry_points()
        self.condition_types: dict[str, ConditionType[Any]] = {}
        self.templates: dict[str, Template] = {}
        self.manager.hook.register_condition_types(register=self._add_condition_types)
        self.manager.hook.register_templates(register=self._add_templates)
        self._check_templates()

    def _load_entry_points(self) -> None:
        # pluggy's load_setuptools_entrypoints would do, but loading by hand lets
        # an already-registered module (a built-in imported twice) be skipped.
        for entry_point in entry_points(group=hookspecs.PROJECT):
            try:
                plugin = entry_point.load()
            except Exception as exc:  # any import-time failure of third-party code
                raise PluginLoadError(
                    f"plugin {entry_point.name!r} ({entry_point.value}) failed to load: {exc}"
                ) from exc
            if self.manager.is_registered(plugin):
                continue
            self.manager.register(plugin, name=f"entrypoint:{entry_point.name}")

    def _add_condition_types(self, *condition_types: ConditionType[Any]) -> None:
        for condition_type in condition_types:
            name = condition_type.name
            if name in RESERVED_NAMES:
                raise DuplicateNameError(f"condition type name {name!r} is reserved by the rule language")
            if name in self.condition_types:
                raise DuplicateNameError(f"condition type {name!r} is registered twice")
            self.condition_types[name] = condition_type

    def _add_templates(self, *templates: Template) -> None:
        for template in templates:
            if template.id in self.templates:
                raise DuplicateNameError(f"template {template.id!r} is registered twice")
            self.templates[template.id] = template

    def _check_templates(self) -> None:
        """A broken template (say, naming a condition type no plugin provides) stops the
        host from starting, instead of failing when a user picks it."""
        from growthos_segments.core.rules import parse_rule  # rules imports this module

        for template in self.templates.values():
            try:
                parse_rule(template.rule, self)
            except RuleValidationError as exc:
                raise InvalidTemplateError(f"template {template.id!r} is not a valid rule: {exc}") from exc

    def condition_type(self, name: str) -> ConditionType[Any] | None:
        return self.condition_types.get(name)

    def catalog(self) -> list[dict[str, Any]]:
        """Every condition type's public description, sorted by category then name."""
        ordered = sorted(self.condition_types.values(), key=lambda c: (c.category, c.name))
        return [c.catalog_entry() for c in ordered]

    def tenant_context(self, tenant_id: str, contacts: Iterable[Any], now: datetime) -> dict[str, Any]:
        """Merge every plugin's tenant-wide data; a namespace claimed twice is an error.

        Every implementation iterates ``contacts`` once, so with several of them it
        must be re-iterable: a list, or a stream whose every iteration is a new pass
        over storage (what the scheduler passes). A one-shot iterator is refused
        then, instead of leaving every plugin after the first with no contacts.
        """
        if iter(contacts) is contacts and len(self.manager.hook.tenant_context.get_hookimpls()) > 1:
            raise TypeError("tenant_context needs a re-iterable collection of contacts: "
                            "several plugins read it, each in its own pass")
        merged: dict[str, Any] = {}
        for part in self.manager.hook.tenant_context(
            tenant_id=tenant_id, contacts=contacts, now=now
        ):
            if not part:
                continue
            for namespace, data in dict(part).items():
                if namespace in merged:
                    raise DuplicateNameError(f"tenant context namespace {namespace!r} is claimed twice")
                merged[namespace] = data
        return merged

    def list_templates(self) -> list[Mapping[str, Any]]:
        return [t.to_json() for t in sorted(self.templates.values(), key=lambda t: t.id)]
