"""Helpers the benchmarks share or rely on: best-of timing, the predictors a benchmark can time."""

import time

import pytest

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


def test_the_subnet_latency_benchmark_times_only_predictors_with_a_device_of_their_own():
    from benchmarks.bench_subnet_latency import _fixed_device

    assert hasattr(_fixed_device("note10"), "subnet_latency_ms")
    with pytest.raises(TypeError, match=r"'hls-engine' \(EnginePredictor\) prices units on the accelerators"):
        _fixed_device("hls-engine")
