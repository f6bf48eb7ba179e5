"""The accelerator half of the joint space and the candidate evaluator."""

import numpy as np
import pytest

from accel_models import Accelerator, Board, DpuOptions, fits, get_board
from latency_tables import get_predictor as get_latency_predictor
from ofa_hw.accuracy import get_predictor as get_accuracy_predictor
from ofa_hw.search import AcceleratorGrid, AcceleratorSpace, Candidates, Evaluator, InfeasibleConstraintError
from ofa_hw.space import SubnetBatch, SubnetConfig, get_space, sample_subnets


@pytest.fixture(scope="module")
def ultra96():
    return get_board("ultra96v2")


@pytest.fixture(scope="module")
def grid_space(ultra96):
    return AcceleratorSpace.from_grid(ultra96)


@pytest.fixture(scope="module")
def stock_space(ultra96):
    return AcceleratorSpace.named(ultra96, "dpu")


def test_every_accelerator_of_the_grid_space_fits_and_unfit_ones_are_dropped(ultra96, grid_space):
    grid = AcceleratorGrid()
    assert 0 < len(grid_space) < np.prod([len(g) for g in grid.genes])
    for acc, res in zip(grid_space.accelerators, grid_space.fit, strict=True):
        assert res.ok and fits(acc, ultra96) == res
    # the accelerator the Ultra96 table was measured on is a stock DPU: in the "dpu" space, not in this one
    measured = Accelerator.from_dpu("B2304", clock_mhz=200.0, ddr_bw_gbps=ultra96.ddr_bw_gbps,
                                    options=DpuOptions(dsp_usage="low"))
    assert measured not in grid_space.accelerators and all(not a.is_dpuczdx8g for a in grid_space.accelerators)
    # four B4096 cores need ~2700 DSPs: never in an Ultra96 space
    assert not any(a.name == "B4096" and a.cores == 4 for a in grid_space.accelerators)


def test_mutation_and_crossover_stay_inside_the_space(grid_space):
    rng = np.random.default_rng(0)
    index = grid_space.sample(5000, rng)
    mutated = grid_space.mutate(index, rng, prob=0.5)
    assert (mutated >= 0).all() and (mutated < len(grid_space)).all()
    assert 0.3 < (mutated != index).mean() < 0.99
    child = grid_space.crossover(index, mutated, rng)
    genes = grid_space.genes
    assert np.all((genes[child] == genes[index]) | (genes[child] == genes[mutated]) | (child == index)[:, None])


def test_nothing_fits_is_an_error_naming_the_closest(ultra96):
    with pytest.raises(InfeasibleConstraintError, match=r"do not fit ultra96v2.*B4096.*dsp"):
        AcceleratorSpace.from_list(ultra96, [Accelerator.from_dpu("B4096", cores=3)])
    tiny = Board(**{**ultra96.to_dict(), "name": "tiny", "dsp": 10})
    with pytest.raises(InfeasibleConstraintError, match="fits tiny"):
        AcceleratorSpace.from_grid(tiny)


def _evaluator(space):
    return Evaluator(get_space("ofa-mbv3-w1.2"), range(160, 225, 4), space, get_latency_predictor("ultra96v2-b2304"),
                     get_accuracy_predictor("ofa-mbv3-w1.2", quantization="int8-pow2"))


@pytest.fixture(scope="module")
def evaluator(grid_space):
    return _evaluator(grid_space)


@pytest.fixture(scope="module")
def stock_evaluator(stock_space):
    return _evaluator(stock_space)


