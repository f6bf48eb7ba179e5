"""Analytical per-layer latency of a DPU-like accelerator: tiling, traffic, overheads.

For every layer on every accelerator (one numpy pass over L layers x M
accelerators):

* compute: :func:`accel_models.tiling.tiled_cycles` divided by the engine's
  efficiency (``conv``, ``pw``, ``dw``, ``misc``) plus ``hswish_passes``
  element-wise passes over the output of every h-swish / h-sigmoid layer;
* memory: the feature-map bytes of :class:`accel_models.schedule.UnitSchedule`
  (compulsory traffic plus spills of on-chip tensors that exceed
  ``buffer_fraction`` of the activation buffer) at ``bw_efficiency *
  ddr_bw_gbps``, plus the weights at ``weight_bw_efficiency * ddr_bw_gbps``
  (the Ultra96-V2 measurements load weights at well under half the rate
  feature maps move);
* latency = max(compute, memory) + (1 - overlap) * min(compute, memory) / chunks
  + per-layer overhead (``layer_overhead_cycles`` at the clock, plus the
  accelerator's own ``layer_overhead_us``).  ``chunks = max(1, DDR bytes /
  (pipeline_chunk_fraction * activation buffer))``: a layer whose traffic
  spans many buffer-sized chunks runs as a double-buffered pipeline (load
  chunk i+1 while computing chunk i) that exposes only one chunk's transfer or
  compute; a layer that fits the buffer loads, computes and stores in turn.

A unit's latency is the sum over its layers (the DPU runs layers one after
the other).  The cost of launching a compiled program (one xmodel) is not a
per-layer cost and is not included; calibration estimates it separately.

Calibrated on one device alone, the Ultra96-V2 B2304 MobileNetV3 blocks
(Vitis AI 3.0, small layers) fit with no overlap of compute and DDR transfers
(``overlap`` 0), while the ZCU102 B4096 DNNDK per-layer profiles (mostly
large VGG / AlexNet convolutions) fit with ``overlap`` about 0.9; see
``benchmarks/bench_calibration.py``.  The chunked pipeline reconciles the
two: fitted on both (``latency_tables.calibrate_joint``), one chunk is about
one activation buffer and ``overlap`` is near 0 (``benchmarks/bench_transfer.py``).
The default ``pipeline_chunk_fraction`` (1e4 buffers) turns the pipeline off,
as the Ultra96-only calibration, which cannot identify it, has it.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from .accelerator import Accelerator
from .layer import OPS, Layer, LayerArrays
from .predictor_protocol import AcceleratorChoice, accelerator_list
from .schedule import UnitSchedule, group_by_block, unit_flow
from .tiling import AcceleratorArrays, class_cycles, layer_class, layer_classes, tiled_cycles
from .validation import reject_unknown_keys

__all__ = ["ENGINES", "PARAMETER_INFO", "LayerAnalysis", "LayerTerms", "RooflineModel", "RooflineParams",
           "engine_peaks_gops"]

#: The compute engine of each :data:`accel_models.tiling.CLASSES` code (conv, pw, dw, misc), by roof name.
ENGINES = ("int8", "int8", "depthwise", "element-wise")


def engine_peaks_gops(accelerator: Accelerator) -> dict[str, float]:
    """Compute roof of each engine of one core in GOP/s (what the tiling model lets an engine reach).

    * ``int8``: the convolution array (dense and 1x1 convolutions, fully
      connected layers), ``2 x PP x ICP x OCP`` ops per cycle (PG338's peak);
    * ``depthwise``: the depthwise engine (the ALU of IP 4.x, which also
      pools), one channel per ICP lane at ``dw_pp`` pixels,
      ``2 x dw_pp x ICP`` ops per cycle;
    * ``element-wise``: add / scale / activations, one op per element at
      ``PP x ICP`` elements per cycle.

    >>> engine_peaks_gops(Accelerator.from_dpu("B1600", clock_mhz=200.0))
    {'int8': 320.0, 'depthwise': 16.0, 'element-wise': 16.0}
    """
    ghz = accelerator.clock_mhz / 1e3
    dw_pp = accelerator.dw_pp
    assert dw_pp is not None  # Accelerator.__post_init__ fills the default
    return {"int8": 2 * accelerator.pp * accelerator.icp * accelerator.ocp * ghz,
            "depthwise": 2 * dw_pp * accelerator.icp * ghz,
            "element-wise": accelerator.pp * accelerator.icp * ghz}

#: Unit, physical reading and allowed range of every free parameter.
PARAMETER_INFO: Mapping[str, dict] = {
    "conv_efficiency": dict(unit="1", low=0.05, high=1.0,
                            meaning="fraction of the tiled peak a dense k x k convolution reaches"),
    "pw_efficiency": dict(unit="1", low=0.05, high=1.0,
                          meaning="fraction of the tiled peak a 1x1 convolution / fully connected layer reaches"),
    "dw_efficiency": dict(unit="1", low=0.05, high=1.0,
                          meaning="fraction of the tiled peak the depthwise / pooling engine (the ALU) reaches"),
    "misc_efficiency": dict(unit="1", low=0.01, high=1.0,
                            meaning="fraction of PP x ICP elements per cycle the element-wise engine "
                                    "(add, scale) reaches"),
    "hswish_passes": dict(unit="passes", low=0.0, high=20.0,
                          meaning="element-wise-engine passes over its output an h-swish or h-sigmoid costs "
                                  "(relu6(x+3), scale, product: about 3)"),
    "bw_efficiency": dict(unit="1", low=0.02, high=1.0,
                          meaning="fraction of the peak DDR bandwidth feature maps move at"),
    "weight_bw_efficiency": dict(unit="1", low=0.01, high=1.0,
                                 meaning="fraction of the peak DDR bandwidth weights are loaded at"),
    "layer_overhead_cycles": dict(unit="cycles", low=0.0, high=1e6,
                                  meaning="fixed cost of every layer: instruction fetch, pipeline fill and drain"),
    "overlap": dict(unit="1", low=0.0, high=1.0,
                    meaning="fraction of the shorter of compute and memory time hidden under the longer"),
    "buffer_fraction": dict(unit="1", low=0.05, high=4.0,
                            meaning="fraction of the activation buffer a tensor may occupy and stay on chip"),
    "pipeline_chunk_fraction": dict(unit="buffers", low=0.01, high=1e4,
                                    meaning="DDR traffic of one double-buffered pipeline chunk, in activation "
                                            "buffers: a layer moving n chunks hides all but 1/n of the shorter "
                                            "of its compute and memory time"),
}


@dataclass(frozen=True)
class RooflineParams:
    """Free parameters of :class:`RooflineModel` (see :data:`PARAMETER_INFO`).

    Defaults are the Ultra96-V2 B2304 calibration rounded (a plausible
    starting point for any DPUCZDX8G); :func:`latency_tables.calibrate` fits
    them to a device's measurements.
    """

    conv_efficiency: float = 0.8
    pw_efficiency: float = 0.7
    dw_efficiency: float = 1.0
    misc_efficiency: float = 0.15
    hswish_passes: float = 3.0
    bw_efficiency: float = 0.4
    weight_bw_efficiency: float = 0.16
    layer_overhead_cycles: float = 600.0
    overlap: float = 0.0
    buffer_fraction: float = 1.0
    pipeline_chunk_fraction: float = 1e4

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            info = PARAMETER_INFO[f.name]
            if isinstance(value, bool) or not isinstance(value, numbers.Real) \
                    or not math.isfinite(value) or not info["low"] <= value <= info["high"]:
                raise ValueError(f"RooflineParams.{f.name} must be a number in [{info['low']}, {info['high']}] "
                                 f"({info['meaning']}), got {value!r}")
            object.__setattr__(self, f.name, float(value))

    def to_dict(self) -> dict[str, float]:
        """``{name: value}`` of every parameter (see :meth:`from_dict`)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, float]) -> RooflineParams:
        """Parameters from a (partial) ``{name: value}`` mapping; unknown names are an error."""
        reject_unknown_keys(data, [f.name for f in fields(cls)], "RooflineParams")
        return cls(**data)

    def replace(self, **changes) -> RooflineParams:
        """The same parameters with ``changes`` applied (validated)."""
        return self.from_dict({**self.to_dict(), **changes})

    def describe(self) -> dict[str, dict]:
        """``{name: {value, unit, meaning}}`` for reports."""
        return {name: {"value": value, "unit": PARAMETER_INFO[name]["unit"],
                       "meaning": PARAMETER_INFO[name]["meaning"]} for name, value in self.to_dict().items()}


