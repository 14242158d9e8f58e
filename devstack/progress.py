"""Progress of the local stack's start-up, for the person watching the terminal.

Seeding and filling the demo tenants is most of ``make run``'s start-up, so
each step says what it is doing and how far along it is: on a terminal one
line per step is redrawn in place (a bar and a counter); in a pipe, a log file
or a test that collects lines, a line is printed when a step starts, at each
quarter and when it ends, which keeps the output short and readable.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

__all__ = ["ProgressLine"]

_BAR = 24
_LABEL = 42


class ProgressLine:
    """``label done/total`` per step; ``emit`` collects whole lines instead of a terminal."""

    def __init__(self, emit: Callable[[str], None] | None = None, *, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stdout
        self._emit = emit
        self._redraw = emit is None and self._stream.isatty()
        self._quarters: dict[str, int] = {}

    def note(self, text: str) -> None:
        """A phase without a count (starting servers, creating tables)."""
        if self._emit is not None:
            self._emit(f"  {text}")
        else:
            print(f"  {text}", file=self._stream, flush=True)

    def step(self, label: str, done: int, total: int) -> None:
        total = max(total, 1)
        done = min(max(done, 0), total)
        if self._redraw:
            filled = _BAR * done // total
            bar = "#" * filled + "." * (_BAR - filled)
            self._stream.write(f"\r  {label:<{_LABEL}} [{bar}] {done:,}/{total:,}")
            if done == total:
                self._stream.write("\n")
            self._stream.flush()
            return
        quarter = 4 * done // total
        if self._quarters.get(label) == quarter:
            return
        self._quarters[label] = quarter
        line = f"  {label} {done:,}/{total:,}"
        if self._emit is not None:
            self._emit(line)
        else:
            print(line, file=self._stream, flush=True)
