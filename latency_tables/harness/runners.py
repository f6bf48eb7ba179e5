"""Runners: what executes one compiled unit for the measurement harness.

A runner has a file ``suffix`` (the compiled artefact it loads), a
``describe()`` line for the table's metadata, and ``load(path, key)``
returning a session whose ``run()`` executes the unit once (blocking) and
``close()`` releases it.  The harness does the timing, so every runner is
timed the same way.  Optional: ``runner.preflight()`` raises what the setup
lacks before anything is measured; a session's ``subgraphs`` and
``run_subgraphs()`` (one run, the time of each DPU subgraph) and
``dpu_time_ms()`` (DPU-only time per run, or None) add per-subgraph and DPU
times to each entry.

* :class:`PynqDpuRunner` runs Vitis AI xmodels on a PYNQ board's DPU
  (``pynq_dpu``, imported only when a model is loaded).
* :class:`NumpyRunner` runs the unit's real int8 arithmetic in numpy
  (:class:`~latency_tables.harness.int8.Int8Unit`) from ``.npz`` artefacts
  written by :func:`compile_numpy_units`: the off-board stand-in that lets
  the harness be exercised for real anywhere.
"""

from __future__ import annotations

import os
import platform
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np

from accel_models.atomic import atomic_directory, atomic_open, holds_only
from accel_models.blocks import BlockSpec

from .board import BoardSetupError, require_pynq_dpu
from .int8 import Int8Unit
from .plan import Plan

__all__ = ["NumpyRunner", "PynqDpuRunner", "Runner", "Session", "Subgraph", "compile_numpy_units", "xdputil_dpu_ms"]


class Session(Protocol):
    """One loaded unit (see the module docstring for the optional per-subgraph and DPU-time methods)."""

    def run(self) -> None:
        """Execute the unit once, blocking until it is done."""

    def close(self) -> None:
        """Release the unit."""


class Runner(Protocol):
    """Loads compiled units of one kind (``suffix``) into sessions."""

    @property
    def suffix(self) -> str:
        """File suffix of the compiled units it loads (a class constant of each runner)."""

    def describe(self) -> str:
        """One line for the table's ``method``: what ran the units."""

    def load(self, path: Path, key: str) -> Session:
        """The session of the unit compiled to ``path`` (``key`` is checked against it where possible)."""


# --------------------------------------------------------------------- numpy
@dataclass
class _NumpySession:
    unit: Int8Unit
    x: np.ndarray

    def run(self) -> None:
        self.unit.run(self.x)

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class NumpyRunner:
    """Executes units in int8 numpy arithmetic on the host CPU.

    ``seed`` draws the (random int8) input tensor of every session.
    """

    seed: int = 0
    suffix: ClassVar[str] = ".npz"

    def describe(self) -> str:
        """The runner line of the table's method."""
        return f"numpy {np.__version__} int8 reference runner on {platform.machine() or 'unknown CPU'}"

    def load(self, path: Path, key: str) -> _NumpySession:
        """The int8 unit in ``path`` with a random int8 input (seeded)."""
        with np.load(path, allow_pickle=False) as data:
            if "key" not in data.files:
                raise ValueError(f"{path}: not a compiled unit (no 'key' array)")
            stored = str(data["key"])
            weights = {name: data[name] for name in data.files if name != "key"}
        if stored != key:
            raise ValueError(f"{path}: compiled for {stored!r}, but the plan expects {key!r}")
        spec = BlockSpec.from_key(key)
        unit = Int8Unit(spec.layers(), weights)
        x = np.random.default_rng(self.seed).integers(-128, 128, size=spec.in_shape, dtype=np.int8)
        return _NumpySession(unit, x)


def compile_numpy_units(plan: Plan, out_dir: str | os.PathLike, *, seed: int = 0) -> list[Path]:
    """Write one ``<unit name>.npz`` (random int8 parameters) per unit of ``plan`` for :class:`NumpyRunner`.

    The off-board counterpart of quantizing and compiling the plan with
    Vitis AI.  The folder is written as a unit (built as a temporary sibling,
    swapped into place): an earlier folder of units is replaced, one holding
    anything else is refused with ``FileExistsError``.
    """
    out = Path(out_dir)
    replaceable = holds_only((), suffix=NumpyRunner.suffix, what="a folder of numpy units")
    rng = np.random.default_rng(seed)
    names = []
    with atomic_directory(out, replaceable=replaceable, what="numpy units folder") as tmp:
        for unit in plan.units:
            weights = Int8Unit.random(unit.spec.layers(), rng).weights
            names.append(f"{unit.name}{NumpyRunner.suffix}")
            with atomic_open(tmp / names[-1], "wb") as handle:
                arrays: dict[str, Any] = {"key": np.array(unit.key), **weights}
                np.savez(handle, **arrays)
    return [out / name for name in names]


