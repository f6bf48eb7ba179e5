"""Convolution in numpy over float64, shared by the float and the integer executors.

The integer executor feeds int8 values: every product is below 2**14 and
every sum below 2**53, so float64 arithmetic (and BLAS) is exact for them,
whatever the order of summation.
"""

from __future__ import annotations

import numpy as np

__all__ = ["conv2d"]


def conv2d(x: np.ndarray, w: np.ndarray, stride: int, pad: int, groups: int) -> np.ndarray:
    """NCHW convolution without bias: ``x`` (N, C, H, W), ``w`` (O, C/groups, K, K).

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
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad))) if pad else x
    out = np.zeros((n, cout, ho, wo), dtype=np.float64)
    depthwise = groups == c == cout and cin_g == 1
    for kh in range(k):
        for kw in range(k):
            patch = xp[:, :, kh:kh + stride * (ho - 1) + 1:stride, kw:kw + stride * (wo - 1) + 1:stride]
            if depthwise:
                out += patch * w[None, :, 0, kh, kw, None, None]
                continue
            for g in range(groups):
                ci, co = slice(g * cin_g, (g + 1) * cin_g), slice(g * (cout // groups), (g + 1) * (cout // groups))
                # tensordot -> BLAS; result (O_g, N, Ho, Wo)
                out[:, co] += np.tensordot(w[co, :, kh, kw], patch[:, ci], axes=([1], [1])).transpose(1, 0, 2, 3)
    return out
