"""How a unit's layers move data: compulsory DDR traffic and on-chip tensors that may spill.

A DPU runs a compiled unit (an MBConv block, a stem conv, ...) layer by layer.
Weights, the unit's input and its output always cross the DDR interface.  A
tensor passed between two layers of the same unit stays in the on-chip
activation buffer when it fits; when it does not, its producer writes it to
DDR and every consumer reads it back.  Three hand-offs never materialise:

* a 1x1 expansion with a ReLU-type (or no) activation feeding a depthwise
  conv: the DPU streams it row by row into the depthwise engine;
* a convolution feeding a residual add: the add happens in the conv's
  write-back, reading the shortcut from DDR;
* a convolution feeding a (max or average) pool: the pool runs in the
  conv's write-back, only the pooled tensor is stored (ZCU102 DNNDK traffic
  of VGG / AlexNet convolutions followed by max pooling).  Such a pool is
  also no pass or instruction of its own (``merged``): DNNDK profiles it as
  part of the convolution, whose time matches the convolution alone.

Weights are read once per layer: no measured layer shows weight re-fetching,
not even 2.4 MB of VGG weights against a 512 KiB weight buffer.

Most rules were read off the Ultra96-V2 B2304 profiler traffic
(``mem_io_mb``): with them the compulsory bytes reproduce the measured traffic of every block that does not
spill to within 2 %, and the spilling blocks move exactly 2x (write + read), 5x (SE: write, pool read,
scale read + write, project read) or, for an h-swish tensor that does not
fit at all, 7x the spilled tensor.  A tensor read by a stride-``s`` window
op occupies ``s`` times its size on chip (observed: stride-2 blocks spill
from half the size stride-1 blocks do).

:class:`UnitSchedule` precomputes these relations once per list of units, so
that latency for many accelerators or many parameter sets is pure numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from .blocks import BlockSpec
from .layer import Layer, LayerArrays

if TYPE_CHECKING:  # scipy is a host dependency: a board that only measures never builds a schedule
    from scipy import sparse

__all__ = ["HSWISH_SPLIT_PASSES", "HandOff", "UnitFlow", "UnitSchedule", "group_by_block", "layer_sources",
           "spill_state", "unit_flow"]

#: Extra passes over DDR when an h-swish tensor does not fit on chip and runs as
#: separate element-wise ops: read x, write relu6(x+3); read both, write the product.
HSWISH_SPLIT_PASSES = 5
#: Extra layers (instructions) such a split h-swish costs.
HSWISH_SPLIT_LAYERS = 2
_STREAMED_ACTIVATIONS = frozenset({"none", "relu", "relu6"})
_CONV_LIKE = frozenset({"conv", "pwconv"})
_POOLS = frozenset({"pool", "maxpool"})
#: Ops a convolution feeding them runs in its write-back (see the module doc).
_WRITE_BACK_OPS = _POOLS | {"add"}
#: Ops whose input occupies stride times its size on chip (a window walks it).
_WINDOW_OPS = _POOLS | {"conv", "dwconv"}


def group_by_block(layers: Sequence[Layer]) -> list[tuple[Layer, ...]]:
    """Split a flat layer list into units: consecutive layers sharing a non-empty ``block``.

    Layers without a block form units of their own.  A ``block`` that is a
    canonical unit key (:meth:`accel_models.BlockSpec.from_key`) holds as many
    layers as that unit has, so two identical blocks in a row (same key) stay
    two units.

    >>> a = Layer("a", "fc", (8, 1, 1), (8, 1, 1), block="u")
    >>> b = Layer("b", "fc", (8, 1, 1), (8, 1, 1), block="u")
    >>> c = Layer("c", "fc", (8, 1, 1), (8, 1, 1))
    >>> [len(u) for u in group_by_block([a, b, c])]
    [2, 1]
    >>> twice = BlockSpec("classifier", (8, 1, 1), 4).layers() * 2
    >>> [len(u) for u in group_by_block(twice)]
    [1, 1]
    """
    units: list[list[Layer]] = []
    for layer in layers:
        if units and layer.block and units[-1][-1].block == layer.block \
                and len(units[-1]) < _unit_size(layer.block):
            units[-1].append(layer)
        else:
            units.append([layer])
    return [tuple(u) for u in units]


@lru_cache(maxsize=4096)
def _unit_size(block: str) -> float:
    """Layers in a unit of canonical key ``block``; unbounded for other block names."""
    try:
        return len(BlockSpec.from_key(block).layers())
    except ValueError:
        return float("inf")


def _fused(producer: Layer, consumer: Layer) -> bool:
    """Whether the hand-off from ``producer`` to its only consumer never materialises (see the module doc)."""
    if producer.op == "pwconv" and consumer.op == "dwconv" and producer.activation in _STREAMED_ACTIVATIONS:
        return True
    return consumer.op in _WRITE_BACK_OPS and producer.op in _CONV_LIKE


class HandOff(NamedTuple):
    """A tensor passed between two layers of one unit, that stays on chip if it fits.

    ``producer`` and ``movers`` are layer indices within the unit: the
    producer, then every consumer, each of which moves ``size_bytes`` over
    DDR if the tensor spills.
    """

    size_bytes: float
    footprint_bytes: float
    hswish: bool
    producer: int
    movers: tuple[int, ...]


class UnitFlow(NamedTuple):
    """Data movement of one unit in plain Python values (see :func:`unit_flow`)."""

    base_bytes: list[float]  # per layer: weights, reads of the unit's inputs, writes of its outputs
    weight_bytes: list[float]  # per layer: weights and biases
    tensors: list[HandOff]
    merged: list[int]  # layers that run inside their producer's write-back

    def dram_bytes(self, capacity_bytes: float) -> tuple[list[float], list[int]]:
        """DDR bytes and extra layers (split h-swish) of each layer on one accelerator.

        The per-accelerator figures of :meth:`UnitSchedule.dram_bytes`, for one unit on one accelerator.
        """
        dram = list(self.base_bytes)
        extra_layers = [0] * len(dram)
        for tensor in self.tensors:
            spilled, split = spill_state(tensor.footprint_bytes, tensor.size_bytes, tensor.hswish, capacity_bytes)
            if spilled:
                for j in tensor.movers:
                    dram[j] += tensor.size_bytes
            if split:
                dram[tensor.producer] += HSWISH_SPLIT_PASSES * tensor.size_bytes
                extra_layers[tensor.producer] += HSWISH_SPLIT_LAYERS
        return dram, extra_layers


def spill_state(footprint_bytes, size_bytes, hswish, capacity_bytes):
    """``(spilled, split)``: a hand-off tensor goes to DDR, and its h-swish runs as separate passes.

    Numbers or broadcasting numpy arrays alike: a tensor spills when its
    footprint exceeds the capacity; an h-swish tensor larger than the whole
    capacity is also split.
    """
    spilled = footprint_bytes > capacity_bytes
    return spilled, spilled & hswish & (size_bytes > capacity_bytes)


def layer_sources(unit: Sequence[Layer], j: int) -> tuple[str, ...]:
    """Names layer ``j`` of ``unit`` reads: its ``inputs``, else the layer before it (the first: ``"input"``)."""
    return unit[j].inputs or ((unit[j - 1].name,) if j else ("input",))


def unit_flow(k: int, unit: Sequence[Layer]) -> UnitFlow:
    """Compulsory bytes, on-chip hand-off tensors and merged layers of unit ``k`` (its layers in order).

    Written for the small analytical-model calls, of which it is a third: each layer's byte counts
    (properties) read once, plain loops rather than comprehensions and generators.
    """
    if not unit:
        raise ValueError("every unit needs at least one layer")
    index: dict[str, int] = {}
    output_bytes = []
    weight_bytes = []
    consumers: list[list[int]] = []
    for j, layer in enumerate(unit):  # one loop, not four comprehensions (each a call of its own)
        if layer.name in index:
            raise ValueError(f"unit {k}: layer name {layer.name!r} appears twice")
        index[layer.name] = j
        output_bytes.append(layer.output_bytes)
        weight_bytes.append(float(layer.weight_bytes))
        consumers.append([])
    base = []
    for j, layer in enumerate(unit):
        internal_bytes = 0
        for source in layer_sources(unit, j):
            p = index.get(source)
            if p is None:
                continue  # the unit's input (or "input", the network's)
            if p >= j:
                raise ValueError(f"unit {k}: layer {layer.name!r} reads a layer that runs after it")
            consumers[p].append(j)
            internal_bytes += output_bytes[p]
        base.append(weight_bytes[j] + max(layer.input_bytes - internal_bytes, 0))
    tensors = []
    merged = []
    for p, producer in enumerate(unit):
        users = consumers[p]
        if not users:
            base[p] += output_bytes[p]
        elif len(users) == 1 and _fused(producer, unit[users[0]]):
            if unit[users[0]].op in _POOLS:
                merged.append(users[0])
        else:
            tensors.append(_hand_off(p, unit, users, float(output_bytes[p])))
    return UnitFlow(base, weight_bytes, tensors, merged)


def _hand_off(p: int, unit: Sequence[Layer], users: list[int], size_bytes: float) -> HandOff:
    """The :class:`HandOff` of the output of layer ``p`` of ``unit``, read by its layers ``users``."""
    stride = 1  # the widest stride of a window consumer
    for c in users:
        if unit[c].op in _WINDOW_OPS and unit[c].stride > stride:
            stride = unit[c].stride
    return HandOff(size_bytes, size_bytes * stride, unit[p].activation == "h_swish", p, (p, *users))


@dataclass(frozen=True, eq=False)
class UnitSchedule:
    """Data movement of a list of units, as arrays.

    Attributes
    ----------
    layers : LayerArrays
        Every layer of every unit, concatenated in order (L layers).
    names : tuple of str
        Layer names, in the same order.
    unit_of_layer : numpy.ndarray
        (L,) index of each layer's unit.
    n_units : int
    base_bytes : numpy.ndarray
        (L,) compulsory DDR bytes per layer: weights, reads of the unit's
        inputs, writes of the unit's outputs.
    tensor_bytes, tensor_footprint : numpy.ndarray
        (T,) size of each on-chip hand-off tensor and the buffer space it
        needs (size x stride of its widest-stride consumer).
    tensor_hswish : numpy.ndarray
        (T,) whether the tensor's producer applies h-swish.
    tensor_producer : numpy.ndarray
        (T,) layer index of each tensor's producer.
    spill_bytes : scipy.sparse.csr_matrix
        (L, T): DDR bytes layer ``l`` moves if tensor ``t`` spills
        (the producer's write, each consumer's read).
    merged : numpy.ndarray
        (L,) layers that run inside their producer's write-back (a pool
        after a convolution): no compute pass and no instruction of their own.
    """

    layers: LayerArrays
    names: tuple[str, ...]
    unit_of_layer: np.ndarray
    n_units: int
    base_bytes: np.ndarray
    tensor_bytes: np.ndarray
    tensor_footprint: np.ndarray
    tensor_hswish: np.ndarray
    tensor_producer: np.ndarray
    spill_bytes: sparse.csr_matrix
    merged: np.ndarray

    @classmethod
    def from_units(cls, units: Sequence[Sequence[Layer]]) -> UnitSchedule:
        """Analyse ``units`` (each a sequence of layers in execution order)."""
        units = [tuple(u) for u in units]
        flat: list[Layer] = []
        unit_of_layer: list[int] = []
        base: list[float] = []
        t_bytes: list[float] = []
        t_foot: list[float] = []
        t_hs: list[bool] = []
        t_prod: list[int] = []
        rows, cols, vals = [], [], []
        merged: list[int] = []
        for k, unit in enumerate(units):
            flow = unit_flow(k, unit)
            offset = len(flat)
            for tensor in flow.tensors:
                t = len(t_bytes)
                t_bytes.append(tensor.size_bytes)
                t_foot.append(tensor.footprint_bytes)
                t_hs.append(tensor.hswish)
                t_prod.append(offset + tensor.producer)
                for layer_idx in tensor.movers:
                    rows.append(offset + layer_idx)
                    cols.append(t)
                    vals.append(tensor.size_bytes)
            merged += [offset + j for j in flow.merged]
            flat += unit
            unit_of_layer += [k] * len(unit)
            base += flow.base_bytes
        n_layers, n_tensors = len(flat), len(t_bytes)
        from scipy import sparse

        spill = sparse.csr_matrix((np.asarray(vals, dtype=float), (rows, cols)), shape=(n_layers, n_tensors))
        return cls(
            layers=LayerArrays.from_layers(flat),
            names=tuple(layer.name for layer in flat),
            unit_of_layer=np.asarray(unit_of_layer, dtype=np.int64),
            n_units=len(units),
            base_bytes=np.asarray(base, dtype=float),
            tensor_bytes=np.asarray(t_bytes, dtype=float),
            tensor_footprint=np.asarray(t_foot, dtype=float),
            tensor_hswish=np.asarray(t_hs, dtype=bool),
            tensor_producer=np.asarray(t_prod, dtype=np.int64),
            spill_bytes=spill,
            merged=np.isin(np.arange(n_layers), merged),
        )

    def __len__(self) -> int:
        return len(self.names)

    def spills(self, capacity_bytes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Which hand-off tensors spill, per accelerator.

        ``capacity_bytes`` has shape (M, 1).  Returns ``(spilled, split)``,
        both (M, T) booleans: the tensor goes to DDR; and, for h-swish
        tensors larger than the whole buffer, the activation runs as
        separate element-wise passes.
        """
        return spill_state(self.tensor_footprint[None, :], self.tensor_bytes[None, :], self.tensor_hswish[None, :],
                           capacity_bytes)

    def dram_bytes(self, capacity_bytes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(M, L) DDR bytes per layer, and (M, L) extra layers from split h-swish."""
        spilled, split = self.spills(capacity_bytes)
        moved = np.asarray(self.spill_bytes @ spilled.T.astype(float)).T
        extra_layers = np.zeros_like(moved)
        if split.any():
            split_bytes = split * (HSWISH_SPLIT_PASSES * self.tensor_bytes)[None, :]
            m, t = np.nonzero(split)
            np.add.at(moved, (m, self.tensor_producer[t]), split_bytes[m, t])
            np.add.at(extra_layers, (m, self.tensor_producer[t]), HSWISH_SPLIT_LAYERS)
        return self.base_bytes[None, :] + moved, extra_layers

    def per_unit(self, per_layer: np.ndarray) -> np.ndarray:
        """Sum a (..., L) per-layer quantity over each unit: (..., K)."""
        per_layer = np.asarray(per_layer, dtype=float)
        starts = np.r_[0, np.flatnonzero(np.diff(self.unit_of_layer)) + 1]
        return np.add.reduceat(per_layer, starts, axis=-1)
