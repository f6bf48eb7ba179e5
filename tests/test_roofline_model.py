"""RooflineModel: tiling by hand, traffic vs measured DRAM bytes, vectorisation, analysis, sanity."""

import dataclasses
import json

import numpy as np
import pytest

from accel_models import Accelerator, BlockSpec, Layer, RooflineModel, RooflineParams, group_by_block
from accel_models.layer import LayerArrays
from accel_models.reference import layer_profiles, profile_accelerator
from accel_models.schedule import UnitSchedule
from accel_models.tiling import AcceleratorArrays, tiled_cycles

B2304 = Accelerator.from_dpu("B2304", clock_mhz=200.0)
B2304_PLAIN = B2304.replace(options=B2304.options.replace(channel_augmentation=False))
B4096 = Accelerator.from_dpu("B4096", clock_mhz=300.0, ddr_bw_gbps=19.2)
MIB = 2 ** 20


def _cycles(layer, acc):
    cycles, act = tiled_cycles(LayerArrays.from_layers([layer]), AcceleratorArrays.from_accelerators([acc]))
    return cycles[0, 0], act[0, 0]


@pytest.mark.parametrize("layer, acc, expected", [
    # ceil(Cin/ICP) * ceil(Cout/OCP) * ceil(Wout/PP) * Hout * k*k, by hand
    (Layer("stem", "conv", (3, 224, 224), (24, 112, 112), kernel=3, stride=2), B2304_PLAIN, 1 * 2 * 14 * 112 * 9),
    # channel augmentation (PG338): Cin x k = 9 channels on the 12 lanes, the kernel's rows only
    (Layer("stem", "conv", (3, 224, 224), (24, 112, 112), kernel=3, stride=2), B2304, 1 * 2 * 14 * 112 * 3),
    # AlexNet's 11 x 11 on 3 channels: 33 augmented channels take ceil(33/16) = 3 passes, 11 rows
    (Layer("a", "conv", (3, 227, 227), (96, 55, 55), kernel=11, stride=4, padding=0), B4096, 3 * 6 * 7 * 55 * 11),
    # augmentation only where it saves cycles: 10 channels x 3 = 30 on ICP 16 takes 2 passes x 3 rows < 9
    (Layer("c", "conv", (10, 8, 8), (16, 8, 8), kernel=3), B4096, 2 * 1 * 1 * 8 * 3),
    # ... at ICP it saves nothing (48 on 16 lanes = 3 passes x 3 rows = 9); above ICP it may (PG338 v4.1):
    # 20 channels: ceil(60/16) = 4 passes x 3 rows = 12 < ceil(20/16) * 9 = 18
    (Layer("d", "conv", (16, 8, 8), (16, 8, 8), kernel=3), B4096, 1 * 1 * 1 * 8 * 9),
    (Layer("e", "conv", (20, 8, 8), (16, 8, 8), kernel=3), B4096, 4 * 1 * 1 * 8 * 3),
    (Layer("pw", "pwconv", (136, 14, 14), (816, 14, 14)), B2304, 12 * 68 * 2 * 14),
    (Layer("fc", "fc", (1536, 1, 1), (1000, 1, 1)), B2304, 128 * 84),
    # depthwise: ceil(C/ICP) * ceil(Wout/dw_pp) * Hout * k*k with dw_pp = PP/2 = 4
    (Layer("dw", "dwconv", (192, 56, 56), (192, 56, 56), kernel=5, groups=192), B2304, 16 * 14 * 56 * 25),
    # pooling on the ALU (PG338 v4.1): ceil(C/ICP) * ceil(Wout/dw_pp) * Hout * k*k, a global pool walks its window
    (Layer("gap", "pool", (1152, 7, 7), (1152, 1, 1), kernel=7), B2304, 96 * 1 * 1 * 49),
    (Layer("se", "pool", (96, 112, 112), (96, 1, 1), kernel=112), B4096, 6 * 1 * 1 * 112 * 112),
    (Layer("mp", "maxpool", (64, 56, 56), (64, 28, 28), kernel=2, stride=2, padding=0), B4096, 4 * 7 * 28 * 4),
    (Layer("add", "add", (32, 56, 56), (32, 56, 56)), B4096, 2 * 7 * 56),
    # grouped conv: per group ceil(8/16) * ceil(8/16), 4 groups
    (Layer("g", "conv", (32, 8, 8), (32, 8, 8), kernel=3, groups=4), B4096, 4 * 1 * 1 * 1 * 8 * 9),
])
def test_tiled_cycles_by_hand(layer, acc, expected):
    assert _cycles(layer, acc)[0] == expected


