"""The ``"by-build"`` latency predictor: each accelerator priced by what builds it.

A stock DPUCZDX8G configuration (``Accelerator.is_dpuczdx8g``) is built by the
vendor IP, so its latency is the DPU predictor's (``"dpuczdx8g-joint"``,
measured and calibrated on DPUs); a custom accelerator is built only by the
HLS export's engine, so its latency is the engine's (``"hls-engine"``,
:mod:`latency_tables.engine`).  :class:`BuildPredictor` implements
:class:`accel_models.LatencyPredictor` and dispatches row by row, so a search
over a mixed list of stock and custom accelerators prices each by its own
build; :class:`BuildIntervals` does the same for the intervals.  It is the
search's default (``ofa_hw.search.DEFAULT_LATENCY_PREDICTOR``).

One launch cost is added per network for every accelerator (the protocol has
one ``invocation_ms``): the DPU predictor's, a measured VART launch.  For a
custom design it stands in for the PYNQ driver's start / wait of the engine,
which the engine's C-sim count does not include.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from accel_models import Accelerator, LatencyPredictor, Layer, group_by_block
from accel_models.predictor_protocol import AcceleratorChoice, accelerator_list, as_layers

from .engine import ENGINE_DESCRIPTION, ENGINE_DEVICE, EngineIntervals, EnginePredictor
from .validity import sizes_checked

__all__ = ["BY_BUILD_DEVICE", "STOCK_DEVICE", "BuildIntervals", "BuildPredictor", "latency_basis"]

#: Device name of the dispatching predictor (:func:`latency_tables.get_predictor`).
BY_BUILD_DEVICE = "by-build"
#: The device that prices stock DPUCZDX8G configurations in it.
STOCK_DEVICE = "dpuczdx8g-joint"


def latency_basis(predictor: str | None, accelerator: Accelerator, source: str = "model") -> str:
    """What a latency of ``accelerator`` by the predictor named ``predictor`` is, for labels.

    ``source`` (a design's ``latency_source``: measured / model / mixed) leads a DPU predictor's label;
    the engine's is always ``"modelled"``.

    >>> latency_basis("by-build", Accelerator(2, 16, 14, clock_mhz=300.0)).split(":")[0]
    "modelled by latency predictor 'hls-engine' (via 'by-build')"
    >>> latency_basis("dpuczdx8g-joint", Accelerator(2, 16, 14, clock_mhz=300.0)).split(";")[1]
    ' the engine that builds this custom accelerator is not that IP'
    """
    name = repr(predictor) if predictor else "the search's latency predictor"
    if accelerator.is_dpuczdx8g and predictor == ENGINE_DEVICE:
        return (f"modelled by latency predictor {name}: {ENGINE_DESCRIPTION}; this stock DPUCZDX8G configuration "
                "is priced as its HLS engine, not as the vendor IP")
    if not accelerator.is_dpuczdx8g and predictor in (BY_BUILD_DEVICE, ENGINE_DEVICE):
        via = "" if predictor == ENGINE_DEVICE else f" (via {name})"
        return f"modelled by latency predictor {ENGINE_DEVICE!r}{via}: {ENGINE_DESCRIPTION}"
    via = f" {STOCK_DEVICE!r} (via {name})" if predictor == BY_BUILD_DEVICE else f" {name}"
    if accelerator.is_dpuczdx8g:
        return f"{source} by latency predictor{via}, a DPUCZDX8G model calibrated on measured DPUs"
    return (f"{source} by latency predictor{via}, a DPUCZDX8G-calibrated model applied to a custom accelerator; "
            "the engine that builds this custom accelerator is not that IP")


def _dispatch(accelerator: AcceleratorChoice, default: Accelerator | None, stock: Callable, custom: Callable):
    """Rows of ``stock(accelerators)`` for DPUCZDX8G configurations, of ``custom(accelerators)`` for the rest.

    Each half is evaluated once; a half that answers a tuple of arrays is merged element by element.
    """
    accelerators, single = accelerator_list(accelerator, default)
    is_custom = np.array([not a.is_dpuczdx8g for a in accelerators])
    parts = []
    for flag, compute in ((False, stock), (True, custom)):
        rows = np.flatnonzero(is_custom == flag)
        if rows.size:
            parts.append((rows, compute([accelerators[i] for i in rows])))

    def merged(values: list[np.ndarray]) -> np.ndarray:
        out = np.empty((len(accelerators), *values[0].shape[1:]), dtype=np.result_type(*values))
        for (rows, _), part in zip(parts, values, strict=True):
            out[rows] = part
        return out[0] if single else out

    if isinstance(parts[0][1], tuple):
        return tuple(merged([np.asarray(answer[i]) for _, answer in parts]) for i in range(len(parts[0][1])))
    return merged([np.asarray(answer) for _, answer in parts])


class BuildPredictor:
    """Stock DPUCZDX8G configurations by ``stock``, custom accelerators by the HLS engine's model.

    Parameters
    ----------
    stock : LatencyPredictor
        The DPU predictor (its ``accelerator``, the one it measured, is this predictor's own).
    name : str
        Device name for records.
    """

    def __init__(self, stock: LatencyPredictor, name: str = BY_BUILD_DEVICE):
        self.stock = stock
        self.engine = EnginePredictor(invocation_ms=float(stock.invocation_ms))
        self.accelerator = getattr(stock, "accelerator", None)
        self.name = name

    @property
    def invocation_ms(self) -> float:
        """The stock predictor's launch cost, once per network for every accelerator (see the module docstring)."""
        return self.engine.invocation_ms

    def predictor_for(self, accelerator: Accelerator) -> LatencyPredictor:
        """The predictor that prices ``accelerator``."""
        return self.stock if accelerator.is_dpuczdx8g else self.engine

    def layer_latency_ms(self, layers: Sequence[Layer], accelerator: AcceleratorChoice = None) -> np.ndarray:
        """Latency of each layer: (L,) or (M, L)."""
        layers = list(layers)
        with sizes_checked(self.name, layers):  # once, not again by each half
            return _dispatch(accelerator, self.accelerator, lambda a: self.stock.layer_latency_ms(layers, a),
                             lambda a: self.engine.layer_latency_ms(layers, a))

    def unit_latency_ms(self, units: Sequence[Sequence[Layer]], accelerator: AcceleratorChoice = None) -> np.ndarray:
        """In-network latency of each unit: (K,) or (M, K)."""
        units = [tuple(u) for u in units]
        return _dispatch(accelerator, self.accelerator, lambda a: self.stock.unit_latency_ms(units, a),
                         lambda a: self.engine.unit_latency_ms(units, a))

    def unit_sources(self, units: Sequence[Sequence[Layer]], accelerator: AcceleratorChoice = None) -> np.ndarray:
        """Each unit's source (``"measured"`` only where the DPU table applies): (K,) or (M, K)."""
        units = [tuple(u) for u in units]
        return _dispatch(accelerator, self.accelerator, lambda a: self.stock.unit_sources(units, a),
                         lambda a: self.engine.unit_sources(units, a))

    def network_latency_ms(self, layers: Sequence[Layer], accelerator: AcceleratorChoice = None) -> float | np.ndarray:
        """Its units plus one launch: a float, or (M,)."""
        layers = list(as_layers(layers))
        with sizes_checked(self.name, layers):
            total = self.unit_latency_ms(group_by_block(layers), accelerator).sum(axis=-1) + self.invocation_ms
        return float(total) if np.ndim(total) == 0 else total


class _BuildErrors:
    """Both halves' error descriptions, for ``settings["latency_interval"]``."""

    def __init__(self, stock, engine):
        self.stock, self.engine = stock, engine

    def summary(self, confidence: float) -> dict:
        return {"stock DPUCZDX8G (dpuczdx8g-joint)": self.stock.summary(confidence),
                "custom (hls-engine)": self.engine.summary(confidence)}


class BuildIntervals:
    """Intervals of a :class:`BuildPredictor`: the DPU device's for stock rows, the engine's for custom rows."""

    def __init__(self, predictor: BuildPredictor, stock, confidence: float):
        self.predictor = predictor
        self.confidence = float(confidence)
        self.stock = stock
        self.engine = EngineIntervals(predictor.engine, confidence)
        self.errors = _BuildErrors(stock.errors, self.engine.errors)

    def unit_factors(self, units: Sequence[Sequence[Layer]], accelerator: AcceleratorChoice = None,
                     confidence: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(sources, low factor, high factor), each (M, K)."""
        accelerators, _ = accelerator_list(accelerator, self.predictor.accelerator)
        sources, low, high = _dispatch(accelerators, None, lambda a: self.stock.unit_factors(units, a, confidence),
                                       lambda a: self.engine.unit_factors(units, a, confidence))
        return sources, low, high

    def network_interval(self, layers: Sequence[Layer], accelerator: Accelerator | None = None,
                         confidence: float | None = None):
        """Interval of one network on ``accelerator``, by the half that prices it."""
        accelerator = accelerator if accelerator is not None else self.predictor.accelerator
        half = self.engine if accelerator is not None and not accelerator.is_dpuczdx8g else self.stock
        layers = list(as_layers(layers))
        with sizes_checked(self.predictor.name, layers):  # once, as by-build, not again by the half
            return half.network_interval(layers, accelerator, confidence)
