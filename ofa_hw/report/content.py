"""What a co-design report says, as plain data (the HTML page and the JSON summary render it).

Every number comes from the result or is recomputed with the same predictors
the search used, so the report can be checked against the result:

* the per-unit latency table of the chosen design: on the accelerator the
  latency table was measured on, :meth:`latency_tables.HybridPredictor.breakdown`
  (measured units and modelled ones); on any other accelerator, the
  calibrated model transferred to it (:meth:`CalibratedModel.for_accelerator`)
  layer by layer.  Either way the units plus one program launch add up to
  the design's ``latency_ms``;
* resource use against the board with :func:`accel_models.fits` (the same
  check the search applied, DSP-usage option included);
* the assumptions: the latency table and device, the calibration's
  in-sample and k-fold cross-validated errors, the accuracy predictor and
  the int8 drop model, the search settings.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from accel_models import Accelerator, BlockSpec, Board, LatencyPredictor, RooflineModel, fits, get_board, group_by_block
from accel_models.cpu_fallback import fallback_latency_ms
from accel_models.layer import LayerArrays
from accel_models.resources import resource_basis
from accel_models.wording import WordedError, literal
from latency_tables import CalibratedModel, HybridPredictor, LatencyTable, TablePredictor
from latency_tables.by_build import BuildPredictor
from latency_tables.engine import EnginePredictor
from latency_tables.per_resolution import PerResolutionPredictor
from latency_tables.records import GIVE_PREDICTOR_AGAIN, timing_basis

from ..layers import count_macs, count_params
from ..search.result import CodesignResult, Design
from ..space import N_STAGES, SLOTS_PER_STAGE

__all__ = ["LatencyModel", "ReportContent", "report_content", "resolve_latency_model"]

_RESOURCE_LABELS = {"dsp": "DSP", "lut": "LUT", "ff": "FF", "bram36": "BRAM36", "uram": "URAM"}


@dataclass(frozen=True, eq=False)
class LatencyModel:
    """The latency predictor of a search, unpacked for reporting.

    ``predictor`` answers every latency question (the predictor protocol);
    ``model`` is the :class:`accel_models.RooflineModel` of the roofline
    analysis (the calibrated one where there is a calibration);
    ``calibrated`` the ``CalibratedModel``, ``table`` the measured
    ``LatencyTable`` (None where there is none); ``accelerator`` the one the
    predictor was measured or calibrated on; ``device`` its shipped name.
    """

    predictor: LatencyPredictor
    model: RooflineModel
    accelerator: Accelerator | None = None
    calibrated: CalibratedModel | None = None
    table: LatencyTable | None = None
    device: str | None = None
    engine: EnginePredictor | None = None

    def analyze(self, design: Design):
        """Roofline analysis of ``design`` by the model that priced it (under by-build, a custom one: its engine)."""
        if self.engine is not None and not design.accelerator.is_dpuczdx8g:
            return self.engine.model.analyze(LayerArrays.from_layers(design.layers()), design.accelerator)
        return self.model.analyze(design.layers(), design.accelerator)

    @property
    def invocation_ms(self) -> float:
        """The predictor's launch cost per network (ms)."""
        return float(self.predictor.invocation_ms)


def resolve_latency_model(predictor, settings: Mapping[str, Any]) -> LatencyModel:
    """The :class:`LatencyModel` of ``predictor``, or of the device named in ``settings``.

    ``predictor`` is anything :func:`latency_tables.as_predictor` accepts;
    None rebuilds the one the result recorded (``latency_predictor_record``,
    see :func:`latency_tables.predictor_record`).
    """
    from latency_tables import as_predictor, list_devices, predictor_from_record
    from latency_tables.predictor import DEVICES

    device = predictor if isinstance(predictor, str) and predictor in DEVICES else None
    if predictor is None and settings.get("latency_predictor_record") is not None:
        predictor = predictor_from_record(settings["latency_predictor_record"])
    elif predictor is None:  # a result written before predictors were recorded: a device name or nothing
        name = settings.get("latency_predictor")
        if name not in list_devices():
            raise WordedError(literal(f"the result does not record its latency predictor {name!r} in enough "
                                      "detail to rebuild it: ") + "give it again ({how})",
                              hints={"how": GIVE_PREDICTOR_AGAIN})
        predictor = device = name
    predictor = as_predictor(predictor)
    if isinstance(predictor, BuildPredictor):  # stock designs by its DPU predictor, custom ones by the engine's
        stock = resolve_latency_model(predictor.stock, {})
        return dataclasses.replace(stock, predictor=predictor, engine=predictor.engine)
    if isinstance(predictor, (HybridPredictor, PerResolutionPredictor)):
        return LatencyModel(predictor, predictor.calibrated.model, predictor.accelerator, predictor.calibrated,
                            predictor.table, device or predictor.name)
    if isinstance(predictor, CalibratedModel):
        return LatencyModel(predictor, predictor.model, predictor.accelerator, predictor)
    if isinstance(predictor, TablePredictor):
        return LatencyModel(predictor, RooflineModel(), predictor.accelerator, table=predictor.table)
    if isinstance(predictor, RooflineModel):
        return LatencyModel(predictor, predictor)
    return LatencyModel(predictor, RooflineModel())