# ---------------------------------------------------------------------- PYNQ
@dataclass(frozen=True)
class Subgraph:
    """One child subgraph of a compiled xmodel, in execution order: where it runs and what it is."""

    index: int
    name: str
    device: str  # "DPU", "CPU" or "USER" (the input placeholder), as the compiler labels it


class _DpuSession:
    """Every DPU subgraph of one xmodel, each with its own VART runner, run in order.

    ``run_subgraphs()`` runs them all once and returns each one's time (ms,
    host clock around its ``execute_async`` + ``wait``).  CPU subgraphs (ops
    the compiler left to the ARM cores) are not executed here: VART runs only
    DPU subgraphs; ``subgraphs`` lists them so the table can report them.
    """

    def __init__(self, subgraphs: tuple[Subgraph, ...], runners: list, path: Path, dpu_timer):
        self.subgraphs = subgraphs
        self._runners = runners
        self._buffers = [([_buffer(t) for t in r.get_input_tensors()], [_buffer(t) for t in r.get_output_tensors()])
                         for r in runners]
        self._path, self._dpu_timer = path, dpu_timer

    def run(self) -> None:
        self.run_subgraphs()

    def run_subgraphs(self) -> list[float]:
        times = []
        for runner, (inputs, outputs) in zip(self._runners, self._buffers, strict=True):
            start = time.perf_counter_ns()
            runner.wait(runner.execute_async(inputs, outputs))
            times.append((time.perf_counter_ns() - start) / 1e6)
        return times

    def dpu_time_ms(self) -> float | None:
        """DPU-only time per run of all DPU subgraphs (``xdputil benchmark``), or None without a DPU timer."""
        if self._dpu_timer is None:
            return None
        dpu = [sg for sg in self.subgraphs if sg.device == "DPU"]
        return float(sum(self._dpu_timer(self._path, i) for i in range(len(dpu))))

    def close(self) -> None:
        self._runners = []


def _buffer(tensor) -> np.ndarray:
    # Vitis AI >= 2.5 exposes int8 ("xint8") tensors; older DPU runners take float32.
    dtype = np.int8 if "int8" in str(getattr(tensor, "dtype", "")).lower() else np.float32
    dims = tuple(int(d) for d in tensor.dims)
    dims = (max(dims[0], 1), *dims[1:])
    return np.zeros(dims, dtype=dtype, order="C")


