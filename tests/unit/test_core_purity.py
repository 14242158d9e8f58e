"""core/ must stay pure: no AWS SDKs, no Powertools, no moto, no other layer of the project."""

from __future__ import annotations

import ast
from pathlib import Path

AWS = {"boto3", "botocore", "pynamodb", "aws_lambda_powertools", "moto"}
LAYERS = {"kit", "plugins", "services", "infra", "handlers", "devstack"}
CORE = Path(__file__).resolve().parents[2] / "core"


def forbidden_imports(path: Path) -> set[str]:
    """Modules ``path`` imports that core may not: an AWS library, or a project layer
    under the ``growthos_segments`` import root (``growthos_segments.infra.keys``)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    found = set()
    for name in names:
        parts = name.split(".")
        if parts[0] in AWS or (parts[0] == "growthos_segments" and len(parts) > 1 and parts[1] in LAYERS):
            found.add(name)
    return found


def test_core_imports_nothing_forbidden() -> None:
    files = sorted(CORE.rglob("*.py"))
    assert files, "core/ has no modules?"
    offenders = {str(path.relative_to(CORE.parent)): sorted(forbidden_imports(path)) for path in files}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_check_catches_a_forbidden_import(tmp_path: Path) -> None:
    sample = tmp_path / "bad.py"
    sample.write_text("import os\nfrom botocore.client import Config\n"
                      "from growthos_segments.infra import keys\nfrom growthos_segments.core import rules\n")
    assert forbidden_imports(sample) == {"botocore.client", "growthos_segments.infra"}
