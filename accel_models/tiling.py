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

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .accelerator import Accelerator
from .layer import ACTIVATIONS, OPS, Layer, LayerArrays

__all__ = ["CLASSES", "AcceleratorArrays", "augmentation_applies", "layer_classes", "tiled_cycles"]

#: Engine classes a layer is costed on, in the order of :func:`layer_classes` codes.
CLASSES = ("conv", "pw", "dw", "misc")
_OP = {name: i for i, name in enumerate(OPS)}
_HARD_ACTIVATIONS = [ACTIVATIONS.index("h_swish"), ACTIVATIONS.index("h_sigmoid")]


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
    augmented = (_ceil_div(cin * kernel, acc.icp) * _ceil_div(layers.cout[dense], acc.ocp)
                 * _ceil_div(layers.wout[dense], acc.pp) * (layers.hout[dense] * kernel))
    return np.where(acc.channel_augmentation & candidates, np.minimum(augmented, plain), plain)


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
        plain = (_ceil_div(layers.cin[dense] / groups, acc.icp) * _ceil_div(layers.cout[dense] / groups, acc.ocp)
                 * _ceil_div(layers.wout[dense], acc.pp) * (groups * layers.hout[dense] * layers.kernel[dense] ** 2))
        cycles[:, dense] = _augmented_dense_cycles(layers, dense, acc, plain)
    dw = np.flatnonzero(cls == 2)
    if dw.size:
        cycles[:, dw] = (_ceil_div(layers.cout[dw], acc.icp) * _ceil_div(layers.wout[dw], acc.dw_pp)
                         * (layers.hout[dw] * layers.kernel[dw] ** 2))
    misc = np.flatnonzero(cls == 3)
    if misc.size:
        pooling = np.isin(layers.op[misc], [_OP["pool"], _OP["maxpool"]])  # only without ALU pooling
        c = np.where(pooling, layers.cin[misc], layers.cout[misc])
        w = np.where(pooling, layers.win[misc], layers.wout[misc])
        h = np.where(pooling, layers.hin[misc], layers.hout[misc])
        cycles[:, misc] = _ceil_div(c, acc.icp) * _ceil_div(w, acc.pp) * h
    act = np.zeros_like(cycles)
    hard = np.flatnonzero(np.isin(layers.activation, _HARD_ACTIVATIONS))
    if hard.size:
        act[:, hard] = _ceil_div(layers.cout[hard], acc.icp) * _ceil_div(layers.wout[hard], acc.pp) * layers.hout[hard]
    return cycles, act
