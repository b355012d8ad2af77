"""Timing and memory: medians of several runs, and the peak resident memory a run added.

Polars and the drivers allocate in Rust, out of `tracemalloc`'s sight, so
memory is the process's resident set sampled every few milliseconds on a
thread (it runs whenever the measured code releases the GIL, as Polars does).
"""

from __future__ import annotations

import resource
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

_PAGE = resource.getpagesize()


def rss_mb() -> float:
    """Resident memory of this process now, in MB."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE / 1e6


def max_rss_mb() -> float:
    """The largest resident memory this process has had, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


@dataclass(frozen=True)
class Stat:
    """Seconds over `runs` runs (median, min, max), CPU seconds (median) and the peak added MB."""

    median: float
    low: float
    high: float
    cpu: float
    peak_mb: float
    runs: int

    def as_dict(self) -> dict[str, Any]:
        """For the JSON results file."""
        return asdict(self)


class _Sampler:
    def __init__(self) -> None:
        self.peak = rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, rss_mb())

    def __enter__(self) -> _Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())


def measure(run: Callable[[], Any], *, runs: int, warmup: bool = True) -> tuple[Stat, Any]:
    """Time `run` `runs` times after one untimed warm-up; return the Stat and the last result."""
    result = run() if warmup else None
    times, cpus, peaks = [], [], []
    for _ in range(runs):
        base = rss_mb()
        with _Sampler() as sampler:
            cpu = time.process_time()
            start = time.perf_counter()
            result = run()
            times.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu)
        peaks.append(sampler.peak - base)
    return (
        Stat(
            median=statistics.median(times),
            low=min(times),
            high=max(times),
            cpu=statistics.median(cpus),
            peak_mb=max(peaks),
            runs=runs,
        ),
        result,
    )


def from_samples(samples: list[float], peak_mb: float) -> Stat:
    """A Stat from latencies measured one by one (posting payments)."""
    return Stat(
        median=statistics.median(samples),
        low=min(samples),
        high=max(samples),
        cpu=float("nan"),
        peak_mb=peak_mb,
        runs=len(samples),
    )
