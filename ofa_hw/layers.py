"""From a sub-network to the layers the hardware runs.

The structure of the MobileNetV3 spaces follows OFA's ``MobileNetV3``
sub-networks (``ofa_mbv3.py``):

* ``first_conv``: 3x3 stride-2 conv, h-swish;
* ``blocks.0``: the fixed first block, depthwise 3x3 stride 1 (expand 1), ReLU;
* per active slot an MBConv block: 1x1 expand (``inverted_bottleneck``),
  depthwise kxk (``depth_conv``), squeeze-and-excitation in stages 2, 4, 5
  (global pool, reduce fc + ReLU, expand fc + h-sigmoid, channel scale),
  1x1 project (``point_linear``, linear) and the residual add when the block
  keeps its shape;
* ``final_expand_layer`` (1x1, h-swish), global average pool,
  ``feature_mix_layer`` (1x1 on 1x1, h-swish, no BN) and ``classifier``.

The ProxylessNAS space follows OFA's ``ProxylessNASNets`` (``ofa_proxyless.py``,
``proxyless_nets.py``): ``first_conv`` (3x3 stride 2, ReLU6), ``blocks.0``
(depthwise 3x3, expand 1, ReLU6), MBConv blocks with ReLU6 and no SE in six
stages (the sixth a single block), then ``feature_mix_layer`` (1x1 conv with
BatchNorm and ReLU6 on the last feature map, *before* the pool: OFA's
latency-table unit ``Conv_1``), the global average pool and the classifier.

BatchNorm is folded into the convolution before it (so those convolutions
carry a bias); activations are fused into the layer that produces them.

Each block also gets OFA's canonical latency-table key, e.g.
``expanded_conv-input:56x56x32-output:28x28x48-expand:128-kernel:5-stride:2-idskip:0-se:1-hs:0``,
which is how measured tables are looked up.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from functools import lru_cache

import numpy as np

from accel_models.blocks import BlockSpec, make_divisible
from accel_models.layer import Layer
from accel_models.network import BlockCatalog

from .space import N_SLOTS, SLOTS_PER_STAGE, OFASpace, SubnetBatch, SubnetConfig

__all__ = [
    "BlockSpec",
    "block_catalog",
    "block_keys",
    "catalog_lookup",
    "count_macs",
    "count_params",
    "make_divisible",
    "subnet_blocks",
    "subnet_graph",
    "subnet_layers",
]

#: Positions of a network in a :class:`BlockCatalog` row: stem, first block,
#: the slots, then the head (for OFA-MobileNetV3: the 20 slots, then final
#: expand, global pool, feature mix and classifier; ``HEAD`` and
#: ``N_POSITIONS`` are those of OFA-MobileNetV3, :func:`head_position` any space's).
STEM, FIRST_BLOCK, FIRST_SLOT = 0, 1, 2
HEAD = FIRST_SLOT + N_SLOTS
N_POSITIONS = HEAD + 4


def head_position(space: OFASpace) -> int:
    """Catalogue position of the first head unit of ``space``'s networks."""
    return FIRST_SLOT + space.n_slots


def _mbconv(space: OFASpace, in_shape, out_channels: int, kernel: int, expand: int, stride: int,
            stage: int) -> BlockSpec:
    return BlockSpec("mbconv", in_shape, out_channels, kernel, stride,
                     mid=make_divisible(round(in_shape[0] * expand), 8),
                     se=space.stage_se[stage], activation=space.stage_activations[stage])


