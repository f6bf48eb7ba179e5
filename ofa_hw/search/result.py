"""What a co-design search returns: designs, the Pareto front, the history, JSON I/O."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from accel_models import Accelerator, Board, get_board
from accel_models.accelerator import check_dpu_clock
from accel_models.atomic import atomic_write_text, check_writable
from accel_models.cpu_fallback import FallbackLayer
from accel_models.resources import FitResult
from accel_models.validation import read_json, reject_unknown_keys

from ..space import SubnetConfig

__all__ = ["CodesignResult", "Design", "GenerationStats", "RESULT_FORMAT_VERSION"]

#: 2: typed resources as placed (``FitResult``), accelerator build options, CPU-fallback layers.
RESULT_FORMAT_VERSION = 2

#: Physical bounds of a design's figures (inclusive; a result outside them was edited or corrupted).
_BOUNDS = {
    "latency_ms": (1e-6, 1e6),
    "fps": (1e-6, 1e9),
    "accuracy_top1": (0.0, 100.0),
    "accuracy_float_top1": (0.0, 100.0),
    "measured_fraction": (0.0, 1.0),
}
_LATENCY_SOURCES = ("measured", "model", "mixed")
#: Resource names bounded by the board's capacity.
_BOARD_RESOURCES = ("dsp", "lut", "ff", "bram36", "uram")


def _bounded(where: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{where}: expected a finite number, got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{where}: {value!r} is outside the physical range [{low:g}, {high:g}]")
    return float(value)


def _resources(where: str, resources: Any, board: Board | None) -> FitResult:
    """The design's fit check, as placed: each figure non-negative and, on a known board, within it."""
    if not isinstance(resources, Mapping):
        raise ValueError(f"{where}: expected an object of resource estimates, got {type(resources).__name__}")
    try:
        fit = FitResult.from_dict(resources)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{where}: {exc}") from None
    placed = fit.placed.as_dict()
    for name in _BOARD_RESOURCES:
        value = _bounded(f"{where}.placed.{name}", placed[name], 0.0, math.inf)
        if board is not None and value > float(getattr(board, name)) * (1 + 1e-9):
            capacity = float(getattr(board, name))
            raise ValueError(f"{where}.placed.{name}: {value:g} exceeds board {board.name}'s {capacity:g} "
                             "(a design must fit its board)")
    _bounded(f"{where}.binding_utilization", fit.binding_utilization, 0.0, 1.0 + 1e-9)
    return fit


