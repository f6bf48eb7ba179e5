"""Pareto utilities against brute force and hand-computed areas."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from ofa_hw.search import hypervolume_2d, pareto_mask


def _brute_force(points):
    keep, seen = [], set()
    for p in points:
        dominated = any(np.all(q <= p) and np.any(q < p) for q in points)
        keep.append(not dominated and tuple(p) not in seen)
        seen.add(tuple(p))
    return np.array(keep)


@given(arrays(np.int64, st.tuples(st.integers(1, 40), st.sampled_from([2, 3])), elements=st.integers(0, 6)))
@settings(max_examples=150, deadline=None)
def test_pareto_mask_equals_brute_force(points):
    assert pareto_mask(points.astype(float)).tolist() == _brute_force(points).tolist()


def _brute_force_vectorised(points):
    """The same rule over every pair at once, in blocks of rows (for thousands of points)."""
    dominated = np.zeros(len(points), dtype=bool)
    for start in range(0, len(points), 500):
        p = points[start:start + 500, None, :]
        dominated[start:start + 500] = ((points[None] <= p).all(axis=2) & (points[None] < p).any(axis=2)).any(axis=1)
    first = np.zeros(len(points), dtype=bool)
    first[np.unique(points, axis=0, return_index=True)[1]] = True  # of identical rows the first is kept
    return ~dominated & first


@pytest.mark.parametrize("kind", ["ties", "cloud", "front"])
def test_pareto_mask_of_thousands_of_points_equals_brute_force(kind):
    """Above 4096 points the rows a sample's front dominates are dropped before the sort: the same front."""
    rng = np.random.default_rng(3)
    n = 6000
    if kind == "ties":  # few distinct values: many duplicates and ties on one axis
        x = rng.integers(0, 25, n)
        points = np.column_stack([x, 24 - x + rng.integers(0, 3, n)]).astype(float)
    elif kind == "cloud":
        points = rng.random((n, 2))
    else:  # a search's shape: accuracy rises with latency, a thin band near the front
        accuracy = rng.random(n)
        points = np.column_stack([-accuracy, 3 * accuracy + 0.2 * rng.random(n)])
    expected = _brute_force_vectorised(points)
    assert expected.sum() >= 3
    assert pareto_mask(points).tolist() == expected.tolist()


def test_hypervolume_by_hand_and_by_monte_carlo():
    front = np.array([[1.0, 4.0], [2.0, 2.0], [3.0, 1.0], [3.5, 3.5]])  # the last is dominated
    reference = np.array([4.0, 5.0])
    # strips: x in [1,2): 5-4=1 high, [2,3): 5-2=3, [3,4): 5-1=4  -> 1 + 3 + 4
    assert hypervolume_2d(front, reference) == pytest.approx(8.0)
    rng = np.random.default_rng(0)
    samples = rng.uniform([0, 0], reference, size=(200_000, 2))
    dominated = np.zeros(len(samples), dtype=bool)
    for p in front:
        dominated |= np.all(samples >= p, axis=1)
    assert hypervolume_2d(front, reference) == pytest.approx(dominated.mean() * 20.0, rel=0.02)
    assert hypervolume_2d(np.array([[5.0, 5.0]]), reference) == 0.0
    with pytest.raises(ValueError):
        hypervolume_2d(np.ones((3, 3)), reference)
