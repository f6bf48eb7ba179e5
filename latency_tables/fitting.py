"""The calibration engine: fit one set of :class:`accel_models.RooflineModel` parameters to measured sources.

Every calibration of the project runs here: :func:`latency_tables.calibrate`
is a fit over one source, :func:`latency_tables.calibrate_joint` over
several, :func:`latency_tables.fit_device` over a user's few measurements
with the shipped joint fit as a strong prior.  A fit has three steps:

1. **On-chip buffer** (``buffer_fraction``): where sources report DRAM
   traffic (``mem_io_mb``), the modelled traffic of every entry is compared
   with it for each distinct spill pattern the buffer size can produce; the
   pattern with the smallest robust log error over all sources wins (ties:
   the one nearest the prior).  Without traffic the prior is kept.
2. **Launch cost** (``invocation_ms``, per source), for sources whose
   entries were each timed as their own program: where the profiler also
   reports bandwidth (``mem_bw_mbps``), traffic / bandwidth is the DPU-busy
   time and the median rest of the measured time is the launch cost;
   otherwise it is fitted with the other parameters.  0 for sources timed
   inside a network.
3. **Everything else** (:attr:`FitSettings.parameters`):
   ``scipy.optimize.least_squares`` on log latency with a soft-L1 (robust)
   loss, from several starting points, with a Gaussian pull towards the
   prior, so that parameters the data cannot inform stay where the prior
   has them.  Every source counts its ``weight`` in total, however many
   entries it has, on the scale of a single-source fit of all the entries;
   the pull does not grow with the data, so the more entries, the less the
   prior matters.

A source's entries are single units (a per-unit table) or whole networks
(:attr:`CalibrationSource.networks`: an entry is the sum of its units plus
one launch), so per-unit tables and whole-network timings fit the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import cast

import numpy as np

from accel_models import RooflineModel, RooflineParams, group_by_block
from accel_models.roofline import PARAMETER_INFO, LayerTerms
from accel_models.schedule import UnitSchedule
from accel_models.validation import distinct_named

from .metrics import ErrorReport, error_report
from .sources import CalibrationSource, profiler_launch_ms, table_units

__all__ = ["CalibrationProblem", "Fit", "FitSettings", "folds_of"]

_MIB = 2 ** 20
_LOSS_SCALE = 0.05  # soft-L1 turns linear beyond ~5 % log error
_STARTS = 4
# The chunk's loss is flat wherever no layer spans more than one chunk (e.g. at the
# default 1e4 buffers), so the fit also starts from chunks of about one buffer.
_CHUNK_STARTS = (0.5, 1.0, 2.0)
_LOG_PARAMETERS = frozenset({"pipeline_chunk_fraction"})


@dataclass(frozen=True)
class FitSettings:
    """What a fit fits, and how strongly it holds on to the prior.

    Attributes
    ----------
    parameters : tuple of str
        Parameters step 3 may fit (``buffer_fraction`` is step 1).
    fixed : tuple of str
        Parameters held at the prior (any of ``parameters`` and
        ``"buffer_fraction"``).
    tied : mapping
        ``{follower: leader}``: parameters set equal to another instead of
        fitted.
    prior_weight : float
        Strength of the pull towards the prior, per parameter, in units of
        one entry's log error per parameter scale.
    robust_prior : bool
        Whether the pull is soft-L1 too (a parameter the data want far from
        the prior pays linearly, not quadratically: for a prior that is only
        a starting guess, as in a single-table fit) or Gaussian (False: the
        prior is knowledge, as in a joint or few-shot fit).
    launch_prior_ms : float or None
        Where a source's launch cost is fitted (no profiler busy time): None
        starts it at half the shortest entry, unconstrained; a number is its
        prior (e.g. the prior device's), the start and pulled towards like
        the parameters.
    fit_launch : bool
        False keeps a launch cost the profiler cannot give at
        ``launch_prior_ms`` (0 when None) instead of fitting it.
    tolerance : float
        ``ftol`` and ``xtol`` of ``scipy.optimize.least_squares``.
    """

    parameters: tuple[str, ...]
    fixed: tuple[str, ...] = ()
    tied: Mapping[str, str] = field(default_factory=dict)
    prior_weight: float = 0.02
    robust_prior: bool = False
    launch_prior_ms: float | None = None
    fit_launch: bool = True
    tolerance: float = 1e-8

    def __post_init__(self) -> None:
        unknown = sorted(set(self.parameters) - set(PARAMETER_INFO))
        if unknown or "buffer_fraction" in self.parameters:
            raise ValueError(f"cannot fit unknown parameter(s) {unknown or ['buffer_fraction']} in step 3; "
                             f"allowed: {sorted(set(PARAMETER_INFO) - {'buffer_fraction'})}")
        allowed = (*self.parameters, "buffer_fraction")
        unknown = sorted(set(self.fixed) - set(allowed))
        if unknown:
            raise ValueError(f"cannot fix unknown parameter(s) {unknown}; allowed: {list(allowed)}")
        tied = dict(self.tied)
        bad = sorted(f"{a}->{b}" for a, b in tied.items()
                     if a not in self.parameters or b not in self.parameters or b in tied or a == b)
        if bad:
            raise ValueError(f"invalid tied parameter(s) {bad}: both must be among {list(self.parameters)}, "
                             "and a leader cannot itself follow another")
        if not (np.isfinite(self.prior_weight) and self.prior_weight > 0):
            raise ValueError(f"prior_weight must be a positive number, got {self.prior_weight!r}")
        if self.launch_prior_ms is not None and not (np.isfinite(self.launch_prior_ms) and self.launch_prior_ms >= 0):
            raise ValueError(f"launch_prior_ms must be None or a number >= 0, got {self.launch_prior_ms!r}")
        object.__setattr__(self, "fixed", tuple(self.fixed))
        object.__setattr__(self, "tied", MappingProxyType(tied))

    @property
    def free(self) -> list[str]:
        """The parameters step 3 actually moves (neither fixed nor tied)."""
        return [n for n in self.parameters if n not in self.fixed and n not in self.tied]


@dataclass(frozen=True)
class Fit:
    """One fit's parameters, per-source launch costs (of the sources fitted) and how each was found."""

    params: RooflineParams
    invocation_ms: Mapping[str, float]
    method: Mapping[str, str]


def _soft_l1(r: np.ndarray) -> np.ndarray:
    """Residuals whose squares are the soft-L1 loss: quadratic within ~5 % log error, linear beyond."""
    return np.sign(r) * _LOSS_SCALE * np.sqrt(2.0 * (np.sqrt(1.0 + (r / _LOSS_SCALE) ** 2) - 1.0))


class _SourceData:
    """One source precomputed so that a fit evaluates it in pure numpy."""

    def __init__(self, model: RooflineModel, source: CalibrationSource):
        table = source.table
        if len(table) == 0:
            raise ValueError(f"table {table.meta.name!r} has no entries to calibrate on")
        self.source, self.model = source, model
        self.keys = table.keys()
        layers = table_units(table, source.units)
        units, row = [], []
        for i, key in enumerate(self.keys):
            parts = group_by_block(layers[key]) if source.networks else [layers[key]]
            units.extend(parts)
            row.extend([i] * len(parts))
        self.schedule = UnitSchedule.from_units(units)
        self._row = None if not source.networks else np.asarray(row)
        self.measured = table.mean_ms(self.keys)
        self.traffic = table.column("mem_io_mb", self.keys) * _MIB
        self.per_entry = table.meta.per_entry_invocation
        self.capacity = cast(float, source.accelerator.act_buffer_kib) * 1024  # filled by Accelerator.__post_init__
        self._terms: dict[float, LayerTerms] = {}

    def per_entry_sum(self, per_unit: np.ndarray) -> np.ndarray:
        """A per-unit quantity summed per entry (the identity for per-unit tables)."""
        if self._row is None:
            return per_unit
        return np.bincount(self._row, weights=per_unit, minlength=len(self.keys))

    def entry_ms(self, params: RooflineParams) -> np.ndarray:
        """Every entry's in-network latency (no launch cost)."""
        if params.buffer_fraction not in self._terms:
            model = self.model.with_params(buffer_fraction=params.buffer_fraction)
            self._terms[params.buffer_fraction] = model.terms(self.schedule, [self.source.accelerator])
        parts = RooflineModel(params).combine(self._terms[params.buffer_fraction])
        return self.per_entry_sum(self.schedule.per_unit(parts["latency_ms"])[0])

    def dram_bytes(self, buffer_fraction: float) -> np.ndarray:
        dram, _ = self.schedule.dram_bytes(np.array([[buffer_fraction * self.capacity]]))
        return self.per_entry_sum(self.schedule.per_unit(dram)[0])

    def launch_cost(self, idx: np.ndarray) -> tuple[float, str, bool]:
        """``(invocation_ms, how, still_to_fit)`` from the entries ``idx``."""
        if not self.per_entry:
            return 0.0, "0: entries were timed inside a larger program", False
        value = profiler_launch_ms(self.source.table, [self.keys[i] for i in idx])
        if value is None:
            return 0.0, "fitted with the other parameters", True
        return value, "median of measured time minus the profiler's DPU-busy time (mem_io_mb / mem_bw_mbps)", False


def folds_of(n: int, folds: int, seed: int) -> list[np.ndarray]:
    """``folds`` sorted index arrays partitioning ``range(n)`` at random (seeded)."""
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(part) for part in np.array_split(order, folds)]


