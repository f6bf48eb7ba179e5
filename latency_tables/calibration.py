"""Calibrate the analytical DPU model on one measured table, and say how good it is.

:func:`calibrate` fits the free parameters of an
:class:`accel_models.RooflineModel` to a :class:`LatencyTable` measured on one
accelerator: a fit of the calibration engine (:mod:`latency_tables.fitting`:
buffer fraction from traffic, launch cost from the profiler, the rest by
robust least squares with a weak pull towards the prior) over that one
source.  :func:`latency_tables.calibrate_joint` is the same fit over several.

Errors are reported in-sample and k-fold cross-validated; :func:`holdout_errors`
evaluates any leave-group-out split (e.g. :func:`kernel_group`,
:func:`stage_group`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from accel_models import Accelerator, BlockSpec, Layer, RooflineModel, RooflineParams
from accel_models.predictor_protocol import AcceleratorChoice
from accel_models.schedule import UnitSchedule

from .fitting import CalibrationProblem, Fit, FitSettings
from .metrics import ErrorReport, error_report
from .sources import CalibrationSource
from .table import LatencyTable

__all__ = [
    "FIT_PARAMETERS",
    "CalibratedModel",
    "HoldoutReport",
    "calibrate",
    "calibrated_model",
    "describe_parameters",
    "holdout_errors",
    "kernel_group",
    "stage_group",
]

#: Parameters a single-table fit fits by default; ``buffer_fraction`` comes from traffic.
FIT_PARAMETERS = ("conv_efficiency", "pw_efficiency", "dw_efficiency", "misc_efficiency", "hswish_passes",
                  "bw_efficiency", "weight_bw_efficiency", "layer_overhead_cycles", "overlap")
_INVOCATION_INFO = {"unit": "ms", "meaning": "fixed cost of launching one compiled program (xmodel): paid once "
                                             "per table entry when entries were timed one program each, once "
                                             "per network otherwise"}


# -------------------------------------------------------- grouping keys
_KERNEL = re.compile(r"-kernel:(\d+)-")
_OUTPUT = re.compile(r"^expanded_conv-input:\d+x\d+x\d+-output:\d+x\d+x(\d+)-")


def kernel_group(key: str) -> str | None:
    """``"k3"``, ``"k5"``, ... for MBConv keys; None (never held out) for the rest.

    >>> kernel_group("expanded_conv-input:28x28x48-output:14x14x96-expand:144-kernel:5-stride:2-idskip:0-se:0-hs:1")
    'k5'
    >>> kernel_group("Logits-input:1x1x1536-output:1000") is None
    True
    """
    match = _KERNEL.search(key)
    return f"k{match.group(1)}" if match else None


def stage_group(key: str) -> str | None:
    """The stage of an MBConv key, named by its output width (``"c48"``); None for the rest.

    >>> stage_group("expanded_conv-input:28x28x48-output:14x14x96-expand:144-kernel:5-stride:2-idskip:0-se:0-hs:1")
    'c96'
    """
    match = _OUTPUT.search(key)
    return f"c{match.group(1)}" if match else None


# ------------------------------------------------------------ the result
@dataclass(frozen=True, eq=False)
class CalibratedModel:
    """A :class:`RooflineModel` fitted to one device's measurements.

    Attributes
    ----------
    model : RooflineModel
        The model with the fitted parameters.
    accelerator : Accelerator
        The accelerator predictions are for (the measured one, unless
        :meth:`for_accelerator` transferred the parameters).
    invocation_ms : float
        Launch cost of one compiled program; 0 unless the table was
        measured one program per entry.
    per_entry_invocation : bool
        Whether the table's entries each include ``invocation_ms``.
    parameters : mapping
        ``name -> {value, unit, meaning}`` of every parameter, the launch
        cost included.
    in_sample, cross_validated : ErrorReport
        Error on the entries fitted on, and k-fold cross-validated error
        (None when ``folds=0``).
    traffic : ErrorReport or None
        Modelled vs measured DRAM traffic, where the table has it.
    table : str
        Name of the table calibrated on.
    method : mapping
        How ``buffer_fraction`` and ``invocation_ms`` were determined.
    """

    model: RooflineModel
    accelerator: Accelerator
    invocation_ms: float
    per_entry_invocation: bool
    parameters: Mapping[str, Mapping]
    in_sample: ErrorReport
    cross_validated: ErrorReport | None
    traffic: ErrorReport | None = None
    table: str = ""
    method: Mapping[str, str] = field(default_factory=dict)

    # -------------------------------------------- the predictor protocol
    def layer_latency_ms(self, layers: Sequence[Layer], accelerator: AcceleratorChoice = None) -> np.ndarray:
        """Latency of each layer of a network (no launch cost): (L,), or (M, L) for M accelerators.

        ``accelerator=None`` predicts for the calibrated accelerator; others
        get the calibrated parameters transferred.
        """
        return self.model.layer_latency_ms(layers, self._accelerators(accelerator))

    def unit_latency_ms(self, units: Sequence[Sequence[Layer]] | UnitSchedule,
                        accelerator: AcceleratorChoice = None) -> np.ndarray:
        """In-network latency of each unit (no launch cost): (K,), or (M, K) for M accelerators."""
        return self.model.unit_latency_ms(units, self._accelerators(accelerator))

    def network_latency_ms(self, layers: Sequence[Layer], accelerator: AcceleratorChoice = None) -> float | np.ndarray:
        """Latency of one network: its layers plus one program launch (``invocation_ms``)."""
        return self.model.network_latency_ms(layers, self._accelerators(accelerator)) + self.invocation_ms

    def unit_sources(self, units: Sequence[Sequence[Layer]] | UnitSchedule,
                     accelerator: AcceleratorChoice = None) -> np.ndarray:
        """``"model"`` for every unit: (K,) or (M, K)."""
        return self.model.unit_sources(units, self._accelerators(accelerator))

    def _accelerators(self, accelerator: AcceleratorChoice) -> Accelerator | Sequence[Accelerator]:
        return self.accelerator if accelerator is None else accelerator

    def entry_latency_ms(self, units: Sequence[Sequence[Layer]] | UnitSchedule) -> np.ndarray:
        """Latency as the table measured it: unit latency plus the launch cost if entries include one."""
        extra = self.invocation_ms if self.per_entry_invocation else 0.0
        return self.unit_latency_ms(units) + extra

    def key_latency_ms(self, keys: Sequence[str], *, as_measured: bool = False) -> np.ndarray:
        """:meth:`unit_latency_ms` (or :meth:`entry_latency_ms`) of canonical keys."""
        units = [BlockSpec.from_key(k).layers() for k in keys]
        return self.entry_latency_ms(units) if as_measured else self.unit_latency_ms(units)

    def for_accelerator(self, accelerator: Accelerator) -> CalibratedModel:
        """The same calibrated parameters predicting for another accelerator.

        Efficiencies, bandwidth fractions, the buffer fraction and overheads
        in cycles carry over; the error reports still describe the original
        calibration.
        """
        if not isinstance(accelerator, Accelerator):
            raise ValueError(f"for_accelerator needs an Accelerator, got {type(accelerator).__name__}")
        return CalibratedModel(self.model, accelerator, self.invocation_ms, self.per_entry_invocation,
                               self.parameters, self.in_sample, self.cross_validated, self.traffic, self.table,
                               self.method)

    def summary(self) -> str:
        """A few lines for humans: parameters with units and the errors."""
        lines = [f"calibration on {self.table!r} for {self.accelerator.name} @ {self.accelerator.clock_mhz:g} MHz"]
        for name, info in self.parameters.items():
            lines.append(f"  {name:22s} {info['value']:>12.4g} {info['unit']:7s} {info['meaning']}")
        lines.append(f"  in-sample:       {self.in_sample}")
        if self.cross_validated is not None:
            lines.append(f"  cross-validated: {self.cross_validated}")
        if self.traffic is not None:
            lines.append(f"  DRAM traffic:    {self.traffic}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """JSON-able form (see :meth:`from_dict`)."""
        return {
            "model": self.model.to_dict(),
            "accelerator": self.accelerator.to_dict(),
            "invocation_ms": self.invocation_ms,
            "per_entry_invocation": self.per_entry_invocation,
            "parameters": {k: dict(v) for k, v in self.parameters.items()},
            "in_sample": self.in_sample.to_dict(),
            "cross_validated": None if self.cross_validated is None else self.cross_validated.to_dict(),
            "traffic": None if self.traffic is None else self.traffic.to_dict(),
            "table": self.table,
            "method": dict(self.method),
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> CalibratedModel:
        """Inverse of :meth:`to_dict`; unknown or missing keys are an error."""
        allowed = {"model", "accelerator", "invocation_ms", "per_entry_invocation", "parameters", "in_sample",
                   "cross_validated", "traffic", "table", "method"}
        unknown, missing = set(data) - allowed, allowed - set(data)
        if unknown or missing:
            raise ValueError(f"CalibratedModel.from_dict: unknown keys {sorted(unknown)}, missing keys "
                             f"{sorted(missing)}; expected {sorted(allowed)}")

        def report(d):
            return None if d is None else ErrorReport.from_dict(d)

        return cls(model=RooflineModel.from_dict(data["model"]), accelerator=Accelerator.from_dict(data["accelerator"]),
                   invocation_ms=float(data["invocation_ms"]), per_entry_invocation=bool(data["per_entry_invocation"]),
                   parameters=MappingProxyType({k: MappingProxyType(dict(v)) for k, v in data["parameters"].items()}),
                   in_sample=ErrorReport.from_dict(data["in_sample"]), cross_validated=report(data["cross_validated"]),
                   traffic=report(data["traffic"]), table=str(data["table"]),
                   method=MappingProxyType(dict(data["method"])))


def describe_parameters(params: RooflineParams, invocation_ms: float | None = None,
                        tied: Mapping[str, str] | None = None) -> Mapping[str, Mapping]:
    """``name -> {value, unit, meaning}`` of every parameter (and the launch cost, when given)."""
    tied = tied or {}
    out = {}
    for name, info in params.describe().items():
        if name in tied:
            info = {**info, "meaning": f"{info['meaning']} (tied to {tied[name]})"}
        out[name] = MappingProxyType(info)
    if invocation_ms is not None:
        out["invocation_ms"] = MappingProxyType({"value": float(invocation_ms), **_INVOCATION_INFO})
    return MappingProxyType(out)


def calibrated_model(problem: CalibrationProblem, i: int, fit: Fit, *, cross_validated: ErrorReport | None = None,
                     method: Mapping[str, str] | None = None) -> CalibratedModel:
    """Fit ``fit`` of ``problem`` as the :class:`CalibratedModel` of source ``i`` (its accelerator and launch cost)."""
    source = problem.sources[i]
    invocation = problem.launch_ms(i, fit)
    return CalibratedModel(
        model=RooflineModel(fit.params), accelerator=source.accelerator, invocation_ms=invocation,
        per_entry_invocation=source.table.meta.per_entry_invocation,
        parameters=describe_parameters(fit.params, invocation, problem.settings.tied),
        in_sample=problem.report(i, problem.predict(i, fit.params, invocation)), cross_validated=cross_validated,
        traffic=problem.traffic_report(i, fit.params), table=source.name,
        method=MappingProxyType(dict(fit.method if method is None else method)))


def _check_folds(folds: int) -> None:
    if int(folds) != folds or folds < 0 or folds == 1:
        raise ValueError(f"folds must be 0 (no cross-validation) or an integer >= 2, got {folds!r}")


def _single_problem(model: RooflineModel, table: LatencyTable, accelerator: Accelerator,
                    units: Mapping[str, Sequence[Layer]] | None, fixed: Sequence[str]) -> CalibrationProblem:
    if not isinstance(accelerator, Accelerator):
        raise ValueError(f"calibrate needs one Accelerator, got {type(accelerator).__name__}")
    if not isinstance(table, LatencyTable):
        raise ValueError(f"calibrate needs a LatencyTable, got {type(table).__name__}")
    if len(table) == 0:
        raise ValueError(f"table {table.meta.name!r} has no entries to calibrate on")
    settings = FitSettings(FIT_PARAMETERS, tuple(fixed), robust_prior=True)
    return CalibrationProblem(model, [CalibrationSource(table, accelerator, units or {})], settings)


def _single_method(fit: Fit, name: str) -> dict[str, str]:
    return {"buffer_fraction": fit.method["buffer_fraction"], "invocation_ms": fit.method[f"invocation_ms[{name}]"]}


def calibrate(model: RooflineModel, table: LatencyTable, accelerator: Accelerator, *, folds: int = 5, seed: int = 0,
              units: Mapping[str, Sequence[Layer]] | None = None, fixed: Sequence[str] = ()) -> CalibratedModel:
    """Fit ``model``'s free parameters to ``table``, measured on ``accelerator``.

    Parameters
    ----------
    model : RooflineModel
        Its parameters are the starting point and the weak prior.
    table : LatencyTable
        Measured entries; ``mem_io_mb`` / ``mem_bw_mbps`` columns are used
        where present (see :mod:`latency_tables.fitting`).
    accelerator : Accelerator
        The single-core accelerator the table was measured on (see
        :func:`latency_tables.table_accelerator`).
    folds : int
        k of the k-fold cross-validation (0 skips it, e.g. for a quick
        calibration on first use).
    seed : int
        Seeds the fold split and the optimiser's extra starting points.
    units : mapping, optional
        ``key -> layers`` for keys whose layers are not what
        :meth:`accel_models.BlockSpec.from_key` derives (e.g. a stem measured
        with ReLU where the key implies h-swish).
    fixed : sequence of str
        Parameters to hold at ``model``'s values instead of fitting (any of
        :data:`FIT_PARAMETERS` and ``"buffer_fraction"``), e.g. ones known
        from elsewhere.

    Returns
    -------
    CalibratedModel
    """
    _check_folds(folds)
    problem = _single_problem(model, table, accelerator, units, fixed)
    n = problem.sizes()[0]
    if folds > n:
        raise ValueError(f"folds={folds} exceeds the {n} entries of table {table.meta.name!r}")
    fit = problem.fit(problem.everything(), seed)
    cross = None
    if folds:
        predicted = problem.cross_validate(folds, seed, {table.meta.name: problem.launch_ms(0, fit)})[0]
        cross = problem.report(0, predicted)
    return calibrated_model(problem, 0, fit, cross_validated=cross, method=_single_method(fit, table.meta.name))


@dataclass(frozen=True)
class HoldoutReport:
    """Errors on entries held out of calibration, group by group.

    ``pooled`` covers every held-out entry (each predicted by the fit that
    did not see its group); ``groups`` has one report per held-out group;
    ``predicted_ms`` maps each held-out key to its prediction (as measured,
    i.e. with the launch cost for per-entry tables).
    """

    pooled: ErrorReport
    groups: Mapping[str, ErrorReport]
    predicted_ms: Mapping[str, float]

    def to_dict(self) -> dict:
        """JSON-able form."""
        return {"pooled": self.pooled.to_dict(), "groups": {g: r.to_dict() for g, r in self.groups.items()},
                "predicted_ms": dict(self.predicted_ms)}


def holdout_errors(model: RooflineModel, table: LatencyTable, accelerator: Accelerator,
                   group_of: Callable[[str], Hashable | None], *, seed: int = 0,
                   units: Mapping[str, Sequence[Layer]] | None = None, fixed: Sequence[str] = ()) -> HoldoutReport:
    """Leave-one-group-out errors: for each group, calibrate on all other entries and predict it.

    ``group_of(key)`` names the group of a key, or None for entries that are
    always calibrated on (never held out), e.g. :func:`kernel_group` (fit on
    kernel 3, predict kernel 5 and vice versa) or :func:`stage_group`.
    ``units`` and ``fixed`` are as for :func:`calibrate`.
    """
    problem = _single_problem(model, table, accelerator, units, fixed)
    data = problem.data[0]
    keys = np.asarray(data.keys)
    labels = [group_of(k) for k in data.keys]
    names = sorted({str(g) for g in labels if g is not None})
    if len(names) < 2:
        raise ValueError(f"holdout needs at least two groups, got {names} from table {table.meta.name!r}")
    groups: dict[str, ErrorReport] = {}
    predicted: dict[str, float] = {}
    held_all = []
    for name in names:
        held = np.array([str(g) == name if g is not None else False for g in labels])
        fit = problem.fit([np.flatnonzero(~held)], seed)
        pred = problem.predict(0, fit.params, problem.launch_ms(0, fit))[held]
        groups[name] = error_report(pred, data.measured[held], keys[held])
        predicted.update(zip(keys[held], pred.tolist(), strict=True))
        held_all.append(np.flatnonzero(held))
    held_idx = np.concatenate(held_all)
    pooled = error_report(np.array([predicted[k] for k in keys[held_idx]]), data.measured[held_idx], keys[held_idx])
    return HoldoutReport(pooled=pooled, groups=MappingProxyType(groups), predicted_ms=MappingProxyType(predicted))