@dataclass(frozen=True, eq=False)
class ReportContent:
    """Everything a report shows.

    ``summary`` is JSON-able (it is written as ``summary.json``);
    ``analysis`` is the roofline analysis of the best design on its
    accelerator (None without a best design), for the roofline plot.
    """

    result: CodesignResult
    summary: Mapping[str, Any]
    analysis: Any = None


def report_content(result: CodesignResult, predictor=None, cross_validate: bool = True,
                   export: str | os.PathLike | None = None) -> ReportContent:
    """Compute the content of the report of ``result``.

    Parameters
    ----------
    result : CodesignResult
    predictor : str or latency predictor, optional
        The latency predictor the search used (default: the device named in
        ``result.settings["latency_predictor"]``).
    cross_validate : bool
        Compute the k-fold cross-validated error of the calibration when
        the predictor does not carry one (a shipped device is calibrated
        without it on first use; this costs about a second).
    export : path-like, optional
        The HLS export of the best design (``ofa-hw export --result``): the
        report then shows its engine cycle count beside the search's
        prediction, the figures its manifest records and ``ofa-hw export``
        printed.  An export of another design is an error.
    """
    if not isinstance(result, CodesignResult):
        raise TypeError(f"expected a CodesignResult, got {type(result).__name__}")
    if not result.pareto:
        raise ValueError("the result has an empty Pareto front: nothing to report")
    settings = dict(result.settings)
    latency = resolve_latency_model(predictor, settings)
    board = get_board(settings["board"]) if settings.get("board") is not None else None  # board=None: a device
    summary: dict[str, Any] = {
        "title": _title(settings),
        "board": None if board is None else {"name": board.name, "part": board.part, **board.resources(),
                                              "ddr_bw_gbps": board.ddr_bw_gbps},
        "constraint": settings.get("constraint"),
        "best": None,
        "pareto": [_front_row(d, latency) for d in result.pareto],
        "history": [asdict(h) for h in result.history],
        "assumptions": assumptions(settings, latency, cross_validate),
    }
    analysis = None
    if result.best is not None:
        design = result.best
        analysis = latency.analyze(design)
        summary["best"] = {
            "design": design.to_dict(),
            "subnet": subnet_summary(design),
            "accelerator": accelerator_summary(design.accelerator),
            "cpu_fallback": [f.to_dict() for f in design.cpu_fallback],
            "resources": None if board is None else resource_use(design, board),
            "latency": latency_table(design, latency, analysis),
            "roofline": _roofline_totals(analysis),
            "latencies": design_latencies(design, settings, export),
            "fps_basis": timing_basis(settings.get("latency_predictor_record")),
        }
    elif export is not None:
        raise ValueError("the result has no best design (a front-only search): there is no exported design to report")
    return ReportContent(result, summary, analysis)


def design_latencies(design: Design, settings: Mapping[str, Any], export: str | os.PathLike | None) -> list[dict]:
    """The labelled latency figures of ``design`` (:mod:`hls.latency_figures`), with its export's when given."""
    from hls.latency_figures import SEARCH_LABEL, manifest_figures, search_figure

    searched = search_figure(design, settings.get("latency_predictor"))
    figures = [] if searched is None else [searched]
    if export is not None:
        import hls

        manifest = hls.load(export).manifest
        recorded = manifest["accelerator"].get("config")
        if recorded != design.accelerator.to_dict():
            raise ValueError(f"the export in {export} is of another accelerator ({manifest['accelerator']['name']}) "
                             f"than the result's best design ({design.accelerator.label}); export it with "
                             "'ofa-hw export --result RESULT.json'")
        described = dict(manifest["model"]["description"])
        if described and {k: v for k, v in described.items() if k != "r"} != \
                {k: v for k, v in design.subnet.to_dict().items() if k != "r"}:
            raise ValueError(f"the export in {export} is of another sub-network than the result's best design; "
                             "export it with 'ofa-hw export --result RESULT.json'")
        exported = manifest_figures(manifest)
        # an export at another resolution (-r) is another network's latency: the search's is not set beside it
        same_r = described.get("r", design.subnet.r) == design.subnet.r
        figures = exported + ([] if any(f.label == SEARCH_LABEL for f in exported) or not same_r else figures)
    return [f.to_dict() for f in figures]


