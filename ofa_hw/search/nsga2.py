"""NSGA-II (pymoo) over the joint genome for the accuracy-latency(-DSP) front.

pymoo provides the non-dominated sorting, crowding-distance survival and
tournament mating; variation uses the same operators as the evolutionary
search (gene-wise mutation and uniform crossover of sub-network and
accelerator genes), applied to the integer genome of :class:`Candidates`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .evaluate import Candidates, Evaluator, Scores
from .evolution import Constraint

__all__ = ["run_nsga2"]


def run_nsga2(evaluator: Evaluator, constraint: Constraint, budget: int, seed: int, population: int = 100,
              mutation_prob: float = 0.1, dsp_objective: bool = False,
              on_generation: Callable[[int, Candidates, Scores], None] | None = None) -> tuple[Candidates, Scores]:
    """Run NSGA-II for ``budget`` evaluations; return every evaluated candidate and its scores.

    Objectives: maximise int8 top-1, minimise latency (and DSP use when
    ``dsp_objective``); an active ``constraint`` becomes pymoo inequality
    constraints.
    """
    from pymoo.algorithms.moo.nsga2 import NSGA2
    from pymoo.core.crossover import Crossover
    from pymoo.core.mutation import Mutation
    from pymoo.core.problem import Problem
    from pymoo.core.sampling import Sampling
    from pymoo.optimize import minimize

    space, resolutions = evaluator.space, evaluator.resolutions
    archive: list[Candidates] = []
    archive_scores: list[Scores] = []

    def decode(genes: np.ndarray) -> Candidates:
        return Candidates.from_genes(np.rint(genes).astype(np.int64), space, resolutions)

    class JointProblem(Problem):
        def __init__(self) -> None:
            upper = ([len(space.kernel_choices) - 1] * 20 + [len(space.expand_choices) - 1] * 20
                     + [len(space.depth_choices) - 1] * 5 + [len(resolutions) - 1, len(evaluator.accelerators) - 1])
            n_constr = int(constraint.latency_ms is not None) + int(constraint.fps is not None)
            super().__init__(n_var=len(upper), n_obj=3 if dsp_objective else 2, n_ieq_constr=n_constr,
                             xl=np.zeros(len(upper)), xu=np.array(upper, dtype=float), vtype=int)

        def _evaluate(self, X, out, *args, **kwargs):
            candidates = decode(X)
            scores = evaluator.evaluate(candidates)
            archive.append(candidates)
            archive_scores.append(scores)
            if on_generation:
                on_generation(len(archive) - 1, candidates, scores)
            objectives = [-scores.accuracy_top1, scores.latency_ms]
            if dsp_objective:
                objectives.append(evaluator.accelerators.dsp[candidates.accelerator])
            out["F"] = np.column_stack(objectives)
            constraints = []
            if constraint.latency_ms is not None:
                constraints.append(scores.latency_ms - constraint.latency_ms)
            if constraint.fps is not None:
                constraints.append(constraint.fps - scores.fps)
            if constraints:
                out["G"] = np.column_stack(constraints)

    class JointSampling(Sampling):
        def _do(self, problem, n_samples, *args, random_state=None, **kwargs):
            return evaluator.sample(n_samples, random_state).to_genes(resolutions)

    class JointCrossover(Crossover):
        def __init__(self) -> None:
            super().__init__(n_parents=2, n_offsprings=1, prob=0.9)

        def _do(self, problem, X, *args, random_state=None, **kwargs):
            child = evaluator.crossover(decode(X[0]), decode(X[1]), random_state)
            return child.to_genes(resolutions)[None]

    class JointMutation(Mutation):
        def _do(self, problem, X, *args, random_state=None, **kwargs):
            return evaluator.mutate(decode(X), random_state, mutation_prob).to_genes(resolutions)

    algorithm = NSGA2(pop_size=population, sampling=JointSampling(), crossover=JointCrossover(),
                      mutation=JointMutation(), eliminate_duplicates=True)
    minimize(JointProblem(), algorithm, ("n_eval", budget), seed=seed, verbose=False)
    return Candidates.concat(archive), Scores.concat(archive_scores)
