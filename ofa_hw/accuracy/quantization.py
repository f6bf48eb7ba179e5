"""The top-1 cost of int8 deployment on a DPU, modelled from published float-vs-int8 figures.

The DPU runs int8 with per-tensor power-of-two scales (Vitis AI's ``vai_q``
quantizers, "fix position" per tensor).  ``data/vitis_ai_int8_imagenet.csv``
holds the float and quantized ImageNet top-1 that the Vitis AI Model Zoo
publishes for its classification models (Xilinx/Vitis-AI @00cfb6f8, tag v2.5,
``model_zoo/README.md``, plus Caffe MobileNetV2 from @924923e1, v1.4,
``models/AI-Model-Zoo/README.md``; Apache-2.0), each tagged with an
architecture family.

What the figures support (drop = float - int8 top-1, percentage points):

* depthwise networks lose more than dense ones (dense median about 0.8 pp;
  MobileNetV1, without residuals, 2.1-14 pp);
* the inverted-residual family (depthwise in every block, residual adds) that
  OFA-MobileNetV3 belongs to: MobileNetV2 1.0 / 1.4 (TF), MobileNetV2 (Caffe),
  MobileNetV3 (TF2, h-swish + SE) and EfficientNet-B0 (TF2, swish + SE) lose
  1.28-2.46 pp, mean 1.97 pp, sample s.d. 0.46 pp;
* within that family neither SE / h-swish (1.98 pp with, 1.97 pp without)
  nor network size (66 M to 580 M MACs) shows an effect the five points could
  resolve.

So the model is a constant drop: the mean of the analogue family, with its
spread as the stated uncertainty.  It shifts accuracies without reordering
networks; what a search gains from it is honest absolute numbers (a
quantized-accuracy constraint or report).  Quantization-aware fine-tuning
usually recovers part of the drop; this model describes post-training
quantization as the zoo reports it.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..space import SubnetBatch
from .base import AccuracyPredictor

__all__ = [
    "FAMILIES",
    "Int8DropModel",
    "PublishedInt8Result",
    "QuantizedPredictor",
    "load_published_int8",
]

#: Architecture families of the published figures.
FAMILIES = ("dense", "depthwise-plain", "inverted-residual", "fused-inverted-residual", "depthwise-resnet",
            "transformer")
_COLUMNS = ("model", "family", "se", "activation", "input_px", "float_top1_pct", "int8_top1_pct", "source")


@dataclass(frozen=True)
class PublishedInt8Result:
    """One model's published float and int8 ImageNet top-1 (percent)."""

    model: str
    family: str
    se: bool
    activation: str
    input_px: int
    float_top1_pct: float
    int8_top1_pct: float
    source: str

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"{self.model}: family {self.family!r} unknown; allowed: {list(FAMILIES)}")
        for name in ("float_top1_pct", "int8_top1_pct"):
            if not 0.0 < getattr(self, name) <= 100.0:
                raise ValueError(f"{self.model}: {name} = {getattr(self, name)} is not a percentage")
        if not self.source:
            raise ValueError(f"{self.model}: every published figure needs its source")

    @property
    def drop_pp(self) -> float:
        """Float minus int8 top-1, percentage points."""
        return self.float_top1_pct - self.int8_top1_pct


