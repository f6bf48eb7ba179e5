"""k-shot curves of :func:`latency_tables.fit_device`: does a little measurement make a board's predictions better?

Each shipped measured source is held out in turn and plays the user's new
board:

* per-unit shots: the Ultra96-V2 B2304 blocks, the ZCU102 B4096 per-layer
  profiles and the ZCU102 MobileNetV2 blocks (noisy); the prior is the
  joint calibration over the *other* per-unit sources (what we would ship
  if this board were unknown);
* whole-network shots: Vitis AI model-zoo classifiers on one board / DPU /
  Vitis AI version (published single-thread end-to-end latencies); the prior
  is the shipped ``dpuczdx8g-joint`` calibration, which never saw them.

For k = 0, 3, 5, 10, 20 shots (k = 0 is the prior alone, with the held-out
source's own profiler launch cost where it has one) and several random
splits per k, k entries are the measurements given to ``fit_device`` and
all the others are predicted.  Printed per source and k: the held-out MAPE,
mean and worst over splits, and the prior's MAPE on the same held-out rows,
mean and worst (the prior's parameters with the launch cost a user knows from the k shots
without fitting anything: their profiler's busy time where the table has
one, else the prior's own); the last column counts the splits where the fit
did worse than the prior there ("worse"), which the issue's target says
must be 0; each such split is listed with what the fit said (its note:
the cross-validated errors and the evidence it moved on).  The stated
90 % interval of the fitted predictor (its prior's unseen-board error
updated by the shots, ``latency_tables.uncertainty.fitted_error_model``)
is checked on the same rows: coverage and mean width per k.
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np

from accel_models import RooflineModel
from latency_tables import NetworkMeasurement, calibrate_joint, fit_device, get_predictor, get_source
from latency_tables.few_shot import network_table
from latency_tables.fitting import CalibrationProblem, FitSettings, held_out_launch_ms
from latency_tables.sources import CalibrationSource, profiler_launch_ms
from latency_tables.uncertainty import DEFAULT_CONFIDENCE, Residuals, fitted_error_model, transfer_residuals

from .networks import build, zoo_accelerator, zoo_rows

K_VALUES = (0, 3, 5, 10, 20)
#: fit_device's selection rule and the interval's constants were chosen on the splits of seeds 0, 2, 3 and 4; the
#: benchmark reports other splits
SEED = 1
_UNIT_SOURCES = ("ultra96v2-b2304", "zcu102-b4096-layer-profiles", "zcu102-b4096-mbv2")
_FITTED = ("ultra96v2-b2304", "zcu102-b4096-layer-profiles")  # the shipped joint fit's sources
#: model-zoo groups: (board, DPU, clock MHz, Vitis AI version)
_ZOO_GROUPS = (("zcu102", "4096", 281.0, "2.0"), ("kv260", "4096", 300.0, "2.0"), ("zcu104", "4096", 300.0, "1.3"))


def _zoo_source(group) -> CalibrationSource:
    rows = [r for r in zoo_rows() if (r.board, r.dpu_arch, r.clock_mhz, r.vitis_ai) == group]
    accelerator = zoo_accelerator(rows[0])
    shots = [NetworkMeasurement(r.model, tuple(build(r.network)), r.e2e_ms) for r in rows]
    table, layers = network_table(shots, accelerator, name=f"zoo-{group[0]}-B{group[1]}-vai{group[3]}",
                                  board=group[0])
    return CalibrationSource(table, accelerator, layers, networks=True)


def _unseen_residuals(prior) -> Residuals:
    """A prior's error on boards it never saw: every model-zoo network (no prior here is fitted on them)."""
    values = []
    for group in _ZOO_GROUPS:
        source = _zoo_source(group)
        predicted = _predict(source, prior.model, prior.invocation_ms)
        values += np.log(source.table.mean_ms(source.table.keys()) / predicted).tolist()
    return Residuals("transferred", tuple(values), "the prior predicting the model-zoo networks")


def _unit_case(name: str):
    """Held-out source, the prior fitted without it, and that prior's error on boards it never saw."""
    held = get_source(name)
    others = [get_source(n) for n in _FITTED if n != name]
    prior = calibrate_joint(RooflineModel(), others, folds=0).calibrated(others[0].name)
    # the joint prior's transfer error is its leave-one-device-out, which never saw the held-out source
    unseen = transfer_residuals() if len(others) == len(_FITTED) else _unseen_residuals(prior)
    return held, prior, held_out_launch_ms(held), unseen


