"""The search genome, the frozen settings and the accelerator choice of the joint search."""

import numpy as np
import pytest

from accel_models import get_board
from latency_tables import get_predictor
from ofa_hw.accuracy import get_predictor as get_accuracy_predictor
from ofa_hw.search import AcceleratorSpace, Candidates, Constraint, Evaluator, Scores, search_codesign
from ofa_hw.search.codesign import SearchSettings
from ofa_hw.search.evaluate import undominated_rows
from ofa_hw.search.evolution import _ScoreMemo
from ofa_hw.search.genome import Genome
from ofa_hw.space import get_space, sample_subnets

SPACE = get_space("ofa-mbv3-w1.2")


@pytest.mark.parametrize("validate", [True, False])
def test_decode_gives_each_gene_its_choice_and_zeroes_the_switched_off_slots(validate):
    """Against a per-value lookup of the space's choices, on genes that are not normalised."""
    space = get_space("ofa-mbv3-w1.2")
    genome = Genome(space, (160, 192, 224), n_accelerators=4)
    genes = np.random.default_rng(11).integers(0, genome.upper + 1, size=(400, genome.n_genes))
    decoded = genome.decode(genes, validate=validate)
    slots, stages = space.n_slots, space.n_stages
    per_stage = slots // stages
    for row, subnet, accelerator in zip(genes, decoded.subnets, decoded.accelerator, strict=True):
        depth = [space.stage_depth_choices[s][row[2 * slots + s]] for s in range(stages)]
        on = [slot % per_stage < depth[slot // per_stage] for slot in range(slots)]
        assert list(subnet.d) == depth and subnet.r == (160, 192, 224)[row[-2]] and accelerator == row[-1]
        assert list(subnet.ks) == [space.kernel_choices[row[i]] if on[i] else 0 for i in range(slots)]
        assert list(subnet.e) == [space.expand_choices[row[slots + i]] if on[i] else 0 for i in range(slots)]


def test_genome_bounds_encode_decode_and_errors():
    genome = Genome(SPACE, (224, 160), n_accelerators=4)
    assert genome.resolutions == (160, 224)
    assert genome.n_genes == 47 and genome.upper.tolist() == [2] * 45 + [1, 3]
    c = Candidates(sample_subnets(30, seed=2, resolutions=[160, 224]), np.arange(30) % 4)
    genes = genome.encode(c)
    assert genes.min() >= 0 and (genes <= genome.upper).all()
    back = genome.decode(genes)
    for name in ("ks", "e", "d", "r"):
        assert np.array_equal(getattr(back.subnets, name), getattr(c.subnets, name))
    genes[0, -1] = 4
    with pytest.raises(ValueError, match=r"gene 46 of genome 0 is 4, outside \[0, 3\]"):
        genome.decode(genes)
    with pytest.raises(ValueError, match=r"shape \(N, 47\)"):
        genome.decode(genes[:, :10])


def test_first_of_each_equals_numpy_unique():
    genome = Genome(SPACE, (160, 192, 224), n_accelerators=700)
    c = Candidates(sample_subnets(40, seed=5, resolutions=[160, 192, 224]), np.arange(40) * 17 % 700)
    twice = Candidates.concat([c, c.take(np.arange(40)[::-1]), c.take(np.arange(0, 40, 3))])
    _, first = np.unique(genome.encode(twice), axis=0, return_index=True)
    assert genome.first_of_each(twice).tolist() == sorted(first.tolist())
    assert len(genome.first_of_each(twice)) == 40
    keys = genome.keys(twice)  # equal keys exactly where the genomes are equal
    genes = genome.encode(twice)
    for i, j in [(0, 40 + 39), (1, 2), (5, 80 + 5 // 3), (0, 0), (3, 80 + 1)]:
        assert (keys[i] == keys[j]) == bool((genes[i] == genes[j]).all()), (i, j)
    assert len(set(keys)) == 40


def test_settings_hash_changes_with_any_field_and_round_trips_the_constraint():
    settings = SearchSettings(board="kv260", latency_ms=6.0, fps=None, space="ofa-mbv3-w1.2",
                              resolutions=(160,),
                              accelerators={"count": 1}, latency_predictor="note10", accuracy_predictor="a",
                              quantization=None, accuracy_scale="s", accuracy_scale_label="S", min_accuracy=None,
                              confidence=None, deployment={}, latency_predictor_record=None,
                              latency_validity_warnings=[], objective="o", algorithm="evolution", budget=100,
                              population=10, restarts=1, dsp_objective=False, max_utilization=1.0, seed=0)
    data = settings.to_dict()
    assert data["constraint"] == {"latency_ms": 6.0, "fps": None, "text": "latency <= 6 ms"}
    assert "latency_ms" not in data and data["resolutions"] == [160]
    from dataclasses import replace

    assert settings.checkpoint_tag() == replace(settings).checkpoint_tag()
    assert settings.checkpoint_tag() != replace(settings, seed=1).checkpoint_tag()


def test_search_codesign_takes_keywords_after_the_constraint():
    with pytest.raises(TypeError):
        search_codesign("ultra96v2", 10.0, None, "ofa-mbv3-w1.2")


def test_phone_table_search_needs_no_board():
    result = search_codesign(board=None, predictor="note10", latency_ms=25.0, quantization=None,
                             budget=600, population=50, progress=False)
    assert result.settings["board"] is None
    assert result.best.latency_ms <= 25.0
    assert result.best.accelerator == get_predictor("note10").accelerator
    with pytest.raises(ValueError, match="board=None searches the latency predictor's own device"):
        search_codesign(board=None, latency_ms=25.0, predictor="note10", accelerators=[], progress=False)


def test_undominated_rows():
    values = np.array([[1.0, 1.0], [2.0, 2.0], [0.5, 3.0], [1.0, 1.0], [3.0, 0.5]])
    assert undominated_rows(values).tolist() == [0, 2, 4]


@pytest.fixture(scope="module")
def kv260_evaluator():
    board = get_board("kv260")
    return Evaluator(SPACE, (160, 192, 224), AcceleratorSpace.from_grid(board), get_predictor("dpuczdx8g-joint"),
                     get_accuracy_predictor("ofa-mbv3-w1.2", quantization="int8-pow2"))


def test_score_memo_predicts_each_distinct_genome_once_and_returns_every_row(kv260_evaluator, monkeypatch):
    evaluator = kv260_evaluator
    c = evaluator.sample(30, np.random.default_rng(3))
    expected = evaluator.evaluate(c)
    predicted = []
    evaluate = evaluator.evaluate
    monkeypatch.setattr(evaluator, "evaluate", lambda cands: predicted.append(len(cands)) or evaluate(cands))
    memo = _ScoreMemo(evaluator)
    first = memo.evaluate(c.take(np.arange(20)))
    repeats = np.array([25, 3, 25, 19, 0, 29, 3])  # 25 and 29 new (25 twice), the others scored in the first call
    again = memo.evaluate(c.take(repeats))
    everything_known = memo.evaluate(c.take(np.array([0, 25, 0])))
    assert predicted == [20, 2]
    for scores, rows in ((first, np.arange(20)), (again, repeats), (everything_known, np.array([0, 25, 0]))):
        for field in Scores.__dataclass_fields__:
            np.testing.assert_allclose(getattr(scores, field), getattr(expected, field)[rows], rtol=1e-12)


@pytest.mark.parametrize("constraint", [Constraint(latency_ms=6.0), Constraint(latency_ms=8.0, fps=300.0)])
def test_best_accelerator_is_the_best_of_all(kv260_evaluator, constraint):
    """Checked against every accelerator of the space, evaluated one by one."""
    ev = kv260_evaluator
    subnets = sample_subnets(20, seed=4, resolutions=[160, 192, 224])
    placed = ev.on_best_accelerators(Candidates(subnets, np.zeros(20, dtype=np.int64)), constraint)
    chosen = ev.speed(placed)
    every = [ev.speed(Candidates(subnets, np.full(20, a))) for a in range(len(ev.accelerators))]
    violation = np.array([constraint.violation_of(lat, fps) for lat, fps, _ in every])  # (A, N)
    latency = np.array([lat for lat, _, _ in every])
    best_violation = violation.min(axis=0)
    assert np.allclose(constraint.violation_of(chosen[0], chosen[1]), best_violation)
    tied = np.where(violation <= best_violation + 1e-12, latency, np.inf).min(axis=0)
    assert np.allclose(chosen[0], tied)


def test_genome_of_a_space_with_a_single_block_stage_round_trips():
    space = get_space("ofa-proxyless-w1.3")
    genome = Genome(space, (160, 224), n_accelerators=2)
    c = Candidates(sample_subnets(20, seed=1, width_mult=space.width_mult, resolutions=[160, 224]), np.arange(20) % 2)
    back = genome.decode(genome.encode(c))
    assert np.array_equal(back.subnets.d, c.subnets.d) and np.array_equal(back.subnets.ks, c.subnets.ks)
    assert genome.n_genes == 2 * space.n_slots + space.n_stages + 2


def test_normalised_genes_are_those_of_the_decoded_networks():
    genome = Genome(SPACE, (160, 192, 224), n_accelerators=3)
    genes = np.random.default_rng(4).integers(0, genome.upper + 1, size=(400, genome.n_genes))
    normal = genome.normalised(genes)
    # independent: the networks built (validated) from the genes, encoded again
    assert np.array_equal(normal, genome.encode(genome.decode(genes)))
    assert (normal != genes).any()  # random genes do set switched-off slots: the test can fail