def load_published_int8(path: str | os.PathLike | None = None) -> tuple[PublishedInt8Result, ...]:
    """The published float-vs-int8 figures (default: the shipped CSV).

    Examples
    --------
    >>> results = load_published_int8()
    >>> mv3 = next(r for r in results if r.model.startswith("tf2_mobilenetv3"))
    >>> mv3.family, round(mv3.drop_pp, 2)
    ('inverted-residual', 2.2)
    """
    from .registry import DATA_DIR

    path = Path(DATA_DIR / "vitis_ai_int8_imagenet.csv" if path is None else path)
    if not path.is_file():
        raise FileNotFoundError(f"no published int8 figures at {path}")
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != _COLUMNS:
            raise ValueError(f"{path}: expected columns {list(_COLUMNS)}, got {reader.fieldnames}")
        results = []
        for line, row in enumerate(reader, start=2):
            try:
                results.append(PublishedInt8Result(
                    model=row["model"], family=row["family"], se=row["se"] == "1", activation=row["activation"],
                    input_px=int(row["input_px"]), float_top1_pct=float(row["float_top1_pct"]),
                    int8_top1_pct=float(row["int8_top1_pct"]), source=row["source"]))
            except ValueError as exc:
                raise ValueError(f"{path.name}:{line}: {exc}") from None
    return tuple(results)


@dataclass(frozen=True)
class Int8DropModel:
    """Top-1 drop of int8 (per-tensor power-of-two) deployment, in percentage points.

    Attributes
    ----------
    scheme : str
        ``"int8-pow2"``.
    drop_pp : float
        Modelled drop (float minus int8 top-1).
    sd_pp : float
        Sample standard deviation of the analogue networks' drops: the model's uncertainty.
    analogues : tuple of str
        The published models the figure rests on.
    """

    scheme: str
    drop_pp: float
    sd_pp: float
    analogues: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.analogues:
            raise ValueError("an Int8DropModel needs at least one analogue network")
        if not np.isfinite(self.drop_pp) or not self.sd_pp >= 0:
            raise ValueError(f"drop_pp must be finite and sd_pp >= 0, got {self.drop_pp}, {self.sd_pp}")

    @classmethod
    def from_published(cls, results=None, family: str = "inverted-residual",
                       scheme: str = "int8-pow2") -> Int8DropModel:
        """Mean and spread of the published drops of one architecture family.

        Examples
        --------
        >>> model = Int8DropModel.from_published()
        >>> round(model.drop_pp, 2), round(model.sd_pp, 2), len(model.analogues)
        (1.97, 0.46, 5)
        """
        results = load_published_int8() if results is None else tuple(results)
        if family not in FAMILIES:
            raise ValueError(f"family {family!r} unknown; allowed: {list(FAMILIES)}")
        members = [r for r in results if r.family == family]
        if not members:
            raise ValueError(f"no published figures of family {family!r}")
        drops = np.array([r.drop_pp for r in members])
        sd = float(drops.std(ddof=1)) if drops.size > 1 else 0.0
        return cls(scheme, float(drops.mean()), sd, tuple(r.model for r in members))

    def predict_drop_pp(self, batch: SubnetBatch) -> np.ndarray:
        """(N,) modelled drop for every network of ``batch``."""
        return np.full(len(batch), self.drop_pp)


class QuantizedPredictor(AccuracyPredictor):
    """A float predictor minus the modelled int8 drop: what the search optimises.

    Attributes
    ----------
    base : AccuracyPredictor
        The float-accuracy predictor.
    drop_model : Int8DropModel
        The quantization drop.
    """

    def __init__(self, base: AccuracyPredictor, drop_model: Int8DropModel) -> None:
        self.base = base
        self.drop_model = drop_model
        self.name = base.name
        self.space = base.space
        self.valid_resolutions = base.valid_resolutions
        self.resolution_reason = base.resolution_reason
        self.scale = base.scale
        self.quantization = drop_model.scheme
        self.kind = f"{drop_model.scheme} top-1"
        self.derivation = (f"modelled: float prediction minus {drop_model.drop_pp:.2f} +/- {drop_model.sd_pp:.2f} pp")

    def _predict_batch(self, batch: SubnetBatch) -> np.ndarray:
        return self.base._predict_batch(batch) - self.drop_model.predict_drop_pp(batch)

    def __repr__(self) -> str:
        return (f"<QuantizedPredictor {self.name!r} @ {self.quantization}: {self.kind} of {self.space} "
                f"({self.derivation}), {self.scale.label} scale>")
