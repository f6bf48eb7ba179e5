"""The peer baselines (``benchmarks/peers``) do what OFA's tutorial code does, with its defaults.

Goldens: lookup keys written out by hand for one network, sums read straight from OFA's YAML files,
an independent key construction (``ofa_hw.block_keys``), OFA's published MLP anchors and the
one-hot of ``tests/ofa_reference.py``; never the code under test.
"""

from __future__ import annotations

import inspect
import random
from importlib.resources import files

import numpy as np
import pytest
import yaml
from ofa_reference import spec2feats

from benchmarks.peers.ofa_evolution import OFAAccuracyPredictor, OFAArchManager, OFAEvolutionFinder
from benchmarks.peers.ofa_latency_table import DEFAULT_RESOLUTIONS, NOTE10_DIR, OFALatencyTable
from ofa_hw import block_keys, sample_subnets
from ofa_hw.space import SubnetConfig

torch = pytest.importorskip("torch")

#: OFA's keys of the smallest network at r = 160, written out by hand from OFA's MobileNetV3 w1.2 layout
#: (stem 24, widths 32/48/96/136/192, strides 2/2/2/1/2, SE in stages 2, 4, 5, h-swish from stage 3).
SMALLEST_R160_KEYS = [
    "Conv-input:160x160x3-output:80x80x24",
    "expanded_conv-input:80x80x24-output:80x80x24-expand:24-kernel:3-stride:1-idskip:1-se:0-hs:0",
    "expanded_conv-input:80x80x24-output:40x40x32-expand:72-kernel:3-stride:2-idskip:0-se:0-hs:0",
    "expanded_conv-input:40x40x32-output:40x40x32-expand:96-kernel:3-stride:1-idskip:1-se:0-hs:0",
    "expanded_conv-input:40x40x32-output:20x20x48-expand:96-kernel:3-stride:2-idskip:0-se:1-hs:0",
    "expanded_conv-input:20x20x48-output:20x20x48-expand:144-kernel:3-stride:1-idskip:1-se:1-hs:0",
    "expanded_conv-input:20x20x48-output:10x10x96-expand:144-kernel:3-stride:2-idskip:0-se:0-hs:1",
    "expanded_conv-input:10x10x96-output:10x10x96-expand:288-kernel:3-stride:1-idskip:1-se:0-hs:1",
    "expanded_conv-input:10x10x96-output:10x10x136-expand:288-kernel:3-stride:1-idskip:0-se:1-hs:1",
    "expanded_conv-input:10x10x136-output:10x10x136-expand:408-kernel:3-stride:1-idskip:1-se:1-hs:1",
    "expanded_conv-input:10x10x136-output:5x5x192-expand:408-kernel:3-stride:2-idskip:0-se:1-hs:1",
    "expanded_conv-input:5x5x192-output:5x5x192-expand:576-kernel:3-stride:1-idskip:1-se:1-hs:1",
    "Conv_1-input:5x5x192-output:5x5x1152",
    "AvgPool2D-input:5x5x1152-output:1x1x1152",
    "Conv_2-input:1x1x1152-output:1x1x1536",
    "Logits-input:1x1x1536-output:1000",
]


class _RecordingLut(dict):
    """A lookup table that notes every key asked of it."""

    def __init__(self, table: dict):
        super().__init__(table)
        self.asked: list[str] = []

    def __getitem__(self, key):
        self.asked.append(key)
        return super().__getitem__(key)


def _spec(cfg: SubnetConfig) -> dict:
    return {"wid": None, "ks": list(cfg.ks), "e": list(cfg.e), "d": list(cfg.d), "r": [cfg.r]}


def _published_means(r: int) -> dict[str, float]:
    return {k: v["mean"] for k, v in yaml.safe_load((NOTE10_DIR / f"{r}_lookup_table.yaml").read_text()).items()}


@pytest.fixture(scope="module")
def table() -> OFALatencyTable:
    return OFALatencyTable()


@pytest.fixture(scope="module")
def accuracy() -> OFAAccuracyPredictor:
    from ofa_hw.accuracy.ofa_mlp import load_pth_state_dict

    return OFAAccuracyPredictor(load_pth_state_dict(str(files("ofa_hw.accuracy") / "data" /
                                                        "ofa_tutorial_acc_predictor.pth")))


def test_latency_table_loads_ofas_five_resolutions(table):
    assert DEFAULT_RESOLUTIONS == (160, 176, 192, 208, 224)  # OFA's LatencyTable(resolutions=...) default
    assert sorted(table.latency_tables) == list(DEFAULT_RESOLUTIONS)


def test_latency_table_asks_ofas_keys_and_sums_their_means(table):
    estimator = table.latency_tables[160]
    lut, estimator.lut = estimator.lut, _RecordingLut(estimator.lut)
    try:
        latency = table.predict_efficiency(_spec(SubnetConfig.smallest(r=160)))
        asked = estimator.lut.asked
    finally:
        estimator.lut = lut
    assert asked == SMALLEST_R160_KEYS
    means = _published_means(160)
    assert latency == sum(means[k] for k in SMALLEST_R160_KEYS)


