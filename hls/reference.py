"""Integer-only reference inference in numpy (int64 arithmetic, int8 tensors).

This is the golden model the generated C++ must match bit for bit: the same
accumulation, the same requantization (:class:`hls.fixedpoint.Requant`), the
same integer h-swish / h-sigmoid, pooling, SE scale and residual add.
Accumulators are checked against the int32 range the hardware has.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from accel_models.int8 import conv2d_int

from .errors import QuantizationError
from .graph import INPUT, plan

if TYPE_CHECKING:  # pragma: no cover
    from .quantize import QuantizedLayer, QuantizedNetwork

__all__ = ["run_int8", "run_layer"]

_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


def _check_int32(acc: np.ndarray, name: str) -> np.ndarray:
    if acc.size and (acc.min() < _INT32_MIN or acc.max() > _INT32_MAX):
        raise QuantizationError(f"layer {name!r}: accumulator {int(np.abs(acc).max())} overflows int32")
    return acc


def run_layer(q: QuantizedLayer, xs: list[np.ndarray]) -> np.ndarray:
    """One layer on int8 inputs (N, C, H, W); returns int8."""
    layer = q.layer
    x = xs[0]
    if layer.op in ("conv", "pwconv", "dwconv"):
        weight, bias = q.params()
        acc = conv2d_int(x, weight, layer.stride, layer.pad, layer.groups)
        acc += bias.astype(np.int64)[None, :, None, None]
    elif layer.op in ("fc", "se_fc"):
        weight, bias = q.params()
        acc = (x.reshape(len(x), -1).astype(np.float64) @ weight.T.astype(np.float64)).astype(np.int64)
        acc = (acc + bias.astype(np.int64)).reshape(len(x), -1, 1, 1)
    elif layer.op == "pool":
        acc = x.astype(np.int64).sum(axis=(2, 3), keepdims=True)
    elif layer.op == "scale":
        acc = x.astype(np.int64) * xs[1].astype(np.int64)
    elif layer.op == "add":
        acc = np.sum([v.astype(np.int64) << s for v, s in zip(xs, q.input_shifts, strict=True)], axis=0)
    else:
        raise QuantizationError(f"layer {layer.name!r}: op {layer.op!r} has no integer implementation")
    return q.requant.apply(_check_int32(acc, layer.name), axis=1)


def run_int8(qnet: QuantizedNetwork, x_int8: np.ndarray, keep_all: bool = False):
    """Run the network on int8 inputs.

    Parameters
    ----------
    qnet : QuantizedNetwork
    x_int8 : ndarray of int8, shape (N, C, H, W)
        Inputs at ``qnet.input_fix`` (see :meth:`QuantizedNetwork.quantize_input`).
    keep_all : bool
        Return every tensor (a dict name -> int8 array, ``"input"`` included)
        instead of only the last layer's output.
    """
    x = np.asarray(x_int8)
    if x.dtype != np.int8:
        raise ValueError(f"inputs must be int8 (quantize them with quantize_input), got {x.dtype}")
    if x.ndim != 4 or x.shape[1:] != qnet.input_shape:
        raise ValueError(f"input must have shape (N, {', '.join(map(str, qnet.input_shape))}), got {x.shape}")
    tensors = {INPUT: x}
    kept = {INPUT: x}
    layers = {q.name: q for q in qnet.layers}
    for step in plan(tuple(q.layer for q in qnet.layers)):
        out = run_layer(layers[step.layer.name], [tensors[name] for name in step.inputs])
        if keep_all:
            kept[step.layer.name] = out
        else:
            for name in step.release:
                del tensors[name]
        tensors[step.layer.name] = out
    return kept if keep_all else tensors[qnet.layers[-1].name]
