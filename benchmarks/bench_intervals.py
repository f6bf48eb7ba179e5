"""Latency intervals: does the stated 90 % interval cover 85-95 % of held-out measurements?

For each source of a predicted latency (``latency_tables.uncertainty``) every held-out
measurement is checked against the interval built *without it*:

* measured: each repeated Note10 measurement of a unit (the unit measured at several
  resolutions) against the interval from the repeats of all other units;
* model: each Ultra96-V2 B2304 block, predicted by the 5-fold cross-validated calibration,
  against the interval from the other blocks' cross-validated residuals (same unit type);
* transferred: each leave-one-device-out prediction against the interval from the other
  residuals (pooled), and, the stricter check, each device's predictions against the
  interval learned from the *other* device alone.

The interval of a predictor fitted to a new board (``latency_tables.fit_device``: the prior's
transferred error updated by the board's own held-out errors) is checked per number of
measurements in ``benchmarks/bench_few_shot.py``, on the rows the fit was not given.

Intervals use split-conformal order statistics (:meth:`Residuals.bounds`): exchangeable
residuals give at least the stated coverage; the cross-device check has no such guarantee and says how
far a transfer to a third device can be trusted.
"""

from __future__ import annotations

import numpy as np

from latency_tables.uncertainty import (
    DEFAULT_CONFIDENCE,
    MIN_RESIDUALS,
    Residuals,
    repeat_residuals,
    transfer_residuals,
    unit_kind,
    unit_residuals,
)

TARGET = (0.85, 0.95)


def _interval(values: np.ndarray, confidence: float) -> tuple[float, float]:
    """The shipped rule (:meth:`Residuals.bounds`) on these residuals."""
    return Residuals("model", tuple(float(v) for v in values), "held-out check").bounds(confidence)


def _loo_coverage(values: np.ndarray, groups: np.ndarray, confidence: float) -> np.ndarray:
    """Whether each value lies in the interval of the values of every other group."""
    covered = np.empty(len(values), dtype=bool)
    for i, value in enumerate(values):
        low, high = _interval(values[groups != groups[i]], confidence)
        covered[i] = low <= value <= high
    return covered


def _measured(confidence: float) -> dict:
    from latency_tables import list_tables, load_table

    by_key: dict[str, list[float]] = {}
    for name in list_tables("note10-r*"):
        for key, entry in load_table(name).entries.items():
            by_key.setdefault(key, []).append(entry.mean_ms)
    values, groups = [], []
    for g, found in enumerate(v for v in by_key.values() if len(v) > 1):
        arr = np.asarray(found)
        for i, x in enumerate(arr):
            values.append(np.log(x / np.delete(arr, i).mean()))
            groups.append(g)
    assert len(values) == len(repeat_residuals().values)
    covered = _loo_coverage(np.asarray(values), np.asarray(groups), confidence)  # leave the whole unit out
    return {"n": len(values), "coverage": float(covered.mean()), "check": "leave-one-unit-out"}


def _model(confidence: float) -> dict:
    residuals = unit_residuals()
    values, kinds = [], []
    for kind, r in residuals.items():
        if kind != "*":
            values += list(r.values)
            kinds += [kind] * len(r.values)
    values_arr, kinds_arr = np.asarray(values), np.asarray(kinds)
    covered = np.empty(len(values_arr), dtype=bool)
    for i, value in enumerate(values_arr):
        same = (kinds_arr == kinds_arr[i]) & (np.arange(len(values_arr)) != i)
        pool = values_arr[same] if same.sum() + 1 >= MIN_RESIDUALS else np.delete(values_arr, i)
        low, high = _interval(pool, confidence)
        covered[i] = low <= value <= high
    assert unit_kind("Logits-input:1x1x1536-output:1000") == "other"
    return {"n": len(values_arr), "coverage": float(covered.mean()), "check": "leave-one-out over 5-fold CV residuals"}


def _transferred(confidence: float) -> dict:
    values = np.asarray(transfer_residuals().values)
    device = np.array(["ultra96"] * 66 + ["zcu102"] * (len(values) - 66))  # the order transfer_residuals uses
    pooled = _loo_coverage(values, np.arange(len(values)), confidence)
    cross = {}
    for name in ("ultra96", "zcu102"):
        low, high = _interval(values[device != name], confidence)
        held = values[device == name]
        cross[name] = {"n": int(held.size), "coverage": float(np.mean((held >= low) & (held <= high)))}
    return {"n": len(values), "coverage": float(pooled.mean()), "check": "leave-one-out over LODO residuals",
            "cross_device": cross}


def run(quick: bool = False) -> dict:
    """Coverage of the stated interval per source, on held-out measurements (``quick`` changes nothing: it is fast)."""
    confidence = DEFAULT_CONFIDENCE
    by_source = {"measured": _measured(confidence), "model": _model(confidence),
                 "transferred": _transferred(confidence)}
    n = sum(f["n"] for f in by_source.values())
    overall = sum(f["n"] * f["coverage"] for f in by_source.values()) / n
    # sources weighted equally: the measured repeats would otherwise dominate the count
    balanced = float(np.mean([f["coverage"] for f in by_source.values()]))
    figures: dict = {"confidence": confidence, "target_coverage": TARGET, **by_source,
                     "overall": {"n": n, "coverage": overall, "coverage_sources_weighted_equally": balanced}}
    print(f"stated {confidence:.0%} intervals, coverage of held-out measurements (target {TARGET[0]:.0%}-"
          f"{TARGET[1]:.0%}):")
    print(f"{'source':<14} {'n':>6} {'coverage':>9}  check")
    for source, f in by_source.items():
        print(f"{source:<14} {f['n']:>6} {f['coverage']:>9.1%}  {f['check']}")
    for name, f in by_source["transferred"]["cross_device"].items():
        print(f"{'  -> ' + name:<14} {f['n']:>6} {f['coverage']:>9.1%}  interval from the other device's transfer only")
    print(f"{'overall':<14} {n:>6} {overall:>9.1%}  (sources weighted equally: {balanced:.1%})")
    return figures
