"""Time every unit of a plan with a runner and build the latency table, resumably.

Per unit: locate ``<artefacts>/<unit name><runner.suffix>``, load it, run it
``warmup`` times untimed, then ``runs`` times each timed with the host's
monotonic clock around one blocking execution; the statistics become an
:class:`~latency_tables.Entry`.  After every finished unit the whole table is
rewritten atomically (temporary file + rename), so the file on disk always
is a complete, loadable table: a run that is interrupted (Ctrl-C, power
loss, a crash) loses nothing already measured, and measuring again with the
same output resumes with the units still missing.  A unit whose artefact is
missing, cannot be loaded or fails while running is reported and skipped;
the others go on.
"""

from __future__ import annotations

import datetime
import os
import time
from collections.abc import Mapping
from concurrent.futures import Executor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..format import read_table, write_table
from ..table import Entry, LatencyTable, TableMeta
from .plan import Plan, PlanUnit
from .runners import Runner

__all__ = ["MeasureReport", "UnitFailure", "measure", "measure_unit", "summarize_runs"]

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


def measure_unit(runner: Runner, path: Path, key: str, *, warmup: int, runs: int) -> Entry | UnitFailure:
    """Load, warm up and time one unit; a failure is returned, not raised.

    Only ``Exception`` is caught: ``KeyboardInterrupt`` and ``SystemExit``
    stop the whole measurement (what has been written stays).
    """
    if not path.is_file():
        return UnitFailure(key, str(path), "compiled file missing")
    try:
        session = runner.load(path, key)
    except Exception as exc:
        return UnitFailure(key, str(path), f"could not load: {type(exc).__name__}: {exc}")
    try:
        for _ in range(warmup):
            session.run()
        times = np.empty(runs)
        for i in range(runs):
            start = time.perf_counter_ns()
            session.run()
            times[i] = (time.perf_counter_ns() - start) / 1e6
    except Exception as exc:
        return UnitFailure(key, str(path), f"failed while running: {type(exc).__name__}: {exc}")
    finally:
        session.close()
    return summarize_runs(key, times)


def _table_meta(meta: TableMeta | Mapping, plan: Plan, runner: Runner, out: Path, warmup: int, runs: int) -> TableMeta:
    if isinstance(meta, TableMeta):
        return meta
    fields = {
        "name": out.stem,
        "cores": 1,
        "method": (f"one compiled program per unit; {warmup} warm-up runs, then {runs} runs each timed on the host "
                   f"around one blocking execution; runner: {runner.describe()}"),
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
        Untimed and timed executions per unit.
    executor : concurrent.futures.Executor, optional
        Measure units in parallel, e.g. a ``dask.distributed`` client's
        executor with one worker per board (the runner is sent to each
        worker, which opens its own device).  Never use several workers on
        one board: they would time each other.
    progress : bool
        Show a progress bar.
    """
    if warmup < 0 or runs < 1:
        raise ValueError(f"need warmup >= 0 and runs >= 1, got warmup={warmup}, runs={runs}")
    out = Path(out_path)
    if out.suffix.lower() != ".csv":
        raise ValueError(f"{out}: the measured table is written as a .csv file")
    artefacts = Path(artefacts_dir)
    if not artefacts.is_dir():
        raise FileNotFoundError(f"folder of compiled units {str(artefacts)!r} does not exist")
    table_meta = _table_meta(meta, plan, runner, out, warmup, runs)
    entries = _resume(out, table_meta)
    present = tuple(key for key in plan.keys() if key in entries)
    todo = [unit for unit in plan.units if unit.key not in entries]
    measured: list[str] = []
    failed: list[UnitFailure] = []

    def record(result: Entry | UnitFailure) -> None:
        if isinstance(result, UnitFailure):
            failed.append(result)
            return
        entries[result.key] = result
        write_table(LatencyTable(table_meta, entries), out)
        measured.append(result.key)

    from tqdm.auto import tqdm

    with tqdm(total=len(todo), desc="lut measure", unit="unit", disable=not progress) as bar:
        for result in _results(todo, artefacts, runner, warmup, runs, executor):
            record(result)
            bar.update()
    if not out.exists():  # nothing measured at all: still leave a valid (empty) table behind
        write_table(LatencyTable(table_meta, entries), out)
    return MeasureReport(out, tuple(measured), present, tuple(failed))


def _results(todo: list[PlanUnit], artefacts: Path, runner: Runner, warmup: int, runs: int,
             executor: Executor | None):
    paths = {unit.key: artefacts / f"{unit.name}{runner.suffix}" for unit in todo}
    if executor is None:
        for unit in todo:
            yield measure_unit(runner, paths[unit.key], unit.key, warmup=warmup, runs=runs)
        return
    futures = [executor.submit(measure_unit, runner, paths[u.key], u.key, warmup=warmup, runs=runs) for u in todo]
    try:
        for future in as_completed(futures):
            yield future.result()
    finally:
        for future in futures:
            future.cancel()
