"""The deployed-throughput model: threads x cores x boards, its fit on the model zoo, bad input.

Golden numbers come from the zoo (published single-thread latency and multi-thread fps) or from
arithmetic a reader can redo by hand, never from the model itself.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from accel_models.deployed import (
    BOARD_CPUS,
    HEADS,
    DeployedModel,
    DeployedParams,
    fit_deployed,
    head_of,
    predict_multi_thread_fps,
    read_zoo,
)

ROOT = Path(__file__).resolve().parents[1]
ZOO = ROOT / "benchmarks" / "data" / "vitis_ai_model_zoo_e2e.csv"
MODEL = DeployedModel.shipped()


def _params(**changes) -> DeployedParams:
    base = {"cpu_fixed_ms": 1.0, "preprocess_ms_per_mpx": 0.0, "head_ms_per_mpx": {},
            "arm_parallel_efficiency": 1.0, "ddr_contention_per_core": 0.0, "overlap_exponent": 50.0}
    return DeployedParams(**(base | changes))


@pytest.mark.parametrize("board", sorted(BOARD_CPUS))
@pytest.mark.parametrize("cores", [1, 2, 3])
def test_one_thread_is_dpu_plus_cpu_and_more_threads_never_slower(board, cores):
    single = MODEL.estimate(5.0, board=board, design_cores=cores, threads=1)
    assert single.latency_ms == pytest.approx(5.0 + single.cpu_ms)
    assert single.fps == pytest.approx(1000 / single.latency_ms)
    assert single.bound == "threads"
    fps = [MODEL.estimate(5.0, board=board, design_cores=cores, threads=t).fps for t in range(1, 9)]
    assert all(b >= a - 1e-9 for a, b in zip(fps, fps[1:], strict=False))
    saturated = MODEL.estimate(5.0, board=board, design_cores=cores)
    assert saturated.fps == pytest.approx(max(fps)) and saturated.bound in {"dpu", "cpu"}
    # Little's law: threads in flight = fps x latency
    assert saturated.threads == pytest.approx(saturated.fps * saturated.latency_ms / 1000)


def test_an_ideal_machine_scales_with_cores_until_the_arm_is_the_bound():
    # no contention, perfect overlap (large p), 1 ms ARM per image on 4 ARM cores: the CPU side caps at 4000 fps
    model = DeployedModel(_params())
    for cores in (1, 2, 3):
        estimate = model.estimate(2.0, board="zcu102", design_cores=cores)
        assert estimate.fps == pytest.approx(min(cores * 500.0, 4000.0), rel=0.02)
    assert model.estimate(0.2, board="zcu102", design_cores=3).fps == pytest.approx(4000.0, rel=0.02)
    assert model.estimate(0.2, board="zcu102", design_cores=3).bound == "cpu"


def test_ddr_contention_costs_each_extra_core():
    model = DeployedModel(_params(cpu_fixed_ms=0.0, ddr_contention_per_core=0.1))
    # 3 cores each 20 % slower (2 other busy cores x 10 %): 3 / (10 ms x 1.2)
    assert model.estimate(10.0, board="zcu102", design_cores=3).fps == pytest.approx(250.0, rel=1e-6)


def test_arm_time_follows_input_size_head_and_clock():
    model = DeployedModel(_params(cpu_fixed_ms=0.5, preprocess_ms_per_mpx=10.0, head_ms_per_mpx={"detection": 20.0}))
    assert model.cpu_ms("zcu102", (1000, 1000)) == pytest.approx(10.5)
    assert model.cpu_ms("zcu102", (1000, 1000), "detection") == pytest.approx(30.5)
    # the KV260's ARM runs at 1333 MHz: the same work takes 1200 / 1333 of the time
    assert model.cpu_ms("kv260", (1000, 1000)) == pytest.approx(10.5 * 1200 / 1333)
    with_fallback = model.estimate(3.0, board="zcu102", design_cores=1, threads=1, cpu_fallback_ms=2.0)
    assert with_fallback.single_thread_latency_ms == pytest.approx(3.0 + model.cpu_ms("zcu102") + 2.0)
    shares = with_fallback.shares()
    # 224 x 224 = 0.050176 Mpx: 0.5 + 10 x 0.050176 ms of pre/post-processing
    assert shares == pytest.approx({"dpu": 3.0 / 6.00176, "cpu_pre_post": 1.00176 / 6.00176,
                                    "cpu_fallback": 2.0 / 6.00176})


def test_batch_fps_equals_the_single_estimates():
    dpu = [1.0, 4.0, 12.0]
    for threads in (None, 1, 3):
        batch = MODEL.fps(dpu, board="zcu104", cores=2, threads=threads)
        single = [MODEL.estimate(d, board="zcu104", design_cores=2, threads=threads).fps for d in dpu]
        assert batch == pytest.approx(single)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"threads": 0}, "threads must be an integer >= 1"),
    ({"threads": 2.5}, "threads must be an integer >= 1"),
    ({"cores": 3}, "more than the design's 2 DPU core"),
    ({"cores": 0}, "cores must be an integer >= 1"),
    ({"design_cores": 0}, "design_cores must be an integer >= 1"),
    ({"dpu_ms": 0.0}, "dpu_ms must be a finite number > 0"),
    ({"dpu_ms": math.nan}, "dpu_ms must be a finite number > 0"),
    ({"cpu_fallback_ms": -1.0}, "cpu_fallback_ms must be"),
    ({"head": "pose"}, "unknown head 'pose'"),
    ({"input_hw": (0, 224)}, "input_hw must be"),
    ({"board": "pynq-z2"}, "unknown board 'pynq-z2'"),
])
def test_bad_input_is_named(kwargs, match):
    args = {"dpu_ms": 4.0, "board": "zcu104", "design_cores": 2} | kwargs
    with pytest.raises((ValueError, KeyError), match=match):
        MODEL.estimate(args.pop("dpu_ms"), **args)


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="arm_parallel_efficiency"):
        _params(arm_parallel_efficiency=1.5)
    with pytest.raises(ValueError, match="unknown head"):
        _params(head_ms_per_mpx={"pose": 1.0})
    with pytest.raises(ValueError, match="unknown key.*in deployed-model parameters"):
        DeployedParams.from_dict(_params().to_dict() | {"typo": 1})


def test_heads_of_zoo_names():
    assert {head_of(n) for n in ("cf_refinedet_coco_360_480_0.8_25G", "tf_ssdmobilenetv2_coco_300_300_3.75G")} == {
        "detection"}
    assert head_of("pt_SemanticFPN-resnet18_cityscapes_256_512_10.56G") == "segmentation"
    assert head_of("pt_SESR-S_DIV2K_360_640_7.48G") == "image"
    assert head_of("tf_efficientnet-edgetpu-S_imagenet_224_224_4.72G") == "classification"  # 'enet' is a word only
    assert set(HEADS) == {"classification", "detection", "segmentation", "image"}


def test_zoo_pairs_single_and_multi_thread_rows():
    rows = read_zoo(ZOO)
    assert len(rows) > 1500 and {r.board for r in rows} == set(BOARD_CPUS)
    resnet = next(r for r in rows if r.model == "cf_resnet50_imagenet_224_224_7.7G" and r.vitis_ai == "1.0"
                  and r.board == "zcu102" and r.clock_mhz == 287)
    # the zoo's README, Vitis AI 1.0, ZCU102 (0432055-04): 12.85 ms single-thread, 179.3 fps multi-thread
    assert (resnet.latency_ms, resnet.fps, resnet.cores, resnet.input_hw) == (12.85, 179.3, 3, (224, 224))


def test_shipped_parameters_are_a_fresh_fit_of_the_shared_zoo(shared_data):
    assert ZOO.read_bytes() == (shared_data / "dpu" / "vitis_ai_model_zoo_e2e.csv").read_bytes()
    shipped = json.loads((ROOT / "accel_models" / "data" / "deployed_params.json").read_text())
    fresh = fit_deployed(read_zoo(ZOO), source=shipped["source"]).to_dict()
    for name, value in shipped.items():
        if isinstance(value, dict):
            assert fresh[name] == pytest.approx(value, abs=1e-4), name
        elif isinstance(value, float):
            assert fresh[name] == pytest.approx(value, rel=1e-4, abs=1e-6), name


def test_the_fit_beats_all_cores_busy_on_the_zoo():
    rows = read_zoo(ZOO)
    predicted = predict_multi_thread_fps(MODEL.params, rows)
    mape = sum(abs(p / r.fps - 1) for p, r in zip(predicted, rows, strict=True)) / len(rows)
    all_busy = sum(abs(r.cores * 1000 / r.latency_ms / r.fps - 1) for r in rows) / len(rows)
    assert mape < 0.17 and mape < all_busy - 0.03


def test_models_and_deployments_pickle_for_process_pools():
    import pickle

    from accel_models.deployed import Deployment

    deployment = Deployment("kv260", threads=3, latency="e2e")
    clone = pickle.loads(pickle.dumps(deployment))
    assert clone == deployment and clone.fps(4.0, 1, 224) == pytest.approx(deployment.fps(4.0, 1, 224))


def test_deployment_latency_modes_and_bad_settings():
    from accel_models.deployed import Deployment

    dpu, e2e = Deployment("zcu104"), Deployment("zcu104", latency="e2e")
    assert dpu.latency_ms(5.0, 224) == 5.0
    assert e2e.latency_ms(5.0, 224) == pytest.approx(5.0 + MODEL.cpu_ms("zcu104", (224, 224)))
    # one thread cannot use a second core
    assert Deployment("zcu104", threads=1).fps(5.0, 2, 224) == pytest.approx(1000 / e2e.latency_ms(5.0, 224))
    with pytest.raises(ValueError, match="threads must be an integer >= 1"):
        Deployment("zcu104", threads=0)
    with pytest.raises(ValueError, match="latency mode must be one of"):
        Deployment("zcu104", latency="wall")
    with pytest.raises(KeyError, match="unknown board 'vck190'"):
        Deployment("vck190")
