"""How well predicted accuracies match measured ones, and seeded k-fold splits."""

from __future__ import annotations

import numpy as np

__all__ = ["kfold_indices", "prediction_metrics"]


def prediction_metrics(measured: np.ndarray, predicted: np.ndarray, top_fraction: float = 0.1) -> dict:
    """Error and rank agreement of ``predicted`` against ``measured`` (both in percent).

    Returns ``rmse_pp``, ``mae_pp``, ``kendall_tau``, ``spearman``, and
    ``top_kendall_tau``: Kendall's tau among the networks whose *measured*
    accuracy lies in the top ``top_fraction`` (what matters to a search that
    picks among the best; a constant predictor scores 0), with
    ``n_top``, the number of those networks.

    Examples
    --------
    >>> m = prediction_metrics(np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 2.0, 4.0, 3.0]), top_fraction=0.5)
    >>> round(m["rmse_pp"], 4), round(m["kendall_tau"], 4), m["top_kendall_tau"], m["n_top"]
    (0.7071, 0.6667, -1.0, 2)
    """
    from scipy import stats  # slow to import; only evaluation needs it

    measured = np.asarray(measured, dtype=np.float64)
    predicted = np.asarray(predicted, dtype=np.float64)
    if measured.shape != predicted.shape or measured.ndim != 1:
        raise ValueError(f"measured and predicted must be 1-D of equal length, got {measured.shape} "
                         f"and {predicted.shape}")
    if not 0.0 < top_fraction <= 1.0:
        raise ValueError(f"top_fraction must lie in (0, 1], got {top_fraction}")
    n_top = max(2, int(round(top_fraction * measured.size)))
    if measured.size < n_top:
        raise ValueError(f"need at least {n_top} networks to compare, got {measured.size}")
    top = np.argsort(-measured, kind="stable")[:n_top]
    error = predicted - measured
    return {
        "rmse_pp": float(np.sqrt(np.mean(error ** 2))),
        "mae_pp": float(np.mean(np.abs(error))),
        "kendall_tau": _rank_correlation(stats.kendalltau, measured, predicted),
        "spearman": _rank_correlation(stats.spearmanr, measured, predicted),
        "top_kendall_tau": _rank_correlation(stats.kendalltau, measured[top], predicted[top]),
        "n_top": int(n_top),
    }


def _rank_correlation(statistic, a: np.ndarray, b: np.ndarray) -> float:
    # A constant ranking carries no order information: score it 0, not NaN.
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(statistic(a, b)[0])


def kfold_indices(n: int, k: int, seed: int | np.random.Generator) -> list[np.ndarray]:
    """``k`` disjoint test-index arrays covering ``range(n)`` after a seeded shuffle.

    Examples
    --------
    >>> folds = kfold_indices(10, 3, seed=0)
    >>> [len(f) for f in folds], sorted(np.concatenate(folds).tolist()) == list(range(10))
    ([4, 3, 3], True)
    """
    if int(k) != k or k < 2:
        raise ValueError(f"k must be an integer of at least 2, got {k!r}")
    if n < k:
        raise ValueError(f"cannot split {n} samples into {k} folds")
    permutation = np.random.default_rng(seed).permutation(n)
    return [np.sort(fold) for fold in np.array_split(permutation, k)]
