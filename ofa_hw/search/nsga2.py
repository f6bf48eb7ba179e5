"""NSGA-II (pymoo) over the joint genome for the accuracy-latency(-DSP) front.

pymoo provides the non-dominated sorting, crowding-distance survival and
tournament mating; variation uses the same operators as the evolutionary
search (gene-wise mutation and uniform crossover of sub-network and
accelerator genes), applied to the integer genome of :class:`Genome`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from pymoo.algorithms.moo.nsga2 import NSGA2
from pymoo.core.crossover import Crossover
from pymoo.core.mutation import Mutation
from pymoo.core.problem import Problem
from pymoo.core.sampling import Sampling
from pymoo.optimize import minimize

from .evaluate import CandidateParts, Candidates, Evaluator, Scores
from .evolution import Constraint

__all__ = ["JointCrossover", "JointMutation", "JointProblem", "JointSampling", "run_nsga2"]


def _decode(evaluator: Evaluator, genes: np.ndarray) -> Candidates:
    return evaluator.genome.decode(np.rint(genes).astype(np.int64), validate=False)


class JointProblem(Problem):
    """Objectives: -int8 top-1, latency (and DSP use); constraints: the latency ceiling and fps floor.

    Every evaluated population is appended to ``archive`` (candidates and
    scores) and reported to ``on_generation``.
    """

    def __init__(self, evaluator: Evaluator, constraint: Constraint, dsp_objective: bool = False,
                 on_generation: Callable[[int, Candidates, Scores], None] | None = None):
        self.evaluator, self.constraint, self.dsp_objective = evaluator, constraint, dsp_objective
        self.on_generation = on_generation
        self.archive: list[tuple[Candidates, Scores]] = []
        upper = evaluator.genome.upper
        n_constr = int(constraint.latency_ms is not None) + int(constraint.fps is not None)
        super().__init__(n_var=len(upper), n_obj=3 if dsp_objective else 2, n_ieq_constr=n_constr,
                         xl=np.zeros(len(upper)), xu=upper.astype(float), vtype=int)

    def _evaluate(self, X, out, *args, **kwargs):
        candidates = _decode(self.evaluator, X)
        scores = self.evaluator.evaluate(candidates)
        self.archive.append((candidates, scores))
        if self.on_generation:
            self.on_generation(len(self.archive) - 1, candidates, scores)
        objectives = [-scores.accuracy_top1, scores.latency_ms]
        if self.dsp_objective:
            objectives.append(self.evaluator.accelerators.dsp[candidates.accelerator])
        out["F"] = np.column_stack(objectives)
        constraints = []
        if self.constraint.latency_ms is not None:
            constraints.append(scores.latency_ms - self.constraint.latency_ms)
        if self.constraint.fps is not None:
            constraints.append(self.constraint.fps - scores.fps)
        if constraints:
            out["G"] = np.column_stack(constraints)


class JointSampling(Sampling):
    """Uniform random candidates of the problem's evaluator."""

    def _do(self, problem, n_samples, *args, random_state=None, **kwargs):
        evaluator = problem.evaluator
        return evaluator.genome.encode(evaluator.sample(n_samples, random_state))


class JointCrossover(Crossover):
    """Uniform crossover of two parents into one child (probability 0.9)."""

    def __init__(self) -> None:
        super().__init__(n_parents=2, n_offsprings=1, prob=0.9)

    def _do(self, problem, X, *args, random_state=None, **kwargs):
        evaluator = problem.evaluator
        child = evaluator.crossover(_decode(evaluator, X[0]), _decode(evaluator, X[1]), random_state)
        return evaluator.genome.encode(child)[None]


class JointMutation(Mutation):
    """Gene-wise resampling with probability ``gene_prob``."""

    def __init__(self, gene_prob: float = 0.1) -> None:
        super().__init__()
        self.gene_prob = gene_prob

    def _do(self, problem, X, *args, random_state=None, **kwargs):
        evaluator = problem.evaluator
        return evaluator.genome.encode(evaluator.mutate(_decode(evaluator, X), random_state, self.gene_prob))


def run_nsga2(evaluator: Evaluator, constraint: Constraint, budget: int, seed: int, population: int = 100,
              mutation_prob: float = 0.1, dsp_objective: bool = False,
              on_generation: Callable[[int, Candidates, Scores], None] | None = None
              ) -> tuple[CandidateParts, Scores]:
    """Run NSGA-II for ``budget`` evaluations; return every evaluated candidate (in its parts) and its scores.

    Objectives: maximise int8 top-1, minimise latency (and DSP use when
    ``dsp_objective``); an active ``constraint`` becomes pymoo inequality
    constraints.
    """
    problem = JointProblem(evaluator, constraint, dsp_objective, on_generation)
    algorithm = NSGA2(pop_size=population, sampling=JointSampling(), crossover=JointCrossover(),
                      mutation=JointMutation(mutation_prob), eliminate_duplicates=True)
    minimize(problem, algorithm, ("n_eval", budget), seed=seed, verbose=False)
    return CandidateParts(tuple(c for c, _ in problem.archive)), Scores.concat([s for _, s in problem.archive])