@dataclass(frozen=True, eq=False)
class LayerAnalysis:
    """Per-layer roofline analysis of a layer list on one accelerator.

    Every array attribute has one value per layer.  ``bound`` says what
    dominates the layer: ``"compute"``, ``"memory"`` or ``"overhead"`` (the
    fixed per-layer cost exceeds both).  Each layer has its own roof:
    ``attainable_gops = min(engine_peak_gops, bandwidth_gbps * arithmetic_intensity)``,
    the compute roof of the engine it runs on (:func:`engine_peaks_gops`) and
    the DDR bandwidth the model moves its bytes at (``bandwidth_gbps``: its
    modelled bytes over its modelled memory time, feature maps at
    ``bw_efficiency`` and weights at ``weight_bw_efficiency`` of the peak).  A
    layer with no DRAM traffic (on chip only, e.g. the squeeze-excite pool
    and scale) has ``arithmetic_intensity`` inf, ``bandwidth_gbps`` NaN and
    only its engine roof.  ``peak_gops`` and ``ddr_peak_gbps`` are the
    per-core int8 peak and the accelerator's peak DDR bandwidth; the ridge
    point is their ratio (one definition, :attr:`Accelerator.ridge_ops_per_byte`).
    ``ddr_levels_gbps`` are the bandwidths the model moves feature maps and
    weights at; every layer's ``bandwidth_gbps`` lies between them.
    ``bw_gbps`` is the whole list's effective bandwidth (all modelled bytes
    over all modelled memory time).
    """

    name: tuple[str, ...]
    op: tuple[str, ...]
    macs: np.ndarray
    ops: np.ndarray
    dram_bytes: np.ndarray
    arithmetic_intensity: np.ndarray
    attainable_gops: np.ndarray
    compute_ms: np.ndarray
    memory_ms: np.ndarray
    overhead_ms: np.ndarray
    latency_ms: np.ndarray
    bound: np.ndarray
    utilization: np.ndarray
    accelerator: Accelerator
    peak_gops: float
    bw_gbps: float
    engine: tuple[str, ...]
    engine_peak_gops: np.ndarray
    bandwidth_gbps: np.ndarray
    ddr_peak_gbps: float
    ddr_levels_gbps: Mapping[str, float]

    @property
    def ridge_ops_per_byte(self) -> float:
        """Int8 peak over peak DDR bandwidth: where one core's peak roofs meet."""
        return self.peak_gops / self.ddr_peak_gbps

    @property
    def on_chip(self) -> np.ndarray:
        """(L,) True for layers that move no DRAM bytes."""
        return np.asarray(self.dram_bytes) <= 0

    def __len__(self) -> int:
        return len(self.name)

    _COLUMNS = ("name", "op", "macs", "ops", "dram_bytes", "arithmetic_intensity", "attainable_gops", "compute_ms",
                "memory_ms", "overhead_ms", "latency_ms", "bound", "utilization", "engine", "engine_peak_gops",
                "bandwidth_gbps")

    def to_records(self) -> list[dict]:
        """One plain dict per layer (JSON-able)."""
        columns = {c: getattr(self, c) for c in self._COLUMNS}
        records = []
        for i in range(len(self)):
            row = {}
            for c, values in columns.items():
                value = values[i]
                row[c] = value.item() if isinstance(value, np.generic) else value
            records.append(row)
        return records

    def totals(self) -> dict:
        """Whole-list figures: latency, ops, traffic, achieved GOP/s, utilization, time per bound."""
        latency = float(self.latency_ms.sum())
        ops = float(self.ops.sum())
        by_bound = {b: float(self.latency_ms[self.bound == b].sum()) for b in ("compute", "memory", "overhead")}
        return {
            "layers": len(self),
            "latency_ms": latency,
            "compute_ms": float(self.compute_ms.sum()),
            "memory_ms": float(self.memory_ms.sum()),
            "overhead_ms": float(self.overhead_ms.sum()),
            "macs": int(self.macs.sum()),
            "ops": ops,
            "dram_bytes": float(self.dram_bytes.sum()),
            "achieved_gops": ops / latency / 1e6 if latency else 0.0,
            "utilization": ops / (latency * 1e6 * self.peak_gops) if latency else 0.0,
            "latency_ms_by_bound": by_bound,
            "peak_gops": self.peak_gops,
            "bw_gbps": self.bw_gbps,
            "accelerator": self.accelerator.name,
        }


