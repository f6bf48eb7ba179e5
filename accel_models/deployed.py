"""Deployed throughput: images/s and per-image latency of an application on the board.

What a board runs is an application, not a DPU: ``threads`` software threads
each take an image through ARM pre-processing (resize, normalise), the DPU
(one of ``cores`` identical cores), any operators that fall back to the CPU,
and ARM post-processing (softmax / top-k, box decoding and NMS, per-pixel
arg-max).  The model is small and physical:

* ``cpu_ms = (cpu_fixed_ms + (preprocess_ms_per_mpx + head_ms_per_mpx[head]) * Mpx)
  * 1200 MHz / arm_clock_mhz + cpu_fallback_ms`` per image on one ARM core;
* single thread: ``latency_ms = dpu_ms + cpu_ms`` (nothing overlaps);
* many threads: the DPU side needs ``dpu_ms * (1 + ddr_contention_per_core * (c - 1)) / c``
  per image on ``c`` busy cores (the cores share the board's DDR), the CPU side
  ``cpu_ms / (arm_parallel_efficiency * arm_cores)``; the two overlap imperfectly,
  combined as a p-norm with ``overlap_exponent`` (1: no overlap, infinity: the
  slower side alone), and ``threads`` threads cannot deliver more than
  ``threads / latency_ms``.

Every parameter is fitted on the Vitis AI model zoo's published single-thread
latency and multi-thread throughput (:func:`fit_deployed`; the shipped values
in ``data/deployed_params.json`` come from ``read_zoo`` over
``shared/data/dpu/vitis_ai_model_zoo_e2e.csv``).  The ARM cores of each board
are data (:data:`BOARD_CPUS`).

Examples
--------
>>> model = DeployedModel.shipped()
>>> one = model.estimate(4.0, board="zcu104", design_cores=2, threads=1)
>>> round(one.latency_ms, 3) == round(4.0 + one.cpu_ms, 3)
True
>>> model.estimate(4.0, board="zcu104", design_cores=2).fps > one.fps
True
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from functools import cache
from pathlib import Path
from types import MappingProxyType

import numpy as np

from .accelerator import MAX_CORES
from .validation import is_real_number, reject_unknown_keys

__all__ = [
    "BOARD_CPUS",
    "HEADS",
    "LATENCY_MODES",
    "ArmCpu",
    "DeployedEstimate",
    "DeployedModel",
    "DeployedParams",
    "Deployment",
    "ZooThroughputRow",
    "fit_deployed",
    "head_of",
    "predict_multi_thread_fps",
    "read_zoo",
]

_DATA = Path(__file__).with_name("data")
_PARAMS_JSON = _DATA / "deployed_params.json"
_REFERENCE_ARM_MHZ = 1200.0
_MIN_DPU_SHARE = 0.05  # a zoo network's DPU time is never taken as less than this share of its latency

#: Network heads whose post-processing cost differs: classification (softmax / top-k),
#: detection (box decoding, NMS), segmentation (per-pixel arg-max), image (an image-sized output:
#: super-resolution, depth, density maps).
HEADS = ("classification", "detection", "segmentation", "image")


def _cpu_ms(p: DeployedParams, mpx, head_ms_per_mpx, arm_clock_mhz):
    """ARM pre/post-processing ms per image on one core (array-friendly)."""
    return (p.cpu_fixed_ms + (p.preprocess_ms_per_mpx + head_ms_per_mpx) * mpx) * _REFERENCE_ARM_MHZ / arm_clock_mhz


def _sides_ms(p: DeployedParams, dpu_ms, cpu_ms, cores, arm_cores):
    """Time per finished image each side needs when all its units are busy: (DPU side, CPU side)."""
    dpu_side = np.asarray(dpu_ms, float) * (1 + p.ddr_contention_per_core * (cores - 1)) / cores
    return dpu_side, np.asarray(cpu_ms, float) / (p.arm_parallel_efficiency * arm_cores)


def _cycle_ms(p: DeployedParams, dpu_side, cpu_side):
    q = p.overlap_exponent
    return (dpu_side**q + cpu_side**q) ** (1 / q)


@dataclass(frozen=True)
class ArmCpu:
    """The application processor of a board: ``cores`` Cortex-A53 at ``clock_mhz``."""

    cores: int
    clock_mhz: float
    source: str


#: ARM application cores of each board (all Zynq UltraScale+ MPSoC: quad Cortex-A53).
BOARD_CPUS: Mapping[str, ArmCpu] = MappingProxyType({
    "ultra96v2": ArmCpu(4, 1200.0, "Xilinx DS925: -1 speed grade APU up to 1200 MHz (xczu3eg-sbva484-1-e); "
                                   "UNVERIFIED against a fetched copy"),
    "zcu102": ArmCpu(4, 1200.0, "UNVERIFIED: Xilinx UG1182 / PetaLinux ZCU102 BSP default APU clock 1200 MHz"),
    "zcu104": ArmCpu(4, 1200.0, "UNVERIFIED: Xilinx UG1267 / PetaLinux ZCU104 BSP default APU clock 1200 MHz"),
    "kv260": ArmCpu(4, 1333.0, "UNVERIFIED: Xilinx DS987 (K26 SOM): quad Cortex-A53 up to 1333 MHz"),
})


@dataclass(frozen=True)
class DeployedParams:
    """The fitted parameters of :class:`DeployedModel`, each with its unit in its name.

    Attributes
    ----------
    cpu_fixed_ms : float
        ARM time per image independent of its size (runtime calls, classification head), on
        one core at 1200 MHz.
    preprocess_ms_per_mpx : float
        ARM resize + normalise time per input megapixel, one core at 1200 MHz.
    head_ms_per_mpx : Mapping[str, float]
        Extra post-processing per input megapixel for each head of :data:`HEADS`
        (classification is 0 by definition: its head is in ``cpu_fixed_ms``).
    arm_parallel_efficiency : float
        Share of the board's ARM cores that pre/post-processing threads use in parallel (0-1].
    ddr_contention_per_core : float
        Relative slow-down of each DPU core per other busy core (shared DDR), >= 0.
    overlap_exponent : float
        p of the p-norm that combines the DPU and CPU sides (1: they never overlap).
    source : str
        What the parameters were fitted on.
    """

    cpu_fixed_ms: float
    preprocess_ms_per_mpx: float
    head_ms_per_mpx: Mapping[str, float]
    arm_parallel_efficiency: float
    ddr_contention_per_core: float
    overlap_exponent: float
    source: str = ""

    def __post_init__(self) -> None:
        unknown = set(self.head_ms_per_mpx) - set(HEADS)
        if unknown:
            raise ValueError(f"unknown head(s) {sorted(unknown)}; allowed: {', '.join(HEADS)}")
        heads = {head: float(self.head_ms_per_mpx.get(head, 0.0)) for head in HEADS}
        values = {"cpu_fixed_ms": self.cpu_fixed_ms, "preprocess_ms_per_mpx": self.preprocess_ms_per_mpx,
                  "ddr_contention_per_core": self.ddr_contention_per_core, **heads}
        for name, value in values.items():
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if not 0 < self.arm_parallel_efficiency <= 1:
            raise ValueError(f"arm_parallel_efficiency must be in (0, 1], got {self.arm_parallel_efficiency!r}")
        if not self.overlap_exponent >= 1:
            raise ValueError(f"overlap_exponent must be >= 1, got {self.overlap_exponent!r}")
        object.__setattr__(self, "head_ms_per_mpx", MappingProxyType(heads))

    def __reduce__(self):
        # a mappingproxy does not pickle; searches ship their settings to other processes
        return (DeployedParams.from_dict, (self.to_dict(),))

    def to_dict(self) -> dict:
        """The parameters as plain JSON-ready values."""
        return {f.name: dict(value) if isinstance(value := getattr(self, f.name), Mapping) else value
                for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping) -> DeployedParams:
        """Read :meth:`to_dict`'s output; unknown keys are an error."""
        reject_unknown_keys(data, [f.name for f in fields(cls)], "deployed-model parameters")
        return cls(**data)


