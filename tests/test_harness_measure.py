"""The measurement harness with the real numpy int8 runner: statistics, warm-up, resume, atomic writes, failures."""

from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import latency_tables.format as table_format
from latency_tables import TableMeta, load_table
from latency_tables.harness import NumpyRunner, Plan, compile_numpy_units, measure, summarize_runs

KEYS = [
    "Conv-input:32x32x3-output:16x16x8",
    "expanded_conv-input:16x16x8-output:8x8x16-expand:24-kernel:3-stride:2-idskip:0-se:0-hs:0",
    "expanded_conv-input:8x8x16-output:8x8x16-expand:48-kernel:5-stride:1-idskip:1-se:1-hs:1",
    "Conv_1-input:8x8x16-output:8x8x64",
    "AvgPool2D-input:8x8x64-output:1x1x64",
    "Logits-input:1x1x64-output:10",
]
META = dict(board="host-cpu", dpu_arch="numpy-int8", clock_mhz=None, toolchain="numpy")


@pytest.fixture()
def bench(tmp_path):
    plan = Plan.from_keys(KEYS, space="tiny")
    compile_numpy_units(plan, tmp_path / "compiled", seed=0)
    return plan, tmp_path / "compiled", tmp_path / "table.csv"


class Counting:
    """Wraps a real runner and counts what the harness asks of it (and can fail on request)."""

    def __init__(self, inner, fail_on=None, exc=None, observe=None):
        self.inner, self.fail_on, self.exc, self.observe = inner, fail_on, exc, observe
        self.suffix = inner.suffix
        self.runs: dict[str, int] = {}
        self.closed: list[str] = []

    def describe(self):
        return "counting " + self.inner.describe()

    def load(self, path, key):
        if self.observe:
            self.observe(key)
        session = self.inner.load(path, key)
        outer = self

        class Wrapped:
            def run(self):
                outer.runs[key] = outer.runs.get(key, 0) + 1
                if key == outer.fail_on and outer.runs[key] == 3:
                    raise outer.exc
                session.run()

            def close(self):
                outer.closed.append(key)

        return Wrapped()


def test_measures_every_unit_with_warmup_and_statistics(bench):
    plan, compiled, out = bench
    runner = Counting(NumpyRunner())
    report = measure(plan, compiled, runner, out, meta=META, warmup=2, runs=5, progress=False)
    assert report.complete and report.measured == tuple(KEYS) and not report.already_present
    assert runner.runs == {key: 7 for key in KEYS}  # 2 warm-up + 5 timed each
    assert runner.closed == KEYS
    table = load_table(out)
    assert table.keys() == KEYS and table.meta.per_entry_invocation is True
    assert table.meta.name == "table" and table.meta.space == "tiny"
    assert "mean_ms is host wall time" in table.meta.method
    entry = table.entries[KEYS[0]]
    assert entry.count == 5 and entry.extra["warmup"] == 2 and entry.extra["host_ms"] == entry.mean_ms
    for entry in table.entries.values():
        assert entry.count == 5 and entry.min_ms <= entry.mean_ms <= entry.max_ms and entry.std_ms >= 0


def test_summarize_runs_against_numpy():
    times = np.array([1.5, 2.0, 2.25, 4.0])
    entry = summarize_runs("Logits-input:1x1x64-output:10", times)
    assert (entry.count, entry.mean_ms, entry.min_ms, entry.max_ms) == (4, 2.4375, 1.5, 4.0)
    assert entry.std_ms == pytest.approx(np.sqrt(((times - 2.4375) ** 2).sum() / 3))
    assert summarize_runs("Logits-input:1x1x64-output:10", np.array([3.0])).std_ms is None