@dataclass(frozen=True, eq=False)
class LayerTerms:
    """Parameter-independent parts of the model for M accelerators x L layers (see :meth:`RooflineModel.terms`)."""

    cycles: np.ndarray  # (M, L) ideal engine cycles
    activation_cycles: np.ndarray  # (M, L) one pass over h-swish / h-sigmoid outputs
    engine: np.ndarray  # (L,) engine class codes
    dram_bytes: np.ndarray  # (M, L) feature maps and weights
    weight_bytes: np.ndarray  # (L,)
    instructions: np.ndarray  # (L,) 1 per layer, 0 for one merged into its producer
    extra_layers: np.ndarray  # (M, L) instructions added by split h-swish
    cycles_per_ms: np.ndarray  # (M, 1)
    peak_bytes_per_ms: np.ndarray  # (M, 1)
    accelerator_overhead_ms: np.ndarray  # (M, 1)
    act_buffer_bytes: np.ndarray  # (M, 1)
    max_traffic_buffers: float  # the largest layer traffic, in activation buffers
    buffer_fraction: float


#: What bounds a layer, by the index :meth:`RooflineModel.analyze` computes.
_BOUNDS = np.array(["compute", "memory", "overhead"])


#: One layer's components on one accelerator as the scalar path holds them, a plain tuple of these (the keys
#: of :meth:`RooflineModel.breakdown`; a named tuple would cost a third of a microsecond a layer to build).
_PARTS = ("compute_ms", "memory_ms", "overhead_ms", "latency_ms", "dram_bytes")
_DRAM, _MEMORY, _LATENCY = (_PARTS.index(name) for name in ("dram_bytes", "memory_ms", "latency_ms"))
#: ``(layer, engine class code, parts)``: one layer of the scalar path.
_ScalarLayer = tuple[Layer, int, tuple[float, ...]]
#: The columns :meth:`RooflineModel._analyze_layers` builds per layer (its parts, ops and engine roof), and
#: what :func:`_layer_roofs` adds to them.
_LAYER_COLUMNS = (*_PARTS, "ops", "engine_peak_gops")
_ROOF_COLUMNS = ("arithmetic_intensity", "bandwidth_gbps", "attainable_gops", "utilization")
_ALL_COLUMNS = _LAYER_COLUMNS + _ROOF_COLUMNS
#: Up to this many layers :meth:`RooflineModel.analyze` computes roofs in Python numbers, above in numpy: a
#: unit's layers (8 at most in the OFA spaces) take the Python path, faster for so few; a whole network's
#: (67-131) numpy, whose per-call cost the per-layer Python cost overtakes at about 30 layers.
_PYTHON_ROOFS_MAX_LAYERS = 16
_BOUND_NAMES = tuple(_BOUNDS.tolist())


