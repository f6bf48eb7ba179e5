"""Latency intervals of a search's designs, and the predictor a search at a confidence runs on.

The interval of every design comes from :mod:`latency_tables.uncertainty`
(each unit's source and its held-out error).  ``search_codesign(confidence=c)``
searches on the upper end of every unit's interval (the budget then holds at
that confidence) and reports each design's point latency with its interval.
"""

from __future__ import annotations

import dataclasses

from .result import CodesignResult, Design

__all__ = ["search_predictor", "warn_outside_validity", "with_intervals"]


def _intervals(latency_name: str | None, confidence: float, latency_predictor=None):
    """A shipped device's interval model, or a fitted board's (its prior's, updated by its measurements)."""
    from latency_tables.uncertainty import INTERVAL_DEVICES, interval_predictor

    if latency_name in INTERVAL_DEVICES:
        return interval_predictor(latency_name, confidence)
    few_shot = getattr(latency_predictor, "few_shot", None)
    if few_shot is not None and few_shot.prior in INTERVAL_DEVICES:
        return interval_predictor(latency_predictor, confidence)
    return None


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


def _design_interval(design: Design, intervals, searched_on_upper: bool) -> Design:
    # The interval is the DPU time's; a design's latency may add exact parts (ARM pre/post-processing in
    # latency_mode="e2e"), so the DPU's deviations are added to it.  A search on upper bounds scored every
    # design at its DPU upper bound: its point latency is that minus the upper deviation.
    interval = intervals.network_interval(design.layers(), design.accelerator)
    point, low, high = (float(v) for v in (interval.latency_ms, interval.low_ms, interval.high_ms))
    latency = design.latency_ms - (high - point) if searched_on_upper else design.latency_ms
    return dataclasses.replace(design, latency_ms=latency, latency_low_ms=latency - (point - low),
                               latency_high_ms=latency + (high - point), latency_confidence=interval.confidence)


def with_intervals(result: CodesignResult, latency_name: str | None, confidence: float | None,
                   latency_predictor=None) -> CodesignResult:
    """The result with every design's point latency and interval (at ``confidence``, default 90 %).

    A predictor with no interval model (a user's own, not fitted on a
    shipped prior) leaves the intervals empty and says so in
    ``settings["latency_interval"]``.
    """
    from latency_tables.uncertainty import DEFAULT_CONFIDENCE

    level = DEFAULT_CONFIDENCE if confidence is None else confidence
    intervals = _intervals(latency_name, level, latency_predictor)
    settings = dict(result.settings)
    if intervals is None:
        settings["latency_interval"] = {"confidence": None, "note": "no interval model for this latency predictor"}
        return dataclasses.replace(result, settings=settings)
    settings["latency_interval"] = {"confidence": level, "searched_on": "upper bound" if confidence else "point",
                                    "sources": intervals.errors.summary(level)}
    upper = confidence is not None
    pareto = [_design_interval(d, intervals, upper) for d in result.pareto]
    best = None if result.best is None else _design_interval(result.best, intervals, upper)
    return dataclasses.replace(result, best=best, pareto=pareto, settings=settings)


def warn_outside_validity(latency_name: str | None, keys, accelerators) -> list[str]:
    """One :class:`latency_tables.validity.ValidityWarning` if the search leaves the device's measurements."""
    from accel_models import BlockSpec
    from latency_tables.by_build import BY_BUILD_DEVICE, STOCK_DEVICE
    from latency_tables.predictor import DEVICES
    from latency_tables.validity import warn_outside

    if latency_name == BY_BUILD_DEVICE:  # the DPU device prices its stock accelerators; custom ones are the engine's
        latency_name, accelerators = STOCK_DEVICE, [a for a in accelerators if a.is_dpuczdx8g]
        if not accelerators:
            return []
    if latency_name not in DEVICES:
        return []
    layers = [layer for key in keys for layer in BlockSpec.from_key(key).layers()]
    return warn_outside(latency_name, layers, list(accelerators), stacklevel=3)  # the caller of search_codesign
