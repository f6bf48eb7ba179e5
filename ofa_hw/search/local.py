"""Local search from the evolution's best designs: single moves, Lagrangian multi-move solutions, pairs, relinking.

Under a latency budget the most accurate designs sit on its boundary, where
a move that gains accuracy costs latency.  Each step evaluates every single
move of the current design (a block slot's kernel and expand together, a
stage's depth -- a deeper stage once per (kernel, expand) of its new blocks
--, the resolution; each neighbour placed on its best accelerator, as in
the evolution).  Taking those gains and latency costs as additive, "most
accuracy within the latency" is a multiple-choice knapsack over the gene
groups: its Lagrangian solutions (at a range of prices of a millisecond)
change many genes at once, and the pairs of moves with the largest summed
gain within the latency slack (a costly move paid for by a saving one)
change two; the step evaluates the ones the latency gather finds feasible,
best predicted first, and moves to the best candidate if it beats the
current one.  (An exact dynamic programme over the discretised latency in
place of the Lagrangian solutions found no better designs over 5 seeds x 4
board budgets, and cost more.)  The accuracy predictor is far from
additive over distant moves, so this finds the local optimum near a start,
not the global one: at a local optimum a climber restarts from the next
distinct elite of the evolution, then (from half of the optima, at random:
``RELINK_SHARE``) from the best design on the path from its optimum to the
best other optimum found (path relinking: one gene group at a time), else
from a mutant of one of the best optima found (iterated
local search; a kick mutates each gene with probability ``KICK_PROB``:
kicks from the best design alone, one gene in ten, kept circling in its
basin).  Four climbers step in lockstep (one evaluation per step for all
their single moves, one for all their combinations: batches of a few
hundred).  Every candidate counts against the budget; none is evaluated
twice.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np

from .evaluate import Candidates, EvaluationArchive, Evaluator, Scores
from .evolution import Constraint, rank_keys

__all__ = ["COMBOS_PER_STEP", "KICK_PROB", "PAIRS_PER_STEP", "RELINK_SHARE", "local_search"]

#: Pairs of moves evaluated per step (the best predicted among the feasible ones).
PAIRS_PER_STEP = 64
#: Lagrangian solutions (many moves at once) evaluated per step.
COMBOS_PER_STEP = 32
#: Pairs screened by the latency gather per step (the best predicted ones), and the moves that lead them.
_PAIRS_SCREENED = 160
_PAIR_LEADS = 24
#: Local optima kept as targets of path relinking.
_OPTIMA_KEPT = 8
#: Gene mutation probability of a kick (a restart from a mutant of a kept optimum).
KICK_PROB = 0.3
#: Share of the local optima (at random) a climber leaves by path relinking; from the others it kicks.
#: The islands' optima lie far apart, and a walk between them evaluates a few networks a step: relinking
#: from every optimum cost 0.08 s more a 100,000-evaluation search and found no better designs.
RELINK_SHARE = 0.5
#: A kept local optimum: its candidate, scores and rank key (computed once: the optima are re-sorted at each insertion).
_Optimum = tuple[Candidates, Scores, tuple[bool, float, float]]


def local_search(evaluator: Evaluator, constraint: Constraint, starts: Candidates, start_scores: Scores,
                 budget: int, rng: np.random.Generator,
                 place: Callable[[Candidates], tuple[Candidates, np.ndarray]], climbers: int = 4,
                 on_step: Callable[[Candidates, Scores], None] | None = None) -> list[tuple[Candidates, Scores]]:
    """Climb from ``starts`` (best first, evaluated) for ``budget`` evaluations; return what it evaluated.

    The evaluations come as (candidates, scores) parts, one per evaluation
    in order, for the caller to join with its own (one concatenation of all).

    ``climbers`` designs climb in lockstep (one evaluation per step for all
    their single moves, one for all their combinations), each replaced at
    its local optimum by the next start, then by a mutant of a kept optimum.
    ``place(candidates)`` moves candidates to their accelerators and returns
    their constraint violation (:meth:`Evaluator.screen`); ``on_step`` gets
    each step's evaluated candidates.
    """
    genome = evaluator.genome
    seen = _Seen(genome)  # the sub-networks evaluated (each is placed on its accelerator, not searched)
    seen.first_unseen(seen.hash(genome.encode(starts)), len(starts))
    archive = EvaluationArchive()
    spent = 0
    best, best_scores = starts.take([0]), start_scores.take([0])
    best_key = _rank_key(best_scores, constraint)
    queue = list(range(len(starts)))
    active: list[tuple[Candidates, Scores | None]] = [(starts.take([i]), start_scores.take([i]))
                                                      for i in queue[:climbers]]
    del queue[:climbers]
    def record(candidates: Candidates, scores: Scores) -> None:
        nonlocal spent
        archive.append(candidates, scores)
        spent += len(candidates)
        if on_step:
            on_step(candidates, scores)

    optima: list[_Optimum] = []  # the local optima reached, best first
    while spent < budget and active:
        moved = _step(evaluator, constraint, active, budget - spent, place, seen, len(archive))
        if moved is None:  # every neighbour of every climber evaluated (restarts on explored ground): kicks
            kicks = (_kick(evaluator, _kick_source(optima, best, rng), rng, place, seen) for _ in active)
            active = [(kick, None) for kick in kicks if kick is not None]
            continue
        results, candidates, scores = moved
        record(candidates, scores)
        following: list[tuple[Candidates, Scores | None]] = []
        for result, (current, current_scores) in zip(results, active, strict=True):
            if result is not None:
                if (key := _rank_key(result[1], constraint)) < best_key:  # ranks strictly first
                    (best, best_scores), best_key = result, key
                following.append(result)
                continue
            # a local optimum: the next start; else (half of the time) the best design on the path from it to
            # another optimum; else a mutant of a kept optimum
            if current_scores is not None:
                optima = _insert_optimum(optima, (current, current_scores), constraint)
            if queue:
                i = queue.pop(0)
                following.append((starts.take([i]), start_scores.take([i])))
                continue
            other = next((o for o in optima if o[0] is not current), None) if current_scores is not None else None
            if other is not None and spent < budget and rng.random() < RELINK_SHARE:
                middle = _relink(evaluator, constraint, current, other[0], place, seen, budget - spent, archive,
                                 record)
                if middle is not None:
                    following.append(middle)
                    continue
            if spent < budget and (kick := _kick(evaluator, _kick_source(optima, best, rng), rng, place,
                                                 seen)) is not None:
                following.append((kick, None))  # scored with the next step's single moves
        active = following
    return archive.parts


def _kick_source(optima: list[_Optimum], best: Candidates, rng: np.random.Generator) -> Candidates:
    """A random one of the kept ``optima`` (``best`` if none yet): kicks from the best alone circle in its basin."""
    return optima[int(rng.integers(len(optima)))][0] if optima else best


def _insert_optimum(optima: list[_Optimum], optimum: tuple[Candidates, Scores],
                    constraint: Constraint) -> list[_Optimum]:
    """``optima`` with ``optimum`` (and its rank key) added, best first, at most ``_OPTIMA_KEPT``."""
    merged = sorted([*optima, (*optimum, _rank_key(optimum[1], constraint))], key=lambda o: o[2])  # stable, as rank
    return merged[:_OPTIMA_KEPT]


def _relink(evaluator: Evaluator, constraint: Constraint, start: Candidates, target: Candidates, place,
            seen: _Seen, left: int, archive: EvaluationArchive,
            record: Callable[[Candidates, Scores], None]) -> tuple[Candidates, Scores] | None:
    """Walk from local optimum ``start`` to ``target`` one gene group at a time; the best design on the way.

    Path relinking: each step sets, of the groups (a slot's kernel and
    expand, a stage's depth, the resolution) in which the walk still
    differs from ``target``, the one whose change ranks best, so the walk
    crosses the ground between two optima that single and paired moves
    cannot.  A step evaluates (and ``record`` s) the networks not evaluated
    yet and reads the others' scores from ``archive`` (the local search's
    evaluations, at their :meth:`_Seen.rows`); those evaluated outside
    the local search are not stepped on.  Returns the best design strictly
    between the two ends that meets the constraint, if any: a climber starts
    again from it.
    """
    genome = evaluator.genome
    columns = _group_columns(genome)
    current = genome.normalised(genome.encode(start))[0]
    goal = genome.normalised(genome.encode(target))[0]
    middle: tuple[Candidates, Scores] | None = None
    middle_key = (True, 0.0, 0.0)  # the rank key of ``middle`` (read once it is set)
    while left > 0:
        differing = np.flatnonzero(((current != goal) & columns).any(axis=1))
        if len(differing) < 2:  # one group away: the next step is the target itself
            break
        rows = genome.normalised(np.where(columns[differing], goal, current))
        rows = rows[(rows != current).any(axis=1)]  # a switched-off slot's genes change nothing until its depth does
        if not len(rows):
            break
        hashes = seen.hash(rows, normalised=True)
        archived = seen.rows(hashes)
        fresh = seen.first_unseen(hashes, left, first_row=len(archive))
        stored = np.flatnonzero(archived >= 0)
        if len(fresh):
            candidates = place(genome.decode(rows[fresh], validate=False))[0]
            record(candidates, evaluator.evaluate(candidates))  # the archive's rows from the first fresh one
            left -= len(fresh)
        elif not len(stored):
            break
        # the stored rows, then the fresh ones: their scores by one gather
        positions = np.concatenate([stored, fresh])
        table_rows = np.concatenate([archived[stored], len(archive) - len(fresh) + np.arange(len(fresh))])
        top, key = _top_and_key(archive.scores(table_rows), constraint)
        if not key[0] and (middle is None or key < middle_key):
            middle, middle_key = (archive.candidate(int(table_rows[top])), archive.scores(table_rows[top:top + 1])), key
        current = rows[positions[top]]  # its accelerator gene is the start's: no group reads it
    return middle


@cache
def _group_columns(genome) -> np.ndarray:
    """(groups, n_genes) bool: the genes of each group (slots' kernel and expand, stages' depth, the resolution).

    Built once per genome (read-only).
    """
    slots, stages = genome.space.n_slots, genome.space.n_stages
    columns = np.zeros((slots + stages + 1, genome.n_genes), dtype=bool)
    columns[np.arange(slots), np.arange(slots)] = True
    columns[np.arange(slots), slots + np.arange(slots)] = True
    columns[slots + np.arange(stages + 1), 2 * slots + np.arange(stages + 1)] = True
    columns.setflags(write=False)
    return columns


def _top_and_key(scores: Scores, constraint: Constraint) -> tuple[int, tuple[bool, float, float]]:
    """(position, key) of the candidate :func:`rank` puts first: ``rank(scores)[0]`` and (infeasible, primary, latency).

    One violation for all: a walk step or a step's result ranks few candidates, where the calls, not the rows, cost.
    """
    order, infeasible, primary = rank_keys(scores, constraint)
    top = int(order[0])
    return top, (bool(infeasible[top]), float(primary[top]), float(scores.latency_ms[top]))


def _rank_key(scores: Scores, constraint: Constraint) -> tuple[bool, float, float]:
    """The sort key :func:`rank` gives a one-candidate ``scores`` (smaller ranks first; ties keep the order).

    (infeasible, minus the accuracy or the violation, latency): a climber steps only to a strictly smaller key.
    """
    return _top_and_key(scores, constraint)[1]


def _step(evaluator: Evaluator, constraint: Constraint, climbers: list[tuple[Candidates, Scores | None]], left: int,
          place, seen: _Seen, first_row: int) -> tuple[list, Candidates, Scores] | None:
    """One step of every climber: (per climber its better neighbour or ``None``, all evaluated, their scores).

    A climber's better neighbour comes with its scores.  A climber without scores (a kick) is
    evaluated with the single moves.  What the step evaluates becomes the archive's rows from
    ``first_row`` on (``seen`` notes them).
    ``None`` when no climber has an unevaluated neighbour left.
    """
    genome = evaluator.genome
    unscored = [k for k, (_, scores) in enumerate(climbers) if scores is None]
    left -= len(unscored)
    genes = genome.encode(Candidates.concat([current for current, _ in climbers]))
    all_singles, all_groups, owner = _single_moves(evaluator, genes)
    single_hashes = seen.hash(all_singles)
    kept = seen.first_unseen(single_hashes, left, first_row=first_row + len(unscored))  # after the kicks
    if not len(kept) and not unscored:
        return None
    parts = [climbers[k][0] for k in unscored]
    if len(kept):
        moved = genome.decode(all_singles[kept], validate=False)
        parts.append(place(moved)[0] if len(evaluator.accelerators) > 1 else moved)  # one accelerator: in place
    single_candidates = Candidates.concat(parts)
    single_scores = evaluator.evaluate(single_candidates)
    kick_scores = {k: single_scores.take([j]) for j, k in enumerate(unscored)}
    scored = [(current, kick_scores[k] if scores is None else scores) for k, (current, scores) in enumerate(climbers)]
    owner = np.r_[np.full(len(unscored), -1), owner[kept]]  # a kick is no neighbour of its own climber
    singles, groups = all_singles[kept], all_groups[kept]
    left -= len(kept)
    # each move's gain and latency cost over its climber; climbers with fewer than two moves combine none
    move_owner = owner[len(unscored):]
    current_top1 = np.array([scores.accuracy_top1[0] for _, scores in scored])
    current_ms = np.array([scores.latency_ms[0] for _, scores in scored])
    all_gains = single_scores.accuracy_top1[len(unscored):] - current_top1[move_owner]
    all_costs = single_scores.latency_ms[len(unscored):] - current_ms[move_owner]
    combining = np.flatnonzero(np.bincount(move_owner, minlength=len(climbers))[move_owner] >= 2)
    combos, combo_owner, lagrangian = [], [], []
    if len(combining):
        rows, row_owner = _lagrangian_combos(genes, singles[combining], groups[combining], all_gains[combining],
                                             all_costs[combining], move_owner[combining])
        combos.append(rows)
        combo_owner.append(row_owner)
        lagrangian.append(np.ones(len(rows), dtype=bool))
    for k in np.unique(move_owner[combining]).tolist():
        move = combining[move_owner[combining] == k]
        slack_ms = np.inf if constraint.latency_ms is None else constraint.latency_ms - current_ms[k]
        rows = _best_pairs(genes[k], singles[move], groups[move], all_gains[move], all_costs[move], slack_ms)
        combos.append(rows)
        combo_owner.append(np.full(len(rows), k))
        lagrangian.append(np.zeros(len(rows), dtype=bool))
    pool, pool_scores, pool_owner = [single_candidates], [single_scores], [owner]
    seen.archived(seen.hash(genes[unscored]), first_row)  # the kicks, marked seen when drawn
    next_row = first_row + len(single_candidates)
    if combos and left > 0:
        rows, row_owner = np.concatenate(combos), np.concatenate(combo_owner)
        row_lagrangian = np.concatenate(lagrangian)
        combo_candidates, violation = place(genome.decode(rows, validate=False))
        row_hashes = seen.hash(rows)
        chosen = []
        feasible_rows = np.flatnonzero(violation == 0)
        # the feasible rows of each (climber, kind), in order: one stable sort of their kinds
        kind = 2 * row_owner[feasible_rows] + ~row_lagrangian[feasible_rows]
        order = np.argsort(kind, kind="stable")
        by_kind, bounds = feasible_rows[order], np.searchsorted(kind[order], np.arange(2 * len(climbers) + 1))
        for k in range(len(climbers)):  # each climber's best predicted feasible Lagrangian solutions, then pairs
            for from_lagrangian, most in ((True, COMBOS_PER_STEP), (False, PAIRS_PER_STEP)):
                at = 2 * k + (not from_lagrangian)
                feasible = by_kind[bounds[at]:bounds[at + 1]]
                keep = feasible[seen.first_unseen(row_hashes[feasible], min(left, most), first_row=next_row)]
                chosen.append(keep)
                left -= len(keep)
                next_row += len(keep)
        keep = np.concatenate(chosen).astype(np.int64)
        if len(keep):
            pool.append(combo_candidates.take(keep))
            pool_scores.append(evaluator.evaluate(pool[-1]))
            pool_owner.append(row_owner[keep])
    candidates, scores, owners = Candidates.concat(pool), Scores.concat(pool_scores), np.concatenate(pool_owner)
    # each climber's best candidate: its first in the order of all (a stable sort keeps a subset's order)
    order, infeasible, primary = rank_keys(scores, constraint)
    present, first = np.unique(owners[order], return_index=True)
    tops = dict(zip(present.tolist(), order[first].tolist(), strict=True))
    # the climbers' rank keys by one ranking of their scores (a key is row-wise: the same as one by one)
    _, current_infeasible, current_primary = rank_keys(Scores.concat([scores for _, scores in scored]), constraint)
    results: list = []
    for k, (_, current_scores) in enumerate(scored):
        top = tops.get(k)
        if top is None:
            results.append(None)
            continue
        top_scores = scores.take([top])
        keys = ((bool(infeasible[top]), float(primary[top]), float(scores.latency_ms[top])),
                (bool(current_infeasible[k]), float(current_primary[k]), float(current_scores.latency_ms[0])))
        results.append((candidates.take([top]), top_scores) if keys[0] < keys[1] else None)
    return results, candidates, scores


def _single_moves(evaluator: Evaluator, genes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(genes (M, n_genes) of every single move, the gene group each changes, the row of ``genes`` it moves).

    ``genes`` (K, n_genes) are K designs (normalised): their moves are built
    in one batch, design by design, each design's slot moves first, then its
    stage and resolution moves.  A deeper stage switches blocks on: one move
    per (kernel, expand) of the new blocks (all of them alike), so a stage
    can grow by a block as large as the ones it has instead of only the
    smallest one.
    """
    space, genome = evaluator.space, evaluator.genome
    slots, stages = space.n_slots, space.n_stages
    n_k, n_e = len(space.kernel_choices), len(space.expand_choices)
    slot, kernel, expand, position, value = _move_table(genome)
    on = genome.slots_on  # (stage, depth index, slots per stage)
    per_stage = on.shape[2]
    slot_on = on[np.arange(stages), genes[:, 2 * slots:2 * slots + stages]].reshape(len(genes), slots)
    # a slot's moves: every other (kernel, expand) pair; a switched-off slot has none
    slot_owner, slot_move = np.nonzero((slot_on[:, slot] == 1) & ((kernel != genes[:, slot])
                                                                 | (expand != genes[:, slots + slot])))
    # a stage's depth, then the resolution: every other value of the gene; a deeper stage once per
    # (kernel, expand) of its new blocks
    current = genes[:, position]
    deeper = (position < 2 * slots + stages) & (value > current)
    copies = np.where(deeper, n_k * n_e, 1) * (value != current)
    depth_owner, depth_move = np.nonzero(copies)
    repeats = copies[depth_owner, depth_move]
    depth_owner, depth_move = np.repeat(depth_owner, repeats), np.repeat(depth_move, repeats)
    variant = np.arange(len(depth_move)) - np.repeat(np.cumsum(repeats) - repeats, repeats)  # 0.. within each copy
    # rows design by design: its slot moves, then its depth moves
    n_slot_moves = np.bincount(slot_owner, minlength=len(genes))
    n_moves = n_slot_moves + copies.sum(axis=1)
    first = np.cumsum(n_moves) - n_moves
    slot_rows = first[slot_owner] + np.arange(len(slot_owner)) - np.repeat(np.cumsum(n_slot_moves) - n_slot_moves,
                                                                           n_slot_moves)
    n_depth_moves = n_moves - n_slot_moves
    depth_rows = (first + n_slot_moves)[depth_owner] + np.arange(len(depth_owner)) - np.repeat(
        np.cumsum(n_depth_moves) - n_depth_moves, n_depth_moves)
    owner = np.repeat(np.arange(len(genes)), n_moves)
    rows = genes[owner]
    moved_slot = slot[slot_move]
    rows[slot_rows, moved_slot], rows[slot_rows, slots + moved_slot] = kernel[slot_move], expand[slot_move]
    moved_position, moved_value = position[depth_move], value[depth_move]
    rows[depth_rows, moved_position] = moved_value
    grown = np.flatnonzero(deeper[depth_owner, depth_move])
    if len(grown):
        # the new blocks of a grown stage: the slots on at the new depth but not at the current one
        stage = moved_position[grown] - 2 * slots
        new = on[stage, moved_value[grown]] - on[stage, genes[depth_owner[grown], 2 * slots + stage]]  # (G, per stage)
        columns = stage[:, None] * per_stage + np.arange(per_stage)
        target = depth_rows[grown][:, None]
        for at, choice in ((columns, variant[grown] // n_e), (slots + columns, variant[grown] % n_e)):  # kernel, expand
            rows[target, at] = np.where(new == 1, choice[:, None], rows[target, at])
    groups = np.empty(len(rows), dtype=np.int64)
    groups[slot_rows], groups[depth_rows] = moved_slot, moved_position - slots
    return rows, groups, owner


@cache
def _move_table(genome) -> tuple[np.ndarray, ...]:
    """(slot, kernel, expand) of every slot move and (gene position, value) of every depth and resolution move.

    Every choice, before the current design's own values are dropped: the same for each step, built once.
    """
    space, upper = genome.space, genome.upper
    slots, stages = space.n_slots, space.n_stages
    n_k, n_e = len(space.kernel_choices), len(space.expand_choices)
    slot = np.repeat(np.arange(slots), n_k * n_e)
    kernel, expand = np.tile(np.repeat(np.arange(n_k), n_e), slots), np.tile(np.arange(n_e), slots * n_k)
    position = np.repeat(2 * slots + np.arange(stages + 1), upper.max() + 1)
    value = np.tile(np.arange(upper.max() + 1), stages + 1)
    in_range = value <= upper[position]
    table = (slot, kernel, expand, position[in_range], value[in_range])
    for array in table:
        array.setflags(write=False)
    return table


def _lagrangian_combos(genes: np.ndarray, singles: np.ndarray, groups: np.ndarray, gains: np.ndarray,
                       costs: np.ndarray, owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(genes, the row of ``genes`` each improves) of the Lagrangian solutions of the linearised problem.

    With each move's accuracy gain and latency cost taken as additive (the
    latency is, on one accelerator), "most accuracy within the latency" is
    a multiple-choice knapsack over the gene groups; for a price ``lam`` of
    a millisecond its relaxation picks, in every group, the move of largest
    ``gain - lam * cost`` if positive.  Prices spanning the moves'
    gain / cost ratios give solutions from "every gaining move" to "only
    saving moves"; the latency gather then tells which are feasible.

    ``genes`` (K, n_genes) are the designs, ``singles`` their single moves
    (``owner``: the design each moves; a design's moves contiguous, at
    least two): the solutions of all designs at once, each design's
    largest predicted gain first.
    """
    starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])  # each design's first move
    sizes = np.diff(np.r_[starts, len(owner)])
    block = np.repeat(np.arange(len(starts)), sizes)
    ratios = np.abs(gains / np.where(costs == 0, np.inf, costs))
    ranked = ratios[np.lexsort((ratios, block))]  # sorted within each design
    n_prices = 2 * COMBOS_PER_STEP
    at = starts[:, None] + np.arange(n_prices) * (sizes[:, None] - 1) // (n_prices - 1)
    prices = np.concatenate([np.zeros((len(starts), 1)), ranked[at]], axis=1)  # (designs, prices), sorted
    distinct = np.concatenate([np.ones((len(starts), 1), dtype=bool), prices[:, 1:] != prices[:, :-1]], axis=1)
    # (M, prices) value of each move at its design's prices; a vanishing index term breaks ties (one move per group).
    # Built in place, moves by rows: a group's moves are contiguous rows, reduced row block by row block.
    value = prices[block]
    value *= costs[:, None]
    np.subtract(gains[:, None], value, out=value)
    value -= (1e-12 * (np.arange(len(owner)) - starts[block]))[:, None]
    first = np.r_[True, (groups[1:] != groups[:-1]) | (block[1:] != block[:-1])]  # a group's moves are contiguous
    group_best = np.maximum.reduceat(value, np.flatnonzero(first), axis=0).take(np.cumsum(first) - 1, axis=0)
    picked_all = value == group_best
    picked_all &= value > 0  # at most one move per group
    solutions = []
    for b, (start, size) in enumerate(zip(starts.tolist(), sizes.tolist(), strict=True)):
        mine = slice(start, start + size)
        picked = picked_all[mine][:, distinct[b]].T.astype(float, order="C")  # (prices, moves)
        design = genes[owner[start]]
        moves = np.subtract(singles[mine], design, dtype=float)  # groups change disjoint genes: the picked moves add up
        combos = design + np.rint(picked @ moves).astype(np.int64)  # a float product: BLAS, not int loops
        solutions.append(combos[np.argsort(-(picked @ gains[mine]), kind="stable")])
    return np.concatenate(solutions), np.repeat(owner[starts], [len(s) for s in solutions])


def _best_pairs(genes: np.ndarray, singles: np.ndarray, groups: np.ndarray, gains: np.ndarray, costs: np.ndarray,
                slack_ms: float) -> np.ndarray:
    """Genes of pairs of single moves on different groups with the largest summed gain, best first.

    One move of each pair is among the ``_PAIR_LEADS`` largest gains (a pair
    of two lesser moves rarely beats those).  Only pairs whose summed
    latency cost stays within ``slack_ms`` are kept: on the latency
    boundary, where a climber stops, the pairs of largest gain are two
    costly moves, infeasible, and what can still gain is a costly move
    paid for by a saving one.
    """
    leads = np.argsort(-gains, kind="stable")[:_PAIR_LEADS]
    predicted = gains[leads, None] + gains[None, :]  # (leads, moves)
    rank_of = np.full(len(gains), len(leads))
    rank_of[leads] = np.arange(len(leads))
    excluded = ((groups[leads, None] == groups[None, :]) | (rank_of[None, :] < np.arange(len(leads))[:, None])
                | (costs[leads, None] + costs[None, :] > slack_ms))
    flat = np.where(excluded, -np.inf, predicted).ravel()
    n = min(_PAIRS_SCREENED, int(np.isfinite(flat).sum()))
    top = np.argpartition(-flat, n - 1)[:n] if 0 < n < len(flat) else np.flatnonzero(np.isfinite(flat))
    top = top[np.argsort(-flat[top], kind="stable")]
    lead, move = np.divmod(top, len(gains))
    pairs = singles[leads[lead]]
    pairs += singles[move]  # the two moves change disjoint genes
    pairs -= genes
    return pairs


class _Seen:
    """The sub-networks evaluated so far, as a set of 64-bit hashes of their normalised genes.

    The hash is a sum of the genes times random odd 64-bit multipliers
    (wrapping): two distinct genomes share it with odds of about 2^-62, so
    over a search's ~10^5 candidates a collision -- which would only skip a
    candidate, never score one wrongly -- has odds below 10^-8.  A step
    checks a few hundred hashes: a Python set does that in tens of
    microseconds, where a sorted array paid a copy of itself per insertion.
    """

    def __init__(self, genome) -> None:
        self.genome = genome
        multipliers = np.random.default_rng(0x5EE7).integers(0, 2 ** 63, size=genome.n_genes - 1, dtype=np.int64)
        self._multipliers = multipliers | 1
        self._where: dict[int, int] = {}  # hash -> archive row (-1: seen, not in the archive)

    def hash(self, rows: np.ndarray, normalised: bool = False) -> np.ndarray:
        """(N,) hashes of the sub-networks of genes ``rows`` (N, n_genes); the accelerator gene is not hashed.

        ``normalised``: the rows are :meth:`Genome.normalised` already.
        """
        with np.errstate(over="ignore"):
            return (rows if normalised else self.genome.normalised(rows))[:, :-1] @ self._multipliers

    def first_unseen(self, hashes: np.ndarray, limit: int, first_row: int = -1) -> np.ndarray:
        """Positions of the first ``limit`` of ``hashes`` not seen yet, each sub-network once; marks them seen.

        ``first_row`` (if not -1): the networks kept are to be the archive's rows from it on, in order.
        """
        known = self._where
        keep: list[int] = []
        if limit > 0:
            for i, h in enumerate(hashes.tolist()):
                if h not in known:
                    known[h] = -1 if first_row < 0 else first_row + len(keep)
                    keep.append(i)
                    if len(keep) == limit:
                        break
        return np.array(keep, dtype=np.int64)

    def archived(self, hashes: np.ndarray, first_row: int) -> None:
        """Note that the networks of ``hashes`` are the archive's rows from ``first_row`` on, in order."""
        self._where.update(zip(hashes.tolist(), range(first_row, first_row + len(hashes)), strict=True))

    def rows(self, hashes: np.ndarray) -> np.ndarray:
        """(N,) archive row of each of ``hashes``; -1 if not in the archive (unseen, or evaluated elsewhere)."""
        where = self._where
        return np.array([where.get(h, -1) for h in hashes.tolist()], dtype=np.int64)


def _kick(evaluator: Evaluator, design: Candidates, rng: np.random.Generator, place, seen: _Seen,
          tries: int = 8) -> Candidates | None:
    """A feasible, not yet evaluated mutant of ``design`` (``None`` if ``tries`` rounds find none).

    Each gene mutates with probability ``KICK_PROB``.
    """
    genome = evaluator.genome
    for _ in range(tries):
        mutants, violation = place(evaluator.mutate(design.take(np.zeros(64, dtype=np.int64)), rng, KICK_PROB,
                                                    KICK_PROB, accelerator_genes=False))
        feasible = np.flatnonzero(violation == 0)
        keep = feasible[seen.first_unseen(seen.hash(genome.encode(mutants.take(feasible))), 1)]
        if len(keep):
            return mutants.take(keep)
    return None
