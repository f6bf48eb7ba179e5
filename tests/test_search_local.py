"""The local search that ends a constrained evolution: its moves, its budget, its gains."""

import itertools

import numpy as np
import pytest

from accel_models import get_board
from latency_tables import get_predictor
from ofa_hw.accuracy import get_predictor as get_accuracy_predictor
from ofa_hw.search import AcceleratorSpace, Candidates, Constraint, Evaluator, Scores, search_codesign
from ofa_hw.search.local import _lagrangian_combos, _single_moves, local_search
from ofa_hw.space import get_space, sample_subnets

SPACE = get_space("ofa-mbv3-w1.2")
RESOLUTIONS = (160, 176, 192, 208, 224)


@pytest.fixture(scope="module")
def evaluator():
    deployed = get_accuracy_predictor("ofa-mbv3-w1.2", quantization="int8-pow2")
    return Evaluator(SPACE, RESOLUTIONS, AcceleratorSpace.named(get_board("kv260"), "dpu"),
                     get_predictor("dpuczdx8g-joint"), deployed)


def test_lagrangian_solutions_are_the_per_group_best_moves_at_each_price():
    """Checked against a brute force over every choice of at most one move per group, at each price."""
    rng = np.random.default_rng(3)
    genes = np.zeros(6, dtype=np.int64)
    groups = np.array([0, 0, 1, 1, 1, 2])
    positions = [0, 0, 2, 2, 2, 4]
    singles = np.zeros((6, 6), dtype=np.int64)
    for m, (p, value) in enumerate(zip(positions, [1, 2, 1, 2, 3, 1], strict=True)):
        singles[m, p] = value
    gains, costs = rng.normal(0, 1, 6), rng.normal(0, 1, 6)
    combos, owner = _lagrangian_combos(genes[None], singles, groups, gains, costs, np.zeros(6, dtype=np.int64))
    assert (owner == 0).all()
    options = [[None, *np.flatnonzero(groups == g).tolist()] for g in range(3)]
    for price in [0.0, *np.abs(gains / costs)]:
        best = max(itertools.product(*options),
                   key=lambda pick: sum(gains[m] - price * costs[m] for m in pick if m is not None))
        expected = genes + sum((singles[m] - genes for m in best if m is not None), np.zeros(6, dtype=np.int64))
        assert any((row == expected).all() for row in combos), f"price {price}: {best} missing"
    assert all(len(set(np.flatnonzero(row))) <= 3 for row in combos)


def test_single_moves_cover_every_active_slot_depth_and_resolution(evaluator):
    start = Candidates(sample_subnets(1, seed=1, resolutions=RESOLUTIONS), np.zeros(1, dtype=np.int64))
    genes = evaluator.genome.encode(start)
    singles, groups, owner = _single_moves(evaluator, genes)
    assert (owner == 0).all()
    active = int((start.subnets.ks[0] != 0).sum())
    depth = start.subnets.d[0]
    # a shallower stage: one move per depth; a deeper one: one per (kernel, expand) of its new blocks
    depth_moves = sum(sum(1 if d < depth[s] else 9 for d in c if d != depth[s])
                      for s, c in enumerate(SPACE.stage_depth_choices))
    assert len(singles) == 8 * active + depth_moves + len(RESOLUTIONS) - 1
    assert len({evaluator.genome.normalised(row[None]).tobytes() for row in singles}) == len(singles)
    moved = evaluator.genome.decode(singles)
    per_stage = SPACE.n_slots // SPACE.n_stages
    for stage in range(SPACE.n_stages):
        for d in (d for d in SPACE.stage_depth_choices[stage] if d > depth[stage]):
            rows = np.flatnonzero(moved.subnets.d[:, stage] == d)
            new = slice(stage * per_stage + depth[stage], stage * per_stage + d)
            ks, e = moved.subnets.ks[rows, new], moved.subnets.e[rows, new]
            # the new blocks alike, every (kernel, expand) once, the rest of the network unchanged
            assert (ks == ks[:, :1]).all() and (e == e[:, :1]).all()
            assert sorted(zip(ks[:, 0].tolist(), e[:, 0].tolist(), strict=True)) == sorted(
                itertools.product(SPACE.kernel_choices, SPACE.expand_choices))
            old = slice(0, stage * per_stage + depth[stage])
            assert (moved.subnets.ks[rows, old] == start.subnets.ks[0, old]).all()


