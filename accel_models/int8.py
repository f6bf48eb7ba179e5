"""The project's one numpy int8 engine: exact integer convolution and the rounding shift.

Both integer executors of the project run on it: the HLS export's golden
reference (:mod:`hls.reference`, which the generated C++ must match bit for bit)
and the off-board stand-in for a DPU in the measurement harness
(:mod:`latency_tables.harness.int8`).  Convolutions run in float64 through
BLAS: for int8 operands every product is below 2**14 and every sum of fewer
than 2**39 of them below 2**53, so the float64 result is the exact integer,
whatever the order of summation.  Requantization is ``rshift_round``: add half
an LSB, then shift right arithmetically ("round half up"), what a DPU shifter
with a rounding bit does.
"""

from __future__ import annotations

import numpy as np

__all__ = ["conv2d", "conv2d_int", "round_half_up", "rshift_round"]


def round_half_up(x: np.ndarray) -> np.ndarray:
    """Round to the nearest integer, halves towards +infinity, as int64.

    >>> round_half_up(np.array([-1.5, -0.5, 0.5, 1.49])).tolist()
    [-1, 0, 1, 1]
    """
    return np.floor(np.asarray(x, dtype=np.float64) + 0.5).astype(np.int64)


def rshift_round(v, s) -> np.ndarray:
    """``v * 2**-s`` rounded half up, for int64 ``v`` and integer ``s`` of either sign.

    A positive ``s`` adds ``2**(s-1)`` and shifts right arithmetically; a
    non-positive one multiplies by ``2**-s`` (exact).

    >>> rshift_round(np.array([5, -5, 6, -6, 3]), 1).tolist()
    [3, -2, 3, -3, 2]
    >>> rshift_round(np.array([3, -3]), -2).tolist()
    [12, -12]
    """
    v = np.asarray(v, dtype=np.int64)
    s = np.asarray(s, dtype=np.int64)
    right = np.maximum(s, 0)
    left = np.maximum(-s, 0)
    half = np.where(right > 0, np.left_shift(np.int64(1), np.maximum(right - 1, 0)), 0)
    return np.right_shift(v + half, right) * np.left_shift(np.int64(1), left)


def conv2d(x: np.ndarray, w: np.ndarray, stride: int, pad: int, groups: int) -> np.ndarray:
    """NCHW convolution without bias in float64: ``x`` (N, C, H, W), ``w`` (O, C/groups, K, K).

    Dense convolutions are one matrix product over the unfolded input (1x1: over the input itself),
    depthwise ones one multiply-add per kernel tap.

    Examples
    --------
    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> conv2d(x, np.ones((1, 1, 3, 3)), stride=2, pad=1, groups=1)[0, 0].tolist()
    [[10.0, 24.0], [51.0, 90.0]]
    """
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    n, c, h, wd = x.shape
    cout, cin_g, k, _ = w.shape
    ho = (h + 2 * pad - k) // stride + 1
    wo = (wd + 2 * pad - k) // stride + 1
    if k == 1 and stride == 1 and pad == 0 and groups == 1:
        return np.matmul(w.reshape(cout, c), x.reshape(n, c, h * wd)).reshape(n, cout, ho, wo)
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))) if pad else x
    if groups == c == cout and cin_g == 1:  # depthwise
        out = np.zeros((n, cout, ho, wo))
        for kh in range(k):
            for kw in range(k):
                patch = xp[:, :, kh:kh + stride * (ho - 1) + 1:stride, kw:kw + stride * (wo - 1) + 1:stride]
                out += patch * w[None, :, 0, kh, kw, None, None]
        return out
    windows = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(2, 3))
    windows = windows[:, :, ::stride, ::stride][:, :, :ho, :wo]
    out = np.empty((n, cout, ho, wo))
    per_group = cout // groups
    for g in range(groups):
        cols = windows[:, g * cin_g:(g + 1) * cin_g].transpose(0, 2, 3, 1, 4, 5).reshape(n, ho * wo, cin_g * k * k)
        wg = w[g * per_group:(g + 1) * per_group].reshape(per_group, -1)
        product = np.matmul(cols, wg.T)  # (N, Ho * Wo, O / groups)
        out[:, g * per_group:(g + 1) * per_group] = product.transpose(0, 2, 1).reshape(n, per_group, ho, wo)
    return out


def conv2d_int(x: np.ndarray, w: np.ndarray, stride: int, pad: int, groups: int) -> np.ndarray:
    """:func:`conv2d` of int8 (or any small integer) operands as exact int64 accumulators.

    >>> x = np.full((1, 2, 3, 3), -128, dtype=np.int8)
    >>> conv2d_int(x, np.full((1, 2, 3, 3), 127, dtype=np.int8), 1, 0, 1).ravel().tolist()
    [-292608]
    """
    for name, a in (("x", x), ("w", w)):
        if not np.issubdtype(np.asarray(a).dtype, np.integer):
            raise TypeError(f"conv2d_int takes integer operands, {name} is {np.asarray(a).dtype}")
    return conv2d(x, w, stride, pad, groups).astype(np.int64)
