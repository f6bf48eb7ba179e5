"""FPGA resources of an accelerator, fitted to the DPUCZDX8G table of PG338, and board fit.

Each resource is a least-squares fit over the eight PG338 configurations
(B512 ... B4096) on a few physical features of the PE array:

=========  ==========================================  ============================================
resource   features                                    reading
=========  ==========================================  ============================================
dsp        1, PP*ICP*OCP, PP*ICP (high DSP usage)      4 int8 MACs per DSP48 per cycle (2 packed,
                                                       double-rate DSP clock); the "high" option
                                                       adds one DSP per PP*ICP accumulator lane
lut        1, PP, ICP                                  per-pixel and per-channel lane logic
ff         1, PP*ICP, ICP*OCP                          pipeline registers of both array faces
bram36     1, activation KiB, weight KiB               on-chip buffers (+ fixed instruction/misc)
=========  ==========================================  ============================================

plus the depthwise engine (DSP on PP*ICP, LUT on PP*ICP, BRAM on ICP*OCP).
:func:`resource_fit_report` lists coefficients and residuals; estimates for
parallelism outside the table's range are flagged ``extrapolated`` and warn.
Figures are per core; ``cores`` multiplies them (the shared AXI interconnect
of a multi-core DPU is not counted).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from .accelerator import Accelerator, _dpu_table
from .boards import Board

__all__ = ["FitResult", "Resources", "estimate_resources", "fits", "resource_fit_report"]

RESOURCE_NAMES = ("dsp", "lut", "ff", "bram36", "uram")
#: BRAM36 blocks one UltraRAM block can stand in for (288 Kb / 36 Kb).
BRAM36_PER_URAM = 8

_FEATURES = {
    "dsp_high": ("1", "macs", "pp_icp"),
    "dsp_low": ("1", "macs"),
    "lut": ("1", "pp", "icp"),
    "ff": ("1", "pp_icp", "icp_ocp"),
    "bram36": ("1", "act_kib", "weight_kib"),
    "depthwise_extra_dsp": ("pp_icp",),
    "depthwise_extra_lut": ("1", "pp_icp"),
    "depthwise_extra_bram36": ("1", "icp_ocp"),
}


def _feature_columns(pp, icp, ocp, act_kib, weight_kib) -> dict[str, np.ndarray]:
    pp, icp, ocp = (np.asarray(v, dtype=float) for v in (pp, icp, ocp))
    return {"1": np.ones_like(pp), "pp": pp, "icp": icp, "macs": pp * icp * ocp, "pp_icp": pp * icp,
            "icp_ocp": icp * ocp, "act_kib": np.asarray(act_kib, dtype=float),
            "weight_kib": np.asarray(weight_kib, dtype=float)}


@dataclass(frozen=True)
class _Fit:
    features: tuple[str, ...]
    coef: np.ndarray
    residual_pct: np.ndarray  # in-sample, per PG338 configuration
    loo_pct: np.ndarray  # leave-one-configuration-out prediction error


@lru_cache(maxsize=1)
def _fits() -> dict[str, _Fit]:
    table = list(_dpu_table().values())
    defaults = [Accelerator(c.pp, c.icp, c.ocp, clock_mhz=100.0) for c in table]
    cols = _feature_columns([c.pp for c in table], [c.icp for c in table], [c.ocp for c in table],
                            [a.act_buffer_kib for a in defaults], [a.weight_buffer_kib for a in defaults])
    out = {}
    for target, names in _FEATURES.items():
        y = np.array([getattr(c, target) for c in table], dtype=float)
        x = np.stack([cols[n] for n in names], axis=1)
        coef = np.linalg.lstsq(x, y, rcond=None)[0]
        loo = np.empty(len(y))
        for i in range(len(y)):
            keep = np.arange(len(y)) != i
            loo[i] = x[i] @ np.linalg.lstsq(x[keep], y[keep], rcond=None)[0]
        out[target] = _Fit(names, coef, 100 * (x @ coef - y) / y, 100 * (loo - y) / y)
    return out


def resource_fit_report() -> dict[str, dict]:
    """Coefficients and residuals (percent) of every resource fit, per PG338 configuration.

    Examples
    --------
    >>> report = resource_fit_report()
    >>> report["dsp_low"]["coefficients"]
    {'1': 2.0, 'macs': 0.25}
    >>> report["bram36"]["max_abs_residual_pct"] < 10
    True
    """
    archs = list(_dpu_table())
    report = {}
    for target, fit in _fits().items():
        report[target] = {
            "coefficients": {n: round(float(c), 4) for n, c in zip(fit.features, fit.coef)},
            "residual_pct": dict(zip(archs, np.round(fit.residual_pct, 2).tolist())),
            "max_abs_residual_pct": float(np.abs(fit.residual_pct).max()),
            "loo_mean_abs_pct": float(np.abs(fit.loo_pct).mean()),
            "loo_max_abs_pct": float(np.abs(fit.loo_pct).max()),
        }
    return report


@dataclass(frozen=True)
class Resources:
    """FPGA resources: scalars for one accelerator, arrays for several.

    ``extrapolated`` is True where the accelerator's parallelism lies outside
    the PG338 configurations the fit was made on.
    """

    dsp: float | np.ndarray
    lut: float | np.ndarray
    ff: float | np.ndarray
    bram36: float | np.ndarray
    uram: float | np.ndarray
    extrapolated: bool | np.ndarray = field(default=False)

    def as_dict(self) -> dict[str, float | np.ndarray]:
        return {name: getattr(self, name) for name in RESOURCE_NAMES}


def _accelerator_arrays(accelerators: Sequence[Accelerator]) -> dict[str, np.ndarray]:
    return {name: np.array([getattr(a, name) for a in accelerators], dtype=float)
            for name in ("pp", "icp", "ocp", "act_buffer_kib", "weight_buffer_kib", "cores")}


def estimate_resources(accelerator: Accelerator | Sequence[Accelerator], *, dsp_usage: str = "high",
                       depthwise: bool = True) -> Resources:
    """DSP / LUT / FF / BRAM36 / URAM of an accelerator (all cores), from the PG338 fit.

    Parameters
    ----------
    accelerator : Accelerator or sequence of Accelerator
        One accelerator (scalar result) or several (arrays, one value each).
    dsp_usage : {"high", "low"}
        PG338's DSP-usage option ("low" builds the accumulators in LUTs).
    depthwise : bool
        Include the depthwise-convolution engine (MobileNets need it).

    Examples
    --------
    >>> r = estimate_resources(Accelerator.from_dpu("B4096"))
    >>> round(r.dsp), r.extrapolated
    (690, False)
    """
    if dsp_usage not in ("high", "low"):
        raise ValueError(f"dsp_usage must be 'high' or 'low', got {dsp_usage!r}")
    single = isinstance(accelerator, Accelerator)
    accs = [accelerator] if single else list(accelerator)
    if not accs or not all(isinstance(a, Accelerator) for a in accs):
        raise ValueError("estimate_resources needs an Accelerator or a non-empty sequence of them")
    a = _accelerator_arrays(accs)
    cols = _feature_columns(a["pp"], a["icp"], a["ocp"], a["act_buffer_kib"], a["weight_buffer_kib"])
    fits_ = _fits()

    def predict(target: str) -> np.ndarray:
        fit = fits_[target]
        return np.stack([cols[n] for n in fit.features], axis=1) @ fit.coef

    per_core = {"dsp": predict(f"dsp_{dsp_usage}"), "lut": predict("lut"), "ff": predict("ff"),
                "bram36": predict("bram36"), "uram": np.zeros(len(accs))}
    if depthwise:
        for name in ("dsp", "lut", "bram36"):
            per_core[name] = per_core[name] + predict(f"depthwise_extra_{name}")
    totals = {name: np.maximum(v, 0.0) * a["cores"] for name, v in per_core.items()}
    table = list(_dpu_table().values())
    lo = {k: min(getattr(c, k) for c in table) for k in ("pp", "icp", "ocp")}
    hi = {k: max(getattr(c, k) for c in table) for k in ("pp", "icp", "ocp")}
    extrapolated = np.zeros(len(accs), dtype=bool)
    for k in ("pp", "icp", "ocp"):
        extrapolated |= (a[k] < lo[k]) | (a[k] > hi[k])
    if extrapolated.any():
        names = sorted({accs[i].name for i in np.flatnonzero(extrapolated)})
        warnings.warn(f"resource estimate extrapolates beyond the PG338 configurations (PP {lo['pp']}-{hi['pp']}, "
                      f"ICP/OCP {lo['icp']}-{hi['icp']}) for accelerator(s) {names}", stacklevel=2)
    if single:
        return Resources(**{k: float(v[0]) for k, v in totals.items()}, extrapolated=bool(extrapolated[0]))
    return Resources(**totals, extrapolated=extrapolated)


@dataclass(frozen=True)
class FitResult:
    """Whether an accelerator fits a board.

    ``utilization`` is used / available per resource (``inf`` when the board
    has none of a resource that is needed); ``binding_resource`` is the most
    utilised one, the one that limits growing the accelerator.
    """

    ok: bool
    binding_resource: str
    utilization: Mapping[str, float]
    resources: Resources

    def __str__(self) -> str:
        verdict = "fits" if self.ok else "does NOT fit"
        use = ", ".join(f"{k} {100 * v:.0f}%" for k, v in self.utilization.items())
        return f"{verdict} (binding: {self.binding_resource}; {use})"


def fits(accelerator: Accelerator, board: Board, *, max_utilization: float = 1.0, dsp_usage: str = "high",
         bram_to_uram: bool = True) -> FitResult:
    """Check ``accelerator`` against ``board``'s resource budget.

    Parameters
    ----------
    max_utilization : float
        Fraction of each resource the accelerator may take (leave room for
        the platform shell, e.g. 0.9).
    bram_to_uram : bool
        Place on-chip buffers that exceed the board's BRAM in UltraRAM
        (8 BRAM36 per URAM block), as the DPU's UltraRAM option does.

    Examples
    --------
    >>> from accel_models.boards import get_board
    >>> fits(Accelerator.from_dpu("B4096"), get_board("ultra96v2")).binding_resource
    'dsp'
    >>> fits(Accelerator.from_dpu("B1600"), get_board("ultra96v2")).ok
    True
    """
    if not 0 < max_utilization <= 1:
        raise ValueError(f"max_utilization must lie in (0, 1], got {max_utilization!r}")
    need = estimate_resources(accelerator, dsp_usage=dsp_usage)
    used = {k: float(v) for k, v in need.as_dict().items()}
    budget = board.resources()
    if bram_to_uram and used["bram36"] > budget["bram36"] and budget["uram"] > 0:
        moved = used["bram36"] - budget["bram36"]
        used["bram36"] -= moved
        used["uram"] += float(np.ceil(moved / BRAM36_PER_URAM))
    utilization = {k: (used[k] / budget[k] if budget[k] else (0.0 if used[k] == 0 else float("inf")))
                   for k in RESOURCE_NAMES}
    binding = max(utilization, key=utilization.get)
    return FitResult(ok=utilization[binding] <= max_utilization, binding_resource=binding,
                     utilization=utilization, resources=need)
