"""Post-training int8 quantization with BatchNorm folded (DPU convention by default).

Schemes
-------
``"pow2"`` (default, the DPU's): weights per tensor, symmetric, power-of-two
scale (a fix position); activations likewise, calibrated on a batch; every
requantization is a rounding shift.

``"per_channel"``: weights per output channel, symmetric, float scale
``max|w_c| / 127``; activations keep power-of-two fix positions; the
requantization of a weighted layer becomes a 15-bit multiplier plus shift
per channel.

In both, biases are int32 at the accumulator's scale, accumulators int32,
and every non-weighted op (global pool, SE channel scale, residual add,
h-swish, h-sigmoid) is integer-only (see :mod:`hls.fixedpoint`).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from accel_models.layer import Layer

from .errors import QuantizationError
from .fixedpoint import FIX_RANGE, Requant, fix_position, fix_position_mse, make_requant, quantize_pow2, round_half_up
from .graph import INPUT, plan
from .network import FloatNetwork, float_network, is_global_pool

__all__ = ["METHODS", "SCHEMES", "Fidelity", "QuantizedLayer", "QuantizedNetwork", "quantize"]

SCHEMES = ("pow2", "per_channel")
METHODS = ("max", "mse")
_WEIGHTED = frozenset({"conv", "pwconv", "dwconv", "fc", "se_fc"})
_INT32 = 2**31


@dataclass(frozen=True, eq=False)
class QuantizedLayer:
    """One layer in integers.

    ``inputs`` are resolved tensor names; ``input_fix`` their fix positions;
    ``weight`` int8 (OIHW or OI), ``bias`` int32; ``weight_fix`` the weight fix
    position (pow2) or ``None`` with ``weight_scale`` the per-channel float
    scales; ``input_shifts`` the left shifts aligning the two operands of an add.
    """

    layer: Layer
    inputs: tuple[str, ...]
    input_fix: tuple[int, ...]
    output_fix: int
    requant: Requant
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None
    weight_fix: int | None = None
    weight_scale: np.ndarray | None = None
    input_shifts: tuple[int, ...] = ()

    def params(self) -> tuple[np.ndarray, np.ndarray]:
        """``(weight, bias)`` of a weighted layer; :class:`QuantizationError` for a layer without weights."""
        if self.weight is None or self.bias is None:
            raise QuantizationError(f"layer {self.name!r} ({self.op}) has no weights")
        return self.weight, self.bias

    @property
    def name(self) -> str:
        """The layer's name."""
        return self.layer.name

    @property
    def op(self) -> str:
        """The layer's op."""
        return self.layer.op


@dataclass(frozen=True)
class Fidelity:
    """How closely dequantized int8 outputs track float outputs over ``n_samples`` inputs."""

    n_samples: int
    cosine_mean: float
    cosine_min: float
    top1_agreement: float
    top5_overlap: float

    @classmethod
    def between(cls, reference: np.ndarray, approx: np.ndarray) -> Fidelity:
        """Compare (N, classes) float logits with their int8 approximation.

        >>> f = Fidelity.between(np.array([[1.0, 2.0, 3.0]]), np.array([[1.1, 2.0, 2.9]]))
        >>> f.top1_agreement, round(f.cosine_mean, 4)
        (1.0, 0.9994)
        """
        ref = np.asarray(reference, dtype=np.float64).reshape(len(reference), -1)
        app = np.asarray(approx, dtype=np.float64).reshape(len(approx), -1)
        if ref.shape != app.shape:
            raise ValueError(f"shapes differ: {ref.shape} vs {app.shape}")
        norm = np.linalg.norm(ref, axis=1) * np.linalg.norm(app, axis=1)
        cosine = np.where(norm > 0, np.sum(ref * app, axis=1) / np.where(norm > 0, norm, 1.0), 0.0)
        k = min(5, ref.shape[1])
        top_ref = np.argsort(-ref, axis=1, kind="stable")[:, :k]
        top_app = np.argsort(-app, axis=1, kind="stable")[:, :k]
        overlap = [len(set(a) & set(b)) / k for a, b in zip(top_ref, top_app, strict=True)]
        return cls(len(ref), float(cosine.mean()), float(cosine.min()),
                   float(np.mean(top_ref[:, 0] == top_app[:, 0])), float(np.mean(overlap)))


