"""The plugin kit is public: every name a plugin, a sibling or a test imports from it is in an ``__all__``."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
KIT_MODULES = sorted(p.stem for p in (ROOT / "kit").glob("*.py") if p.stem != "__init__")


def _kit_imports() -> list[tuple[str, str, str]]:
    """``(file, kit module, name)`` for every ``from growthos_segments.kit... import name``."""
    found = []
    for folder in ("kit", "plugins", "tests", "benchmarks"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "growthos_segments.kit"
                ):
                    found.extend((str(path.relative_to(ROOT)), node.module or "", alias.name)
                                 for alias in node.names)
    return found


def test_every_imported_kit_name_is_public_and_listed() -> None:
    problems = []
    for path, module, name in _kit_imports():
        public = importlib.import_module(module).__all__
        if name.startswith("_") or name not in public:
            problems.append(f"{path}: {module}.{name}")
    assert not problems, problems


@pytest.mark.parametrize("name", KIT_MODULES)
def test_each_module_lists_only_what_it_defines_and_has_a_docstring(name: str) -> None:
    module = importlib.import_module(f"growthos_segments.kit.{name}")
    assert module.__doc__
    for exported in module.__all__:
        assert getattr(module, exported, None) is not None, f"{name}.{exported}"


def test_the_package_names_the_contract_a_plugin_author_needs() -> None:
    kit = importlib.import_module("growthos_segments.kit")
    assert {"hookimpl", "ConditionType", "Reads", "Template"} <= set(kit.__all__)
    for name in KIT_MODULES:
        assert f"growthos_segments.kit.{name}" in (kit.__doc__ or "").replace("~", ""), name
