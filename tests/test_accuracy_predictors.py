"""The predictor contract, for every registered predictor and quantization."""

import subprocess
import sys

import numpy as np
import pytest

from ofa_hw.accuracy import AccuracyPredictor, get_predictor, list_predictors, list_quantizations
from ofa_hw.space import SubnetConfig, get_space, sample_subnets

PREDICTORS = list_predictors()
VARIANTS = [(name, q) for name in PREDICTORS for q in (None, *list_quantizations())]


def _population(p: AccuracyPredictor, n: int, seed: int = 0):
    return sample_subnets(n, seed=seed, width_mult=get_space(p.space).width_mult,
                          resolutions=[r for r in p.valid_resolutions if 128 <= r <= 224])


def test_registry_lists_both_spaces():
    assert PREDICTORS == ["ofa-mbv3-w1.0", "ofa-mbv3-w1.2"]
    assert list_predictors("*w1.2") == ["ofa-mbv3-w1.2"]
    assert [get_predictor(n).space for n in PREDICTORS] == PREDICTORS


@pytest.mark.parametrize("name, quantization", VARIANTS)
def test_predict_shapes_types_and_agreement(name, quantization):
    p = get_predictor(name, quantization=quantization)
    batch = _population(p, 64)
    out = p.predict(batch)
    assert out.dtype == np.float64 and out.shape == (64,)
    assert np.isfinite(out).all() and 60 < out.min() and out.max() < 90 and out.std() > 0.2
    singles = np.array([p.predict(cfg)[0] for cfg in list(batch)[:8]])
    np.testing.assert_allclose(singles, out[:8], rtol=0, atol=1e-9)
    np.testing.assert_allclose(p.predict(list(batch)[:8]), out[:8], rtol=0, atol=1e-9)
    assert get_predictor(name, quantization=quantization) is p  # one shared, immutable copy


@pytest.mark.parametrize("name", PREDICTORS)
def test_bigger_networks_predict_higher(name):
    p = get_predictor(name)
    r = max(p.valid_resolutions) if name.endswith("1.0") else 224
    w = get_space(name).width_mult
    small, large = p.predict([SubnetConfig.smallest(r=r, width_mult=w), SubnetConfig.largest(r=r, width_mult=w)])
    assert large > small + 2.0


@pytest.mark.parametrize("name", PREDICTORS)
def test_wrong_width_is_a_clear_error(name):
    p = get_predictor(name)
    other = 1.0 if name.endswith("1.2") else 1.2
    with pytest.raises(ValueError, match=f"accepts sub-networks of {name}"):
        p.predict(SubnetConfig.largest(r=224, width_mult=other))


@pytest.mark.filterwarnings("ignore:resolution.*outside the range OFA was trained on")
@pytest.mark.parametrize("name, r, scale, why", [
    ("ofa-mbv3-w1.2", 240, "imagenet-val", "OFA trained its MLP on 160..224 only"),
    ("ofa-mbv3-w1.2", 108, "raw", "OFA trained its MLP"),
    ("ofa-mbv3-w1.0", 192, "raw", "trained on ran at r=224"),
    ("ofa-mbv3-w1.0", 136, "imagenet-val", "fitted on OFA specialized nets at r 140-224 only"),
])
def test_resolution_the_predictor_cannot_encode_is_a_clear_error(name, r, scale, why):
    p = get_predictor(name, quantization="int8-pow2", scale=scale)
    with pytest.raises(ValueError, match=f"cannot encode resolution {r}; valid resolutions: .*{why}"):
        p.predict(SubnetConfig.smallest(r=r, width_mult=get_space(name).width_mult))


def test_unknown_names_are_clear_errors():
    with pytest.raises(KeyError, match="ofa-mbv3-w1.0, ofa-mbv3-w1.2"):
        get_predictor("ofa-mbv3")
    with pytest.raises(ValueError, match="int8-pow2"):
        get_predictor("ofa-mbv3-w1.2", quantization="int4")
    with pytest.raises(ValueError, match="SubnetConfig"):
        get_predictor("ofa-mbv3-w1.2").predict({"ks": [3] * 20})


def test_prediction_needs_no_torch():
    code = (
        "import sys\n"
        "from ofa_hw.accuracy import get_predictor, list_predictors\n"
        "from ofa_hw.space import sample_subnets\n"
        "for name in list_predictors():\n"
        "    p = get_predictor(name, quantization='int8-pow2')\n"
        "    width_mult = 1.0 if name.endswith('1.0') else 1.2\n"
        "    p.predict(sample_subnets(10, seed=0, width_mult=width_mult, resolutions=[224]))\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
