"""Does the calibrated DPU model transfer to devices it was not fitted on?

* Leave-one-device-out: fit on the Ultra96-V2 B2304 blocks (Vitis AI 3.0),
  predict the ZCU102 B4096 per-layer DNNDK profiles, and the reverse; for the
  joint model (:func:`latency_tables.calibrate_joint`, its defaults) and the
  alternatives it was chosen over (untied weight bandwidth, free h-swish
  passes, no pipeline chunks), side by side with the single-table
  :func:`latency_tables.calibrate` transferred with ``for_accelerator``.
  The ZCU102 MobileNetV2 block table is predicted too (never fitted: noisy).
* Joint fit on both devices: in-sample and 5-fold cross-validated errors
  per source.
* Whole networks of the Vitis AI model zoo (``benchmarks/networks.py``) on
  ZCU102 / ZCU104 / KV260 (B4096) and Ultra96 (B1600): predicted DPU time
  against the published single-thread end-to-end latency, an upper bound of
  it (it includes the ARM's pre- and post-processing).  Validation only:
  nothing was fitted to these numbers.
* Data check: the VGG-16 latency the ZCU102 per-layer profiles themselves
  imply, against the zoo's VGG-16 figures.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from accel_models import RooflineModel
from accel_models.reference import layer_profiles
from latency_tables import LatencyTable, calibrate, calibrate_joint, get_source, leave_one_device_out
from latency_tables.joint import JOINT_FIXED, JOINT_TIED, held_out_launch_ms
from latency_tables.metrics import error_report
from latency_tables.predictor import calibrated_device
from latency_tables.sources import CalibrationSource, table_units

from .networks import predicted_dpu_ms, zoo_rows

_SOURCES = ("ultra96v2-b2304", "zcu102-b4096-layer-profiles")
_VALIDATION = "zcu102-b4096-mbv2"
_SHORT = {"ultra96v2-b2304": "U96 blocks", "zcu102-b4096-layer-profiles": "ZCU102 layers",
          "zcu102-b4096-mbv2": "ZCU102 MBv2 blocks"}


def _report(report) -> dict:
    return {"mape_pct": report.mape_pct, "max_abs_pct_error": report.max_abs_pct_error, "spearman": report.spearman,
            "n": report.n, "worst_key": report.worst_key}


def _line(label: str, report) -> None:
    print(f"  {label:74s} {report.mape_pct:7.1f} {report.max_abs_pct_error:8.1f} {report.spearman:9.3f} {report.n:5d}")


def _header(title: str) -> None:
    print(f"\n{title}\n  {'evaluation':74s} {'MAPE%':>7s} {'worst%':>8s} {'Spearman':>9s} {'n':>5s}")


def _sources(with_validation: bool):
    sources = [get_source(name) for name in _SOURCES]
    if with_validation:
        sources.append(dataclasses.replace(get_source(_VALIDATION), weight=0.0))
    return sources


def _profiles_timed_per_layer(source):
    # a reading of the ZCU102 profiles the defaults do not take: each profiled layer carries a fixed
    # timing cost (like a launch per entry) instead of the DPU paying setup cycles on every layer
    if source.name != "zcu102-b4096-layer-profiles":
        return source
    meta = dataclasses.replace(source.table.meta, per_entry_invocation=True)
    return dataclasses.replace(source, table=LatencyTable.from_entries(meta, source.table.entries.values()))


#: calibrate_joint's defaults, then the alternatives they were chosen over: (options, source transform)
_VARIANTS: dict[str, tuple[dict[str, Any], Callable[[CalibrationSource], CalibrationSource] | None]] = {
    "joint": ({}, None),
    "  joint, separate weight DDR rate": ({"tied": {}}, None),
    "  joint, free h-swish passes": ({"fixed": ()}, None),
    "  joint, no pipeline chunks": ({"fixed": (*JOINT_FIXED, "pipeline_chunk_fraction")}, None),
    "  joint, ZCU102 profiles: timing cost per layer": ({}, _profiles_timed_per_layer),
}


def _leave_one_device_out(figures: dict) -> None:
    _header("Leave-one-device-out: fit on one device, predict the other (calibrate(): the single-table fit)")
    sources = _sources(with_validation=True)
    out = {}
    # the single-table calibration of issue 4, transferred to the other device without refitting
    ultra96, zcu102 = sources[0], sources[1]
    for fitted, held in ((ultra96, zcu102), (zcu102, ultra96)):
        cal = calibrate(RooflineModel(), fitted.table, fitted.accelerator, units=fitted.units, folds=0)
        moved = cal.for_accelerator(held.accelerator)
        keys = held.table.keys()
        units = table_units(held.table, held.units)
        predicted = moved.unit_latency_ms([units[k] for k in keys]) + held_out_launch_ms(held)
        report = error_report(predicted, held.table.mean_ms(keys), keys)
        label = f"calibrate(), {fitted.device} -> {_SHORT[held.name]}"
        _line(label, report)
        out[label] = _report(report)
    for variant, (options, transform) in _VARIANTS.items():
        variant_sources = [transform(src) for src in sources] if transform else sources
        transfer = leave_one_device_out(RooflineModel(), variant_sources, **options)
        for name, report in transfer.held_out.items():
            fitted = "+".join(sorted({s.device for s in sources if s.device != transfer.devices[name]}))
            _line(f"{variant}, {fitted} -> {_SHORT[name]}", report)
            out[f"{variant.strip()}: -> {name}"] = _report(report)
        out[f"{variant.strip()}: parameters"] = {d: dict(p) for d, p in transfer.parameters.items()}
    figures["leave_one_device_out"] = out


def _joint(figures: dict, quick: bool) -> None:
    sources = _sources(with_validation=True)
    start = time.perf_counter()
    joint = calibrate_joint(RooflineModel(), sources, folds=0 if quick else 5)
    figures["calibrate_joint_s"] = time.perf_counter() - start
    folds = "" if quick else " and 5-fold CV"
    _header(f"Joint fit on {', '.join(_SOURCES)} (in-sample{folds}; {_VALIDATION} never fitted)")
    out = {}
    for source in sources:
        name = source.name
        _line(f"{name}: {'in-sample' if source.weight else 'predicted, never fitted'}", joint.in_sample[name])
        out[f"{name}: in_sample"] = _report(joint.in_sample[name])
        if joint.cross_validated is not None and source.weight:
            _line(f"{name}: 5-fold CV", joint.cross_validated[name])
            out[f"{name}: cv5"] = _report(joint.cross_validated[name])
        if joint.traffic[name] is not None:
            _line(f"{name}: DDR traffic vs profiler", joint.traffic[name])
    print("  fitted: " + ", ".join(f"{k}={v['value']:.4g}" for k, v in joint.parameters.items()))
    print(f"  tied: {dict(JOINT_TIED)}; fixed: {list(JOINT_FIXED)}; launch ms: "
          + ", ".join(f"{k}={v:.4f}" for k, v in joint.invocation_ms.items()))
    figures["joint"] = out
    figures["joint_parameters"] = {k: v["value"] for k, v in joint.parameters.items()}


def _zoo(figures: dict) -> None:
    rows = zoo_rows()
    ultra96 = calibrated_device("ultra96v2-b2304")
    joint_device = calibrated_device("dpuczdx8g-joint")
    models = {"joint": (joint_device.model, joint_device.invocation_ms),
              "ultra96_only": (ultra96.model, ultra96.invocation_ms),
              "default_params": (RooflineModel(), 0.0)}
    published = np.array([r.e2e_ms for r in rows])
    predicted = {name: np.array([predicted_dpu_ms(model, inv, r) for r in rows])
                 for name, (model, inv) in models.items()}
    print(f"\nVitis AI model zoo, single-thread end-to-end latency (an upper bound of DPU time): {len(rows)} rows, "
          f"{len({r.network for r in rows})} networks")
    print(f"  {'network':18s} {'board':9s} {'DPU':12s} {'VAI':>4s} {'n':>2s} {'e2e ms':>8s} {'joint ms':>9s} "
          f"{'ratio':>6s} {'U96-only':>9s} {'default':>8s}")
    groups: dict = {}
    for i, r in enumerate(rows):
        groups.setdefault((r.network, r.board, r.dpu_arch, r.clock_mhz), []).append(i)
    table = []
    for (network, board, arch, clock), idx in groups.items():
        e2e = float(np.median(published[idx]))
        ratios = {name: float(np.median(values[idx] / published[idx])) for name, values in predicted.items()}
        versions = sorted({rows[i].vitis_ai for i in idx})
        print(f"  {network:18s} {board:9s} B{arch}@{clock:<6g} {versions[0]:>4s} {len(idx):2d} {e2e:8.2f} "
              f"{float(np.median(predicted['joint'][idx])):9.2f} {ratios['joint']:6.2f} {ratios['ultra96_only']:9.2f} "
              f"{ratios['default_params']:8.2f}")
        table.append({"network": network, "board": board, "dpu": f"B{arch}", "clock_mhz": clock,
                      "vitis_ai": versions, "rows": len(idx), "e2e_ms_median": e2e,
                      "joint_ms": float(np.median(predicted["joint"][idx])),
                      **{f"ratio_{k}": v for k, v in ratios.items()}})
    print("  (VAI: first Vitis AI version of the n rows; e2e: their median; ratio: median predicted / e2e)")
    print(f"  {'predictor':14s} {'median ratio':>12s} {'min':>6s} {'max':>6s} {'ratio<=1':>9s} {'Spearman':>9s}")
    summary = {}
    for name, values in predicted.items():
        ratio = values / published
        spearman = error_report(values, published).spearman
        print(f"  {name:14s} {np.median(ratio):12.2f} {ratio.min():6.2f} {ratio.max():6.2f} "
              f"{np.mean(ratio <= 1):9.0%} {spearman:9.3f}")
        summary[name] = {"median_ratio": float(np.median(ratio)), "min_ratio": float(ratio.min()),
                         "max_ratio": float(ratio.max()), "fraction_at_most_1": float(np.mean(ratio <= 1)),
                         "spearman": spearman}
    figures["model_zoo"] = {"summary": summary, "groups": table, "rows": len(rows)}


def _vgg16_from_profiles(figures: dict) -> None:
    # the 13 VGG-16 convolutions were profiled (FCN8's backbone); the three fc layers take the bytes of
    # their weights at the rate AlexNet's fc6 / fc7 streamed theirs on the same DPU
    profiles = layer_profiles()
    convs = [p for p in profiles if p.network == "fcn8" and p.layer.name.startswith("block")]
    fcs = [p for p in profiles if p.network == "alexnet" and p.layer.name in ("fc6", "fc7")]
    rate = sum(p.layer.weight_bytes for p in fcs) / sum(p.runtime_ms for p in fcs)  # bytes per ms
    fc_ms = sum(cin * cout / rate for cin, cout in ((25088, 4096), (4096, 4096), (4096, 1000)))
    implied = sum(p.runtime_ms for p in convs) + fc_ms
    e2e = [r.e2e_ms for r in zoo_rows() if r.network == "vgg16" and r.dpu_arch == "4096" and r.clock_mhz >= 300]
    print(f"\nData check: VGG-16 on B4096 @ 300 MHz implied by the ZCU102 per-layer profiles: {implied:.1f} ms "
          f"({len(convs)} convolutions measured: {implied - fc_ms:.1f} ms; fc layers at AlexNet's measured "
          f"{rate / 1e6:.2f} GB/s: {fc_ms:.1f} ms); the zoo's end-to-end figures at 300-305 MHz: "
          f"{min(e2e):.1f}-{max(e2e):.1f} ms, ratio {implied / max(e2e):.2f}-{implied / min(e2e):.2f}")
    figures["vgg16_profile_check"] = {"implied_ms": implied, "conv_ms": implied - fc_ms, "fc_ms": fc_ms,
                                      "zoo_e2e_ms_min": min(e2e), "zoo_e2e_ms_max": max(e2e)}


def run(quick: bool = False) -> dict:
    figures: dict = {}
    _leave_one_device_out(figures)
    _joint(figures, quick)
    _zoo(figures)
    _vgg16_from_profiles(figures)
    cv = "no CV" if quick else "with 5-fold CV"
    print(f"\ncalibrate_joint wall time ({cv}): {figures['calibrate_joint_s']:.2f} s")
    return figures
