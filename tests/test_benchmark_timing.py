"""benchmarks.timing: the best of several runs, on the CPU clock or the wall clock."""

import time

from benchmarks.timing import best_cpu_s, best_wall_s


def _sleeps(*seconds: float):
    """A function that sleeps ``seconds[i]`` on its i-th call: wall time passes, CPU time (almost) does not."""
    calls = iter(seconds)
    return lambda: time.sleep(next(calls))


def test_wall_time_is_the_shortest_run_and_counts_waiting():
    best = best_wall_s(_sleeps(0.2, 0.02, 0.1), 3)
    assert 0.02 <= best < 0.1


def test_cpu_time_leaves_waiting_out():
    assert best_cpu_s(_sleeps(0.02, 0.02), 2) < 0.01