def _components(p: RooflineParams, cycles, inverse_efficiency, activation_cycles, dram_bytes, weight_bytes,
                instructions, cycles_per_ms, peak_bytes_per_ms, accelerator_overhead_ms, act_buffer_bytes, *,
                pipelined: bool, maximum, minimum) -> tuple[Any, Any, Any, Any]:
    """``(compute_ms, memory_ms, overhead_ms, latency_ms)`` of layers: the model's formulas, written once.

    Numpy arrays that broadcast (the bulk path; ``maximum``/``minimum`` are
    ``np.maximum``/``np.minimum``; the arrays it creates are updated in
    place, its inputs are left alone) or Python numbers (one layer on one
    accelerator; ``max``/``min``): the same IEEE operations in the same
    order, so both give the same numbers.  ``pipelined`` False skips the
    chunk division where every layer is one chunk (a division by 1).
    """
    compute = cycles * inverse_efficiency
    compute += activation_cycles * (p.hswish_passes / p.misc_efficiency)
    compute /= cycles_per_ms
    memory = dram_bytes - weight_bytes
    memory *= 1.0 / p.bw_efficiency
    memory += weight_bytes / p.weight_bw_efficiency
    memory /= peak_bytes_per_ms
    overhead = (p.layer_overhead_cycles / cycles_per_ms + accelerator_overhead_ms) * instructions
    latency = maximum(compute, memory)
    if p.overlap < 1.0:
        exposed = minimum(compute, memory)
        exposed *= 1.0 - p.overlap
        if pipelined:
            exposed /= maximum(dram_bytes / (p.pipeline_chunk_fraction * act_buffer_bytes), 1.0)
        latency += exposed
    latency += overhead
    return compute, memory, overhead, latency


def _array_roofs(columns: dict[str, np.ndarray], peak_gops: float) -> np.ndarray:
    """Add each layer's roofs and utilization to ``columns`` (its parts, ``ops``, ``engine_peak_gops``); its bounds.

    A layer with no DRAM traffic has only its engine roof (intensity inf, bandwidth NaN).
    """
    ops, dram, compute, memory = columns["ops"], columns["dram_bytes"], columns["compute_ms"], columns["memory_ms"]
    engine_peak = columns["engine_peak_gops"]
    moves = dram > 0
    intensity = np.divide(ops, dram, out=np.full(len(ops), np.inf), where=moves)
    bandwidth = np.divide(dram, memory, out=np.full(len(ops), np.nan), where=moves)
    bandwidth /= 1e6
    columns.update(arithmetic_intensity=intensity, bandwidth_gbps=bandwidth,
                   attainable_gops=np.minimum(engine_peak, bandwidth * intensity, out=engine_peak.copy(), where=moves),
                   utilization=ops / (columns["latency_ms"] * 1e6 * peak_gops))
    return _BOUNDS[np.where(columns["overhead_ms"] > np.maximum(compute, memory), 2, compute < memory)]


def _layer_roofs(row: tuple[float, ...], peak_gops: float) -> tuple[tuple[float, float, float, float], str]:
    """One layer's :func:`_array_roofs` in Python numbers: its :data:`_ROOF_COLUMNS`, and its bound.

    ``row`` holds the layer's :data:`_LAYER_COLUMNS`.
    """
    compute_ms, memory_ms, overhead_ms, latency_ms, dram_bytes, ops, engine_peak_gops = row
    if dram_bytes > 0:  # then memory_ms > 0: dram_bytes is feature maps plus weights, both >= 0
        intensity = ops / dram_bytes
        bandwidth = dram_bytes / memory_ms / 1e6
        roof = min(engine_peak_gops, bandwidth * intensity)
    else:
        intensity, bandwidth, roof = math.inf, math.nan, engine_peak_gops
    busy = latency_ms * 1e6 * peak_gops
    utilization = ops / busy if busy else (math.inf if ops else math.nan)  # numpy's x / 0
    bound = _BOUND_NAMES[2 if overhead_ms > max(compute_ms, memory_ms) else int(compute_ms < memory_ms)]
    return (intensity, bandwidth, roof, utilization), bound


#: numpy's pairwise summation (``pairwise_sum`` in its float loops): runs of up to this many numbers in
#: 8 interleaved accumulators, longer runs split in two.
_PAIRWISE_BLOCK = 128


