"""Build what ``sam build`` deploys: the runtime code, and its dependencies as a layer.

Every function in ``template.yaml`` says ``BuildMethod: makefile``, so ``sam
build`` runs the Makefile's ``build-<LogicalId>`` targets with ``ARTIFACTS_DIR``
set, and those run this file:

- ``code DIR`` copies the packages pyproject.toml installs under the
  ``growthos_segments`` import root, less the development stack, as
  ``DIR/growthos_segments/...``: no tests, benchmarks, examples, dev stack or
  CLI reach a Lambda;
- ``site DIR --from FOLDER`` copies the built web app (web/dist) into
  ``DIR/site/``, for the one function that publishes it (``AppDeployFunction``,
  handlers/web_deploy.py);
- ``dependencies DIR`` pip-installs the distribution's runtime dependencies
  (``[project] dependencies`` plus the ``aws`` and ``sql`` extras) into ``DIR`` as wheels for
  the template's runtime and architecture, so the layer holds aarch64 builds of
  pydantic-core, google-re2 and datalogic-py whatever machine runs the build,
  and no python3.12 interpreter or Docker is needed for it. boto3 and botocore
  are shipped although the Lambda runtime has its own: pynamodb requires
  botocore, so pip installs it anyway, and the runtime's copy is whatever AWS
  installed last, which need not satisfy the ``boto3>=1.40`` of pyproject.toml
  (nor match the botocore shipped beside it).

pyproject.toml stays the one list of packages and of dependencies. The Makefile
runs this file with the system Python, outside any virtualenv, so it uses the
standard library only and imports nothing from the project.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "ARCHITECTURE",
    "DEV_PACKAGES",
    "RUNTIME",
    "SITE_FOLDER",
    "build_code",
    "build_dependencies",
    "build_site",
    "main",
    "runtime_packages",
    "runtime_requirements",
    "wheel_selection",
]

ROOT = Path(__file__).resolve().parent.parent
"""The repository: pyproject.toml and the package folders it maps."""

RUNTIME = "python3.12"
"""``Globals.Function.Runtime`` of template.yaml (a test keeps them equal)."""

ARCHITECTURE = "arm64"
"""``Globals.Function.Architectures`` of template.yaml (a test keeps them equal)."""

_MACHINES = {"arm64": "aarch64", "x86_64": "x86_64"}

_GLIBC_MINOR = {"python3.11": 26, "python3.12": 34, "python3.13": 34}
"""glibc 2.N of each runtime's OS (Amazon Linux 2 before python3.12, Amazon Linux 2023 since)."""

DEV_PACKAGES = ("growthos_segments.devstack",)
"""Installed for development (local stack, CLI, demo data), never deployed."""

RUNTIME_EXTRAS = ("aws", "sql")
"""Optional dependency groups the deployed functions need besides the core ones: AWS's
libraries, and DuckDB for the analytical copy (never pyarrow: too big for a layer)."""


def _pyproject(root: Path) -> dict[str, Any]:
    with open(root / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)


def runtime_packages(root: Path = ROOT) -> dict[str, Path]:
    """``{package: source folder}`` for every deployed package, as setuptools maps them.

    setuptools installs the ``.py`` files of each listed package (sub-packages
    are listed on their own), with its folder from the longest ``package-dir``
    prefix; this does the same for every package outside :data:`DEV_PACKAGES`.
    """
    setuptools: Mapping[str, Any] = _pyproject(root)["tool"]["setuptools"]
    if setuptools.get("package-data") or setuptools.get("include-package-data"):
        raise ValueError("pyproject.toml declares package data, which the Lambda package build does not copy")
    package_dir: Mapping[str, str] = setuptools.get("package-dir", {})
    folders: dict[str, Path] = {}
    for package in setuptools["packages"]:
        if any(package == dev or package.startswith(dev + ".") for dev in DEV_PACKAGES):
            continue
        parts = package.split(".")
        for cut in range(len(parts), 0, -1):
            prefix = ".".join(parts[:cut])
            if prefix in package_dir:
                folders[package] = root.joinpath(package_dir[prefix], *parts[cut:])
                break
        else:
            folders[package] = root.joinpath(*parts)
    return folders


def runtime_requirements(root: Path = ROOT) -> list[str]:
    """The requirement strings a deployed function needs (core dependencies and :data:`RUNTIME_EXTRAS`)."""
    project: Mapping[str, Any] = _pyproject(root)["project"]
    extras: Mapping[str, list[str]] = project.get("optional-dependencies", {})
    return [*project.get("dependencies", []), *(req for extra in RUNTIME_EXTRAS for req in extras[extra])]