@dataclass(frozen=True)
class Design:
    """One (sub-network, accelerator) pair with its predicted figures.

    ``accuracy_top1`` is the predicted top-1 (%) of the int8-deployed network
    on the scale the result's settings name (``accuracy_scale``; by default
    ``imagenet-val``: ImageNet-val top-1, calibrated on OFA's specialized nets,
    see :mod:`ofa_hw.accuracy.scale`);
    ``accuracy_float_top1`` the float prediction it was derived from.
    ``latency_ms`` is one image on one core (DPU time, or end-to-end with the ARM
    pre/post-processing when the search's latency mode is ``"e2e"``); ``fps`` is the
    deployed throughput (:mod:`accel_models.deployed`: threads feeding the cores, ARM
    pre/post-processing, DDR contention). ``deployed`` holds the breakdown behind it
    (threads, cores, DPU / ARM ms, single-thread and loaded end-to-end latency, the bound and
    each part's share: :meth:`accel_models.deployed.DeployedEstimate.to_dict`); it is ``None``
    for boards without ARM data, where ``fps`` is all cores busy on DPU time alone.
    ``latency_source`` says where the latency came from: ``"measured"`` (every
    unit from the measured table), ``"model"`` (calibrated model only) or
    ``"mixed"``; ``measured_fraction`` is the measured share of the latency.
    ``resources`` is :func:`accel_models.fits` of the accelerator on the
    board (resources as placed, BRAM moved to UltraRAM where built so).
    ``cpu_fallback`` lists the layers the accelerator's configuration cannot
    run, which run on the ARM CPU (their cost is included in ``latency_ms``).
    ``latency_low_ms`` / ``latency_high_ms`` bound the latency at
    ``latency_confidence`` (from the held-out error of each unit's source,
    :mod:`latency_tables.uncertainty`; None where the predictor has no
    interval model).
    """

    subnet: SubnetConfig
    accelerator: Accelerator
    latency_ms: float
    fps: float
    accuracy_top1: float
    accuracy_float_top1: float
    resources: FitResult | None  # None: a phone / CPU device searched with board=None, nothing to fit
    latency_source: str
    measured_fraction: float
    cpu_fallback: tuple[FallbackLayer, ...] = ()
    latency_low_ms: float | None = None
    latency_high_ms: float | None = None
    latency_confidence: float | None = None
    deployed: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.resources is not None and not isinstance(self.resources, FitResult):
            raise TypeError(f"Design.resources must be an accel_models.FitResult (what fits(accelerator, board) "
                            f"returns), got {type(self.resources).__name__}")
        object.__setattr__(self, "cpu_fallback", tuple(self.cpu_fallback))

    @property
    def is_custom(self) -> bool:
        """True when the accelerator is not a DPUCZDX8G configuration (only the HLS export realises it)."""
        return not self.accelerator.is_dpuczdx8g

    def layers(self):
        """The sub-network's layers (so exporters can take a Design directly)."""
        from ..layers import subnet_layers

        return subnet_layers(self.subnet)

    def to_dict(self) -> dict:
        """Plain-JSON form; the accelerator carries its kind and label."""
        out = asdict(self)
        out["subnet"] = self.subnet.to_dict()
        out["accelerator"] = {**self.accelerator.to_dict(), "kind": self.accelerator.kind,
                              "label": self.accelerator.label}
        out["resources"] = None if self.resources is None else self.resources.to_dict()
        out["cpu_fallback"] = [f.to_dict() for f in self.cpu_fallback]
        return out

    @classmethod
    def from_dict(cls, data: Mapping, *, where: str = "design", board: Board | None = None) -> Design:
        """Read and validate a design (``where`` names it in messages; ``board`` bounds its resources)."""
        if not isinstance(data, Mapping):
            raise ValueError(f"{where}: expected an object, got {type(data).__name__}")
        reject_unknown_keys(data, {f for f in cls.__dataclass_fields__}, where)
        missing = sorted(set(cls.__dataclass_fields__) - set(data))
        if missing:
            raise ValueError(f"{where}: field(s) {missing} missing")
        values = dict(data)
        accelerator = values["accelerator"]
        kind = label = None
        if isinstance(accelerator, Mapping):  # to_dict adds the kind and label for readers; check, then drop them
            accelerator = dict(accelerator)
            kind, label = accelerator.pop("kind", None), accelerator.pop("label", None)
        values["accelerator"] = accelerator
        for name, build in (("subnet", SubnetConfig.from_dict), ("accelerator", Accelerator.from_dict)):
            try:
                values[name] = build(values[name])
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{where}.{name}: {exc.args[0] if exc.args else exc}") from None
        if kind is not None and kind != values["accelerator"].kind:
            raise ValueError(f"{where}.accelerator: kind {kind!r} ({label}) disagrees with its fields, which make it "
                             f"{values['accelerator'].kind!r}")
        try:
            check_dpu_clock(values["accelerator"].clock_mhz)
        except ValueError as exc:
            raise ValueError(f"{where}.accelerator: {exc}") from None
        for name, (low, high) in _BOUNDS.items():
            values[name] = _bounded(f"{where}.{name}", values[name], low, high)
        if values["latency_source"] not in _LATENCY_SOURCES:
            raise ValueError(f"{where}.latency_source: {values['latency_source']!r}; allowed: {list(_LATENCY_SOURCES)}")
        cores = values["accelerator"].cores
        ceiling = cores * 1000.0 / values["latency_ms"]
        if values["fps"] > ceiling * (1 + 1e-6):
            raise ValueError(f"{where}.fps: {values['fps']:g} fps is more than {cores} core(s) at "
                             f"{values['latency_ms']:g} ms per image can deliver ({ceiling:g} fps)")
        if values["resources"] is not None:
            values["resources"] = _resources(f"{where}.resources", values["resources"], board)
        try:
            values["cpu_fallback"] = tuple(FallbackLayer.from_dict(f) for f in values.get("cpu_fallback") or ())
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{where}.cpu_fallback: {exc}") from None
        return cls(**values)


