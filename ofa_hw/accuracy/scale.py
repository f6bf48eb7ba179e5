"""Accuracy scales, and the calibration that puts each predictor on the ImageNet-val scale.

A top-1 figure means nothing without the images it was measured on and the
weights it was measured with.  The predictors shipped here answer on
different scales:

* ``ofa-mlp``: OFA's released MLP predicts the top-1 OFA measured with weights
  inherited from the super-network on 10,000 held-out ImageNet *train* images
  (``ofa/tutorial``); it runs 3.2-3.6 points above the published figures.
* ``imagenet-val-inherited``: DyNAS-T's measurements (what the w1.0 predictor
  is trained on): ImageNet-val top-1 with inherited weights, no fine-tuning,
  all at r = 224.
* ``imagenet-val``: ImageNet-val top-1 of the network fine-tuned as OFA
  publishes its specialized nets (``data/ofa_specialized_nets.json``; 25 or
  75 epochs, the ``finetune`` label).  What a user reading "top-1" assumes,
  and the default.

:class:`ScaleCalibration` maps a raw scale to ``imagenet-val`` with a fit to
OFA's specialized nets (the only networks of these spaces with a published
ImageNet-val figure) and carries its in-sample residual and its
leave-one-out error; :func:`calibration_for` builds it from the shipped file.

* w1.2 (OFA's MLP): ``val = raw - offset``, one offset fitted on the 6
  specialized w1.2 nets whose resolution the MLP was trained on (220-224;
  the other 4 sit at 228-260, outside it).
* w1.0 (the kernel ridge on DyNAS-T): ``val = raw(arch at 224) + a + b (r - 224)``,
  fitted on all 24 specialized w1.0 nets (r 140-224).  The measured
  predictor only knows r = 224; the resolution term, learned from published
  nets, is what lets it score the space's resolutions 140..224.
"""

from __future__ import annotations

import dataclasses
import json
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from ..space import SubnetBatch, SubnetConfig, get_space
from .base import AccuracyPredictor

__all__ = [
    "DEFAULT_SCALE",
    "SCALES",
    "AccuracyScale",
    "CalibratedPredictor",
    "ScaleCalibration",
    "SpecializedNet",
    "calibration_for",
    "fit_calibration",
    "get_scale",
    "load_specialized_nets",
]


@dataclass(frozen=True)
class AccuracyScale:
    """What a top-1 number was (or would be) measured on.

    Attributes
    ----------
    name : str
        Short identifier saved in results (``"imagenet-val"``).
    label : str
        How it is printed beside a number.
    description : str
        Images, weights and source.
    """

    name: str
    label: str
    description: str


SCALES = {
    "imagenet-val": AccuracyScale(
        "imagenet-val", "ImageNet-val",
        "ImageNet-1k validation top-1 of the fine-tuned network, as OFA publishes its specialized nets "
        "(calibrated on them; ofa_hw.accuracy.scale)"),
    "ofa-mlp": AccuracyScale(
        "ofa-mlp", "OFA-MLP scale",
        "OFA's accuracy-predictor scale: top-1 with inherited super-network weights on 10k held-out ImageNet "
        "*train* images (3.2-3.6 pp above ImageNet-val)"),
    "imagenet-val-inherited": AccuracyScale(
        "imagenet-val-inherited", "ImageNet-val, inherited weights",
        "ImageNet-1k validation top-1 with weights inherited from the super-network, no fine-tuning "
        "(DyNAS-T's measurements, r=224)"),
}
#: The scale every predictor answers on unless ``scale="raw"`` is asked for.
DEFAULT_SCALE = "imagenet-val"


def get_scale(name: str) -> AccuracyScale:
    """A scale by name (see :data:`SCALES`).

    >>> get_scale("imagenet-val").label
    'ImageNet-val'
    """
    if name not in SCALES:
        raise KeyError(f"unknown accuracy scale {name!r}; known: {', '.join(SCALES)}")
    return SCALES[name]


# --------------------------------------------------------------- the data
@dataclass(frozen=True)
class SpecializedNet:
    """One of OFA's released specialized networks with its published ImageNet-val top-1."""

    name: str
    config: SubnetConfig
    top1_pct: float
    finetune_epochs: int

    @property
    def width_mult(self) -> float:
        """The super-network's width multiplier."""
        return self.config.width_mult

    @property
    def r(self) -> int:
        """The resolution the net was published at."""
        return self.config.r


_LABEL = re.compile(r"top1-(?P<top1>[\d.]+)_finetune-(?P<epochs>\d+)$")


