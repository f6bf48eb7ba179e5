"""Training and cross-validation of the project's w1.0 predictor on the measured data.

``train_w10_predictor(seed)`` is what ``scripts/train_accuracy_predictor.py``
runs: features of the deduplicated measured networks, hyperparameters
(``lam``, ``gamma``) chosen by seeded k-fold cross-validation RMSE, then one
fit on all networks.  The same seed gives identical arrays.
``nested_cross_validation`` gives honest out-of-fold predictions (the
hyperparameters of each outer fold are chosen on its training part only).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from .encoding import engineered_features
from .measured import MeasuredAccuracy, load_measured_accuracy
from .metrics import kfold_indices, prediction_metrics
from .trained import KernelRidgeModel, fit_kernel_ridge

__all__ = [
    "DEFAULT_GRID",
    "cross_validated_predictions",
    "nested_cross_validation",
    "select_hyperparameters",
    "train_w10_predictor",
]

#: Hyperparameter grid searched by default (noise variance ``lam``, RBF width ``gamma``).
DEFAULT_GRID: Mapping[str, tuple[float, ...]] = {"lam": (0.003, 0.01, 0.03), "gamma": (0.1, 0.3, 1.0)}

FitFn = Callable[[np.ndarray, np.ndarray], Callable[[np.ndarray], np.ndarray]]


def _check_grid(grid: Mapping[str, Sequence[float]]) -> list[tuple[float, float]]:
    if set(grid) != {"lam", "gamma"}:
        raise ValueError(f"grid must have exactly the keys ['gamma', 'lam'], got {sorted(grid)}")
    pairs = list(itertools.product(grid["lam"], grid["gamma"]))
    if not pairs or any(v <= 0 for pair in pairs for v in pair):
        raise ValueError(f"grid values must be positive and non-empty, got {dict(grid)}")
    return [(float(lam), float(gamma)) for lam, gamma in pairs]


def _krr(lam: float, gamma: float) -> FitFn:
    return lambda x, y: fit_kernel_ridge(x, y, lam, gamma).predict


def cross_validated_predictions(features: np.ndarray, targets: np.ndarray, fit: FitFn,
                                folds: Sequence[np.ndarray]) -> np.ndarray:
    """Out-of-fold predictions: each fold predicted by ``fit`` on the other folds."""
    predicted = np.full(len(targets), np.nan)
    everything = np.arange(len(targets))
    for fold in folds:
        train = np.setdiff1d(everything, fold)
        predicted[fold] = fit(features[train], targets[train])(features[fold])
    if np.isnan(predicted).any():
        raise ValueError("the folds do not cover every sample")
    return predicted


def select_hyperparameters(features: np.ndarray, targets: np.ndarray, grid: Mapping = DEFAULT_GRID,
                           k: int = 5, seed: int = 0) -> tuple[float, float, dict]:
    """(lam, gamma) with the lowest k-fold RMSE, and the RMSE of every grid point."""
    folds = kfold_indices(len(targets), k, seed)
    scores = {}
    for lam, gamma in _check_grid(grid):
        predicted = cross_validated_predictions(features, targets, _krr(lam, gamma), folds)
        scores[(lam, gamma)] = float(np.sqrt(np.mean((predicted - targets) ** 2)))
    lam, gamma = min(scores, key=lambda pair: (scores[pair], pair))
    return lam, gamma, scores


def nested_cross_validation(features: np.ndarray, targets: np.ndarray, grid: Mapping = DEFAULT_GRID,
                            k: int = 5, seed: int = 0, progress: bool = False) -> tuple[np.ndarray, list]:
    """Out-of-fold predictions with hyperparameters chosen inside each outer training set.

    Returns the (N,) predictions and the (lam, gamma) chosen for each outer fold.
    """
    from tqdm.auto import tqdm

    rng = np.random.default_rng(seed)
    outer = kfold_indices(len(targets), k, rng)
    predicted = np.full(len(targets), np.nan)
    chosen = []
    everything = np.arange(len(targets))
    for fold in tqdm(outer, desc="outer folds", disable=not progress):
        train = np.setdiff1d(everything, fold)
        inner_seed = int(rng.integers(2**31))
        lam, gamma, _ = select_hyperparameters(features[train], targets[train], grid, k, inner_seed)
        predicted[fold] = fit_kernel_ridge(features[train], targets[train], lam, gamma).predict(features[fold])
        chosen.append((lam, gamma))
    return predicted, chosen


def _data_digest(data: MeasuredAccuracy) -> str:
    digest = hashlib.sha256()
    for array in (data.batch.ks, data.batch.e, data.batch.d, data.batch.r, data.top1_pct):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def train_w10_predictor(seed: int = 0, grid: Mapping = DEFAULT_GRID, k: int = 5,
                        data: MeasuredAccuracy | None = None) -> KernelRidgeModel:
    """Fit the w1.0 predictor on all measured networks; same seed -> identical model.

    The model's ``meta`` records the seed, the grid, the chosen hyperparameters,
    their cross-validation figures and a digest of the training data.
    """
    data = load_measured_accuracy() if data is None else data
    if data.batch.space.name != "ofa-mbv3-w1.0":
        raise ValueError(f"the w1.0 predictor trains on ofa-mbv3-w1.0 networks, got {data.batch.space.name}")
    features = engineered_features(data.batch)
    targets = data.top1_pct
    lam, gamma, scores = select_hyperparameters(features, targets, grid, k, seed)
    folds = kfold_indices(len(targets), k, seed)
    cv = prediction_metrics(targets, cross_validated_predictions(features, targets, _krr(lam, gamma), folds))
    meta = {
        "seed": int(seed),
        "k": int(k),
        "grid": {key: list(map(float, values)) for key, values in grid.items()},
        "cv_rmse_by_grid": {f"lam={lam_}|gamma={gamma_}": score for (lam_, gamma_), score in scores.items()},
        "cv_metrics_selected": cv,
        "n_networks": int(len(targets)),
        "resolutions": sorted(set(data.batch.r.tolist())),
        "data_digest": _data_digest(data),
        "noise_floor_pp": data.repeat_sd_pp,
    }
    return fit_kernel_ridge(features, targets, lam, gamma, meta=meta)
