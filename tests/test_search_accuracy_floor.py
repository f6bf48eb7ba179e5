"""An accuracy floor (the fastest design above a top-1), the accuracy scale in results, and ``--json``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ofa_hw.cli import main
from ofa_hw.search import InfeasibleConstraintError, search_codesign

FAST = dict(budget=1200, population=40, progress=False, seed=0)


@pytest.fixture(scope="module")
def front():
    return search_codesign(board="ultra96v2", **FAST)


def test_fastest_design_at_or_above_the_floor(front):
    accuracies = np.array([d.accuracy_top1 for d in front.pareto])
    floor = float(np.median(accuracies))
    result = search_codesign(board="ultra96v2", min_accuracy=floor, **FAST)  # same seed: the same NSGA-II run
    assert result.best.accuracy_top1 >= floor
    eligible = [d for d in result.pareto if d.accuracy_top1 >= floor]
    assert result.best.latency_ms == min(d.latency_ms for d in eligible)
    assert result.settings["min_accuracy"] == floor and "minimise latency" in result.settings["objective"]


def test_floor_with_a_latency_budget_meets_both():
    result = search_codesign(board="ultra96v2", latency_ms=12.0, min_accuracy=74.0, **FAST)
    assert result.best.accuracy_top1 >= 74.0 and result.best.latency_ms <= 12.0


def test_unreachable_floor_names_the_best_reached():
    with pytest.raises(InfeasibleConstraintError, match=r"min_accuracy=95%.*reaches \d+\.\d\d%"):
        search_codesign(board="ultra96v2", min_accuracy=95.0, **FAST)
    with pytest.raises(ValueError, match="min_accuracy must be a top-1 percentage"):
        search_codesign(board="ultra96v2", min_accuracy=150.0, **FAST)


def test_results_name_their_accuracy_scale(front):
    assert front.settings["accuracy_scale"] == "imagenet-val"
    assert front.settings["accuracy_scale_label"] == "ImageNet-val"
    raw = search_codesign(board="ultra96v2", accuracy_scale="raw", **FAST)
    assert raw.settings["accuracy_scale"] == "ofa-mlp"
    # the calibration is a constant offset on w1.2: the same run, every accuracy shifted by it
    from ofa_hw.accuracy.scale import calibration_for

    shift = calibration_for("ofa-mbv3-w1.2").offset_pp
    assert [d.accuracy_top1 for d in front.pareto] == pytest.approx([d.accuracy_top1 + shift for d in raw.pareto])


def test_cli_min_top1_and_json(tmp_path, capsys):
    args = ["search", "--board", "ultra96v2", "--budget", "1200", "--population", "40", "--no-progress",
            "--no-report", "--out", str(tmp_path)]
    assert main([*args, "--min-top1", "74", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads((tmp_path / "result.json").read_text())
    assert printed["best"]["accuracy_top1"] >= 74 and printed["settings"]["accuracy_scale"] == "imagenet-val"
    assert main([*args, "--min-top1", "74"]) == 0
    text = capsys.readouterr().out
    assert "constraint: top-1 >= 74% (ImageNet-val)" in text and "top-1 (ImageNet-val) int8 predicted" in text