def test_interrupted_run_keeps_finished_units_and_resumes(bench):
    plan, compiled, out = bench
    seen_on_disk = []

    def observe(key):  # between units, the file on disk is always a complete table
        seen_on_disk.append(len(load_table(out)) if out.exists() else 0)

    runner = Counting(NumpyRunner(), fail_on=KEYS[3], exc=KeyboardInterrupt(), observe=observe)
    with pytest.raises(KeyboardInterrupt):
        measure(plan, compiled, runner, out, meta=META, warmup=1, runs=4, progress=False)
    assert seen_on_disk == [0, 1, 2, 3]
    first = load_table(out)
    assert first.keys() == KEYS[:3]
    assert not [p for p in out.parent.iterdir() if p.name.endswith(".tmp")]

    again = Counting(NumpyRunner())
    report = measure(plan, compiled, again, out, meta=META, warmup=1, runs=4, progress=False)
    assert report.already_present == tuple(KEYS[:3]) and report.measured == tuple(KEYS[3:])
    assert set(again.runs) == set(KEYS[3:])  # nothing measured twice
    final = load_table(out)
    assert final.keys() == KEYS
    assert all(final.entries[k] == first.entries[k] for k in KEYS[:3])  # earlier results untouched


def test_a_failed_write_leaves_the_previous_table(bench, monkeypatch):
    plan, compiled, out = bench
    real_replace = table_format.os.replace
    calls = []

    def flaky_replace(src, dst):
        calls.append(dst)
        if len(calls) == 3:
            raise OSError("disk full")
        real_replace(src, dst)

    monkeypatch.setattr(table_format.os, "replace", flaky_replace)
    with pytest.raises(OSError, match="disk full"):
        measure(plan, compiled, NumpyRunner(), out, meta=META, warmup=0, runs=2, progress=False)
    assert load_table(out).keys() == KEYS[:2]
    assert [p.name for p in out.parent.iterdir() if p.is_file()] == ["table.csv"]


def test_missing_bad_and_failing_units_are_reported_and_skipped(bench):
    plan, compiled, out = bench
    (compiled / f"{plan.units[0].name}.npz").unlink()  # missing
    (compiled / f"{plan.units[1].name}.npz").write_bytes(b"this is not an xmodel")  # corrupt
    shutil.copy(compiled / f"{plan.units[5].name}.npz", compiled / f"{plan.units[4].name}.npz")  # wrong unit
    runner = Counting(NumpyRunner(), fail_on=KEYS[2], exc=RuntimeError("DPU timeout"))
    report = measure(plan, compiled, runner, out, meta=META, warmup=1, runs=3, progress=False)
    reasons = {f.key: f.reason for f in report.failed}
    assert reasons[KEYS[0]] == "compiled file missing"
    assert reasons[KEYS[1]].startswith("could not load:")
    assert reasons[KEYS[2]] == "failed while running: RuntimeError: DPU timeout"
    assert "compiled for 'Logits-input:1x1x64-output:10'" in reasons[KEYS[4]]
    assert report.measured == (KEYS[3], KEYS[5]) and not report.complete
    assert KEYS[2] in runner.closed  # the failing session was still released
    assert load_table(out).keys() == [KEYS[3], KEYS[5]]


def test_parallel_executor_gives_the_same_table(bench):
    plan, compiled, out = bench
    with ThreadPoolExecutor(max_workers=2) as pool:
        report = measure(plan, compiled, NumpyRunner(), out, meta=META, warmup=0, runs=2, executor=pool,
                         progress=False)
    assert report.complete and sorted(load_table(out).keys()) == sorted(KEYS)


def test_resuming_on_another_setup_and_bad_arguments_are_errors(bench):
    plan, compiled, out = bench
    measure(Plan(plan.units[:1], space="tiny"), compiled, NumpyRunner(), out, meta=META, warmup=0, runs=1,
            progress=False)
    with pytest.raises(ValueError, match="measured on another setup.*board: table has 'host-cpu', this run 'zcu104'"):
        measure(plan, compiled, NumpyRunner(), out, meta={**META, "board": "zcu104"}, progress=False)
    with pytest.raises(ValueError, match="warmup >= 0 and 1 <= runs"):
        measure(plan, compiled, NumpyRunner(), out, meta=META, runs=0)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        measure(plan, compiled / "nope", NumpyRunner(), out, meta=META)
    with pytest.raises(ValueError, match="missing"):
        measure(plan, compiled, NumpyRunner(), out.with_name("other.csv"), meta={"board": "b"})