def test_hard_activation_pass_counts_output_elements():
    layer = Layer("e", "pwconv", (192, 7, 7), (1152, 7, 7), activation="h_swish")
    assert _cycles(layer, B2304)[1] == 96 * 1 * 7
    assert _cycles(dataclasses.replace(layer, activation="relu"), B2304)[1] == 0


def test_single_layer_latency_by_hand():
    params = RooflineParams(pw_efficiency=0.5, bw_efficiency=0.25, weight_bw_efficiency=0.125,
                            layer_overhead_cycles=1000.0, overlap=1.0)
    acc = Accelerator(8, 16, 16, clock_mhz=100.0, ddr_bw_gbps=8.0)
    fc = Layer("fc", "fc", (256, 1, 1), (512, 1, 1))
    compute_ms = 16 * 32 / 0.5 / 100e3  # cycles / efficiency / (cycles per ms)
    memory_ms = (256 + 512) / (0.25 * 8e6) + 256 * 512 / (0.125 * 8e6)
    expected = max(compute_ms, memory_ms) + 1000 / 100e3
    assert RooflineModel(params).layer_latency_ms([fc], acc)[0] == pytest.approx(expected)
    no_overlap = RooflineModel(params.replace(overlap=0.0)).layer_latency_ms([fc], acc)[0]
    assert no_overlap == pytest.approx(compute_ms + memory_ms + 1000 / 100e3)
    slow = acc.replace(layer_overhead_us=50.0)
    assert RooflineModel(params).layer_latency_ms([fc], slow)[0] == pytest.approx(expected + 0.05)


def _ultra96_blocks(table):
    return {k: BlockSpec.from_key(k) for k in table.keys() if k.startswith("expanded_conv")}


def test_compulsory_traffic_by_hand():
    spec = BlockSpec.from_key("expanded_conv-input:28x28x48-output:28x28x48-expand:144-kernel:3-stride:1"
                              "-idskip:1-se:1-hs:0")
    # block input, output and the residual's second read of the input, plus weights and int32 biases:
    # expand 48*144 + 4*144, dw 9*144 + 4*144, SE 144*40 + 4*40 and 40*144 + 4*144, project 144*48 + 4*48
    act = 3 * 48 * 28 * 28
    weights = (48 * 144 + 576) + (9 * 144 + 576) + (144 * 40 + 160) + (40 * 144 + 576) + (144 * 48 + 192)
    assert RooflineModel().unit_dram_bytes([spec.layers()], B2304)[0] == act + weights


def test_spill_patterns_by_hand():
    model = RooflineModel()
    # SE block whose 28x28x288 depthwise output exceeds the 192 KiB buffer: written once, read by the pool
    # and the scale, the scaled tensor written and read by the projection: 5 passes.
    se = BlockSpec.from_key("expanded_conv-input:28x28x48-output:28x28x48-expand:288-kernel:3-stride:1"
                            "-idskip:1-se:1-hs:0").layers()
    schedule = UnitSchedule.from_units([se])
    tensor = 288 * 28 * 28
    assert model.unit_dram_bytes(schedule, B2304)[0] == schedule.base_bytes.sum() + 5 * tensor
    # doubling the buffer keeps it on chip
    bigger = B2304.replace(act_buffer_kib=2 * B2304.act_buffer_kib)
    assert model.unit_dram_bytes(schedule, bigger)[0] == schedule.base_bytes.sum()
    # relu expansion feeding the depthwise conv is streamed: a stride-2 block with a 1.8 MB expanded
    # tensor spills only the 56x56 depthwise output (write + read)
    s2 = BlockSpec.from_key("expanded_conv-input:112x112x24-output:56x56x32-expand:144-kernel:3-stride:2"
                            "-idskip:0-se:0-hs:0").layers()
    sched2 = UnitSchedule.from_units([s2])
    assert model.unit_dram_bytes(sched2, B2304)[0] == sched2.base_bytes.sum() + 2 * 144 * 56 * 56
    # h-swish expansion larger than the whole buffer: stored, and the activation split in three passes
    hs = BlockSpec.from_key("expanded_conv-input:28x28x48-output:14x14x96-expand:288-kernel:3-stride:2"
                            "-idskip:0-se:0-hs:1").layers()
    sched3 = UnitSchedule.from_units([hs])
    assert model.unit_dram_bytes(sched3, B2304)[0] == sched3.base_bytes.sum() + 7 * 288 * 28 * 28