@lru_cache(maxsize=256)
def _position_specs(space: OFASpace, r: int) -> tuple[tuple[BlockSpec, ...], ...]:
    """Every unit a network of ``space`` at resolution ``r`` can use, by position.

    Entry ``[p]`` is a 3x3 grid (kernel choice x expand choice) flattened to 9
    specs for slot positions, and a single spec for the fixed positions.
    """
    stem = BlockSpec("stem", (3, r, r), space.stem_width, kernel=3, stride=2, activation=space.stem_activation)
    first = BlockSpec("mbconv", stem.out_shape, space.first_block_width, kernel=3, stride=1,
                      mid=space.stem_width, activation=space.first_block_activation)
    positions: list[tuple[BlockSpec, ...]] = [(stem,), (first,)]
    shape = first.out_shape
    for stage in range(space.n_stages):
        width = space.stage_widths[stage]
        for i in range(SLOTS_PER_STAGE):
            stride = space.stage_strides[stage] if i == 0 else 1
            in_shape = shape if i == 0 else (width, *positions[-1][0].out_shape[1:])
            positions.append(tuple(_mbconv(space, in_shape, width, k, e, stride, stage)
                                   for k in space.kernel_choices for e in space.expand_choices))
        shape = positions[-1][0].out_shape
    if space.final_expand_width is not None:  # MobileNetV3: 1x1 expand, pool, 1x1 feature mix on 1x1
        final = BlockSpec("final_expand", shape, space.final_expand_width, activation="h_swish")
        pool = BlockSpec("pool", final.out_shape, space.final_expand_width)
        mix = BlockSpec("feature_mix", pool.out_shape, space.feature_mix_width, activation="h_swish")
        head = [final, pool, mix]
    else:  # ProxylessNAS: the 1x1 feature mix (with BN) runs on the feature map, then the pool
        mix = BlockSpec("final_expand", shape, space.feature_mix_width, activation=space.stage_activations[-1])
        head = [mix, BlockSpec("pool", mix.out_shape, space.feature_mix_width)]
    head.append(BlockSpec("classifier", head[-1].out_shape, space.n_classes))
    positions += [(spec,) for spec in head]
    return tuple(positions)


def _layer_name(space: OFASpace, spec: BlockSpec, layer: Layer) -> Layer:
    """OFA's module name: ProxylessNAS calls its 1x1 conv before the pool ``feature_mix_layer``."""
    if space.family == "proxyless" and spec.kind == "final_expand":
        return replace(layer, name=layer.name.replace("final_expand_layer", "feature_mix_layer"))
    return layer


def subnet_blocks(cfg: SubnetConfig) -> tuple[BlockSpec, ...]:
    """The units of ``cfg`` in execution order (stem, blocks, head)."""
    specs = _position_specs(cfg.space, cfg.r)
    n_e = len(cfg.space.expand_choices)
    chosen = [specs[STEM][0], specs[FIRST_BLOCK][0]]
    for _, slot, k, e in cfg.active_blocks():
        grid = specs[FIRST_SLOT + slot]
        chosen.append(grid[cfg.space.kernel_choices.index(k) * n_e + cfg.space.expand_choices.index(e)])
    chosen += [p[0] for p in specs[head_position(cfg.space):]]
    return tuple(chosen)


def block_keys(cfg: SubnetConfig) -> list[str]:
    """OFA latency-table keys of the units of ``cfg``, in execution order."""
    return [spec.key for spec in subnet_blocks(cfg)]


def subnet_layers(cfg: SubnetConfig) -> tuple[Layer, ...]:
    """Every layer of ``cfg`` in execution order, named by OFA module path.

    Examples
    --------
    >>> layers = subnet_layers(SubnetConfig.smallest(r=160))
    >>> layers[0].name, layers[0].out_shape, layers[-1].name, layers[-1].out_shape
    ('first_conv', (24, 80, 80), 'classifier', (1000, 1, 1))
    """
    layers: list[Layer] = []
    previous = "input"
    n_block = 0
    for spec in subnet_blocks(cfg):
        prefix = ""
        if spec.kind == "mbconv":
            prefix = f"blocks.{n_block}."
            n_block += 1
        unit = tuple(_layer_name(cfg.space, spec, layer) for layer in spec.layers(prefix, previous))
        layers += unit
        previous = unit[-1].name
    return tuple(layers)


def subnet_graph(cfg_or_layers: SubnetConfig | Iterable[Layer]):
    """The data-flow graph: a ``networkx.DiGraph`` with one node per layer.

    Nodes carry the :class:`Layer` as attribute ``layer``; the network input
    is the node ``"input"``.  Edges follow each layer's ``inputs`` (or the
    previous layer where ``inputs`` is empty).
    """
    import networkx as nx

    layers = subnet_layers(cfg_or_layers) if isinstance(cfg_or_layers, SubnetConfig) else tuple(cfg_or_layers)
    graph = nx.DiGraph()
    graph.add_node("input")
    previous = "input"
    for layer in layers:
        if layer.name in graph:
            raise ValueError(f"duplicate layer name {layer.name!r}")
        graph.add_node(layer.name, layer=layer)
        for source in layer.inputs or (previous,):
            if source not in graph:
                raise ValueError(f"layer {layer.name!r} reads {source!r}, which no earlier layer produces")
            graph.add_edge(source, layer.name)
        previous = layer.name
    return graph


