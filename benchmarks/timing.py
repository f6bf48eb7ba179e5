"""Best-of timing shared by the benchmarks: CPU time for single-threaded work, wall time where threads count."""

from __future__ import annotations

import math
import time
from collections.abc import Callable


def _best_s(fn: Callable[[], object], repeats: int, clock: Callable[[], float]) -> float:
    """Shortest ``clock`` interval around ``fn()`` over ``repeats`` runs, in seconds."""
    best = math.inf
    for _ in range(repeats):
        start = clock()
        fn()
        best = min(best, clock() - start)
    return best


def best_cpu_s(fn: Callable[[], object], repeats: int) -> float:
    """Best CPU time of ``fn()`` over ``repeats`` runs, in seconds.

    This process's CPU time (``time.process_time``), so that other load on a shared machine does not
    count; the best run is the one least disturbed by it.
    """
    return _best_s(fn, repeats, time.process_time)


def best_wall_s(fn: Callable[[], object], repeats: int) -> float:
    """Best wall time of ``fn()`` over ``repeats`` runs, in seconds (``time.perf_counter``).

    For work that may run on several threads (torch, multi-threaded BLAS), whose CPU time adds up the
    threads' and so is not the time a caller waits; the best run is the one least disturbed by other load.
    """
    return _best_s(fn, repeats, time.perf_counter)
