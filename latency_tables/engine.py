"""The ``"hls-engine"`` latency predictor: the HLS engine's cycle model, with the range its C-sim count keeps.

A custom accelerator (one the DPUCZDX8G IP does not build, ``not
Accelerator.is_dpuczdx8g``) has one build: the HLS engine of ``hls.export``.
Its latency is therefore the engine's, not a DPU's: :class:`EnginePredictor`
answers the :class:`accel_models.LatencyPredictor` questions with
:func:`accel_models.hls_engine.engine_model` (every tile loop at II = 1, every
layer reading and writing DDR, no overlap of transfers with compute), source
``"modelled"`` (:data:`ENGINE_DESCRIPTION` says what that means).

Its interval is not a confidence interval of a calibration: it is the range of
the engine's own cycle count (``hls.program.engine_cycles``, the count its
C-simulation makes) over the engine model's prediction, per layer type, over
the cases of ``data/hls_engine_deviation.json`` (``scripts/engine_deviation.py``:
min / max / sampled networks on stock and custom arrays).  A unit's factor is
its layer types' range (widened to include 1, the model itself) weighted by
their modelled latency; a network's bounds add its units' (fully correlated).
Nothing here was checked against synthesis or a board: an II above 1 or a lower clock after Vitis HLS makes the engine
slower than the upper bound.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from accel_models import Accelerator, Layer, group_by_block
from accel_models.hls_engine import ENGINE_ALU_POOLING, engine_hardware, engine_model
from accel_models.layer import LayerArrays
from accel_models.predictor_protocol import AcceleratorChoice, accelerator_list, as_layers
from accel_models.tiling import CLASSES, layer_classes

from .validity import sizes_checked

__all__ = ["DEVIATION_FILE", "ENGINE_DESCRIPTION", "ENGINE_DEVICE", "ENGINE_SOURCE", "EngineDeviation",
           "EngineIntervals", "EnginePredictor", "engine_deviation"]

#: Device name of the engine predictor (:func:`latency_tables.get_predictor`).
ENGINE_DEVICE = "hls-engine"
#: What kind of figure the engine predictor gives.
ENGINE_SOURCE = "modelled"
#: What the figure is, for every output that labels it.
ENGINE_DESCRIPTION = ("the HLS engine's design-intent cycle model (tile loops at II = 1, DDR transfers at the "
                      "accelerator's bandwidth, not overlapped with compute), checked against the engine's C-sim cycle "
                      "count, not against synthesis or a board: a synthesised II above 1 or a lower clock is slower")
#: The engine count / model ratios this predictor's interval comes from.
DEVIATION_FILE = Path(__file__).resolve().parent / "data" / "hls_engine_deviation.json"


@dataclass(frozen=True)
class EngineDeviation:
    """Range of the engine's C-sim cycle count over the engine model, per layer type (``accel_models.tiling.CLASSES``).

    Attributes
    ----------
    low, high : mapping of str to float
        Smallest and largest ratio per layer type over the checked cases.
    cases : int
        How many (network, accelerator) cases the range covers.
    """

    low: Mapping[str, float]
    high: Mapping[str, float]
    cases: int

    def layer_factors(self, classes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) factor of each layer from its class code (:func:`accel_models.tiling.layer_classes`).

        The range is widened to include 1 (the model itself), so the interval always holds the point.
        """
        low = np.minimum([self.low[c] for c in CLASSES], 1.0)
        high = np.maximum([self.high[c] for c in CLASSES], 1.0)
        return low[classes], high[classes]

    def summary(self, confidence: float | None = None) -> dict:
        """JSON-able description (the range does not depend on ``confidence``: it covers every checked case)."""
        return {ENGINE_SOURCE: {"what": "range of the engine's C-sim cycle count / engine model, per layer type, "
                                        f"over {self.cases} networks x accelerators (not a confidence interval)",
                                "factors": {c: [self.low[c], self.high[c]] for c in CLASSES},
                                "not_checked": "synthesis II / timing and a board (either can make it slower)"}}