def test_local_search_stays_in_budget_evaluates_each_subnet_once_and_improves(evaluator):
    constraint = Constraint(latency_ms=8.0)
    rng = np.random.default_rng(0)
    draws, violation = evaluator.screen(evaluator.sample(400, rng, accelerator_genes=False), constraint, place=True)
    start = draws.take(np.flatnonzero(violation == 0)[:1])
    start_scores = evaluator.evaluate(start)

    def place(candidates):
        return evaluator.screen(candidates, constraint, place=True)

    parts = local_search(evaluator, constraint, start, start_scores, 1500, rng, place)
    found, scores = Candidates.concat([c for c, _ in parts]), Scores.concat([s for _, s in parts])
    assert 0 < len(found) <= 1500
    assert len(evaluator.genome.first_of_each(found)) == len(found)  # nothing evaluated twice
    assert np.array_equal(evaluator.on_best_accelerators(found, constraint).accelerator, found.accelerator)
    feasible = scores.latency_ms <= 8.0
    # a random start is far from a local optimum: single and paired moves raise it by whole points
    assert scores.accuracy_top1[feasible].max() > start_scores.accuracy_top1[0] + 1.0


def test_a_constrained_search_spends_exactly_its_budget():
    result = search_codesign(board="kv260", latency_ms=8.0, budget=3000, population=100, progress=False, seed=1)
    assert sum(h.evaluated for h in result.history) == 3000
    assert result.best.latency_ms <= 8.0


def test_seen_set_keeps_first_unseen_distinct_networks_only():
    from ofa_hw.search.genome import Genome
    from ofa_hw.search.local import _Seen

    genome = Genome(get_space("ofa-mbv3-w1.2"), (160, 224), n_accelerators=2)
    genes = np.random.default_rng(5).integers(0, genome.upper + 1, size=(300, genome.n_genes))
    genes[150:] = genes[:150]  # each network twice
    genes[150:, -1] = 1 - genes[150:, -1]  # on the other accelerator: still the same network
    seen = _Seen(genome)
    assert seen.first_unseen(seen.hash(genes), limit=100).tolist() == list(range(100))
    # the rest of the first half; the repeats were seen
    assert seen.first_unseen(seen.hash(genes), limit=1000).tolist() == list(range(100, 150))
    normal = genome.normalised(genes[:150])[:, :-1]
    assert len(np.unique(normal, axis=0)) == 150  # independent check that the 150 networks are distinct
    assert len(seen.first_unseen(seen.hash(genes), limit=1000)) == 0


def test_pairs_are_the_largest_summed_gains_within_the_latency_slack():
    """Checked against a brute force over every pair of moves on different groups with a lead in it."""
    from ofa_hw.search.local import _PAIR_LEADS, _best_pairs

    rng = np.random.default_rng(7)
    n_moves, n_genes = 60, 30
    groups = np.sort(rng.integers(0, 25, n_moves))
    genes = np.zeros(n_genes, dtype=np.int64)
    singles = np.zeros((n_moves, n_genes), dtype=np.int64)
    singles[np.arange(n_moves), groups] = 1 + np.arange(n_moves) % 3  # a group's moves change its own gene
    gains, costs = rng.normal(0, 1, n_moves), rng.normal(0, 1, n_moves)
    slack = 0.3
    pairs = _best_pairs(genes, singles, groups, gains, costs, slack)
    leads = set(np.argsort(-gains, kind="stable")[:_PAIR_LEADS].tolist())
    valid = sorted((gains[i] + gains[j], i, j) for i, j in itertools.combinations(range(n_moves), 2)
                   if groups[i] != groups[j] and (i in leads or j in leads) and costs[i] + costs[j] <= slack)[::-1]
    expected = [singles[i] + singles[j] for _, i, j in valid[:len(pairs)]]
    assert 0 < len(pairs) <= len(valid)
    assert {row.tobytes() for row in pairs} == {row.tobytes() for row in expected}
    assert (np.count_nonzero(pairs, axis=1) == 2).all()


def test_archive_reads_back_the_scores_and_candidates_of_every_row(evaluator):
    from ofa_hw.search.evaluate import EvaluationArchive

    archive = EvaluationArchive()
    parts = [evaluator.sample(n, np.random.default_rng(n)) for n in (700, 1, 900)]  # past the first table size
    scores = [evaluator.evaluate(c) for c in parts]
    assert [archive.append(c, s) for c, s in zip(parts, scores, strict=True)] == [0, 700, 701]
    rows = np.array([1600, 0, 700, 699, 701, 5])
    part_rows = [(2, 899), (0, 0), (1, 0), (0, 699), (2, 0), (0, 5)]
    read = archive.scores(rows)
    for field in Scores.__dataclass_fields__:
        assert getattr(read, field).tolist() == [getattr(scores[p], field)[r] for p, r in part_rows]
    for row, (p, r) in zip(rows.tolist(), part_rows, strict=True):
        encode = evaluator.genome.encode
        assert np.array_equal(encode(archive.candidate(row)), encode(parts[p].take([r])))