# ------------------------------------------------------------------ parts
def _title(settings: Mapping) -> str:
    constraint = settings.get("constraint") or {}
    active = constraint.get("latency_ms") is not None or constraint.get("fps") is not None
    text = constraint.get("text") if active else "no constraint, the accuracy-latency front"
    return f"Co-design on {settings.get('board', '?')}: {text}"


def _front_row(design: Design, latency: LatencyModel) -> dict:
    acc = design.accelerator
    return {"latency_ms": design.latency_ms, "fps": design.fps, "accuracy_top1": design.accuracy_top1,
            "accuracy_float_top1": design.accuracy_float_top1, "accelerator": acc.label,
            "dsp": None if design.resources is None else design.resources.placed.dsp,
            "r": design.subnet.r, "d": list(design.subnet.d),
            "latency_source": design.latency_source, "measured_fraction": design.measured_fraction,
            "latency_low_ms": design.latency_low_ms, "latency_high_ms": design.latency_high_ms,
            "latency_confidence": design.latency_confidence}


def subnet_summary(design: Design) -> dict:
    """Resolution, depths, kernel / expand of every active block per stage, MACs, parameters."""
    cfg = design.subnet
    stages = []
    for stage in range(N_STAGES):
        slots = range(stage * SLOTS_PER_STAGE, stage * SLOTS_PER_STAGE + cfg.d[stage])
        stages.append({"stage": stage + 1, "depth": cfg.d[stage], "kernels": [cfg.ks[s] for s in slots],
                       "expands": [cfg.e[s] for s in slots]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # resolutions outside OFA's trained range still have MACs
        macs, params = count_macs(cfg), count_params(cfg)
    return {"r": cfg.r, "width_mult": cfg.width_mult, "d": list(cfg.d), "blocks": cfg.n_blocks, "stages": stages,
            "macs": int(macs), "params": int(params)}


def accelerator_summary(acc: Accelerator) -> dict:
    return {**acc.to_dict(), "label": acc.label, "kind": acc.kind, "peak_gops_per_core": acc.peak_gops_per_core,
            "peak_gops": acc.peak_gops, "ridge_ops_per_byte": acc.ridge_ops_per_byte}


def resource_use(design: Design, board: Board) -> dict:
    """Used / budget / utilization of every resource, as the search's feasibility check computed them."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # an extrapolated estimate is flagged in the result instead
        check = fits(design.accelerator, board)
    budget = board.resources()
    rows = []
    for name, label in _RESOURCE_LABELS.items():
        utilization = float(check.utilization[name])
        rows.append({"resource": name, "label": label, "budget": float(budget[name]),
                     "used": float(check.placed.as_dict()[name]),
                     "utilization": utilization})
    return {"board": board.name, "fits": bool(check.ok), "binding_resource": check.binding_resource,
            "basis": resource_basis(design.accelerator),
            "dsp_usage": design.accelerator.options.dsp_usage,
            "uram_per_core": design.accelerator.options.uram_per_core,
            "extrapolated": check.extrapolated, "notes": list(check.notes), "rows": rows}


def unit_label(key: str, first_layer: str) -> str:
    """A short human name of a unit: ``"blocks.5: MBConv k5 e4 s2 SE"``, ``"stem conv 3x3 s2"``, ..."""
    spec = BlockSpec.from_key(key)
    if spec.kind == "mbconv":
        where = first_layer.split(".conv.")[0]
        expand = spec.mid / spec.in_shape[0]
        return (f"{where}: MBConv k{spec.kernel} e{expand:g} s{spec.stride}"
                f"{' SE' if spec.se else ''}{' residual' if spec.identity_skip else ''}")
    names = {"stem": f"stem conv {spec.kernel}x{spec.kernel} s{spec.stride}", "final_expand": "final expand 1x1",
             "pool": "global average pool", "feature_mix": "feature mix 1x1", "classifier": "classifier"}
    return names[spec.kind]


def latency_table(design: Design, latency: LatencyModel, analysis) -> dict:
    """Per-unit latency of ``design`` with the source of every number, and each unit's layers.

    Unit ``latency_ms`` values are in-network latencies; adding
    ``invocation_ms`` (one program launch) gives ``total_ms``, which equals
    the design's latency.  Layers carry the model's estimate and bound
    (labelled as such also inside measured units).
    """
    layers = design.layers()
    units = group_by_block(layers)
    starts = np.cumsum([0] + [len(u) for u in units[:-1]])
    layer_ms = np.asarray(analysis.latency_ms, dtype=float)
    model_ms = np.add.reduceat(layer_ms, starts)
    unit_ms = np.asarray(latency.predictor.unit_latency_ms(units, design.accelerator), dtype=float)
    sources = [str(s) for s in latency.predictor.unit_sources(units, design.accelerator)]
    table = latency.table
    records: list[dict[str, Any]] = [{"key": unit[0].block, "source": source, "latency_ms": float(ms),
                "measured_ms": table.entries[unit[0].block].mean_ms if source == "measured" and table else None}
               for unit, source, ms in zip(units, sources, unit_ms, strict=True)]
    measured_here = "measured" in sources
    if latency.engine is not None and not design.accelerator.is_dpuczdx8g:
        method = f"the HLS engine's cycle model ('hls-engine', every layer through DDR): {latency.engine.description}"
    elif measured_here and table is not None:
        method = (f"measured entries of table {table.meta.name!r} (in-network: the entry minus one "
                  f"program launch of {latency.invocation_ms:.4f} ms) where the table has the unit; the calibrated "
                  "model elsewhere")
    else:
        where = "" if latency.accelerator is None else f" (calibrated on {latency.accelerator.label})"
        method = (f"calibrated analytical model{where} transferred to {design.accelerator.label}: "
                  "no table entry was measured on this accelerator")
    rows: list[dict[str, Any]] = []
    for i, (unit, record, estimate) in enumerate(zip(units, records, model_ms, strict=True)):
        start = int(starts[i])
        rows.append({
            "unit": record["key"], "label": unit_label(record["key"], unit[0].name), "source": record["source"],
            "latency_ms": float(record["latency_ms"]), "measured_entry_ms": record["measured_ms"],
            "model_ms": float(estimate),
            "layers": [{"name": layer.name, "op": layer.op, "model_ms": float(layer_ms[start + j]),
                        "bound": str(analysis.bound[start + j]), "macs": int(analysis.macs[start + j]),
                        "utilization": float(analysis.utilization[start + j])}
                       for j, layer in enumerate(unit)],
        })
    units_ms = sum(r["latency_ms"] for r in rows)
    # layers the configuration cannot run: CPU time, DDR round trip and one more launch per split
    fallback_ms = float(fallback_latency_ms(units, [design.accelerator], latency.invocation_ms).sum())
    total = units_ms + latency.invocation_ms + fallback_ms
    if not np.isclose(total, design.latency_ms, rtol=1e-6, atol=1e-9):
        # 8 digits: a difference the check sees (rtol 1e-6) must show in the numbers
        warnings.warn(f"the per-unit latencies add up to {total:.8g} ms but the result says "
                      f"{design.latency_ms:.8g} ms ({total - design.latency_ms:+.2g} ms): the report's latency "
                      "predictor is not the one the search used", stacklevel=3)
    return {"method": method, "accelerator_measured": measured_here, "units": rows,
            "invocation_ms": latency.invocation_ms, "cpu_fallback_ms": fallback_ms, "total_ms": total,
            "measured_ms": sum(r["latency_ms"] for r in rows if r["source"] == "measured")}


def _roofline_totals(analysis) -> dict:
    totals = analysis.totals()
    latency = float(totals["latency_ms"])
    return {"layers": totals["layers"], "model_latency_ms": latency, "macs": totals["macs"],
            "dram_bytes": totals["dram_bytes"], "achieved_gops": totals["achieved_gops"],
            "utilization": totals["utilization"], "peak_gops": totals["peak_gops"], "bw_gbps": totals["bw_gbps"],
            "ridge_ops_per_byte": analysis.ridge_ops_per_byte, "ddr_levels_gbps": dict(analysis.ddr_levels_gbps),
            "on_chip_layers": int(np.sum(analysis.on_chip)),
            "latency_ms_by_bound": totals["latency_ms_by_bound"],
            "layers_by_bound": {b: int(np.sum(analysis.bound == b)) for b in ("compute", "memory", "overhead")},
            "share_by_bound": {b: (v / latency if latency else 0.0) for b, v in totals["latency_ms_by_bound"].items()}}


def assumptions(settings: Mapping[str, Any], latency: LatencyModel, cross_validate: bool) -> dict:
    """The latency table, its calibration and errors, the accuracy model and the search settings."""
    out: dict[str, Any] = {"latency": _latency_assumptions(latency, cross_validate)}
    out["accuracy"] = _accuracy_assumptions(settings)
    keys = ("algorithm", "budget", "population", "restarts", "seed", "resolutions", "accelerators", "max_utilization",
            "dsp_objective", "ofa_hw_version")
    out["search"] = {k: settings[k] for k in keys if k in settings}
    return out


def _accuracy_assumptions(settings: Mapping[str, Any]) -> dict:
    from ..accuracy import get_predictor

    name, quantization = settings.get("accuracy_predictor"), settings.get("quantization")
    out = {"predictor": name, "quantization": quantization, "objective": settings.get("objective"),
           "space": settings.get("space")}
    # a result without "accuracy_scale" was written before accuracies were calibrated: the predictor's own scale
    scale = "raw" if settings.get("accuracy_scale", "raw") != "imagenet-val" else "imagenet-val"
    try:
        predictor = get_predictor(str(name), quantization=quantization, scale=scale)
    except (KeyError, ValueError) as exc:  # a result written by another version: report what it says
        out["note"] = f"predictor not available here: {exc}"
        return out
    out["kind"] = f"{predictor.kind} ({predictor.derivation})"
    scale_info = {"name": predictor.scale.name, "label": predictor.scale.label,
                  "description": predictor.scale.description}
    calibration = getattr(getattr(predictor, "base", predictor), "calibration", None)
    if calibration is not None:
        scale_info["calibration"] = calibration.describe()
    out["scale"] = scale_info
    drop = getattr(predictor, "drop_model", None)
    if drop is not None:
        out["int8_drop"] = {"scheme": drop.scheme, "drop_pp": drop.drop_pp, "sd_pp": drop.sd_pp,
                            "analogues": list(drop.analogues)}
    return out


def _latency_assumptions(latency: LatencyModel, cross_validate: bool) -> dict:
    from latency_tables.predictor import DEVICES

    out: dict[str, Any] = {"device": latency.device, "invocation_ms": latency.invocation_ms,
                           "table": None, "calibration": None}
    if latency.device in DEVICES:
        out["description"] = DEVICES[latency.device].description
        out["model"] = DEVICES[latency.device].model_note
    if latency.engine is not None:  # by-build: the device above prices stock DPUCZDX8G configurations only
        out["custom_accelerators"] = {"device": latency.engine.name, "source": latency.engine.source,
                                      "description": latency.engine.description}
    if latency.table is not None:
        out["table"] = {**latency.table.meta.to_dict(), "entries": len(latency.table)}
    if latency.accelerator is not None:
        out["measured_accelerator"] = accelerator_summary(latency.accelerator)
    calibrated = latency.calibrated
    if calibrated is None:
        what = ("measured table entries only; the roofline analysis uses the model's default parameters"
                if latency.table is not None
                else "uncalibrated RooflineModel: its default parameters, no measured errors")
        out["calibration"] = {"note": what}
        out["parameters"] = latency.model.params.to_dict()
        return out
    cross = calibrated.cross_validated
    cv_note = "as calibrated" if cross is not None else "not computed"
    if cross is None and cross_validate:
        cross, cv_note = _cross_validate(latency)
    out["calibration"] = {
        "table": calibrated.table,
        "in_sample": calibrated.in_sample.to_dict(),
        "cross_validated": None if cross is None else cross.to_dict(),
        "cross_validation": cv_note,
        "traffic": None if calibrated.traffic is None else calibrated.traffic.to_dict(),
        "method": dict(calibrated.method),
    }
    out["parameters"] = {k: dict(v) for k, v in calibrated.parameters.items()}
    return out


CV_FOLDS = 5


def _cross_validate(latency: LatencyModel):
    """k-fold cross-validated error of the device's calibration (same table, units and prior)."""
    from latency_tables import calibrate
    from latency_tables.predictor import DEVICES

    if latency.table is None or latency.accelerator is None:
        return None, "not computed"
    device = DEVICES.get(latency.device) if latency.device else None
    if device is not None and device.joint:
        return None, (f"not recomputed: {latency.device} is not calibrated on its table alone "
                      "(its held-out errors are in benchmarks/bench_transfer.py)")
    units = device.source().units if device is not None else None
    try:
        again = calibrate(RooflineModel(), latency.table, latency.accelerator, folds=CV_FOLDS, units=units)
    except ValueError as exc:  # e.g. keys whose layers only the caller knows
        return None, f"not computed: {exc}"
    return again.cross_validated, f"{CV_FOLDS}-fold, recomputed for this report (same table, units and prior)"
