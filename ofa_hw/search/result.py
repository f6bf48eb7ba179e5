"""What a co-design search returns: designs, the Pareto front, the history, JSON I/O."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from accel_models import Accelerator
from accel_models.atomic import atomic_write_text

from .._keys import reject_unknown_keys
from ..space import SubnetConfig

__all__ = ["CodesignResult", "Design", "GenerationStats", "RESULT_FORMAT_VERSION"]

RESULT_FORMAT_VERSION = 1


@dataclass(frozen=True)
class Design:
    """One (sub-network, accelerator) pair with its predicted figures.

    ``accuracy_top1`` is the predicted top-1 (%) of the int8-deployed network
    on the scale the result's settings name (``accuracy_scale``; by default
    ``imagenet-val``: ImageNet-val top-1, calibrated on OFA's specialized nets,
    see :mod:`ofa_hw.accuracy.scale`);
    ``accuracy_float_top1`` the float prediction it was derived from.
    ``latency_ms`` is one image on one core; ``fps`` is the throughput with all
    ``accelerator.cores`` busy (each core on its own image, sharing DDR).
    ``latency_source`` says where the latency came from: ``"measured"`` (every
    unit from the measured table), ``"model"`` (calibrated model only) or
    ``"mixed"``; ``measured_fraction`` is the measured share of the latency.
    """

    subnet: SubnetConfig
    accelerator: Accelerator
    latency_ms: float
    fps: float
    accuracy_top1: float
    accuracy_float_top1: float
    resources: Mapping[str, float]
    latency_source: str
    measured_fraction: float

    def layers(self):
        """The sub-network's layers (so exporters can take a Design directly)."""
        from ..layers import subnet_layers

        return subnet_layers(self.subnet)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["subnet"] = self.subnet.to_dict()
        out["accelerator"] = self.accelerator.to_dict()
        out["resources"] = dict(self.resources)
        return out

    @classmethod
    def from_dict(cls, data: Mapping) -> Design:
        reject_unknown_keys(data, {f for f in cls.__dataclass_fields__}, "Design")
        values = dict(data)
        values["subnet"] = SubnetConfig.from_dict(values["subnet"])
        values["accelerator"] = Accelerator.from_dict(values["accelerator"])
        return cls(**values)


@dataclass(frozen=True)
class GenerationStats:
    """Progress of one generation (or one restart's generation)."""

    generation: int
    evaluated: int
    feasible: int
    best_accuracy_top1: float | None
    best_latency_ms: float | None
    median_latency_ms: float


@dataclass(frozen=True)
class CodesignResult:
    """Outcome of :func:`ofa_hw.search_codesign`.

    Attributes
    ----------
    best : Design or None
        The most accurate design meeting the constraint (None for an
        unconstrained front-only search).
    pareto : list of Design
        Non-dominated designs: accuracy (max) vs latency (min), by latency.
    history : list of GenerationStats
    settings : dict
        Everything needed to reproduce the run (board, constraint, space,
        predictors, accuracy model, seed, budget, algorithm, versions).
    """

    best: Design | None
    pareto: list[Design]
    history: list[GenerationStats] = field(default_factory=list)
    settings: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "format_version": RESULT_FORMAT_VERSION,
            "settings": dict(self.settings),
            "best": None if self.best is None else self.best.to_dict(),
            "pareto": [d.to_dict() for d in self.pareto],
            "history": [asdict(h) for h in self.history],
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> CodesignResult:
        reject_unknown_keys(data, {"format_version", "settings", "best", "pareto", "history"}, "CodesignResult")
        version = data.get("format_version")
        if version != RESULT_FORMAT_VERSION:
            raise ValueError(f"result format_version {version!r} is not supported (this ofa-hw reads {RESULT_FORMAT_VERSION})")
        return cls(
            best=None if data["best"] is None else Design.from_dict(data["best"]),
            pareto=[Design.from_dict(d) for d in data["pareto"]],
            history=[GenerationStats(**h) for h in data.get("history", [])],
            settings=dict(data.get("settings", {})),
        )

    def to_json(self, path: str | os.PathLike) -> Path:
        """Write the result atomically (temp file + rename) and return the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(self.to_dict(), indent=1))
        return path

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> CodesignResult:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not a valid result JSON ({exc})") from None
        return cls.from_dict(data)

    def report(self, out_dir: str | os.PathLike, **kwargs) -> Path:
        """Write the HTML/PNG/JSON report (see :func:`ofa_hw.report.write_report`)."""
        from ..report import write_report

        return write_report(self, out_dir, **kwargs)
