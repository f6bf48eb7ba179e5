"""Layers a DPU configuration cannot run: they run on the ARM CPU, as a subgraph split.

The Vitis AI compiler partitions a network into DPU and CPU subgraphs: an
operation the target does not support becomes a CPU subgraph, its input is
written to DDR by the DPU, the CPU computes it, and a new DPU subgraph is
launched for what follows.  What a configuration supports is read off the
Vitis AI target factory (``create_target_v2.cpp`` for IP 3.x / ISA0,
``create_target_DPUCZDX8G_ISA1.cpp`` for IP 4.x):

* h-swish / h-sigmoid: only IP 4.x has the ALU's ``hsigmoid`` (Vitis AI 2.5
  on); h-swish also needs the element-wise multiply;
* a true sigmoid: no DPUCZDX8G has one (UG1414 "Currently Supported
  Operators": ReLU, LeakyReLU, ReLU6, Hard-Swish, Hard-Sigmoid; the ISA1
  target factory's ALU lists ``hsigmoid`` only).  vai_q_tensorflow2 turns a
  Keras sigmoid into a hard-sigmoid by default (UG1414, "vai_q_tensorflow2
  Supported Operations"); vai_q_pytorch keeps ``nn.Sigmoid`` as a
  table-lookup sigmoid (``pytorch_nndct``'s ``deephi_Sigmoid``; its
  ``convert_sigmoid_to_hsigmoid`` option is off by default), so a
  PyTorch squeeze-excitation with torch's default ``nn.Sigmoid`` gate (as
  torchvision's ``SqueezeExcitation``) splits every SE block into two DPU
  subgraphs around a CPU one;
* the squeeze-excitation scale (a feature map times a per-channel vector):
  the element-wise multiply (``ELEW_MULT_ENABLE`` in IP 3.x, off in the DPU
  TRD's default; see :mod:`accel_models.dpu_options`); IP 4.x builds it in;
* depthwise convolution: the depthwise engine (``DWCV_ENABLE`` in IP 3.x);
* average pooling: ``POOL_AVG_ENABLE`` in IP 3.x;
* limits: convolution kernel 1-16 and stride 1-8 (both); IP 3.x depthwise
  kernel 1-16, stride 1-8, average pool kernel 2-8, stride 1-8; IP 4.x ALU
  (depthwise, pooling) kernel and stride 1-256.

Cost of one CPU run (a maximal sequence of unsupported layers inside a unit):
the CPU time of its operations (``max(ops / cpu_gops(), bytes / CPU_BW_GBPS)``
per layer; for a layer whose only unsupported part is its activation, one
pass of 4 operations per output element), plus the DDR round trip (the DPU
writes the run's input and reads its output back at the accelerator's DDR
bandwidth), plus one extra DPU program launch (``launch_ms``, the predictor's
calibrated launch cost).  A run splits the unit's DPU program in two, and a
tensor the DPU wrote before the run that a DPU layer after it reads (a
squeeze-excitation's feature map on its way to the scale, a residual's
input on its way to the add) is copied by the ARM from one DPU subgraph's
buffer into the other's: VART's graph runner copies a tensor into every
other DPU subgraph that reads it (``graph_runner``'s
``tensor_buffer_linker_p.cpp``: a DPU reader is ``KEEP``, served by
``copy_tensor_buffer``, a ``memcpy`` plus a cache flush), priced as reading
and writing those bytes at ``CPU_BW_GBPS``.  The DPU's own estimate of
those layers stays in the latency, so the fallback is priced on top of it,
an upper bound.

Where the ARM figures come from:

* :func:`cpu_gops` (about 1.1 GOP/s) is measured, indirectly: the deployed
  model's ``preprocess_ms_per_mpx`` (10.6 ms per megapixel on a 1.2 GHz
  Cortex-A53 core, fitted on 1,815 paired rows of the Vitis AI model zoo,
  :mod:`accel_models.deployed`) is the time of one element-wise float pass
  over a 3-channel image (normalise, quantise), the same kind of pass the
  Vitis AI CPU runner makes for a fallback operator; at 4 operations per
  element that is ``4 * 3 / 10.6 ns``.  Uncertainty: the operations per
  element of that pass (3-6) make it 0.8-1.7 GOP/s; boards clocking their
  A53s at 1.5 GHz (ZCU102 / ZCU104 / KV260) run about 25 % faster, which the
  model does not apply (an accelerator has no board).
* :data:`CPU_BW_GBPS` (2 GB/s) is an assumption, not a measurement: the
  shipped data hold no CPU streaming measurement (the pre-processing pass
  is compute-bound, so it bounds the bandwidth from below only, at 0.6 GB/s);
  one A53 core streams 1-4 GB/s depending on the access pattern.  It also
  prices the graph runner's copies, which dominate a split squeeze-excitation
  at 112 x 112: 1.2 MB read and written is 1.2 ms at 2 GB/s, 0.6-2.4 ms
  over 1-4 GB/s.

The one shipped measurement of heavy fallback says these rates are
optimistic for CPU operators: the Vitis AI 2.0 zoo's MobileNetV3 on a ZCU102
(IP 3.4, h-swish and h-sigmoid on the ARM) took 600 ms single-thread, where
they price a MobileNetV3-Large's fallback at 6-8 ms
(``python -m benchmarks calibration``; the zoo's variant is not pinned, so
no rate is fitted to it).  A copy is a ``memcpy``, which the assumed
bandwidth describes better than a reference CPU operator.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np

from .accelerator import Accelerator
from .dpu_options import DpuOptions
from .layer import Layer
from .schedule import layer_sources

__all__ = ["CPU_BW_GBPS", "FallbackLayer", "cpu_gops", "fallback_latency_ms", "fallback_layers", "unsupported_reason"]

#: Assumed CPU streaming bandwidth for fallback operations (GB/s; see the module docstring).
CPU_BW_GBPS = 2.0
#: Operations per output element of an element-wise float pass on the CPU (an h-swish: add, clamp, scale,
#: multiply; the image pre-processing :func:`cpu_gops` is derived from: subtract, scale, round, clamp).
_ACTIVATION_OPS = 4
#: Channels of the images the zoo's pre-processing figure is per pixel of.
_IMAGE_CHANNELS = 3


@lru_cache(maxsize=1)
def cpu_gops() -> float:
    """CPU throughput for fallback operations (GOP/s, one 1.2 GHz Cortex-A53 core), from the zoo fit.

    ``4 operations x 3 channels`` per pixel of the deployed model's fitted
    pre-processing time (see the module docstring for the derivation and
    its uncertainty).

    >>> round(cpu_gops(), 2)
    1.13
    """
    from .deployed import DeployedModel

    ns_per_pixel = DeployedModel.shipped().params.preprocess_ms_per_mpx  # ms per 1e6 pixels = ns per pixel
    return _ACTIVATION_OPS * _IMAGE_CHANNELS / ns_per_pixel


@dataclass(frozen=True)
class FallbackLayer:
    """One layer (or the activation of one layer) that runs on the CPU, and why."""

    name: str
    op: str
    reason: str
    activation_only: bool

    def to_dict(self) -> dict:
        """Plain-JSON form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> FallbackLayer:
        """Inverse of :meth:`to_dict`; unknown or missing keys are an error."""
        expected = {"name", "op", "reason", "activation_only"}
        if set(data) != expected:
            raise ValueError(f"FallbackLayer keys {sorted(data)} differ from the expected {sorted(expected)}")
        return cls(**data)