def engine_validity():
    """What the engine predictor was checked on: the networks and accelerators of :data:`DEVIATION_FILE`."""
    from ofa_hw import SubnetConfig, subnet_layers

    from .validity import DeviceValidity

    cases = json.loads(DEVIATION_FILE.read_text())["cases"]
    deviation = engine_deviation()
    networks = {json.dumps(c["subnet"], sort_keys=True): c["subnet"] for c in cases}
    accelerators = {json.dumps(c["accelerator_config"], sort_keys=True): c["accelerator_config"] for c in cases}
    error = ("engine C-sim cycle count / engine model per layer type: "
             + ", ".join(f"{c} {deviation.low[c]:.3f}-{deviation.high[c]:.3f}" for c in CLASSES)
             + f" over {deviation.cases} cases (scripts/engine_deviation.py); synthesis and boards not checked")
    return DeviceValidity.from_measurements(
        ENGINE_DEVICE, error, [subnet_layers(SubnetConfig.from_dict(n)) for n in networks.values()],
        [Accelerator.from_dict(a) for a in accelerators.values()])


@cache
def engine_deviation() -> EngineDeviation:
    """The shipped range (:data:`DEVIATION_FILE`)."""
    data = json.loads(DEVIATION_FILE.read_text())
    ranges = data["range_by_type"]
    missing = set(CLASSES) - set(ranges)
    if missing:
        raise ValueError(f"{DEVIATION_FILE}: no engine / model range for layer types {sorted(missing)}; "
                         "re-run scripts/engine_deviation.py")
    return EngineDeviation({c: float(ranges[c][0]) for c in CLASSES}, {c: float(ranges[c][1]) for c in CLASSES},
                           len(data["cases"]))


class EnginePredictor:
    """Latency of the HLS engine built for an accelerator (the :class:`accel_models.LatencyPredictor` protocol).

    Every layer is priced by :func:`accel_models.hls_engine.engine_model` on its own (the engine writes
    every layer's output to DDR), on the hardware the engine builds (:func:`accel_models.hls_engine.engine_hardware`:
    no channel augmentation); a unit is the sum of its layers.  No unit is measured
    (``unit_sources`` is ``"model"``); the predictor has no accelerator of its own.

    Parameters
    ----------
    invocation_ms : float
        Launch cost added once per network.  The engine's count starts when ``top()`` starts, so the
        engine alone has none (0); ``"by-build"`` passes the DPU's measured one
        (:mod:`latency_tables.by_build`).

    Examples
    --------
    >>> from ofa_hw import SubnetConfig, subnet_layers
    >>> p, b1600 = EnginePredictor(), Accelerator.from_dpu("B1600", clock_mhz=200.0)
    >>> round(p.network_latency_ms(subnet_layers(SubnetConfig.smallest(r=128)), b1600), 2)
    2.31
    """

    name = ENGINE_DEVICE
    accelerator = None
    source = ENGINE_SOURCE
    description = ENGINE_DESCRIPTION

    def __init__(self, invocation_ms: float = 0.0):
        self.model = engine_model()
        self._invocation_ms = float(invocation_ms)

    @property
    def invocation_ms(self) -> float:
        """Launch cost per network (ms)."""
        return self._invocation_ms

    def layer_latency_ms(self, layers: Sequence[Layer], accelerator: AcceleratorChoice = None) -> np.ndarray:
        """Latency of each layer, each reading and writing DDR: (L,) or (M, L)."""
        accelerators, single = accelerator_list(accelerator)
        layers = list(layers)
        if not layers:  # else numpy's "zero-size array to reduction operation" from deep in the model
            raise ValueError("no layers given")
        with sizes_checked(self.name, layers):
            latency = self._per_layer(LayerArrays.from_layers(layers), accelerators)
        return latency[0] if single else latency

    def unit_latency_ms(self, units: Sequence[Sequence[Layer]], accelerator: AcceleratorChoice = None) -> np.ndarray:
        """Sum of each unit's layers: (K,) or (M, K)."""
        accelerators, single = accelerator_list(accelerator)
        per_layer, owner, _ = self._layers_of_units(units, accelerators)
        latency = np.stack([np.bincount(owner, weights=row, minlength=len(units)) for row in per_layer])
        return latency[0] if single else latency

    def network_latency_ms(self, layers: Sequence[Layer], accelerator: AcceleratorChoice = None) -> float | np.ndarray:
        """Its layers plus one launch: a float, or (M,).

        Warns (:class:`~latency_tables.validity.ValidityWarning`) when its resolution is beyond the checked ones.
        """
        layers = list(as_layers(layers))
        with sizes_checked(self.name, layers):  # here, so the warning names the caller's line
            total = self.layer_latency_ms(layers, accelerator).sum(axis=-1) + self.invocation_ms
        return float(total) if np.ndim(total) == 0 else total

    def unit_sources(self, units: Sequence[Sequence[Layer]], accelerator: AcceleratorChoice = None) -> np.ndarray:
        """``"model"`` for every unit (nothing is measured): (K,) or (M, K)."""
        accelerators, single = accelerator_list(accelerator)
        sources = np.full((len(accelerators), len(units)), "model")
        return sources[0] if single else sources

    def unit_bounds(self, units: Sequence[Sequence[Layer]], accelerators: Sequence[Accelerator],
                    deviation: EngineDeviation) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(point, low, high) latency of each unit, (M, K): its layers' modelled latency times their type's range."""
        per_layer, owner, classes = self._layers_of_units(units, accelerators)
        low, high = deviation.layer_factors(classes)
        sums = [np.stack([np.bincount(owner, weights=row * f, minlength=len(units)) for row in per_layer])
                for f in (1.0, low, high)]
        return sums[0], sums[1], sums[2]

    def _per_layer(self, layers: LayerArrays, accelerators: Sequence[Accelerator]) -> np.ndarray:
        """(M, L) latency of each layer on the hardware the engine builds for each accelerator."""
        built = [engine_hardware(a) for a in accelerators]
        return np.asarray(self.model.layer_latency_ms(layers, built), float).reshape(len(accelerators), -1)

    def _layers_of_units(self, units: Sequence[Sequence[Layer]], accelerators: Sequence[Accelerator],
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(M, L) per-layer latency, each layer's unit and its layer-type code, over ``units`` flattened."""
        units = [list(unit) for unit in units]
        if not units:  # as every other predictor refuses them (accel_models.schedule.unit_flow)
            raise ValueError("units must be a non-empty sequence of Layer sequences")
        if not all(units):
            raise ValueError("every unit needs at least one layer")
        flat = [layer for unit in units for layer in unit]
        owner = np.repeat(np.arange(len(units)), [len(unit) for unit in units])
        layers = LayerArrays.from_layers(flat)
        return self._per_layer(layers, accelerators), owner, layer_classes(layers, ENGINE_ALU_POOLING)


