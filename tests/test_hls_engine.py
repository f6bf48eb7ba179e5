"""The engine's program and cycle count against the latency model's tiling and prediction."""

import warnings

import numpy as np
import pytest

import hls
from accel_models import Accelerator, DpuOptions, Layer
from accel_models.hls_engine import ENGINE_ALU_POOLING, cycles_by_layer_type
from accel_models.layer import LayerArrays
from accel_models.tiling import AcceleratorArrays, tiled_cycles
from hls.engine import PIPELINE_DEPTH, EngineConfig, engine_model
from hls.program import build_program, engine_cycles
from ofa_hw import SubnetConfig, build_torch_model, subnet_layers

pytest.importorskip("torch")
# the generated engine has no channel augmentation (a DPUCZDX8G option): compare it with the same hardware
_PLAIN = DpuOptions(channel_augmentation=False)
B2304 = Accelerator.from_dpu("B2304", clock_mhz=200.0, ddr_bw_gbps=4.26, options=_PLAIN)
B1600 = Accelerator.from_dpu("B1600", clock_mhz=300.0, options=_PLAIN)


def _qnet(cfg):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        source = hls.TorchNetwork(build_torch_model(cfg, seed=0).eval(), subnet_layers(cfg), cfg.to_dict())
        return hls.quantize(source, n_calibration=1)


@pytest.fixture(scope="module")
def networks():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return {"min160": _qnet(SubnetConfig.smallest(r=160)), "max128": _qnet(SubnetConfig.largest(r=128))}


@pytest.mark.parametrize("accelerator", [B2304, B1600], ids=lambda a: a.name)
def test_engine_compute_is_the_models_tiling_plus_pipeline_fill(networks, accelerator):
    qnet = networks["max128"]
    program = build_program(qnet, EngineConfig.from_accelerator(accelerator))
    layers = [q.layer for q in qnet.layers]
    ideal, _ = tiled_cycles(LayerArrays.from_layers(layers), AcceleratorArrays.from_accelerators([accelerator]),
                            alu_pooling=ENGINE_ALU_POOLING)  # the engine pools on its element-wise unit
    for lp, cycles, want in zip(program.layers, engine_cycles(program), ideal[0], strict=True):
        f = lp.fields
        if lp.engine_op in ("conv", "dwconv"):
            tiles = -(-f["cout"] // accelerator.ocp) if lp.engine_op == "conv" else -(-f["cin"] // accelerator.icp)
            entries = f["ho"] * -(-tiles // f["chunk"])  # one pipelined loop per output row and weight chunk
        else:
            entries = -(-f["h"] // f["rows"])  # one per band of rows
        assert cycles["compute_cycles"] - PIPELINE_DEPTH * entries == want, lp.name


@pytest.mark.parametrize("net", ["min160", "max128"])
@pytest.mark.parametrize("accelerator", [B2304, B1600], ids=lambda a: a.name)
def test_engine_cycles_agree_with_the_model_within_10_percent_per_layer_type(networks, net, accelerator):
    qnet = networks[net]
    program = build_program(qnet, EngineConfig.from_accelerator(accelerator))
    engine = np.array([c["cycles"] for c in engine_cycles(program)], dtype=float)
    layers = [q.layer for q in qnet.layers]
    arrays = LayerArrays.from_layers(layers)
    model = engine_model().layer_latency_ms(arrays, accelerator) * accelerator.clock_mhz * 1e3
    by_type = cycles_by_layer_type(arrays, engine, model)  # grouped as the engine runs them: pooling is element-wise
    assert by_type["dw"]["layers"] == sum(layer.op == "dwconv" for layer in layers)
    for name, cycles in by_type.items():
        assert 0.9 <= cycles["ratio"] <= 1.1, f"{name}: engine / model = {cycles['ratio']:.3f}"


def test_ddr_traffic_is_at_least_the_compulsory_bytes(networks):
    qnet = networks["min160"]
    program = build_program(qnet, EngineConfig.from_accelerator(B2304))
    for q, cycles in zip(qnet.layers, engine_cycles(program), strict=True):
        layer = q.layer
        assert cycles["ddr_bytes"] >= layer.input_bytes + layer.output_bytes + layer.weight_bytes, q.name


def test_layers_the_buffers_cannot_tile_are_all_named():
    tiny = Accelerator(2, 4, 4, clock_mhz=100.0, act_buffer_kib=0.25, weight_buffer_kib=0.25)
    wide = Layer("wide", "conv", (64, 8, 8), (8, 8, 8), kernel=3)
    pool = Layer("pool", "pool", (64, 8, 8), (64, 1, 1), kernel=8, inputs=("input",))
    weight = np.zeros((8, 64, 3, 3), dtype=np.int8)
    qnet = hls.QuantizedNetwork((hls.QuantizedLayer(wide, ("input",), (0,), 0, hls.Requant(np.ones(8), np.zeros(8)),
                                                    weight, np.zeros(8, np.int32)),
                                 hls.QuantizedLayer(pool, ("input",), (0,), 0, hls.Requant(np.ones(64), np.zeros(64)))),
                                input_fix=0, scheme="pow2", method="max")
    with pytest.raises(hls.UnsupportedLayerError) as info:
        build_program(qnet, EngineConfig.from_accelerator(tiny))
    names = [name for name, _ in info.value.problems]
    assert names == ["wide", "pool"]
    assert "weight tile needs 144 rows of the weight buffer, which has 16" in str(info.value)
    assert "one row of this pool (64 buffer rows) does not fit" in str(info.value)


def test_program_words_hold_the_descriptors(networks):
    qnet = networks["min160"]
    program = build_program(qnet, EngineConfig.from_accelerator(B2304))
    words = program.words
    assert words[0] == 0x4F464148 and words[2] == len(qnet.layers) and words[3] == hls.program.N_FIELDS
    first = words[8:8 + hls.program.N_FIELDS]
    assert list(first[:10]) == [0, 3, 160, 160, 24, 80, 80, 3, 2, 1]  # conv 3 -> 24, 160 -> 80, k3 s2 p1
    # the first layer's packed weights: [OCP tile][ICP tile][ky][kx][OCP][ICP], channels zero-padded
    w = qnet.layers[0].weight
    packed = program.weights[:2 * 1 * 9 * 12 * 12].reshape(2, 1, 3, 3, 12, 12)
    assert np.array_equal(packed[0, 0, 1, 2, 5, :3], w[5, :, 1, 2]) and not packed[0, 0, :, :, :, 3:].any()
    assert np.array_equal(packed[1, 0, 0, 0, :, :3], w[12:24, :, 0, 0]) and not packed[1, 0, :, :, :, 3:].any()