def test_the_rank_keys_order_as_their_definition_says():
    """:func:`rank_keys` / ``first_ranked`` / ``_top_and_key`` / ``_rank_key`` against keys built by hand.

    With ties and infeasible candidates; ``first_ranked`` also with NaN keys (which sort last).
    """
    from ofa_hw.search.evolution import first_ranked, rank, rank_keys
    from ofa_hw.search.local import _rank_key, _top_and_key

    rng = np.random.default_rng(3)
    n = 200
    latency = rng.choice([7.5, 8.0, 9.0, 10.0, 11.0], n)  # many ties, some over the limit
    accuracy = rng.choice([70.0, 71.5, 72.0], n)
    scores = Scores(latency, 1e3 / latency, accuracy, accuracy, np.zeros(n))
    for limit_ms, fps in ((9.5, None), (9.5, 120.0), (5.0, None)):
        constraint = Constraint(latency_ms=limit_ms, fps=fps)
        # by hand: feasible by accuracy then latency; infeasible by relative miss (latency, then fps) then latency
        violation = [max(t - limit_ms, 0) / limit_ms + (max(fps - 1e3 / t, 0) / fps if fps else 0) for t in latency]
        keys = [(v != 0, v if v else -float(a), float(t)) for v, a, t in zip(violation, accuracy, latency, strict=True)]
        expected = sorted(range(n), key=keys.__getitem__)  # stable: ties keep the order
        order, infeasible, primary = rank_keys(scores, constraint)
        assert order.tolist() == rank(scores, constraint).tolist() == expected
        assert [(bool(infeasible[i]), float(primary[i]), float(latency[i])) for i in range(n)] == keys
        assert [_rank_key(scores.take([i]), constraint) for i in range(n)] == keys
        top, key = _top_and_key(scores, constraint)
        assert top == expected[0] and key == keys[top] == min(keys)
        assert first_ranked(scores, constraint) == expected[0]
        for field in ("accuracy_top1", "latency_ms"):  # a NaN on the best rows: the sort's first, NaN last
            values = getattr(scores, field).copy()
            values[order[:3]] = np.nan
            broken = Scores(**{**{f: getattr(scores, f) for f in Scores.__dataclass_fields__}, field: values})
            assert first_ranked(broken, constraint) == int(rank(broken, constraint)[0])


def test_ranking_within_groups_ranks_each_group_alone_in_group_order():
    from ofa_hw.search.evolution import rank

    rng = np.random.default_rng(7)
    n = 60
    latency, accuracy = rng.choice([7.5, 9.0, 10.0], n), rng.choice([70.0, 71.0], n)
    scores = Scores(latency, 1e3 / latency, accuracy, accuracy, np.zeros(n))
    constraint = Constraint(latency_ms=9.5)
    group = rng.integers(0, 3, n)
    # by hand: group 0's rows as rank orders them alone, then group 1's, then group 2's
    expected = [int(rows[i]) for g in range(3) for rows in [np.flatnonzero(group == g)]
                for i in rank(scores.take(rows), constraint)]
    assert rank(scores, constraint, within=group).tolist() == expected


def test_candidate_parts_read_the_rows_a_join_would_hold(evaluator):
    """``CandidateParts.take`` (rows from the parts they sit in, any order, repeats) against the joined batch."""
    from ofa_hw.search.evaluate import CandidateParts

    rng = np.random.default_rng(5)
    parts = tuple(evaluator.sample(n, rng) for n in (7, 1, 12, 4))
    stored = CandidateParts(parts)
    encode = evaluator.genome.encode
    joined = np.concatenate([encode(p) for p in parts])  # the parts' genes end to end, by hand
    assert len(stored) == len(joined) == 24
    assert stored.accelerator.tolist() == joined[:, -1].tolist()
    for rows in ([23, 0, 7, 7, 19, 8, 3], list(range(24))[::-1], [11]):
        assert np.array_equal(encode(stored.take(rows)), joined[rows])
    assert len(stored.take(np.zeros(0, np.int64))) == 0
    assert np.array_equal(encode(stored.joined()), joined)


