"""CPU timing shared by the benchmarks."""

from __future__ import annotations

import math
import time
from collections.abc import Callable


def best_cpu_s(fn: Callable[[], object], repeats: int) -> float:
    """Best CPU time of ``fn()`` over ``repeats`` runs, in seconds.

    This process's CPU time (``time.process_time``), so that other load on a shared machine does not
    count; the best run is the one least disturbed by it.
    """
    best = math.inf
    for _ in range(repeats):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best
