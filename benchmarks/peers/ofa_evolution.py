"""OFA's tutorial ``EvolutionFinder`` and ``AccuracyPredictor``, re-implemented faithfully.

As in ``ofa/tutorial/evolution_finder.py`` and ``accuracy_predictor.py``
(mit-han-lab/once-for-all), with its defaults: population 100, 500
generations, parent ratio 0.25, mutation ratio 0.5, mutate probability 0.1
(for the resolution, every block's kernel-and-expand pair and every depth),
resolutions 160/176/192/208/224; each sample is a Python dict, every draw is
re-drawn until the efficiency predictor puts it within the constraint, and
the accuracy predictor is queried once per generation for the whole child
pool (each sample encoded to its 128-dim one-hot in Python, then one batched
MLP forward).  Each generation keeps the best 25 and adds 100 children, so a
run queries ``100 + 500 * 100`` accuracies.

Deviations, none of which changes the search: explicit ``random.Random`` /
``numpy.random.RandomState`` instances instead of the global generators
(seedable); no interactive prompts or progress bar; a bounded retry loop
(``max_draws`` per sample, far above what a reachable constraint needs) that
raises instead of hanging; the MLP runs on CPU.
"""

from __future__ import annotations

import copy
import random

import numpy as np

__all__ = ["OFAAccuracyPredictor", "OFAArchManager", "OFAEvolutionFinder"]


class OFAArchManager:
    """OFA's ``ArchManager``: random samples and per-gene resampling of the w1.2 space."""

    def __init__(self, rng: random.Random):
        self.random = rng
        self.num_blocks, self.num_stages = 20, 5
        self.kernel_sizes, self.expand_ratios, self.depths = [3, 5, 7], [3, 4, 6], [2, 3, 4]
        self.resolutions = [160, 176, 192, 208, 224]

    def random_sample(self) -> dict:
        d = [self.random.choice(self.depths) for _ in range(self.num_stages)]
        e, ks = [], []
        for _ in range(self.num_blocks):
            e.append(self.random.choice(self.expand_ratios))
            ks.append(self.random.choice(self.kernel_sizes))
        return {"wid": None, "ks": ks, "e": e, "d": d, "r": [self.random.choice(self.resolutions)]}

    def random_resample(self, sample: dict, i: int) -> None:
        sample["ks"][i] = self.random.choice(self.kernel_sizes)
        sample["e"][i] = self.random.choice(self.expand_ratios)

    def random_resample_depth(self, sample: dict, i: int) -> None:
        sample["d"][i] = self.random.choice(self.depths)

    def random_resample_resolution(self, sample: dict) -> None:
        sample["r"][0] = self.random.choice(self.resolutions)


