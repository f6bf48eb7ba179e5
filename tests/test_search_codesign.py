"""search_codesign: constraints, determinism, infeasibility, executors, checkpoints, JSON."""

import json
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pytest

from accel_models import Accelerator, DpuOptions, fits, get_board
from ofa_hw.accuracy import get_predictor as get_accuracy_predictor
from ofa_hw.search import CodesignResult, InfeasibleConstraintError, search_codesign
from ofa_hw.search import codesign as codesign_module

FAST = dict(budget=1200, population=40, progress=False)


@pytest.fixture(scope="module")
def result():
    return search_codesign(board="ultra96v2", latency_ms=8.0, seed=0, **FAST)


def test_best_design_meets_the_constraint_and_fits_the_board(result):
    best = result.best
    board = get_board("ultra96v2")
    assert best.latency_ms <= 8.0
    assert fits(best.accelerator, board).ok and fits(best.accelerator, board) == best.resources
    assert best.accuracy_top1 == pytest.approx(
        get_accuracy_predictor("ofa-mbv3-w1.2", quantization="int8-pow2").predict(best.subnet)[0])
    assert best.accuracy_top1 < best.accuracy_float_top1  # it optimised the int8 figure
    assert "int8-pow2" in result.settings["objective"]
    # no design on the front within the budget beats the best one
    assert all(d.accuracy_top1 <= best.accuracy_top1 + 1e-9 for d in result.pareto if d.latency_ms <= 8.0)


def test_search_beats_random_sampling_of_the_same_budget(result):
    """Random joint candidates (sub-network and accelerator) of the same space, as many as the search evaluated."""
    from latency_tables import get_predictor
    from ofa_hw.search import AcceleratorSpace, Evaluator
    from ofa_hw.space import get_space

    evaluator = Evaluator(get_space("ofa-mbv3-w1.2"), result.settings["resolutions"],
                          AcceleratorSpace.named(get_board("ultra96v2"), "dpu"), get_predictor("ultra96v2-b2304"),
                          get_accuracy_predictor("ofa-mbv3-w1.2", quantization="int8-pow2"))
    scores = evaluator.evaluate(evaluator.sample(FAST["budget"], np.random.default_rng(1)))
    ok = scores.latency_ms <= 10.0  # looser than the search's 8 ms: random samples of the stock space rarely reach 8
    assert ok.any() and result.best.accuracy_top1 > scores.accuracy_top1[ok].max()


def test_pareto_front_is_sorted_and_non_dominated(result):
    latency = np.array([d.latency_ms for d in result.pareto])
    accuracy = np.array([d.accuracy_top1 for d in result.pareto])
    assert len(result.pareto) >= 5
    assert np.all(np.diff(latency) >= 0) and np.all(np.diff(accuracy) > 0)


def test_same_seed_same_result_and_json_round_trip(result, tmp_path):
    again = search_codesign(board="ultra96v2", latency_ms=8.0, seed=0, **FAST)
    assert json.dumps(again.to_dict()) == json.dumps(result.to_dict())
    other = search_codesign(board="ultra96v2", latency_ms=8.0, seed=1, **FAST)
    assert json.dumps(other.to_dict()) != json.dumps(result.to_dict())
    path = result.to_json(tmp_path / "r" / "result.json")
    loaded = CodesignResult.from_json(path)
    assert loaded.to_dict() == result.to_dict()
    assert loaded.best.subnet == result.best.subnet and loaded.best.accelerator == result.best.accelerator


def test_bad_result_files(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        CodesignResult.from_json(path)
    path.write_text(json.dumps({"format_version": 1, "best": None, "pareto": [], "bestt": None}))
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['bestt'\] in CodesignResult"):
        CodesignResult.from_json(path)
    path.write_text(json.dumps({"format_version": 99, "best": None, "pareto": []}))
    with pytest.raises(ValueError, match="format_version 99"):
        CodesignResult.from_json(path)


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(latency_ms=0.2), InfeasibleConstraintError,
     r"latency_ms=0.2 is below the fastest design reachable on ultra96v2.*: \d+\.\d+ ms"),
    (dict(fps=1e5), InfeasibleConstraintError,
     r"fps=100000 is above the highest throughput reachable on ultra96v2.*: \d+\.\d+ fps"),
    (dict(latency_ms=5, accelerators=[Accelerator.from_dpu("B4096", cores=4)]), InfeasibleConstraintError,
     "do not fit"),
    (dict(latency_ms=-1), ValueError, "latency_ms must be a positive number"),
    (dict(latency_ms=5, algorithm="annealing"), ValueError, "algorithm must be one of"),
    (dict(algorithm="evolution"), ValueError, "needs a constraint"),
    (dict(latency_ms=5, resolutions=[128]), ValueError, r"resolution\(s\) \[128\] cannot be scored"),
])
def test_bad_requests_fail_fast_with_a_clear_message(kwargs, error, message):
    with pytest.raises(error, match=message):
        search_codesign(board="ultra96v2", **{**FAST, **kwargs})


