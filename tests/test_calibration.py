"""Calibration of the analytical model on measured tables: targets, recovery, serialisation, errors."""

import dataclasses
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accel_models import BlockSpec, RooflineModel, RooflineParams
from latency_tables import Entry, LatencyTable, load_table
from latency_tables.calibration import CalibratedModel, calibrate, holdout_errors, kernel_group, stage_group
from latency_tables.metrics import ErrorReport, error_report
from latency_tables.sources import table_accelerator, table_units


@pytest.fixture(scope="module")
def ultra96():
    return load_table("ultra96v2-b2304")


def stem_measured_with_relu(table):
    # The source names its stem "act-relu" where OFA's stem (and so the key) uses h-swish.
    stem = next(k for k in table.keys() if k.startswith("Conv-"))
    return {stem: dataclasses.replace(BlockSpec.from_key(stem), activation="relu").layers()}


@pytest.fixture(scope="module")
def ultra96_calibration(ultra96):
    return calibrate(RooflineModel(), ultra96, table_accelerator(ultra96.meta), units=stem_measured_with_relu(ultra96))


def test_ultra96_leave_one_kernel_size_out_meets_the_targets(ultra96):
    # issue 4: fit on k3, predict k5 and vice versa
    report = holdout_errors(RooflineModel(), ultra96, table_accelerator(ultra96.meta), kernel_group,
                            units=stem_measured_with_relu(ultra96))
    assert set(report.groups) == {"k3", "k5"} and report.pooled.n == 62
    assert report.pooled.mape_pct <= 10.0
    assert report.pooled.max_abs_pct_error <= 35.0
    assert report.pooled.spearman >= 0.93


def test_ultra96_calibration_is_physical(ultra96, ultra96_calibration):
    cal = ultra96_calibration
    values = {k: v["value"] for k, v in cal.parameters.items()}
    assert 0.9 <= values["dw_efficiency"] <= 1.0  # k5 - k3 differences match the depthwise tiling exactly
    assert 2.0 <= values["hswish_passes"] <= 5.0  # relu6(x+3), scale, product
    assert cal.traffic.mape_pct < 3.0 and cal.traffic.spearman > 0.99
    assert cal.in_sample.mape_pct < 10.0 and cal.cross_validated.mape_pct < 15.0
    assert all({"value", "unit", "meaning"} <= set(v) for v in cal.parameters.values())
    assert "mem_io_mb" in cal.method["buffer_fraction"]


def test_kernel_7_extrapolates_with_the_depthwise_tiling(ultra96, ultra96_calibration):
    # The table has k3 and k5 only.  Depthwise cycles grow with k*k, so going from k5 to k7 must cost
    # (49 - 25) / (25 - 9) = 1.5 times what the hardware measured from k3 to k5 (stride-1 blocks, whose
    # measured k5 - k3 differences are depthwise time).
    ratios = []
    for k3 in ultra96.keys():
        if "kernel:3" not in k3 or "stride:1" not in k3 or "input:112x112" in k3:
            continue
        k5, k7 = k3.replace("kernel:3", "kernel:5"), k3.replace("kernel:3", "kernel:7")
        measured = ultra96.entries[k5].mean_ms - ultra96.entries[k3].mean_ms
        if measured < 0.1:
            continue  # too small a difference to be more than noise
        p5, p7 = ultra96_calibration.key_latency_ms([k5, k7])
        ratios.append((p7 - p5) / measured)
    assert len(ratios) >= 12
    assert np.all((np.array(ratios) > 1.35) & (np.array(ratios) < 1.7)), ratios


def test_launch_cost_comes_from_the_profiler_busy_time(ultra96, ultra96_calibration):
    keys = ultra96.keys()
    busy_ms = ultra96.column("mem_io_mb", keys) / ultra96.column("mem_bw_mbps", keys) * 1e3
    expected = float(np.median(ultra96.mean_ms(keys) - busy_ms))
    assert ultra96_calibration.invocation_ms == pytest.approx(expected)
    assert 0.04 < expected < 0.08
    units = [BlockSpec.from_key(k).layers() for k in keys[:5]]
    assert np.allclose(ultra96_calibration.entry_latency_ms(units) - ultra96_calibration.unit_latency_ms(units),
                       expected)


