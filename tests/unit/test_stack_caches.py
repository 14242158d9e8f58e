"""A second local stack in one process builds its handlers' services afresh."""

from __future__ import annotations

import sys
import types
from functools import cache

from growthos_segments.devstack.stack import forget_process_caches


def test_cached_builders_of_handlers_are_forgotten_and_others_kept() -> None:
    handlers = types.ModuleType("growthos_segments.handlers._probe")
    elsewhere = types.ModuleType("growthos_segments.kit._probe")
    calls: list[str] = []

    def builder(module: types.ModuleType) -> object:
        @cache
        def built() -> str:
            calls.append(module.__name__)
            return "service for the first stack's endpoint"

        built.__module__ = module.__name__
        module.built = built  # type: ignore[attr-defined]
        return built

    first, kept = builder(handlers), builder(elsewhere)
    sys.modules[handlers.__name__], sys.modules[elsewhere.__name__] = handlers, elsewhere
    try:
        first(), kept()
        forget_process_caches()
        first(), kept()
    finally:
        del sys.modules[handlers.__name__], sys.modules[elsewhere.__name__]
    assert calls.count(handlers.__name__) == 2  # built again after the environment changed
    assert calls.count(elsewhere.__name__) == 1  # not a handler's: untouched
