"""Cycle counts of layers on a PE array, from how the DPU tiles them.

A dense convolution on a (PP, ICP, OCP) array takes
``ceil(Cin/ICP) * ceil(Cout/OCP) * ceil(Wout/PP) * Hout * k * k`` cycles (per
group): the array consumes ICP input channels for OCP output channels at PP
neighbouring output pixels of one row each cycle, so partial tiles waste
lanes (a 3-channel first conv on ICP=16 uses 3/16 of them).  With PG338's
channel augmentation built in (``DpuOptions.channel_augmentation``) a dense
convolution has its input channels augmented with the kernel's width: the
array consumes ``Cin x k`` channels (k neighbouring columns) per cycle and
loops over the kernel's rows only,
``ceil(Cin*k/ICP) * ceil(Cout/OCP) * ceil(Wout/PP) * Hout * k`` cycles
(the stem's 3 x 3 on ICP=12: 9/12 of the lanes instead of 3/12, a third
of the cycles).  PG338 v4.1 ("Channel Augmentation") names few input
channels as its use and says it can be used above ICP too; the model takes
it wherever it saves cycles.  A depthwise
convolution runs on its own engine at ``dw_pp`` pixels (PP/2 on the
DPUCZDX8G) with channels over the ICP lanes.  Element-wise adds, channel
scaling and standalone activations run on the element-wise engine at
PP x ICP elements per cycle.  Pooling (average and max) runs on the ALU
with the depthwise convolution (PG338 v4.1, "DepthwiseConv (ALU)": "the
depthwise conv is performed by the ALU engine, along with the pooling"; the
Vitis AI target ``DPUCZDX8G_ISA1_B4096`` lists ``avg_pool`` / ``max_pool``
among its ALU types): like a depthwise layer, its pixel lanes work on
``dw_pp`` output pixels and each walks its k x k window, so a global pool
(one output pixel) costs ``ceil(C/ICP) * H * W`` cycles, a 112 x 112 one
12,544 per channel group.  An h-swish / h-sigmoid fused into a layer
costs extra element-wise passes over its output (``relu6(x + 3)``, the
scaling, the product with ``x``), counted in the same element-wise cycles.

All functions broadcast: accelerator fields are (M, 1) columns, layer
fields (L,) rows, results (M, L).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .accelerator import Accelerator
from .layer import ACTIVATIONS, OPS, Layer, LayerArrays

__all__ = ["CLASSES", "AcceleratorArrays", "augmentation_applies", "class_cycles", "layer_class", "layer_classes",
           "layer_cycles", "tiled_cycles"]

#: Engine classes a layer is costed on, in the order of :func:`layer_classes` codes.
CLASSES = ("conv", "pw", "dw", "misc")
_OP = {name: i for i, name in enumerate(OPS)}
_HARD_ACTIVATION_NAMES = ("h_swish", "h_sigmoid")
_HARD_ACTIVATIONS = [ACTIVATIONS.index(name) for name in _HARD_ACTIVATION_NAMES]


@dataclass(frozen=True)
class AcceleratorArrays:
    """Fields of M accelerators as (M, 1) float columns."""

    pp: np.ndarray
    icp: np.ndarray
    ocp: np.ndarray
    dw_pp: np.ndarray
    clock_mhz: np.ndarray
    ddr_bw_gbps: np.ndarray
    act_buffer_bytes: np.ndarray
    layer_overhead_us: np.ndarray
    channel_augmentation: np.ndarray

    @classmethod
    def from_accelerators(cls, accelerators: Sequence[Accelerator]) -> AcceleratorArrays:
        """Stack the fields of ``accelerators`` into (M, 1) columns.

        Parameters
        ----------
        accelerators : sequence of Accelerator
            The M accelerators, in the row order of the result.

        Returns
        -------
        AcceleratorArrays
            One row per accelerator; ``act_buffer_bytes`` is ``act_buffer_kib`` in bytes.

        Raises
        ------
        ValueError
            If ``accelerators`` is empty or holds anything but :class:`Accelerator` objects.
        """
        accs = list(accelerators)
        if not accs or not all(isinstance(a, Accelerator) for a in accs):
            raise ValueError("expected an Accelerator or a non-empty sequence of Accelerator objects")

        def col(values) -> np.ndarray:
            return np.asarray(values, dtype=float)[:, None]

        return cls(
            pp=col([a.pp for a in accs]), icp=col([a.icp for a in accs]), ocp=col([a.ocp for a in accs]),
            dw_pp=col([a.dw_pp for a in accs]), clock_mhz=col([a.clock_mhz for a in accs]),
            ddr_bw_gbps=col([a.ddr_bw_gbps for a in accs]),
            act_buffer_bytes=col([a.act_buffer_kib for a in accs]) * 1024,
            layer_overhead_us=col([a.layer_overhead_us for a in accs]),
            channel_augmentation=np.array([a.options.channel_augmentation for a in accs], dtype=bool)[:, None],
        )

    def __len__(self) -> int:
        return int(self.pp.shape[0])


def _ceil_div(a, b) -> np.ndarray:
    return np.ceil(a / b)


def _ceil_div_scalar(a, b) -> int:
    return math.ceil(a / b)


# The tiling formulas, written once for numpy arrays (the bulk path, ceil_div=_ceil_div) and Python
# numbers (one layer on one accelerator, ceil_div=_ceil_div_scalar): the same IEEE operations in the same
# order, so both give the same cycles.  Every factor is an integer-valued float far below 2**53.
def _dense_cycles(cin, cout, wout, hout, kernel, groups, icp, ocp, pp, ceil_div=_ceil_div):
    return (ceil_div(cin / groups, icp) * ceil_div(cout / groups, ocp) * ceil_div(wout, pp)
            * (groups * hout * kernel ** 2))


def _augmented_cycles(cin, cout, wout, hout, kernel, icp, ocp, pp, ceil_div=_ceil_div):
    # channel augmentation (one group): Cin x k channels, k neighbouring columns, per pass; a loop over kernel rows
    return ceil_div(cin * kernel, icp) * ceil_div(cout, ocp) * ceil_div(wout, pp) * (hout * kernel)


def _depthwise_cycles(cout, wout, hout, kernel, icp, dw_pp, ceil_div=_ceil_div):
    # the depthwise engine (the ALU), also the DPUCZDX8G's pooling
    return ceil_div(cout, icp) * ceil_div(wout, dw_pp) * (hout * kernel ** 2)


def _elementwise_cycles(c, w, h, icp, pp, ceil_div=_ceil_div):
    # PP x ICP elements per cycle over a (C, H, W) tensor: add, scale, a hard-activation pass, ALU-less pooling
    return ceil_div(c, icp) * ceil_div(w, pp) * h


# ops on the convolution array (class conv for k > 1, pw for 1x1), and pools (on the ALU, or element-wise)
_DENSE_OPS = ("conv", "pwconv", "fc", "se_fc")
_POOLING_OPS = ("pool", "maxpool")
_CONV, _PW, _DW, _MISC = (CLASSES.index(c) for c in ("conv", "pw", "dw", "misc"))


def layer_classes(layers: LayerArrays, alu_pooling: bool = True) -> np.ndarray:
    """(L,) engine class code per layer (index into :data:`CLASSES`).

    ``alu_pooling`` False puts pooling on the element-wise engine, as an
    engine without the DPUCZDX8G's ALU (the HLS export's) runs it.

    >>> from accel_models.layer import Layer
    >>> arrays = LayerArrays.from_layers([Layer("c", "conv", (3, 8, 8), (8, 8, 8), kernel=3),
    ...                                   Layer("f", "fc", (8, 1, 1), (4, 1, 1))])
    >>> [CLASSES[c] for c in layer_classes(arrays)]
    ['conv', 'pw']
    """
    op = layers.op
    dense = np.isin(op, [_OP["conv"], _OP["pwconv"], _OP["fc"], _OP["se_fc"]])
    cls = np.full(len(layers), CLASSES.index("misc"), dtype=np.int64)
    cls[dense & (layers.kernel > 1)] = CLASSES.index("conv")
    cls[dense & (layers.kernel == 1)] = CLASSES.index("pw")
    cls[op == _OP["dwconv"]] = CLASSES.index("dw")
    if alu_pooling:
        cls[np.isin(op, [_OP["pool"], _OP["maxpool"]])] = CLASSES.index("dw")  # the DPUCZDX8G's ALU
    return cls


def augmentation_applies(layers: Sequence[Layer], accelerator: Accelerator) -> bool:
    """Whether channel augmentation can change the program of ``layers`` on ``accelerator``'s array.

    True when one of them is a dense k x k convolution (k > 1, one group)
    whose augmented tiling takes fewer passes, ``ceil(Cin*k/ICP) <
    k * ceil(Cin/ICP)`` (always so below ICP input channels), whether or
    not the accelerator has augmentation built in.

    >>> from accel_models.blocks import BlockSpec
    >>> stem = BlockSpec("stem", (3, 224, 224), 24, kernel=3, stride=2).layers()
    >>> b2304 = Accelerator.from_dpu("B2304")
    >>> augmentation_applies(stem, b2304), augmentation_applies(stem[1:], b2304)
    (True, False)
    """
    icp = accelerator.icp
    return any(layer.op in ("conv", "pwconv") and layer.groups == 1 and layer.kernel > 1
               and -(-layer.in_shape[0] * layer.kernel // icp) < layer.kernel * -(-layer.in_shape[0] // icp)
               for layer in layers)


def _augmented_dense_cycles(layers: LayerArrays, dense: np.ndarray, acc: AcceleratorArrays,
                            plain: np.ndarray) -> np.ndarray:
    """``plain`` (M, D) dense-conv cycles with channel augmentation applied where it is built and saves cycles."""
    cin, kernel = layers.cin[dense], layers.kernel[dense]  # one group: cin is the group's input channels
    candidates = (layers.groups[dense] == 1) & (kernel > 1)
    if not (candidates.any() and acc.channel_augmentation.any()):
        return plain
    augmented = _augmented_cycles(cin, layers.cout[dense], layers.wout[dense], layers.hout[dense], kernel,
                                  acc.icp, acc.ocp, acc.pp)
    return np.where(acc.channel_augmentation & candidates, np.minimum(augmented, plain), plain)


def layer_class(layer: Layer, alu_pooling: bool = True) -> int:
    """The engine class code of one layer: :func:`layer_classes` for a single :class:`Layer`."""
    if layer.op in _DENSE_OPS:
        return _CONV if layer.kernel > 1 else _PW
    return _DW if layer.op == "dwconv" or (alu_pooling and layer.op in _POOLING_OPS) else _MISC


def layer_cycles(layer: Layer, accelerator: Accelerator, alu_pooling: bool = True) -> tuple[int, int]:
    """``(cycles, activation_cycles)`` of one layer on one accelerator, as Python integers.

    The formulas of :func:`tiled_cycles` (the same functions), for the small
    calls of a report or a notebook, where building arrays would cost more
    than the arithmetic.

    >>> from accel_models.layer import Layer
    >>> from accel_models.dpu_options import DpuOptions
    >>> stem = Layer("c", "conv", (3, 224, 224), (64, 224, 224), kernel=3)
    >>> layer_cycles(stem, Accelerator.from_dpu("B4096")), layer_cycles(
    ...     stem, Accelerator.from_dpu("B4096", options=DpuOptions(channel_augmentation=False)))
    ((75264, 0), (225792, 0))
    """
    return class_cycles(layer, layer_class(layer, alu_pooling), accelerator)


def class_cycles(layer: Layer, cls: int, accelerator: Accelerator) -> tuple[int, int]:
    """:func:`layer_cycles` of a layer whose engine class code ``cls`` (:func:`layer_class`) is known.

    The scalar path of :class:`accel_models.roofline.RooflineModel` needs the class anyway: one call fewer a layer.
    """
    pp, icp, ocp, dw_pp = accelerator.pp, accelerator.icp, accelerator.ocp, accelerator.dw_pp
    cin, hin, win = layer.in_shape
    cout, hout, wout = layer.out_shape
    if cls <= _PW:
        cycles = _dense_cycles(cin, cout, wout, hout, layer.kernel, layer.groups, icp, ocp, pp, _ceil_div_scalar)
        if accelerator.options.channel_augmentation and layer.groups == 1 and layer.kernel > 1:
            cycles = min(_augmented_cycles(cin, cout, wout, hout, layer.kernel, icp, ocp, pp, _ceil_div_scalar),
                         cycles)
    elif cls == _DW:
        cycles = _depthwise_cycles(cout, wout, hout, layer.kernel, icp, dw_pp, _ceil_div_scalar)
    elif layer.op in _POOLING_OPS:
        cycles = _elementwise_cycles(cin, win, hin, icp, pp, _ceil_div_scalar)
    else:
        cycles = _elementwise_cycles(cout, wout, hout, icp, pp, _ceil_div_scalar)
    hard = layer.activation in _HARD_ACTIVATION_NAMES
    return cycles, _elementwise_cycles(cout, wout, hout, icp, pp, _ceil_div_scalar) if hard else 0


def tiled_cycles(layers: LayerArrays, acc: AcceleratorArrays,
                 alu_pooling: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Ideal (100 % efficient) engine cycles and hard-activation passes.

    Returns ``(cycles, activation_cycles)``, both (M, L): the cycles of the
    layer on its engine, and the cycles of one element-wise pass (PP x ICP
    elements per cycle) over its output where the layer applies h-swish or
    h-sigmoid (0 elsewhere).  ``alu_pooling`` False costs pooling on the
    element-wise engine, ``ceil(C/ICP) * ceil(Win/PP) * Hin`` over its input
    (an engine without the DPUCZDX8G's ALU, see :func:`layer_classes`).

    Examples
    --------
    >>> from accel_models.layer import Layer
    >>> acc = AcceleratorArrays.from_accelerators([Accelerator.from_dpu("B4096")])
    >>> stem = Layer("c", "conv", (3, 224, 224), (64, 224, 224), kernel=3)
    >>> int(tiled_cycles(LayerArrays.from_layers([stem]), acc)[0][0, 0])  # ceil(9/16)*4*28*224*3
    75264
    >>> from accel_models.dpu_options import DpuOptions
    >>> plain = AcceleratorArrays.from_accelerators(
    ...     [Accelerator.from_dpu("B4096", options=DpuOptions(channel_augmentation=False))])
    >>> int(tiled_cycles(LayerArrays.from_layers([stem]), plain)[0][0, 0])  # 1*4*28*224*9
    225792
    """
    cls = layer_classes(layers, alu_pooling)
    cycles = np.empty((len(acc), len(layers)))
    # each engine's formula only on its own columns: a third of the work of evaluating all three everywhere
    dense = np.flatnonzero(cls <= 1)
    if dense.size:
        groups = layers.groups[dense]
        plain = _dense_cycles(layers.cin[dense], layers.cout[dense], layers.wout[dense], layers.hout[dense],
                              layers.kernel[dense], groups, acc.icp, acc.ocp, acc.pp)
        cycles[:, dense] = _augmented_dense_cycles(layers, dense, acc, plain)
    dw = np.flatnonzero(cls == 2)
    if dw.size:
        cycles[:, dw] = _depthwise_cycles(layers.cout[dw], layers.wout[dw], layers.hout[dw], layers.kernel[dw],
                                          acc.icp, acc.dw_pp)
    misc = np.flatnonzero(cls == 3)
    if misc.size:
        pooling = np.isin(layers.op[misc], [_OP[name] for name in _POOLING_OPS])  # only without ALU pooling
        c = np.where(pooling, layers.cin[misc], layers.cout[misc])
        w = np.where(pooling, layers.win[misc], layers.wout[misc])
        h = np.where(pooling, layers.hin[misc], layers.hout[misc])
        cycles[:, misc] = _elementwise_cycles(c, w, h, acc.icp, acc.pp)
    act = np.zeros_like(cycles)
    hard = np.flatnonzero(np.isin(layers.activation, _HARD_ACTIVATIONS))
    if hard.size:
        act[:, hard] = _elementwise_cycles(layers.cout[hard], layers.wout[hard], layers.hout[hard], acc.icp, acc.pp)
    return cycles, act
