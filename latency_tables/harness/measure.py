"""Time every unit of a plan with a runner and build the latency table, resumably.

Per unit: locate ``<artefacts>/<unit name><runner.suffix>``, load it, run it
``warmup`` times untimed, then ``runs`` times each timed with the host's
monotonic clock around one blocking execution (of every DPU subgraph, one
by one, for a unit the compiler split); the statistics become an
:class:`~latency_tables.Entry` that records host wall time, the DPU-only
time where the runner can measure it, the subgraph counts and the run
settings, while the table's ``method`` says which of host and DPU time its
``mean_ms`` is.  After every finished unit the whole table is
rewritten atomically (temporary file + rename), so the file on disk always
is a complete, loadable table: a run that is interrupted (Ctrl-C, power
loss, a crash) loses nothing already measured, and measuring again with the
same output resumes with the units still missing.  A unit whose artefact is
missing, cannot be loaded or fails while running is reported and skipped;
the others go on.
"""

from __future__ import annotations

import datetime
import math
import os
import time
from collections.abc import Mapping
from concurrent.futures import Executor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from accel_models.atomic import check_writable, output_lock

from ..format import read_table, write_table
from ..table import Entry, LatencyTable, TableMeta
from .plan import Plan, PlanUnit
from .runners import Runner

__all__ = ["HOST_TIMED", "MAX_RUNS", "TIMINGS", "MeasureReport", "UnitFailure", "describe_method", "measure",
           "measure_unit", "summarize_runs"]

#: Most timed runs per unit (a million runs of a 1 ms unit is 17 minutes per unit).
MAX_RUNS = 1_000_000

#: Metadata fields that must agree between an existing output table and a resumed run.
_SETUP_FIELDS = ("board", "dpu_arch", "clock_mhz", "cores", "toolchain", "per_entry_invocation", "space")


@dataclass(frozen=True)
class UnitFailure:
    """A unit that was not measured and why."""

    key: str
    path: str
    reason: str


@dataclass(frozen=True)
class MeasureReport:
    """What one :func:`measure` call did."""

    table_path: Path
    measured: tuple[str, ...]
    already_present: tuple[str, ...]
    failed: tuple[UnitFailure, ...]
    #: Measured units the compiler split, with the names of their CPU subgraphs (not in the timed DPU work).
    cpu_parts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """True when every unit of the plan is in the table."""
        return not self.failed


def summarize_runs(key: str, times_ms: np.ndarray) -> Entry:
    """The table entry of ``times_ms`` (one value per timed run; sample standard deviation).

    >>> summarize_runs("Logits-input:1x1x8-output:4", np.array([1.0, 2.0, 3.0])).std_ms
    1.0
    """
    times_ms = np.asarray(times_ms, dtype=float)
    if times_ms.ndim != 1 or times_ms.size == 0:
        raise ValueError(f"{key}: need a 1-D array of at least one run time, got shape {times_ms.shape}")
    std = float(times_ms.std(ddof=1)) if times_ms.size > 1 else None
    return Entry(key, int(times_ms.size), float(times_ms.mean()), std, float(times_ms.min()), float(times_ms.max()))


#: What an entry's ``mean_ms`` can be: the host's wall time around one run, or the DPU-only time.
TIMINGS = ("host", "dpu")