def test_a_scores_only_archive_keeps_no_candidates(evaluator):
    from ofa_hw.search.evaluate import EvaluationArchive

    archive = EvaluationArchive(keep_parts=False)
    candidates = evaluator.sample(5, np.random.default_rng(1))
    scores = evaluator.evaluate(candidates)
    assert archive.append(candidates, scores) == 0 and len(archive) == 5 and archive.parts == []
    assert archive.scores([3]).accuracy_top1.tolist() == [scores.accuracy_top1[3]]
    with pytest.raises(ValueError, match="keep_parts=False"):
        archive.candidate(0)


def test_relinking_walks_between_two_optima_and_returns_a_feasible_design_from_both(evaluator):
    from ofa_hw.search.evaluate import EvaluationArchive
    from ofa_hw.search.local import _group_columns, _relink, _Seen

    constraint = Constraint(latency_ms=8.0)
    rng = np.random.default_rng(2)
    draws, violation = evaluator.screen(evaluator.sample(400, rng, accelerator_genes=False), constraint, place=True)
    feasible = np.flatnonzero(violation == 0)
    a, b = draws.take(feasible[:1]), draws.take(feasible[1:2])
    genome = evaluator.genome
    seen, archive = _Seen(genome), EvaluationArchive()
    parts = archive.parts

    def record(candidates, scores):
        start = archive.append(candidates, scores)
        rows = seen.rows(seen.hash(genome.encode(candidates)))
        assert rows.tolist() == list(range(start, start + len(candidates)))  # the rows the walk noted for them

    seen.first_unseen(seen.hash(genome.encode(Candidates.concat([a, b]))), 2)
    middle = _relink(evaluator, constraint, a, b, lambda c: evaluator.screen(c, constraint, place=True), seen,
                     10_000, archive, record)
    assert middle is not None and parts
    assert middle[1].latency_ms[0] <= 8.0
    ends = genome.normalised(genome.encode(Candidates.concat([a, b])))[:, :-1]
    inner = genome.normalised(genome.encode(middle[0]))[0, :-1]
    assert not (ends == inner).all(axis=1).any()  # strictly between the two ends
    columns = _group_columns(genome)[:, :-1]
    # every gene group of the design is that of one end or the other (a switched-off slot's genes are 0)
    for group in columns:
        assert any((inner[group] == end[group]).all() or not inner[group].any() for end in ends)
    walked = Candidates.concat([c for c, _ in parts])
    assert len(genome.first_of_each(walked)) == len(walked)  # no network evaluated twice
    assert np.isclose(evaluator.evaluate(middle[0]).accuracy_top1[0], middle[1].accuracy_top1[0])


@pytest.mark.parametrize("budget, evolution", [(1500, 750), (6000, 25 * 50), (40_000, 8000)])
def test_the_evolution_keeps_its_generations_before_the_local_search(evaluator, budget, evolution):
    """80 % of the budget climbs, unless the evolution would keep fewer than 25 generations (up to half)."""
    from ofa_hw.search.evolution import EvolutionSettings, run_evolution

    sizes = []
    run_evolution(evaluator, Constraint(latency_ms=8.0), budget, np.random.default_rng(0),
                  EvolutionSettings(population=50), lambda generation, c, s: sizes.append(len(c)))
    # generation 0 evaluates the population, each later one 38 children (50 minus 12 parents); then the climb
    generations = 1 + int(np.ceil((evolution - 50) / 38))
    assert sizes[:generations] == [50] + [38] * (generations - 2) + [evolution - 50 - 38 * (generations - 2)]
    assert sum(sizes) == budget


def test_the_population_splits_into_even_islands_of_about_the_island_population():
    from ofa_hw.search.evolution import _island_sizes

    assert _island_sizes(400, 100) == [100, 100, 100, 100]
    assert _island_sizes(199, 100) == [199]  # under twice the island population: one island
    assert _island_sizes(250, 100) == [125, 125]
    assert _island_sizes(301, 100) == [101, 100, 100]