@dataclass(frozen=True)
class DeployedEstimate:
    """What an application delivers: throughput and latency with threads, and where the time goes.

    Attributes
    ----------
    threads, cores : int
        Software threads feeding the DPU and DPU cores used.
    dpu_ms : float
        DPU time per image (the latency model's figure).
    cpu_ms : float
        ARM time per image: pre-/post-processing plus ``fallback_ms``.
    fallback_ms : float
        Part of ``cpu_ms`` spent in operators that fall back to the CPU.
    single_thread_latency_ms : float
        End-to-end latency of one image with nothing else running (``dpu_ms + cpu_ms``).
    latency_ms : float
        End-to-end per-image latency at this load (Little's law: ``threads / fps``).
    fps : float
        Images per second delivered.
    bound : str
        What limits ``fps``: ``"threads"``, ``"dpu"`` or ``"cpu"``.
    """

    threads: int
    cores: int
    dpu_ms: float
    cpu_ms: float
    fallback_ms: float
    single_thread_latency_ms: float
    latency_ms: float
    fps: float
    bound: str

    def to_dict(self) -> dict:
        """Plain-JSON form, with :meth:`shares`."""
        return {f.name: getattr(self, f.name) for f in fields(self)} | {"shares": self.shares()}

    def shares(self) -> dict[str, float]:
        """Share of the single-thread latency taken by DPU, ARM pre/post-processing and CPU fallback."""
        total = self.single_thread_latency_ms
        return {"dpu": self.dpu_ms / total, "cpu_pre_post": (self.cpu_ms - self.fallback_ms) / total,
                "cpu_fallback": self.fallback_ms / total}


