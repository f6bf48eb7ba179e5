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

from accel_models import RooflineModel

from .calibration import FIT_PARAMETERS, CalibratedModel, describe_parameters
from .fitting import CalibrationProblem, FitSettings, held_out_launch_ms
from .metrics import ErrorReport
from .sources import CalibrationSource

__all__ = ["JOINT_FIT_PARAMETERS", "JOINT_FIXED", "JOINT_TIED", "JointCalibration", "TransferReport",
           "calibrate_joint", "held_out_launch_ms", "joint_settings", "leave_one_device_out"]

#: Parameters :func:`calibrate_joint` fits (``buffer_fraction`` comes from traffic, as in :func:`calibrate`).
JOINT_FIT_PARAMETERS = (*FIT_PARAMETERS, "pipeline_chunk_fraction")
#: Parameters held at the model's values by default (the model's default ``hswish_passes`` is 3).
JOINT_FIXED = ("hswish_passes",)
#: Parameters set equal to another instead of fitted: ``{follower: leader}``.
JOINT_TIED: Mapping[str, str] = MappingProxyType({"weight_bw_efficiency": "bw_efficiency"})
# 1e-6 relative: a sixth of the optimiser's work of scipy's 1e-8, the same fit to 3 digits
_TOLERANCE = 1e-6


def joint_settings(fixed: Sequence[str] = JOINT_FIXED, tied: Mapping[str, str] = JOINT_TIED) -> FitSettings:
    """The :class:`~latency_tables.fitting.FitSettings` of a joint fit."""
    return FitSettings(JOINT_FIT_PARAMETERS, tuple(fixed), dict(tied), tolerance=_TOLERANCE)


# ------------------------------------------------------------------ results
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
        """The source named ``name`` (KeyError naming the known ones)."""
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
        parameters["invocation_ms"] = describe_parameters(self.model.params, invocation)["invocation_ms"]
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
    settings = joint_settings(fixed, tied)
    problem = CalibrationProblem(model, sources, settings)
    sizes = problem.sizes()
    too_small = [n for n, size, s in zip(problem.names, sizes, problem.sources, strict=True)
                 if s.weight > 0 and folds > size]
    if too_small:
        raise ValueError(f"folds={folds} exceeds the entries of source(s) {too_small}")
    fit = problem.fit(problem.everything(), seed)
    invocation = {name: problem.launch_ms(i, fit) for i, name in enumerate(problem.names)}
    predicted = [problem.predict(i, fit.params, invocation[name]) for i, name in enumerate(problem.names)]
    in_sample = {name: problem.report(i, predicted[i]) for i, name in enumerate(problem.names)}
    cross = None
    if folds:
        held = problem.cross_validate(folds, seed, invocation)
        cross = MappingProxyType({name: problem.report(i, held[i]) for i, name in enumerate(problem.names)})
    traffic = {name: problem.traffic_report(i, fit.params) for i, name in enumerate(problem.names)}
    return JointCalibration(model=RooflineModel(fit.params), sources=problem.sources,
                            invocation_ms=MappingProxyType(invocation),
                            parameters=describe_parameters(fit.params, tied=settings.tied),
                            in_sample=MappingProxyType(in_sample), cross_validated=cross,
                            traffic=MappingProxyType(traffic), method=fit.method)


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
        """JSON-able form (without the per-key predictions)."""
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
    problem = CalibrationProblem(model, sources, joint_settings(fixed, tied))
    devices = sorted({s.device for s in problem.sources})
    if len(devices) < 2:
        raise ValueError(f"leave-one-device-out needs sources of at least two devices, got {devices}")
    held, params, predicted = {}, {}, {}
    for device in devices:
        idxs = [np.arange(n) if s.device != device else np.arange(0)
                for s, n in zip(problem.sources, problem.sizes(), strict=True)]
        if not any(s.weight > 0 and len(idx) for s, idx in zip(problem.sources, idxs, strict=True)):
            continue  # nothing of the other devices to fit on
        fit = problem.fit(idxs, seed)
        params[device] = MappingProxyType(fit.params.to_dict())
        for i, source in enumerate(problem.sources):
            if source.device != device:
                continue
            values = problem.predict(i, fit.params, held_out_launch_ms(source))
            held[source.name] = problem.report(i, values)
            predicted[source.name] = MappingProxyType(dict(zip(problem.data[i].keys, values.tolist(), strict=True)))
    return TransferReport(held_out=MappingProxyType(held), parameters=MappingProxyType(params),
                          predicted_ms=MappingProxyType(predicted),
                          devices=MappingProxyType({s.name: s.device for s in problem.sources}))
