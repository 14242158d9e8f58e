"""Run pip and show how far it has got, without its full output.

``make run`` on a fresh clone installs about fifty packages; ``pip --quiet``
says nothing for a minute, and pip's normal output is a few hundred lines.
This runs the pip command it is given and turns its output into progress: a
count of the packages collected so far (with the latest name), then the
install step with its elapsed time, ticking while pip is silent. On a terminal
that is one line redrawn in place; elsewhere (CI logs) a line per phase and
every ten packages. If pip fails, its whole output is printed, so nothing is
lost when it matters.

The Makefile runs this file with the system Python before ``.venv`` exists, so
it uses the standard library only and imports nothing from the project.
"""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import TextIO

__all__ = ["Progress", "main", "run"]

_COLLECTING = re.compile(r"^Collecting (\S+)")
_INSTALLING = re.compile(r"^Installing collected packages: (.*)$")
_DONE = re.compile(r"^Successfully installed (.*)$")
TICK = 1.0
"""Seconds between updates while pip prints nothing (the install step)."""


class Progress:
    """Turns pip's output lines into progress lines on ``out``."""

    def __init__(self, out: TextIO, *, redraw: bool, clock: Callable[[], float] = time.monotonic) -> None:
        self._out = out
        self._redraw = redraw
        self._clock = clock
        self._started = clock()
        self._shown_at = self._started
        self.collected = 0
        self.latest = ""
        self.installing = 0
        self._last = ""

    def _show(self, text: str, *, final: bool = False) -> None:
        if self._redraw:
            self._out.write("\r" + text.ljust(len(self._last)) + ("\n" if final else ""))
            self._last = "" if final else text
        else:
            self._out.write(text + "\n")
        self._out.flush()
        self._shown_at = self._clock()

    def _status(self) -> str:
        seconds = self._clock() - self._started
        if self.installing:
            return f"  pip: installing {self.installing} packages ... {seconds:.0f} s"
        return f"  pip: collecting packages: {self.collected} ({self.latest}) ... {seconds:.0f} s"

    def line(self, raw: str) -> None:
        text = raw.rstrip("\n")
        collecting = _COLLECTING.match(text)
        if collecting:
            self.collected += 1
            self.latest = collecting.group(1)
            if self._redraw or self.collected == 1 or self.collected % 10 == 0:
                self._show(self._status())
            return
        installing = _INSTALLING.match(text)
        if installing:
            self.installing = len([p for p in installing.group(1).split(",") if p.strip()])
            self._show(self._status())
            return
        done = _DONE.match(text)
        if done:
            count = len(done.group(1).split())
            seconds = self._clock() - self._started
            self._show(f"  pip: installed {count} packages in {seconds:.0f} s", final=True)

    def tick(self) -> None:
        """pip is silent: redraw the elapsed time, or in a log say so every ten seconds."""
        if self._redraw:
            if self.collected or self.installing:
                self._show(self._status())
        elif self._clock() - self._shown_at >= 10:
            self._show(self._status())

    def finish(self) -> None:
        """End a redrawn line that no final message ended (nothing was installed)."""
        if self._last:
            self._show(self._last, final=True)


def run(command: Sequence[str], out: TextIO, *, redraw: bool, tick: float = TICK) -> int:
    """Run ``command`` (pip), showing progress on ``out``; its output only if it fails."""
    process = subprocess.Popen(
        list(command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
        env={**os.environ, "PIP_PROGRESS_BAR": "off", "PYTHONUNBUFFERED": "1"},
    )
    assert process.stdout is not None
    lines: queue.Queue[str | None] = queue.Queue()

    def read(stream: Iterable[str]) -> None:
        for item in stream:
            lines.put(item)
        lines.put(None)

    threading.Thread(target=read, args=(process.stdout,), daemon=True).start()
    progress = Progress(out, redraw=redraw)
    seen: list[str] = []
    last_tick = 0.0
    while True:
        try:
            item = lines.get(timeout=tick)
        except queue.Empty:
            item = ""
        if item is None:
            break
        if item:
            seen.append(item)
            progress.line(item)
        now = time.monotonic()
        if now - last_tick >= tick:
            progress.tick()
            last_tick = now
    code = process.wait()
    progress.finish()
    if code != 0:
        out.write("".join(seen))
        out.write(f"pip failed (exit {code}); its output is above\n")
        out.flush()
    return code


def main(argv: Sequence[str] | None = None) -> int:
    command = list(sys.argv[1:] if argv is None else argv)
    if not command:
        print("usage: python pip_progress.py <pip command ...>", file=sys.stderr)
        return 2
    return run(command, sys.stdout, redraw=sys.stdout.isatty())


if __name__ == "__main__":
    sys.exit(main())