def test_latency_table_gives_ofas_latencies_exactly(table):
    means = {r: _published_means(r) for r in DEFAULT_RESOLUTIONS}
    batch = sample_subnets(300, seed=3, resolutions=DEFAULT_RESOLUTIONS)
    ours = np.array([table.predict_efficiency(_spec(cfg)) for cfg in batch])
    independent = np.array([sum(means[cfg.r][k] for k in block_keys(cfg)) for cfg in batch])
    np.testing.assert_array_equal(ours, independent)
    assert len(set(batch.r.tolist())) == len(DEFAULT_RESOLUTIONS)  # every table was used
    assert ours.min() < 20 < 30 < ours.max()  # a spread, so equality means something


def test_latency_table_refuses_a_resolution_it_has_no_table_for(table):
    with pytest.raises(KeyError):
        table.predict_efficiency(_spec(SubnetConfig.smallest(r=164)))


def test_evolution_finder_has_ofas_defaults():
    defaults = {name: p.default for name, p in inspect.signature(OFAEvolutionFinder).parameters.items()
                if p.default is not inspect.Parameter.empty}
    assert {k: defaults[k] for k in ("mutate_prob", "population_size", "max_time_budget", "parent_ratio",
                                     "mutation_ratio")} == {"mutate_prob": 0.1, "population_size": 100,
                                                            "max_time_budget": 500, "parent_ratio": 0.25,
                                                            "mutation_ratio": 0.5}
    arch = OFAArchManager(random.Random(0))
    assert (arch.kernel_sizes, arch.expand_ratios, arch.depths, arch.resolutions) == (
        [3, 5, 7], [3, 4, 6], [2, 3, 4], [160, 176, 192, 208, 224])


def test_accuracy_predictor_gives_ofas_anchors_and_one_hot(accuracy):
    anchors = [(SubnetConfig.largest(r=224), 0.836), (SubnetConfig.smallest(r=160), 0.753)]  # OFA's tutorial
    predicted = accuracy.predict_accuracy([_spec(cfg) for cfg, _ in anchors])[:, 0].numpy()
    np.testing.assert_allclose(predicted, [a for _, a in anchors], atol=5e-4)
    for cfg in sample_subnets(20, seed=5, resolutions=DEFAULT_RESOLUTIONS):
        feats = accuracy.spec2feats(list(cfg.ks), list(cfg.e), list(cfg.d), cfg.r)
        assert feats.tolist() == spec2feats(cfg)


class _CountingAccuracy:
    """OFA's accuracy predictor, noting the size of every query."""

    def __init__(self, inner: OFAAccuracyPredictor):
        self.inner = inner
        self.calls: list[int] = []

    def predict_accuracy(self, population):
        self.calls.append(len(population))
        return self.inner.predict_accuracy(population)


def test_evolution_queries_accuracy_once_per_generation_and_keeps_the_constraint(table, accuracy):
    counting = _CountingAccuracy(accuracy)
    finder = OFAEvolutionFinder(25.0, table, counting, seed=0, max_time_budget=4)
    best_valids, best_info = finder.run_evolution_search()
    assert counting.calls == [100] * 5  # the first population, then one batch of 100 children a generation
    assert finder.accuracy_queries == 500
    assert len(best_valids) == 5 and all(a <= b for a, b in zip(best_valids[1:], best_valids[2:], strict=False))
    accuracy_top1, spec, latency_ms = best_info
    assert latency_ms == table.predict_efficiency(spec) <= 25.0
    assert accuracy_top1 == best_valids[-1] == pytest.approx(accuracy.predict_accuracy([spec])[0, 0].item())


def test_evolution_is_reproducible_by_seed(table, accuracy):
    def best(seed):
        return OFAEvolutionFinder(25.0, table, accuracy, seed=seed, max_time_budget=2).run_evolution_search()[0]

    assert best(1) == best(1) != best(2)


def test_mutation_and_crossover_follow_ofa(table, accuracy):
    finder = OFAEvolutionFinder(60.0, table, accuracy, seed=0, mutate_prob=0.0)
    parent = {"wid": None, "ks": [3] * 20, "e": [3] * 20, "d": [2] * 5, "r": [160]}  # OFA's dicts hold every gene
    child, latency_ms = finder.mutate_sample(parent)
    assert child == parent and child is not parent and child["ks"] is not parent["ks"]
    assert latency_ms == table.predict_efficiency(parent)
    other = {"wid": None, "ks": [7] * 20, "e": [6] * 20, "d": [4] * 5, "r": [224]}
    mixes = [finder.crossover_sample(parent, other)[0] for _ in range(20)]
    for mix in mixes:
        for key in ("ks", "e", "d", "r"):
            assert all(g in (a, b) for g, a, b in zip(mix[key], parent[key], other[key], strict=True))
    assert len({str(m) for m in mixes}) > 1  # genes are drawn, not copied from one side


def test_an_unreachable_constraint_raises_instead_of_hanging(table, accuracy):
    finder = OFAEvolutionFinder(1.0, table, accuracy, seed=0, max_draws=50)
    with pytest.raises(RuntimeError, match="no sample within 1.0 after 50 draws"):
        finder.random_sample()