def load_specialized_nets(path: str | Path | None = None) -> tuple[SpecializedNet, ...]:
    """OFA-MobileNetV3 specialized nets (w1.0 and w1.2) of ``data/ofa_specialized_nets.json``.

    The published top-1 and fine-tuning epochs are read from each net's name
    (``note10_lat-30ms_top1-78.4_finetune-75``), as OFA labels them.

    >>> nets = load_specialized_nets()
    >>> sum(n.width_mult == 1.2 for n in nets), sum(n.width_mult == 1.0 for n in nets)
    (10, 24)
    """
    from ..ofa_dicts import parse_subnet_dict
    from .registry import DATA_DIR

    path = Path(DATA_DIR / "ofa_specialized_nets.json" if path is None else path)
    nets = []
    for name, data in json.loads(path.read_text()).items():
        if not data.get("supernet", "").startswith("ofa_mbv3"):
            continue
        match = _LABEL.search(name)
        if match is None:
            raise ValueError(f"{path}: specialized net {name!r} carries no 'top1-<pct>_finetune-<epochs>' label")
        with warnings.catch_warnings():  # some nets sit outside the trained resolutions; that is their label
            warnings.simplefilter("ignore", UserWarning)
            config = SubnetConfig(**parse_subnet_dict(data))
        nets.append(SpecializedNet(name, config, float(match["top1"]), int(match["epochs"])))
    return tuple(nets)


# ------------------------------------------------------------ calibration
@dataclass(frozen=True)
class ScaleCalibration:
    """``target = raw + offset_pp + slope_pp_per_px * (r - 224)``, with how well it holds.

    Attributes
    ----------
    source_scale, target_scale : str
        Names in :data:`SCALES`.
    offset_pp, slope_pp_per_px : float
        The fitted map (``slope`` 0 for an offset-only fit).
    resolutions : tuple of int
        Resolutions the fit was made on (multiples of 4 between the smallest
        and largest resolution of its nets).
    nets : tuple of str
        The specialized nets it was fitted on.
    residual_rmse_pp, residual_max_pp : float
        In-sample residual (published minus calibrated), RMS and worst.
    loo_rmse_pp, loo_max_pp : float
        Leave-one-out: each net predicted by a fit on the others.
    raw_bias_pp : float
        Mean (raw - published) before calibration.
    """

    source_scale: str
    target_scale: str
    offset_pp: float
    slope_pp_per_px: float
    resolutions: tuple[int, ...]
    nets: tuple[str, ...]
    residual_rmse_pp: float
    residual_max_pp: float
    loo_rmse_pp: float
    loo_max_pp: float
    raw_bias_pp: float

    def apply(self, raw_pct: np.ndarray, r: np.ndarray) -> np.ndarray:
        """Raw-scale top-1 (%) of networks at resolutions ``r`` on the target scale."""
        return np.asarray(raw_pct, float) + self.offset_pp + self.slope_pp_per_px * (np.asarray(r, float) - 224.0)

    def describe(self) -> str:
        """One line: the map, what it was fitted on, its leave-one-out error."""
        form = f"{self.offset_pp:+.2f} pp"
        if self.slope_pp_per_px:
            form += f" {self.slope_pp_per_px:+.4f} pp/px x (r - 224)"
        return (f"{self.source_scale} -> {self.target_scale}: {form}, fitted on {len(self.nets)} OFA specialized nets "
                f"(r {self.resolutions[0]}-{self.resolutions[-1]}); residual RMSE {self.residual_rmse_pp:.2f} pp, "
                f"leave-one-out RMSE {self.loo_rmse_pp:.2f} pp (worst {self.loo_max_pp:.2f})")


def _lstsq(x: np.ndarray, y: np.ndarray, with_slope: bool) -> tuple[np.ndarray, np.ndarray]:
    design = np.stack([np.ones_like(x), x], axis=1) if with_slope else np.ones((len(x), 1))
    coef = np.linalg.lstsq(design, y, rcond=None)[0]
    return design @ coef, coef


