"""Cross-device calibration (latency_tables.joint) and its transfer to devices it was not fitted on.

Golden numbers: the pipeline and merged-pool rules against hand calculations; the fitter against
measurements synthesised from a known parameter set; transfer errors against the real Ultra96-V2
and ZCU102 measurements (bounds a few points above what ``benchmarks/bench_transfer.py`` reports,
so that they fail if the transfer regresses towards the 55 % of the single-table calibration).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from accel_models import Accelerator, BlockSpec, Layer, RooflineModel, RooflineParams
from accel_models.layer import LayerArrays
from latency_tables import (
    CalibrationSource,
    Entry,
    LatencyTable,
    calibrate,
    calibrate_joint,
    get_predictor,
    get_source,
    leave_one_device_out,
    load_table,
)
from latency_tables.joint import JOINT_FIXED, JOINT_TIED, held_out_launch_ms
from latency_tables.metrics import error_report
from latency_tables.sources import profiler_launch_ms, table_units


@pytest.fixture(scope="module")
def ultra96():
    return get_source("ultra96v2-b2304")


@pytest.fixture(scope="module")
def zcu102():
    return get_source("zcu102-b4096-layer-profiles")


@pytest.fixture(scope="module")
def joint(ultra96, zcu102):
    return calibrate_joint(RooflineModel(), [ultra96, zcu102], folds=5)


# ------------------------------------------------------------ model rules
ACC = Accelerator(pp=8, icp=16, ocp=16, clock_mhz=100.0, ddr_bw_gbps=1.0, act_buffer_kib=64.0)


def _hand_latency_ms(layer: Layer, params: RooflineParams, chunks: float) -> float:
    # 1x1 conv: ceil(Cin/ICP) * ceil(Cout/OCP) * ceil(W/PP) * H cycles at 100 MHz; bytes at 1 GB/s
    cin, _, _ = layer.in_shape
    cout, h, w = layer.out_shape
    cycles = -(-cin // 16) * -(-cout // 16) * -(-w // 8) * h
    compute = cycles / params.pw_efficiency / 100e3
    feature = layer.input_bytes + layer.output_bytes
    memory = (feature / params.bw_efficiency + layer.weight_bytes / params.weight_bw_efficiency) / 1e6
    overhead = params.layer_overhead_cycles / 100e3
    return max(compute, memory) + (1 - params.overlap) * min(compute, memory) / chunks + overhead


@pytest.mark.parametrize("fraction", [1e4, 4.0, 1.0, 0.25])
def test_pipeline_chunks_hide_all_but_one_chunk(fraction):
    layer = Layer("pw", "pwconv", (64, 56, 56), (128, 56, 56))  # 200 KiB in, 401 KiB out, 8 KiB weights
    params = RooflineParams(overlap=0.25, pipeline_chunk_fraction=fraction, layer_overhead_cycles=500.0)
    traffic = layer.input_bytes + layer.output_bytes + layer.weight_bytes
    chunks = max(1.0, traffic / (fraction * 64 * 1024))
    got = RooflineModel(params).layer_latency_ms(LayerArrays.from_layers([layer]), ACC)[0]
    assert got == pytest.approx(_hand_latency_ms(layer, params, chunks), rel=1e-12)
    if fraction == 1e4:
        assert chunks == 1.0  # the default switches the pipeline off: the model of before
    if fraction == 0.25:
        assert chunks > 35


def test_a_pool_after_a_convolution_runs_in_its_write_back():
    params = RooflineParams(layer_overhead_cycles=1000.0)
    conv = Layer("c", "conv", (64, 28, 28), (64, 28, 28), kernel=3, block="u")
    pool = Layer("p", "maxpool", (64, 28, 28), (64, 14, 14), kernel=2, stride=2, block="u")
    model = RooflineModel(params)
    parts = model.breakdown(model.schedule([(conv, pool)]), [ACC])
    assert parts["compute_ms"][0, 1] == 0.0 and parts["overhead_ms"][0, 1] == 0.0
    assert parts["overhead_ms"][0, 0] == pytest.approx(1000 / 100e3)
    # only the pooled tensor is written: conv reads its input and weights, the pool writes 64 x 14 x 14
    assert parts["dram_bytes"][0].tolist() == [conv.input_bytes + conv.weight_bytes, pool.output_bytes]
    # a pool after a depthwise conv (the SE squeeze) is an element-wise pass of its own
    block = BlockSpec.from_key("expanded_conv-input:28x28x48-output:28x28x48-expand:144-kernel:3-stride:1"
                               "-idskip:1-se:1-hs:0").layers()
    se = model.breakdown(model.schedule([block]), [ACC])
    squeeze = [i for i, layer in enumerate(block) if layer.op == "pool"]
    assert squeeze and se["compute_ms"][0, squeeze[0]] > 0 and se["overhead_ms"][0, squeeze[0]] > 0


# ------------------------------------------------------------ the fitter
def test_recovers_a_known_parameter_set_from_two_devices(ultra96, zcu102):
    truth = RooflineParams(conv_efficiency=0.9, pw_efficiency=0.75, misc_efficiency=0.3, bw_efficiency=0.3,
                           weight_bw_efficiency=0.3, layer_overhead_cycles=2000.0, overlap=0.1,
                           pipeline_chunk_fraction=1.5)
    synthetic = []
    for source in (ultra96, zcu102):
        keys = source.table.keys()
        units = table_units(source.table, source.units)
        truth_ms = RooflineModel(truth).unit_latency_ms([units[k] for k in keys], source.accelerator)
        meta = dataclasses.replace(source.table.meta, name=f"synthetic-{source.name}", per_entry_invocation=False)
        table = LatencyTable.from_entries(meta, [Entry(k, 1, float(v)) for k, v in zip(keys, truth_ms, strict=True)])
        synthetic.append(CalibrationSource(table, source.accelerator, source.units))
    fitted = calibrate_joint(RooflineModel(), synthetic, folds=0, fixed=("hswish_passes", "buffer_fraction"))
    assert all(report.mape_pct < 1.0 for report in fitted.in_sample.values())
    params = fitted.model.params
    assert params.pipeline_chunk_fraction == pytest.approx(1.5, rel=0.1)
    assert params.bw_efficiency == pytest.approx(0.3, rel=0.05)
    assert params.weight_bw_efficiency == params.bw_efficiency  # tied
    assert params.conv_efficiency == pytest.approx(0.9, rel=0.05)
    assert params.layer_overhead_cycles == pytest.approx(2000.0, rel=0.1)
    assert set(fitted.invocation_ms.values()) == {0.0}


def test_joint_fit_on_two_devices(joint, ultra96, zcu102):
    cv = joint.cross_validated
    assert cv[zcu102.name].mape_pct < 9.0 and cv[zcu102.name].spearman > 0.95
    assert cv[ultra96.name].mape_pct < 18.0 and cv[ultra96.name].spearman > 0.9
    assert all(joint.traffic[name].mape_pct < 3.0 for name in (ultra96.name, zcu102.name))
    values = {name: info["value"] for name, info in joint.parameters.items()}
    assert values["weight_bw_efficiency"] == values["bw_efficiency"]
    assert 0.2 < values["bw_efficiency"] < 0.35  # weights and feature maps stream at ~25 % of peak on both
    assert 0.5 < values["pipeline_chunk_fraction"] < 2.0  # about one activation buffer per chunk
    assert values["hswish_passes"] == 3.0 and values["conv_efficiency"] > 0.9
    # the Ultra96 entries keep their own launch cost, from their profiler; the profiles have none
    assert joint.invocation_ms[ultra96.name] == pytest.approx(profiler_launch_ms(ultra96.table))
    assert joint.invocation_ms[zcu102.name] == 0.0


def test_joint_calibration_as_a_calibrated_model(joint, ultra96, zcu102):
    cal = joint.calibrated(ultra96.name)
    assert cal.accelerator == ultra96.accelerator and cal.table == ultra96.name and cal.per_entry_invocation
    assert cal.in_sample == joint.in_sample[ultra96.name]
    assert cal.parameters["invocation_ms"]["value"] == joint.invocation_ms[ultra96.name]
    keys = ultra96.table.keys()[:4]
    units = [BlockSpec.from_key(k).layers() for k in keys]
    moved = cal.for_accelerator(zcu102.accelerator)
    assert np.allclose(moved.unit_latency_ms(units), joint.model.unit_latency_ms(units, zcu102.accelerator))
    assert "ultra96v2-b2304" in joint.summary() and set(joint.to_dict()["in_sample"]) == {ultra96.name, zcu102.name}
    with pytest.raises(KeyError, match="no source 'nope'"):
        joint.calibrated("nope")


# --------------------------------------------------------------- transfer
def test_leave_one_device_out_transfers_far_better_than_one_table(ultra96, zcu102):
    transfer = leave_one_device_out(RooflineModel(), [ultra96, zcu102])
    to_zcu102, to_ultra96 = transfer.held_out[zcu102.name], transfer.held_out[ultra96.name]
    assert to_zcu102.mape_pct < 16.0 and to_zcu102.spearman > 0.95
    assert to_ultra96.mape_pct < 20.0 and to_ultra96.spearman > 0.9
    assert set(transfer.parameters) == {"ultra96v2", "zcu102"}
    # the baseline: issue 4's single-table calibration on the Ultra96, moved to the ZCU102 as it is
    single = calibrate(RooflineModel(), ultra96.table, ultra96.accelerator, units=ultra96.units, folds=0)
    keys = zcu102.table.keys()
    units = table_units(zcu102.table, zcu102.units)
    moved = single.for_accelerator(zcu102.accelerator).unit_latency_ms([units[k] for k in keys])
    baseline = error_report(moved, zcu102.table.mean_ms(keys))
    assert baseline.mape_pct > 40.0 and baseline.mape_pct > 3 * to_zcu102.mape_pct


def test_buffer_is_left_at_its_prior_by_tables_without_on_chip_tensors(zcu102):
    # every profiled unit is one layer (or a conv with its merged pool): traffic cannot tell the buffer size
    alone = calibrate_joint(RooflineModel(RooflineParams(buffer_fraction=0.7)), [zcu102], folds=0)
    assert alone.model.params.buffer_fraction == 0.7
    assert alone.method["buffer_fraction"].startswith("prior (no measured unit keeps a tensor on chip")


def test_validation_sources_are_predicted_never_fitted(ultra96, zcu102):
    noisy = dataclasses.replace(get_source("zcu102-b4096-mbv2"), weight=0.0)
    with_noise = calibrate_joint(RooflineModel(), [ultra96, zcu102, noisy], folds=0)
    without = calibrate_joint(RooflineModel(), [ultra96, zcu102], folds=0)
    assert with_noise.model == without.model
    assert noisy.name in with_noise.in_sample and "fitted_on" in with_noise.method
    assert noisy.name not in with_noise.method["fitted_on"]


def test_held_out_launch_cost_comes_from_the_held_out_profiler(ultra96, zcu102):
    assert held_out_launch_ms(ultra96) == pytest.approx(profiler_launch_ms(ultra96.table))
    assert 0.04 < held_out_launch_ms(ultra96) < 0.08
    assert held_out_launch_ms(zcu102) == 0.0  # timed inside networks: no launch in its entries
    bare = LatencyTable.from_entries(ultra96.table.meta, [dataclasses.replace(e, extra={})
                                                         for e in ultra96.table.entries.values()])
    assert profiler_launch_ms(bare) is None and held_out_launch_ms(dataclasses.replace(ultra96, table=bare)) == 0.0


# ------------------------------------------------------------ bad input
def test_bad_input_names_what_is_wrong(ultra96, zcu102):
    model = RooflineModel()
    with pytest.raises(ValueError, match="non-empty sequence of CalibrationSource"):
        calibrate_joint(model, [])
    with pytest.raises(ValueError, match="distinct table names"):
        calibrate_joint(model, [ultra96, ultra96])
    with pytest.raises(ValueError, match="nothing to fit on"):
        calibrate_joint(model, [dataclasses.replace(ultra96, weight=0.0)])
    with pytest.raises(ValueError, match=r"cannot fix unknown parameter\(s\) \['speed'\]"):
        calibrate_joint(model, [ultra96], fixed=("speed",))
    with pytest.raises(ValueError, match="invalid tied parameter"):
        calibrate_joint(model, [ultra96], tied={"bw_efficiency": "nope"})
    with pytest.raises(ValueError, match="folds must be 0"):
        calibrate_joint(model, [ultra96], folds=1)
    with pytest.raises(ValueError, match="exceeds the entries"):
        calibrate_joint(model, [zcu102], folds=27)
    with pytest.raises(ValueError, match="at least two devices"):
        leave_one_device_out(model, [ultra96, dataclasses.replace(zcu102, device="ultra96v2")])
    with pytest.raises(ValueError, match="weight must be a number >= 0"):
        CalibrationSource(ultra96.table, ultra96.accelerator, weight=-1.0)
    with pytest.raises(ValueError, match="must be an Accelerator"):
        CalibrationSource(ultra96.table, "B2304")
    with pytest.raises(KeyError, match="unknown calibration source 'kv260'; known: ultra96v2-b2304"):
        get_source("kv260")
    assert JOINT_TIED == {"weight_bw_efficiency": "bw_efficiency"} and JOINT_FIXED == ("hswish_passes",)


# ------------------------------------------------------ the shipped device
def test_joint_device_serves_measurements_and_the_joint_model(joint, ultra96, zcu102):
    predictor = get_predictor("dpuczdx8g-joint")
    table = load_table("ultra96v2-b2304")
    key = "Logits-input:1x1x1536-output:1000"
    assert predictor.source(key) == "measured" and predictor.predict_key_ms(key) == table.entries[key].mean_ms
    # the device's model is the joint fit of the two default sources (same data, same defaults)
    same = calibrate_joint(RooflineModel(), [ultra96, zcu102], folds=0)
    assert predictor.calibrated.model == same.model == joint.model
    assert predictor.calibrated.invocation_ms == pytest.approx(same.invocation_ms[ultra96.name])
    k7 = "expanded_conv-input:14x14x96-output:14x14x96-expand:288-kernel:7-stride:1-idskip:1-se:0-hs:1"
    assert predictor.source(k7) == "model"


def test_codesign_defaults_to_the_joint_device():
    from ofa_hw.search import search_codesign

    result = search_codesign(board="zcu104", latency_ms=6.0, budget=200, population=50, progress=False)
    # by-build: every stock DPUCZDX8G configuration (the default space) is priced by the joint device
    assert result.settings["latency_predictor"] == "by-build"
    best = result.best
    assert best.accelerator.is_dpuczdx8g and best.latency_ms == pytest.approx(
        get_predictor("dpuczdx8g-joint").network_latency_ms(best.layers(), best.accelerator), rel=1e-9)
