"""core/ must stay pure: no AWS SDKs, no Powertools, no adapters."""

from __future__ import annotations

import ast
from pathlib import Path

FORBIDDEN = {"boto3", "botocore", "pynamodb", "aws_lambda_powertools", "infra", "handlers", "plugins"}
CORE = Path(__file__).resolve().parents[2] / "core"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {name.split(".")[0] for name in names}


def test_core_imports_nothing_forbidden() -> None:
    files = sorted(CORE.rglob("*.py"))
    assert files, "core/ has no modules?"
    offenders = {
        str(path.relative_to(CORE.parent)): sorted(imported_modules(path) & FORBIDDEN) for path in files
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_check_catches_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "bad.py"
    sample.write_text("import os\nfrom botocore.client import Config\n")
    assert imported_modules(sample) & FORBIDDEN == {"botocore"}