def _numpy_sum(values: Sequence[float]) -> float:
    """``np.add.reduce`` (``array.sum()``) of a float64 sequence, in Python numbers: the same additions in order.

    For the small calls, whose one or two numpy sums of a few numbers would cost more than the rest of
    the arithmetic.  Fewer than 8 numbers are added one by one (from -0.0), up to
    :data:`_PAIRWISE_BLOCK` in 8 interleaved accumulators combined pairwise and the rest one by one;
    longer runs are split in two at a multiple of 8.
    """
    n = len(values)
    if n < 8:
        total = -0.0
        for value in values:
            total += value
        return total
    if n > _PAIRWISE_BLOCK:
        half = n // 2 - n // 2 % 8
        return _numpy_sum(values[:half]) + _numpy_sum(values[half:])
    lanes = list(values[:8])
    end = n - n % 8
    for i in range(8, end, 8):
        for lane in range(8):
            lanes[lane] += values[i + lane]
    total = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))
    for value in values[end:]:
        total += value
    return total


def _numpy_segment_sum(values: Sequence[float]) -> float:
    """One segment of ``np.add.reduceat`` in Python numbers: the first value plus the :func:`_numpy_sum` of the rest."""
    return values[0] + _numpy_sum(values[1:]) if len(values) > 1 else values[0]


def _column_arrays(names: Sequence[str], columns: Sequence[Sequence[float]]) -> dict[str, np.ndarray]:
    """``{name: column}`` as float arrays, each a contiguous row of one (columns, L) array, as the numpy path's.

    One conversion of a flat list (faster than of nested sequences) and one view a column.
    """
    table = np.array([value for column in columns for value in column]).reshape(len(columns), -1)
    # not strict: checking that the array is exhausted too would run its iterator into an IndexError (about 1 us)
    return dict(zip(names, table, strict=False))


def _bw_gbps(dram_bytes: float, memory_ms: float) -> float:
    """A layer list's effective bandwidth (a summary figure; every layer has its own roof) from its totals."""
    return float(dram_bytes / max(memory_ms, 1e-12) / 1e6)


def _standalone_schedule(arrays: LayerArrays) -> UnitSchedule:
    # No names or graph: every layer is its own unit reading and writing DDR.
    from scipy import sparse

    n = len(arrays)
    return UnitSchedule(
        layers=arrays, names=tuple(f"layer{i}" for i in range(n)), unit_of_layer=np.arange(n), n_units=n,
        base_bytes=(arrays.input_bytes + arrays.output_bytes + arrays.weight_bytes).astype(float),
        tensor_bytes=np.zeros(0), tensor_footprint=np.zeros(0), tensor_hswish=np.zeros(0, dtype=bool),
        tensor_producer=np.zeros(0, dtype=np.int64), spill_bytes=sparse.csr_matrix((n, 0)),
        merged=np.zeros(n, dtype=bool))


