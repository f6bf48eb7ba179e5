"""One set of physical DPU parameters fitted on several devices at once, and how well it transfers.

:func:`calibrate` fits the analytical model to one table; parameters fitted
on the Ultra96-V2 blocks alone transfer badly to a ZCU102 (55 % MAPE on its
per-layer profiles, ``benchmarks/bench_calibration.py``): small blocks
cannot tell compute efficiency from unhidden DDR time or weight loads from
feature-map moves.  :func:`calibrate_joint` fits one parameter set on
several :class:`~latency_tables.CalibrationSource` s, with device-specific
quantities only where physics puts them:

* shared: engine efficiencies, h-swish passes, DDR efficiency, per-layer
  setup cycles, overlap, the pipeline chunk (in activation buffers) and the
  on-chip buffer fraction (step 1 of :func:`calibrate`, on every source's
  ``mem_io_mb``);
* per device, from the accelerator: clock, PE array, buffer sizes, DDR peak
  (``Accelerator.ddr_bw_gbps``, the board's);
* per source: the program launch cost of tables timed one program per entry
  (host CPU and runtime), from that table's profiler busy time (or fitted).

By default weights and feature maps share one DDR efficiency
(:data:`JOINT_TIED`): the highest rates either reaches are the same
fraction of peak on both boards (Ultra96-V2 classifier weights and ZCU102
pointwise feature maps and fc weights all stream at 22-27 % of peak), and
a separate weight rate is what lets one device's fit trade it against
compute efficiency.  An h-swish costs 3 element-wise passes
(:data:`JOINT_FIXED`: ``relu6(x + 3)``, the scaling, the product): fitted
freely it drifts to 11 passes against a faster element-wise engine, and
transfers worse.  Both choices were made on leave-one-device-out error
(``benchmarks/bench_transfer.py`` prints the alternatives), never on the
whole-network validation.  Every source counts its ``weight`` in total,
whatever its number of entries.

:func:`leave_one_device_out` fits on all devices but one and predicts it;
``calibrate_joint(..., folds=k)`` cross-validates within every source.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from accel_models import RooflineModel, RooflineParams
from accel_models.roofline import PARAMETER_INFO

from .calibration import (
    _INVOCATION_INFO,
    _LOSS_SCALE,
    _PRIOR_WEIGHT,
    _STARTS,
    FIT_PARAMETERS,
    CalibratedModel,
    _Fit,
    _fit_buffer_fraction,
    _folds,
    _Problem,
    profiler_launch_ms,
)
from .metrics import ErrorReport, error_report
from .sources import CalibrationSource

__all__ = ["JOINT_FIT_PARAMETERS", "JOINT_FIXED", "JOINT_TIED", "JointCalibration", "TransferReport",
           "calibrate_joint", "held_out_launch_ms", "leave_one_device_out"]

#: Parameters :func:`calibrate_joint` fits (``buffer_fraction`` comes from traffic, as in :func:`calibrate`).
JOINT_FIT_PARAMETERS = (*FIT_PARAMETERS, "pipeline_chunk_fraction")
#: Parameters held at the model's values by default (the model's default ``hswish_passes`` is 3).
JOINT_FIXED = ("hswish_passes",)
#: Parameters set equal to another instead of fitted: ``{follower: leader}``.
JOINT_TIED: Mapping[str, str] = MappingProxyType({"weight_bw_efficiency": "bw_efficiency"})
# The chunk's loss is flat wherever no layer spans more than one chunk (e.g. at the
# default 1e4 buffers), so the fit also starts from chunks of about one buffer.
_CHUNK_STARTS = (0.5, 1.0, 2.0)
_LOG_PARAMETERS = frozenset({"pipeline_chunk_fraction"})
# 1e-6 relative: a sixth of the optimiser's work of scipy's 1e-8, the same fit to 3 digits
_TOLERANCE = 1e-6


@dataclass(frozen=True)
class _JointFit:
    params: RooflineParams
    invocation_ms: Mapping[str, float]
    method: Mapping[str, str]


class _JointProblem:
    """Several sources, precomputed; ``fit`` takes the entries to use per source."""

    def __init__(self, model: RooflineModel, sources: Sequence[CalibrationSource], fixed: Sequence[str],
                 tied: Mapping[str, str]):
        sources = tuple(sources)
        if not sources or not all(isinstance(s, CalibrationSource) for s in sources):
            raise ValueError("calibrate_joint needs a non-empty sequence of CalibrationSource objects")
        names = [s.name for s in sources]
        if len(set(names)) != len(names):
            raise ValueError(f"calibration sources must have distinct table names, got {names}")
        if not any(s.weight > 0 for s in sources):
            raise ValueError("every source has weight 0: nothing to fit on")
        allowed = (*JOINT_FIT_PARAMETERS, "buffer_fraction")
        unknown = sorted(set(fixed) - set(allowed))
        if unknown:
            raise ValueError(f"cannot fix unknown parameter(s) {unknown}; allowed: {list(allowed)}")
        tied = dict(tied)
        bad = sorted(f"{a}->{b}" for a, b in tied.items()
                     if a not in JOINT_FIT_PARAMETERS or b not in JOINT_FIT_PARAMETERS or b in tied or a == b)
        if bad:
            raise ValueError(f"invalid tied parameter(s) {bad}: both must be among {list(JOINT_FIT_PARAMETERS)}, "
                             "and a leader cannot itself follow another")
        self.model, self.sources, self.fixed, self.tied = model, sources, frozenset(fixed), tied
        self.problems = [_Problem(model, s.table, s.accelerator, s.units) for s in sources]
        self.names = tuple(names)

    def fit(self, idxs: Sequence[np.ndarray], seed: int) -> _JointFit:
        """Fit on entries ``idxs[i]`` of source ``i`` (sources of weight 0, or with no entries, are skipped)."""
        used = [i for i, (s, idx) in enumerate(zip(self.sources, idxs)) if s.weight > 0 and len(idx)]
        if not used:
            raise ValueError("no entries to fit on")
        prior = self.model.params
        if "buffer_fraction" in self.fixed:
            fraction, buffer_method = prior.buffer_fraction, "fixed by the caller"
        else:
            fraction, buffer_method = _fit_buffer_fraction([(self.problems[i], idxs[i]) for i in used],
                                                           prior.buffer_fraction)
        invocation, inv_method, to_fit = {}, {}, []
        for i in used:
            invocation[i], inv_method[i], fit_inv = self.problems[i].launch_cost(np.asarray(idxs[i]))
            if fit_inv:
                to_fit.append(i)
        names = [n for n in JOINT_FIT_PARAMETERS if n not in self.fixed and n not in self.tied]
        logs = np.array([n in _LOG_PARAMETERS for n in names] + [False] * len(to_fit))

        def encode(values: np.ndarray) -> np.ndarray:
            out = np.array(values, dtype=float)
            out[logs] = np.log(out[logs])
            return out

        def decode(z: np.ndarray) -> np.ndarray:
            out = np.array(z, dtype=float)
            out[logs] = np.exp(out[logs])
            return out

        x0 = np.array([getattr(prior, n) for n in names]
                      + [0.5 * self.problems[i].measured[idxs[i]].min() for i in to_fit])
        lo = np.array([PARAMETER_INFO[n]["low"] for n in names] + [0.0] * len(to_fit))
        hi = np.array([PARAMETER_INFO[n]["high"] for n in names]
                      + [self.problems[i].measured[idxs[i]].min() for i in to_fit])
        lo, hi, z0 = encode(lo), encode(hi), encode(x0)
        scale = np.where(logs, 1.0, np.maximum(np.abs(x0), 0.05 * (hi - lo)))
        # the weak pull towards the prior keeps parameters the data cannot inform physical; a
        # log-scaled parameter's prior (the chunk's default switches the pipeline off) is no estimate
        pull = np.where(logs[:len(names)], 0.0, _PRIOR_WEIGHT / scale[:len(names)])
        base = prior.replace(buffer_fraction=fraction).to_dict()
        n_params = len(names)
        total = sum(len(idxs[i]) for i in used)
        weight_sum = sum(self.sources[i].weight for i in used)
        # every source weighs its share in total, on the scale of a single-table fit of all the entries
        factors = {i: np.sqrt(self.sources[i].weight * total / (weight_sum * len(idxs[i]))) for i in used}
        measured = {i: np.log(self.problems[i].measured[idxs[i]]) for i in used}

        def unpack(z):
            x = decode(z)
            values = {**base, **dict(zip(names, x[:n_params]))}
            values.update({follower: values[leader] for follower, leader in self.tied.items()})
            inv = dict(invocation)
            inv.update(zip(to_fit, x[n_params:]))
            return RooflineParams.from_dict(values), inv

        def residuals(z):
            params, inv = unpack(z)
            parts = []
            for i in used:
                problem = self.problems[i]
                predicted = problem.unit_ms(params)[idxs[i]] + (inv[i] if problem.per_entry else 0.0)
                r = np.log(predicted) - measured[i]
                # soft-L1 (as calibrate) applied here, so that each source can carry its own weight
                robust = np.sign(r) * _LOSS_SCALE * np.sqrt(2.0 * (np.sqrt(1.0 + (r / _LOSS_SCALE) ** 2) - 1.0))
                parts.append(factors[i] * robust)
            parts.append(pull * (z[:n_params] - z0[:n_params]))
            return np.concatenate(parts)

        from scipy.optimize import least_squares

        rng = np.random.default_rng(seed)
        chunk = names.index("pipeline_chunk_fraction") if "pipeline_chunk_fraction" in names else None
        starts = [z0]
        for value in _CHUNK_STARTS if chunk is not None else ():
            starts.append(z0.copy())
            starts[-1][chunk] = np.log(value)
        for _ in range(_STARTS - 1):
            starts.append(encode(x0 * np.exp(rng.normal(0.0, 0.5, len(x0)))))
            if chunk is not None:
                starts[-1][chunk] = np.log(_CHUNK_STARTS[1]) + rng.normal(0.0, 0.5)
        best = None
        for z in starts:
            z = np.clip(z, lo + 1e-9 * (hi - lo), hi - 1e-9 * (hi - lo))
            sol = least_squares(residuals, z, bounds=(lo, hi), x_scale=scale, ftol=_TOLERANCE, xtol=_TOLERANCE)
            if best is None or sol.cost < best.cost:
                best = sol
        params, inv = unpack(best.x)
        method = {"buffer_fraction": buffer_method,
                  "fitted_on": ", ".join(self.names[i] for i in used),
                  **{f"invocation_ms[{self.names[i]}]": inv_method[i] for i in used},
                  **{f"{follower}": f"tied to {leader}" for follower, leader in self.tied.items()}}
        return _JointFit(params, MappingProxyType({self.names[i]: float(inv[i]) for i in used}),
                         MappingProxyType(method))

    def predict(self, i: int, params: RooflineParams, invocation_ms: float) -> np.ndarray:
        """Every entry of source ``i`` as measured (with its launch cost where entries include one)."""
        problem = self.problems[i]
        return problem.unit_ms(params) + (invocation_ms if problem.per_entry else 0.0)

    def report(self, i: int, predicted: np.ndarray) -> ErrorReport:
        problem = self.problems[i]
        return error_report(predicted, problem.measured, problem.keys)

    def held_out_launch_cost(self, i: int) -> float:
        return held_out_launch_ms(self.sources[i])


def held_out_launch_ms(source: CalibrationSource) -> float:
    """The launch cost a source left out of a fit gets: its own profiler's (0 without one).

    A device keeps its launch cost (host CPU and runtime) when its DPU
    parameters are predicted from other devices; the profiler's busy time
    gives it without using the latencies to be predicted.
    """
    if not source.table.meta.per_entry_invocation:
        return 0.0
    value = profiler_launch_ms(source.table)
    return 0.0 if value is None else value


# ------------------------------------------------------------------ results
def _described(params: RooflineParams, tied: Mapping[str, str]) -> Mapping[str, Mapping]:
    out = {}
    for name, info in params.describe().items():
        if name in tied:
            info = {**info, "meaning": f"{info['meaning']} (tied to {tied[name]})"}
        out[name] = MappingProxyType(info)
    return MappingProxyType(out)


@dataclass(frozen=True, eq=False)
class JointCalibration:
    """One :class:`accel_models.RooflineModel` fitted on several sources (see :func:`calibrate_joint`).

    Attributes
    ----------
    model : RooflineModel
        The shared fitted parameters.
    sources : tuple of CalibrationSource
        Every source given (weight-0 sources were only evaluated).
    invocation_ms : mapping
        Launch cost per source name (0 for tables timed inside a program;
        for weight-0 sources, their profiler's estimate or 0).
    parameters : mapping
        ``name -> {value, unit, meaning}`` of every shared parameter.
    in_sample, cross_validated : mapping
        Per source name: error on all its entries with the joint fit, and
        k-fold cross-validated error (each fold holds out 1/k of every
        source; None when ``folds=0``).
    traffic : mapping
        Per source name: modelled vs measured DDR traffic, where reported.
    method : mapping
        How the buffer fraction and launch costs were determined, which
        sources were fitted, and which parameters are tied.
    """

    model: RooflineModel
    sources: tuple[CalibrationSource, ...]
    invocation_ms: Mapping[str, float]
    parameters: Mapping[str, Mapping]
    in_sample: Mapping[str, ErrorReport]
    cross_validated: Mapping[str, ErrorReport] | None
    traffic: Mapping[str, ErrorReport | None]
    method: Mapping[str, str]

    def source(self, name: str) -> CalibrationSource:
        for source in self.sources:
            if source.name == name:
                return source
        raise KeyError(f"no source {name!r} in this calibration; sources: {[s.name for s in self.sources]}")

    def calibrated(self, name: str) -> CalibratedModel:
        """The joint parameters as a :class:`CalibratedModel` for source ``name``'s accelerator and launch cost.

        Its error reports are that source's; ``for_accelerator`` transfers it
        like any calibration.
        """
        source = self.source(name)
        invocation = float(self.invocation_ms[name])
        parameters = dict(self.parameters)
        parameters["invocation_ms"] = MappingProxyType({"value": invocation, **_INVOCATION_INFO})
        cross = None if self.cross_validated is None else self.cross_validated[name]
        return CalibratedModel(model=self.model, accelerator=source.accelerator, invocation_ms=invocation,
                               per_entry_invocation=source.table.meta.per_entry_invocation,
                               parameters=MappingProxyType(parameters), in_sample=self.in_sample[name],
                               cross_validated=cross, traffic=self.traffic[name], table=name,
                               method=MappingProxyType({**self.method, "joint": "calibrate_joint"}))

    def summary(self) -> str:
        """A few lines for humans: the shared parameters and each source's errors."""
        lines = [f"joint calibration on {', '.join(s.name for s in self.sources if s.weight > 0)}"]
        for name, info in self.parameters.items():
            lines.append(f"  {name:24s} {info['value']:>12.4g} {info['unit']:8s} {info['meaning']}")
        for source in self.sources:
            role = "fitted" if source.weight > 0 else "validation only"
            lines.append(f"  {source.name} ({source.device}, {role}, launch {self.invocation_ms[source.name]:.4f} ms)")
            lines.append(f"    in-sample:       {self.in_sample[source.name]}")
            if self.cross_validated is not None:
                lines.append(f"    cross-validated: {self.cross_validated[source.name]}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-able figures (parameters, launch costs, errors, method)."""
        def reports(mapping):
            return None if mapping is None else {k: None if v is None else v.to_dict() for k, v in mapping.items()}

        return {"parameters": {k: dict(v) for k, v in self.parameters.items()},
                "invocation_ms": dict(self.invocation_ms),
                "sources": {s.name: {"device": s.device, "weight": s.weight, "accelerator": s.accelerator.to_dict()}
                            for s in self.sources},
                "in_sample": reports(self.in_sample), "cross_validated": reports(self.cross_validated),
                "traffic": reports(self.traffic), "method": dict(self.method)}


def calibrate_joint(model: RooflineModel, sources: Sequence[CalibrationSource], *, folds: int = 5, seed: int = 0,
                    fixed: Sequence[str] = JOINT_FIXED, tied: Mapping[str, str] = JOINT_TIED) -> JointCalibration:
    """Fit one set of ``model``'s parameters to several measured sources at once.

    Parameters
    ----------
    model : RooflineModel
        Its parameters are the starting point and the weak prior (as in
        :func:`calibrate`).
    sources : sequence of CalibrationSource
        Tables with the accelerators they were measured on, e.g.
        ``[get_source("ultra96v2-b2304"), get_source("zcu102-b4096-layer-profiles")]``.
    folds : int
        k of the cross-validation within every source (0 skips it).
    seed : int
        Seeds the fold split and the optimiser's extra starting points.
    fixed : sequence of str
        Parameters held at ``model``'s values (any of
        :data:`JOINT_FIT_PARAMETERS` and ``"buffer_fraction"``; default
        :data:`JOINT_FIXED`, ``()`` fits them all).
    tied : mapping
        ``{follower: leader}``: parameters set equal to another instead of
        fitted (default :data:`JOINT_TIED`; ``{}`` fits all separately).

    Returns
    -------
    JointCalibration

    Examples
    --------
    >>> from latency_tables import get_source
    >>> joint = calibrate_joint(RooflineModel(), [get_source("ultra96v2-b2304"),
    ...                                           get_source("zcu102-b4096-layer-profiles")], folds=0)
    >>> sorted(joint.in_sample)
    ['ultra96v2-b2304', 'zcu102-b4096-layer-profiles']
    >>> joint.calibrated("ultra96v2-b2304").accelerator.name
    'B2304'
    """
    if int(folds) != folds or folds < 0 or folds == 1:
        raise ValueError(f"folds must be 0 (no cross-validation) or an integer >= 2, got {folds!r}")
    problem = _JointProblem(model, sources, fixed, tied)
    sizes = [len(p.keys) for p in problem.problems]
    too_small = [n for n, size, s in zip(problem.names, sizes, problem.sources) if s.weight > 0 and folds > size]
    if too_small:
        raise ValueError(f"folds={folds} exceeds the entries of source(s) {too_small}")
    fit = problem.fit([np.arange(n) for n in sizes], seed)
    invocation = {name: fit.invocation_ms.get(name, problem.held_out_launch_cost(i))
                  for i, name in enumerate(problem.names)}
    predicted = [problem.predict(i, fit.params, invocation[name]) for i, name in enumerate(problem.names)]
    in_sample = {name: problem.report(i, predicted[i]) for i, name in enumerate(problem.names)}
    cross = None
    if folds:
        splits = [_folds(n, folds, seed) for n in sizes]
        held_pred = [np.empty(n) for n in sizes]
        for k in range(folds):
            train = [np.setdiff1d(np.arange(n), split[k]) for n, split in zip(sizes, splits)]
            fold_fit = problem.fit(train, seed)
            for i, name in enumerate(problem.names):
                inv = fold_fit.invocation_ms.get(name, invocation[name])
                held_pred[i][splits[i][k]] = problem.predict(i, fold_fit.params, inv)[splits[i][k]]
        cross = MappingProxyType({name: problem.report(i, held_pred[i]) for i, name in enumerate(problem.names)})
    traffic = {}
    for i, name in enumerate(problem.names):
        single = problem.problems[i]
        traffic[name] = single.traffic_report(_as_single_fit(fit, invocation[name]))
    return JointCalibration(model=RooflineModel(fit.params), sources=problem.sources,
                            invocation_ms=MappingProxyType(invocation), parameters=_described(fit.params, problem.tied),
                            in_sample=MappingProxyType(in_sample), cross_validated=cross,
                            traffic=MappingProxyType(traffic), method=fit.method)


def _as_single_fit(fit: _JointFit, invocation_ms: float) -> _Fit:
    return _Fit(fit.params, invocation_ms, fit.method)


@dataclass(frozen=True)
class TransferReport:
    """Errors on devices left out of the fit (see :func:`leave_one_device_out`).

    ``held_out[source]`` is the error on a source predicted by the fit on
    every other device; ``parameters[device]`` the parameters that fit
    found; ``predicted_ms[source]`` maps each key to its prediction (as
    measured, launch cost included where entries include one).
    """

    held_out: Mapping[str, ErrorReport]
    parameters: Mapping[str, Mapping[str, float]]
    predicted_ms: Mapping[str, Mapping[str, float]]
    devices: Mapping[str, str]

    def to_dict(self) -> dict:
        return {"held_out": {k: v.to_dict() for k, v in self.held_out.items()},
                "parameters": {k: dict(v) for k, v in self.parameters.items()},
                "devices": dict(self.devices)}


def leave_one_device_out(model: RooflineModel, sources: Sequence[CalibrationSource], *, seed: int = 0,
                         fixed: Sequence[str] = JOINT_FIXED, tied: Mapping[str, str] = JOINT_TIED) -> TransferReport:
    """For each device, fit on the sources of all other devices and predict this one's.

    A held-out source with per-entry launches gets its own profiler's launch
    cost (a property of its host and runtime, not of the DPU parameters
    being tested), or none when the profiler gives no busy time.
    Weight-0 sources are predicted but never fitted.
    """
    problem = _JointProblem(model, sources, fixed, tied)
    devices = sorted({s.device for s in problem.sources})
    if len(devices) < 2:
        raise ValueError(f"leave-one-device-out needs sources of at least two devices, got {devices}")
    held, params, predicted = {}, {}, {}
    for device in devices:
        idxs = [np.arange(len(p.keys)) if s.device != device else np.arange(0)
                for s, p in zip(problem.sources, problem.problems)]
        if not any(s.weight > 0 and len(idx) for s, idx in zip(problem.sources, idxs)):
            continue  # nothing of the other devices to fit on
        fit = problem.fit(idxs, seed)
        params[device] = MappingProxyType(fit.params.to_dict())
        for i, source in enumerate(problem.sources):
            if source.device != device:
                continue
            values = problem.predict(i, fit.params, problem.held_out_launch_cost(i))
            held[source.name] = problem.report(i, values)
            predicted[source.name] = MappingProxyType(dict(zip(problem.problems[i].keys, values.tolist())))
    return TransferReport(held_out=MappingProxyType(held), parameters=MappingProxyType(params),
                          predicted_ms=MappingProxyType(predicted),
                          devices=MappingProxyType({s.name: s.device for s in problem.sources}))