class OFAAccuracyPredictor:
    """OFA's ``AccuracyPredictor``: Python one-hot per sample, one batched MLP forward (top-1 as a fraction).

    ``weights`` are the eight arrays of OFA's released ``acc_predictor.pth``
    (``ofa_hw.accuracy.ofa_mlp.load_pth_state_dict``).
    """

    _KS = {3: 0, 5: 1, 7: 2}
    _EX = {3: 0, 4: 1, 6: 2}

    def __init__(self, weights: dict):
        import torch

        self.torch = torch
        self.model = torch.nn.Sequential(torch.nn.Linear(128, 400), torch.nn.ReLU(), torch.nn.Linear(400, 400),
                                         torch.nn.ReLU(), torch.nn.Linear(400, 400), torch.nn.ReLU(),
                                         torch.nn.Linear(400, 1))
        self.model.load_state_dict({k: torch.as_tensor(np.asarray(v)) for k, v in weights.items()})
        self.model.eval()

    def predict_accuracy(self, population: list[dict]):
        with self.torch.no_grad():
            feats = [self.spec2feats(copy.deepcopy(s["ks"]), copy.deepcopy(s["e"]), copy.deepcopy(s["d"]),
                                     copy.deepcopy(s["r"])[0]).reshape(1, -1) for s in population]
            return self.model(self.torch.cat(feats, 0))

    def spec2feats(self, ks_list: list, ex_list: list, d_list: list, r: int):
        start, end = 0, 4
        for d in d_list:
            for j in range(start + d, end):
                ks_list[j] = 0
                ex_list[j] = 0
            start += 4
            end += 4
        ks_onehot, ex_onehot, r_onehot = [0] * 60, [0] * 60, [0] * 8
        for i in range(20):
            if ks_list[i] != 0:
                ks_onehot[i * 3 + self._KS[ks_list[i]]] = 1
            if ex_list[i] != 0:
                ex_onehot[i * 3 + self._EX[ex_list[i]]] = 1
        r_onehot[(r - 112) // 16] = 1
        return self.torch.Tensor(ks_onehot + ex_onehot + r_onehot)


class OFAEvolutionFinder:
    """OFA's ``EvolutionFinder`` with its defaults; ``run_evolution_search()`` -> (best_valids, best_info)."""

    def __init__(self, efficiency_constraint: float, efficiency_predictor, accuracy_predictor, seed: int = 0,
                 mutate_prob: float = 0.1, population_size: int = 100, max_time_budget: int = 500,
                 parent_ratio: float = 0.25, mutation_ratio: float = 0.5, max_draws: int = 1_000_000):
        self.efficiency_constraint = efficiency_constraint
        self.efficiency_predictor, self.accuracy_predictor = efficiency_predictor, accuracy_predictor
        self.random = random.Random(seed)
        self.np_random = np.random.RandomState(seed)
        self.arch_manager = OFAArchManager(self.random)
        self.num_blocks, self.num_stages = self.arch_manager.num_blocks, self.arch_manager.num_stages
        self.mutate_prob, self.population_size, self.max_time_budget = mutate_prob, population_size, max_time_budget
        self.parent_ratio, self.mutation_ratio, self.max_draws = parent_ratio, mutation_ratio, max_draws
        self.accuracy_queries = 0

    def _feasible(self, make):
        for _ in range(self.max_draws):
            sample = make()
            efficiency = self.efficiency_predictor.predict_efficiency(sample)
            if efficiency <= self.efficiency_constraint:
                return sample, efficiency
        raise RuntimeError(f"no sample within {self.efficiency_constraint} after {self.max_draws} draws")

    def random_sample(self):
        return self._feasible(self.arch_manager.random_sample)

    def mutate_sample(self, sample: dict):
        def make() -> dict:
            new_sample = copy.deepcopy(sample)
            if self.random.random() < self.mutate_prob:
                self.arch_manager.random_resample_resolution(new_sample)
            for i in range(self.num_blocks):
                if self.random.random() < self.mutate_prob:
                    self.arch_manager.random_resample(new_sample, i)
            for i in range(self.num_stages):
                if self.random.random() < self.mutate_prob:
                    self.arch_manager.random_resample_depth(new_sample, i)
            return new_sample

        return self._feasible(make)

    def crossover_sample(self, sample1: dict, sample2: dict):
        def make() -> dict:
            new_sample = copy.deepcopy(sample1)
            for key in new_sample:
                if not isinstance(new_sample[key], list):
                    continue
                for i in range(len(new_sample[key])):
                    new_sample[key][i] = self.random.choice([sample1[key][i], sample2[key][i]])
            return new_sample

        return self._feasible(make)

    def _accuracies(self, pool: list[dict]):
        self.accuracy_queries += len(pool)
        return self.accuracy_predictor.predict_accuracy(pool)

    def run_evolution_search(self):
        population_size = self.population_size
        mutation_numbers = int(round(self.mutation_ratio * population_size))
        parents_size = int(round(self.parent_ratio * population_size))
        best_valids, best_info = [-100.0], None
        child_pool, efficiency_pool = [], []
        for _ in range(population_size):
            sample, efficiency = self.random_sample()
            child_pool.append(sample)
            efficiency_pool.append(efficiency)
        accs = self._accuracies(child_pool)
        population = [(accs[i].item(), child_pool[i], efficiency_pool[i]) for i in range(population_size)]
        for _ in range(self.max_time_budget):
            parents = sorted(population, key=lambda x: x[0])[::-1][:parents_size]
            if parents[0][0] > best_valids[-1]:
                best_valids.append(parents[0][0])
                best_info = parents[0]
            else:
                best_valids.append(best_valids[-1])
            population = parents
            child_pool, efficiency_pool = [], []
            for _ in range(mutation_numbers):
                new_sample, efficiency = self.mutate_sample(population[self.np_random.randint(parents_size)][1])
                child_pool.append(new_sample)
                efficiency_pool.append(efficiency)
            for _ in range(population_size - mutation_numbers):
                first = population[self.np_random.randint(parents_size)][1]
                second = population[self.np_random.randint(parents_size)][1]
                new_sample, efficiency = self.crossover_sample(first, second)
                child_pool.append(new_sample)
                efficiency_pool.append(efficiency)
            accs = self._accuracies(child_pool)
            population += [(accs[i].item(), child_pool[i], efficiency_pool[i]) for i in range(population_size)]
        return best_valids, best_info
