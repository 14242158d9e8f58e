"""Small timing helpers: medians over repeated batches, in microseconds."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_us(fn: Callable[[], object], *, number: int = 2000, repeat: int = 7) -> float:
    """Median µs per call over ``repeat`` batches of ``number`` calls (after a warm-up batch)."""
    for _ in range(min(number, 200)):
        fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter_ns() - start) / number / 1000)
    return statistics.median(samples)


def percentiles_ms(samples_s: list[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds of a list of durations in seconds."""
    ordered = sorted(samples_s)
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return p50 * 1000, p99 * 1000


def row(label: str, value: str, target: str = "") -> None:
    print(f"  {label:<64} {value:>14}  {target}")
