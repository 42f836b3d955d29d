"""The benchmarks' one timer (no torch import: the ONNX rows must not pay for it)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def timed(fn: Callable[[], object], runs: int, warmup: int = 1) -> list[float]:
    """Seconds of each of `runs` calls of `fn`, after `warmup` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def median_seconds(fn: Callable[[], object], runs: int, warmup: int = 1) -> float:
    """Median seconds of `runs` calls of `fn` after `warmup` untimed calls."""
    return statistics.median(timed(fn, runs, warmup))