@dataclass(frozen=True)
class DeployedModel:
    """The deployed-throughput model with its parameters (see the module docstring).

    Use :meth:`shipped` for the parameters fitted on the Vitis AI model zoo.
    """

    params: DeployedParams
    cpus: Mapping[str, ArmCpu] = field(default_factory=lambda: BOARD_CPUS)

    def __post_init__(self) -> None:
        object.__setattr__(self, "cpus", MappingProxyType(dict(self.cpus)))

    def __reduce__(self):
        return (DeployedModel, (self.params, dict(self.cpus)))

    @classmethod
    def shipped(cls) -> DeployedModel:
        """The model with the parameters fitted on the whole Vitis AI model zoo (``data/deployed_params.json``)."""
        return _shipped()

    def arm_cpu(self, board: str) -> ArmCpu:
        """The ARM application processor of ``board``."""
        if board not in self.cpus:
            raise KeyError(f"unknown board {board!r} for the deployed model; known: {', '.join(sorted(self.cpus))}")
        return self.cpus[board]

    def cpu_ms(self, board: str, input_hw: tuple[int, int] = (224, 224), head: str = "classification") -> float:
        """ARM pre- and post-processing time of one image on one core of ``board``."""
        if head not in HEADS:
            raise ValueError(f"unknown head {head!r}; allowed: {', '.join(HEADS)}")
        if len(input_hw) != 2 or min(input_hw) < 1:
            raise ValueError(f"input_hw must be (height, width) in pixels >= 1, got {input_hw!r}")
        mpx = input_hw[0] * input_hw[1] / 1e6
        return float(_cpu_ms(self.params, mpx, self.params.head_ms_per_mpx[head], self.arm_cpu(board).clock_mhz))

    def saturation_cycle_ms(self, dpu_ms, cpu_ms, board: str, cores: int):
        """Time between finished images when enough threads keep every resource busy (array-friendly)."""
        return _cycle_ms(self.params, *_sides_ms(self.params, dpu_ms, cpu_ms, cores, self.arm_cpu(board).cores))

    def saturating_threads(self, dpu_ms: float, *, board: str, cores: int, cpu_ms: float) -> int:
        """Fewest threads at which the cores (or the ARM) are the bound, not the thread count."""
        cycle = float(self.saturation_cycle_ms(dpu_ms, cpu_ms, board, cores))
        return max(cores, math.ceil((dpu_ms + cpu_ms) / cycle - 1e-9))

    def estimate(self, dpu_ms: float, *, board: str, design_cores: int, cores: int | None = None,
                 threads: int | None = None, input_hw: tuple[int, int] = (224, 224),
                 head: str = "classification", cpu_fallback_ms: float = 0.0) -> DeployedEstimate:
        """Deployed fps and latency of a network whose DPU time per image is ``dpu_ms``.

        Parameters
        ----------
        dpu_ms : float
            DPU time of one image on one core (the latency model's prediction), > 0.
        board : str
            Board whose ARM cores run the application (:data:`BOARD_CPUS`).
        design_cores : int
            DPU cores the design has.
        cores : int, optional
            Cores the application uses (default: all of ``design_cores``).
        threads : int, optional
            Application threads (default: the fewest that saturate, :meth:`saturating_threads`).
        input_hw : tuple of int
            Network input (height, width) in pixels.
        head : str
            Network head, one of :data:`HEADS`.
        cpu_fallback_ms : float
            ARM time per image of operators that fall back to the CPU (one core).

        Returns
        -------
        DeployedEstimate
        """
        cores = design_cores if cores is None else cores
        for name, value in (("design_cores", design_cores), ("cores", cores)):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CORES:
                raise ValueError(f"{name} must be an integer >= 1 and <= {MAX_CORES} (DPU cores, PG338), "
                                 f"got {value!r}")
        if cores > design_cores:
            raise ValueError(f"cores={cores} is more than the design's {design_cores} DPU core(s)")
        for name, ms in (("dpu_ms", dpu_ms), ("cpu_fallback_ms", cpu_fallback_ms)):
            if not is_real_number(ms):
                raise ValueError(f"{name} must be a number of milliseconds, got {type(ms).__name__} {ms!r}")
        if not (math.isfinite(dpu_ms) and dpu_ms > 0):
            raise ValueError(f"dpu_ms must be a finite number > 0, got {dpu_ms!r}")
        if not (math.isfinite(cpu_fallback_ms) and cpu_fallback_ms >= 0):
            raise ValueError(f"cpu_fallback_ms must be a finite number >= 0, got {cpu_fallback_ms!r}")
        cpu_ms = self.cpu_ms(board, input_hw, head) + cpu_fallback_ms
        if threads is None:
            threads = self.saturating_threads(dpu_ms, board=board, cores=cores, cpu_ms=cpu_ms)
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ValueError(f"threads must be an integer >= 1, got {threads!r}")
        single_ms = dpu_ms + cpu_ms
        busy = min(threads, cores)
        dpu_side, cpu_side = _sides_ms(self.params, dpu_ms, cpu_ms, busy, self.arm_cpu(board).cores)
        cycle = float(_cycle_ms(self.params, dpu_side, cpu_side))
        thread_cycle = single_ms / threads
        if thread_cycle >= cycle:
            bound, cycle = "threads", thread_cycle
        else:
            bound = "dpu" if dpu_side >= cpu_side else "cpu"
        fps = 1000.0 / cycle
        return DeployedEstimate(threads, cores, float(dpu_ms), float(cpu_ms), float(cpu_fallback_ms),
                                float(single_ms), threads * cycle, fps, bound)

    def fps(self, dpu_ms, *, board: str, cores, threads: int | None = None, input_hw=(224, 224),
            head: str = "classification", cpu_fallback_ms=0.0) -> np.ndarray:
        """Deployed fps of many networks at once (the search's hot path); ``threads=None`` saturates.

        ``dpu_ms``, ``cores``, ``cpu_fallback_ms`` and both entries of ``input_hw`` broadcast
        against each other; :meth:`estimate` checks its inputs, this does not (it is fed by the search).
        """
        if head not in HEADS:
            raise ValueError(f"unknown head {head!r}; allowed: {', '.join(HEADS)}")
        arm = self.arm_cpu(board)
        dpu = np.asarray(dpu_ms, float)
        mpx = np.asarray(input_hw[0], float) * np.asarray(input_hw[1], float) / 1e6
        cpu = _cpu_ms(self.params, mpx, self.params.head_ms_per_mpx[head], arm.clock_mhz) + np.asarray(
            cpu_fallback_ms, float)
        cores = np.asarray(cores)
        busy = cores if threads is None else np.minimum(threads, cores)
        cycle = _cycle_ms(self.params, *_sides_ms(self.params, dpu, cpu, busy, arm.cores))
        if threads is not None:
            cycle = np.maximum(cycle, (dpu + cpu) / threads)
        return 1000.0 / cycle

    def from_e2e(self, latency_ms: float, *, board: str, input_hw: tuple[int, int], head: str) -> float:
        """DPU time implied by a published single-thread end-to-end latency (at least 5 % of it)."""
        return max(latency_ms - self.cpu_ms(board, input_hw, head), _MIN_DPU_SHARE * latency_ms)


