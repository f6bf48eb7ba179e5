"""Pareto fronts of designs: non-domination and the 2-D hypervolume."""

from __future__ import annotations

import numpy as np

__all__ = ["hypervolume_2d", "pareto_mask"]


def pareto_mask(minimise: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows of ``minimise`` (N, K) that no other row dominates.

    A row dominates another when it is no worse in every column and better in
    at least one.  Duplicate rows are kept once (the first).

    Examples
    --------
    >>> pareto_mask(np.array([[1.0, 5.0], [2.0, 2.0], [3.0, 3.0], [1.0, 5.0]])).tolist()
    [True, True, False, False]
    """
    points = np.asarray(minimise, dtype=float)
    if points.ndim != 2:
        raise ValueError(f"expected an (N, K) array of objectives, got shape {points.shape}")
    n = points.shape[0]
    if points.shape[1] == 2:
        keep = np.zeros(n, dtype=bool)
        rows = _not_dominated_by_a_sample(points)
        keep[rows[_front_2d(points[rows])]] = True
        return keep
    order = np.lexsort(points.T[::-1])  # by first column, ties by the next ones
    keep = np.ones(n, dtype=bool)
    for position, i in enumerate(order):
        if not keep[i]:
            continue
        rest = order[position + 1:]
        dominated = np.all(points[rest] >= points[i], axis=1)
        keep[rest[dominated]] = False
    return keep


def _front_2d(points: np.ndarray) -> np.ndarray:
    """Positions of the non-dominated rows of (N, 2) ``points``: one sort and a sweep.

    A point survives if it beats every earlier y in the order by x, ties by y.
    """
    order = np.lexsort(points.T[::-1])
    ys = points[order, 1]
    best_before = np.minimum.accumulate(np.concatenate([[np.inf], ys[:-1]]))
    return order[ys < best_before]


#: Above this many points, :func:`pareto_mask` drops those a sample's front dominates before sorting.
_SAMPLED_ABOVE = 4096


def _not_dominated_by_a_sample(points: np.ndarray) -> np.ndarray:
    """Rows of (N, 2) ``points`` in order, less (for large N) those strictly dominated by a strided sample's front.

    The sweep of :func:`_front_2d` over the rows left gives the same front: a dropped row is dominated by a
    sample point that stays (strict domination ends in a point nothing dominates), so it was never on the
    front, and a front point's earlier rows only lose ones that did not beat it.  A search's ~10^5
    candidates sort in 0.015 s; its front is a few hundred of them, the sample's front leaves a few thousand.
    """
    n = len(points)
    rows = np.arange(n)
    if n <= _SAMPLED_ABOVE or not np.isfinite(points).all():
        return rows
    sample = points[::n // 1024]
    front = sample[_front_2d(sample)]  # by increasing x, so by decreasing y: no two share either
    # each point's pivot of largest x <= its own has the least y of the pivots that may dominate it
    # (a first pivot at (-inf, inf) dominates nothing)
    pivot_x, pivot_y = np.r_[-np.inf, front[:, 0]], np.r_[np.inf, front[:, 1]]
    x, y = points[:, 0], points[:, 1]
    at = np.searchsorted(pivot_x, x, side="right") - 1
    least_x, least_y = pivot_x[at], pivot_y[at]
    dominated = (least_y <= y) & ((least_x < x) | (least_y < y))
    return rows[~dominated]


def hypervolume_2d(minimise: np.ndarray, reference: np.ndarray) -> float:
    """Area dominated by 2-D points (both minimised) and bounded by ``reference``.

    Points not strictly better than the reference in both objectives add
    nothing.

    Examples
    --------
    >>> hypervolume_2d(np.array([[1.0, 2.0], [2.0, 1.0]]), np.array([3.0, 3.0]))
    3.0
    """
    points = np.asarray(minimise, dtype=float)
    reference = np.asarray(reference, dtype=float)
    if points.ndim != 2 or points.shape[1] != 2 or reference.shape != (2,):
        raise ValueError("hypervolume_2d takes (N, 2) points and a reference of 2 values")
    inside = np.all(points < reference, axis=1)
    front = points[inside][pareto_mask(points[inside])] if inside.any() else points[:0]
    front = front[np.argsort(front[:, 0])]
    area, previous_y = 0.0, reference[1]
    for x, y in front:
        area += (reference[0] - x) * (previous_y - y)
        previous_y = y
    return float(area)
