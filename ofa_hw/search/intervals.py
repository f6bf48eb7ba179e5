"""Latency intervals of a search's designs, and the predictor a search at a confidence runs on.

The interval of every design comes from :mod:`latency_tables.uncertainty`
(each unit's source and its held-out error).  ``search_codesign(confidence=c)``
searches on the upper end of every unit's interval (the budget then holds at
that confidence) and reports each design's point latency with its interval.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from functools import cache, lru_cache

import numpy as np

__all__ = ["LatencyBounds", "interval_settings", "latency_bounds", "search_predictor", "warn_outside_validity"]


def _intervals(latency_name: str | None, confidence: float, latency_predictor=None):
    """A shipped device's interval model, or a fitted board's (its prior's, updated by its measurements)."""
    from latency_tables.uncertainty import INTERVAL_DEVICES, interval_predictor

    if latency_name in INTERVAL_DEVICES:
        return _shipped_intervals(latency_name, confidence)
    few_shot = getattr(latency_predictor, "few_shot", None)
    if few_shot is not None and few_shot.prior in INTERVAL_DEVICES:
        return _fitted_intervals(latency_predictor, confidence, interval_predictor)
    return None


#: (id of a fitted predictor, confidence) -> (a weak reference to the predictor, its interval model)
_FITTED: dict[tuple[int, float], tuple[weakref.ref, object]] = {}


def _fitted_intervals(predictor, confidence: float, build):
    """The interval model of a (frozen) ``fit_device`` predictor, built once per predictor and confidence.

    A search asks for it two or three times (the searched predictor, the
    designs' intervals, the settings); it is kept while the predictor lives.
    """
    key = (id(predictor), confidence)
    cached = _FITTED.get(key)
    if cached is not None and cached[0]() is predictor:
        return cached[1]
    intervals = build(predictor, confidence)
    fitted = _FITTED  # the callback may run at interpreter exit, when the module's names are gone

    def forget(_: weakref.ref) -> None:
        fitted.pop(key, None)

    _FITTED[key] = (weakref.ref(predictor, forget), intervals)
    return intervals


@cache
def _shipped_intervals(device: str, confidence: float):
    from latency_tables.uncertainty import interval_predictor

    return interval_predictor(device, confidence)


def search_predictor(latency_name: str | None, latency_predictor, confidence: float | None,
                     latency_mode: str = "dpu"):
    """What the search evaluates latency with: the predictor, or its interval's upper end at ``confidence``."""
    if confidence is None:
        return latency_predictor
    if latency_mode != "dpu":
        raise ValueError("confidence= bounds the DPU time (the intervals are those of the DPU latency "
                         "predictors); use it with latency_mode='dpu'")
    from latency_tables.uncertainty import INTERVAL_DEVICES, UpperBoundPredictor

    intervals = _intervals(latency_name, confidence, latency_predictor)
    if intervals is None:
        raise ValueError(f"confidence= needs a latency predictor with an interval model "
                         f"({', '.join(INTERVAL_DEVICES)}, or a fit_device predictor on one of them), "
                         f"got {latency_name or type(latency_predictor).__name__}")
    return UpperBoundPredictor(intervals)


@dataclass(frozen=True)
class LatencyBounds:
    """Point latency and interval of N designs at one confidence."""

    latency_ms: np.ndarray
    low_ms: np.ndarray
    high_ms: np.ndarray
    confidence: float


def latency_bounds(evaluator, latency_name: str | None, confidence: float | None, candidates,
                   latency_ms: np.ndarray, latency_predictor=None) -> LatencyBounds | None:
    """Interval of each candidate (at ``confidence``, default 90 %), or ``None`` without an interval model.

    The interval is the DPU time's (each unit's point latency times its
    source's error factors, :meth:`latency_tables.uncertainty.IntervalPredictor.network_interval`),
    summed by one gather over the search's units; a design's latency may add
    exact parts (ARM pre/post-processing in ``latency_mode="e2e"``), so the
    DPU's deviations are added to ``latency_ms``.  A search on upper bounds
    scored every design at its DPU upper bound: its point latency is that
    minus the upper deviation.
    """
    from latency_tables.uncertainty import DEFAULT_CONFIDENCE

    level = DEFAULT_CONFIDENCE if confidence is None else confidence
    intervals = _intervals(latency_name, level, latency_predictor)
    if intervals is None:
        return None

    def deviations(units, accelerators) -> np.ndarray:
        point = np.asarray(intervals.predictor.unit_latency_ms(units, accelerators), float)
        _, low, high = intervals.unit_factors(units, accelerators)
        return np.stack([point * (1 - low), point * (high - 1)], axis=1)  # (A, 2, K): below and above the point

    gather = evaluator.unit_gather(("latency interval", latency_name, level), deviations)
    below, above = gather.total(candidates.subnets, candidates.accelerator).T
    point = latency_ms - above if confidence is not None else latency_ms
    return LatencyBounds(point, point - below, point + above, level)


def interval_settings(latency_name: str | None, confidence: float | None, latency_predictor=None) -> dict:
    """``settings["latency_interval"]`` of a search: the confidence, what was searched on, the sources' factors.

    A predictor with no interval model (a user's own, not fitted on a
    shipped prior) leaves the intervals empty and says so.
    """
    from latency_tables.uncertainty import DEFAULT_CONFIDENCE

    level = DEFAULT_CONFIDENCE if confidence is None else confidence
    intervals = _intervals(latency_name, level, latency_predictor)
    if intervals is None:
        return {"confidence": None, "note": "no interval model for this latency predictor"}
    return {"confidence": level, "searched_on": "upper bound" if confidence else "point",
            "sources": intervals.errors.summary(level)}


def warn_outside_validity(latency_name: str | None, keys, accelerators) -> list[str]:
    """One :class:`latency_tables.validity.ValidityWarning` if the search leaves the device's measurements.

    The reasons are found once per (device, units, accelerators): a repeated
    search (seeds, budgets) only warns again.  Under ``"by-build"`` the DPU
    device answers for the stock accelerators; custom ones are the engine's.
    """
    from latency_tables.by_build import BY_BUILD_DEVICE, STOCK_DEVICE
    from latency_tables.predictor import DEVICES
    from latency_tables.validity import warn_reasons

    if latency_name == BY_BUILD_DEVICE:  # the DPU device prices its stock accelerators; custom ones are the engine's
        latency_name, accelerators = STOCK_DEVICE, [a for a in accelerators if a.is_dpuczdx8g]
        if not accelerators:
            return []
    if latency_name not in DEVICES:
        return []
    reasons = _outside_validity(latency_name, tuple(keys), tuple(accelerators))
    warn_reasons(latency_name, reasons, stacklevel=3)  # the caller of search_codesign
    return list(reasons)


@lru_cache(maxsize=16)
def _outside_validity(latency_name: str, keys: tuple[str, ...], accelerators: tuple) -> tuple[str, ...]:
    from accel_models import BlockSpec
    from latency_tables.validity import device_validity

    layers = [layer for key in keys for layer in BlockSpec.from_key(key).layers()]
    return tuple(device_validity(latency_name).outside(layers, list(accelerators)))