@dataclass(frozen=True)
class RooflineModel:
    """Analytical latency of layers and units on DPU-like accelerators.

    Examples
    --------
    >>> from accel_models import BlockSpec
    >>> model = RooflineModel()
    >>> acc = Accelerator.from_dpu("B2304", clock_mhz=200.0)
    >>> block = BlockSpec.from_key("expanded_conv-input:28x28x48-output:28x28x48-expand:144"
    ...                            "-kernel:3-stride:1-idskip:1-se:1-hs:0").layers()
    >>> model.unit_latency_ms([block], acc).shape
    (1,)
    >>> model.unit_latency_ms([block, block[:1]], [acc, acc.replace(pp=16)]).shape
    (2, 2)
    """

    params: RooflineParams = RooflineParams()
    #: Pooling on the depthwise ALU (a DPUCZDX8G, PG338 v4.1: one pixel lane walks the window) or, False,
    #: on the element-wise engine (the HLS engine's PP x ICP unit): :func:`accel_models.tiling.layer_classes`.
    alu_pooling: bool = True

    def with_params(self, **changes) -> RooflineModel:
        """A model with some parameters changed."""
        return RooflineModel(self.params.replace(**changes), self.alu_pooling)

    # ------------------------------------------------------------- schedules
    @staticmethod
    def schedule(units: Sequence[Sequence[Layer]] | UnitSchedule) -> UnitSchedule:
        """The :class:`UnitSchedule` of ``units`` (reuse it to evaluate the same units often)."""
        if isinstance(units, UnitSchedule):
            return units
        return UnitSchedule.from_units(units)

    @staticmethod
    def _layer_units(layers: Sequence[Layer]) -> list[tuple[Layer, ...]]:
        try:
            layers = list(layers)
        except TypeError:  # None, one Layer, a SubnetConfig
            raise TypeError(f"layers must be a list of Layer (a SubnetConfig's .layers()), a LayerArrays or a "
                            f"UnitSchedule, got {type(layers).__name__}") from None
        if not all(isinstance(lay, Layer) for lay in layers):
            raise ValueError("layers must be Layer objects, a LayerArrays or a UnitSchedule")
        if not layers:
            raise ValueError("no layers given")
        return group_by_block(layers)

    @classmethod
    def _layer_schedule(cls, layers) -> UnitSchedule:
        if isinstance(layers, UnitSchedule):
            return layers
        if isinstance(layers, LayerArrays):
            return _standalone_schedule(layers)
        return UnitSchedule.from_units(cls._layer_units(layers))

    # ---------------------------------------------------------------- model
    def terms(self, schedule: UnitSchedule, accelerators: Sequence[Accelerator]) -> LayerTerms:
        """The parts of :meth:`breakdown` that depend on the accelerators and ``buffer_fraction`` only.

        Calibration evaluates :meth:`combine` on the same terms for many
        parameter sets.
        """
        acc = AcceleratorArrays.from_accelerators(accelerators)
        cycles, act_cycles = tiled_cycles(schedule.layers, acc, alu_pooling=self.alu_pooling)
        if schedule.merged.any():
            cycles[:, schedule.merged] = 0.0
            act_cycles[:, schedule.merged] = 0.0
        dram, extra_layers = schedule.dram_bytes(self.params.buffer_fraction * acc.act_buffer_bytes)
        return LayerTerms(cycles=cycles, activation_cycles=act_cycles,
                          engine=layer_classes(schedule.layers, self.alu_pooling),
                          dram_bytes=dram, weight_bytes=schedule.layers.weight_bytes.astype(float),
                          instructions=(~schedule.merged).astype(float), extra_layers=extra_layers,
                          cycles_per_ms=acc.clock_mhz * 1e3,
                          peak_bytes_per_ms=acc.ddr_bw_gbps * 1e6, accelerator_overhead_ms=acc.layer_overhead_us / 1e3,
                          buffer_fraction=self.params.buffer_fraction, act_buffer_bytes=acc.act_buffer_bytes,
                          max_traffic_buffers=float((dram / acc.act_buffer_bytes).max()))

    def combine(self, terms: LayerTerms) -> dict[str, np.ndarray]:
        """Per-layer components from precomputed :class:`LayerTerms`: (M, L) arrays."""
        p = self.params
        if terms.buffer_fraction != p.buffer_fraction:
            raise ValueError(f"terms were computed for buffer_fraction {terms.buffer_fraction}, "
                             f"the model has {p.buffer_fraction}; recompute them with model.terms(...)")
        inverse_efficiency = np.array(self._inverse_efficiencies)
        # (M, L) arrays of up to millions of entries: _components works on them in place
        compute, memory, overhead, latency = _components(
            p, terms.cycles, inverse_efficiency[terms.engine], terms.activation_cycles, terms.dram_bytes,
            terms.weight_bytes, terms.instructions + terms.extra_layers, terms.cycles_per_ms,
            terms.peak_bytes_per_ms, terms.accelerator_overhead_ms, terms.act_buffer_bytes,
            pipelined=p.pipeline_chunk_fraction < terms.max_traffic_buffers, maximum=np.maximum, minimum=np.minimum)
        return {"compute_ms": compute, "memory_ms": memory, "overhead_ms": overhead, "latency_ms": latency,
                "dram_bytes": terms.dram_bytes}

    @property
    def _inverse_efficiencies(self) -> tuple[float, float, float, float]:
        # 1 / the engine efficiencies, in the order of accel_models.tiling.CLASSES
        p = self.params
        return 1.0 / p.conv_efficiency, 1.0 / p.pw_efficiency, 1.0 / p.dw_efficiency, 1.0 / p.misc_efficiency

    def _scalar_layers(self, units: Sequence[Sequence[Layer]],
                       accelerator: Accelerator) -> list[list[_ScalarLayer]]:
        """``(layer, engine class, parts)`` of every layer of ``units`` on one accelerator, in Python floats.

        ``parts`` are the layer's :data:`_PARTS`.

        The one-accelerator form of :meth:`breakdown` (the same formulas:
        :func:`accel_models.tiling.layer_cycles`, :meth:`UnitFlow.dram_bytes`,
        :func:`_components`), for the small calls of reports and notebooks,
        where building arrays would cost far more than the arithmetic.  One
        list per unit, its layers in order.
        """
        p = self.params
        acc = accelerator
        alu_pooling = self.alu_pooling
        assert acc.act_buffer_kib is not None  # Accelerator.__post_init__ fills the default
        cycles_per_ms = acc.clock_mhz * 1e3
        peak_bytes_per_ms = acc.ddr_bw_gbps * 1e6
        overhead_ms = acc.layer_overhead_us / 1e3
        act_buffer_bytes = acc.act_buffer_kib * 1024
        capacity = p.buffer_fraction * act_buffer_bytes
        inverse_efficiency = self._inverse_efficiencies
        per_unit = []
        for k, unit in enumerate(units):
            flow = unit_flow(k, unit)
            dram, extra = flow.dram_bytes(capacity)
            layers: list[_ScalarLayer] = []
            for j, layer in enumerate(unit):
                engine = layer_class(layer, alu_pooling)
                merged = j in flow.merged
                cycles, act_cycles = (0, 0) if merged else class_cycles(layer, engine, acc)
                layers.append((layer, engine, (*_components(
                    p, cycles, inverse_efficiency[engine], act_cycles, dram[j], flow.weight_bytes[j],
                    (0.0 if merged else 1.0) + extra[j], cycles_per_ms, peak_bytes_per_ms, overhead_ms,
                    act_buffer_bytes, pipelined=True, maximum=max, minimum=min), dram[j])))
            per_unit.append(layers)
        return per_unit

    def breakdown(self, schedule: UnitSchedule, accelerators: Sequence[Accelerator]) -> dict[str, np.ndarray]:
        """Per-layer components for every accelerator: (M, L) arrays.

        Keys: ``compute_ms``, ``memory_ms``, ``overhead_ms``, ``latency_ms``,
        ``dram_bytes``.
        """
        return self.combine(self.terms(schedule, accelerators))

    # -------------------------------------------- the predictor protocol
    @property
    def invocation_ms(self) -> float:
        """0: the analytical model has no program launch cost (calibration estimates one per device)."""
        return 0.0

    def layer_latency_ms(self, layers: Sequence[Layer] | LayerArrays | UnitSchedule,
                         accelerator: AcceleratorChoice = None) -> np.ndarray:
        """Latency of each layer: (L,) for one accelerator, (M, L) for M.

        Layers of a :class:`Layer` sequence that share a ``block`` are one
        unit (their hand-off tensors may stay on chip); a
        :class:`LayerArrays` has no graph, so each of its layers reads and
        writes DDR.  The model has no accelerator of its own: pass one.

        One accelerator and :class:`Layer` objects are computed in Python
        numbers, layer by layer (a few microseconds per layer); several
        accelerators, a :class:`LayerArrays` or a :class:`UnitSchedule` in
        numpy.  Both run the same formulas and give the same numbers.
        """
        accs, single = accelerator_list(accelerator)
        if single and not isinstance(layers, (LayerArrays, UnitSchedule)):
            return np.array([parts[_LATENCY] for unit in self._scalar_layers(self._layer_units(layers), accs[0])
                             for _, _, parts in unit])
        latency = self.breakdown(self._layer_schedule(layers), accs)["latency_ms"]
        return latency[0] if single else latency

    def unit_latency_ms(self, units: Sequence[Sequence[Layer]] | UnitSchedule,
                        accelerator: AcceleratorChoice = None) -> np.ndarray:
        """Latency of each unit (sum over its layers): (K,) or (M, K).

        One accelerator and :class:`Layer` sequences take the scalar path of
        :meth:`layer_latency_ms`, anything else numpy; the same numbers.
        """
        accs, single = accelerator_list(accelerator)
        if single and not isinstance(units, UnitSchedule):
            units = [tuple(u) for u in units]
            if not units or not all(isinstance(lay, Layer) for unit in units for lay in unit):
                raise ValueError("units must be a non-empty sequence of Layer sequences (or a UnitSchedule)")
            # the sums UnitSchedule.per_unit takes over the bulk path's layers (np.add.reduceat's order), in
            # Python numbers: the one numpy call left is the result's
            return np.array([_numpy_segment_sum([parts[_LATENCY] for _, _, parts in unit])
                             for unit in self._scalar_layers(units, accs[0])])
        schedule = self.schedule(units)
        latency = schedule.per_unit(self.breakdown(schedule, accs)["latency_ms"])
        return latency[0] if single else latency

    def network_latency_ms(self, layers: Sequence[Layer] | LayerArrays | UnitSchedule,
                           accelerator: AcceleratorChoice = None) -> float | np.ndarray:
        """Latency of one network, the sum over its layers: a float, or (M,) for M accelerators."""
        total = np.asarray(self.layer_latency_ms(layers, accelerator)).sum(axis=-1)
        return float(total) if total.ndim == 0 else total

    def unit_sources(self, units: Sequence[Sequence[Layer]] | UnitSchedule,
                     accelerator: AcceleratorChoice = None) -> np.ndarray:
        """``"model"`` for every unit: (K,) or (M, K)."""
        accs, single = accelerator_list(accelerator)
        n_units = self.schedule(units).n_units
        return np.full(n_units if single else (len(accs), n_units), "model")

    def unit_dram_bytes(self, units: Sequence[Sequence[Layer]] | UnitSchedule,
                        accelerator: Accelerator | Sequence[Accelerator]) -> np.ndarray:
        """Modelled DDR traffic of each unit in bytes: (K,) or (M, K)."""
        accs, single = accelerator_list(accelerator)
        schedule = self.schedule(units)
        acc = AcceleratorArrays.from_accelerators(accs)
        dram, _ = schedule.dram_bytes(self.params.buffer_fraction * acc.act_buffer_bytes)
        per_unit = schedule.per_unit(dram)
        return per_unit[0] if single else per_unit

    def analyze(self, layers: Sequence[Layer] | LayerArrays | UnitSchedule, accelerator: Accelerator) -> LayerAnalysis:
        """Roofline analysis of ``layers`` on one accelerator (see :class:`LayerAnalysis`).

        :class:`Layer` objects take the scalar path (Python numbers layer by layer, as
        :meth:`layer_latency_ms`), a :class:`LayerArrays` or :class:`UnitSchedule` numpy;
        the same numbers.
        """
        if not isinstance(accelerator, Accelerator):
            raise ValueError(f"analyze takes one Accelerator, got {type(accelerator).__name__}")
        if isinstance(layers, (LayerArrays, UnitSchedule)):
            return self._analyze_arrays(self._layer_schedule(layers), accelerator)
        return self._analyze_layers(self._layer_units(layers), accelerator)

    def _analyze_arrays(self, schedule: UnitSchedule, accelerator: Accelerator) -> LayerAnalysis:
        """:meth:`analyze` in numpy."""
        columns = {k: v[0] for k, v in self.breakdown(schedule, [accelerator]).items()}
        arrays = schedule.layers
        engine = tuple(ENGINES[c] for c in layer_classes(arrays, self.alu_pooling).tolist())
        peaks = engine_peaks_gops(accelerator)
        columns.update(ops=arrays.ops.astype(float), engine_peak_gops=np.array([peaks[e] for e in engine]))
        peak_gops = accelerator.peak_gops_per_core
        bound = _array_roofs(columns, peak_gops)
        bw_gbps = _bw_gbps(columns["dram_bytes"].sum(), columns["memory_ms"].sum())
        return self._analysis(accelerator, columns, peak_gops, bw_gbps, name=schedule.names,
                              op=tuple(OPS[c] for c in arrays.op), macs=arrays.macs.copy(), engine=engine, bound=bound)

    def _analyze_layers(self, units: list[tuple[Layer, ...]], accelerator: Accelerator) -> LayerAnalysis:
        """:meth:`analyze` of :class:`Layer` objects: their parts in Python numbers, then their roofs.

        A short list's roofs are computed in Python numbers too (:func:`_layer_roofs`; numpy's
        per-call cost would be most of the time), a long one's in numpy (:func:`_array_roofs`);
        the two run the same IEEE operations in the same order, so give the same bits.  Every
        numpy call costs a small call about as much as a layer's arithmetic: the columns are
        transposed and summed in Python, then converted in one call.
        """
        peaks = engine_peaks_gops(accelerator)
        peak_gops = accelerator.peak_gops_per_core
        short = sum(map(len, units)) <= _PYTHON_ROOFS_MAX_LAYERS
        name, op, macs, engine, bound, rows = [], [], [], [], [], []
        for unit in self._scalar_layers(units, accelerator):
            for layer, engine_class, parts in unit:
                engine_name = ENGINES[engine_class]
                row: tuple[float, ...] = (*parts, float(layer.ops), peaks[engine_name])  # ops: a property, read once
                if short:
                    roofs, bound_name = _layer_roofs(row, peak_gops)
                    row += roofs
                    bound.append(bound_name)
                rows.append(row)
                name.append(layer.name)
                op.append(layer.op)
                macs.append(layer.macs)
                engine.append(engine_name)
        by_column = list(zip(*rows, strict=True))
        bw_gbps = _bw_gbps(_numpy_sum(by_column[_DRAM]), _numpy_sum(by_column[_MEMORY]))  # the numpy path's sums
        columns = _column_arrays(_ALL_COLUMNS if short else _LAYER_COLUMNS, by_column)
        bounds = np.array(bound, _BOUNDS.dtype) if short else _array_roofs(columns, peak_gops)
        return self._analysis(accelerator, columns, peak_gops, bw_gbps, name=tuple(name), op=tuple(op),
                              macs=np.array(macs, dtype=np.int64), engine=tuple(engine), bound=bounds)

    def _analysis(self, accelerator: Accelerator, columns: dict[str, np.ndarray], peak_gops: float, bw_gbps: float,
                  **labels) -> LayerAnalysis:
        """The :class:`LayerAnalysis` of both paths: their float ``columns``, the other ``labels`` per layer."""
        analysis = object.__new__(LayerAnalysis)
        # every field set at once (a frozen dataclass's __init__ sets them one by one: a tenth of a small call)
        analysis.__dict__.update(
            columns, **labels, accelerator=accelerator, peak_gops=peak_gops, bw_gbps=bw_gbps,
            ddr_peak_gbps=float(accelerator.ddr_bw_gbps),
            ddr_levels_gbps={"feature maps": self.params.bw_efficiency * accelerator.ddr_bw_gbps,
                             "weights": self.params.weight_bw_efficiency * accelerator.ddr_bw_gbps})
        return analysis

    def to_dict(self) -> dict:
        """JSON-able form (see :meth:`from_dict`)."""
        return {"params": self.params.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping) -> RooflineModel:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        reject_unknown_keys(data, ["params"], "RooflineModel")
        return cls(RooflineParams.from_dict(data.get("params", {})))