def _zoo_case(group):
    prior = get_predictor("dpuczdx8g-joint").calibrated
    return _zoo_source(group), prior, prior.invocation_ms, transfer_residuals()


def _predict(source: CalibrationSource, model: RooflineModel, launch_ms: float) -> np.ndarray:
    problem = CalibrationProblem(model, [source], FitSettings(()))
    return problem.predict(0, model.params, launch_ms)


def _known_launch_ms(source: CalibrationSource, shot_keys: list[str], prior) -> float:
    """The launch cost known from the shots without a fit: their profiler's, else the prior's (0 inside networks)."""
    if not source.table.meta.per_entry_invocation:
        return 0.0
    value = profiler_launch_ms(source.table, shot_keys)
    return prior.invocation_ms if value is None else value


def _mape(predicted: np.ndarray, measured: np.ndarray) -> float:
    return float(np.mean(np.abs(predicted - measured) / measured) * 100)


def _shots(source: CalibrationSource, keys: list[str]):
    table = source.table.subset(keys)
    if source.networks:
        return [NetworkMeasurement(k, tuple(source.units[k]), table.entries[k].mean_ms) for k in keys], None
    return table, {k: v for k, v in source.units.items() if k in table}


def _interval(residuals: Residuals, predicted: np.ndarray, measured: np.ndarray) -> tuple[float, float]:
    """(coverage, mean relative width) of the stated interval on these rows."""
    low, high = residuals.bounds(DEFAULT_CONFIDENCE)
    ratio = np.log(measured / predicted)
    return float(np.mean((ratio >= low) & (ratio <= high))), float(np.exp(high) - np.exp(low))


def _curve(label: str, source: CalibrationSource, prior, prior_launch_ms: float, unseen: Residuals, splits: int,
           seed: int) -> dict:
    keys = source.table.keys()
    measured = source.table.mean_ms(keys)
    rng = np.random.default_rng(seed)
    rows: dict[int, dict[str, Any]] = {}
    for k in K_VALUES:
        if k > len(keys) - 3:  # leave at least 3 entries to predict
            continue
        fit_mape, prior_mape, chosen, said, coverage, width = [], [], [], [], [], []
        for _ in range(1 if k == 0 else splits):
            pick = np.sort(rng.choice(len(keys), k, replace=False)) if k else np.arange(0)
            rest = np.setdiff1d(np.arange(len(keys)), pick)
            launch = prior_launch_ms if k == 0 else _known_launch_ms(source, [keys[i] for i in pick], prior)
            prior_pred = _predict(source, prior.model, launch)
            prior_mape.append(_mape(prior_pred[rest], measured[rest]))
            if k == 0:
                fit_mape.append(prior_mape[-1])
                chosen.append("prior")
                said.append("")
                covered, wide = _interval(unseen, prior_pred[rest], measured[rest])
            else:
                measurements, units = _shots(source, [keys[i] for i in pick])
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # what the fit says is counted below
                    predictor = fit_device(measurements, source.accelerator, prior, units=units, seed=seed)
                predicted = _predict(source, predictor.calibrated.model, predictor.calibrated.invocation_ms)
                fit_mape.append(_mape(predicted[rest], measured[rest]))
                chosen.append(predictor.few_shot.chosen)
                said.append(predictor.few_shot.note)
                posterior = fitted_error_model(predictor.few_shot, unseen).residuals("model")
                covered, wide = _interval(posterior, predicted[rest], measured[rest])
            coverage.append(covered)
            width.append(wide)
        worse = [{"split": i, "fit_mape": fit_mape[i], "prior_mape": prior_mape[i], "chosen": chosen[i],
                  "fit_said": said[i]} for i in range(len(fit_mape)) if fit_mape[i] > prior_mape[i] + 1e-9]
        r: dict[str, Any] = {"fit_mape_mean": float(np.mean(fit_mape)), "fit_mape_worst": float(np.max(fit_mape)),
                             "prior_mape_mean": float(np.mean(prior_mape)),
                             "prior_mape_worst": float(np.max(prior_mape)), "splits": len(fit_mape),
                             "worse_than_prior": len(worse), "worse": worse,
                             "kept_prior": sum(c.startswith("prior") for c in chosen),
                             "interval_coverage": float(np.mean(coverage)), "interval_width": float(np.mean(width))}
        rows[k] = r
        print(f"  {label:36s} {k:3d} {r['fit_mape_mean']:7.1f} {r['fit_mape_worst']:7.1f} {r['prior_mape_mean']:7.1f} "
              f"{r['prior_mape_worst']:7.1f} "
              f"{r['kept_prior']:3d}/{r['splits']:<3d} {r['worse_than_prior']:5d} "
              f"{100 * r['interval_coverage']:8.1f} {r['interval_width']:7.2f}", flush=True)
    return {"entries": len(keys), "k": rows}


