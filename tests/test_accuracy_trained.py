"""The project's w1.0 predictor: measured data, the shipped model, held-out accuracy, reproducibility."""

import ast
import csv
import json

import numpy as np
import pytest
from scipy import stats

from ofa_hw.accuracy import (
    KernelRidgeModel,
    engineered_features,
    fit_kernel_ridge,
    get_predictor,
    kfold_indices,
    load_measured_accuracy,
    prediction_metrics,
)
from ofa_hw.accuracy.registry import DATA_DIR
from ofa_hw.accuracy.training import train_w10_predictor
from ofa_hw.space import SubnetConfig


@pytest.fixture(scope="module")
def measured():
    return load_measured_accuracy()


def test_deduplication_matches_a_plain_reading_of_the_files(measured):
    groups = {}
    for path in sorted(DATA_DIR.glob("mbnv3w10_*.csv")):
        for row in csv.DictReader(open(path, newline="")):
            net = ast.literal_eval(row["Sub-network"])
            active = [(s, i) for s in range(5) for i in range(net["d"][s])]
            key = (tuple(net["d"]), tuple((net["ks"][4 * s + i], net["e"][4 * s + i]) for s, i in active))
            groups.setdefault(key, []).append(float(row["Top-1 Acc (%)"]))
    assert len(measured) == len(groups) == 1851
    assert int(measured.n_repeats.sum()) == sum(len(v) for v in groups.values()) == 2012
    assert sorted(np.round(measured.top1_pct, 9)) == sorted(round(float(np.mean(v)), 9) for v in groups.values())
    spreads = [max(v) - min(v) for v in groups.values() if len(v) > 1]
    assert max(spreads) <= 0.1 and 0.005 < measured.repeat_sd_pp < 0.05
    assert set(measured.batch.r.tolist()) == {224}


def test_macs_column_equals_the_layer_model(measured):
    from ofa_hw.layers import count_macs

    for i in range(0, len(measured), 97):
        assert count_macs(measured.batch[i]) == measured.macs[i]


def test_shipped_model_is_the_fit_of_the_shipped_data(measured):
    """Refit with the stored hyperparameters on the current data: identical coefficients."""
    model = KernelRidgeModel.load(DATA_DIR / "trained_mbv3_w10_krr.npz")
    assert model.meta["n_networks"] == len(measured) and model.meta["resolutions"] == [224]
    refit = fit_kernel_ridge(engineered_features(measured.batch), measured.top1_pct, model.lam, model.gamma)
    np.testing.assert_allclose(refit.alpha, model.alpha, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(refit.x_train, model.x_train)
    assert model.meta["cv_metrics_selected"]["rmse_pp"] <= 0.08


def test_held_out_fold_reaches_the_targets(measured):
    """Fit on four fifths with the shipped hyperparameters, score the unseen fifth."""
    model = KernelRidgeModel.load(DATA_DIR / "trained_mbv3_w10_krr.npz")
    features = engineered_features(measured.batch)
    test = kfold_indices(len(measured), 5, seed=123)[0]
    train = np.setdiff1d(np.arange(len(measured)), test)
    fitted = fit_kernel_ridge(features[train], measured.top1_pct[train], model.lam, model.gamma)
    m = prediction_metrics(measured.top1_pct[test], fitted.predict(features[test]))
    assert m["rmse_pp"] <= 0.08 and m["kendall_tau"] >= 0.93 and m["top_kendall_tau"] >= 0.5
    # Sanity of the metric itself: a MACs-only ranking is far worse.
    assert stats.kendalltau(measured.top1_pct[test], measured.macs[test])[0] < 0.85


def test_training_is_reproducible_from_the_seed(measured):
    subset = measured.take(np.arange(0, len(measured), 5))  # a reduced run
    grid = {"lam": (0.01, 0.1), "gamma": (0.3,)}
    first = train_w10_predictor(seed=3, grid=grid, k=3, data=subset)
    again = train_w10_predictor(seed=3, grid=grid, k=3, data=subset)
    for name in ("x_train", "alpha", "mean", "scale"):
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name))
    assert (first.lam, first.gamma, first.meta) == (again.lam, again.gamma, again.meta)
    other = train_w10_predictor(seed=4, grid=grid, k=3, data=subset)
    assert other.meta["cv_rmse_by_grid"] != first.meta["cv_rmse_by_grid"]  # the seed drives the folds


