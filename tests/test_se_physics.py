"""Squeeze-excitation at high resolution: what the documented DPU physics makes it cost (issue #13)."""

from dataclasses import replace

import pytest

from accel_models import Accelerator, BlockSpec, DpuOptions, RooflineModel, get_board
from accel_models.cpu_fallback import CPU_BW_GBPS, cpu_gops, fallback_latency_ms, fallback_layers

B4096 = Accelerator.from_dpu("B4096", clock_mhz=300.0, ddr_bw_gbps=get_board("zcu102").ddr_bw_gbps)
B4096_IP3 = B4096.replace(options=DpuOptions(ip_version="3.4"))


def _block(res: int, se: int, mid: int = 72) -> tuple:
    return BlockSpec.from_key(f"expanded_conv-input:{res}x{res}x24-output:{res}x{res}x24-expand:{mid}-kernel:3"
                              f"-stride:1-idskip:1-se:{se}-hs:0").layers()


def test_se_at_112_moves_its_feature_map_three_more_times_through_ddr():
    # the 72 x 112 x 112 depthwise output does not fit on chip: without SE it is written and read once (2x);
    # with SE it is written, read by the pool, read and written by the scale, read by the projection (5x)
    model = RooflineModel()
    with_se, without = (model.unit_dram_bytes([_block(112, se)], B4096)[0] for se in (1, 0))
    assert (with_se - without) / (72 * 112 * 112) == pytest.approx(3.0, abs=0.01)


def test_the_global_pool_walks_its_window_on_the_alu():
    # ceil(72/16) channel groups x 112 x 112 window cycles at 300 MHz, one output pixel (PG338 v4.1 ALU)
    ideal = RooflineModel().with_params(dw_efficiency=1.0, layer_overhead_cycles=0.0)
    layers = _block(112, 1)
    pool = next(i for i, layer in enumerate(layers) if layer.name.endswith("se.pool"))
    compute_ms = ideal.breakdown(ideal.schedule([layers]), [B4096])["compute_ms"][0, pool]
    assert compute_ms == pytest.approx(5 * 112 * 112 / 300e3)


def test_ip3_runs_a_pool_beyond_its_kernel_limit_on_the_cpu():
    # IP 3.x average pool kernel 2-8 (Vitis AI target factory, ISA0); IP 4.x's ALU takes 1-256
    assert [f.name for f in fallback_layers(_block(112, 1), B4096)] == []
    reasons = {f.name.split(".")[-1]: f.reason for f in fallback_layers(_block(112, 1), B4096_IP3)}
    assert "kernel 112" in reasons["pool"] and "2-8" in reasons["pool"]
    assert "pool" not in {f.name.split(".")[-1] for f in fallback_layers(_block(7, 1), B4096_IP3)}


def test_se_cost_grows_with_the_feature_map_not_per_block():
    model = RooflineModel()
    cost = {res: float(model.unit_latency_ms([_block(res, 1)], B4096)[0] - model.unit_latency_ms([_block(res, 0)],
                                                                                             B4096)[0])
            for res in (112, 28)}
    assert cost[112] > 5 * cost[28]