def test_round_trip_and_transfer(ultra96_calibration):
    cal = ultra96_calibration
    again = CalibratedModel.from_dict(json.loads(json.dumps(cal.to_dict())))
    keys = ["expanded_conv-input:28x28x48-output:28x28x48-expand:144-kernel:7-stride:1-idskip:1-se:1-hs:0",
            "Conv_2-input:1x1x1152-output:1x1x1536"]
    assert np.allclose(again.key_latency_ms(keys), cal.key_latency_ms(keys))
    assert again.parameters == cal.parameters and again.in_sample == cal.in_sample
    faster = cal.for_accelerator(cal.accelerator.replace(clock_mhz=400.0, ddr_bw_gbps=2 * cal.accelerator.ddr_bw_gbps))
    # twice the clock and bandwidth halves every term but nothing else changes
    assert np.allclose(faster.key_latency_ms(keys), cal.key_latency_ms(keys) / 2)
    both = cal.unit_latency_ms([BlockSpec.from_key(k).layers() for k in keys], [cal.accelerator, faster.accelerator])
    assert both.shape == (2, 2) and np.allclose(both[1], both[0] / 2)
    with pytest.raises(ValueError, match="missing keys"):
        CalibratedModel.from_dict({"model": {}})


def test_recovers_parameters_of_synthetic_measurements(ultra96):
    # measurements generated by a known parameter set (a different truth from the prior) must be fitted back
    truth = RooflineParams(pw_efficiency=0.55, dw_efficiency=0.8, misc_efficiency=0.3, bw_efficiency=0.3,
                           weight_bw_efficiency=0.25, layer_overhead_cycles=2000.0, hswish_passes=2.0)
    acc = table_accelerator(ultra96.meta)
    keys = [k for k in ultra96.keys() if k.startswith("expanded_conv")]
    truth_ms = RooflineModel(truth).unit_latency_ms([BlockSpec.from_key(k).layers() for k in keys], acc)
    meta = dataclasses.replace(ultra96.meta, name="synthetic", per_entry_invocation=False)
    table = LatencyTable.from_entries(meta, [Entry(k, 1, float(v)) for k, v in zip(keys, truth_ms, strict=True)])
    cal = calibrate(RooflineModel(), table, acc, folds=0)
    assert cal.cross_validated is None and cal.invocation_ms == 0.0
    assert cal.in_sample.mape_pct < 1.0
    fitted = cal.model.params
    assert fitted.dw_efficiency == pytest.approx(0.8, rel=0.1)
    assert fitted.weight_bw_efficiency == pytest.approx(0.25, rel=0.15)
    assert "prior" in cal.method["buffer_fraction"]


def test_launch_cost_is_fitted_without_profiler_bandwidth(ultra96):
    entries = [dataclasses.replace(e, extra={}) for e in ultra96.entries.values()]
    bare = LatencyTable.from_entries(ultra96.meta, entries)
    cal = calibrate(RooflineModel(), bare, table_accelerator(ultra96.meta), folds=0,
                    units=stem_measured_with_relu(ultra96))
    assert cal.method["invocation_ms"] == "fitted with the other parameters"
    assert 0.0 <= cal.invocation_ms <= min(e.mean_ms for e in entries)
    assert cal.traffic is None and "prior" in cal.method["buffer_fraction"]