def _within(value: int, low: int, high: int) -> bool:
    return low <= value <= high


def unsupported_reason(layer: Layer, options: DpuOptions) -> tuple[str | None, bool]:
    """Why ``layer`` cannot run on a DPU with ``options`` (None if it can), and whether only its activation falls back.

    Examples
    --------
    >>> dw = Layer("dw", "dwconv", (32, 14, 14), (32, 14, 14), kernel=3, groups=32, activation="h_swish")
    >>> unsupported_reason(dw, DpuOptions())
    (None, False)
    >>> unsupported_reason(dw, DpuOptions(ip_version="3.4"))
    ('h-swish needs the hard-sigmoid of DPUCZDX8G IP 4.0+ (Vitis AI 2.5 on); IP 3.4 has none', True)
    >>> gate = Layer("se.fc.expand", "se_fc", (8, 1, 1), (32, 1, 1), activation="sigmoid")  # torch's nn.Sigmoid
    >>> reason, activation_only = unsupported_reason(gate, DpuOptions())
    >>> reason.split(";")[0], activation_only
    ('sigmoid has no DPUCZDX8G implementation (ReLU, LeakyReLU, ReLU6, hard-swish, hard-sigmoid only)', True)
    """
    isa0 = options.isa == 0
    op = layer.op
    if op in ("conv", "pwconv") and not (_within(layer.kernel, 1, 16) and _within(layer.stride, 1, 8)):
        return f"convolution kernel {layer.kernel} / stride {layer.stride} outside the DPU's 1-16 / 1-8", False
    if op == "dwconv":
        if not options.depthwise:
            return "depthwise convolution needs the depthwise engine (DWCV_ENABLE)", False
        high = (16, 8) if isa0 else (256, 256)
        if not (_within(layer.kernel, 1, high[0]) and _within(layer.stride, 1, high[1])):
            return (f"depthwise kernel {layer.kernel} / stride {layer.stride} outside the DPU's 1-{high[0]} / "
                    f"1-{high[1]}"), False
    if op == "pool":
        if not options.avg_pool:
            return "average pooling needs POOL_AVG_ENABLE", False
        kernel = (2, 8) if isa0 else (1, 256)
        stride_high = 8 if isa0 else 256
        if not (_within(layer.kernel, *kernel) and _within(layer.stride, 1, stride_high)):
            return (f"average-pool kernel {layer.kernel} / stride {layer.stride} outside the DPU's "
                    f"{kernel[0]}-{kernel[1]} / 1-{stride_high}"), False
    if op == "scale" and not options.elementwise_multiply:
        return "the squeeze-excitation scale needs the element-wise multiply (ELEW_MULT_ENABLE)", False
    if layer.activation == "sigmoid":
        return ("sigmoid has no DPUCZDX8G implementation (ReLU, LeakyReLU, ReLU6, hard-swish, hard-sigmoid only); "
                "vai_q_pytorch keeps nn.Sigmoid unless --nndct_convert_sigmoid_to_hsigmoid (off by default): "
                "use nn.Hardsigmoid to keep it on the DPU"), True
    if layer.activation in ("h_swish", "h_sigmoid"):
        name = "h-swish" if layer.activation == "h_swish" else "h-sigmoid"
        if not options.hard_sigmoid:
            return (f"{name} needs the hard-sigmoid of DPUCZDX8G IP 4.0+ (Vitis AI 2.5 on); "
                    f"IP {options.ip_version} has none"), True
        if layer.activation == "h_swish" and not options.elementwise_multiply:
            return "h-swish needs the element-wise multiply (x * h-sigmoid(x))", True
    return None, False