def test_an_ip3_build_without_the_elementwise_multiply_runs_the_se_pool_and_scale_on_the_arm():
    # the DPU TRD's IP 3.x default (DPU_ELEW_MULT_ENA 0; Vitis AI target DPUCZDX8G_ISA0_B4096_MAX_BG2) has no
    # element-wise multiply: the 112 x 112 pool (kernel > 8), the h-sigmoid and the scale leave the DPU in two runs
    no_multiply = B4096.replace(options=DpuOptions(ip_version="3.4", elementwise_multiply=False))
    layers = _block(112, 1)
    assert [f.name.split(".")[-1] for f in fallback_layers(layers, no_multiply)] == ["pool", "expand", "scale"]
    # by hand: N = 72 x 112 x 112 int8 elements; the pool reads N and adds N times, the h-sigmoid is one
    # 4-operation pass over 72 elements, the scale reads N + 72 and writes N; each run's input and output cross DDR;
    # the block's input (24 x 112 x 112) goes from the first DPU subgraph to the last one's add through an ARM copy
    n, vector, block_input = 72 * 112 * 112, 72, 24 * 112 * 112
    ops_per_ms, bytes_per_ms = cpu_gops() * 1e6, CPU_BW_GBPS * 1e6
    cpu_ms = (max(n / ops_per_ms, (n + vector) / bytes_per_ms)
              + max(4 * vector / ops_per_ms, 2 * vector / bytes_per_ms)
              + max(n / ops_per_ms, (2 * n + vector) / bytes_per_ms))
    copy_ms = 2 * block_input / bytes_per_ms
    round_trip_ms = 2 * (n + vector) / (B4096.ddr_bw_gbps * 1e6)
    launch_ms = 0.1
    expected = cpu_ms + copy_ms + round_trip_ms + 2 * launch_ms
    assert fallback_latency_ms([layers], [no_multiply], launch_ms)[0, 0] == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(2.297, abs=0.01)  # 0.80 pool + 0.90 scale + 0.30 copy + 0.09 DDR + 2 launches


def _sigmoid_gate(layers: tuple) -> tuple:
    # torch's nn.Sigmoid as the SE gate (torchvision's SqueezeExcitation default) instead of OFA's h-sigmoid
    return tuple(replace(layer, activation="sigmoid") if layer.name.endswith("se.fc.expand") else layer
                 for layer in layers)


@pytest.mark.parametrize("ip_version", ["3.4", "4.0", "4.1"])
def test_a_true_sigmoid_runs_on_the_cpu_on_every_dpuczdx8g(ip_version):
    acc = B4096.replace(options=DpuOptions(ip_version=ip_version))
    (gate,) = [f for f in fallback_layers(_sigmoid_gate(_block(7, 1)), acc) if f.name.endswith("fc.expand")]
    assert gate.activation_only and "sigmoid has no DPUCZDX8G implementation" in gate.reason
    assert "nn.Hardsigmoid" in gate.reason  # what to do about it


def test_a_sigmoid_gate_at_112_splits_the_block_and_the_arm_copies_what_crosses_the_split():
    # IP 4.x runs everything of the SE but its sigmoid: DPU | CPU (sigmoid of 72 values) | DPU. VART's graph runner
    # copies the 72 x 112 x 112 depthwise output (read by the scale) and the 24 x 112 x 112 block input (read by the
    # add) from the first DPU subgraph's buffers into the second's (tensor_buffer_linker_p.cpp), reading and writing
    # each byte once; the sigmoid's 72 inputs go to DDR and its 72 outputs come back; one more DPU launch
    layers = _sigmoid_gate(_block(112, 1))
    assert [f.name for f in fallback_layers(layers, B4096)] == ["conv.depth_conv.se.fc.expand"]
    feature_map, block_input, vector = 72 * 112 * 112, 24 * 112 * 112, 72
    bytes_per_ms = CPU_BW_GBPS * 1e6
    sigmoid_ms = max(4 * vector / (cpu_gops() * 1e6), 2 * vector / bytes_per_ms)
    copy_ms = 2 * (feature_map + block_input) / bytes_per_ms
    round_trip_ms = 2 * vector / (B4096.ddr_bw_gbps * 1e6)
    launch_ms = 0.1
    expected = sigmoid_ms + copy_ms + round_trip_ms + launch_ms
    assert fallback_latency_ms([layers], [B4096], launch_ms)[0, 0] == pytest.approx(expected, rel=1e-12)
    assert copy_ms == pytest.approx(1.204, abs=0.001)  # 1.2 MB read and written at 2 GB/s
    # at 7 x 7 the same split copies 256 x fewer bytes: the cost follows the feature map, as issue #13 measured
    small = fallback_latency_ms([_sigmoid_gate(_block(7, 1))], [B4096], launch_ms)[0, 0]
    assert small - sigmoid_ms - round_trip_ms - launch_ms == pytest.approx(copy_ms / 256, rel=1e-9)