def test_islands_never_mix_and_each_island_best_starts_a_climber(evaluator, monkeypatch):
    """Every child's parents come from one island (the population's rows split at generation 0).

    The islands draw together: a draw's rows are island 0's, then island 1's.
    """
    from ofa_hw.search.evolution import EvolutionSettings, _starts, run_evolution

    keys = evaluator.genome.keys
    islands: list[set] = []
    draws: list[list[list[int]]] = []  # per draw, per parent argument, the island of each row's parent
    for name in ("mutate", "crossover"):
        method = getattr(evaluator, name)

        def recording(*args, method=method, **kwargs):
            if islands:
                draws.append([[next(i for i, island in enumerate(islands) if key in island) for key in keys(part)]
                              for part in args if isinstance(part, Candidates)])
            return method(*args, **kwargs)

        monkeypatch.setattr(evaluator, name, recording)

    def on_generation(generation, candidates, scores):
        if generation == 0:
            islands.extend(set(keys(candidates.take(np.arange(start, start + 20)))) for start in (0, 20))

    settings = EvolutionSettings(population=40, island_population=20, local_search_share=0.0)
    run_evolution(evaluator, Constraint(latency_ms=8.0), 70, np.random.default_rng(0), settings, on_generation)
    assert len(draws) >= 2  # generation 1's mutants and crossovers (and nothing else: 70 = 40 + 30 children)
    for parents in draws:
        assert all(column == parents[0] for column in parents)  # a crossover's two parents: one island
        assert parents[0] == sorted(parents[0]) and set(parents[0]) == {0, 1}  # island 0's rows, then island 1's

    # the climbers' starts: each island's best distinct design first, then the rest by rank
    draws, _ = evaluator.screen(evaluator.sample(8, np.random.default_rng(1), accelerator_genes=False),
                                Constraint(latency_ms=8.0), place=True)
    scores = Scores(*(np.zeros(8) if f != "accuracy_top1" else np.array([9.0, 8, 7, 6, 5, 4, 3, 2])
                      for f in Scores.__dataclass_fields__))
    assert _starts(evaluator, Constraint(latency_ms=8.0), draws, scores, np.array([0, 4, 8]), 3).tolist() == [0, 4, 1]


def test_grouped_screening_gives_each_group_its_feasible_draws_first_in_draw_order(evaluator):
    """A violation known per drawn position: each group keeps its first feasible draws, then its least violating."""
    from ofa_hw.search.evolution import screened_groups

    pool = evaluator.sample(2000, np.random.default_rng(4), accelerator_genes=False)
    position = [0]
    calls: list[list[int]] = []

    def draw(ks):
        calls.append(ks.tolist())
        rows = np.arange(position[0], position[0] + int(ks.sum()))
        position[0] += len(rows)
        return pool.take(rows), np.where(rows % 3 == 0, 0.0, 1.0 + rows % 7)  # every third draw feasible

    needs = np.array([5, 0, 12])
    drawn, rates = screened_groups(draw, needs, Constraint(latency_ms=8.0), 8, np.array([0.5, 0.5, 0.5]))
    group = np.concatenate([np.repeat(np.arange(3), ks) for ks in calls])
    rows = np.flatnonzero(group == 0)[:0]  # the expected rows, group by group
    for g, need in enumerate(needs.tolist()):
        mine = np.flatnonzero(group == g)
        violation = np.where(mine % 3 == 0, 0.0, 1.0 + mine % 7)
        rows = np.r_[rows, np.sort(mine[np.argsort(violation, kind="stable")][:need])]
    keys = evaluator.genome.keys
    assert keys(drawn) == keys(pool.take(rows))
    assert calls[0][1] == 0 and all(ks[1] == 0 for ks in calls)  # a group that needs none draws none
    assert len(calls) >= 2  # at a third feasible, the first round's 1.25 / 0.5 margin falls short
    assert rates[0] == pytest.approx(np.mean(np.flatnonzero(group == 0) % 3 == 0)) and rates[1] == 0.5


def test_climbers_on_explored_ground_are_kicked_not_the_search_ended(evaluator, monkeypatch):
    """A step with no unevaluated neighbour for any climber: the climbers restart from kicks, the budget is spent."""
    import ofa_hw.search.local as local

    constraint = Constraint(latency_ms=8.0)
    rng = np.random.default_rng(0)
    draws, violation = evaluator.screen(evaluator.sample(400, rng, accelerator_genes=False), constraint, place=True)
    start = draws.take(np.flatnonzero(violation == 0)[:2])
    step, calls = local._step, []

    def exhausted_once(evaluator, constraint, climbers, *args):
        calls.append([scores is None for _, scores in climbers])
        return None if len(calls) == 1 else step(evaluator, constraint, climbers, *args)

    monkeypatch.setattr(local, "_step", exhausted_once)
    parts = local_search(evaluator, constraint, start, evaluator.evaluate(start), 1200, rng,
                         lambda c: evaluator.screen(c, constraint, place=True))
    assert calls[1] == [True, True]  # both climbers replaced by (unscored) kicks
    assert sum(len(c) for c, _ in parts) == 1200