def test_traffic_matches_the_ultra96_profiler(ultra96_table):
    # golden: the DRAM traffic the Vitis AI profiler measured for every block
    specs = _ultra96_blocks(ultra96_table)
    keys = list(specs)
    predicted = RooflineModel().unit_dram_bytes([specs[k].layers() for k in keys], B2304)
    measured = ultra96_table.column("mem_io_mb", keys) * MIB
    error = np.abs(predicted / measured - 1)
    assert error.max() < 0.10, keys[int(error.argmax())]
    assert np.median(error) < 0.02
    spilling = measured > 2 * np.array([UnitSchedule.from_units([specs[k].layers()]).base_bytes.sum() for k in keys])
    assert spilling.sum() >= 15  # the model must explain the big ones, not only the easy ones


@pytest.fixture(scope="module")
def ultra96_table():
    from latency_tables import load_table

    return load_table("ultra96v2-b2304")


def test_vectorised_equals_one_at_a_time():
    units = [BlockSpec.from_key(k).layers() for k in (
        "expanded_conv-input:56x56x32-output:56x56x32-expand:192-kernel:5-stride:1-idskip:1-se:0-hs:0",
        "expanded_conv-input:14x14x136-output:7x7x192-expand:816-kernel:3-stride:2-idskip:0-se:1-hs:1",
        "Logits-input:1x1x1536-output:1000")]
    accs = [B2304, B4096, Accelerator(4, 8, 8, clock_mhz=150.0, act_buffer_kib=32.0)]
    model = RooflineModel()
    many = model.unit_latency_ms(units, accs)
    assert many.shape == (3, 3)
    for m, acc in enumerate(accs):
        assert np.allclose(many[m], model.unit_latency_ms(units, acc))
        flat = [layer for unit in units for layer in unit]
        per_layer = model.layer_latency_ms(flat, acc)
        assert per_layer.shape == (len(flat),)
        assert per_layer.sum() == pytest.approx(many[m].sum())


def test_layer_arrays_are_standalone_layers():
    spec = BlockSpec.from_key("expanded_conv-input:28x28x48-output:28x28x48-expand:288-kernel:3-stride:1"
                              "-idskip:1-se:1-hs:0")
    layers = spec.layers()
    model = RooflineModel()
    standalone = model.layer_latency_ms(LayerArrays.from_layers(layers), B2304)
    one_unit_each = model.layer_latency_ms([dataclasses.replace(lay, block="", inputs=()) for lay in layers], B2304)
    assert np.allclose(standalone, one_unit_each)
    assert len(group_by_block(layers)) == 1


def test_analysis_is_consistent():
    layers = BlockSpec.from_key("expanded_conv-input:14x14x96-output:14x14x136-expand:576-kernel:5-stride:1"
                                "-idskip:0-se:1-hs:1").layers()
    model = RooflineModel(RooflineParams(overlap=0.5))
    analysis = model.analyze(layers, B2304)
    assert np.allclose(analysis.latency_ms, model.layer_latency_ms(layers, B2304))
    assert np.all(analysis.attainable_gops <= analysis.peak_gops + 1e-9)
    assert np.all((analysis.utilization > 0) & (analysis.utilization <= 1))
    assert set(analysis.bound) <= {"compute", "memory", "overhead"}
    slowest = int(np.argmax(analysis.latency_ms))
    assert analysis.bound[slowest] in ("compute", "memory")
    totals = analysis.totals()
    assert totals["latency_ms"] == pytest.approx(sum(totals["latency_ms_by_bound"].values()))
    assert totals["macs"] == sum(layer.macs for layer in layers)
    records = json.loads(json.dumps(analysis.to_records()))
    assert [r["name"] for r in records] == [layer.name for layer in layers]
    # one ridge definition everywhere: the accelerator's int8 peak over its peak DDR bandwidth
    assert analysis.ridge_ops_per_byte == pytest.approx(B2304.ridge_ops_per_byte)
    assert analysis.ridge_ops_per_byte == pytest.approx(analysis.peak_gops / B2304.ddr_bw_gbps)


# ---------------------------------------------------------------- sanity on measured ZCU102 profiles
def _profile(name):
    return next(p for p in layer_profiles() if p.layer.name == name)