def _settings_board(settings: Mapping) -> Board | None:
    name = settings.get("board")
    if name is None:
        return None
    try:
        return get_board(name)
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"settings.board: {exc.args[0] if exc.args else exc}") from None


def _check_constraint(settings: Mapping, best: Design | None, pareto: list[Design]) -> None:
    """Every design of a constrained result meets the constraint (the search only keeps those)."""
    constraint = settings.get("constraint") or {}
    if not isinstance(constraint, Mapping):
        raise ValueError("settings.constraint: expected an object")
    latency, fps = (None if constraint.get(name) is None
                    else _bounded(f"settings.constraint.{name}", constraint[name], 0.0, math.inf)
                    for name in ("latency_ms", "fps"))
    designs = ([] if best is None else [("best", best)]) + [(f"pareto[{i}]", d) for i, d in enumerate(pareto)]
    for where, design in designs:
        if latency is not None and design.latency_ms > latency * (1 + 1e-9):
            raise ValueError(f"{where}.latency_ms: {design.latency_ms:g} ms breaks the result's own constraint "
                             f"latency <= {latency:g} ms")
        if fps is not None and design.fps < fps * (1 - 1e-9):
            raise ValueError(f"{where}.fps: {design.fps:g} breaks the result's own constraint fps >= {fps:g}")


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
        """The ``result.json`` document."""
        return {
            "format_version": RESULT_FORMAT_VERSION,
            "settings": dict(self.settings),
            "best": None if self.best is None else self.best.to_dict(),
            "pareto": [d.to_dict() for d in self.pareto],
            "history": [asdict(h) for h in self.history],
        }

    @classmethod
    def from_dict(cls, data: Mapping) -> CodesignResult:
        """Read and validate a result: its structure, every design's physical bounds, its constraint.

        Raises ``ValueError`` naming the field (``pareto[3].accuracy_top1``)
        and what is allowed; nothing is rendered from a result that fails.
        """
        if not isinstance(data, Mapping):
            raise ValueError(f"a result is a JSON object, got {type(data).__name__}")
        reject_unknown_keys(data, {"format_version", "settings", "best", "pareto", "history"}, "CodesignResult")
        version = data.get("format_version")
        if version != RESULT_FORMAT_VERSION:
            raise ValueError(f"result format_version {version!r} is not supported "
                             f"(this ofa-hw reads {RESULT_FORMAT_VERSION})")
        for name in ("best", "pareto"):
            if name not in data:
                raise ValueError(f"result field {name!r} missing")
        settings = data.get("settings", {})
        if not isinstance(settings, Mapping):
            raise ValueError(f"settings: expected an object, got {type(settings).__name__}")
        board = _settings_board(settings)
        if not isinstance(data["pareto"], list):
            raise ValueError("pareto: expected a list of designs")
        best = None if data["best"] is None else Design.from_dict(data["best"], where="best", board=board)
        pareto = [Design.from_dict(d, where=f"pareto[{i}]", board=board) for i, d in enumerate(data["pareto"])]
        _check_constraint(settings, best, pareto)
        history = data.get("history", [])
        if not isinstance(history, list):
            raise ValueError("history: expected a list")
        try:
            stats = [GenerationStats(**h) for h in history]
        except TypeError as exc:
            raise ValueError(f"history: {exc}") from None
        return cls(best=best, pareto=pareto, history=stats, settings=dict(settings))

    def to_json(self, path: str | os.PathLike) -> Path:
        """Write the result atomically (temp file + rename) and return the path."""
        if str(path).endswith(("/", os.sep)):  # Path() drops the slash and would write a file named like the folder
            raise IsADirectoryError(f"result file {str(path)!r} names a folder; give a file name such as "
                                    f"{os.path.join(str(path), 'result.json')!r}")
        path = check_writable(path, what="result file")
        atomic_write_text(path, json.dumps(self.to_dict(), indent=1))
        return path

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> CodesignResult:
        """Read a ``result.json``; any problem is an error naming the file and the field."""
        path = Path(path)
        data = read_json(path, what="result file")
        try:
            return cls.from_dict(data)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from None

    def report(self, out_dir: str | os.PathLike, **kwargs) -> Path:
        """Write the HTML/PNG/JSON report (see :func:`ofa_hw.report.write_report`)."""
        from ..report import write_report

        return write_report(self, out_dir, **kwargs)