def xdputil_dpu_ms(xmodel: Path, dpu_subgraph: int) -> float:
    """DPU-only time (ms per frame) of one DPU subgraph: ``xdputil benchmark XMODEL -i INDEX 1`` (one thread).

    ``xdputil`` (Vitis AI's board utility) times the DPU with no Python in the
    loop; it runs for about a minute per call.
    """
    command = ["xdputil", "benchmark", str(xmodel), "-i", str(dpu_subgraph), "1"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    match = re.search(r"FPS=\s*([0-9.]+)", done.stdout + done.stderr)
    if done.returncode != 0 or match is None or float(match.group(1)) <= 0:
        raise RuntimeError(f"{' '.join(command)} gave no FPS (exit {done.returncode}): "
                           f"{(done.stderr or done.stdout).strip()[-200:]}")
    return 1000.0 / float(match.group(1))


class PynqDpuRunner:
    """Runs compiled xmodels on the DPU of a PYNQ board: ``pynq_dpu`` for the overlay, VART per subgraph.

    ``pynq_dpu.DpuOverlay.load_model`` accepts only xmodels with exactly one
    DPU subgraph (it asserts so), but a unit the compiler splits (e.g. an
    op it runs on the CPU in the middle) has several.  So the overlay comes
    from ``pynq_dpu`` and every DPU subgraph gets its own
    ``vart.Runner.create_runner(subgraph, "run")``, timed one by one; the
    CPU subgraphs are reported in the table (``cpu_subgraphs``), not timed.

    Parameters
    ----------
    bitstream : str
        The DPU overlay (``dpu.bit`` with its ``.hwh`` / ``.xclbin`` beside
        it), loaded once, at the first :meth:`load`.
    dpu_timer : callable, optional
        ``(xmodel path, DPU subgraph index) -> ms``: DPU-only time, e.g.
        :func:`xdputil_dpu_ms`.  Without it entries carry host times only.

    Root: loading the overlay copies ``dpu.xclbin`` to ``/usr/lib`` and VART
    reads its firmware path from ``/etc/vart.conf``, which ``pynq_dpu``
    rewrites when it points elsewhere; :meth:`preflight` checks both before
    anything is measured (run as root, e.g. ``sudo -E``, or from the board's
    Jupyter, which runs as root).
    """

    suffix: ClassVar[str] = ".xmodel"
    #: Where VART reads its firmware path and where the overlay's xclbin goes (class attributes: tests move them).
    vart_conf: ClassVar[Path] = Path("/etc/vart.conf")
    lib_dir: ClassVar[Path] = Path("/usr/lib")

    def __init__(self, bitstream: str = "dpu.bit", dpu_timer=None):
        self.bitstream = bitstream
        self.dpu_timer = dpu_timer
        self._overlay = None

    def __getstate__(self) -> dict:
        # An overlay is a handle on this board's hardware: each worker loads its own.
        return {"bitstream": self.bitstream, "dpu_timer": self.dpu_timer, "_overlay": None}

    def describe(self) -> str:
        """The runner line of the table's method (pynq_dpu version, overlay, DPU timer)."""
        try:
            from importlib.metadata import version

            dpu_version = version("pynq-dpu")
        except Exception:  # the distribution metadata is optional information only
            dpu_version = "unknown version"
        timer = "" if self.dpu_timer is None else f"; DPU time by {getattr(self.dpu_timer, '__name__', 'a timer')}"
        return f"pynq_dpu {dpu_version} overlay {self.bitstream}, one VART runner per DPU subgraph{timer}"

    def preflight(self) -> None:
        """Raise, before any measurement, what the board setup lacks: the packages, or root where it is needed."""
        self._modules()
        expected = str(self.lib_dir / "dpu.xclbin")
        try:
            conf = self.vart_conf.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            conf = ""
        if expected not in conf and not os.access(self.vart_conf.parent, os.W_OK):
            raise PermissionError(
                f"{self.vart_conf} does not point VART at {expected} and this user may not rewrite it; pynq_dpu "
                "does so on every model load: run as root (sudo -E ofa-hw lut measure ..., or the board's Jupyter)")
        if not os.access(self.lib_dir, os.W_OK):
            raise PermissionError(f"loading the DPU overlay copies dpu.xclbin into {self.lib_dir}, which this user "
                                  "may not write: run as root (sudo -E ofa-hw lut measure ..., or the board's Jupyter)")

    @staticmethod
    def _modules():
        require_pynq_dpu()  # says what is missing and how to get it (they come with the PYNQ image)
        import pynq_dpu  # puts VART's Python bindings (/usr/lib/python3/site-packages) on the path

        try:
            import vart
            import xir
        except ImportError as exc:
            raise BoardSetupError(f"pynq_dpu is importable but VART's Python bindings are not (missing: {exc.name}); "
                                  "they come with the PYNQ image's Vitis AI runtime (DPU-PYNQ installs them)") from exc
        return pynq_dpu, vart, xir

    def _dpu_overlay(self):
        if self._overlay is None:
            pynq_dpu, _, _ = self._modules()
            self._overlay = pynq_dpu.DpuOverlay(self.bitstream)
            check = getattr(getattr(pynq_dpu, "dpu", None), "check_vart_config", None)
            if check is not None:  # what DpuOverlay.load_model would do: point VART at this overlay's firmware
                check()
        return self._overlay

    def load(self, path: Path, key: str) -> _DpuSession:
        """Deserialize ``path`` and create one VART runner per DPU subgraph (in execution order)."""
        _, vart, xir = self._modules()
        self._dpu_overlay()
        graph = xir.Graph.deserialize(str(path))
        root = graph.get_root_subgraph()
        children = [] if root.is_leaf else list(root.toposort_child_subgraph())
        subgraphs = tuple(Subgraph(i, str(sg.get_name()), str(sg.get_attr("device")).upper()
                                   if sg.has_attr("device") else "CPU") for i, sg in enumerate(children))
        dpu = [sg for sg, info in zip(children, subgraphs, strict=True) if info.device == "DPU"]
        if not dpu:
            raise ValueError(f"{path}: no DPU subgraph (the compiler placed all of {key} on the CPU)")
        return _DpuSession(subgraphs, [vart.Runner.create_runner(sg, "run") for sg in dpu], Path(path),
                           self.dpu_timer)