def test_profile_shapes_reproduce_the_profiler_workload():
    for p in layer_profiles():
        expected = 2 * p.layer.macs / 1e6
        if p.layer.name == "proxylessmobile05_conv_1":
            expected *= 4 / 3  # DNNDK pads the 3 input channels to 4
        assert p.workload_mop == pytest.approx(expected, rel=2e-3, abs=5e-4), p.layer.name  # CSV has 3 decimals


def test_tiling_explains_the_measured_utilisation_pattern():
    acc = profile_accelerator()
    peak_ops_per_cycle = acc.peak_ops_per_cycle

    def ideal(name):
        layer = _profile(name).layer
        return layer.ops / (_cycles(layer, acc)[0] * peak_ops_per_cycle)

    assert ideal("block1_conv1_convolution") == pytest.approx(3 / 16)  # measured 18.7 %
    assert ideal("block1_conv2_convolution") == pytest.approx(1.0)  # measured 92.5 %
    assert ideal("block4_conv2_convolution") == pytest.approx(28 / 32)  # measured 80.7 %
    assert ideal("conv3") == pytest.approx(13 / 16)  # 13x13 maps on 8-pixel rows; measured 69.7 %
    dw = Layer("dw", "dwconv", (96, 28, 28), (96, 28, 28), kernel=3, groups=96)
    assert dw.ops / (_cycles(dw, acc)[0] * peak_ops_per_cycle) == pytest.approx(1 / 32)  # dw_pp*ICP / (PP*ICP*OCP)
    for name in ("block1_conv1_convolution", "block1_conv2_convolution", "block4_conv2_convolution", "conv3"):
        measured = _profile(name).utilization_pct / 100
        assert 0.85 * ideal(name) <= measured <= ideal(name), name


def test_traffic_matches_the_zcu102_profiler():
    # a second device and toolchain: DNNDK's per-layer memory figures, incl. convs with a fused max pool
    profiles = layer_profiles()
    predicted = RooflineModel().unit_dram_bytes([p.units for p in profiles], profile_accelerator()) / MIB
    for p, q in zip(profiles, predicted, strict=True):
        assert q == pytest.approx(p.mem_mb, rel=0.06, abs=0.005), p.layer.name
    pooled = next(p for p in profiles if p.layer.name == "block1_conv2_convolution")
    assert pooled.units[-1].op == "maxpool" and pooled.units[-1].out_shape == (64, 112, 112)


def test_default_model_orders_profiled_layers_like_the_hardware():
    from scipy.stats import spearmanr

    profiles = layer_profiles()
    predicted = RooflineModel().unit_latency_ms([p.units for p in profiles], profile_accelerator())
    assert spearmanr(predicted, [p.runtime_ms for p in profiles])[0] > 0.9
    util = {p.layer.name: u for p, u in zip(profiles, [p.layer.ops for p in profiles] / (
        predicted * 1e6 * profile_accelerator().peak_gops_per_core), strict=True)}
    assert util["proxylessmobile05_conv_3"] < 0.15 and util["block1_conv1_convolution"] < 0.2
    assert util["block3_conv2_convolution"] > 0.5


def test_bad_inputs():
    model = RooflineModel()
    with pytest.raises(ValueError, match="no layers given"):
        model.layer_latency_ms([], B2304)
    with pytest.raises(ValueError, match="expected an Accelerator or a sequence"):
        model.layer_latency_ms([Layer("fc", "fc", (8, 1, 1), (8, 1, 1))], "B2304")
    with pytest.raises(ValueError, match="analyze takes one Accelerator"):
        model.analyze([Layer("fc", "fc", (8, 1, 1), (8, 1, 1))], [B2304])
    with pytest.raises(ValueError, match=r"RooflineParams.overlap must be a number in \[0.0, 1.0\]"):
        RooflineParams(overlap=1.5)
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['speed'\] in RooflineParams"):
        RooflineParams.from_dict({"speed": 1.0})
    fc = Layer("fc", "fc", (8, 1, 1), (8, 1, 1), block="u")
    with pytest.raises(ValueError, match="layer name 'fc' appears twice"):
        UnitSchedule.from_units([[fc, fc]])
    reads_later = Layer("a", "fc", (8, 1, 1), (8, 1, 1), inputs=("b",))
    with pytest.raises(ValueError, match="reads a layer that runs after it"):
        UnitSchedule.from_units([[reads_later, Layer("b", "fc", (8, 1, 1), (8, 1, 1))]])


def test_model_round_trips_through_json():
    model = RooflineModel(RooflineParams(dw_efficiency=0.7))
    assert RooflineModel.from_dict(json.loads(json.dumps(model.to_dict()))) == model