def test_model_file_round_trip_and_atomic_write(tmp_path, measured):
    subset = measured.take(np.arange(0, 300))
    model = fit_kernel_ridge(engineered_features(subset.batch), subset.top1_pct, 0.01, 0.3, meta={"note": "x"})
    path = model.save(tmp_path / "m.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]  # no temporary left behind
    loaded = KernelRidgeModel.load(path)
    x = engineered_features(measured.batch.take(np.arange(300, 320)))
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert loaded.meta == {"note": "x"}
    with pytest.raises(ValueError, match=".npz"):
        model.save(tmp_path / "m.json")
    with pytest.raises(FileNotFoundError):
        KernelRidgeModel.load(tmp_path / "missing.npz")


def test_specialized_w10_architectures_rank_like_their_labels(shared_data):
    """OFA's 24 w1.0 specialized nets, architectures evaluated at 224 (the only measured resolution).

    Their published labels are ImageNet top-1 after 25-75 epochs of fine-tuning at their own
    resolution (140-224), so the check is loose: the predictor ranks them like the labels
    (Kendall tau >= 0.5), the one net specialized at 224 lies within 1 pp of its label, and no
    label exceeds the prediction at 224 by more than 1 pp (fine-tuning gains, lower r loses).
    """
    nets = json.loads((shared_data / "ofa" / "ofa_specialized_nets.json").read_text())
    p = get_predictor("ofa-mbv3-w1.0")
    rows = []
    for name, entry in nets.items():
        if entry["supernet"] == "ofa_mbv3_d234_e346_k357_w1.0":
            cfg = SubnetConfig.from_dict(entry)
            at_224 = SubnetConfig(cfg.ks, cfg.e, cfg.d, 224, 1.0)
            rows.append((float(name.split("top1-")[1].split("_")[0]), p.predict(at_224)[0], cfg.r))
    labels, preds, rs = map(np.array, zip(*rows, strict=True))
    assert len(rows) == 24
    assert stats.kendalltau(labels, preds)[0] >= 0.5
    assert abs(preds[rs == 224] - labels[rs == 224]).max() < 1.0
    assert (labels - preds).max() < 1.0


def test_measured_file_errors_name_the_problem(tmp_path):
    header = "Sub-network,Date,Model Parameters,Latency (ms),MACs,Top-1 Acc (%)\n"
    net = "\"{'wid': None, 'ks': [3] * 20, 'e': [3] * 20, 'd': [2] * 5, 'r': [224]}\""
    good_net = ("\"{'wid': None, 'ks': " + str([3] * 20) + ", 'e': " + str([3] * 20)
                + ", 'd': [2, 2, 2, 2, 2], 'r': [224]}\"")
    cases = {
        "columns.csv": ("a,b\n1,2\n", "expected DyNAS-T columns"),
        "expr.csv": (header + f"{net},x,1,0,1,70.0\n", "expr.csv:2"),
        "pct.csv": (header + f"{good_net},x,1,0,1,170.0\n", "not a percentage"),
        "once.csv": (header + f"{good_net},x,1,0,1,70.0\n", "measured twice"),
    }
    for filename, (text, message) in cases.items():
        path = tmp_path / filename
        path.write_text(text)
        with pytest.raises(ValueError, match=message):
            load_measured_accuracy([path])
    with pytest.raises(FileNotFoundError):
        load_measured_accuracy([])
