"""Accuracy scales: the calibration to ImageNet-val, its leave-one-out check, and scale names everywhere."""

from __future__ import annotations

import contextlib
import json
import re

import numpy as np
import pytest
from scipy.stats import kendalltau

from ofa_hw import SubnetConfig
from ofa_hw.accuracy import get_predictor
from ofa_hw.accuracy.scale import calibration_for, fit_calibration, load_specialized_nets
from ofa_hw.ofa_dicts import parse_subnet_dict


def _published(shared_data, width: float) -> list[tuple[SubnetConfig, float]]:
    """(config, published top-1) of OFA's specialized nets of one width, read straight from the shared file."""
    nets = json.loads((shared_data / "ofa" / "ofa_specialized_nets.json").read_text())
    out = []
    for name, data in nets.items():
        if data["supernet"].endswith(f"_w{width}") and data["supernet"].startswith("ofa_mbv3"):
            with pytest.warns(UserWarning) if data["r"][0] > 224 else contextlib.nullcontext():
                cfg = SubnetConfig(**parse_subnet_dict(data))
            out.append((cfg, float(re.search(r"top1-([\d.]+)_", name).group(1))))
    return out


def test_shipped_nets_equal_the_reference_file(shared_data):
    shipped = {(n.config, n.top1_pct) for n in load_specialized_nets()}
    reference = set(_published(shared_data, 1.2)) | set(_published(shared_data, 1.0))
    assert shipped == reference and len(shipped) == 34


def test_w12_offset_is_the_mean_gap_and_leave_one_out_by_hand(shared_data):
    raw = get_predictor("ofa-mbv3-w1.2", scale="raw")
    nets = [(c, t) for c, t in _published(shared_data, 1.2) if 160 <= c.r <= 224]
    assert len(nets) == 6  # the other four sit at 228-260, where the MLP was never trained
    gap = np.array([t - raw.predict(c)[0] for c, t in nets])
    cal = calibration_for("ofa-mbv3-w1.2")
    assert cal.offset_pp == pytest.approx(gap.mean(), abs=1e-9) and cal.slope_pp_per_px == 0.0
    assert -3.7 < cal.offset_pp < -3.2  # the finding: the MLP reads 3.2-3.6 pp high
    loo = np.array([g - np.delete(gap, i).mean() for i, g in enumerate(gap)])
    assert cal.loo_rmse_pp == pytest.approx(np.sqrt(np.mean(loo ** 2)), abs=1e-9)
    assert cal.loo_rmse_pp < 0.3
    calibrated = get_predictor("ofa-mbv3-w1.2")
    errors = [calibrated.predict(c)[0] - t for c, t in nets]
    assert max(abs(e) for e in errors) == pytest.approx(cal.residual_max_pp) and cal.residual_max_pp < 0.3


def test_w10_scores_every_specialized_net_and_ranks_them(shared_data):
    nets = _published(shared_data, 1.0)
    assert len(nets) == 24 and min(c.r for c, _ in nets) == 140
    p = get_predictor("ofa-mbv3-w1.0")
    predicted = p.predict([c for c, _ in nets])
    published = np.array([t for _, t in nets])
    assert np.sqrt(np.mean((predicted - published) ** 2)) < 0.35
    assert kendalltau(predicted, published).statistic > 0.75
    cal = calibration_for("ofa-mbv3-w1.0")
    assert cal.slope_pp_per_px > 0 and cal.loo_rmse_pp < 0.4  # smaller images cost accuracy, as published
    # The raw (measured-only) predictor knows r = 224 alone and refuses the others with the reason.
    with pytest.raises(ValueError, match="ran at r=224"):
        get_predictor("ofa-mbv3-w1.0", scale="raw").predict(nets[0][0])


def test_leave_one_out_with_a_slope_by_hand():
    raw, published, r = [70.0, 72.0, 73.0, 74.0], [68.0, 71.0, 72.5, 74.0], [160, 192, 208, 224]
    cal = fit_calibration(raw, published, r, with_slope=True, source_scale="ofa-mlp", nets="abcd")
    gap, x = np.subtract(published, raw), np.subtract(r, 224.0)
    loo = []
    for i in range(4):
        keep = np.arange(4) != i
        slope, offset = np.polyfit(x[keep], gap[keep], 1)
        loo.append(gap[i] - (offset + slope * x[i]))
    assert cal.loo_rmse_pp == pytest.approx(np.sqrt(np.mean(np.square(loo))))
    slope, offset = np.polyfit(x, gap, 1)
    assert (cal.offset_pp, cal.slope_pp_per_px) == pytest.approx((offset, slope))
    with pytest.raises(ValueError, match="at least 3 nets"):
        fit_calibration([1.0], [1.0], [224], with_slope=False, source_scale="ofa-mlp", nets="a")


@pytest.mark.parametrize("quantization", [None, "int8-pow2"])
def test_every_predictor_names_its_scale(quantization):
    for name in ("ofa-mbv3-w1.2", "ofa-mbv3-w1.0"):
        assert get_predictor(name, quantization).scale.name == "imagenet-val"
        assert "ImageNet-val scale" in repr(get_predictor(name, quantization))
    assert get_predictor("ofa-mbv3-w1.2", quantization, scale="raw").scale.name == "ofa-mlp"
    assert get_predictor("ofa-mbv3-w1.0", quantization, scale="raw").scale.name == "imagenet-val-inherited"
    with pytest.raises(ValueError, match="unknown accuracy scale 'top5'"):
        get_predictor("ofa-mbv3-w1.2", quantization, scale="top5")


def test_calibration_shifts_without_reordering():
    from ofa_hw import sample_subnets

    batch = sample_subnets(50, seed=3, resolutions=[176, 224])
    raw = get_predictor("ofa-mbv3-w1.2", scale="raw").predict(batch)
    val = get_predictor("ofa-mbv3-w1.2").predict(batch)
    assert np.allclose(val - raw, calibration_for("ofa-mbv3-w1.2").offset_pp)
