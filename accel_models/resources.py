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

How each build option (:class:`accel_models.DpuOptions`) enters, and from where:

* the base rows (``data/dpuczdx8g_configs.csv``: LUT, FF, BRAM36 and the
  high-DSP-usage DSP count) are PG338 v1.2 (March 2019), Table 9
  "Resources of Different DSP Usage", high half (checked: the same eight
  rows; measured on a ZCU102 without depthwise convolution, average
  pooling, ReLU6 and leaky ReLU); ``dsp_low`` is the table's low half.
* ``dsp_usage`` "low": its DSP count (``dsp_low``) and the LUTs / FFs it
  costs instead (the same table's low half; :mod:`accel_models.option_resources`).
* ``depthwise``: the extra cost of the depthwise engine (``depthwise_extra_*``),
  PG338 v3.4, section "DepthwiseConv", Table 1 "Extra resources of
  DPUCZDX8G with Depthwise Convolution" (checked: the same eight rows); an
  IP 4.x core always has it.
* ``channel_augmentation``, ALU parallelism (``dw_pp``), ``softmax``:
  PG338's option tables (:mod:`accel_models.option_resources`; the softmax
  core once per IP, not per core).
* ``ram_usage``: "high" adds a third image bank group (the bank groups of
  the Vitis AI target factory), which the model counts as a 1.5 times larger
  activation buffer; the BRAM fit's activation coefficient is two bank
  groups' worth (0.48 BRAM36 per KiB of one group, 0.44 at ideal packing of
  ``ICP`` bytes x 2048 rows), so "high" costs one group more.
* ``uram_per_core``: each UltraRAM block (288 Kb) holds 8 BRAM36 of buffers;
  :func:`fits` places that much of the buffer BRAM in UltraRAM, as built.
* average pooling, element-wise multiply, ReLU types, hard-sigmoid: PG338
  publishes no figure; they add nothing and every :class:`FitResult` says so
  in its ``notes`` (:func:`accel_models.option_resources.resource_notes`).

A custom accelerator (not a DPUCZDX8G configuration, ``Accelerator.is_dpuczdx8g``
False) has no vendor IP: it is built only as the HLS engine of ``ofa-hw export``.
:func:`fits`, :func:`placed_resources`, :func:`uram_to_fit` and
:func:`buildable_on` therefore use that engine's structural estimate
(:mod:`accel_models.hls_engine`, the ``pow2`` engine the export builds by
default) for it, and PG338's model only for stock configurations;
:func:`estimate_resources` is PG338's model alone.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from .accelerator import Accelerator, _dpu_table
from .boards import RESOURCE_NAMES, Board
from .hls_engine import EngineConfig
from .option_resources import option_extras, resource_notes
from .validation import is_real_number

__all__ = ["FitResult", "ResourceUse", "Resources", "board_utilization", "estimate_resources", "fits",
           "placed_resources", "buildable_on", "resource_basis", "resource_fit_report", "uram_to_fit"]

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
class _Regression:
    """A least-squares model of one resource over PG338's configurations (not a board fit)."""

    features: tuple[str, ...]
    coef: np.ndarray
    residual_pct: np.ndarray  # in-sample, per PG338 configuration
    loo_pct: np.ndarray  # leave-one-configuration-out prediction error