def test_a_torch_squeeze_excitation_with_nn_sigmoid_is_captured_with_its_sigmoid():
    torch = pytest.importorskip("torch")
    from torch import nn

    from accel_models import layers_from_torch

    class SqueezeExcitation(nn.Module):  # torchvision.ops.SqueezeExcitation's layout and default gate
        def __init__(self, channels: int, squeeze: int):
            super().__init__()
            self.avgpool, self.activation, self.scale_activation = nn.AdaptiveAvgPool2d(1), nn.ReLU(), nn.Sigmoid()
            self.fc1, self.fc2 = nn.Conv2d(channels, squeeze, 1), nn.Conv2d(squeeze, channels, 1)

        def forward(self, x):
            return self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x))))) * x

    block = nn.Sequential(nn.Conv2d(16, 16, 3, padding=1, groups=16), nn.ReLU(), SqueezeExcitation(16, 4)).eval()
    with torch.no_grad():
        layers = layers_from_torch(block, (16, 28, 28))
    assert [(layer.op, layer.activation) for layer in layers] == [
        ("dwconv", "relu"), ("pool", "none"), ("se_fc", "relu"), ("se_fc", "sigmoid"), ("scale", "none")]
    assert [f.op for f in fallback_layers(layers, B4096)] == ["se_fc"]


def test_a_tensor_read_twice_after_a_split_is_copied_once():
    # pw conv on the DPU, a standalone sigmoid on the CPU, then two adds on the DPU that both read the unit's input:
    # VART copies the input into the second DPU subgraph once, however many of its layers read it
    from accel_models import Layer

    shape = (16, 8, 8)
    unit = [Layer("a", "pwconv", shape, shape, inputs=("input",)),
            Layer("g", "act", shape, shape, activation="sigmoid", inputs=("a",)),
            Layer("s", "add", shape, shape, inputs=("input", "g")),
            Layer("t", "add", shape, shape, inputs=("input", "s"))]
    size = 16 * 8 * 8
    bytes_per_ms = CPU_BW_GBPS * 1e6
    sigmoid_ms = max(4 * size / (cpu_gops() * 1e6), 2 * size / bytes_per_ms)
    round_trip_ms = 2 * size / (B4096.ddr_bw_gbps * 1e6)  # the sigmoid's input out to DDR, its output back
    expected = sigmoid_ms + 2 * size / bytes_per_ms + round_trip_ms + 0.1  # one copy of the input, one launch
    assert fallback_latency_ms([unit], [B4096], launch_ms=0.1)[0, 0] == pytest.approx(expected, rel=1e-12)


def test_the_ip4_physics_prices_the_zoo_efficientnet_b0_with_its_se_blocks_near_its_measurement():
    # EfficientNet-B0 has an SE in all 16 MBConv blocks (one at 112 x 112); the Vitis AI 2.5 zoo measured it on a
    # ZCU102 (IP 4.0, its Keras sigmoid made a hard-sigmoid by vai_q_tensorflow2): the h-sigmoid SE physics must not
    # be far off, which rules out milliseconds more per high-resolution SE block on a stock image
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[1])
    if root not in sys.path:  # benchmarks/ is a folder of the repository, not an installed package
        sys.path.insert(0, root)
    from benchmarks import bench_calibration

    assert sum(layer.macs for unit in bench_calibration._efficientnet_b0(1) for layer in unit) == pytest.approx(
        0.39e9, rel=0.01)  # Tan & Le 2019, Table 2: 0.39 B multiply-adds
    figures: dict = {}
    bench_calibration._efficientnet_b0_check(figures)
    check = figures["efficientnet_b0_zcu102_vai25"]
    assert check["measured_e2e_ms"] == pytest.approx(1e3 / 78.02)  # the zoo's single-thread fps
    assert check["predicted_dpu_ms"] == pytest.approx(check["implied_dpu_ms"], rel=0.2)
    assert 0.1 < check["predicted_se_ms"] / check["predicted_dpu_ms"] < 0.4
