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
    order = np.lexsort(points.T[::-1])  # by first column, ties by the next ones
    if points.shape[1] == 2:  # one sweep: a point survives if it beats every earlier y
        ys = points[order, 1]
        best_before = np.minimum.accumulate(np.concatenate([[np.inf], ys[:-1]]))
        keep = np.zeros(n, dtype=bool)
        keep[order[ys < best_before]] = True
        return keep
    keep = np.ones(n, dtype=bool)
    for position, i in enumerate(order):
        if not keep[i]:
            continue
        rest = order[position + 1:]
        dominated = np.all(points[rest] >= points[i], axis=1)
        keep[rest[dominated]] = False
    return keep


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