def test_unknown_board():
    with pytest.raises(KeyError, match="unknown board 'pynq-z9'"):
        search_codesign(board="pynq-z9", latency_ms=5, **FAST)


def test_unconstrained_search_gives_a_front_only():
    front = search_codesign(board="ultra96v2", seed=0, **FAST)
    assert front.best is None and front.settings["algorithm"] == "nsga2"
    latency = [d.latency_ms for d in front.pareto]
    assert len(front.pareto) >= 5 and latency == sorted(latency)


def test_fixed_accelerator_and_measured_sources():
    board = get_board("ultra96v2")
    acc = Accelerator.from_dpu("B2304", clock_mhz=200.0, ddr_bw_gbps=board.ddr_bw_gbps,
                               options=DpuOptions(dsp_usage="low"))  # PG338: "high" needs 422 of its 360 DSPs
    fixed = search_codesign(board="ultra96v2", latency_ms=12.0, accelerators=acc, resolutions=[224], seed=0, **FAST)
    assert {d.accelerator for d in fixed.pareto} == {acc}
    # k3/k5 at 224 are in the measured table for exactly this accelerator
    assert all(d.measured_fraction > 0.5 for d in fixed.pareto)
    assert {d.latency_source for d in fixed.pareto} <= {"measured", "mixed"}


def test_w10_space_searches_the_resolutions_its_predictor_knows():
    # measured at 224 only; the ImageNet-val calibration's resolution term (OFA's w1.0 nets) covers 140..224
    w10 = search_codesign(board="zcu104", latency_ms=6.0, space="ofa-mbv3-w1.0", seed=0, **FAST)
    assert w10.settings["resolutions"] == list(range(140, 225, 4)) and w10.best.subnet.width_mult == 1.0
    raw = search_codesign(board="zcu104", latency_ms=6.0, space="ofa-mbv3-w1.0", seed=0, accuracy_scale="raw", **FAST)
    assert raw.settings["resolutions"] == [224] and raw.best.subnet.r == 224


def test_process_pool_restarts_equal_inline_restarts():
    inline = search_codesign(board="ultra96v2", latency_ms=8.0, seed=3, restarts=2, **FAST)
    with ProcessPoolExecutor(max_workers=2) as pool:
        pooled = search_codesign(board="ultra96v2", latency_ms=8.0, seed=3, restarts=2, executor=pool, **FAST)
    assert json.dumps(pooled.to_dict()) == json.dumps(inline.to_dict())


def test_dask_executor():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        result = search_codesign(board="ultra96v2", latency_ms=8.0, seed=0, restarts=2,
                                 executor=client.get_executor(), **FAST)
    assert result.best.latency_ms <= 8.0


def test_checkpointed_restarts_are_reused_after_an_interruption(tmp_path, monkeypatch):
    full = search_codesign(board="ultra96v2", latency_ms=8.0, seed=5, restarts=3, checkpoint=tmp_path, **FAST)
    assert len(list(tmp_path.glob("restart-*.npz"))) == 3
    # an interrupted run: restart 1 never finished
    next(tmp_path.glob("restart-1-*.npz")).unlink()
    calls = []
    original = codesign_module._Restart.__call__

    def counting(self, seed, on_progress=None):
        calls.append(seed)
        return original(self, seed, on_progress)

    monkeypatch.setattr(codesign_module._Restart, "__call__", counting)
    resumed = search_codesign(board="ultra96v2", latency_ms=8.0, seed=5, restarts=3, checkpoint=tmp_path, **FAST)
    assert len(calls) == 1  # only the lost restart ran again
    assert json.dumps(resumed.to_dict()) == json.dumps(full.to_dict())
    # other settings never pick up these files
    other = search_codesign(board="ultra96v2", latency_ms=7.0, seed=5, restarts=3, checkpoint=tmp_path, **FAST)
    assert len(calls) == 4 and other.settings["constraint"]["latency_ms"] == 7.0
