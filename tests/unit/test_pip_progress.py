"""The install step of ``make run`` shows progress instead of a silent minute."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

from growthos_segments.devstack.pip_progress import Progress, run

ROOT = Path(__file__).resolve().parents[2]

PIP_OUTPUT = [
    "Looking in indexes: https://pypi.org/simple",
    "Obtaining file:///work/main",
    *[line for n in range(23) for line in (f"Collecting package-{n}>=1", f"  Using cached package_{n}.whl")],
    "Building wheels for collected packages: growthos-segments",
    "Installing collected packages: package-0, package-1, package-2",
    "Successfully installed package-0-1.0 package-1-2.0 package-2-3.0",
]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_log_gets_a_line_per_phase_every_ten_packages_and_while_pip_is_silent() -> None:
    out, clock = io.StringIO(), Clock()
    progress = Progress(out, redraw=False, clock=clock)
    for line in PIP_OUTPUT[:-1]:
        progress.line(line)
    for _ in range(25):  # the install step prints nothing for 25 s
        clock.now += 1
        progress.tick()
    progress.line(PIP_OUTPUT[-1])
    assert out.getvalue().splitlines() == [
        "  pip: collecting packages: 1 (package-0>=1) ... 0 s",
        "  pip: collecting packages: 10 (package-9>=1) ... 0 s",
        "  pip: collecting packages: 20 (package-19>=1) ... 0 s",
        "  pip: installing 3 packages ... 0 s",
        "  pip: installing 3 packages ... 10 s",
        "  pip: installing 3 packages ... 20 s",
        "  pip: installed 3 packages in 25 s",
    ]


def test_a_terminal_gets_one_line_redrawn_in_place() -> None:
    out, clock = io.StringIO(), Clock()
    progress = Progress(out, redraw=True, clock=clock)
    for line in PIP_OUTPUT:
        clock.now += 0.5
        progress.line(line)
    text = out.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")
    assert text.rstrip().endswith("\r  pip: installed 3 packages in 26 s")  # 52 lines, half a second each
    assert text.count("\r") == 23 + 2  # each package, the install step, the result


def test_pip_output_is_shown_only_when_pip_fails() -> None:
    script = "print('Collecting a'); print('Looking in indexes: x'); print('Successfully installed a-1')"
    out = io.StringIO()
    assert run([sys.executable, "-c", script], out, redraw=False, tick=0.05) == 0
    assert "Looking in indexes" not in out.getvalue() and "installed 1 packages" in out.getvalue()
    failing = "print('Collecting a'); print('ERROR: no matching distribution for a'); raise SystemExit(1)"
    out = io.StringIO()
    assert run([sys.executable, "-c", failing], out, redraw=False, tick=0.05) == 1
    assert "ERROR: no matching distribution for a" in out.getvalue()
    assert out.getvalue().rstrip().endswith("pip failed (exit 1); its output is above")


def test_make_installs_through_the_progress_filter(tmp_path: Path) -> None:
    make = shutil.which("make")
    assert make is not None
    (tmp_path / "web").mkdir()
    web = ("package.json", "package-lock.json", "index.html", "vite.config.ts", "tsconfig.json")
    for name in ("Makefile", "pyproject.toml", "openapi.json", *(f"web/{file}" for file in web)):
        shutil.copy(ROOT / name, tmp_path / name)  # `run` also builds the web app from these
    planned = subprocess.run([make, "-n", "run"], cwd=tmp_path, capture_output=True, text=True, check=True)
    installs = [line for line in planned.stdout.splitlines() if "pip install" in line]
    assert installs and all("pip_progress.py" in line and "--quiet" not in line for line in installs)
    assert "cd web && npm run --silent build" in planned.stdout