def build_code(target: Path, root: Path = ROOT) -> list[Path]:
    """Copy the deployed packages' modules into ``target``; returns the files written.

    An earlier ``growthos_segments`` in ``target`` is replaced, so a module
    deleted from the repository does not linger in the package.
    """
    destination_root = target / "growthos_segments"
    if destination_root.exists():
        shutil.rmtree(destination_root)
    written: list[Path] = []
    for package, folder in sorted(runtime_packages(root).items()):
        if not (folder / "__init__.py").is_file():
            raise ValueError(f"pyproject.toml lists package {package}, but {folder} has no __init__.py")
        destination = target.joinpath(*package.split("."))
        destination.mkdir(parents=True, exist_ok=True)
        for module in sorted(folder.glob("*.py")):
            written.append(Path(shutil.copy2(module, destination / module.name)))
    return written


SITE_FOLDER = "site"
"""Where the built web app goes in a package: ``SITE_FOLDER`` of handlers/web_deploy.py
(a test keeps them equal; this file imports nothing from the project)."""


def build_site(target: Path, source: Path) -> list[Path]:
    """Copy the built web app ``source`` into ``target/site``; returns the files written.

    An earlier copy is replaced, so a file of an older build does not linger. A
    folder without ``index.html`` stops the build: the function would publish no app.
    """
    if not (source / "index.html").is_file():
        raise ValueError(f"{source} holds no index.html: build the web app first (make web)")
    destination = target / SITE_FOLDER
    if destination.exists():
        shutil.rmtree(destination)
    shutil.copytree(source, destination)
    return sorted(path for path in destination.rglob("*") if path.is_file())


def build_dependencies(
    target: Path,
    *,
    root: Path = ROOT,
    runtime: str | None = RUNTIME,
    architecture: str | None = ARCHITECTURE,
) -> None:
    """pip-install the runtime requirements into ``target``.

    With ``runtime`` and ``architecture`` (the template's, by default) pip
    takes binary wheels for that interpreter and platform only; with both None
    it installs for the interpreter running pip (what a test can import).
    ``--no-compile``: byte code compiled by the building interpreter would not
    match the runtime's.
    """
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--target", str(target)]
    if runtime is not None or architecture is not None:
        command += wheel_selection(runtime, architecture)
    subprocess.run([*command, *runtime_requirements(root)], check=True)


def wheel_selection(runtime: str | None, architecture: str | None) -> list[str]:
    """pip options that take only wheels a Lambda ``runtime`` on ``architecture`` can load.

    pip matches ``--platform`` tags literally, so every manylinux tag the
    runtime's glibc accepts is listed: with ``manylinux2014`` alone pip would
    pass over newer wheels built for glibc 2.28 (google-re2's recent releases
    for aarch64) and install an older release.
    """
    if runtime not in _GLIBC_MINOR or architecture not in _MACHINES:
        raise ValueError(f"no wheel platform known for runtime {runtime!r} on {architecture!r}")
    machine = _MACHINES[architecture]
    platforms = [f"manylinux_2_{minor}_{machine}" for minor in range(_GLIBC_MINOR[runtime], 16, -1)]
    platforms.append(f"manylinux2014_{machine}")  # the legacy name of manylinux_2_17
    return [
        "--only-binary=:all:",
        "--implementation", "cp",
        "--python-version", runtime.removeprefix("python"),
        *(option for platform in platforms for option in ("--platform", platform)),
    ]  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="lambda_package.py",
        description="Build the Lambda code package, the web app's copy in it, or the dependencies layer "
        "(run by `sam build`).",
    )
    parser.add_argument("part", choices=("code", "site", "dependencies"))
    parser.add_argument("directory", help="SAM's $(ARTIFACTS_DIR), or its python/ for the layer")
    parser.add_argument("--from", dest="source", type=Path, default=ROOT / "web" / "dist",
                        help="site: the built web app (default: web/dist)")
    args = parser.parse_args(argv)
    if not args.directory.strip():
        parser.error("the directory is empty: run through `sam build`, or set ARTIFACTS_DIR")
    target = Path(args.directory)
    try:
        if args.part == "code":
            count = len(build_code(target))
            print(f"lambda package: {count} modules of growthos_segments in {target}")
        elif args.part == "site":
            count = len(build_site(target, args.source))
            print(f"lambda package: {count} files of the web app in {target / SITE_FOLDER}")
        else:
            build_dependencies(target)
            print(f"lambda layer: runtime dependencies for {RUNTIME} {ARCHITECTURE} in {target}")
    except (OSError, ValueError, subprocess.CalledProcessError) as error:
        print(f"lambda_package.py: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