@cache
def _shipped() -> DeployedModel:
    return DeployedModel(DeployedParams.from_dict(json.loads(_PARAMS_JSON.read_text())))


#: What a search's ``latency_ms`` constraint bounds: the DPU time of one image (``"dpu"``) or the
#: end-to-end single-thread latency including ARM pre/post-processing (``"e2e"``).
LATENCY_MODES = ("dpu", "e2e")


@dataclass(frozen=True)
class Deployment:
    """How a searched classifier runs on its board: threads, and what its latency constraint means.

    Parameters
    ----------
    board : str
        Board whose ARM cores run the application (:data:`BOARD_CPUS`).
    threads : int, optional
        Application threads; ``None`` (default): as many as saturate the cores.
    latency : {"dpu", "e2e"}
        ``"dpu"`` (default): ``latency_ms`` is the DPU time of one image, what the latency model
        predicts and what the model zoo validates best (see the README); ``"e2e"`` adds the
        modelled ARM pre/post-processing of one image.
    model : DeployedModel
        Default: the parameters fitted on the Vitis AI model zoo.
    """

    board: str
    threads: int | None = None
    latency: str = "dpu"
    model: DeployedModel = field(default_factory=DeployedModel.shipped)

    def __post_init__(self) -> None:
        if self.threads is not None and (isinstance(self.threads, bool) or not isinstance(self.threads, int)
                                         or self.threads < 1):
            raise ValueError(f"threads must be an integer >= 1 or None (saturate the cores), got {self.threads!r}")
        if self.latency not in LATENCY_MODES:
            raise ValueError(f"latency mode must be one of {LATENCY_MODES}, got {self.latency!r}")
        self.model.arm_cpu(self.board)  # an unknown board is an error here, not in the middle of a search

    def cpu_ms(self, resolution):
        """ARM pre/post-processing of one ``resolution`` x ``resolution`` classification image (array-friendly)."""
        mpx = np.asarray(resolution, float) ** 2 / 1e6
        p = self.model.params
        return _cpu_ms(p, mpx, p.head_ms_per_mpx["classification"], self.model.arm_cpu(self.board).clock_mhz)

    def latency_ms(self, dpu_ms, resolution):
        """The figure a ``latency_ms`` constraint bounds (:data:`LATENCY_MODES`)."""
        dpu = np.asarray(dpu_ms, float)
        return dpu if self.latency == "dpu" else dpu + self.cpu_ms(resolution)

    def fps(self, dpu_ms, cores, resolution) -> np.ndarray:
        """Deployed images/s of many (network, accelerator) pairs."""
        return self.model.fps(dpu_ms, board=self.board, cores=cores, threads=self.threads,
                              input_hw=(resolution, resolution))

    def estimate(self, dpu_ms: float, cores: int, resolution: int) -> DeployedEstimate:
        """The full breakdown of one design (threads, shares, bound)."""
        return self.model.estimate(float(dpu_ms), board=self.board, design_cores=int(cores),
                                   threads=self.threads, input_hw=(int(resolution), int(resolution)))

    def describe(self) -> str:
        """One line for results and reports."""
        threads = "threads that saturate the cores" if self.threads is None else f"{self.threads} thread(s)"
        meaning = "DPU time per image" if self.latency == "dpu" else "end-to-end single-thread latency"
        return (f"fps: deployed throughput with {threads} on {self.board}'s "
                f"{self.model.arm_cpu(self.board).cores} ARM cores (accel_models.deployed, fitted on the Vitis AI "
                f"model zoo); latency_ms: {meaning}")


