"""What ``sam build`` deploys holds the runtime code and its dependencies, and nothing else.

Each function's code is built the way SAM builds it from template.yaml: with
``Metadata: BuildMethod: makefile``, ``make build-<LogicalId>`` with
``ARTIFACTS_DIR`` set (run by a Python without site-packages, as SAM runs it
outside any virtualenv); without it, SAM's Python builder copies the
``CodeUri`` folder as it is, so that folder is the package. The layer's
dependencies come from the same module, for the running interpreter instead of
python3.12/arm64 so that this machine can import them. A subprocess that sees
only the standard library, one function's package and those dependencies then
imports every module of the package, every handler the template names, and
builds the default condition host.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from growthos_segments.devstack import lambda_package
from growthos_segments.devstack.template import load_template
from growthos_segments.handlers import web_deploy
from growthos_segments.plugins import default_host

ROOT = Path(__file__).resolve().parents[2]

RUNTIME_FOLDERS = ("core", "kit", "plugins", "services", "infra", "handlers", "analytics")
"""The layers a function runs (the import root ``growthos_segments`` maps each folder under it)."""

DEVELOPMENT_DISTRIBUTIONS = ("moto", "pytest", "_pytest", "hypothesis", "yaml", "cfnlint", "schemathesis")
"""Top-level names of development tools that must not reach the layer."""

_NO_SITE_PACKAGES = [sys.executable, "-I", "-S"]
"""How the make targets run Python here: the standard library only, as outside a virtualenv."""

NEEDS_ANALYTICS_EXTRA = (
    "growthos_segments.analytics.documents",
)
"""Modules that import pyarrow at the top: the Lambda layer holds DuckDB (the ``sql``
extra) but not pyarrow (170 MB), and no function imports them, so the import check skips
exactly these (every other module must import from the package and layer alone)."""

_IMPORT_EVERYTHING = r"""
import importlib, json, pkgutil, sys, sysconfig, traceback
code, deps, skipped, handlers = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4:]
sys.path[:0] = [code, deps]
failures = []
def attempt(name, action):
    try:
        return action()
    except BaseException:
        failures.append(name + ": " + traceback.format_exc(limit=-1).strip().splitlines()[-1])
import growthos_segments
def unimportable(name):
    failures.append(name + ": not importable")
walk = pkgutil.walk_packages(growthos_segments.__path__, "growthos_segments.", onerror=unimportable)
modules = [m.name for m in walk if m.name not in skipped]
for name in modules:
    attempt(name, lambda: importlib.import_module(name))
for path in handlers:
    module, attribute = path.rsplit(".", 1)
    def handler(module=module, attribute=attribute):
        if not callable(getattr(importlib.import_module(module), attribute)):
            raise TypeError("not callable")
    attempt(path, handler)