def test_evaluator_latency_equals_the_hybrid_predictor_on_the_measured_accelerator(ultra96, stock_space):
    predictor = get_latency_predictor("ultra96v2-b2304")
    # the grid's B2304 @ 200 MHz is the measured build but with channel augmentation (the stock default)
    twin = next(i for i, a in enumerate(stock_space.accelerators) if a.timing_key == predictor.accelerator.timing_key)
    assert stock_space.accelerators[twin].options.channel_augmentation
    evaluator = _evaluator(AcceleratorSpace.from_list(ultra96, [predictor.accelerator]))
    own = 0
    batch = sample_subnets(40, seed=3, resolutions=[224, 192])
    scores = evaluator.evaluate(Candidates(batch, np.full(40, own)))
    np.testing.assert_allclose(scores.latency_ms, predictor.subnet_latency_ms(batch), rtol=1e-12)
    np.testing.assert_allclose(scores.fps, 1e3 / scores.latency_ms)  # one core
    # the measured share is the in-network latency of the units whose keys the table holds
    # (k3/k5 blocks at 224, and the resolution-independent head at any resolution)
    for i in range(0, 40, 7):
        keys = [k for k in batch[i].block_catalog().network_keys(0) if k in predictor.table]
        measured_ms = predictor.key_latency_ms(keys).sum() if keys else 0.0
        assert scores.measured_fraction[i] == pytest.approx(measured_ms / scores.latency_ms[i])
    assert scores.measured_fraction[batch.r == 224].min() > scores.measured_fraction[batch.r == 192].max()
    pure = SubnetConfig.uniform(3, 4, 3, r=224)  # every unit measured but the global pool (not in the table)
    unmeasured = [k for k in pure.block_catalog().network_keys(0) if k not in predictor.table]
    assert unmeasured == ["AvgPool2D-input:7x7x1152-output:1x1x1152"]
    fraction = evaluator.evaluate(Candidates(pure.as_batch(), np.array([own]))).measured_fraction[0]
    assert 0.98 < fraction < 1.0


def test_evaluator_on_other_accelerators_uses_the_transferred_model(grid_space, evaluator):
    predictor = get_latency_predictor("ultra96v2-b2304")
    batch = sample_subnets(10, seed=4, resolutions=[176])
    other = next(i for i, a in enumerate(grid_space.accelerators) if a.cores == 1 and a.name.startswith("P"))
    scores = evaluator.evaluate(Candidates(batch, np.full(10, other)))
    catalog = batch.block_catalog()
    per_unit = predictor.calibrated.unit_latency_ms(list(catalog.layers), [grid_space.accelerators[other]])
    expected = catalog.total(np.asarray(per_unit).reshape(-1)) + predictor.invocation_ms
    np.testing.assert_allclose(scores.latency_ms, expected, rtol=1e-9)
    assert (scores.measured_fraction == 0).all()
    np.testing.assert_allclose(scores.accuracy_top1, get_accuracy_predictor(
        "ofa-mbv3-w1.2", quantization="int8-pow2").predict(batch))


def test_more_cores_raise_throughput_not_single_image_speed(stock_space, stock_evaluator):
    cfg = SubnetBatch.from_configs([SubnetConfig.uniform(5, 4, 3, r=192)])
    evaluator, by_cores = stock_evaluator, {}
    for i, acc in enumerate(stock_space.accelerators):
        if (acc.pp, acc.icp, acc.ocp, acc.clock_mhz, acc.options.ram_usage) == (4, 8, 8, 300.0, "low"):
            by_cores[acc.cores] = evaluator.evaluate(Candidates(cfg, np.array([i])))
    assert len(by_cores) >= 2
    one, more = by_cores[1], by_cores[max(by_cores)]
    assert more.latency_ms[0] == pytest.approx(one.latency_ms[0])
    assert one.fps[0] < more.fps[0] <= max(by_cores) * one.fps[0] * (1 + 1e-9)


def test_genes_round_trip(evaluator):
    rng = np.random.default_rng(1)
    candidates = evaluator.sample(200, rng)
    again = evaluator.genome.decode(evaluator.genome.encode(candidates))
    for name in ("ks", "e", "d", "r"):
        assert np.array_equal(getattr(again.subnets, name), getattr(candidates.subnets, name))
    assert np.array_equal(again.accelerator, candidates.accelerator)
