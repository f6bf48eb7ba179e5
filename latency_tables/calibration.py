"""Calibrate the analytical DPU model on a measured table, and say how good it is.

:func:`calibrate` fits the free parameters of an
:class:`accel_models.RooflineModel` to a :class:`LatencyTable` measured on one
accelerator, in three steps:

1. **On-chip buffer** (``buffer_fraction``): where the table reports DRAM
   traffic (``mem_io_mb``), the modelled traffic of every entry is compared
   with it for each distinct spill pattern the buffer size can produce; the
   pattern with the smallest robust log error wins (ties: the one nearest the
   nominal buffer).  Without traffic the model's value is kept.
2. **Launch cost** (``invocation_ms``), for tables whose entries were each
   timed as their own program (``meta.per_entry_invocation``): where the
   profiler also reports bandwidth (``mem_bw_mbps``), traffic / bandwidth is
   the DPU-busy time and the median rest of the measured time is the launch
   cost; otherwise it is fitted with the other parameters.  It is 0 for
   tables timed inside a network.
3. **Everything else** (efficiencies, bandwidths, per-layer overhead,
   overlap): ``scipy.optimize.least_squares`` on log latency with a
   soft-L1 (robust) loss, from several starting points, with a weak pull
   towards the prior values so that parameters the table cannot inform stay
   physical.

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

from accel_models import Accelerator, BlockSpec, Layer, RooflineModel, RooflineParams, UnitSchedule
from accel_models.predictor_protocol import AcceleratorChoice
from accel_models.roofline import PARAMETER_INFO

from .metrics import ErrorReport, error_report
from .table import LatencyTable, TableMeta

__all__ = [
    "FIT_PARAMETERS",
    "CalibratedModel",
    "HoldoutReport",
    "calibrate",
    "holdout_errors",
    "kernel_group",
    "profiler_launch_ms",
    "stage_group",
    "table_accelerator",
    "table_units",
]

#: Parameters step 3 fits; ``buffer_fraction`` is step 1.
FIT_PARAMETERS = ("conv_efficiency", "pw_efficiency", "dw_efficiency", "misc_efficiency", "hswish_passes",
                  "bw_efficiency", "weight_bw_efficiency", "layer_overhead_cycles", "overlap")
_MIB = 2 ** 20
_LOSS_SCALE = 0.05  # soft-L1 turns linear beyond ~5 % log error
_PRIOR_WEIGHT = 0.02
_STARTS = 4
_INVOCATION_INFO = {"unit": "ms", "meaning": "fixed cost of launching one compiled program (xmodel): paid once "
                                             "per table entry when entries were timed one program each, once "
                                             "per network otherwise"}


# ---------------------------------------------------------------- inputs
def table_units(table: LatencyTable, units: Mapping[str, Sequence[Layer]] | None = None) -> dict[str, tuple[Layer, ...]]:
    """The layers of every table entry: ``units[key]`` where given, else parsed from the key.

    Raises ValueError naming the keys that neither ``units`` covers nor
    :meth:`accel_models.BlockSpec.from_key` understands.
    """
    units = dict(units or {})
    strays = sorted(set(units) - set(table.keys()))
    if strays:
        raise ValueError(f"units given for {len(strays)} key(s) not in table {table.meta.name!r}, e.g. {strays[0]!r}")
    out, bad = {}, []
    for key in table.keys():
        if key in units:
            out[key] = tuple(units[key])
            continue
        try:
            out[key] = BlockSpec.from_key(key).layers()
        except ValueError:
            bad.append(key)
    if bad:
        raise ValueError(f"table {table.meta.name!r}: cannot derive the layers of {len(bad)} key(s) "
                         f"(e.g. {bad[0]!r}); pass them as calibrate(..., units={{key: layers}})")
    return out


def table_accelerator(meta: TableMeta) -> Accelerator:
    """The single-core accelerator a table was measured on, from its metadata.

    The DPU configuration is the ``B<number>`` in ``meta.dpu_arch``; DDR
    bandwidth comes from the board registry when ``meta.board`` is known.

    >>> from latency_tables import load_table
    >>> acc = table_accelerator(load_table("ultra96v2-b2304").meta)
    >>> acc.name, acc.clock_mhz, acc.ddr_bw_gbps
    ('B2304', 200.0, 8.53)
    """
    from accel_models import get_board, list_boards

    match = re.search(r"\bB(\d+)\b", meta.dpu_arch)
    if match is None:
        raise ValueError(f"table {meta.name!r}: dpu_arch {meta.dpu_arch!r} names no DPUCZDX8G configuration "
                         "(B512 ... B4096); build the Accelerator yourself")
    if meta.clock_mhz is None:
        raise ValueError(f"table {meta.name!r}: metadata has no clock_mhz; build the Accelerator yourself")
    extra = {"ddr_bw_gbps": get_board(meta.board).ddr_bw_gbps} if meta.board in list_boards() else {}
    return Accelerator.from_dpu(f"B{match.group(1)}", clock_mhz=meta.clock_mhz, **extra)


def profiler_launch_ms(table: LatencyTable, keys: Sequence[str] | None = None) -> float | None:
    """Launch cost per entry from the profiler: median of measured time minus DPU-busy time.

    The busy time is ``mem_io_mb / mem_bw_mbps`` (the profiler's traffic and
    bandwidth).  Uses the entries ``keys`` (default: all) that report both;
    None when none does.

    >>> from latency_tables import load_table
    >>> round(profiler_launch_ms(load_table("ultra96v2-b2304")), 4)
    0.059
    """
    keys = table.keys() if keys is None else list(keys)
    busy_ms = table.column("mem_io_mb", keys) / table.column("mem_bw_mbps", keys) * 1e3
    gaps = table.mean_ms(keys) - busy_ms
    gaps = gaps[np.isfinite(gaps)]  # NaN where the profiler gave no bandwidth
    return float(max(np.median(gaps), 0.0)) if len(gaps) else None


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


# ------------------------------------------------------------ the problem
@dataclass(frozen=True)
class _Fit:
    params: RooflineParams
    invocation_ms: float
    method: Mapping[str, str]


class _Problem:
    """One table on one accelerator, precomputed so that fits are pure numpy."""

    def __init__(self, model: RooflineModel, table: LatencyTable, accelerator: Accelerator,
                 units: Mapping[str, Sequence[Layer]] | None, fixed: Sequence[str] = ()):
        if not isinstance(accelerator, Accelerator):
            raise ValueError(f"calibrate needs one Accelerator, got {type(accelerator).__name__}")
        if len(table) == 0:
            raise ValueError(f"table {table.meta.name!r} has no entries to calibrate on")
        allowed = (*FIT_PARAMETERS, "buffer_fraction")
        unknown = sorted(set(fixed) - set(allowed))
        if unknown:
            raise ValueError(f"cannot fix unknown parameter(s) {unknown}; allowed: {list(allowed)}")
        self.model, self.table, self.accelerator, self.fixed = model, table, accelerator, frozenset(fixed)
        self.keys = table.keys()
        layers = table_units(table, units)
        self.schedule = UnitSchedule.from_units([layers[k] for k in self.keys])
        self.measured = table.mean_ms(self.keys)
        self.traffic = table.column("mem_io_mb", self.keys) * _MIB
        self.per_entry = table.meta.per_entry_invocation
        self.capacity = accelerator.act_buffer_kib * 1024
        self._terms: dict[float, object] = {}

    def terms(self, buffer_fraction: float):
        if buffer_fraction not in self._terms:
            model = self.model.with_params(buffer_fraction=buffer_fraction)
            self._terms[buffer_fraction] = model.terms(self.schedule, [self.accelerator])
        return self._terms[buffer_fraction]

    def unit_ms(self, params: RooflineParams) -> np.ndarray:
        parts = RooflineModel(params).combine(self.terms(params.buffer_fraction))
        return self.schedule.per_unit(parts["latency_ms"])[0]

    # step 2
    def launch_cost(self, idx: np.ndarray) -> tuple[float, str, bool]:
        """``(invocation_ms, how, still_to_fit)`` from the entries ``idx``."""
        if not self.per_entry:
            return 0.0, "0: entries were timed inside a larger program", False
        value = profiler_launch_ms(self.table, [self.keys[i] for i in idx])
        if value is None:
            return 0.0, "fitted with the other parameters", True
        return value, "median of measured time minus the profiler's DPU-busy time (mem_io_mb / mem_bw_mbps)", False

    # steps 1 to 3
    def fit(self, idx: np.ndarray, seed: int) -> _Fit:
        idx = np.asarray(idx)
        prior = self.model.params
        if "buffer_fraction" in self.fixed:
            fraction, buffer_method = prior.buffer_fraction, "fixed by the caller"
        else:
            fraction, buffer_method = _fit_buffer_fraction([(self, idx)], prior.buffer_fraction)
        invocation, inv_method, fit_inv = self.launch_cost(idx)
        names = [n for n in FIT_PARAMETERS if n not in self.fixed]
        x0 = np.array([getattr(prior, n) for n in names] + ([0.5 * self.measured[idx].min()] if fit_inv else []))
        lo = np.array([PARAMETER_INFO[n]["low"] for n in names] + ([0.0] if fit_inv else []))
        hi = np.array([PARAMETER_INFO[n]["high"] for n in names] + ([self.measured[idx].min()] if fit_inv else []))
        scale = np.maximum(np.abs(x0), 0.05 * (hi - lo))
        base = prior.replace(buffer_fraction=fraction).to_dict()
        measured = np.log(self.measured[idx])
        n_params = len(names)

        def unpack(x):
            params = RooflineParams.from_dict({**base, **dict(zip(names, x[:n_params]))})
            return params, (x[n_params] if fit_inv else invocation)

        def residuals(x):
            params, inv = unpack(x)
            predicted = self.unit_ms(params)[idx] + (inv if self.per_entry else 0.0)
            prior_pull = _PRIOR_WEIGHT * (x[:n_params] - x0[:n_params]) / scale[:n_params]
            return np.r_[np.log(predicted) - measured, prior_pull]

        from scipy.optimize import least_squares

        rng = np.random.default_rng(seed)
        best = None
        for start in range(_STARTS):
            xs = x0 if start == 0 else x0 * np.exp(rng.normal(0.0, 0.5, len(x0)))
            xs = np.clip(xs, lo + 1e-9 * (hi - lo), hi - 1e-9 * (hi - lo))
            sol = least_squares(residuals, xs, bounds=(lo, hi), loss="soft_l1", f_scale=_LOSS_SCALE, x_scale=scale)
            if best is None or sol.cost < best.cost:
                best = sol
        params, inv = unpack(best.x)
        return _Fit(params, float(inv), MappingProxyType({"buffer_fraction": buffer_method, "invocation_ms": inv_method}))

    def predict_entries(self, fit: _Fit) -> np.ndarray:
        return self.unit_ms(fit.params) + (fit.invocation_ms if self.per_entry else 0.0)

    def traffic_report(self, fit: _Fit) -> ErrorReport | None:
        ok = np.isfinite(self.traffic) & (self.traffic > 0)
        if not ok.any():
            return None
        dram, _ = self.schedule.dram_bytes(np.array([[fit.params.buffer_fraction * self.capacity]]))
        predicted = self.schedule.per_unit(dram)[0]
        return error_report(predicted[ok], self.traffic[ok], np.asarray(self.keys)[ok])


def _fit_buffer_fraction(problems: Sequence[tuple[_Problem, np.ndarray]], prior: float) -> tuple[float, str]:
    """Step 1 over one or more tables: the spill pattern whose modelled traffic best matches ``mem_io_mb``.

    ``problems`` pairs each table's problem with the entries to use.  Every
    distinct pattern the buffer size can produce on any of them is tried
    (ties: the one nearest ``prior``).
    """
    info = PARAMETER_INFO["buffer_fraction"]
    usable = []
    edges = []
    for problem, idx in problems:
        measured = problem.traffic[idx]
        ok = np.isfinite(measured) & (measured > 0)
        if ok.any():
            usable.append((problem, np.asarray(idx)[ok], measured[ok]))
            edges.append(np.r_[problem.schedule.tensor_footprint, problem.schedule.tensor_bytes] / problem.capacity)
    if not usable:
        return prior, "prior (the table reports no traffic)"
    if not sum(len(e) for e in edges):
        return prior, "prior (no measured unit keeps a tensor on chip, so traffic cannot tell the buffer size)"
    edges = np.unique(np.concatenate(edges))
    edges = edges[(edges > info["low"]) & (edges < info["high"])]
    bounds = np.r_[info["low"], edges, info["high"]]
    candidates = (bounds[:-1] + bounds[1:]) / 2  # one per distinct spill pattern
    best, best_loss = prior, np.inf
    for fraction in sorted(candidates, key=lambda f: abs(np.log(f / prior))):
        loss = 0.0
        for problem, idx, measured in usable:
            dram, _ = problem.schedule.dram_bytes(np.array([[fraction * problem.capacity]]))
            predicted = problem.schedule.per_unit(dram)[0][idx]
            z = (np.log(predicted / measured) / _LOSS_SCALE) ** 2
            loss += float(np.sum(2 * (np.sqrt(1 + z) - 1)))
        if loss < best_loss - 1e-9:
            best, best_loss = float(fraction), loss
    return best, "fitted to the measured traffic (mem_io_mb)"


def _folds(n: int, folds: int, seed: int) -> list[np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(part) for part in np.array_split(order, folds)]


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


def _parameters(fit: _Fit) -> Mapping[str, Mapping]:
    described = {k: MappingProxyType(v) for k, v in fit.params.describe().items()}
    described["invocation_ms"] = MappingProxyType({"value": fit.invocation_ms, **_INVOCATION_INFO})
    return MappingProxyType(described)


def calibrate(model: RooflineModel, table: LatencyTable, accelerator: Accelerator, *, folds: int = 5, seed: int = 0,
              units: Mapping[str, Sequence[Layer]] | None = None, fixed: Sequence[str] = ()) -> CalibratedModel:
    """Fit ``model``'s free parameters to ``table``, measured on ``accelerator``.

    Parameters
    ----------
    model : RooflineModel
        Its parameters are the starting point and the weak prior.
    table : LatencyTable
        Measured entries; ``mem_io_mb`` / ``mem_bw_mbps`` columns are used
        where present (see the module docstring).
    accelerator : Accelerator
        The single-core accelerator the table was measured on (see
        :func:`table_accelerator`).
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
    if int(folds) != folds or folds < 0 or folds == 1:
        raise ValueError(f"folds must be 0 (no cross-validation) or an integer >= 2, got {folds!r}")
    problem = _Problem(model, table, accelerator, units, fixed)
    n = len(problem.keys)
    if folds > n:
        raise ValueError(f"folds={folds} exceeds the {n} entries of table {table.meta.name!r}")
    everything = np.arange(n)
    fit = problem.fit(everything, seed)
    keys = np.asarray(problem.keys)
    in_sample = error_report(problem.predict_entries(fit), problem.measured, keys)
    cross = None
    if folds:
        predicted = np.empty(n)
        for held in _folds(n, folds, seed):
            fold_fit = problem.fit(np.setdiff1d(everything, held), seed)
            predicted[held] = problem.predict_entries(fold_fit)[held]
        cross = error_report(predicted, problem.measured, keys)
    return CalibratedModel(model=RooflineModel(fit.params), accelerator=accelerator, invocation_ms=fit.invocation_ms,
                           per_entry_invocation=problem.per_entry, parameters=_parameters(fit), in_sample=in_sample,
                           cross_validated=cross, traffic=problem.traffic_report(fit), table=table.meta.name,
                           method=fit.method)


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
    problem = _Problem(model, table, accelerator, units, fixed)
    keys = np.asarray(problem.keys)
    labels = [group_of(k) for k in problem.keys]
    names = sorted({str(g) for g in labels if g is not None})
    if len(names) < 2:
        raise ValueError(f"holdout needs at least two groups, got {names} from table {table.meta.name!r}")
    groups, predicted = {}, {}
    held_all = []
    for name in names:
        held = np.array([str(g) == name if g is not None else False for g in labels])
        fit = problem.fit(np.flatnonzero(~held), seed)
        pred = problem.predict_entries(fit)[held]
        groups[name] = error_report(pred, problem.measured[held], keys[held])
        predicted.update(zip(keys[held], pred.tolist()))
        held_all.append(np.flatnonzero(held))
    held_idx = np.concatenate(held_all)
    pooled = error_report(np.array([predicted[k] for k in keys[held_idx]]), problem.measured[held_idx], keys[held_idx])
    return HoldoutReport(pooled=pooled, groups=MappingProxyType(groups), predicted_ms=MappingProxyType(predicted))
