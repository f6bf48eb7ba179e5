"""Whole networks: gathers over a catalogue of distinct blocks, and the analysis of one network.

Search evaluates populations of many networks that are built from few distinct
blocks.  A :class:`BlockCatalog` lists each distinct block once (its canonical
key and its layers) and describes every network as a row of indices into that
list, so a per-block quantity (latency, MACs, bytes) is computed once per block
and summed per network with one numpy gather.

:func:`network_latency_ms` and :func:`analyze_network` take any one network
as a layer list (an OFA sub-network's ``layers()``, an ``ofa_hw.zoo``
network, ``layers_from_torch`` of any CNN) and predict it as the DPU runs it:
unit by unit, plus one program launch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .accelerator import Accelerator
from .layer import Layer
from .predictor_protocol import LatencyPredictor, as_layers

if TYPE_CHECKING:  # pragma: no cover
    from .roofline import RooflineModel

__all__ = ["BlockCatalog", "NetworkAnalysis", "analyze_network", "network_latency_ms"]


@dataclass(frozen=True)
class BlockCatalog:
    """Distinct blocks of a population of networks and how each network uses them.

    Parameters
    ----------
    keys : tuple of str
        Canonical key of each distinct block (OFA's latency-table key format).
    layers : tuple of tuple of Layer
        The layers of each block, in execution order.
    index : numpy.ndarray
        (N, P) integer array: ``index[n, p]`` is the catalogue row of the
        block at position ``p`` of network ``n``, or -1 where network ``n``
        has no block at that position.

    Examples
    --------
    >>> fc = Layer("fc", "fc", (8, 1, 1), (4, 1, 1))
    >>> cat = BlockCatalog(("a", "b"), ((fc,), (fc, fc)), np.array([[0, 1], [0, -1]]))
    >>> cat.total(np.array([1.0, 10.0]))
    array([11.,  1.])
    """

    keys: tuple[str, ...]
    layers: tuple[tuple[Layer, ...], ...]
    index: np.ndarray

    def __post_init__(self) -> None:
        index = np.asarray(self.index)
        if index.ndim != 2:
            raise ValueError(f"BlockCatalog.index must be 2-D (networks x positions), got shape {index.shape}")
        if len(self.keys) != len(self.layers):
            raise ValueError(f"BlockCatalog has {len(self.keys)} keys but {len(self.layers)} layer lists")
        if len(set(self.keys)) != len(self.keys):
            raise ValueError("BlockCatalog keys must be distinct")
        if index.size and (index.min() < -1 or index.max() >= len(self.keys)):
            raise ValueError(f"BlockCatalog.index entries must lie in [-1, {len(self.keys) - 1}]")

    @property
    def n_networks(self) -> int:
        """Number of networks (rows of ``index``)."""
        return int(self.index.shape[0])

    def total(self, per_block: np.ndarray) -> np.ndarray:
        """Sum a per-block quantity over the blocks of each network.

        ``per_block`` has one value per key (shape (K,)), or one row of K
        values per accelerator (shape (M, K)); the result has shape (N,) or
        (M, N).
        """
        per_block = np.asarray(per_block, dtype=float)
        if per_block.shape[-1] != len(self.keys):
            raise ValueError(f"expected {len(self.keys)} per-block values, "
                             f"got trailing dimension {per_block.shape[-1]}")
        padded = np.concatenate([per_block, np.zeros(per_block.shape[:-1] + (1,))], axis=-1)
        return padded[..., self.index].sum(axis=-1)  # -1 picks the padding zero

    def counts(self) -> np.ndarray:
        """(N,) number of blocks in each network."""
        return (self.index >= 0).sum(axis=1)

    def network_keys(self, n: int) -> list[str]:
        """Keys of the blocks of network ``n``, in execution order."""
        return [self.keys[i] for i in self.index[n] if i >= 0]


# ------------------------------------------------------------ whole networks
def _predictor_parts(predictor) -> tuple[LatencyPredictor, RooflineModel]:
    """The predictor (latency, launch cost) and the analytical model its traffic and bounds come from.

    A ``HybridPredictor`` / ``CalibratedModel`` brings its calibrated
    :class:`RooflineModel`; a predictor without one (a bare table) is
    analysed with the default parameters.
    """
    from .roofline import RooflineModel

    if predictor is None:
        predictor = RooflineModel()
    if not isinstance(predictor, LatencyPredictor):
        raise TypeError(f"{type(predictor).__name__} is not a latency predictor: expected an "
                        "accel_models.LatencyPredictor (RooflineModel, latency_tables.CalibratedModel, TablePredictor, "
                        "HybridPredictor; latency_tables.as_predictor makes one from a device name)")
    if isinstance(predictor, RooflineModel):
        return predictor, predictor
    model = getattr(getattr(predictor, "calibrated", predictor), "model", None)
    return predictor, model if isinstance(model, RooflineModel) else RooflineModel()


def network_latency_ms(layers: Sequence[Layer], accelerator: Accelerator, predictor=None) -> float:
    """Latency of a whole network on one accelerator: its layers plus one program launch.

    Parameters
    ----------
    layers : sequence of Layer
        The network in execution order.  Layers sharing a ``block`` run as one
        unit (hand-offs inside it may stay on chip), as the DPU runs an
        inverted-residual block; see :func:`accel_models.group_by_block`.
    accelerator : Accelerator
    predictor : LatencyPredictor, optional
        Any :class:`accel_models.LatencyPredictor`: a
        :class:`accel_models.RooflineModel` (default: its default parameters,
        no launch cost), a ``latency_tables.CalibratedModel``, a table, or a
        ``HybridPredictor`` (``latency_tables.get_predictor("ultra96v2-b2304")``):
        measured units where it has them, its calibrated model elsewhere, plus
        its calibrated launch cost (``invocation_ms``).

    Examples
    --------
    >>> from dataclasses import replace
    >>> from accel_models import BlockSpec
    >>> block = BlockSpec.from_key("expanded_conv-input:28x28x48-output:28x28x48-expand:144"
    ...                            "-kernel:3-stride:1-idskip:1-se:0-hs:0").layers()
    >>> acc = Accelerator.from_dpu("B2304", clock_mhz=200.0)
    >>> network_latency_ms(block, acc) < network_latency_ms([replace(x, block="") for x in block], acc)
    True
    """
    layers = list(layers)
    if not layers or not all(isinstance(layer, Layer) for layer in layers):
        raise ValueError("network_latency_ms takes a non-empty sequence of accel_models.Layer")
    if not isinstance(accelerator, Accelerator):
        raise ValueError(f"network_latency_ms takes one Accelerator, got {type(accelerator).__name__}")
    return float(_predictor_parts(predictor)[0].network_latency_ms(layers, accelerator))


@dataclass(frozen=True, eq=False)
class NetworkAnalysis:
    """One network on one accelerator: per-layer and whole-network figures, as the published roofline plots show.

    Per-layer arrays (one value per layer, in order): ``latency_ms`` (the
    predictor's), ``macs``, ``ops`` (2 per MAC, 1 per element of pools and
    element-wise layers), ``dram_bytes`` (modelled DDR traffic: weights,
    inputs and outputs of each unit, spills), ``arithmetic_intensity``
    (ops / DRAM byte), ``gops`` (achieved), ``utilization`` (of the
    accelerator's per-core peak) and ``bound`` (``"compute"``, ``"memory"``
    or ``"overhead"``, from the analytical model).  ``launch_ms`` is the one
    program launch of the network (0 for the bare analytical model).
    """

    names: tuple[str, ...]
    op: tuple[str, ...]
    layer_latency_ms: np.ndarray
    macs: np.ndarray
    ops: np.ndarray
    dram_bytes: np.ndarray
    bound: np.ndarray
    launch_ms: float
    accelerator: Accelerator
    predictor: str

    @property
    def peak_gops(self) -> float:
        """Peak of one core (single-image latency runs on one core)."""
        return self.accelerator.peak_gops_per_core

    @property
    def arithmetic_intensity(self) -> np.ndarray:
        """Per-layer ops per DRAM byte."""
        return self.ops / np.maximum(self.dram_bytes, 1.0)

    @property
    def gops(self) -> np.ndarray:
        """Per-layer achieved GOP/s."""
        return self.ops / np.maximum(self.layer_latency_ms, 1e-12) / 1e6

    @property
    def utilization(self) -> np.ndarray:
        """Per-layer fraction of the core's peak."""
        return self.gops / self.peak_gops

    @property
    def latency_ms(self) -> float:
        """Whole network: every layer plus one program launch."""
        return float(self.layer_latency_ms.sum()) + self.launch_ms

    def totals(self) -> dict:
        """Whole-network figures.

        ``gops`` and ``utilization`` count 2 operations per MAC over the
        whole latency (launch included), as the DPU profiler and OFA's FPGA
        figures do; ``arithmetic_intensity`` is total ops over total DRAM bytes.
        """
        macs = int(self.macs.sum())
        ops, dram = float(self.ops.sum()), float(self.dram_bytes.sum())
        latency = self.latency_ms
        gops = 2 * macs / latency / 1e6
        by_bound = {b: float(self.layer_latency_ms[self.bound == b].sum()) for b in ("compute", "memory", "overhead")}
        return {"layers": len(self.names), "latency_ms": latency, "launch_ms": self.launch_ms, "macs": macs,
                "ops": ops, "dram_bytes": dram, "arithmetic_intensity": ops / dram, "gops": gops,
                "utilization": gops / self.peak_gops, "peak_gops": self.peak_gops,
                "latency_ms_by_bound": by_bound, "accelerator": self.accelerator.name, "predictor": self.predictor}

    def to_records(self) -> list[dict]:
        """One plain dict per layer (JSON-able)."""
        return [{"name": name, "op": op, "latency_ms": float(lat), "macs": int(macs), "ops": float(ops),
                 "dram_bytes": float(dram), "arithmetic_intensity": float(ai), "gops": float(g),
                 "utilization": float(u), "bound": str(b)}
                for name, op, lat, macs, ops, dram, ai, g, u, b in zip(
                    self.names, self.op, self.layer_latency_ms, self.macs, self.ops, self.dram_bytes,
                    self.arithmetic_intensity, self.gops, self.utilization, self.bound, strict=True)]


def analyze_network(layers: Sequence[Layer], accelerator: Accelerator, predictor=None) -> NetworkAnalysis:
    """Per-layer and whole-network latency, ops, DRAM bytes, intensity, GOP/s, utilisation and bound.

    ``layers`` and ``predictor`` as in :func:`network_latency_ms`.  Latency
    comes from the predictor (measured units where it has them); traffic and
    bounds from its analytical model, on the same units.

    Examples
    --------
    >>> from accel_models import BlockSpec
    >>> layers = BlockSpec("stem", (3, 224, 224), 32, kernel=3, stride=2, activation="relu6").layers()
    >>> analysis = analyze_network(layers, Accelerator.from_dpu("B2304", clock_mhz=200.0))
    >>> analysis.totals()["macs"], analysis.bound.tolist()  # channel augmentation: a third of the compute
    (10838016, ['memory'])
    """
    try:
        layers = as_layers(layers)  # a SubnetConfig too
    except TypeError as exc:
        raise ValueError(f"analyze_network takes a non-empty sequence of accel_models.Layer: {exc}") from None
    if not isinstance(accelerator, Accelerator):
        raise ValueError(f"analyze_network takes one Accelerator, got {type(accelerator).__name__}")
    per_layer, model = _predictor_parts(predictor)
    analysis = model.analyze(layers, accelerator)
    latency = np.asarray(per_layer.layer_latency_ms(layers, accelerator), dtype=float).reshape(-1)
    launch = float(per_layer.invocation_ms)
    name = getattr(per_layer, "name", "") or type(per_layer).__name__
    return NetworkAnalysis(names=tuple(layer.name for layer in layers), op=analysis.op, layer_latency_ms=latency,
                           macs=np.asarray(analysis.macs), ops=np.asarray(analysis.ops),
                           dram_bytes=np.asarray(analysis.dram_bytes), bound=np.asarray(analysis.bound),
                           launch_ms=launch, accelerator=accelerator, predictor=name)