def fallback_layers(layers: Sequence[Layer], accelerator: Accelerator) -> tuple[FallbackLayer, ...]:
    """Every layer of ``layers`` (or its activation) that runs on the CPU on ``accelerator``."""
    out = []
    for layer in layers:
        reason, activation_only = unsupported_reason(layer, accelerator.options)
        if reason is not None:
            out.append(FallbackLayer(layer.name, layer.op, reason, activation_only))
    return tuple(out)


def _unit_terms(unit: Sequence[Layer], options: DpuOptions) -> tuple[float, float, int]:
    """(CPU ms, DDR round-trip bytes, CPU runs) of one unit's fallback layers, the ARM's copies included."""
    cpu_ms, round_trip, runs, copied = 0.0, 0.0, 0, 0.0
    in_run, run_input, previous_output = False, 0, 0
    subgraph = 0  # the unit's DPU subgraph the walk is in: one more after every CPU run
    # an earlier layer -> (the DPU subgraph that wrote its output (None: the CPU), its output bytes)
    written_by: dict[str, tuple[int | None, int]] = {}
    copies: set[tuple[str, int]] = set()
    for j, layer in enumerate(unit):
        reason, activation_only = unsupported_reason(layer, options)
        if reason is None and in_run:  # the run ends: its output is read back by the next DPU subgraph
            round_trip += run_input + previous_output
            subgraph += 1
        if subgraph and (reason is None or (activation_only and not in_run)):  # the layer's arithmetic is on the DPU
            copied += _copied_bytes(unit, j, subgraph, written_by, copies)
        written_by[layer.name] = (subgraph if reason is None else None, layer.output_bytes)
        if reason is None:
            in_run = False
            previous_output = layer.output_bytes
            continue
        if activation_only:
            ops, moved = _ACTIVATION_OPS * layer.output_elements, 2 * layer.output_bytes
        else:
            ops, moved = layer.ops, layer.input_bytes + layer.output_bytes + layer.weight_bytes
        cpu_ms += max(ops / (cpu_gops() * 1e6), moved / (CPU_BW_GBPS * 1e6))
        if not in_run:  # a run starts: the DPU writes its input to DDR
            run_input = layer.output_bytes if activation_only else layer.input_bytes
            runs += 1
        in_run = True
        previous_output = layer.output_bytes
    if in_run:  # a run at the end of a unit: its output goes to DDR and the next unit is a new launch
        round_trip += run_input + previous_output
    cpu_ms += 2 * copied / (CPU_BW_GBPS * 1e6)  # each copied byte is read and written once by the ARM
    return cpu_ms, round_trip, runs


