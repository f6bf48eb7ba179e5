"""Prediction metrics and fold splits: hand-checked values and bad inputs."""

import numpy as np
import pytest

from ofa_hw.accuracy import kfold_indices, prediction_metrics
from ofa_hw.accuracy.training import select_hyperparameters


def test_metrics_on_a_hand_worked_example():
    measured = np.array([70.0, 71.0, 72.0, 73.0, 74.0, 75.0, 76.0, 77.0, 78.0, 79.0])
    predicted = measured + np.array([0.1, -0.1, 0.1, -0.1, 0.1, -0.1, 0.1, -0.1, 0.1, -0.1])
    predicted[-2:] = [79.0, 78.0]  # swap the two best
    m = prediction_metrics(measured, predicted, top_fraction=0.2)
    # errors: eight of 0.1 and two of 1.0 -> RMSE sqrt((8 * 0.01 + 2) / 10), MAE (0.8 + 2) / 10
    assert m["rmse_pp"] == pytest.approx(np.sqrt(2.08 / 10))
    assert m["mae_pp"] == pytest.approx(0.28)
    # one discordant pair of 45 -> tau = (44 - 1) / 45; the top two are exactly that pair
    assert m["kendall_tau"] == pytest.approx(43 / 45)
    assert m["top_kendall_tau"] == pytest.approx(-1.0) and m["n_top"] == 2
    constant = prediction_metrics(measured, np.full(10, 75.0))
    assert constant["kendall_tau"] == constant["spearman"] == constant["top_kendall_tau"] == 0.0


def test_bad_metric_inputs():
    with pytest.raises(ValueError, match="equal length"):
        prediction_metrics(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="top_fraction"):
        prediction_metrics(np.arange(5.0), np.arange(5.0), top_fraction=0)


def test_folds_are_seeded_disjoint_and_complete():
    a, b = kfold_indices(23, 5, seed=1), kfold_indices(23, 5, seed=1)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert sorted(np.concatenate(a).tolist()) == list(range(23))
    assert not all(np.array_equal(x, y) for x, y in zip(a, kfold_indices(23, 5, seed=2), strict=True))
    with pytest.raises(ValueError, match="at least 2"):
        kfold_indices(10, 1, seed=0)
    with pytest.raises(ValueError, match="cannot split"):
        kfold_indices(3, 5, seed=0)


def test_bad_grids_are_rejected():
    x, y = np.random.default_rng(0).random((20, 3)), np.arange(20.0)
    with pytest.raises(ValueError, match="exactly the keys"):
        select_hyperparameters(x, y, {"lam": (1.0,), "sigma": (1.0,)})
    with pytest.raises(ValueError, match="positive"):
        select_hyperparameters(x, y, {"lam": (0.0,), "gamma": (1.0,)})
