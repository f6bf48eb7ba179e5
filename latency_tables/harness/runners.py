"""Runners: what executes one compiled unit for the measurement harness.

A runner has a file ``suffix`` (the compiled artefact it loads), a
``describe()`` line for the table's metadata, and ``load(path, key)``
returning a session whose ``run()`` executes the unit once (blocking) and
``close()`` releases it.  The harness does the timing, so every runner is
timed the same way.

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
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol

import numpy as np

from accel_models.atomic import atomic_open
from accel_models.blocks import BlockSpec

from .board import require_pynq_dpu
from .int8 import Int8Unit
from .plan import Plan

__all__ = ["NumpyRunner", "PynqDpuRunner", "Runner", "Session", "compile_numpy_units"]


class Session(Protocol):
    def run(self) -> None: ...

    def close(self) -> None: ...


class Runner(Protocol):
    suffix: str

    def describe(self) -> str: ...

    def load(self, path: Path, key: str) -> Session: ...


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
        return f"numpy {np.__version__} int8 reference runner on {platform.machine() or 'unknown CPU'}"

    def load(self, path: Path, key: str) -> _NumpySession:
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
    Vitis AI; each file is written atomically.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for unit in plan.units:
        weights = Int8Unit.random(unit.spec.layers(), rng).weights
        path = out / f"{unit.name}{NumpyRunner.suffix}"
        with atomic_open(path, "wb") as handle:
            np.savez(handle, key=np.array(unit.key), **weights)
        paths.append(path)
    return paths


# ---------------------------------------------------------------------- PYNQ
class _DpuSession:
    def __init__(self, runner, inputs: list[np.ndarray], outputs: list[np.ndarray]):
        self._runner, self._inputs, self._outputs = runner, inputs, outputs

    def run(self) -> None:
        job_id = self._runner.execute_async(self._inputs, self._outputs)
        self._runner.wait(job_id)

    def close(self) -> None:
        self._runner = None


def _buffer(tensor) -> np.ndarray:
    # Vitis AI >= 2.5 exposes int8 ("xint8") tensors; older DPU runners take float32.
    dtype = np.int8 if "int8" in str(getattr(tensor, "dtype", "")).lower() else np.float32
    dims = tuple(int(d) for d in tensor.dims)
    dims = (max(dims[0], 1), *dims[1:])
    return np.zeros(dims, dtype=dtype, order="C")


class PynqDpuRunner:
    """Runs compiled xmodels on the DPU of a PYNQ board through ``pynq_dpu``.

    Parameters
    ----------
    bitstream : str
        The DPU overlay (``dpu.bit`` with its ``.hwh`` / ``.xclbin`` beside
        it), loaded once, at the first :meth:`load`.
    """

    suffix: ClassVar[str] = ".xmodel"

    def __init__(self, bitstream: str = "dpu.bit"):
        self.bitstream = bitstream
        self._overlay = None

    def __getstate__(self) -> dict:
        # An overlay is a handle on this board's hardware: each worker loads its own.
        return {"bitstream": self.bitstream, "_overlay": None}

    def describe(self) -> str:
        try:
            from importlib.metadata import version

            dpu_version = version("pynq-dpu")
        except Exception:  # the distribution metadata is optional information only
            dpu_version = "unknown version"
        return f"pynq_dpu {dpu_version}, overlay {self.bitstream}"

    def _dpu_overlay(self):
        if self._overlay is None:
            require_pynq_dpu()  # says what is missing and how to get it (they come with the PYNQ image)
            from pynq_dpu import DpuOverlay

            self._overlay = DpuOverlay(self.bitstream)
        return self._overlay

    def load(self, path: Path, key: str) -> _DpuSession:
        overlay = self._dpu_overlay()
        overlay.load_model(str(path))
        runner = overlay.runner
        inputs = [_buffer(t) for t in runner.get_input_tensors()]
        outputs = [_buffer(t) for t in runner.get_output_tensors()]
        return _DpuSession(runner, inputs, outputs)