def _copied_bytes(unit: Sequence[Layer], j: int, subgraph: int, written_by: Mapping[str, tuple[int | None, int]],
                  copies: set[tuple[str, int]]) -> float:
    """Bytes the ARM copies into DPU ``subgraph`` (> 0) for layer ``j``: DPU tensors an earlier subgraph wrote.

    ``written_by`` holds the unit's layers before ``j``: the subgraph that wrote each (None: the CPU) and its
    output bytes.  The unit's inputs (sources that are not one of them) belong to subgraph 0, sharing the
    layer's remaining input bytes; a tensor the CPU wrote is a run's output, priced by the round trip.  Each
    tensor is copied once per reading subgraph.
    """
    layer = unit[j]
    internal, copied = 0, 0.0
    external: list[str] = []
    for source in layer_sources(unit, j):
        if source not in written_by:
            external.append(source)
            continue
        writer, size = written_by[source]
        internal += size
        if writer is not None and writer != subgraph and (source, subgraph) not in copies:
            copies.add((source, subgraph))
            copied += size
    new = [source for source in external if (source, subgraph) not in copies]
    if new:
        copies.update((source, subgraph) for source in new)
        copied += max(layer.input_bytes - internal, 0) * len(new) / len(external)
    return copied


def _support(options: DpuOptions) -> tuple:
    # the options that decide which layers run where (resources-only options do not)
    return (options.isa, options.ip_version, options.depthwise, options.avg_pool, options.elementwise_multiply,
            options.hard_sigmoid)


def fallback_latency_ms(units: Sequence[Sequence[Layer]], accelerators: Sequence[Accelerator],
                        launch_ms: float = 0.0) -> np.ndarray:
    """(M, K) extra latency of CPU fallback for K units on M accelerators (0 where everything runs on the DPU).

    Each distinct set of layer-support options is evaluated once; DDR bandwidth and launch cost scale it.
    """
    accelerators = list(accelerators)
    units = [tuple(u) for u in units]
    out = np.zeros((len(accelerators), len(units)))
    terms: dict[tuple, np.ndarray] = {}
    for m, acc in enumerate(accelerators):
        key = _support(acc.options)
        if key not in terms:
            terms[key] = np.array([_unit_terms(u, acc.options) for u in units]).reshape(len(units), 3)
        cpu_ms, round_trip, runs = terms[key].T
        out[m] = cpu_ms + round_trip / (acc.ddr_bw_gbps * 1e6) + runs * launch_ms
    return out