def run(quick: bool = False) -> dict:
    """k-shot curves for every held-out source (quick: 2 splits per k and one zoo group, else 10 and three)."""
    splits = 2 if quick else 10
    groups = _ZOO_GROUPS[:1] if quick else _ZOO_GROUPS
    started = time.perf_counter()
    print(f"\n  {'held-out source (shots)':36s} {'k':>3s} {'MAPE%':>7s} {'worst%':>7s} {'prior%':>7s} {'worst%':>7s} "
          f"{'kept':>7s} {'worse':>5s} {'cover%':>8s} {'width':>7s}\n"
          f"  (MAPE on the rows not given; mean and worst over {splits} random splits; prior% = the prior on the same "
          "rows, mean and worst; kept = splits where fit_device kept the prior; worse = splits where the fit did worse "
          f"than the prior there; cover% / width = coverage of the "
          f"rows not given by the stated {DEFAULT_CONFIDENCE:.0%} interval and its mean width (high / low factor "
          "difference; k = 0: the prior's interval))")
    curves = {}
    for name in _UNIT_SOURCES:
        held, prior, launch, unseen = _unit_case(name)
        curves[name] = _curve(f"{name} (units)", held, prior, launch, unseen, splits, seed=SEED)
    for group in groups:
        source, prior, launch, unseen = _zoo_case(group)
        curves[source.name] = _curve(f"{source.name} (networks)", source, prior, launch, unseen, splits, seed=SEED)
    rows = [(k, row) for curve in curves.values() for k, row in curve["k"].items()]
    worse = sum(row["worse_than_prior"] for _, row in rows)
    total = sum(row["splits"] for k, row in rows if k)
    mean_worse = [f"{name} k = {k}" for name, curve in curves.items() for k, row in curve["k"].items()
                  if row["fit_mape_mean"] > row["prior_mape_mean"] + 1e-9
                  or row["fit_mape_worst"] > row["prior_mape_worst"] + 1e-9]
    print(f"\n  splits where the few-shot fit predicted the held-out rows worse than the prior: {worse} of {total}; "
          f"sources x k whose mean or worst over splits is worse: {len(mean_worse)} "
          f"({', '.join(mean_worse) or 'none'})")
    for name, curve in curves.items():
        for k, row in curve["k"].items():
            for case in row["worse"]:
                print(f"    {name}, k = {k}: {case['fit_mape']:.1f} % against the prior's {case['prior_mape']:.1f} %; "
                      f"the fit said: {case['fit_said']}")
    intervals = {}
    print(f"  stated {DEFAULT_CONFIDENCE:.0%} interval on the rows not given, all sources, per k:")
    for k in K_VALUES:
        at = [row for kk, row in rows if kk == k]
        n = sum(row["splits"] for row in at)
        intervals[k] = {"coverage": sum(row["interval_coverage"] * row["splits"] for row in at) / n,
                        "width": sum(row["interval_width"] * row["splits"] for row in at) / n,
                        "median_source_width": float(np.median([row["interval_width"] for row in at]))}
        print(f"    k = {k:2d}: coverage {100 * intervals[k]['coverage']:5.1f} %, mean width "
              f"{intervals[k]['width']:.2f} (median over sources {intervals[k]['median_source_width']:.2f})")
    return {"splits_per_k": splits, "curves": curves, "worse_than_prior": worse, "mean_worse_than_prior": mean_worse,
            "fitted_splits": total, "intervals": intervals, "wall_s": time.perf_counter() - started}