def test_explicit_meta_is_used_as_given(bench):
    plan, compiled, out = bench
    meta = TableMeta("mine", "zcu104", "B4096", 300.0, 2, "Vitis AI 3.5", "m", "2025-01-01", "lab", "CC-BY", True)
    measure(Plan(plan.units[-1:]), compiled, NumpyRunner(), out, meta=meta, warmup=0, runs=1, progress=False)
    assert load_table(out).meta == meta


def test_nothing_to_measure_still_writes_a_valid_table(tmp_path):
    plan = Plan.from_keys(KEYS[:1])
    (tmp_path / "empty").mkdir()
    report = measure(plan, tmp_path / "empty", NumpyRunner(), tmp_path / "t.csv", meta=META, progress=False)
    assert len(report.failed) == 1 and len(load_table(tmp_path / "t.csv")) == 0


def test_dask_client_executor(bench):
    distributed = pytest.importorskip("dask.distributed")
    plan, compiled, out = bench
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as client:
        report = measure(plan, compiled, NumpyRunner(), out, meta=META, warmup=0, runs=2,
                         executor=client.get_executor(), progress=False)
    assert report.complete and sorted(load_table(out).keys()) == sorted(KEYS)


def test_a_resume_with_other_runs_records_them_per_entry_and_another_timing_is_refused(bench):
    plan, compiled, out = bench
    measure(Plan(plan.units[:1], space="tiny"), compiled, NumpyRunner(), out, meta=META, warmup=1, runs=3,
            progress=False)
    measure(plan, compiled, NumpyRunner(), out, meta=META, warmup=2, runs=4, progress=False)
    table = load_table(out)
    counts = {key: (entry.count, entry.extra["warmup"]) for key, entry in table.entries.items()}
    assert counts == {KEYS[0]: (3, 1.0), **{key: (4, 2.0) for key in KEYS[1:]}}
    assert "runs per entry in count" in table.meta.method  # the header describes no single run count
    before = out.read_bytes()
    with pytest.raises(ValueError, match="measured with another method"):
        measure(plan, compiled, NumpyRunner(), out, meta=META, timing="dpu", progress=False)
    assert out.read_bytes() == before


def test_two_measurements_on_one_table_are_prevented_by_a_lock(bench):
    import subprocess
    import sys

    from accel_models.atomic import OutputLockedError, output_lock

    plan, compiled, out = bench
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        lock = out.parent / f".{out.name}.lock"
        lock.write_text(json.dumps({"pid": holder.pid, "host": _host_tag(), "started": 0, "what": "lut measure"}))
        with pytest.raises(OutputLockedError, match=f"in use by pid {holder.pid}"):
            measure(plan, compiled, NumpyRunner(), out, meta=META, progress=False)
        assert not out.exists()
    finally:
        holder.kill()
        holder.wait()
    # the holder is gone: its lock is stale and taken over
    report = measure(plan, compiled, NumpyRunner(), out, meta=META, warmup=0, runs=1, progress=False)
    assert report.complete and not lock.exists()
    with output_lock(out):  # held by this process while measuring: a second measurement is refused
        with pytest.raises(OutputLockedError, match=f"pid {os.getpid()}"):
            measure(plan, compiled, NumpyRunner(), out, meta=META, progress=False)


def _host_tag():
    from accel_models import atomic

    return atomic._HOST


def test_a_measured_dpu_table_loads_without_scipy_as_on_a_board(bench, monkeypatch):
    import sys

    plan, compiled, out = bench
    meta = dict(board="ultra96v2", dpu_arch="DPUCZDX8G B1600", clock_mhz=300.0, toolchain="Vitis AI 2.5")
    measure(plan, compiled, NumpyRunner(), out, meta=meta, warmup=0, runs=1, progress=False)
    assert "\n# unit: ms\n" in out.read_text()  # timed here in ms: declared, no physics check of the unit needed
    for name in ("scipy", "scipy.sparse", "scipy.optimize"):
        monkeypatch.setitem(sys.modules, name, None)  # importing scipy now fails, as on a PYNQ image without it
    assert load_table(out).keys() == KEYS