# ----------------------------------------------------------------- the model zoo
_HEAD_TOKENS = (
    ("detection", r"yolo.*|tiny|ssd.*|refinedet|densebox|retinaface|fairmot|detection|efficientdet|centerpoint|solo"
                  r"|multitask|multitaskv3|mt|openpose|textmountain|ocr|hfnet|superpoint"),
    ("segmentation", r"cityscapes|.*fpn.*|unet|enet|erfnet|salsanext.*|semantic|covid19|drunet|hrnet|ssr|ultrafast"
                     r"|vpgnet|cflow|c2d2lite|sa-gate"),
    ("image", r"sesr|rcan|div2k|fadnet.*|bcc|xilinxsr|ofa-rcan"),
)


def head_of(model: str) -> str:
    """The head of a Vitis AI model-zoo network, from the words of its name (default: classification).

    >>> head_of("dk_yolov3_voc_416_416_65.42G"), head_of("pt_ENet_cityscapes_512_1024_8.6G")
    ('detection', 'segmentation')
    >>> head_of("tf_mobilenetv2_1.0_imagenet_224_224_0.59G")
    'classification'
    """
    words = re.split(r"[_\-]", model.lower())
    for head, pattern in _HEAD_TOKENS:
        if any(re.fullmatch(pattern, word) for word in words):
            return head
    return "classification"