def fit_calibration(raw_pct: Sequence[float] | np.ndarray, published_pct: Sequence[float] | np.ndarray,
                    r: Sequence[int] | np.ndarray, *,
                    with_slope: bool, source_scale: str, nets: Sequence[str]) -> ScaleCalibration:
    """Least-squares ``published - raw = offset (+ slope (r - 224))``, validated leave-one-out.

    >>> cal = fit_calibration([82.0, 83.0, 84.0], [79.0, 79.5, 80.5], [224, 224, 220], with_slope=False,
    ...                       source_scale="ofa-mlp", nets=["a", "b", "c"])
    >>> round(cal.offset_pp, 3), round(cal.loo_rmse_pp, 3)
    (-3.333, 0.354)
    """
    raw, published, res = (np.asarray(v, float) for v in (raw_pct, published_pct, r))
    if not raw.shape == published.shape == res.shape or raw.size < 3:
        raise ValueError(f"a calibration needs at least 3 nets with raw, published and r each, got {raw.size}")
    gap, x = published - raw, res - 224.0
    fitted, coef = _lstsq(x, gap, with_slope)
    residual = gap - fitted
    loo = np.empty_like(gap)
    for i in range(gap.size):
        keep = np.arange(gap.size) != i
        _, c = _lstsq(x[keep], gap[keep], with_slope)
        loo[i] = gap[i] - (c[0] + (c[1] * x[i] if with_slope else 0.0))
    lo, hi = int(res.min()), int(res.max())
    return ScaleCalibration(
        source_scale, DEFAULT_SCALE, float(coef[0]), float(coef[1]) if with_slope else 0.0,
        tuple(range(lo - lo % 4, hi + 1, 4)), tuple(nets),
        float(np.sqrt(np.mean(residual ** 2))), float(np.abs(residual).max()),
        float(np.sqrt(np.mean(loo ** 2))), float(np.abs(loo).max()), float(np.mean(-gap)))


@cache
def calibration_for(predictor_name: str) -> ScaleCalibration:
    """The shipped calibration of a raw predictor (``"ofa-mbv3-w1.2"`` or ``"ofa-mbv3-w1.0"``).

    Examples
    --------
    >>> cal = calibration_for("ofa-mbv3-w1.2")
    >>> len(cal.nets), cal.resolutions[0], cal.resolutions[-1]
    (6, 220, 224)
    >>> calibration_for("ofa-mbv3-w1.0").resolutions[0]
    140
    """
    from .registry import get_predictor

    raw = get_predictor(predictor_name, scale="raw")
    width = 1.2 if predictor_name == "ofa-mbv3-w1.2" else 1.0
    nets = [n for n in load_specialized_nets() if n.width_mult == width]
    if width == 1.2:  # the MLP scores only the resolutions it was trained on
        nets = [n for n in nets if n.r in raw.valid_resolutions]
        scored_r = [n.r for n in nets]
    else:  # the measured predictor knows r = 224 only: score the architecture there, learn the resolution term
        scored_r = [224] * len(nets)
    batch = SubnetBatch.from_configs([dataclasses.replace(n.config, r=r) for n, r in zip(nets, scored_r, strict=True)])
    return fit_calibration(raw.predict(batch), [n.top1_pct for n in nets], [n.r for n in nets],
                           with_slope=width == 1.0, source_scale=raw.scale.name, nets=[n.name for n in nets])


class CalibratedPredictor(AccuracyPredictor):
    """A raw predictor put on the ImageNet-val scale by a :class:`ScaleCalibration`.

    Parameters
    ----------
    base : AccuracyPredictor
        The raw predictor.
    calibration : ScaleCalibration
        Its map to ``imagenet-val``.
    score_at : int, optional
        Resolution the base scores every architecture at (224 for the
        w1.0 predictor, which was measured only there; the calibration's
        resolution term carries the rest).  None: the network's own.
    """

    kind = "float top-1"

    def __init__(self, base: AccuracyPredictor, calibration: ScaleCalibration, score_at: int | None = None) -> None:
        self.base = base
        self.calibration = calibration
        if score_at is not None:
            SubnetConfig.smallest(r=score_at, width_mult=get_space(base.space).width_mult)  # validates score_at
        self.score_at = score_at
        self.name = base.name
        self.space = base.space
        self.scale = get_scale(calibration.target_scale)
        fitted = f"r {calibration.resolutions[0]}-{calibration.resolutions[-1]}"
        if score_at is None:  # an offset: valid wherever the base is, checked where the nets are
            self.valid_resolutions = tuple(base.valid_resolutions)
            self.resolution_reason = getattr(base, "resolution_reason", "")
        else:  # the resolution term is learned from the nets: no extrapolation beyond them
            self.valid_resolutions = tuple(calibration.resolutions)
            self.resolution_reason = (f"its resolution term was fitted on OFA specialized nets at {fitted} only "
                                      f"(the measured predictor itself knows r={score_at} only)")

    def _predict_batch(self, batch: SubnetBatch) -> np.ndarray:
        # The batch is valid and score_at was checked in __init__: no second validation per call.
        scored = batch if self.score_at is None else SubnetBatch._normalised(
            batch.ks, batch.e, batch.d, np.full(len(batch), self.score_at), batch.width_mult)
        return self.calibration.apply(self.base._predict_batch(scored), batch.r)