def count_macs(cfg: SubnetConfig) -> int:
    """Multiply-accumulates of ``cfg`` in OFA's convention.

    Convolutions (the SE 1x1 convolutions included) and the classifier count;
    BatchNorm, activations, pooling, the SE channel scale and residual adds do
    not.  This is what OFA's ``count_net_flops`` reports as "FLOPs" and what
    the ``MACs`` column of DyNAS-T's measured data holds.
    """
    return sum(layer.macs for layer in subnet_layers(cfg))


def count_params(cfg: SubnetConfig) -> int:
    """Trainable parameters of the float model as OFA counts them.

    Convolution and linear weights, their biases (SE and classifier), and the
    scale and shift of every BatchNorm (all convolutions but the SE ones and
    the feature-mix layer carry one). Folding BatchNorm for deployment turns
    each BN's two vectors into one bias, which :attr:`Layer.params` counts.
    """
    total = 0
    for layer in subnet_layers(cfg):
        total += layer.weight_count
        if layer.op in ("fc", "se_fc"):
            total += layer.out_shape[0]  # linear / SE conv biases
        elif layer.bias and layer.weight_count:
            total += 2 * layer.out_shape[0]  # BN gamma and beta
    return total


def block_catalog(batch: SubnetBatch, resolutions: Iterable[int] | None = None) -> BlockCatalog:
    """The distinct units of ``batch`` and, per network, the row of each of its units.

    Parameters
    ----------
    batch : SubnetBatch
    resolutions : iterable of int, optional
        Resolutions the catalogue covers (default: those in ``batch``).  A
        fixed set gives the same keys in the same order for every batch, so
        per-unit values computed once (e.g. a latency matrix) serve all
        batches.

    Vectorised: the catalogue holds every unit the resolutions can use (about
    96 per resolution); the (N, 26) index is one gather.
    """
    space = batch.space
    resolutions = tuple(sorted({int(r) for r in (batch.r if resolutions is None else resolutions)}))
    keys, layers, lookup = catalog_lookup(space, resolutions)
    r_row = np.searchsorted(resolutions, batch.r)
    nearest = np.asarray(resolutions)[np.minimum(r_row, len(resolutions) - 1)]
    outside = (r_row >= len(resolutions)) | (nearest != batch.r)
    if outside.any():
        raise ValueError(f"resolution {int(batch.r[outside][0])} is not among the catalogue's resolutions "
                         f"{list(resolutions)}")
    n_e = len(space.expand_choices)
    head = head_position(space)
    n_positions = lookup.shape[1]
    index = np.empty((len(batch), n_positions), dtype=np.int64)
    fixed = [p for p in range(n_positions) if not FIRST_SLOT <= p < head]
    index[:, fixed] = lookup[r_row[:, None], fixed, 0]
    k_idx = np.clip(np.searchsorted(space.kernel_choices, batch.ks), 0, len(space.kernel_choices) - 1)
    e_idx = np.clip(np.searchsorted(space.expand_choices, batch.e), 0, n_e - 1)
    slots = FIRST_SLOT + np.arange(space.n_slots)
    gathered = lookup[r_row[:, None], slots[None, :], k_idx * n_e + e_idx]
    index[:, FIRST_SLOT:head] = np.where(batch.active(), gathered, -1)
    return BlockCatalog(keys=keys, layers=layers, index=index)


@lru_cache(maxsize=64)
def catalog_lookup(space: OFASpace, resolutions: tuple[int, ...]):
    """Keys, layers and the (R, positions, choices) row lookup of every unit at ``resolutions``.

    Built once per space and resolution set (cached, read-only): the catalogue order that
    :func:`block_catalog`, the unit gathers and the encoders' per-unit tables share.
    """
    n_choices = len(space.kernel_choices) * len(space.expand_choices)
    n_positions = len(_position_specs(space, resolutions[0]))
    lookup = np.full((len(resolutions), n_positions, n_choices), -1, dtype=np.int64)
    rows: dict[str, int] = {}
    specs: list[BlockSpec] = []
    for i, r in enumerate(resolutions):
        for p, choices in enumerate(_position_specs(space, r)):
            for c, spec in enumerate(choices):
                row = rows.setdefault(spec.key, len(rows))
                if row == len(specs):
                    specs.append(spec)
                lookup[i, p, c if len(choices) > 1 else slice(None)] = row
    lookup.setflags(write=False)
    return tuple(s.key for s in specs), tuple(_catalog_layers(space, s) for s in specs), lookup


@lru_cache(maxsize=8192)
def _catalog_layers(space: OFASpace, spec: BlockSpec) -> tuple[Layer, ...]:
    return tuple(_layer_name(space, spec, layer) for layer in spec.layers())