class CalibrationProblem:
    """Sources precomputed once; :meth:`fit` takes the entries to use per source.

    Parameters
    ----------
    model : RooflineModel
        Its parameters are the starting point and the prior.
    sources : sequence of CalibrationSource
        Distinct table names; sources of weight 0 are predicted, never fitted.
    settings : FitSettings
    """

    def __init__(self, model: RooflineModel, sources: Sequence[CalibrationSource], settings: FitSettings):
        sources = distinct_named(sources, CalibrationSource, lambda s: s.name, "calibration sources",
                                 label="table name")
        names = [s.name for s in sources]
        if not any(s.weight > 0 for s in sources):
            raise ValueError("every source has weight 0: nothing to fit on")
        self.model, self.sources, self.settings = model, sources, settings
        self.names = tuple(names)
        self.data = [_SourceData(model, s) for s in sources]

    def sizes(self) -> list[int]:
        """Number of entries of every source."""
        return [len(d.keys) for d in self.data]

    def everything(self) -> list[np.ndarray]:
        """Every entry of every source (what :meth:`fit` takes for a fit on all the data)."""
        return [np.arange(n) for n in self.sizes()]

    # ------------------------------------------------------------------ steps
    def _buffer_fraction(self, used: Sequence[int], idxs: Sequence[np.ndarray]) -> tuple[float, str]:
        prior = self.model.params.buffer_fraction
        if "buffer_fraction" in self.settings.fixed:
            return prior, "fixed by the caller"
        info = PARAMETER_INFO["buffer_fraction"]
        usable, edges = [], []
        for i in used:
            data, idx = self.data[i], np.asarray(idxs[i])
            measured = data.traffic[idx]
            ok = np.isfinite(measured) & (measured > 0)
            if ok.any():
                usable.append((data, idx[ok], measured[ok]))
                edges.append(np.r_[data.schedule.tensor_footprint, data.schedule.tensor_bytes] / data.capacity)
        if not usable:
            return prior, "prior (the table reports no traffic)"
        if not sum(len(e) for e in edges):
            return prior, "prior (no measured unit keeps a tensor on chip, so traffic cannot tell the buffer size)"
        cut = np.unique(np.concatenate(edges))
        cut = cut[(cut > info["low"]) & (cut < info["high"])]
        bounds = np.r_[info["low"], cut, info["high"]]
        candidates = (bounds[:-1] + bounds[1:]) / 2  # one per distinct spill pattern
        best, best_loss = prior, np.inf
        for fraction in sorted(candidates, key=lambda f: abs(np.log(f / prior))):
            loss = 0.0
            for data, idx, measured in usable:
                z = (np.log(data.dram_bytes(fraction)[idx] / measured) / _LOSS_SCALE) ** 2
                loss += float(np.sum(2 * (np.sqrt(1 + z) - 1)))
            if loss < best_loss - 1e-9:
                best, best_loss = float(fraction), loss
        return best, "fitted to the measured traffic (mem_io_mb)"

    def fit(self, idxs: Sequence[np.ndarray], seed: int) -> Fit:
        """Fit on entries ``idxs[i]`` of source ``i`` (sources of weight 0, or with no entries, are skipped)."""
        used = [i for i, (s, idx) in enumerate(zip(self.sources, idxs, strict=True)) if s.weight > 0 and len(idx)]
        if not used:
            raise ValueError("no entries to fit on")
        settings, prior = self.settings, self.model.params
        fraction, buffer_method = self._buffer_fraction(used, idxs)
        invocation, inv_method, to_fit = {}, {}, []
        for i in used:
            invocation[i], inv_method[i], fit_inv = self.data[i].launch_cost(np.asarray(idxs[i]))
            if fit_inv and not settings.fit_launch:
                invocation[i], inv_method[i] = settings.launch_prior_ms or 0.0, "the prior's (not fitted)"
            elif fit_inv:
                to_fit.append(i)
        names = settings.free
        logs = np.array([n in _LOG_PARAMETERS for n in names] + [False] * len(to_fit), dtype=bool)

        def encode(values: np.ndarray) -> np.ndarray:
            out = np.array(values, dtype=float)
            out[logs] = np.log(out[logs])
            return out

        def decode(z: np.ndarray) -> np.ndarray:
            out = np.array(z, dtype=float)
            out[logs] = np.exp(out[logs])
            return out

        shortest = [float(self.data[i].measured[idxs[i]].min()) for i in to_fit]
        launch0 = [0.5 * m if settings.launch_prior_ms is None else min(settings.launch_prior_ms, 0.5 * m)
                   for m in shortest]
        x0 = np.array([getattr(prior, n) for n in names] + launch0)
        lo = np.array([PARAMETER_INFO[n]["low"] for n in names] + [0.0] * len(to_fit))
        hi = np.array([PARAMETER_INFO[n]["high"] for n in names] + shortest)
        lo, hi, z0 = encode(lo), encode(hi), encode(x0)
        scale = np.where(logs, 1.0, np.maximum(np.abs(x0), 0.05 * (hi - lo)))
        # a log-scaled parameter's prior (the chunk's default switches the pipeline off) is no estimate: no pull
        n_params = len(names)
        pulled = n_params if settings.launch_prior_ms is None else len(x0)
        pull = np.where(logs[:pulled], 0.0, settings.prior_weight / scale[:pulled])
        base = prior.replace(buffer_fraction=fraction).to_dict()
        total = sum(len(idxs[i]) for i in used)
        weight_sum = sum(self.sources[i].weight for i in used)
        # every source weighs its share in total, on the scale of a single-source fit of all the entries
        factors = {i: np.sqrt(self.sources[i].weight * total / (weight_sum * len(idxs[i]))) for i in used}
        measured = {i: np.log(self.data[i].measured[idxs[i]]) for i in used}

        def unpack(z):
            x = decode(z)
            values = {**base, **dict(zip(names, x[:n_params], strict=True))}
            values.update({follower: values[leader] for follower, leader in settings.tied.items()})
            inv = dict(invocation)
            inv.update(zip(to_fit, x[n_params:], strict=True))
            return RooflineParams.from_dict(values), inv

        def residuals(z):
            params, inv = unpack(z)
            parts = []
            for i in used:
                data = self.data[i]
                predicted = data.entry_ms(params)[idxs[i]] + (inv[i] if data.per_entry else 0.0)
                # soft-L1 on the residuals themselves, so that each source can carry its own weight
                parts.append(factors[i] * _soft_l1(np.log(predicted) - measured[i]))
            prior_pull = pull * (z[:pulled] - z0[:pulled])
            parts.append(_soft_l1(prior_pull) if settings.robust_prior else prior_pull)
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
        if not len(x0):  # nothing left to fit: the prior (and measured launch costs) as they are
            params, inv = unpack(x0)
            return self._fit_result(params, inv, used, buffer_method, inv_method)
        solutions = [least_squares(residuals, np.clip(z, lo + 1e-9 * (hi - lo), hi - 1e-9 * (hi - lo)),
                                   bounds=(lo, hi), x_scale=scale, ftol=settings.tolerance, xtol=settings.tolerance)
                     for z in starts]
        best = min(solutions, key=lambda sol: sol.cost)  # the first of equals, as the starts are ordered
        params, inv = unpack(best.x)
        return self._fit_result(params, inv, used, buffer_method, inv_method)

    def _fit_result(self, params: RooflineParams, inv: Mapping[int, float], used: Sequence[int], buffer_method: str,
                    inv_method: Mapping[int, str]) -> Fit:
        settings = self.settings
        method = {"buffer_fraction": buffer_method, "fitted_on": ", ".join(self.names[i] for i in used),
                  **{f"invocation_ms[{self.names[i]}]": inv_method[i] for i in used},
                  **{follower: f"tied to {leader}" for follower, leader in settings.tied.items()}}
        return Fit(params, MappingProxyType({self.names[i]: float(inv[i]) for i in used}), MappingProxyType(method))

    # ---------------------------------------------------------------- results
    def predict(self, i: int, params: RooflineParams, invocation_ms: float) -> np.ndarray:
        """Every entry of source ``i`` as measured (with its launch cost where entries include one)."""
        data = self.data[i]
        return data.entry_ms(params) + (invocation_ms if data.per_entry else 0.0)

    def report(self, i: int, predicted: np.ndarray, idx: np.ndarray | None = None) -> ErrorReport:
        """Errors of ``predicted`` (all entries of source ``i``, or those ``idx``) against the measurements."""
        data = self.data[i]
        idx = np.arange(len(data.keys)) if idx is None else np.asarray(idx)
        return error_report(np.asarray(predicted)[idx], data.measured[idx], np.asarray(data.keys)[idx])

    def traffic_report(self, i: int, params: RooflineParams) -> ErrorReport | None:
        """Modelled against measured DRAM traffic of source ``i``, where it reports traffic."""
        data = self.data[i]
        ok = np.isfinite(data.traffic) & (data.traffic > 0)
        if not ok.any():
            return None
        predicted = data.dram_bytes(params.buffer_fraction)
        return error_report(predicted[ok], data.traffic[ok], np.asarray(data.keys)[ok])

    def launch_ms(self, i: int, fit: Fit) -> float:
        """Source ``i``'s launch cost: fitted, else (left out of the fit) its own profiler's (0 without one)."""
        name = self.names[i]
        if name in fit.invocation_ms:
            return float(fit.invocation_ms[name])
        return held_out_launch_ms(self.sources[i])

    def cross_validate(self, folds: int, seed: int, invocation_ms: Mapping[str, float], *,
                       adjust: Callable[[list[np.ndarray], Fit], Fit] | None = None) -> list[np.ndarray]:
        """k-fold predictions of every entry of every source (each fold holds out 1/k of every source).

        ``invocation_ms`` gives the launch cost of a source a fold's fit leaves
        out; ``adjust(train, fit)``, if given, turns the fit on a fold's training
        entries (``train``, per source) into the one that predicts its held-out
        entries (:func:`latency_tables.fit_device` moves it part way to the prior).
        """
        sizes = self.sizes()
        splits = [folds_of(n, folds, seed) for n in sizes]
        predicted = [np.empty(n) for n in sizes]
        for k in range(folds):
            train = [np.setdiff1d(np.arange(n), split[k]) for n, split in zip(sizes, splits, strict=True)]
            fit = self.fit(train, seed)
            if adjust is not None:
                fit = adjust(train, fit)
            for i, name in enumerate(self.names):
                launch = fit.invocation_ms.get(name, invocation_ms[name])
                predicted[i][splits[i][k]] = self.predict(i, fit.params, launch)[splits[i][k]]
        return predicted


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