@dataclass(frozen=True, eq=False)
class QuantizedNetwork:
    """An int8 network: its layers in order, the input fix position and how it was made."""

    layers: tuple[QuantizedLayer, ...]
    input_fix: int
    scheme: str
    method: str
    calibration: Mapping[str, Any] = field(default_factory=dict)
    description: Mapping[str, Any] = field(default_factory=dict)

    _by_name: Mapping[str, QuantizedLayer] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "_by_name", MappingProxyType({q.name: q for q in self.layers}))

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the network input."""
        return self.layers[0].layer.in_shape

    @property
    def output(self) -> QuantizedLayer:
        """The last layer."""
        return self.layers[-1]

    def layer(self, name: str) -> QuantizedLayer:
        """The quantized layer called ``name``."""
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no layer {name!r}; layers: {', '.join(self._by_name)}") from None

    def quantize_input(self, x: np.ndarray) -> np.ndarray:
        """Float (N, C, H, W) images -> int8 at the input fix position."""
        return quantize_pow2(x, self.input_fix).astype(np.int8)

    def run(self, x_int8: np.ndarray, keep_all: bool = False):
        """Integer-only inference (see :func:`hls.reference.run_int8`)."""
        from .reference import run_int8

        return run_int8(self, x_int8, keep_all=keep_all)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Float images in, dequantized float outputs out (N, C_out)."""
        y = self.run(self.quantize_input(x))
        return y.reshape(len(y), -1).astype(np.float64) * 2.0**-self.output.output_fix

    def fidelity(self, x: np.ndarray, reference: np.ndarray) -> Fidelity:
        """:class:`Fidelity` of :meth:`predict` on ``x`` against float outputs ``reference``."""
        return Fidelity.between(reference, self.predict(x))


