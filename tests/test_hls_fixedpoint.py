"""Integer primitives of hls, checked against exact rational arithmetic and float formulas."""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hls.errors import QuantizationError
from hls.fixedpoint import (
    FIX_RANGE,
    HSIG_MULT,
    HSIG_SHIFT,
    Requant,
    fix_position,
    fix_position_mse,
    make_requant,
    requant_from_ratio,
    rshift_round,
)


def _round_half_up(q: Fraction) -> int:
    return math.floor(q + Fraction(1, 2))


@given(st.integers(-(2**40), 2**40), st.integers(-12, 30))
def test_rshift_round_is_exact_half_up_rounding(v, s):
    assert int(rshift_round(np.int64(v), s)) == _round_half_up(Fraction(v, 1) * Fraction(2) ** -s)


@given(st.floats(1e-9, 1e4, allow_nan=False))
def test_requant_multiplier_approximates_the_ratio(ratio):
    mult, shift = requant_from_ratio(np.array([ratio]))
    m, s = int(mult[0]), int(shift[0])
    assert m == 1 or 2**14 <= m < 2**15
    assert abs(Fraction(m) * Fraction(2) ** -s - Fraction(ratio)) <= Fraction(ratio) * Fraction(1, 2**15)


@pytest.mark.parametrize("exponent", [-20, -3, 0, 5])
def test_power_of_two_ratio_is_a_pure_shift(exponent):
    mult, shift = requant_from_ratio(np.array([2.0**exponent]))
    assert (int(mult[0]), int(shift[0])) == (1, -exponent)


@given(st.floats(1e-4, 1e4, allow_nan=False))
def test_fix_position_is_the_finest_without_overflow(amax):
    f = fix_position(amax)
    assert _round_half_up(Fraction(amax) * Fraction(2) ** f) <= 127
    assert _round_half_up(Fraction(amax) * Fraction(2) ** (f + 1)) > 127


def test_fix_position_edge_cases():
    assert fix_position(0.0) == 7
    with pytest.warns(UserWarning, match="clamped"):
        assert fix_position(1e-12) == FIX_RANGE[1]
    with pytest.raises(QuantizationError, match="largest magnitude"):
        fix_position(float("nan"))


def test_mse_fix_position_trades_outliers_for_resolution():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_normal(10_000) * 0.1, [5.0]])  # one outlier
    f_max, f_mse = fix_position(5.0), fix_position_mse(x)
    assert f_mse > f_max
    err = [np.mean((np.clip(np.floor(x * 2.0**f + 0.5), -128, 127) * 2.0**-f - x) ** 2) for f in (f_max, f_mse)]
    assert err[1] < err[0]


def _float_act(x, activation):
    relu6 = np.clip(x + 3.0, 0.0, 6.0)
    return {"h_swish": x * relu6 / 6.0, "h_sigmoid": relu6 / 6.0, "relu6": np.clip(x, 0.0, 6.0),
            "relu": np.maximum(x, 0.0), "none": x}[activation]


@pytest.mark.parametrize("activation", ["none", "relu", "relu6", "h_swish", "h_sigmoid"])
@pytest.mark.parametrize("out_fix", [-2, 3, 5, 7, 12, 24])
def test_integer_activation_tracks_the_float_one(activation, out_fix):
    acc_scale = 2.0**-10
    acc = np.arange(-(2**17), 2**17, 7, dtype=np.int64)
    rq = make_requant(np.array([acc_scale]), out_fix, activation)
    got = rq.apply(acc[None, :], axis=0)[0].astype(np.float64) * 2.0**-out_fix
    want = np.clip(_float_act(acc * acc_scale, activation), -128 * 2.0**-out_fix, 127 * 2.0**-out_fix)
    lsb = 2.0**-out_fix
    # half an output LSB of rounding, plus h-sigmoid's 2731/16384 ~ 1/6 and the intermediate rounding
    tolerance = 0.5 * lsb + (2e-4 * np.abs(want) if activation.startswith("h_") else 0) + 2.0**-max(out_fix + 4, 0)
    assert np.all(np.abs(got - want) <= tolerance + 1e-12)


def test_requant_per_channel_and_relu6_bound():
    rq = make_requant(np.array([2.0**-9, 3 * 2.0**-9]), out_fix=4, activation="relu6")
    assert rq.hi == 96 and not rq.per_tensor
    out = rq.apply(np.array([[[100, 10_000]], [[100, 10_000]]]).reshape(2, 1, 2).transpose(1, 0, 2), axis=1)
    assert out[0, 0].tolist() == [3, 96] and out[0, 1].tolist() == [9, 96]


def test_hsigmoid_constant_is_a_sixth():
    assert abs(6 * HSIG_MULT / 2**HSIG_SHIFT - 1) < 2**-12  # 1.00012


def test_requant_validates():
    with pytest.raises(ValueError, match="unknown activation"):
        Requant(np.array([1]), np.array([0]), "gelu")
    with pytest.raises(ValueError, match="one length"):
        Requant(np.array([1, 1]), np.array([0]))
    with pytest.raises(QuantizationError, match="no integer implementation"):
        make_requant(np.array([1.0]), 0, "swish")


@settings(max_examples=30)
@given(st.integers(-20, 30), st.sampled_from(["h_swish", "h_sigmoid"]))
def test_hswish_products_fit_int64_for_any_fix_position(out_fix, activation):
    rq = make_requant(np.array([2.0**-12]), out_fix, activation)
    acc = np.array([-(2**31), -1, 0, 1, 2**31 - 1], dtype=np.int64)
    out = rq.apply(acc[None, :], axis=0)
    assert out.dtype == np.int8
    assert int(out[0, 0]) == 0  # very negative inputs: h_swish and h_sigmoid are 0