@dataclass(frozen=True)
class ZooThroughputRow:
    """One network on one board in one Vitis AI release: single-thread latency and multi-thread fps."""

    model: str
    board: str
    cores: int
    dpu_arch: str
    clock_mhz: float
    vitis_ai: str
    input_hw: tuple[int, int]
    head: str
    latency_ms: float
    fps: float


_ZOO_BOARDS = {"ZCU102": "zcu102", "ZCU104": "zcu104", "KV260": "kv260", "Ultra96": "ultra96v2"}
_VERSION = re.compile(r"Vitis-AI@v(\d+\.\d+)")
_ARCH = re.compile(r"^(\d+)xB(\d+)")
_SIZE = re.compile(r"^(\d+)x(\d+)$")


def read_zoo(path: str | Path) -> tuple[ZooThroughputRow, ...]:
    """Pair the zoo's single-thread and multi-thread rows of each (network, board, DPU, clock, release).

    Rows without a Vitis AI release in ``source`` (tutorial figures), without an image input size,
    or without both figures are skipped. A single-thread row that gives only fps is read as
    ``latency_ms = 1000 / fps`` (the zoo's single-thread fps is the inverse of its latency).
    """
    pairs: dict[tuple, dict[str, dict]] = {}
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            version, size = _VERSION.search(row["source"]), _SIZE.match(row["input_size"])
            arch, board = _ARCH.match(row["dpu_arch"]), _ZOO_BOARDS.get(row["board"].split()[0])
            if None in (version, size, arch, board):
                continue
            # the full board name: the zoo lists two ZCU102 revisions side by side in Vitis AI 1.0
            key = (row["model"], board, row["board"], row["dpu_arch"], row["clock_mhz"],
                   version.group(1))  # type: ignore[union-attr]
            pairs.setdefault(key, {})[row["threads"]] = row
    out = []
    for (model, board, _, dpu_arch, clock, version), by_threads in pairs.items():
        single, multi = by_threads.get("1"), by_threads.get("multi")
        if single is None or multi is None or not multi["fps"] or not (single["latency_ms"] or single["fps"]):
            continue
        latency_ms = float(single["latency_ms"]) if single["latency_ms"] else 1000.0 / float(single["fps"])
        arch = _ARCH.match(dpu_arch)
        hw = _SIZE.match(single["input_size"])
        out.append(ZooThroughputRow(model, board, int(arch.group(1)), f"B{arch.group(2)}", float(clock),  # type: ignore[union-attr]
                                    version, (int(hw.group(1)), int(hw.group(2))), head_of(model),  # type: ignore[union-attr]
                                    latency_ms, float(multi["fps"])))
    return tuple(out)