def quantize(source: Any, calibration: np.ndarray | None = None, scheme: str = "pow2", method: str = "max",
             n_calibration: int = 16, seed: int = 0) -> QuantizedNetwork:
    """Quantize a network to int8.

    Parameters
    ----------
    source : NetworkSource or FloatNetwork
        See :class:`hls.network.NetworkSource`.
    calibration : ndarray, optional
        Float (N, C, H, W) calibration inputs; default ``n_calibration``
        standard-normal images drawn with ``seed`` (a stand-in for normalised
        images: pass real ones for a deployable model).
    scheme : {"pow2", "per_channel"}
        See the module docstring.
    method : {"max", "mse"}
        Fix positions from the largest magnitude (no clipping) or from the
        candidate minimising the squared error (activations and pow2 weights).

    Returns
    -------
    QuantizedNetwork
    """
    if scheme not in SCHEMES:
        raise ValueError(f"unknown quantization scheme {scheme!r}; allowed: {', '.join(SCHEMES)}")
    if method not in METHODS:
        raise ValueError(f"unknown calibration method {method!r}; allowed: {', '.join(METHODS)}")
    if calibration is None:
        for name, value, low in (("n_calibration", n_calibration, 1), ("seed", seed, 0)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
                raise ValueError(f"{name} must be an integer of at least {low}, got {value!r}")
    elif not np.all(np.isfinite(np.asarray(calibration, dtype=np.float64))):  # NaN / inf would set every fix position
        raise ValueError("calibration images must be finite numbers; they hold NaN or infinity")
    fnet = float_network(source)
    if calibration is None:
        rng = np.random.default_rng(seed)
        calibration = rng.standard_normal((int(n_calibration), *fnet.input_shape))
        calib_info = {"source": f"standard normal, seed {seed}", "n_samples": int(n_calibration)}
    else:
        calibration = np.asarray(calibration, dtype=np.float64)
        calib_info = {"source": "user", "n_samples": int(len(calibration))}
    calib_info["method"] = method
    fixes = _calibrate(fnet, calibration, method)
    qlayers = []
    for step in plan(fnet.layers):
        in_fix = tuple(fixes[name] for name in step.inputs)
        qlayers.append(_quantize_layer(fnet, step.layer, step.inputs, in_fix, fixes[step.layer.name], scheme, method))
    return QuantizedNetwork(tuple(qlayers), fixes[INPUT], scheme, method, calib_info, dict(fnet.description))


#: Calibration images per float32 pass of the "max" method: its ranges are maxima over images, so
#: chunks give the same fix positions as one batch in a fraction of the memory.
CALIBRATION_CHUNK = 4


def _calibrate(fnet: FloatNetwork, calibration: np.ndarray, method: str) -> dict[str, int]:
    amax: dict[str, float] = {}
    fixes: dict[str, int] = {}

    def observe_max(name: str, tensor) -> None:  # a torch float32 tensor (numpy without torch)
        lo, hi = tensor.aminmax() if hasattr(tensor, "aminmax") else (tensor.min(), tensor.max())
        amax[name] = max(amax.get(name, 0.0), -float(lo), float(hi))

    def observe_mse(name: str, tensor) -> None:
        fixes[name] = fix_position_mse(np.asarray(tensor, dtype=np.float64), what=f"activation {name!r}")

    with warnings.catch_warnings(record=True) as clamped:
        warnings.simplefilter("always")
        if method == "mse":  # the squared error needs whole tensors: one pass over every image
            fnet.observe_ranges(calibration, observe_mse)
        else:
            for start in range(0, len(calibration), CALIBRATION_CHUNK):
                fnet.observe_ranges(calibration[start:start + CALIBRATION_CHUNK], observe_max)
            fixes = {name: fix_position(value, what=f"activation {name!r}") for name, value in amax.items()}
    names = [str(w.message).split("'")[1] for w in clamped if "clamped" in str(w.message)]
    for w in clamped:
        if "clamped" not in str(w.message):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    if names:
        # One warning for the whole network: the usual cause is one (vanishing activations) for all of them.
        warnings.warn(f"{len(names)} activation tensor(s) have values too small or too large for int8 fix positions "
                      f"{FIX_RANGE[0]}..{FIX_RANGE[1]} and were clamped (first: {', '.join(names[:3])}); untrained "
                      "weights with identity BatchNorms make activations vanish - re-estimate the BatchNorm "
                      "statistics first (hls.bn.reset_bn_statistics)", UserWarning, stacklevel=3)
    return fixes


def _quantize_layer(fnet: FloatNetwork, layer: Layer, inputs: tuple[str, ...], in_fix: tuple[int, ...],
                    out_fix: int, scheme: str, method: str) -> QuantizedLayer:
    what = f"layer {layer.name!r}"
    channels = layer.out_shape[0]
    if layer.op in _WEIGHTED:
        w, b = fnet.params[layer.name]
        if scheme == "pow2":
            amax = float(np.max(np.abs(w)))
            wf = (fix_position_mse(w, what=f"{what} weights") if method == "mse"
                  else fix_position(amax, what=f"{what} weights"))
            wq = quantize_pow2(w, wf)
            w_scale = np.full(channels, 2.0**-wf)
        else:
            wf = None
            amax = np.max(np.abs(w.reshape(channels, -1)), axis=1)
            w_scale = np.where(amax > 0, amax / 127.0, 1.0)
            wq = np.clip(round_half_up(w / w_scale.reshape(-1, *([1] * (w.ndim - 1)))), -128, 127)
        acc_scale = w_scale * 2.0 ** -in_fix[0]
        bq = round_half_up(b / acc_scale)
        fan_in = int(np.prod(w.shape[1:]))
        worst = fan_in * 128 * 128 + int(np.max(np.abs(bq)))
        if worst >= _INT32:
            raise QuantizationError(f"{what}: accumulator may reach {worst}, beyond int32 (fan-in {fan_in}, "
                                    f"largest bias {int(np.max(np.abs(bq)))}); lower the input fix position")
        return QuantizedLayer(layer, inputs, in_fix, out_fix, make_requant(acc_scale, out_fix, layer.activation, what),
                              weight=wq.astype(np.int8), bias=bq.astype(np.int32), weight_fix=wf,
                              weight_scale=None if scheme == "pow2" else w_scale)
    if is_global_pool(layer):
        _, h, w_ = layer.in_shape
        acc_scale = np.full(channels, 2.0 ** -in_fix[0] / (h * w_))
        return QuantizedLayer(layer, inputs, in_fix, out_fix, make_requant(acc_scale, out_fix, layer.activation, what))
    if layer.op == "scale":
        acc_scale = np.full(channels, 2.0 ** -(in_fix[0] + in_fix[1]))
        return QuantizedLayer(layer, inputs, in_fix, out_fix, make_requant(acc_scale, out_fix, layer.activation, what))
    if layer.op == "add":
        common = max(in_fix)
        if common - min(in_fix) > 22:  # keeps 2 * 128 << shift inside int32
            raise QuantizationError(f"{what}: operand fix positions {in_fix} are too far apart to add in int32")
        acc_scale = np.full(channels, 2.0**-common)
        return QuantizedLayer(layer, inputs, in_fix, out_fix, make_requant(acc_scale, out_fix, layer.activation, what),
                              input_shifts=tuple(common - f for f in in_fix))
    raise QuantizationError(f"{what}: op {layer.op!r} has no integer implementation "
                            "(supported: conv, pwconv, dwconv, fc, se_fc, global pool, add, scale)")
