"""OFA-style evolutionary search under constraints, on whole populations at once.

Each generation keeps the best quarter of the population as parents and
fills the rest with mutants and crossovers of random parents (OFA's
``EvolutionFinder`` recipe: parent ratio 0.25, mutation ratio 0.5, gene
mutation probability 0.1; here the resolution mutates with probability 0.5).

Accuracy depends on the sub-network alone, so under a constraint every drawn
candidate is moved to the accelerator that best meets it for its
sub-network (:meth:`Evaluator.on_best_accelerators`, one gather over the
accelerators no other one beats everywhere): the joint search explores
sub-networks with the accelerator chosen exactly, and its feasible set
contains that of a search on any single accelerator of its space
(``best_accelerator=False`` evolves the accelerator genes instead).

OFA re-draws infeasible children in an unbounded retry loop, which hangs when
the constraint is out of reach.  Here candidates are drawn in vectorised
rounds screened by the cheap latency gather (at most ``screen_rounds`` draws
per slot), feasible ones first; what is still infeasible is ranked behind
every feasible candidate by how far it misses the constraint.  The run always
ends after ``budget`` full evaluations (latency and accuracy); screening
draws only cost a latency gather each and are not counted.  A budget counts
the candidates the search asks to be scored, as OFA's finder counts its
queries; children that repeat a genome scored before (in their generation
or an earlier one: a quarter of a joint Ultra96-V2 search's evolution
rows) count too, but are predicted once and read back.

A population of several times OFA's 100 evolves as islands of about 100
(``island_population``) that never mix, in lockstep (one evaluation per
generation for all): one population of 400 converges on one region of the
space, four islands on up to four, and the local search starts from each
island's best, so a seed's climbers start in several basins instead of one
(the seeds' designs differ mostly by the basin their climbers started in:
over Ultra96-V2 15 ms, KV260 6 and 12 ms and ZCU102 10 ms, joint and
default-DPU searches, seeds 5-9 at 100,000 evaluations, the mean shortfall
against the best design any run found fell from 0.14 to 0.07 pp with the
islands and the local search's wider kicks together).

Under a constraint the last ``local_search_share`` of the budget (80 %,
less when the evolution would keep fewer than ``min_generations``
generations: it keeps those, up to half the budget)
climbs from the best distinct designs of the final population
(:mod:`ofa_hw.search.local`: every single move, Lagrangian multi-move
solutions and pairs of moves, path relinking and restarts).  Against half
the budget (the share before), the median best of five seeds at 20,000
evaluations rose (by 0.01-0.05 pp) on four of four board x latency budgets tried
(``benchmarks/bench_search.py`` measures the quality reached).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .evaluate import CandidateParts, Candidates, EvaluationArchive, Evaluator, Scores

__all__ = ["Constraint", "EvolutionSettings", "first_ranked", "rank", "rank_keys", "run_evolution"]


@dataclass(frozen=True)
class Constraint:
    """Latency ceiling and/or throughput floor (``None`` = unconstrained)."""

    latency_ms: float | None = None
    fps: float | None = None

    def __post_init__(self) -> None:
        for name in ("latency_ms", "fps"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not (isinstance(value, (int, float))
                                                                        and np.isfinite(value) and value > 0)):
                raise ValueError(f"{name} must be a positive number, got {value!r}")

    @property
    def active(self) -> bool:
        """Whether there is any limit."""
        return self.latency_ms is not None or self.fps is not None

    def violation(self, scores: Scores) -> np.ndarray:
        """Relative amount by which each candidate misses the constraint (0 = feasible)."""
        return self.violation_of(scores.latency_ms, scores.fps)

    def violation_of(self, latency_ms: np.ndarray, fps: np.ndarray) -> np.ndarray:
        """:meth:`violation` from latency and throughput arrays (any matching shapes)."""
        v = np.zeros_like(latency_ms)
        if self.latency_ms is not None:
            v += np.maximum(latency_ms - self.latency_ms, 0.0) / self.latency_ms
        if self.fps is not None:
            v += np.maximum(self.fps - fps, 0.0) / self.fps
        return v

    def describe(self) -> str:
        """The constraint as text (``"latency <= 10 ms"``)."""
        parts = [f"latency <= {self.latency_ms:g} ms" if self.latency_ms else "",
                 f"throughput >= {self.fps:g} fps" if self.fps else ""]
        return " and ".join(p for p in parts if p) or "none"


@dataclass(frozen=True)
class EvolutionSettings:
    """Population, OFA's selection and mutation ratios, screening rounds, the accelerator choice, the local search.

    ``local_search_share``: fraction of the budget spent climbing from the
    ``local_search_starts`` best distinct designs at the end (under a
    constraint, each island's best first), less where the evolution would
    run fewer than ``min_generations`` generations (it keeps those, up to
    half the budget).  ``island_population``: the population evolves as
    islands of about this size that never mix (a population under twice it
    is one island).
    """

    population: int = 100
    parent_ratio: float = 0.25
    mutation_ratio: float = 0.5
    mutation_prob: float = 0.1
    resolution_mutation_prob: float = 0.5
    screen_rounds: int = 8
    best_accelerator: bool = True
    local_search_share: float = 0.8
    min_generations: int = 25
    local_search_starts: int = 4
    island_population: int = 100

    def __post_init__(self) -> None:
        if int(self.population) != self.population or self.population < 8:
            raise ValueError(f"population must be an integer of at least 8, got {self.population!r}")
        if not 0 < self.parent_ratio < 1 or not 0 <= self.mutation_ratio <= 1 - self.parent_ratio:
            raise ValueError("need 0 < parent_ratio < 1 and 0 <= mutation_ratio <= 1 - parent_ratio")
        if not 0 < self.mutation_prob <= 1 or not 0 <= self.resolution_mutation_prob <= 1:
            raise ValueError("mutation_prob must lie in (0, 1] and resolution_mutation_prob in [0, 1]")
        if int(self.screen_rounds) != self.screen_rounds or self.screen_rounds < 1:
            raise ValueError(f"screen_rounds must be a positive integer, got {self.screen_rounds!r}")
        if not 0 <= self.local_search_share < 1 or int(self.local_search_starts) != self.local_search_starts \
                or self.local_search_starts < 1:
            raise ValueError("local_search_share must lie in [0, 1) and local_search_starts be a positive integer")
        if int(self.island_population) != self.island_population or self.island_population < 8:
            raise ValueError(f"island_population must be an integer of at least 8, got {self.island_population!r}")
        if int(self.min_generations) != self.min_generations or self.min_generations < 0:
            raise ValueError(f"min_generations must be a non-negative integer, got {self.min_generations!r}")


def rank(scores: Scores, constraint: Constraint, within: np.ndarray | None = None) -> np.ndarray:
    """Order best-first: feasible by accuracy (then latency), then infeasible by violation.

    ``within``: a group label per candidate; the order then runs group by
    group (smallest label first), each group's candidates ranked alone.
    """
    return rank_keys(scores, constraint, within)[0]


def rank_keys(scores: Scores, constraint: Constraint,
              within: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(:func:`rank` order, infeasible, primary key): the order sorts by (infeasible, primary, latency), stably.

    The primary key is minus the accuracy of a feasible candidate and the
    violation of an infeasible one; ``within`` (see :func:`rank`) sorts first.
    """
    infeasible, primary = _sort_keys(scores, constraint)
    keys = (scores.latency_ms, primary, infeasible) + (() if within is None else (within,))
    return np.lexsort(keys), infeasible, primary


def first_ranked(scores: Scores, constraint: Constraint) -> int:
    """``rank(scores, constraint)[0]`` without the sort: the first of the rows with the least keys.

    A search's result ranks ~10^5 candidates for its best alone: the sort cost 0.015 s of that.
    """
    infeasible, primary = _sort_keys(scores, constraint)
    rows = np.flatnonzero(infeasible == infeasible.min())
    for key in (primary, scores.latency_ms):
        least = rows[key[rows] == key[rows].min()]
        if not len(least):  # a NaN key (sorted last, never equal): the sort decides
            return int(rows[np.lexsort((scores.latency_ms[rows], primary[rows]))[0]])
        rows = least
    return int(rows[0])


def _sort_keys(scores: Scores, constraint: Constraint) -> tuple[np.ndarray, np.ndarray]:
    """(infeasible, primary key) of :func:`rank_keys`."""
    violation = constraint.violation(scores)
    infeasible = violation != 0
    return infeasible, np.where(infeasible, violation, -scores.accuracy_top1)


def screened(draw: Callable[[int], tuple[Candidates, np.ndarray]], n: int, constraint: Constraint,
             rounds: int, expected_rate: float = 0.5) -> tuple[Candidates, float]:
    """``n`` candidates from up to ``rounds`` calls of ``draw(k)``, feasible ones first, and the feasible rate seen.

    ``draw(k)`` returns ``k`` candidates and their constraint violation
    (:meth:`Evaluator.screen`): :func:`screened_groups` with one group.
    """
    candidates, rates = screened_groups(lambda ks: draw(int(ks[0])), np.array([n]), constraint, rounds,
                                        np.array([expected_rate]))
    return candidates, float(rates[0])


def screened_groups(draw: Callable[[np.ndarray], tuple[Candidates, np.ndarray]], needs: np.ndarray,
                    constraint: Constraint, rounds: int, expected_rates: np.ndarray) -> tuple[Candidates, np.ndarray]:
    """``needs[g]`` candidates of each group ``g`` (group by group, in draw order), feasible first; the rates seen.

    ``draw(ks)`` returns ``ks[g]`` candidates of each group g, group after
    group, and their constraint violation (:meth:`Evaluator.screen`): the
    islands of a generation draw their children in one call.  A bounded,
    vectorised version of OFA's "re-draw until feasible" loop: only the
    latency gather runs on the draws; when fewer than ``needs[g]`` of a
    group are feasible after ``rounds`` draws, its least-violating fill the
    rest.  Each round draws as many as each group's feasible rate
    (``expected_rates`` at first, e.g. the previous generation's) says are
    still missing, with a 25 % margin: a draw costs a few microseconds, a
    round trip through numpy far more.
    """
    needs = np.asarray(needs, dtype=np.int64)
    drawn, violations, labels = [], [], []
    feasible, total = np.zeros(len(needs), dtype=np.int64), np.zeros(len(needs), dtype=np.int64)
    rates = np.maximum(expected_rates, 1 / 16) if constraint.active else np.ones(len(needs))
    ks = needs if not constraint.active else np.minimum(16 * needs, np.ceil(1.25 * needs / rates).astype(np.int64))
    for _ in range(rounds):
        candidates, violation = draw(ks)
        label = np.repeat(np.arange(len(needs)), ks)
        drawn.append(candidates)
        violations.append(violation)
        labels.append(label)
        feasible += np.bincount(label[violation == 0], minlength=len(needs))
        total += ks
        missing = needs - feasible
        if not constraint.active or (missing <= 0).all():
            break
        rates = np.maximum(feasible / np.maximum(total, 1), 1 / 16)
        ks = np.where(missing > 0, np.minimum(16 * needs, np.ceil(1.25 * missing / rates).astype(np.int64)), 0)
    violation, label = np.concatenate(violations), np.concatenate(labels)
    order = np.lexsort((violation, label))  # group by group, least violation first (stable: draw order)
    first_of_group = np.cumsum(np.bincount(label, minlength=len(needs))) - np.bincount(label, minlength=len(needs))
    kept = order[np.arange(len(order)) - first_of_group[label[order]] < needs[label[order]]]
    kept = kept[np.lexsort((kept, label[kept]))]  # each group's in draw order
    return Candidates.concat(drawn).take(kept), np.where(total > 0, feasible / np.maximum(total, 1), expected_rates)


def run_evolution(evaluator: Evaluator, constraint: Constraint, budget: int, rng: np.random.Generator,
                  settings: EvolutionSettings = EvolutionSettings(),
                  on_generation: Callable[[int, Candidates, Scores], None] | None = None
                  ) -> tuple[CandidateParts, Scores]:
    """Evolve for ``budget`` evaluations; return every evaluated candidate (in its parts) and its scores.

    ``on_generation(generation, new_candidates, new_scores)`` is called after
    each generation's evaluation (progress, history, checkpoints).
    """
    n = settings.population
    if budget < n:
        raise ValueError(f"budget ({budget}) must be at least the population size ({n})")
    rounds = settings.screen_rounds

    best_accelerator = settings.best_accelerator and constraint.active

    def place(candidates: Candidates) -> tuple[Candidates, np.ndarray]:
        return evaluator.screen(candidates, constraint, place=best_accelerator)

    # under a constraint the last share of the budget climbs from the evolution's best (ofa_hw.search.local)
    local_budget = int(budget * settings.local_search_share) if constraint.active else 0
    # the evolution keeps its own generations first (up to half the budget): a small search's climbers
    # need good starts more than more steps
    local_budget = min(local_budget, budget - min(budget // 2, settings.min_generations * n))
    if budget - local_budget < n:
        local_budget = 0
    budget -= local_budget
    genes = not best_accelerator  # placed candidates: no accelerator genes drawn
    sizes = _island_sizes(n, settings.island_population)
    population = Candidates.concat([
        screened(lambda k: place(evaluator.sample(k, rng, genes)), size, constraint, rounds)[0] for size in sizes])
    memo = _ScoreMemo(evaluator)
    scores = memo.evaluate(population)
    archive, archive_scores = [population], [scores]
    if on_generation:
        on_generation(0, population, scores)
    islands = _Islands(np.array(sizes), settings)
    bounds = np.cumsum([0, *sizes])  # island i is population[bounds[i]:bounds[i + 1]]
    evaluated, generation = n, 0
    while evaluated < budget:
        generation += 1
        # each island's parents: its best by rank, all islands in one sort
        ranked = rank(scores, constraint, within=np.repeat(np.arange(len(bounds) - 1), np.diff(bounds)))
        kept = [ranked[start:start + n_parents]
                for start, n_parents in zip(bounds[:-1].tolist(), islands.n_parents.tolist(), strict=True)]
        # the first islands' children, up to the budget
        sizes_now = np.diff(np.minimum(np.cumsum([0, *islands.n_children]), budget - evaluated))
        children, counts = islands.children(evaluator, population.take(np.concatenate(kept)), sizes_now, place,
                                            constraint, rng, genes)
        child_scores = memo.evaluate(children)
        archive.append(children)
        archive_scores.append(child_scores)
        evaluated += len(children)
        if on_generation:
            on_generation(generation, children, child_scores)
        # each island's parents, then its children
        previous = len(population)
        population, scores = Candidates.concat([population, children]), Scores.concat([scores, child_scores])
        child_rows = np.split(previous + np.arange(len(children)), np.cumsum(counts)[:-1])
        order = np.concatenate([part for pair in zip(kept, child_rows, strict=True) for part in pair])
        population, scores = population.take(order), scores.take(order)
        bounds = np.cumsum([0, *(len(k) + len(c) for k, c in zip(kept, child_rows, strict=True))])
    if local_budget:
        from .local import local_search

        starts = _starts(evaluator, constraint, population, scores, bounds, settings.local_search_starts)

        def on_step(candidates: Candidates, step_scores: Scores) -> None:
            nonlocal generation
            generation += 1
            if on_generation:
                on_generation(generation, candidates, step_scores)

        found = local_search(evaluator, constraint, population.take(starts), scores.take(starts), local_budget, rng,
                             place, on_step=on_step)
        archive += [candidates for candidates, _ in found]
        archive_scores += [part_scores for _, part_scores in found]
    return CandidateParts(tuple(archive)), Scores.concat(archive_scores)


def _island_sizes(population: int, island_population: int) -> list[int]:
    """Sizes of the islands ``population`` splits into: as even as can be, each at least ``island_population``."""
    count = max(1, population // island_population)
    return [population // count + (i < population % count) for i in range(count)]


class _Islands:
    """The islands' shares of a generation: OFA's parents, mutants and crossovers, each island on its own members."""

    def __init__(self, sizes: np.ndarray, settings: EvolutionSettings) -> None:
        self.settings = settings
        self.n_parents = np.maximum(2, np.rint(sizes * settings.parent_ratio).astype(np.int64))
        self.n_mutants = np.rint(sizes * settings.mutation_ratio).astype(np.int64)
        self.n_children = sizes - self.n_parents
        # the feasible rates of each island's draws, as last seen
        self.rates = {"mutants": np.full(len(sizes), 0.5), "crossovers": np.full(len(sizes), 0.5)}

    def children(self, evaluator: Evaluator, parents: Candidates, sizes: np.ndarray, place, constraint: Constraint,
                 rng: np.random.Generator, genes: bool) -> tuple[Candidates, np.ndarray]:
        """(children, count per island): ``sizes[i]`` children of each island's parents, island after island.

        An island's children are its mutants, then its crossovers, screened
        by latency.  ``parents``: each island's ``n_parents``, island after
        island.  The islands draw together, one call per kind and screening
        round.
        """
        settings, rounds = self.settings, self.settings.screen_rounds
        first_parent = np.cumsum(self.n_parents) - self.n_parents

        def parents_of(ks: np.ndarray, pairs: int) -> np.ndarray:  # random parents of each island's draws
            return (rng.integers(0, np.repeat(self.n_parents, ks)[:, None], size=(int(ks.sum()), pairs))
                    + np.repeat(first_parent, ks)[:, None])

        def draw_mutants(ks: np.ndarray) -> tuple[Candidates, np.ndarray]:
            return place(evaluator.mutate(parents.take(parents_of(ks, 1)[:, 0]), rng, settings.mutation_prob,
                                          settings.resolution_mutation_prob, genes))

        def draw_crossovers(ks: np.ndarray) -> tuple[Candidates, np.ndarray]:
            pick = parents_of(ks, 2)
            return place(evaluator.crossover(parents.take(pick[:, 0]), parents.take(pick[:, 1]), rng, genes))

        mutants = np.minimum(self.n_mutants, sizes)
        drawn, counts = [], []  # each kind's draws (island after island) and its count per island
        for kind, draw, needs in (("mutants", draw_mutants, mutants), ("crossovers", draw_crossovers, sizes - mutants)):
            if needs.any():
                candidates, self.rates[kind] = screened_groups(draw, needs, constraint, rounds, self.rates[kind])
                drawn.append(candidates)
                counts.append(needs)
        if not drawn:
            return parents.take(np.zeros(0, np.int64)), np.zeros(len(sizes), np.int64)
        # the kinds end to end, then reordered island by island (each island's kinds in turn): one join, one take
        per_kind = np.array(counts)  # (kinds, islands)
        first = (np.cumsum(per_kind.ravel()) - per_kind.ravel()).reshape(per_kind.shape)  # each run's first row
        runs, lengths = first.T.ravel(), per_kind.T.ravel()  # the runs in island order
        order = np.repeat(runs - (np.cumsum(lengths) - lengths), lengths) + np.arange(lengths.sum())
        return Candidates.concat(drawn).take(order), per_kind.sum(axis=0)


def _starts(evaluator: Evaluator, constraint: Constraint, population: Candidates, scores: Scores,
            bounds: np.ndarray, count: int) -> np.ndarray:
    """Positions of ``count`` distinct designs of ``population`` to climb from, best first: each island's best first.

    ``bounds``: island i is ``population[bounds[i]:bounds[i + 1]]``.
    """
    order = rank(scores, constraint)
    distinct = order[evaluator.genome.first_of_each(population.take(order))]  # best first
    island = np.searchsorted(bounds, distinct, side="right") - 1
    leads = np.zeros(len(distinct), dtype=bool)
    leads[np.unique(island, return_index=True)[1]] = True  # each island's best distinct design
    return np.concatenate([distinct[leads], distinct[~leads]])[:count]


class _ScoreMemo:
    """The evolution's evaluations by genome: each distinct candidate is scored once, repeats read back.

    Children of a few parents repeat each other and earlier generations (a
    quarter of a joint Ultra96-V2 search's evolution rows); every child still
    counts against the budget, as every query counts in OFA's finder.
    """

    def __init__(self, evaluator: Evaluator) -> None:
        self._evaluator = evaluator
        self._archive = EvaluationArchive(keep_parts=False)  # scores by row: nobody reads the candidates
        self._rows: dict[tuple[int, ...], int] = {}  # genome key -> its archive row

    def evaluate(self, candidates: Candidates) -> Scores:
        """:meth:`Evaluator.evaluate` of ``candidates``, predicting only the genomes not scored before."""
        keys = self._evaluator.genome.keys(candidates)
        known = self._rows
        rows = [known.get(key, -1) for key in keys]
        fresh: dict[tuple[int, ...], int] = {}  # new genome key -> its first position in ``candidates``
        for i in (i for i, row in enumerate(rows) if row < 0):
            fresh.setdefault(keys[i], i)
        everything = len(fresh) == len(keys)  # then ``fresh`` is ``keys``, in order
        if fresh:
            new = candidates if everything else candidates.take(np.fromiter(fresh.values(), np.int64, len(fresh)))
            scores = self._evaluator.evaluate(new)
            start = self._archive.append(new, scores)
            known.update(zip(fresh, range(start, start + len(fresh)), strict=True))
            if everything:
                return scores
        return self._archive.scores([known[key] for key in keys])