# ----------------------------------------------------------------- fitting
_FIT_NAMES = ("cpu_fixed_ms", "preprocess_ms_per_mpx", "detection", "segmentation", "image",
              "arm_parallel_efficiency", "ddr_contention_per_core", "overlap_exponent")
_LOWER = (0.0, 0.0, 0.0, 0.0, 0.0, 0.05, 0.0, 1.0)
_UPPER = (20.0, 200.0, 500.0, 500.0, 500.0, 1.0, 1.0, 20.0)
_START = (0.5, 5.0, 10.0, 10.0, 10.0, 0.7, 0.1, 2.0)


def _params(x: Sequence[float], source: str) -> DeployedParams:
    head = {"classification": 0.0, "detection": x[2], "segmentation": x[3], "image": x[4]}
    return DeployedParams(float(x[0]), float(x[1]), head, float(x[5]), float(x[6]), float(x[7]), source)


@dataclass(frozen=True)
class _ZooArrays:
    """Zoo rows as arrays, built once per fit."""

    latency_ms: np.ndarray
    mpx: np.ndarray
    head: np.ndarray  # index into HEADS
    arm_clock_mhz: np.ndarray
    arm_cores: np.ndarray
    cores: np.ndarray

    @classmethod
    def of(cls, rows: Sequence[ZooThroughputRow], cpus: Mapping[str, ArmCpu]) -> _ZooArrays:
        arm = [cpus[row.board] for row in rows]
        return cls(np.array([row.latency_ms for row in rows]),
                   np.array([row.input_hw[0] * row.input_hw[1] / 1e6 for row in rows]),
                   np.array([HEADS.index(row.head) for row in rows]),
                   np.array([cpu.clock_mhz for cpu in arm]), np.array([cpu.cores for cpu in arm]),
                   np.array([row.cores for row in rows]))


def _multi_thread_fps(p: DeployedParams, zoo: _ZooArrays) -> np.ndarray:
    """Saturated fps of each row, its DPU time taken from its published single-thread latency."""
    head = np.array([p.head_ms_per_mpx[h] for h in HEADS])[zoo.head]
    cpu = np.minimum(_cpu_ms(p, zoo.mpx, head, zoo.arm_clock_mhz), (1 - _MIN_DPU_SHARE) * zoo.latency_ms)
    return 1000.0 / _cycle_ms(p, *_sides_ms(p, zoo.latency_ms - cpu, cpu, zoo.cores, zoo.arm_cores))


def fit_deployed(rows: Iterable[ZooThroughputRow], cpus: Mapping[str, ArmCpu] = BOARD_CPUS,
                 source: str = "") -> DeployedParams:
    """Fit the parameters on zoo rows: least squares on log multi-thread fps.

    Each row's DPU time is its published single-thread latency minus the modelled ARM time
    (:meth:`DeployedModel.from_e2e`), so the fit learns how the single-thread latency splits
    between ARM and DPU and how the two sides overlap and contend when many threads run.
    """
    from scipy.optimize import least_squares  # the board path never fits

    rows = tuple(rows)
    if len(rows) < len(_FIT_NAMES):
        raise ValueError(f"need at least {len(_FIT_NAMES)} zoo rows to fit {len(_FIT_NAMES)} parameters, "
                         f"got {len(rows)}")
    published = np.log([row.fps for row in rows])
    zoo = _ZooArrays.of(rows, cpus)

    def residuals(x):
        return np.log(_multi_thread_fps(_params(x, source), zoo)) - published

    result = least_squares(residuals, _START, bounds=(_LOWER, _UPPER), x_scale="jac")
    return _params(result.x, source)


def predict_multi_thread_fps(params: DeployedParams, rows: Sequence[ZooThroughputRow],
                             cpus: Mapping[str, ArmCpu] = BOARD_CPUS) -> np.ndarray:
    """Saturated fps of zoo rows, each from its published single-thread latency (validation)."""
    return _multi_thread_fps(params, _ZooArrays.of(rows, cpus))
