"""Integer-only execution of a unit's layers in numpy: the off-board stand-in for a compiled DPU program.

Weights are int8, biases int32, activations int8; every layer accumulates
exactly in integers and requantizes with a rounding right shift, as a DPU does,
on the project's one numpy int8 engine (:mod:`accel_models.int8`, which the
HLS export's golden reference runs on too).  The activation functions use the
integer forms of DPU-style fixed point (activations read as Q4.3 values, so
``h_swish(q) = q * clip(q + 24, 0, 48) // 48``, ``h_sigmoid`` gives a Q0.7
gate for the SE scale).

Only timing is measured with this, so the weights are random; what matters
is that the arithmetic and memory traffic of every layer really happen.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from accel_models.int8 import conv2d_int, rshift_round
from accel_models.layer import Layer

__all__ = ["Int8Unit"]

_FRAC_BITS = 3  # activations are Q4.3: 3 is represented by 24
_THREE, _SIX = 3 << _FRAC_BITS, 6 << _FRAC_BITS


def _requantize(acc: np.ndarray, shift: int) -> np.ndarray:
    return np.clip(rshift_round(acc, shift), -128, 127).astype(np.int8)


def _activate(x: np.ndarray, activation: str) -> np.ndarray:
    if activation == "none":
        return x
    wide = x.astype(np.int32)
    if activation == "relu":
        out = np.maximum(wide, 0)
    elif activation == "relu6":
        out = np.clip(wide, 0, _SIX)
    elif activation == "h_swish":
        out = wide * np.clip(wide + _THREE, 0, _SIX) // _SIX
    elif activation == "h_sigmoid":
        out = np.clip(wide + _THREE, 0, _SIX) * 127 // _SIX  # Q0.7 gate in [0, 127]
    else:
        raise ValueError(f"activation {activation!r} has no int8 form; "
                         "supported: none, relu, relu6, h_swish, h_sigmoid")
    return np.clip(out, -128, 127).astype(np.int8)


def _shift_for(fan_in: int) -> int:
    # Keeps the output about as large as the input: the accumulator of fan_in int8 x int8
    # products grows like sqrt(fan_in) * 127 * |x|.
    return max(0, round(math.log2(math.sqrt(fan_in) * 127)))


@dataclass(frozen=True, eq=False)
class Int8Unit:
    """The layers of one unit with int8 parameters, runnable on int8 input.

    Parameters
    ----------
    layers : sequence of Layer
        The unit in execution order (``Layer.inputs`` name each operand).
    weights : mapping of str to numpy.ndarray
        Per layer name: ``"<name>/w"`` int8 weights, ``"<name>/b"`` int32 bias.

    Examples
    --------
    >>> from accel_models import BlockSpec
    >>> spec = BlockSpec.from_key("Logits-input:1x1x16-output:4")
    >>> unit = Int8Unit.random(spec.layers(), np.random.default_rng(0))
    >>> out = unit.run(np.ones(spec.in_shape, dtype=np.int8))
    >>> out.shape, out.dtype
    ((4, 1, 1), dtype('int8'))
    """

    layers: tuple[Layer, ...]
    weights: Mapping[str, np.ndarray]

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        for layer in self.layers:
            if not layer.weight_count:
                continue
            w, b = self.weights.get(f"{layer.name}/w"), self.weights.get(f"{layer.name}/b")
            expected = (layer.out_shape[0], layer.in_shape[0] // layer.groups, layer.kernel, layer.kernel)
            if layer.op in ("fc", "se_fc"):
                expected = (layer.out_shape[0], layer.in_shape[0], 1, 1)
            if w is None or w.dtype != np.int8 or w.shape != expected:
                got = None if w is None else (w.dtype, w.shape)
                raise ValueError(f"layer {layer.name!r}: needs int8 weights of shape {expected}, got {got}")
            if b is None or b.dtype != np.int32 or b.shape != (layer.out_shape[0],):
                raise ValueError(f"layer {layer.name!r}: needs an int32 bias of shape ({layer.out_shape[0]},)")

    @classmethod
    def random(cls, layers: Sequence[Layer], rng: np.random.Generator) -> Int8Unit:
        """Random int8 weights and small int32 biases for ``layers``."""
        weights = {}
        for layer in layers:
            if not layer.weight_count:
                continue
            cin = layer.in_shape[0] // layer.groups
            shape = (layer.out_shape[0], cin, layer.kernel, layer.kernel)
            weights[f"{layer.name}/w"] = rng.integers(-127, 128, size=shape, dtype=np.int8)
            weights[f"{layer.name}/b"] = rng.integers(-1024, 1025, size=layer.out_shape[0], dtype=np.int32)
        return cls(tuple(layers), weights)

    def run(self, x: np.ndarray) -> np.ndarray:
        """Execute the unit on an int8 (C, H, W) input; returns the int8 output of the last layer."""
        if x.dtype != np.int8 or x.shape != self.layers[0].in_shape:
            raise ValueError(f"input must be int8 of shape {self.layers[0].in_shape}, got {x.dtype} {x.shape}")
        values: dict[str, np.ndarray] = {}
        previous = x
        for layer in self.layers:
            operands = [x if name == "input" else values[name] for name in layer.inputs] or [previous]
            previous = values[layer.name] = self._layer(layer, operands)
        return previous

    def _layer(self, layer: Layer, operands: list[np.ndarray]) -> np.ndarray:
        x = operands[0]
        op = layer.op
        if op in ("conv", "pwconv", "dwconv", "fc", "se_fc"):
            w, b = self.weights[f"{layer.name}/w"], self.weights[f"{layer.name}/b"]
            stride, pad = (1, 0) if op in ("fc", "se_fc") else (layer.stride, layer.pad)
            acc = conv2d_int(x[None], w, stride, pad, layer.groups)[0] + b[:, None, None]
            fan_in = layer.weight_count // layer.out_shape[0]
            return _activate(_requantize(acc, _shift_for(fan_in)), layer.activation)
        if op == "pool":
            c, h, w_ = layer.in_shape
            total = x.astype(np.int32).reshape(c, -1).sum(axis=1)
            n = h * w_
            return _requantize_div(total, n).reshape(layer.out_shape)
        if op == "add":
            return _requantize(operands[0].astype(np.int32) + operands[1].astype(np.int32), 1)
        if op == "scale":
            gate = operands[1].astype(np.int32)  # Q0.7 gate from h_sigmoid
            return _requantize(x.astype(np.int32) * gate, 7)
        raise ValueError(f"layer {layer.name!r}: op {op!r} has no int8 implementation here")


def _requantize_div(total: np.ndarray, n: int) -> np.ndarray:
    # Rounded integer mean, as the DPU's average pool computes it.
    return np.clip((total + n // 2) // n, -128, 127).astype(np.int8)