def _check_counts(warmup: int, runs: int, timing: str) -> None:
    for name, value in (("warmup", warmup), ("runs", runs)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an integer, got {value!r}")
    if warmup < 0 or not 1 <= runs <= MAX_RUNS:
        raise ValueError(f"need warmup >= 0 and 1 <= runs <= {MAX_RUNS:,}, got warmup={warmup}, runs={runs}")
    if timing not in TIMINGS:
        raise ValueError(f"timing must be one of {TIMINGS}, got {timing!r}")


def measure_unit(runner: Runner, path: Path, key: str, *, warmup: int, runs: int,
                 timing: str = "host") -> Entry | UnitFailure:
    """Load, warm up and time one unit; a failure is returned, not raised.

    Every run is timed on the host around the whole unit (``host_ms``); a
    session that runs DPU subgraphs one by one also gives their summed time
    (``subgraph_ms``) and counts (``dpu_subgraphs``, ``cpu_subgraphs``), and
    one with a DPU timer the DPU-only time (``dpu_ms``).  ``timing`` picks
    which of host and DPU time is the entry's ``mean_ms``.  Only
    ``Exception`` is caught: ``KeyboardInterrupt`` and ``SystemExit`` stop
    the whole measurement (what has been written stays).
    """
    _check_counts(warmup, runs, timing)
    return _measure(runner, path, key, warmup, runs, timing)[0]


def _measure(runner: Runner, path: Path, key: str, warmup: int, runs: int,
             timing: str) -> tuple[Entry | UnitFailure, tuple[str, ...]]:
    if not path.is_file():
        return UnitFailure(key, str(path), "compiled file missing"), ()
    try:
        session = runner.load(path, key)
    except Exception as exc:
        return UnitFailure(key, str(path), f"could not load: {type(exc).__name__}: {exc}"), ()
    by_subgraph = getattr(session, "run_subgraphs", None)
    try:
        for _ in range(warmup):
            session.run()
        times = np.empty(runs)
        parts = np.zeros(runs)
        for i in range(runs):
            start = time.perf_counter_ns()
            if by_subgraph is None:
                session.run()
            else:
                parts[i] = sum(by_subgraph())
            times[i] = (time.perf_counter_ns() - start) / 1e6
        dpu_time = getattr(session, "dpu_time_ms", lambda: None)()
        positive = isinstance(dpu_time, int | float) and math.isfinite(dpu_time) and dpu_time > 0
        if dpu_time is not None and not positive:
            raise ValueError(f"the DPU timer gave {dpu_time!r} ms, not a positive time")
        subgraphs = tuple(getattr(session, "subgraphs", ()))
    except Exception as exc:
        return UnitFailure(key, str(path), f"failed while running: {type(exc).__name__}: {exc}"), ()
    finally:
        session.close()
    host = summarize_runs(key, times)
    extra = {"host_ms": host.mean_ms, "warmup": float(warmup)}
    if by_subgraph is not None:
        extra["subgraph_ms"] = float(parts.mean())
    if subgraphs:
        extra["dpu_subgraphs"] = float(sum(sg.device == "DPU" for sg in subgraphs))
        extra["cpu_subgraphs"] = float(sum(sg.device == "CPU" for sg in subgraphs))
    if dpu_time is not None:
        extra["dpu_ms"] = float(dpu_time)
    cpu_parts = tuple(sg.name for sg in subgraphs if sg.device == "CPU")
    if timing == "dpu":
        if dpu_time is None:
            return UnitFailure(key, str(path), "no DPU-only time: the runner has no DPU timer (use timing='host', "
                                               "or give PynqDpuRunner a dpu_timer such as xdputil_dpu_ms)"), ()
        return Entry(key, runs, float(dpu_time), extra=extra), cpu_parts
    return Entry(key, host.count, host.mean_ms, host.std_ms, host.min_ms, host.max_ms, extra), cpu_parts


#: How the ``method`` line of a host-timed table says what its ``mean_ms`` is (:func:`describe_method`).
HOST_TIMED = "mean_ms is host wall time"


def describe_method(runner: Runner, timing: str) -> str:
    """The table's ``method`` line: what ``mean_ms`` is and how it was timed (run counts are per entry)."""
    what = (f"{HOST_TIMED}: each run timed on the host around one blocking execution of every DPU "
            "subgraph (Python and driver overhead included; DPU-only time in dpu_ms where measured)"
            if timing == "host" else
            "mean_ms is DPU-only time (dpu_ms, from the runner's DPU timer); host wall time per run in host_ms")
    return (f"one compiled program per unit; {what}; runs per entry in count, warm-up runs in warmup; "
            f"runner: {runner.describe()}")


def _table_meta(meta: TableMeta | Mapping, plan: Plan, runner: Runner, out: Path, timing: str) -> TableMeta:
    if isinstance(meta, TableMeta):
        return meta
    fields = {
        "name": out.stem,
        "cores": 1,
        "method": describe_method(runner, timing),
        "date": datetime.date.today().isoformat(),
        "source": "measured with ofa-hw lut measure",
        "license": "measurements of the user",
        "space": plan.space,
        **dict(meta),
        "per_entry_invocation": True,  # every unit is its own program, launched once per run
    }
    return TableMeta.from_dict(fields)


def _resume(out: Path, meta: TableMeta) -> dict[str, Entry]:
    if not out.exists():
        return {}
    existing = read_table(out, check_units=False)  # our own output; a numpy-runner table is CPU time
    clashes = [f"{f}: table has {getattr(existing.meta, f)!r}, this run {getattr(meta, f)!r}"
               for f in _SETUP_FIELDS if getattr(existing.meta, f) != getattr(meta, f)]
    if clashes:
        raise ValueError(f"{out} was measured on another setup ({'; '.join(clashes)}); "
                         "choose another --out to start a new table")
    if existing.meta.method != meta.method:
        # Runs and warm-up may differ (each entry records its own); what mean_ms is and the runner may not.
        raise ValueError(f"{out} was measured with another method, which its header describes for every entry: "
                         f"table has {existing.meta.method!r}, this run {meta.method!r}; resume with the same runner "
                         "and timing, or choose another --out")
    return dict(existing.entries)


def measure(
    plan: Plan,
    artefacts_dir: str | os.PathLike,
    runner: Runner,
    out_path: str | os.PathLike,
    *,
    meta: TableMeta | Mapping,
    warmup: int = 10,
    runs: int = 100,
    timing: str = "host",
    executor: Executor | None = None,
    progress: bool = True,
) -> MeasureReport:
    """Measure the units of ``plan`` still missing from ``out_path`` and write them there.

    Parameters
    ----------
    plan : Plan
        The units (see :func:`~latency_tables.harness.read_plan`).
    artefacts_dir : path
        Folder of the compiled units, ``<unit name><runner.suffix>``.
    runner : Runner
        Executes one compiled unit (:class:`PynqDpuRunner` on a board,
        :class:`NumpyRunner` anywhere).
    out_path : path
        The table (``.csv``); if it exists, its units are kept and skipped.
    meta : TableMeta or mapping
        Table metadata; a mapping needs at least ``board``, ``dpu_arch``,
        ``clock_mhz`` and ``toolchain`` and gets the other fields filled in
        (``per_entry_invocation`` is always true here).
    warmup, runs : int
        Untimed and timed executions per unit (``runs`` at most
        :data:`MAX_RUNS`).  Both are recorded per entry (``warmup`` column,
        ``count``), so a resumed table may mix run counts honestly.
    timing : {"host", "dpu"}
        What each entry's ``mean_ms`` is, stated in the table's ``method``:
        host wall time around one run (always measured, also kept as
        ``host_ms``) or the runner's DPU-only time (``dpu_ms``).  A resume
        with another timing or runner is refused.
    executor : concurrent.futures.Executor, optional
        Measure units in parallel, e.g. a ``dask.distributed`` client's
        executor with one worker per board (the runner is sent to each
        worker, which opens its own device).  Never use several workers on
        one board: they would time each other.
    progress : bool
        Show a progress bar.

    The table is locked for the whole call (:func:`accel_models.atomic.output_lock`):
    a second measurement into it is refused with the first one's pid, and
    ``runner.preflight()`` (board packages, root) runs before any unit.
    """
    _check_counts(warmup, runs, timing)
    if not isinstance(plan, Plan):
        raise TypeError(f"measure takes a Plan (read_plan(folder)), got {type(plan).__name__}")
    if not all(callable(getattr(runner, name, None)) for name in ("load", "describe")):
        raise TypeError(f"measure takes a Runner (NumpyRunner(), PynqDpuRunner(...) or an object with load() and "
                        f"describe()), got {type(runner).__name__}")
    out = Path(out_path)
    if out.suffix.lower() != ".csv":
        raise ValueError(f"{out}: the measured table is written as a .csv file")
    artefacts = Path(artefacts_dir)
    if not artefacts.is_dir():
        raise FileNotFoundError(f"folder of compiled units {str(artefacts)!r} does not exist")
    table_meta = _table_meta(meta, plan, runner, out, timing)
    check_writable(out, what="latency table")
    preflight = getattr(runner, "preflight", None)
    if preflight is not None:
        preflight()  # the board setup (packages, root) fails here, before any unit is timed
    with output_lock(out, what="ofa-hw lut measure"):  # two measurements on one table would time each other
        entries = _resume(out, table_meta)
        present = tuple(key for key in plan.keys() if key in entries)
        todo = [unit for unit in plan.units if unit.key not in entries]
        measured: list[str] = []
        failed: list[UnitFailure] = []
        cpu_parts: dict[str, tuple[str, ...]] = {}

        from tqdm.auto import tqdm

        with tqdm(total=len(todo), desc="lut measure", unit="unit", disable=not progress) as bar:
            for result, cpu in _results(todo, artefacts, runner, warmup, runs, timing, executor):
                if isinstance(result, UnitFailure):
                    failed.append(result)
                else:
                    entries[result.key] = result
                    _write(LatencyTable(table_meta, entries), out)
                    measured.append(result.key)
                    if cpu:
                        cpu_parts[result.key] = cpu
                bar.update()
        if not out.exists():  # nothing measured at all: still leave a valid (empty) table behind
            _write(LatencyTable(table_meta, entries), out)
    return MeasureReport(out, tuple(measured), present, tuple(failed), cpu_parts)


def _write(table: LatencyTable, out: Path) -> None:
    # timed here in ms: declared, so loading the table needs no physics check of its unit (nor scipy, on a board)
    write_table(table, out, declare_unit=True)


def _results(todo: list[PlanUnit], artefacts: Path, runner: Runner, warmup: int, runs: int, timing: str,
             executor: Executor | None):
    paths = {unit.key: artefacts / f"{unit.name}{runner.suffix}" for unit in todo}
    if executor is None:
        for unit in todo:
            yield _measure(runner, paths[unit.key], unit.key, warmup, runs, timing)
        return
    futures = [executor.submit(_measure, runner, paths[u.key], u.key, warmup, runs, timing) for u in todo]
    try:
        for future in as_completed(futures):
            yield future.result()
    finally:
        for future in futures:
            future.cancel()
