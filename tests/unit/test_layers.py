"""The layers a newcomer reads in ARCHITECTURE.md, enforced on every import.

Each top-level folder is one layer under the ``growthos_segments`` import root.
A layer may import the layers listed for it and nothing else of the project;
the pure layers import no AWS library either. Imports inside functions count
too (``ast.walk`` sees every import statement), so a late import cannot hide
a dependency.
"""

from __future__ import annotations

import ast
import io
import tokenize
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "growthos_segments"
AWS = frozenset({"boto3", "botocore", "pynamodb", "aws_lambda_powertools", "moto"})

# layer -> the project layers it may import (itself always allowed)
ALLOWED: dict[str, frozenset[str]] = {
    "core": frozenset(),
    "kit": frozenset({"core"}),
    "plugins": frozenset({"core", "kit"}),
    "services": frozenset({"core"}),
    "infra": frozenset({"core"}),
    "analytics": frozenset({"core", "kit"}),
    "handlers": frozenset({"core", "kit", "plugins", "services", "infra", "analytics"}),
    "devstack": frozenset({"core", "kit", "plugins", "services", "infra", "handlers", "analytics"}),
}
PURE = frozenset({"core", "kit", "plugins", "services", "analytics"})
LAYERS = tuple(name for name in ALLOWED if (ROOT / name).is_dir())


def imports_of(path: Path) -> set[str]:
    """Every absolute module name a file imports (``from x import y`` also names ``x.y``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def violations(layer: str, path: Path) -> list[str]:
    found = []
    for name in sorted(imports_of(path)):
        parts = name.split(".")
        if parts[0] in ALLOWED or parts[0] in {"tests", "benchmarks"}:
            found.append(f"{name}: a bare import (use {PACKAGE}.{parts[0]})")
        elif parts[0] == PACKAGE and len(parts) > 1 and parts[1] in ALLOWED:
            if parts[1] != layer and parts[1] not in ALLOWED[layer]:
                found.append(f"{name}: {layer} may not import {parts[1]}")
        elif layer in PURE and parts[0] in AWS:
            found.append(f"{name}: {layer} is pure (no AWS libraries)")
    return found


@pytest.mark.parametrize("layer", LAYERS)
def test_each_layer_imports_only_what_it_may(layer: str) -> None:
    files = sorted((ROOT / layer).rglob("*.py"))
    assert files, f"{layer}/ has no modules?"
    found = {str(path.relative_to(ROOT)): violations(layer, path) for path in files}
    assert {file: v for file, v in found.items() if v} == {}


def test_nothing_outside_devstack_imports_it() -> None:
    found = []
    for layer in LAYERS:
        if layer == "devstack":
            continue
        for path in sorted((ROOT / layer).rglob("*.py")):
            found += [f"{path.relative_to(ROOT)}: {n}" for n in imports_of(path)
                      if n.startswith(f"{PACKAGE}.devstack")]
    assert found == []


def test_tests_and_benchmarks_use_the_import_root() -> None:
    """A bare ``import core`` would load a second copy of the modules beside ``growthos_segments.core``."""
    found = []
    for folder in ("tests", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            found += [f"{path.relative_to(ROOT)}: {n}" for n in imports_of(path)
                      if n.split(".")[0] in ALLOWED]
    assert found == []


def test_every_package_folder_is_installed_under_the_root() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    folders = {
        ".".join((PACKAGE, *init.parent.relative_to(ROOT).parts))
        for layer in LAYERS
        for init in (ROOT / layer).rglob("__init__.py")
    }
    assert folders - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    assert {f"{PACKAGE}.{layer}": layer for layer in LAYERS}.items() <= config["package-dir"].items()


HANDLER_LINES = 60
"""Lines of code (not blank, comment or docstring) a handler module may have: a
handler parses, calls one service and shapes the response."""


def code_lines(source: str) -> int:
    docstrings: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) and body:
            first = body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                docstrings.update(range(first.lineno, first.end_lineno + 1))
    lines: set[int] = set()
    layout = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT,
              tokenize.ENDMARKER}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in layout:
            lines.update(n for n in range(token.start[0], token.end[0] + 1) if n not in docstrings)
    return len(lines)


def test_handlers_stay_thin() -> None:
    sizes = {path.name: code_lines(path.read_text()) for path in sorted((ROOT / "handlers").glob("*.py"))}
    assert {name: n for name, n in sizes.items() if n > HANDLER_LINES} == {}


def test_code_lines_count_code_only() -> None:
    source = '"""Doc\nstring."""\n\n# comment\nx = (\n    1,\n)\n\n\ndef f():\n    """Doc."""\n    return x\n'
    assert code_lines(source) == 5


def test_the_check_catches_each_kind_of_violation(tmp_path: Path) -> None:
    sample = tmp_path / "bad.py"
    sample.write_text(
        "import os\n"
        "from botocore.client import Config\n"
        "import core.rules\n"
        "def late():\n"
        "    from growthos_segments.infra import keys\n"
        "    from growthos_segments.core import rules\n"
    )
    assert violations("services", sample) == [
        "botocore.client: services is pure (no AWS libraries)",
        "botocore.client.Config: services is pure (no AWS libraries)",
        "core.rules: a bare import (use growthos_segments.core)",
        "growthos_segments.infra: services may not import infra",
        "growthos_segments.infra.keys: services may not import infra",
    ]
    assert violations("handlers", sample) == [
        "core.rules: a bare import (use growthos_segments.core)",
    ]