host = attempt("default_host()", lambda: importlib.import_module("growthos_segments.plugins").default_host())
allowed = (code, deps, sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"])
outside = sorted(
    getattr(m, "__file__", None) for m in list(sys.modules.values())
    if getattr(m, "__file__", None) and not m.__file__.startswith(allowed)
)
print(json.dumps({"failures": failures, "modules": len(modules), "outside": outside, "sys_path": sys.path,
                  "condition_types": len(host.catalog()) if host is not None else 0}))
"""


_AUTHORIZE = r"""
import importlib, json, sys
from types import SimpleNamespace
code, deps, handler_path = sys.argv[1:]
sys.path[:0] = [code, deps]
module, attribute = handler_path.rsplit(".", 1)
handler = getattr(importlib.import_module(module), attribute)
context = SimpleNamespace(
    function_name="AuthorizerFunction", function_version="$LATEST", memory_limit_in_mb=256,
    invoked_function_arn="arn:aws:lambda:us-east-1:123456789012:function:AuthorizerFunction",
    aws_request_id="1", log_group_name="group", log_stream_name="stream",
    get_remaining_time_in_millis=lambda: 5000,
)
event = {"type": "REQUEST", "headers": {"x-api-key": "package-key"},
         "methodArn": "arn:aws:execute-api:us-east-1:123456789012:api/v1/GET/health"}
print(json.dumps(handler(event, context)["context"]))
"""
"""One invocation as API Gateway makes it: Powertools and the settings run, not only imports."""

def _functions(template: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def _build_like_sam(
    logical_id: str, resource: Mapping[str, Any], globals_: Mapping[str, Any], out: Path, web_dist: Path
) -> Path:
    if resource.get("Metadata", {}).get("BuildMethod") != "makefile":
        return ROOT / resource["Properties"].get("CodeUri", globals_.get("CodeUri", "."))
    env = {**os.environ, "ARTIFACTS_DIR": str(out), "PYTHON": shlex.join(_NO_SITE_PACKAGES),
           "WEB_DIST": str(web_dist)}
    command = ["make", "--makefile", str(ROOT / "Makefile"), f"build-{logical_id}"]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{logical_id}: {result.stderr}"
    return out


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(ROOT / "template.yaml")


SITE_FUNCTION = "AppDeployFunction"
"""The one function whose package also holds the built web app (handlers/web_deploy.py)."""


@pytest.fixture(scope="module")
def web_dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stand-in for web/dist: the package build copies whatever the build holds, and
    building the real app here would need npm and overwrite the checkout's web/dist."""
    folder = tmp_path_factory.mktemp("dist")
    (folder / "assets").mkdir()
    (folder / "index.html").write_text("<!doctype html><title>builder</title>")
    (folder / "config.json").write_text('{"api": null}\n')
    (folder / "assets" / "index-0a1b2c3d.js").write_text("console.log(1)")
    return folder


@pytest.fixture(scope="module")
def packages(
    template: dict[str, Any], tmp_path_factory: pytest.TempPathFactory, web_dist: Path
) -> dict[str, Path]:
    """``{function logical id: its built code}``."""
    globals_ = template["Globals"]["Function"]
    out = tmp_path_factory.mktemp("functions")
    return {
        logical_id: _build_like_sam(logical_id, resource, globals_, out / logical_id, web_dist)
        for logical_id, resource in _functions(template).items()
    }


@pytest.fixture(scope="module")
def dependencies(template: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the functions' layers provide, for this interpreter (empty without a layer)."""
    target = tmp_path_factory.mktemp("layer") / "python"
    if template["Globals"]["Function"].get("Layers"):
        lambda_package.build_dependencies(target, runtime=None, architecture=None)
    target.mkdir(exist_ok=True)
    return target


def _files(folder: Path) -> set[str]:
    return {
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.parts[len(folder.parts)] != ".git"
    }


def _distinct(packages: Mapping[str, Path]) -> dict[str, Path]:
    """One function per distinct package content: importing identical packages again proves nothing."""
    by_content: dict[str, tuple[str, Path]] = {}
    for logical_id, package in packages.items():
        digest = hashlib.sha256()
        for path in sorted(package.rglob("*.py")):
            digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
        by_content.setdefault(digest.hexdigest(), (logical_id, package))
    return dict(by_content.values())


def test_each_function_holds_the_runtime_packages_and_nothing_else(
    packages: dict[str, Path], web_dist: Path
) -> None:
    code = {"growthos_segments/__init__.py"} | {
        f"growthos_segments/{folder}/{name}"
        for folder in RUNTIME_FOLDERS
        for name in _files(ROOT / folder)
        if name.endswith(".py")
    }
    site = {f"{lambda_package.SITE_FOLDER}/{name}" for name in _files(web_dist)}
    assert SITE_FUNCTION in packages
    for logical_id, package in packages.items():
        files = _files(package)
        expected = code | site if logical_id == SITE_FUNCTION else code
        missing, extra = sorted(expected - files), sorted(files - expected)
        assert not extra, f"{logical_id} holds more than runtime code: {extra[:10]}"
        assert not missing, f"{logical_id} misses {missing[:10]}"


def test_every_handler_imports_from_the_package_and_layer_alone(
    template: dict[str, Any], packages: dict[str, Path], dependencies: Path
) -> None:
    handlers = [resource["Properties"]["Handler"] for resource in _functions(template).values()]
    assert len(handlers) == 11
    for logical_id, package in _distinct(packages).items():
        command = [*_NO_SITE_PACKAGES, "-c", _IMPORT_EVERYTHING, str(package), str(dependencies),
                   json.dumps(NEEDS_ANALYTICS_EXTRA), *handlers]
        result = subprocess.run(command, capture_output=True, text=True, check=True, cwd=package)
        report = json.loads(result.stdout)
        assert report["failures"] == [], f"{logical_id}: {report['failures']}"
        assert report["outside"] == [], f"{logical_id} loaded modules from outside the package"
        assert not any("site-packages" in entry for entry in report["sys_path"])
        assert report["modules"] >= 50
        assert report["condition_types"] == len(default_host(load_entry_points=False).catalog())


def _placeholder(template: Mapping[str, Any], value: Any, name: str) -> str:
    """``!Ref`` to a parameter: its default; to a resource: a made-up name (nothing calls AWS)."""
    if isinstance(value, str):
        return value
    parameter = template["Parameters"].get(value.get("Ref"), {})
    return str(parameter.get("Default", f"local-{name.lower()}"))


def test_the_authorizer_answers_from_the_package_and_layer_alone(
    template: dict[str, Any], packages: dict[str, Path], dependencies: Path
) -> None:
    authorizer = template["Resources"]["AuthorizerFunction"]["Properties"]
    variables = {
        **template["Globals"]["Function"]["Environment"]["Variables"],
        **authorizer["Environment"]["Variables"],
    }
    env = {name: _placeholder(template, value, name) for name, value in variables.items()}
    env.update(API_KEYS="package-key=acme/billing/finance", AWS_REGION="us-east-1")
    package = packages["AuthorizerFunction"]
    command = [*_NO_SITE_PACKAGES, "-c", _AUTHORIZE, str(package), str(dependencies), authorizer["Handler"]]
    result = subprocess.run(command, capture_output=True, text=True, check=False, cwd=package, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    context = json.loads(result.stdout.splitlines()[-1])
    assert context == {"tenant_id": "acme", "caller": "billing", "teams": "finance"}


def test_the_layer_holds_no_development_tools(dependencies: Path) -> None:
    names = {path.name for path in dependencies.iterdir()}
    assert {"pluggy", "pydantic", "pynamodb", "aws_lambda_powertools"} <= names
    assert not names & set(DEVELOPMENT_DISTRIBUTIONS)


def test_every_function_uses_a_layer_built_for_its_runtime_and_architecture(template: dict[str, Any]) -> None:
    """The layer is built for the module's runtime and architecture: they must be the functions'."""
    globals_ = template["Globals"]["Function"]
    assert globals_["Runtime"] == lambda_package.RUNTIME
    assert globals_["Architectures"] == [lambda_package.ARCHITECTURE]
    layers = globals_.get("Layers") or []
    assert layers, "Globals.Function.Layers: no layer brings the runtime dependencies"
    for function in _functions(template).values():
        assert "Layers" not in function["Properties"] and "Runtime" not in function["Properties"]
        assert function.get("Metadata", {}).get("BuildMethod") == "makefile"
    for layer in layers:
        resource = template["Resources"][layer["Ref"]]
        assert resource["Type"] == "AWS::Serverless::LayerVersion"
        assert resource["Metadata"]["BuildMethod"] == "makefile"
        assert resource["Metadata"]["BuildArchitecture"] == lambda_package.ARCHITECTURE
        assert resource["Properties"]["CompatibleRuntimes"] == [lambda_package.RUNTIME]
        assert resource["Properties"]["CompatibleArchitectures"] == [lambda_package.ARCHITECTURE]


def test_sam_builds_in_the_source_folder() -> None:
    """Otherwise SAM copies the whole checkout, .venv included, once per function and layer
    (six minutes instead of seconds after ``make test``); the make targets write to
    ARTIFACTS_DIR only, so building in place leaves the checkout as it was."""
    with open(ROOT / "samconfig.toml", "rb") as handle:
        assert tomllib.load(handle)["default"]["build"]["parameters"]["build_in_source"] is True


def test_the_make_target_needs_the_artifacts_directory() -> None:
    env = {key: value for key, value in os.environ.items() if key != "ARTIFACTS_DIR"}
    env["PYTHON"] = shlex.join(_NO_SITE_PACKAGES)
    command = ["make", "--no-print-directory", "build-ApiFunction"]
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert result.returncode != 0
    assert "ARTIFACTS_DIR" in result.stderr
    assert "Traceback" not in result.stderr


def _project(root: Path, setuptools: str) -> Path:
    (root / "growthos_segments").mkdir(parents=True)
    (root / "pyproject.toml").write_text(f'[project]\nname = "x"\n\n[tool.setuptools]\n{setuptools}\n')
    (root / "growthos_segments" / "__init__.py").write_text("")
    return root


def test_a_listed_package_without_its_folder_stops_the_build(tmp_path: Path) -> None:
    root = _project(
        tmp_path / "repo",
        'packages = ["growthos_segments", "growthos_segments.core"]\n'
        '[tool.setuptools.package-dir]\n"growthos_segments.core" = "core"',
    )
    with pytest.raises(ValueError, match=r"growthos_segments\.core.*core has no __init__\.py"):
        lambda_package.build_code(tmp_path / "out", root)


def test_package_data_stops_the_build_instead_of_being_left_out(tmp_path: Path) -> None:
    root = _project(tmp_path / "repo", 'packages = ["growthos_segments"]\npackage-data = {"*" = ["*.json"]}')
    with pytest.raises(ValueError, match="package data"):
        lambda_package.build_code(tmp_path / "out", root)


def test_the_layer_takes_wheels_for_the_runtimes_glibc_not_only_manylinux2014() -> None:
    """google-re2's recent aarch64 wheels are tagged manylinux_2_28; Amazon Linux 2023 (glibc 2.34,
    the python3.12 runtime) loads them, and with manylinux2014 alone pip installs an older release."""
    options = lambda_package.wheel_selection("python3.12", "arm64")
    platforms = {options[i + 1] for i, option in enumerate(options) if option == "--platform"}
    assert {"manylinux2014_aarch64", "manylinux_2_28_aarch64", "manylinux_2_34_aarch64"} <= platforms
    assert "manylinux_2_35_aarch64" not in platforms
    assert options[options.index("--python-version") + 1] == "3.12"
    with pytest.raises(ValueError, match=r"python3\.99"):
        lambda_package.wheel_selection("python3.99", "arm64")


def test_the_site_is_where_the_publishing_handler_reads_it(packages: dict[str, Path], web_dist: Path) -> None:
    package = packages[SITE_FUNCTION]
    site = package / web_deploy.SITE_FOLDER
    assert (site / "index.html").read_bytes() == (web_dist / "index.html").read_bytes()
    assert (site / "assets" / "index-0a1b2c3d.js").is_file()


def test_a_site_without_a_build_stops_the_package_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "dist").mkdir()
    code = lambda_package.main(["site", str(tmp_path / "out"), "--from", str(tmp_path / "dist")])
    assert code == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "holds no index.html: build the web app first (make web)" in error
    assert not (tmp_path / "out").exists()
