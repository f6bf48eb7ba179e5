"""Co-design search: speed against an OFA-style finder, and quality of joint vs fixed vs random search.

Speed: ``search_codesign`` (vectorised populations, joint space) side by side
with an evolutionary finder written the way OFA's tutorial ``EvolutionFinder``
works: one Python dict per candidate, latency summed from a per-key lookup
table, the accuracy predictor called per candidate, infeasible children
re-drawn in a retry loop, on the fixed measured accelerator.  Both use the
same latency and accuracy predictors.

Quality at equal budget, on one board: hypervolume of the (int8 top-1,
latency) front and the best int8 top-1 under three latency budgets for
(a) the joint search, (b) sub-network search on the board's fixed PYNQ-DPU
default accelerator, (c) random joint sampling.  NaN marks a budget a method
cannot meet at all.
"""

from __future__ import annotations

import random
import time

import numpy as np
from threadpoolctl import threadpool_limits

from accel_models import get_board
from latency_tables import get_predictor
from ofa_hw.accuracy import get_predictor as get_accuracy_predictor
from ofa_hw.layers import block_keys
from ofa_hw.search import AcceleratorSpace, Evaluator, InfeasibleConstraintError, hypervolume_2d, search_codesign
from ofa_hw.space import SubnetConfig, get_space

BOARD = "ultra96v2"
BUDGETS_MS = (7.0, 10.0, 15.0)
RESOLUTIONS = tuple(range(160, 225, 4))
#: Hypervolume reference point: (top-1 %, latency ms), both worse than anything reported.
REFERENCE = (70.0, 40.0)


class OFAStyleFinder:
    """OFA-tutorial-style evolution: per-candidate dicts, lookup-table latency, retry loops."""

    def __init__(self, latency_by_key: dict, invocation_ms: float, accuracy, constraint_ms: float, seed: int):
        self.latency_by_key, self.invocation_ms = latency_by_key, invocation_ms
        self.accuracy, self.constraint_ms = accuracy, constraint_ms
        self.random = random.Random(seed)
        self.evaluated = 0

    def _sample(self) -> dict:
        return {"ks": [self.random.choice([3, 5, 7]) for _ in range(20)],
                "e": [self.random.choice([3, 4, 6]) for _ in range(20)],
                "d": [self.random.choice([2, 3, 4]) for _ in range(5)],
                "r": self.random.choice(RESOLUTIONS)}

    def _efficiency(self, sample: dict) -> float:
        cfg = SubnetConfig(sample["ks"], sample["e"], sample["d"], sample["r"])
        return sum(self.latency_by_key[k] for k in block_keys(cfg)) + self.invocation_ms

    def _score(self, sample: dict) -> float:
        self.evaluated += 1
        cfg = SubnetConfig(sample["ks"], sample["e"], sample["d"], sample["r"])
        return float(self.accuracy.predict(cfg)[0])

    def _feasible(self, make) -> tuple[dict, float]:
        while True:  # OFA's retry loop; the constraints used here are reachable
            sample = make()
            latency = self._efficiency(sample)
            if latency <= self.constraint_ms:
                return sample, latency

    def _mutate(self, sample: dict) -> dict:
        child = {k: list(v) if isinstance(v, list) else v for k, v in sample.items()}
        for i in range(20):
            if self.random.random() < 0.1:
                child["ks"][i] = self.random.choice([3, 5, 7])
            if self.random.random() < 0.1:
                child["e"][i] = self.random.choice([3, 4, 6])
        for i in range(5):
            if self.random.random() < 0.1:
                child["d"][i] = self.random.choice([2, 3, 4])
        if self.random.random() < 0.5:
            child["r"] = self.random.choice(RESOLUTIONS)
        return child

    def _crossover(self, a: dict, b: dict) -> dict:
        return {k: [self.random.choice(pair) for pair in zip(a[k], b[k])] if isinstance(a[k], list)
                else self.random.choice([a[k], b[k]]) for k in a}

    def run(self, budget: int, population: int = 100) -> float:
        pool = [self._feasible(self._sample)[0] for _ in range(population)]
        scored = [(self._score(s), s) for s in pool]
        n_parents, n_mutate = population // 4, population // 2
        while self.evaluated < budget:
            parents = [s for _, s in sorted(scored, key=lambda x: -x[0])[:n_parents]]
            children = [self._feasible(lambda: self._mutate(self.random.choice(parents)))[0] for _ in range(n_mutate)]
            children += [self._feasible(lambda: self._crossover(self.random.choice(parents),
                                                               self.random.choice(parents)))[0]
                         for _ in range(population - n_parents - n_mutate)]
            scored = sorted(scored, key=lambda x: -x[0])[:n_parents] + [(self._score(c), c) for c in children]
        return max(score for score, _ in scored)