class EngineIntervals:
    """Interval of an :class:`EnginePredictor`'s figures (what ``latency_tables.uncertainty`` gives a DPU device).

    Implements the interface :class:`latency_tables.uncertainty.IntervalPredictor` offers the search
    (``predictor``, ``confidence``, ``errors.summary``, ``unit_factors``, ``network_interval``).
    ``confidence`` is carried along but does not change the bounds (see :class:`EngineDeviation`).
    """

    def __init__(self, predictor: EnginePredictor | None = None, confidence: float = 0.9,
                 deviation: EngineDeviation | None = None):
        self.predictor = predictor if predictor is not None else EnginePredictor()
        self.confidence = float(confidence)
        self.errors = deviation if deviation is not None else engine_deviation()

    def unit_factors(self, units: Sequence[Sequence[Layer]], accelerator: AcceleratorChoice = None,
                     confidence: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(sources, low factor, high factor), each (M, K): a unit's bounds over its point latency."""
        accelerators, _ = accelerator_list(accelerator)
        point, low, high = self.predictor.unit_bounds(units, accelerators, self.errors)
        safe = np.where(point > 0, point, 1.0)
        ones = np.ones_like(point)
        return (np.full(point.shape, ENGINE_SOURCE), np.where(point > 0, low / safe, ones),
                np.where(point > 0, high / safe, ones))

    def network_interval(self, layers: Sequence[Layer], accelerator: Accelerator | None = None,
                         confidence: float | None = None):
        """Point and bounds of one network on ``accelerator`` (its units' bounds added, plus one launch)."""
        from .uncertainty import LatencyInterval

        if accelerator is None:
            raise ValueError("the HLS engine predictor has no accelerator of its own: pass accelerator=")
        layers = list(as_layers(layers))
        with sizes_checked(self.predictor.name, layers):
            bounds = self.predictor.unit_bounds(group_by_block(layers), [accelerator], self.errors)
        point, low, high = (v.sum() + self.predictor.invocation_ms for v in bounds)
        return LatencyInterval(np.asarray(point), np.asarray(low), np.asarray(high),
                               self.confidence if confidence is None else confidence,
                               {ENGINE_SOURCE: np.asarray(point - self.predictor.invocation_ms)})