def test_fixed_parameters_are_not_fitted(ultra96):
    acc = table_accelerator(ultra96.meta)
    model = RooflineModel(RooflineParams(overlap=0.75, hswish_passes=1.5, buffer_fraction=2.0, pw_efficiency=0.3))
    cal = calibrate(model, ultra96, acc, folds=0, fixed=("overlap", "hswish_passes", "buffer_fraction"))
    assert cal.model.params.overlap == 0.75 and cal.model.params.hswish_passes == 1.5
    assert cal.model.params.buffer_fraction == 2.0 and cal.method["buffer_fraction"] == "fixed by the caller"
    assert cal.model.params.pw_efficiency > 0.4  # the rest is still fitted (from a poor start)
    with pytest.raises(ValueError, match=r"cannot fix unknown parameter\(s\) \['speed'\]"):
        calibrate(model, ultra96, acc, folds=0, fixed=("speed",))


def test_zcu102_table_calibrates_without_launch_cost():
    table = load_table("zcu102-b4096-mbv2")
    cal = calibrate(RooflineModel(), table, table_accelerator(table.meta), folds=0)
    assert not cal.per_entry_invocation and cal.invocation_ms == 0.0
    assert cal.traffic is None and np.isfinite(cal.in_sample.mape_pct)


def test_bad_inputs(ultra96):
    acc = table_accelerator(ultra96.meta)
    with pytest.raises(ValueError, match="folds must be 0"):
        calibrate(RooflineModel(), ultra96, acc, folds=1)
    with pytest.raises(ValueError, match="folds=100 exceeds the 66 entries"):
        calibrate(RooflineModel(), ultra96, acc, folds=100)
    with pytest.raises(ValueError, match="calibrate needs one Accelerator"):
        calibrate(RooflineModel(), ultra96, [acc])
    odd = LatencyTable.from_entries(ultra96.meta, [Entry("my-custom-layer", 1, 1.0)])
    with pytest.raises(ValueError, match="cannot derive the layers of 1 key.*'my-custom-layer'.*units="):
        table_units(odd)
    with pytest.raises(ValueError, match="units given for 1 key.*not in table 'ultra96v2-b2304'"):
        table_units(ultra96, {"Conv-input:8x8x3-output:4x4x8": ()})
    with pytest.raises(ValueError, match=r"names no DPUCZDX8G configuration .*the DPU measured: "
                                         r"table_accelerator\(meta, arch=\.\.\., clock_mhz=\.\.\.\)$"):
        table_accelerator(load_table("note10-r224").meta)
    with pytest.raises(ValueError, match="at least two groups"):
        holdout_errors(RooflineModel(), ultra96, acc, lambda key: "all")


def test_group_functions():
    key = "expanded_conv-input:14x14x136-output:7x7x192-expand:816-kernel:5-stride:2-idskip:0-se:1-hs:1"
    assert kernel_group(key) == "k5" and stage_group(key) == "c192"
    assert kernel_group("Conv_1-input:7x7x192-output:7x7x1152") is None
    assert stage_group("AvgPool2D-input:7x7x1152-output:1x1x1152") is None


# ---------------------------------------------------------------- metrics
def test_error_report_by_hand():
    r = error_report([1.2, 1.5, 2.0, 4.0], [1.0, 2.0, 2.0, 5.0], keys=list("abcd"))
    assert r.mape_pct == pytest.approx((20 + 25 + 0 + 20) / 4)
    assert r.max_abs_pct_error == pytest.approx(25.0) and r.worst_key == "b"
    assert r.spearman == pytest.approx(np.corrcoef([1, 2, 3, 4], [1, 2.5, 2.5, 4])[0, 1])
    assert ErrorReport.from_dict(r.to_dict()) == r
    with pytest.raises(ValueError, match="measured finite and positive"):
        error_report([1.0], [0.0])
    with pytest.raises(ValueError, match="equal length"):
        error_report([1.0, 2.0], [1.0])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(1, 100_000), min_size=3, max_size=30, unique=True))
def test_spearman_ignores_monotone_transforms(values):
    measured = np.array(values) / 1000.0
    assert error_report(np.log1p(measured) + 5, measured).spearman == pytest.approx(1.0)
    assert error_report(measured, measured).mape_pct == 0.0
    assert error_report(1 / measured, measured).spearman == pytest.approx(-1.0)
