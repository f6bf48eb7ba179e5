"""Bring your own board: a few measurements update the shipped physical prior instead of replacing it.

:func:`fit_device` takes a user's measurements, a per-unit latency table
(:func:`latency_tables.load_table`) or a handful of whole networks
(:class:`NetworkMeasurement`: layers or a sub-network, and the measured ms),
and the accelerator they were measured on, and returns a
:class:`~latency_tables.HybridPredictor` that works everywhere a shipped
device does.

How the prior is used
    The prior is a calibration fitted elsewhere, by default the joint
    calibration shipped as ``"dpuczdx8g-joint"`` (Ultra96-V2 blocks and
    ZCU102 per-layer profiles).  The calibration engine
    (:mod:`latency_tables.fitting`) fits the user's measurements with a
    Gaussian pull towards the prior's parameters: the pull does not grow
    with the data, each measurement adds its own weight, so parameters move
    from the prior in proportion to the evidence.  Its strength is chosen
    among :data:`FEW_SHOT_PRIOR_WEIGHTS` by cross-validation on the
    measurements.  The launch cost is the profiler's where the
    table has busy times, else fitted with the prior's launch cost as its
    prior.

Never worse than the prior, and saying so
    With two or more measurements every candidate (the prior as it is, the
    prior with its launch cost fitted, and from :data:`FEW_SHOT_MIN_FIT`
    measurements the few-shot fits) is cross-validated on them
    (leave-one-out up to :data:`FEW_SHOT_FOLDS` measurements, k-fold
    beyond): nothing but the user's measurements decides.  A candidate
    moves only part of the way from the prior (:data:`FEW_SHOT_SHRINKAGE`
    of the way, parameters and launch cost alike; in the cross-validation
    too, so what is checked is what is used), and it replaces the prior
    only when the evidence supports it: its cross-validated mean
    ``|log(measured / predicted)|`` is :data:`FEW_SHOT_MARGIN` below the
    prior's and it beats the prior on more held-out measurements than
    chance would (one-sided sign test, p <= :data:`FEW_SHOT_EVIDENCE`).
    Otherwise the prior is kept and a warning says why (nothing better, or
    better on average but on too few measurements to rule out chance); the
    report carries the p-value of a candidate that won and how far it
    moved.
    ``benchmarks/bench_few_shot.py`` draws the k-shot curves on the shipped
    sources, each held out in turn, and lists every split where the fit did
    worse than the prior with what the fit said.

The interval
    The held-out errors of the chosen candidate on the measurements update
    the prior's error on a board it never saw (a normal-inverse-chi-squared
    posterior whose prior predictive is the prior's interval,
    :func:`latency_tables.uncertainty.posterior_residuals`): the
    prediction interval of the fitted predictor starts at the prior's and
    moves smoothly to the board's own errors as measurements come in
    (:func:`latency_tables.uncertainty.interval_predictor` takes the
    fitted predictor).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from accel_models import Accelerator, Layer, RooflineModel, RooflineParams
from accel_models.predictor_protocol import as_layers
from accel_models.validation import distinct_named, python_number, reject_unknown_keys

from .calibration import CalibratedModel, calibrated_model
from .fitting import CalibrationProblem, Fit, FitSettings, held_out_launch_ms
from .joint import JOINT_FIT_PARAMETERS, JOINT_FIXED, JOINT_TIED
from .metrics import ErrorReport
from .predictor import HybridPredictor, calibrated_device
from .sources import CalibrationSource, built_on_board, other_ddr_gbps, warn_if_unbuildable
from .table import Entry, LatencyTable, TableMeta

__all__ = ["FEW_SHOT_EVIDENCE", "FEW_SHOT_FOLDS", "FEW_SHOT_MARGIN", "FEW_SHOT_MIN_FIT", "FEW_SHOT_PRIOR_WEIGHTS",
           "FEW_SHOT_SHRINKAGE", "NETWORK_SPACE", "FewShotReport", "NetworkMeasurement", "fit_device", "network_table"]

#: Strengths of the pull towards the prior that a few-shot fit tries, strongest first (per parameter, in
#: units of one measurement's log error per parameter scale; a single-table fit uses 0.02); the one that
#: cross-validates best on the measurements wins, the prior alone included.
FEW_SHOT_PRIOR_WEIGHTS = (1.0, 0.3)
#: A fit replaces the prior only when its cross-validated mean |log error| (the scale the fit works on, which
#: MAPE follows for errors of a few tens of %) is this fraction below the prior's: with a handful of
#: measurements, smaller gains are within the noise of the cross-validation itself.
FEW_SHOT_MARGIN = 0.1
#: Fewer measurements than this fit no model parameters (the fit frees 7; cross-validation on fewer points
#: picks noise, and the sign test at :data:`FEW_SHOT_EVIDENCE` needs 7 wins of 7): the prior's physics is kept.
FEW_SHOT_MIN_FIT = 7
#: A candidate must also beat the prior on more held-out measurements than chance would: one-sided
#: sign-test p-value at most this (else the prior is kept, and the warning says so).
FEW_SHOT_EVIDENCE = 0.01
#: A candidate that wins moves this share of the way from the prior's parameters and launch cost to its own fit
#: on the measurements: a fit on a few entries trades the entries it was given against the others, and moving
#: half way keeps most of the gain where the evidence is clear at a quarter of the risk.
FEW_SHOT_SHRINKAGE = 0.5
# The rule was chosen on bench_few_shot's splits of seeds 0, 2, 3 and 4 (840 splits; the benchmark reports
# seed 1), for the smallest risk of doing worse than the prior on the rows a user did not give: on every split
# where the fit moved, how often it predicted a random 5 of the held-out rows worse than the prior (40 draws
# each), among rules that still move on the model-zoo ZCU104 networks at 10 shots.  Tried: shares 0.25 / 0.5 /
# 0.75 / 1 or the best of them by cross-validation, margins 0.1 / 0.2 / 0.3 on MAPE or on |log error|, sign
# test at p <= 0.01 / 0.05 / 0.1, one-standard-error preference for the stronger pull.  Half way at p <= 0.01:
# 0.7 % of those draws worse than the prior (the earlier rule, all the way at p <= 0.05: 2.9 %), mean gain over
# the sources and k 0.20 points of MAPE (0.47), the ZCU104 networks at 10 shots 3.9 points (5.8).  Also tried and
# not taken: requiring the win on 3 repeated 10-fold splits beyond 10 measurements (on those seeds it dropped 2 of
# the 3 winning moves at 20 shots, 9.4 -> 4.4 % and 28.7 -> 18.7 % on the held-out rows, and avoided no loss).
#: ``space`` of the table :func:`network_table` makes: its keys name whole networks, not units.
NETWORK_SPACE = "networks"
#: Cross-validation of a few-shot fit: leave-one-out up to this many measurements, this many folds beyond.
FEW_SHOT_FOLDS = 10
#: A few measurements cannot locate the double-buffered pipeline chunk or the h-swish cost: kept at the prior.
_FEW_SHOT_FIXED = (*JOINT_FIXED, "pipeline_chunk_fraction")


@dataclass(frozen=True)
class NetworkMeasurement:
    """One whole network timed on the board (e.g. ``xdputil benchmark``, vaitrace, a model-zoo figure).

    Parameters
    ----------
    name : str
        Unique name of the network (the key of its row).
    layers : sequence of Layer, or an object with ``layers()``
        The network as the DPU runs it (a ``SubnetConfig`` works); layers
        sharing a ``block`` are one unit.
    latency_ms : float
        Measured latency of one inference, one program launch included.
    count : int
        Number of timed runs behind ``latency_ms``.
    std_ms : float, optional
        Their standard deviation.
    """

    name: str
    layers: tuple[Layer, ...]
    latency_ms: float
    count: int = 1
    std_ms: float | None = None

    def __post_init__(self) -> None:
        try:
            layers = as_layers(self.layers)
        except TypeError:
            raise ValueError(f"NetworkMeasurement {self.name!r}: layers must be a non-empty sequence of "
                             f"accel_models.Layer or an object with layers(), got {type(self.layers).__name__}") \
                from None
        if not isinstance(self.name, str) or not self.name.strip() or "," in self.name:
            raise ValueError(f"NetworkMeasurement name must be a non-empty string without commas, got {self.name!r}")
        # numpy scalars (a mean of timed runs) are numbers like Python's: taken as such, stored as Python's
        latency_ms, count, std_ms = (python_number(v) for v in (self.latency_ms, self.count, self.std_ms))
        if isinstance(latency_ms, bool) or not isinstance(latency_ms, (int, float)) \
                or not math.isfinite(latency_ms) or latency_ms <= 0:
            raise ValueError(f"NetworkMeasurement {self.name!r}: latency_ms must be a positive number, "
                             f"got {self.latency_ms!r}")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"NetworkMeasurement {self.name!r}: count (timed runs behind latency_ms) must be a "
                             f"positive integer, got {self.count!r}")
        if std_ms is not None and (isinstance(std_ms, bool) or not isinstance(std_ms, (int, float))
                                   or not math.isfinite(std_ms) or std_ms < 0):
            raise ValueError(f"NetworkMeasurement {self.name!r}: std_ms must be a finite non-negative number or None, "
                             f"got {self.std_ms!r}")
        object.__setattr__(self, "layers", tuple(layers))
        object.__setattr__(self, "latency_ms", float(latency_ms))
        object.__setattr__(self, "count", count)
        object.__setattr__(self, "std_ms", std_ms)


def network_table(measurements: Sequence[NetworkMeasurement], accelerator: Accelerator, *,
                  name: str = "networks", board: str = "unknown") -> tuple[LatencyTable, dict[str, tuple[Layer, ...]]]:
    """Whole-network measurements as a table (one entry per network, one launch each) and their layers."""
    measurements = distinct_named(measurements, NetworkMeasurement, lambda m: m.name, "network measurements")
    meta = TableMeta(name=name, board=board, dpu_arch=f"DPUCZDX8G {accelerator.name}",
                     clock_mhz=accelerator.clock_mhz, cores=1, toolchain="unknown",
                     method="whole networks, each timed as one program (one launch per entry)", date="unknown",
                     source="user measurements", license="the user's", per_entry_invocation=True, space=NETWORK_SPACE)
    entries = [Entry(m.name, m.count, m.latency_ms, m.std_ms) for m in measurements]
    return LatencyTable.from_entries(meta, entries), {m.name: m.layers for m in measurements}


@dataclass(frozen=True)
class FewShotReport:
    """What :func:`fit_device` did and why.

    ``chosen`` names the candidate used: ``"prior"`` (the prior as it is),
    ``"prior, launch cost fitted"`` or ``"fit, prior weight W"`` (a
    few-shot fit pulled towards the prior with ``prior_weight`` W);
    ``errors`` has the cross-validated error on the measurements of every
    candidate tried (empty with fewer than two measurements); ``note``
    says it in words; ``residuals`` are the held-out errors
    ``log(measured / predicted)`` of the chosen candidate on the
    measurements (cross-validated; with one measurement, the prior's),
    which the predictor's interval is updated with
    (:func:`latency_tables.uncertainty.fitted_error_model`);
    ``evidence_p`` is the one-sided sign-test p-value that the chosen
    candidate predicts held-out measurements better than the prior (None
    when the prior is kept); ``shrinkage`` is the share of the way the
    predictor moved from the prior to the chosen candidate's fit
    (:data:`FEW_SHOT_SHRINKAGE`; 1 for a launch cost taken from a single
    measurement; None when the prior is kept).
    """

    measurements: int
    prior: str
    chosen: str
    prior_weight: float | None
    errors: Mapping[str, ErrorReport]
    note: str
    residuals: tuple[float, ...] = ()
    evidence_p: float | None = None
    shrinkage: float | None = None

    def to_dict(self) -> dict:
        """JSON-able form (see :meth:`from_dict`)."""
        return {"measurements": self.measurements, "prior": self.prior, "chosen": self.chosen,
                "prior_weight": self.prior_weight, "errors": {k: v.to_dict() for k, v in self.errors.items()},
                "note": self.note, "residuals": list(self.residuals), "evidence_p": self.evidence_p,
                "shrinkage": self.shrinkage}

    @classmethod
    def from_dict(cls, data: Mapping) -> FewShotReport:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        reject_unknown_keys(data, list(cls.__dataclass_fields__), "a few-shot report")
        errors = MappingProxyType({k: ErrorReport.from_dict(v) for k, v in data.get("errors", {}).items()})
        return cls(**{**data, "errors": errors, "residuals": tuple(float(v) for v in data.get("residuals", ()))})


def _prior_calibration(prior) -> tuple[CalibratedModel, str]:
    if isinstance(prior, str):
        return calibrated_device(prior), prior
    if isinstance(prior, HybridPredictor):
        return prior.calibrated, prior.name
    if isinstance(prior, CalibratedModel):
        # named by what it was fitted on, not as a device: its interval model is not that device's
        return prior, f"a CalibratedModel fitted on {prior.table or 'an unnamed table'}"
    raise TypeError(f"prior must be a device name, a HybridPredictor or a CalibratedModel, got {type(prior).__name__}")


def _source(measurements, accelerator: Accelerator, units, name: str) -> CalibrationSource:
    if isinstance(measurements, LatencyTable):
        return CalibrationSource(measurements, accelerator, units or {})
    if isinstance(measurements, (str, os.PathLike)):
        raise TypeError(f"fit_device takes the measurements, not a file name: pass load_table({str(measurements)!r}) "
                        "(from latency_tables) for a measured table")
    if not isinstance(measurements, Iterable):
        raise TypeError(f"fit_device takes a LatencyTable (load_table(path)) or a list of NetworkMeasurement, "
                        f"got {type(measurements).__name__}")
    if units:
        raise ValueError("units= applies to a latency table; a NetworkMeasurement carries its own layers")
    table, layers = network_table(list(measurements), accelerator, name=name or "networks")
    return CalibrationSource(table, accelerator, layers, networks=True)


def _check_board_bandwidth(meta: TableMeta, accelerator: Accelerator) -> None:
    """Warn when the table names a known board whose DDR bandwidth is not the accelerator's (timing_key differs)."""
    board_gbps = other_ddr_gbps(meta.board, accelerator.ddr_bw_gbps)
    if board_gbps is None:
        return
    warnings.warn(f"table {meta.name!r} was measured on {meta.board} (DDR {board_gbps:g} GB/s) but the accelerator "
                  f"given has {accelerator.ddr_bw_gbps:g} GB/s: the fit times memory at the wrong bandwidth, and a "
                  f"search on {meta.board} will not use these measurements; pass table_accelerator(table.meta, "
                  f"arch=..., clock_mhz=...) or Accelerator.from_dpu(..., ddr_bw_gbps={board_gbps:g})", stacklevel=3)


def _settings(kind: str, prior: CalibratedModel, weight: float) -> FitSettings:
    """``kind``: "as is" (the prior, its launch cost too), "launch" (the prior, launch cost fitted), "fitted"."""
    fitted = kind == "fitted"
    return FitSettings(JOINT_FIT_PARAMETERS if fitted else (), _FEW_SHOT_FIXED if fitted else ("buffer_fraction",),
                       JOINT_TIED if fitted else {}, prior_weight=weight, launch_prior_ms=prior.invocation_ms,
                       fit_launch=kind != "as is", tolerance=1e-6)


def _toward(prior: Fit, fit: Fit, share: float) -> Fit:
    """``share`` of the way from ``prior`` to ``fit``, every parameter and launch cost (0: the prior, 1: the fit)."""
    start, end = prior.params.to_dict(), fit.params.to_dict()
    params = RooflineParams.from_dict({k: start[k] + share * (end[k] - start[k]) for k in start})
    launch = {k: prior.invocation_ms[k] + share * (v - prior.invocation_ms[k]) for k, v in fit.invocation_ms.items()}
    return Fit(params, MappingProxyType(launch), fit.method)


def _cross_validated(problem: CalibrationProblem, prior: CalibrationProblem, folds: int, seed: int,
                     share: float) -> np.ndarray:
    """Every measurement predicted by the candidate fitted on the others and moved ``share`` of the way."""
    launch = {problem.names[0]: held_out_launch_ms(problem.sources[0])}
    return problem.cross_validate(folds, seed, launch,
                                  adjust=lambda train, fit: _toward(prior.fit(train, seed), fit, share))[0]


def _log_error(predicted: np.ndarray, measured: np.ndarray) -> np.ndarray:
    return np.abs(np.log(predicted / measured))


def _sign_test_p(predicted: np.ndarray, prior: np.ndarray, measured: np.ndarray) -> float:
    """One-sided sign-test p-value that ``predicted`` is closer (log error) than ``prior`` on more measurements."""
    from scipy.stats import binomtest

    wins = int(np.sum(_log_error(predicted, measured) < _log_error(prior, measured)))
    return float(binomtest(wins, len(measured), 0.5, alternative="greater").pvalue)


@dataclass(frozen=True)
class _Choice:
    chosen: str
    evidence_p: float | None  # the chosen candidate's; None for the prior
    why: str


def _choose(errors: Mapping[str, ErrorReport], predicted: Mapping[str, np.ndarray], measured: np.ndarray,
            significance: float, prior_name: str) -> _Choice:
    """The candidate to use: the lowest cross-validated log error among those the evidence supports, else the prior.

    ``predicted`` holds each candidate's held-out predictions as it would
    be used (moved :data:`FEW_SHOT_SHRINKAGE` of the way from the prior).
    A candidate replaces the prior only when its cross-validated mean
    ``|log(measured / predicted)|`` is :data:`FEW_SHOT_MARGIN` below the
    prior's **and** it predicts more held-out measurements better than the
    prior than chance would (sign test p <= ``significance``); ties: the
    earlier, closer to the prior.  With one measurement nothing can be
    checked: the prior with its launch cost from the measurement.
    """
    if not errors:
        return _Choice("prior, launch cost fitted", None, "too few to check a fit, so the prior is used with its "
                       "launch cost taken from the measurement")
    log_error = {kind: float(np.mean(_log_error(values, measured))) for kind, values in predicted.items()}
    better = [kind for kind in errors if kind != "prior"
              and log_error[kind] < (1.0 - FEW_SHOT_MARGIN) * log_error["prior"]]
    p = {kind: _sign_test_p(predicted[kind], predicted["prior"], measured) for kind in better}
    supported = [kind for kind in better if p[kind] <= significance]
    if supported:
        best = min(supported, key=lambda kind: log_error[kind])
        return _Choice(best, p[best], f"{best!r} is used, {FEW_SHOT_SHRINKAGE:g} of the way from the prior to its "
                       f"fit: {100 * FEW_SHOT_MARGIN:.0f} % better than the prior on held-out measurements "
                       "(log error), on more of them than chance would give (sign test p = "
                       f"{p[best]:.2g} <= {significance:g})")
    if better:
        best = min(better, key=lambda kind: log_error[kind])
        return _Choice("prior", None, f"{best!r} predicts held-out measurements better on average, but on too few "
                       f"of them to rule out chance (sign test p = {p[best]:.2g} > {significance:g}), so the prior "
                       f"{prior_name!r} is kept; measure more units to let the fit move it")
    fewer = f"; fewer than {FEW_SHOT_MIN_FIT} measurements fit no model parameters" \
        if len(measured) < FEW_SHOT_MIN_FIT else ""
    return _Choice("prior", None, f"nothing predicts held-out measurements {100 * FEW_SHOT_MARGIN:.0f} % better than "
                   f"the prior {prior_name!r} (log error), so it is kept{fewer}")


def _note(n: int, errors: Mapping[str, ErrorReport], choice: _Choice) -> str:
    """What :func:`fit_device` did and why, in words."""
    if not errors:
        return f"{n} measurement: {choice.why}"
    tried = ", ".join(f"{kind} {e.mape_pct:.1f} %" for kind, e in errors.items())
    return f"{n} measurements, cross-validated MAPE: {tried}: {choice.why}"


def fit_device(measurements: LatencyTable | Sequence[NetworkMeasurement], accelerator: Accelerator,
               prior: str | HybridPredictor | CalibratedModel = "dpuczdx8g-joint", *, name: str = "",
               units=None, seed: int = 0, prior_weights: Sequence[float] = FEW_SHOT_PRIOR_WEIGHTS,
               significance: float = FEW_SHOT_EVIDENCE) -> HybridPredictor:
    """A latency predictor for the user's board: the prior updated by a few measurements.

    Parameters
    ----------
    measurements : LatencyTable or sequence of NetworkMeasurement
        Per-unit measurements (e.g. ``load_table("my_board.csv")``) or whole
        networks timed on the board.
    accelerator : Accelerator
        The single-core accelerator they were measured on (e.g.
        ``Accelerator.from_dpu("B1600", clock_mhz=300)``, or
        :func:`latency_tables.table_accelerator` of the table's metadata).
    prior : str, HybridPredictor or CalibratedModel
        The calibration to start from (default: the shipped joint
        calibration).
    name : str
        Device name for reports (default: the table's name).
    units : mapping, optional
        ``key -> layers`` for table keys whose layers differ from what the
        key implies (as for :func:`latency_tables.calibrate`).
    seed : int
        Seeds the cross-validation split and the optimiser's extra starts.
    prior_weights : sequence of float
        Strengths of the pull towards the prior to try (see
        :data:`FEW_SHOT_PRIOR_WEIGHTS`).
    significance : float
        Sign-test p-value a candidate must reach to replace the prior
        (:data:`FEW_SHOT_EVIDENCE`; 1 takes the best cross-validated
        candidate whatever the evidence).

    Returns
    -------
    HybridPredictor
        Measured entries where the table has them (never for whole
        networks), the updated model elsewhere; its ``few_shot``
        (:class:`FewShotReport`) and ``calibrated.method["few_shot"]`` say
        what was chosen and why.

    Warns
    -----
    BoardMismatchWarning
        When the board a table names cannot hold ``accelerator``, unless it
        is what :func:`latency_tables.table_accelerator` (or
        ``dpu_on_board``) built on that board: they said so as they built it.

    Examples
    --------
    >>> from latency_tables import get_source
    >>> ultra96 = get_source("ultra96v2-b2304")
    >>> shots = ultra96.table.subset(ultra96.table.keys()[:6])
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     predictor = fit_device(shots, ultra96.accelerator, units=ultra96.units)
    >>> predictor.few_shot.measurements, predictor.few_shot.chosen  # six blocks do not beat the joint prior
    (6, 'prior')
    >>> "so it is kept" in str(caught[-1].message)
    True
    """
    if not isinstance(accelerator, Accelerator):
        raise ValueError(f"fit_device needs the Accelerator the measurements were taken on, "
                         f"got {type(accelerator).__name__}")
    if isinstance(measurements, LatencyTable):
        _check_board_bandwidth(measurements.meta, accelerator)
        if not built_on_board(accelerator, measurements.meta.board):  # else table_accelerator has said it
            warn_if_unbuildable(accelerator, measurements.meta.board)
    prior_calibration, prior_name = _prior_calibration(prior)
    if accelerator.is_dpuczdx8g and not prior_calibration.accelerator.is_dpuczdx8g:
        raise ValueError(f"prior {prior_name!r} is not a DPU calibration (it was fitted on "
                         f"{prior_calibration.accelerator.label}): measurements on {accelerator.label} update a DPU "
                         "prior, 'dpuczdx8g-joint' (the default) or 'ultra96v2-b2304'")
    weights = tuple(float(w) for w in prior_weights)
    if not weights or not all(math.isfinite(w) and w > 0 for w in weights):
        raise ValueError(f"prior_weights must be positive numbers, got {list(prior_weights)!r}")
    if isinstance(significance, bool) or not isinstance(significance, (int, float)) or not 0 < significance <= 1:
        raise ValueError(f"significance must be a p-value in (0, 1], got {significance!r}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {type(seed).__name__} {seed!r}")
    source = _source(measurements, accelerator, units, name)
    model = RooflineModel(prior_calibration.model.params)
    candidates = {"prior": CalibrationProblem(model, [source], _settings("as is", prior_calibration, 1.0)),
                  "prior, launch cost fitted": CalibrationProblem(model, [source],
                                                                  _settings("launch", prior_calibration, 1.0))}
    n = candidates["prior"].sizes()[0]
    if n >= FEW_SHOT_MIN_FIT:
        candidates.update({f"fit, prior weight {w:g}": CalibrationProblem(model, [source],
                                                                          _settings("fitted", prior_calibration, w))
                           for w in sorted(weights, reverse=True)})
    as_is = candidates["prior"]
    measured = as_is.data[0].measured
    predicted: dict[str, np.ndarray] = {}
    if n >= 2:
        folds = n if n <= FEW_SHOT_FOLDS else FEW_SHOT_FOLDS
        predicted = {kind: _cross_validated(problem, as_is, folds, seed, FEW_SHOT_SHRINKAGE)
                     for kind, problem in candidates.items()}
    errors = {kind: candidates[kind].report(0, values) for kind, values in predicted.items()}
    choice = _choose(errors, predicted, measured, significance, prior_name)
    chosen, note = choice.chosen, _note(n, errors, choice)
    if choice.evidence_p is None:
        warnings.warn(f"fit_device: {note}", stacklevel=2)
    problem = candidates[chosen]
    # a single measurement is the launch cost itself (nothing to check a share against); the prior moves nowhere
    share = 1.0 if not errors else None if chosen == "prior" else FEW_SHOT_SHRINKAGE
    prior_fit = as_is.fit(as_is.everything(), seed)
    fit = _toward(prior_fit, problem.fit(problem.everything(), seed), share or 0.0)
    if chosen not in predicted:  # a single measurement, held out of nothing: the prior's error on it
        predicted[chosen] = as_is.predict(0, prior_fit.params, as_is.launch_ms(0, prior_fit))
    weight = problem.settings.prior_weight if chosen.startswith("fit") else None
    residuals = tuple(float(v) for v in np.log(measured / predicted[chosen]))
    report = FewShotReport(n, prior_name, chosen, weight, MappingProxyType(errors), note, residuals,
                           choice.evidence_p, share)
    method = {"buffer_fraction": fit.method["buffer_fraction"],
              "invocation_ms": fit.method[f"invocation_ms[{source.name}]"],
              "few_shot": note, "prior": prior_name}
    calibrated = calibrated_model(problem, 0, fit, cross_validated=errors.get(chosen),
                                  method=MappingProxyType(method))
    return HybridPredictor(source.table, calibrated, name=name or source.name, few_shot=report)