def _speed(budget: int) -> dict:
    board = get_board(BOARD)
    predictor = get_predictor("ultra96v2-b2304")
    accuracy = get_accuracy_predictor("ofa-mbv3-w1.2", quantization="int8-pow2")
    fixed = predictor.accelerator
    # warm caches on both sides so neither pays one-off set-up inside the timing
    search_codesign(board=board, latency_ms=10.0, accelerators=fixed, budget=200, population=100, progress=False)
    catalog = SubnetConfig.smallest(r=160).as_batch().block_catalog(RESOLUTIONS)
    latency_by_key = dict(zip(catalog.keys, predictor.key_latency_ms(catalog.keys, catalog.layers)))

    started = time.perf_counter()
    ours_fixed = search_codesign(board=board, latency_ms=10.0, accelerators=fixed, budget=budget, progress=False)
    ours_fixed_s = time.perf_counter() - started
    started = time.perf_counter()
    ours_joint = search_codesign(board=board, latency_ms=10.0, budget=budget, progress=False)
    ours_joint_s = time.perf_counter() - started
    finder = OFAStyleFinder(latency_by_key, predictor.invocation_ms, accuracy, 10.0, seed=0)
    with threadpool_limits(limits=1, user_api="blas"):  # the same BLAS setting search_codesign uses
        started = time.perf_counter()
        ofa_best = finder.run(budget)
        ofa_s = time.perf_counter() - started
    return {
        "budget": budget,
        "ofa_hw_fixed_accelerator_s": ours_fixed_s,
        "ofa_hw_joint_s": ours_joint_s,
        "ofa_style_fixed_accelerator_s": ofa_s,
        "ofa_hw_fixed_designs_per_s": budget / ours_fixed_s,
        "ofa_hw_joint_designs_per_s": budget / ours_joint_s,
        "ofa_style_designs_per_s": finder.evaluated / ofa_s,
        "speedup_same_space": (budget / ours_fixed_s) / (finder.evaluated / ofa_s),
        "speedup_joint_vs_ofa_style": (budget / ours_joint_s) / (finder.evaluated / ofa_s),
        "best_top1_ofa_hw_fixed": ours_fixed.best.accuracy_top1,
        "best_top1_ofa_style": ofa_best,
        "best_top1_ofa_hw_joint": ours_joint.best.accuracy_top1,
    }


def _front(latency: np.ndarray, top1: np.ndarray) -> float:
    return hypervolume_2d(np.column_stack([-top1, latency]), np.array([-REFERENCE[0], REFERENCE[1]]))


def _quality(budget: int, seeds: tuple[int, ...]) -> dict:
    board = get_board(BOARD)
    default = board.default_accelerator()
    predictor = get_predictor("ultra96v2-b2304")
    evaluator = Evaluator(get_space("ofa-mbv3-w1.2"), RESOLUTIONS, AcceleratorSpace.from_grid(board), predictor,
                          get_accuracy_predictor("ofa-mbv3-w1.2", quantization="int8-pow2"))
    rows = {"joint": {}, "fixed_default": {}, "random": {}}
    for seed in seeds:
        for name, accelerators in (("joint", "dpu"), ("fixed_default", default)):
            front = search_codesign(board=board, accelerators=accelerators, budget=budget, seed=seed, progress=False)
            rows[name].setdefault("hypervolume", []).append(
                _front(np.array([d.latency_ms for d in front.pareto]), np.array([d.accuracy_top1 for d in front.pareto])))
            for limit in BUDGETS_MS:
                try:
                    top1 = search_codesign(board=board, latency_ms=limit, accelerators=accelerators, budget=budget,
                                           seed=seed, progress=False).best.accuracy_top1
                except InfeasibleConstraintError:  # e.g. the fixed default DPU cannot get that fast at all
                    top1 = float("nan")
                rows[name].setdefault(f"best_top1@{limit:g}ms", []).append(top1)
        scores = evaluator.evaluate(evaluator.sample(budget, np.random.default_rng(seed)))
        rows["random"].setdefault("hypervolume", []).append(_front(scores.latency_ms, scores.accuracy_top1))
        for limit in BUDGETS_MS:
            ok = scores.latency_ms <= limit
            rows["random"].setdefault(f"best_top1@{limit:g}ms", []).append(
                float(scores.accuracy_top1[ok].max()) if ok.any() else float("nan"))
    return {name: {k: float(np.mean(v)) for k, v in metrics.items()} for name, metrics in rows.items()}


def run(quick: bool = False) -> dict:
    speed = _speed(budget=2000 if quick else 20_000)
    print(f"search speed, budget {speed['budget']} evaluations, latency <= 10 ms on {BOARD}:")
    print(f"  ofa-hw, fixed measured accelerator : {speed['ofa_hw_fixed_accelerator_s']:7.2f} s "
          f"{speed['ofa_hw_fixed_designs_per_s']:10.0f} designs/s  best {speed['best_top1_ofa_hw_fixed']:.2f}%")
    print(f"  OFA-style finder, same accelerator : {speed['ofa_style_fixed_accelerator_s']:7.2f} s "
          f"{speed['ofa_style_designs_per_s']:10.0f} designs/s  best {speed['best_top1_ofa_style']:.2f}%")
    print(f"  ofa-hw, joint (every fitting DPU)  : {speed['ofa_hw_joint_s']:7.2f} s "
          f"{speed['ofa_hw_joint_designs_per_s']:10.0f} designs/s  best {speed['best_top1_ofa_hw_joint']:.2f}%")
    print(f"  speed-up, same space: {speed['speedup_same_space']:.1f}x; joint vs OFA-style: "
          f"{speed['speedup_joint_vs_ofa_style']:.1f}x")
    seeds = (0,) if quick else (0, 1, 2)
    quality = _quality(budget=2000 if quick else 10_000, seeds=seeds)
    columns = ["hypervolume"] + [f"best_top1@{b:g}ms" for b in BUDGETS_MS]
    print(f"\nsearch quality on {BOARD}, mean of seeds {list(seeds)} "
          f"(hypervolume of (top-1, latency) w.r.t. {REFERENCE[0]}%/{REFERENCE[1]} ms):")
    print(f"  {'method':<16}" + "".join(f"{c:>18}" for c in columns))
    for name, metrics in quality.items():
        print(f"  {name:<16}" + "".join(f"{metrics[c]:>18.3f}" for c in columns))
    gains = {c: quality["joint"][c] - quality["fixed_default"][c] for c in columns}
    print("  joint - fixed   " + "".join(f"{gains[c]:>+18.3f}" for c in columns))
    return {"speed": speed, "quality": quality, "joint_minus_fixed": gains, "reference": REFERENCE}