@lru_cache(maxsize=1)
def _regressions() -> dict[str, _Regression]:
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
        out[target] = _Regression(names, coef, 100 * (x @ coef - y) / y, 100 * (loo - y) / y)
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
    for target, regression in _regressions().items():
        report[target] = {
            "coefficients": {n: round(float(c), 4) for n, c in zip(regression.features, regression.coef, strict=True)},
            "residual_pct": dict(zip(archs, np.round(regression.residual_pct, 2).tolist(), strict=True)),
            "max_abs_residual_pct": float(np.abs(regression.residual_pct).max()),
            "loo_mean_abs_pct": float(np.abs(regression.loo_pct).mean()),
            "loo_max_abs_pct": float(np.abs(regression.loo_pct).max()),
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
        """The five resources by name."""
        return {name: getattr(self, name) for name in RESOURCE_NAMES}


def _accelerator_arrays(accelerators: Sequence[Accelerator]) -> dict[str, np.ndarray]:
    out = {name: np.array([getattr(a, name) for a in accelerators], dtype=float)
           for name in ("pp", "icp", "ocp", "act_buffer_kib", "weight_buffer_kib", "cores")}
    # the BRAM fit is on RAM-usage-low buffers; "high" enters through its 1.5x activation buffer
    out["dsp_low"] = np.array([a.options.dsp_usage == "low" for a in accelerators])
    out["depthwise"] = np.array([a.options.depthwise for a in accelerators])
    return out


def estimate_resources(accelerator: Accelerator | Sequence[Accelerator]) -> Resources:
    """DSP / LUT / FF / BRAM36 of an accelerator (all cores), from the PG338 fit and its options.

    The estimate is what the design needs before placement: every on-chip
    buffer in BRAM36 (``uram`` 0); :func:`fits` places buffers in UltraRAM
    as the accelerator's ``uram_per_core`` option builds them.

    Parameters
    ----------
    accelerator : Accelerator or sequence of Accelerator
        One accelerator (scalar result) or several (arrays, one value each);
        DSP usage and the depthwise engine come from its ``options``.

    Examples
    --------
    >>> r = estimate_resources(Accelerator.from_dpu("B4096"))
    >>> round(r.dsp), r.extrapolated
    (690, False)
    >>> from accel_models.dpu_options import DpuOptions
    >>> round(estimate_resources(Accelerator.from_dpu("B4096", options=DpuOptions(dsp_usage="low"))).dsp)
    562
    """
    single = isinstance(accelerator, Accelerator)
    accs: list[Accelerator] = [accelerator] if isinstance(accelerator, Accelerator) else list(accelerator)
    if not accs or not all(isinstance(a, Accelerator) for a in accs):
        raise ValueError("estimate_resources needs an Accelerator or a non-empty sequence of them")
    a = _accelerator_arrays(accs)
    cols = _feature_columns(a["pp"], a["icp"], a["ocp"], a["act_buffer_kib"], a["weight_buffer_kib"])
    regressions = _regressions()

    def predict(target: str) -> np.ndarray:
        regression = regressions[target]
        return np.stack([cols[n] for n in regression.features], axis=1) @ regression.coef

    per_core = {"dsp": np.where(a["dsp_low"], predict("dsp_low"), predict("dsp_high")), "lut": predict("lut"),
                "ff": predict("ff"), "bram36": predict("bram36"), "uram": np.zeros(len(accs))}
    for name in ("dsp", "lut", "bram36"):
        per_core[name] = per_core[name] + np.where(a["depthwise"], predict(f"depthwise_extra_{name}"), 0.0)
    option_core, option_ip = option_extras(accs)
    for name, extra in option_core.items():
        per_core[name] = per_core[name] + extra
    totals = {name: np.maximum(v, 0.0) * a["cores"] + option_ip.get(name, 0.0) for name, v in per_core.items()}
    table = list(_dpu_table().values())
    lo = {k: min(getattr(c, k) for c in table) for k in ("pp", "icp", "ocp")}
    hi = {k: max(getattr(c, k) for c in table) for k in ("pp", "icp", "ocp")}
    extrapolated = np.zeros(len(accs), dtype=bool)
    for k in ("pp", "icp", "ocp"):
        extrapolated |= (a[k] < lo[k]) | (a[k] > hi[k])
    if extrapolated.any():
        names = sorted({accs[i].label for i in np.flatnonzero(extrapolated)})
        warnings.warn(f"resource estimate extrapolates beyond the PG338 configurations (PP {lo['pp']}-{hi['pp']}, "
                      f"ICP/OCP {lo['icp']}-{hi['icp']}) for accelerator(s) {names}", stacklevel=2)
    if single:
        return Resources(**{k: float(v[0]) for k, v in totals.items()}, extrapolated=bool(extrapolated[0]))
    return Resources(**totals, extrapolated=extrapolated)


@dataclass(frozen=True)
class ResourceUse:
    """Resources of one accelerator as placed on a board (BRAM36 left in BRAM, buffers moved to UltraRAM)."""

    dsp: float
    lut: float
    ff: float
    bram36: float
    uram: float

    def as_dict(self) -> dict[str, float]:
        """The five resources by name."""
        return {name: getattr(self, name) for name in RESOURCE_NAMES}


@dataclass(frozen=True)
class FitResult:
    """Whether an accelerator fits a board, with its resources as placed.

    ``placed`` is the use on the board after the accelerator's UltraRAM
    option took over buffers from BRAM; ``utilization`` is placed / available
    per resource (``inf`` when the board has none of a resource that is
    needed); ``binding_resource`` is the most utilised one, the one that
    limits growing the accelerator; ``extrapolated`` says the resource
    estimate lies outside PG338's configurations; ``notes`` say which PG338
    tables the estimate counts and which enabled options have no figure.
    """

    ok: bool
    binding_resource: str
    utilization: Mapping[str, float]
    placed: ResourceUse
    extrapolated: bool = False
    notes: tuple[str, ...] = ()

    @property
    def binding_utilization(self) -> float:
        """Placed / available of the binding resource."""
        return float(self.utilization[self.binding_resource])

    def __str__(self) -> str:
        verdict = "fits" if self.ok else "does NOT fit"
        use = ", ".join(f"{k} {100 * v:.0f}%" for k, v in self.utilization.items())
        return f"{verdict} (binding: {self.binding_resource}; {use})"

    def to_dict(self) -> dict:
        """Plain-JSON form."""
        return {"ok": self.ok, "binding_resource": self.binding_resource, "utilization": dict(self.utilization),
                "placed": self.placed.as_dict(), "extrapolated": self.extrapolated, "notes": list(self.notes)}

    @classmethod
    def from_dict(cls, data: Mapping) -> FitResult:
        """Inverse of :meth:`to_dict`; unknown or missing keys are an error (``notes`` may be absent: older files)."""
        expected = {"ok", "binding_resource", "utilization", "placed", "extrapolated", "notes"}
        if not expected - {"notes"} <= set(data) <= expected:
            raise ValueError(f"FitResult keys {sorted(data)} differ from the expected {sorted(expected)}")
        return cls(ok=bool(data["ok"]), binding_resource=str(data["binding_resource"]),
                   utilization={k: float(v) for k, v in data["utilization"].items()},
                   placed=ResourceUse(**{k: float(v) for k, v in data["placed"].items()}),
                   extrapolated=bool(data["extrapolated"]), notes=tuple(str(n) for n in data.get("notes", ())))


def resource_basis(accelerator: Accelerator) -> str:
    """Which resource model :func:`fits` applies to ``accelerator``: PG338's fit or the HLS engine's structure."""
    if accelerator.is_dpuczdx8g:
        return "PG338 DPUCZDX8G resource fit"
    return "HLS engine structural estimate (accel_models.hls_engine)"


def _engine_use(accelerator: Accelerator, board: Board) -> ResourceUse:
    """The custom accelerator's HLS engines (``cores`` of them) as placed on ``board``."""
    per_core = EngineConfig.from_accelerator(accelerator, multipliers=False).placed(board)
    return ResourceUse(**{k: float(v) * accelerator.cores for k, v in per_core.as_dict().items()})


def placed_resources(accelerator: Accelerator, need: Resources | None = None) -> ResourceUse:
    """The stock accelerator's resources with ``uram_per_core`` UltraRAM blocks holding buffers instead of BRAM36.

    PG338's model; a custom accelerator's placement depends on the board (see :func:`fits`).
    """
    need = estimate_resources(accelerator) if need is None else need
    per_core_uram = accelerator.options.uram_per_core
    moved = min(float(need.bram36), BRAM36_PER_URAM * per_core_uram * accelerator.cores)
    return ResourceUse(dsp=float(need.dsp), lut=float(need.lut), ff=float(need.ff),
                       bram36=float(need.bram36) - moved, uram=float(per_core_uram * accelerator.cores))


def uram_to_fit(accelerator: Accelerator, board: Board, max_utilization: float = 1.0) -> int:
    """UltraRAM blocks per core that move just enough buffer BRAM for ``board`` (0 if BRAM suffices or no URAM).

    A DPUCZDX8G build option; a custom accelerator's HLS engine places its weight buffer itself (0 here).
    """
    if board.uram == 0 or not accelerator.is_dpuczdx8g:
        return 0
    need = estimate_resources(accelerator)
    excess = float(need.bram36) - max_utilization * board.bram36
    if excess <= 0:
        return 0
    return int(np.ceil(excess / BRAM36_PER_URAM / accelerator.cores))


def board_utilization(use: Mapping[str, float], board: Board) -> dict[str, float]:
    """Used / available of each of the five resources of ``use`` on ``board``.

    ``inf`` where the board has none of a resource that is used, 0 where it has none and none is used.

    Examples
    --------
    >>> from accel_models.boards import get_board
    >>> ultra96 = get_board("ultra96v2")  # 360 DSP, no UltraRAM
    >>> use = board_utilization({"dsp": 180, "lut": 0, "ff": 0, "bram36": 0, "uram": 4}, ultra96)
    >>> use["dsp"], use["uram"]
    (0.5, inf)
    """
    budget = board.resources()
    return {k: (use[k] / budget[k] if budget[k] else (0.0 if use[k] == 0 else float("inf"))) for k in RESOURCE_NAMES}


def fits(accelerator: Accelerator, board: Board, *, max_utilization: float = 1.0) -> FitResult:
    """Check ``accelerator`` (with its build options) against ``board``'s resource budget.

    A stock DPUCZDX8G configuration is priced with PG338's model and its
    build options; a custom accelerator with the structural estimate of its
    HLS engine (the only way to build it), as ``ofa-hw export`` checks it.

    Parameters
    ----------
    max_utilization : float
        Fraction of each resource the accelerator may take (leave room for
        the platform shell, e.g. 0.9).

    Examples
    --------
    >>> from accel_models.boards import get_board
    >>> fits(Accelerator.from_dpu("B4096"), get_board("ultra96v2")).binding_resource
    'dsp'
    >>> fits(Accelerator.from_dpu("B1600"), get_board("ultra96v2")).ok
    True
    """
    if not isinstance(accelerator, Accelerator):
        raise TypeError(f"fits takes an Accelerator (e.g. Accelerator.from_dpu('B1600')), "
                        f"got {type(accelerator).__name__} {accelerator!r}")
    if not isinstance(board, Board):
        raise TypeError(f"fits takes a Board (e.g. get_board('ultra96v2')), got {type(board).__name__} {board!r}")
    if not is_real_number(max_utilization) or not 0 < max_utilization <= 1:
        raise ValueError(f"max_utilization must lie in (0, 1] (a number), got {max_utilization!r}")
    if accelerator.is_dpuczdx8g:
        need = estimate_resources(accelerator)
        placed = placed_resources(accelerator, need).as_dict()
        extrapolated, notes = bool(need.extrapolated), resource_notes(accelerator)
    else:
        placed, extrapolated = _engine_use(accelerator, board).as_dict(), False
        notes = (resource_basis(accelerator),)
    utilization = board_utilization(placed, board)
    binding = max(utilization, key=lambda k: utilization[k])
    return FitResult(ok=utilization[binding] <= max_utilization, binding_resource=binding, utilization=utilization,
                     placed=ResourceUse(**placed), extrapolated=extrapolated, notes=notes)


def buildable_on(accelerator: Accelerator, board: Board) -> Accelerator:
    """``accelerator`` with the UltraRAM it needs and PG338's "low DSP usage" when "high" does not fit ``board``.

    What a DPU of this array has to be built with to fit the board (a B2304
    on an Ultra96-V2 needs 422 DSP slices with "high" DSP usage, 326 with
    "low"); the result may still not fit, which :func:`fits` then says.
    Neither option changes the compiled program or its timing.  A custom
    accelerator is returned unchanged: those are options of the vendor IP,
    its HLS engine has neither.
    """
    if not accelerator.is_dpuczdx8g:
        return accelerator
    def with_uram(acc: Accelerator) -> Accelerator:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            uram = uram_to_fit(acc, board)
        if uram == acc.options.uram_per_core:
            return acc
        return acc.replace(options=acc.options.replace(uram_per_core=uram))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # extrapolation is flagged where the result is used
        if not fits(with_uram(accelerator), board).ok:
            accelerator = accelerator.replace(options=accelerator.options.replace(dsp_usage="low"))
    return with_uram(accelerator)
