"""The accuracy predictors' fast paths give the bits of their plain formulas.

References here are written from the model definitions, independently of the
predictors' buffers and lookups: the expression form ``relu(x @ W + b)`` of
OFA's MLP over OFA's per-config feature lists, the kernel ridge formula over
the kernel matrix, ``np.isin`` for the resolution check.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ofa_reference import spec2feats

from ofa_hw.accuracy import get_predictor, ofa_onehot
from ofa_hw.accuracy.base import _resolution_lookup
from ofa_hw.accuracy.registry import DATA_DIR
from ofa_hw.accuracy.trained import _kernel
from ofa_hw.space import sample_subnets

pytestmark = pytest.mark.filterwarnings("ignore:resolution.*outside the range OFA was trained on")



@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31), n=st.integers(1, 40), width=st.sampled_from([1.0, 1.2]))
def test_onehot_equals_ofa_feature_lists_in_both_dtypes(seed, n, width):
    batch = sample_subnets(n, seed=seed, width_mult=width, resolutions=range(112, 240, 4))
    expected = np.array([spec2feats(cfg) for cfg in batch])
    for dtype in (np.float64, np.float32):
        got = ofa_onehot(batch, dtype)
        assert got.dtype == dtype and got.flags.c_contiguous
        np.testing.assert_array_equal(got, expected.astype(dtype))


def test_mlp_is_bit_identical_to_the_expression_form():
    with np.load(DATA_DIR / "ofa_mbv3_w12_mlp.npz") as npz:
        layers = [(npz[f"{i}.weight"].T, npz[f"{i}.bias"]) for i in (0, 2, 4, 6)]
    predictor = get_predictor("ofa-mbv3-w1.2", scale="raw")
    for n in (1, 7, 300, 1000):
        batch = sample_subnets(n, seed=n, resolutions=range(160, 225, 4))
        hidden = np.array([spec2feats(cfg) for cfg in batch], dtype=np.float32)
        for weight, bias in layers[:-1]:
            hidden = np.maximum(hidden @ weight + bias, 0.0)
        expected = 100.0 * (hidden @ layers[-1][0] + layers[-1][1])[:, 0].astype(np.float64)
        np.testing.assert_array_equal(predictor.predict(batch), expected)
        assert expected.std() > 0.1 or n == 1  # a spread, so equality means something


def test_mlp_forward_takes_float64_and_float32_features_alike():
    predictor = get_predictor("ofa-mbv3-w1.2", scale="raw")
    features = ofa_onehot(sample_subnets(50, seed=3, resolutions=[160, 192, 224]))
    np.testing.assert_array_equal(predictor.predict_fraction(features),
                                  predictor.predict_fraction(features.astype(np.float32)))
    assert predictor.predict_fraction(features).dtype == np.float64


def test_kernel_ridge_equals_its_formula():
    model = get_predictor("ofa-mbv3-w1.0", scale="raw").model
    rng = np.random.default_rng(0)
    for n in (1, 129, 300):  # one row, a chunk and one, several chunks
        features = model.mean + model.scale * rng.standard_normal((n, model.n_features))
        x = (features - model.mean) / model.scale
        expected = model.y_mean + _kernel(x, model.x_train, model.gamma) @ model.alpha
        np.testing.assert_allclose(model.predict(features), expected, rtol=0, atol=1e-10)


def test_kernel_ridge_rows_do_not_depend_on_the_batch():
    model = get_predictor("ofa-mbv3-w1.0", scale="raw").model
    features = np.random.default_rng(1).standard_normal((300, model.n_features)) * model.scale + model.mean
    whole = model.predict(features)
    np.testing.assert_allclose(np.concatenate([model.predict(features[:1]), model.predict(features[1:])]), whole,
                               rtol=0, atol=1e-10)


@given(valid=st.lists(st.integers(32, 448), min_size=1, max_size=30, unique=True),
       r=st.lists(st.integers(-5, 600), min_size=1, max_size=30))
def test_resolution_lookup_agrees_with_isin(valid, r):
    r = np.asarray(r, dtype=np.int64)
    lookup = _resolution_lookup(tuple(sorted(valid)))
    np.testing.assert_array_equal(lookup.take(r, mode="clip"), np.isin(r, valid))


def test_calibrated_w10_predictor_rejects_a_bad_scoring_resolution():
    from ofa_hw.accuracy.scale import CalibratedPredictor, calibration_for

    base = get_predictor("ofa-mbv3-w1.0", scale="raw")
    with pytest.raises(ValueError, match="resolution 226"):
        CalibratedPredictor(base, calibration_for("ofa-mbv3-w1.0"), score_at=226)


def test_onehot_refuses_a_space_with_other_slots():
    with pytest.raises(ValueError, match="20 block slots.*ofa-proxyless-w1.3 has 24"):
        ofa_onehot(sample_subnets(3, seed=0, width_mult=1.3, resolutions=[224]))
