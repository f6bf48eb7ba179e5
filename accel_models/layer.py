"""The layer data model every predictor, report and exporter speaks.

A :class:`Layer` is one operation the accelerator runs (a convolution with its
fused activation, a pooling, an element-wise add, ...), with its tensor shapes
in (C, H, W) order and the bit widths it runs at.  Everything derived from the
shapes (MACs, parameters, bytes moved, arithmetic intensity) is a property, so
a layer can never disagree with itself.

:class:`LayerArrays` is the same information for many layers as numpy arrays:
what the vectorised latency models consume.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from .validation import reject_unknown_keys, whole_number

__all__ = [
    "ACTIVATIONS",
    "OPS",
    "Layer",
    "LayerArrays",
    "conv_output_size",
]

#: Operation names, in the order of :attr:`LayerArrays.op` codes.
OPS = (
    "conv",  # dense k x k convolution (groups == 1, or grouped)
    "pwconv",  # dense 1 x 1 convolution
    "dwconv",  # depthwise convolution (groups == C_in == C_out)
    "fc",  # fully connected, input (C_in, 1, 1)
    "se_fc",  # fully connected inside a squeeze-and-excitation module
    "pool",  # average pooling (global when the window covers the input)
    "maxpool",  # max pooling
    "add",  # element-wise add of two tensors of the output shape
    "scale",  # channel-wise multiply by a (C, 1, 1) vector (SE excitation)
    "act",  # a standalone activation
)
#: Activation names, in the order of :attr:`LayerArrays.activation` codes.  ``sigmoid`` (a true logistic, as
#: torch's ``nn.Sigmoid`` in a squeeze-excitation) has no DPUCZDX8G implementation: it runs on the CPU
#: (:mod:`accel_models.cpu_fallback`).
ACTIVATIONS = ("none", "relu", "relu6", "h_swish", "h_sigmoid", "sigmoid")

_CONV_OPS = frozenset({"conv", "pwconv", "dwconv"})
_WINDOW_OPS = _CONV_OPS | {"pool", "maxpool"}
_FC_OPS = frozenset({"fc", "se_fc"})
_SHAPE_PRESERVING_OPS = frozenset({"add", "scale", "act"})
_BIAS_BITS = 32
#: Fields held as tuples (JSON lists in :meth:`Layer.to_dict`).
_TUPLE_FIELDS = ("in_shape", "out_shape", "inputs")


def conv_output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output height/width of a convolution or pooling window.

    Examples
    --------
    >>> conv_output_size(224, kernel=3, stride=2, padding=1)
    112
    >>> conv_output_size(7, kernel=7, stride=1, padding=0)
    1
    """
    return (size + 2 * padding - kernel) // stride + 1


def _shape3(name: str, value: Sequence[int], layer: str) -> tuple[int, int, int]:
    if type(value) is tuple and len(value) == 3 and all(type(v) is int and v > 0 for v in value):
        return value  # type: ignore[return-value]  # the common case, without the checks below
    given = tuple(value) if isinstance(value, Iterable) and not isinstance(value, str | bytes) else value
    shape = tuple(whole_number(v) for v in given) if isinstance(given, tuple) else ()
    if len(shape) != 3 or any(v is None or v <= 0 for v in shape):
        raise ValueError(f"layer {layer!r}: {name} must be three positive integers (C, H, W), got {given!r}")
    return shape  # type: ignore[return-value]


@dataclass(frozen=True)
class Layer:
    """One operation of a network, as the accelerator runs it.

    Parameters
    ----------
    name : str
        Unique name within its network (OFA-style module path for OFA nets).
    op : str
        One of :data:`OPS`.
    in_shape, out_shape : tuple of int
        (C, H, W) of the (first) input and of the output.
    kernel, stride, groups : int
        Window size, stride and convolution groups (1 for non-convolutions).
    padding : int, optional
        Zero padding on each side; ``None`` means ``kernel // 2`` for
        convolutions ("same" padding for odd kernels) and 0 for pooling.
    activation : str
        Fused activation, one of :data:`ACTIVATIONS`.
    weight_bits, act_bits : int
        Bit widths of weights and activations (8 on the DPU).
    bias : bool
        Whether the layer adds a bias (stored as int32 after quantization).
    block : str
        Canonical key of the block this layer belongs to (``""`` if none).
    inputs : tuple of str
        Names of the layers whose outputs feed this one (``"input"`` for the
        network input).  Empty means "the previous layer in the sequence".

    Examples
    --------
    >>> stem = Layer("first_conv", "conv", (3, 224, 224), (24, 112, 112),
    ...              kernel=3, stride=2, activation="h_swish")
    >>> stem.macs
    8128512
    >>> stem.weight_bytes
    648
    """

    name: str
    op: str
    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]
    kernel: int = 1
    stride: int = 1
    groups: int = 1
    padding: int | None = None
    activation: str = "none"
    weight_bits: int = 8
    act_bits: int = 8
    bias: bool = False
    block: str = ""
    inputs: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"layer {self.name!r}: unknown op {self.op!r}; allowed: {', '.join(OPS)}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"layer {self.name!r}: unknown activation {self.activation!r}; "
                f"allowed: {', '.join(ACTIVATIONS)}"
            )
        object.__setattr__(self, "in_shape", _shape3("in_shape", self.in_shape, self.name))
        object.__setattr__(self, "out_shape", _shape3("out_shape", self.out_shape, self.name))
        object.__setattr__(self, "inputs", tuple(self.inputs))
        for attr in ("kernel", "stride", "groups", "weight_bits", "act_bits"):
            value = whole_number(getattr(self, attr))
            if value is None or value <= 0:
                raise ValueError(f"layer {self.name!r}: {attr} must be a positive integer, got {getattr(self, attr)!r}")
            object.__setattr__(self, attr, value)
        if self.padding is not None:
            padding = whole_number(self.padding)
            if padding is None or padding < 0:
                raise ValueError(f"layer {self.name!r}: padding must be a non-negative integer, got {self.padding!r}")
            object.__setattr__(self, "padding", padding)
        self._check_shapes()

    # ------------------------------------------------------------------ checks
    def _check_shapes(self) -> None:
        cin, hin, win = self.in_shape
        cout, hout, wout = self.out_shape
        where = f"layer {self.name!r} ({self.op})"
        if self.op in _WINDOW_OPS:
            if self.kernel > hin + 2 * self.pad or self.kernel > win + 2 * self.pad:
                raise ValueError(f"{where}: kernel {self.kernel} is larger than the padded input {self.in_shape}")
            expected = (
                conv_output_size(hin, self.kernel, self.stride, self.pad),
                conv_output_size(win, self.kernel, self.stride, self.pad),
            )
            if (hout, wout) != expected:
                raise ValueError(
                    f"{where}: output H x W {hout}x{wout} does not follow from input {hin}x{win}, "
                    f"kernel {self.kernel}, stride {self.stride}, padding {self.pad} (expected "
                    f"{expected[0]}x{expected[1]})"
                )
        if self.op == "pwconv" and self.kernel != 1:
            raise ValueError(f"{where}: a pointwise convolution has kernel 1, got {self.kernel}")
        if self.op == "dwconv" and not (self.groups == cin == cout):
            raise ValueError(
                f"{where}: a depthwise convolution needs groups == C_in == C_out, "
                f"got groups={self.groups}, C_in={cin}, C_out={cout}"
            )
        if self.op in {"conv", "pwconv"} and (cin % self.groups or cout % self.groups):
            raise ValueError(f"{where}: groups {self.groups} must divide C_in {cin} and C_out {cout}")
        if self.op in _FC_OPS and (hin, win, hout, wout) != (1, 1, 1, 1):
            raise ValueError(
                f"{where}: fully connected layers take and give (C, 1, 1), got {self.in_shape} -> {self.out_shape}"
            )
        if self.op in {"pool", "maxpool"} and cin != cout:
            raise ValueError(f"{where}: pooling keeps the channel count, got {cin} -> {cout}")
        if self.op in _SHAPE_PRESERVING_OPS and self.in_shape != self.out_shape:
            raise ValueError(f"{where}: output shape {self.out_shape} must equal input shape {self.in_shape}")
        if self.op not in _CONV_OPS and self.groups != 1:
            raise ValueError(f"{where}: groups apply to convolutions only, got {self.groups}")

    # ------------------------------------------------------------- properties
    @property
    def pad(self) -> int:
        """Padding actually applied on each side."""
        if self.padding is not None:
            return int(self.padding)
        return self.kernel // 2 if self.op in _CONV_OPS else 0

    @property
    def weight_count(self) -> int:
        """Number of weights (without bias)."""
        cin, cout = self.in_shape[0], self.out_shape[0]
        if self.op in _CONV_OPS:
            return cout * (cin // self.groups) * self.kernel * self.kernel
        if self.op in _FC_OPS:
            return cin * cout
        return 0

    @property
    def params(self) -> int:
        """Weights plus biases."""
        return self.weight_count + (self.out_shape[0] if self.bias and self.weight_count else 0)

    @property
    def macs(self) -> int:
        """Multiply-accumulates (0 for pooling and element-wise ops)."""
        if self.op in _CONV_OPS:
            _, hout, wout = self.out_shape
            return self.weight_count * hout * wout
        if self.op in _FC_OPS:
            return self.weight_count
        return 0

    @property
    def ops(self) -> int:
        """Arithmetic operations: 2 per MAC, 1 per element for the rest."""
        macs = self.macs  # read once: the small analytical-model calls read ops of every layer
        if macs:
            return 2 * macs
        cout, hout, wout = self.out_shape
        if self.op in {"pool", "maxpool"}:
            return cout * hout * wout * self.kernel * self.kernel
        return cout * hout * wout

    @property
    def input_elements(self) -> int:
        """Activation elements read (both operands of an add, the vector of a scale)."""
        cin, hin, win = self.in_shape
        n = cin * hin * win
        if self.op == "add":
            return 2 * n
        if self.op == "scale":
            return n + cin
        return n

    @property
    def output_elements(self) -> int:
        """Activation elements written (C x H x W of the output)."""
        c, h, w = self.out_shape
        return c * h * w

    @property
    def input_bytes(self) -> int:
        """Activation bytes read: :attr:`input_elements` at ``act_bits``."""
        return self.input_elements * self.act_bits // 8

    @property
    def output_bytes(self) -> int:
        """Activation bytes written: :attr:`output_elements` at ``act_bits``."""
        return self.output_elements * self.act_bits // 8

    @property
    def weight_bytes(self) -> int:
        """Weights at ``weight_bits`` plus int32 biases."""
        count = self.weight_count  # read once: every unit_flow call reads weight_bytes of every layer
        bias_bytes = self.out_shape[0] * _BIAS_BITS // 8 if self.bias and count else 0
        return count * self.weight_bits // 8 + bias_bytes

    @property
    def total_bytes(self) -> int:
        """Compulsory off-chip traffic: inputs, outputs and weights once each."""
        return self.input_bytes + self.output_bytes + self.weight_bytes

    @property
    def arithmetic_intensity(self) -> float:
        """Operations per byte of compulsory traffic."""
        return self.ops / self.total_bytes

    def to_dict(self) -> dict:
        """Plain-JSON form (tuples become lists)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        for key in _TUPLE_FIELDS:
            out[key] = list(out[key])
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Layer:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        reject_unknown_keys(data, [f.name for f in fields(cls)], "Layer")
        kwargs: dict[str, Any] = {k: tuple(v) if k in _TUPLE_FIELDS else v for k, v in data.items()}
        return cls(**kwargs)


_OP_CODE = {name: i for i, name in enumerate(OPS)}
_ACT_CODE = {name: i for i, name in enumerate(ACTIVATIONS)}


@dataclass(frozen=True)
class LayerArrays:
    """Many layers as parallel integer arrays (struct of arrays).

    ``op`` and ``activation`` hold indices into :data:`OPS` and
    :data:`ACTIVATIONS`; every other field is the per-layer value of the
    :class:`Layer` attribute of the same name.  Byte counts are int64.
    """

    op: np.ndarray
    activation: np.ndarray
    cin: np.ndarray
    hin: np.ndarray
    win: np.ndarray
    cout: np.ndarray
    hout: np.ndarray
    wout: np.ndarray
    kernel: np.ndarray
    stride: np.ndarray
    groups: np.ndarray
    weight_bits: np.ndarray
    act_bits: np.ndarray
    macs: np.ndarray
    ops: np.ndarray
    weight_count: np.ndarray
    input_bytes: np.ndarray
    output_bytes: np.ndarray
    weight_bytes: np.ndarray

    @classmethod
    def from_layers(cls, layers: Iterable[Layer]) -> LayerArrays:
        """Collect the fields of ``layers`` into arrays.

        Examples
        --------
        >>> a = LayerArrays.from_layers([Layer("fc", "fc", (8, 1, 1), (4, 1, 1))])
        >>> int(a.macs[0]), OPS[a.op[0]]
        (32, 'fc')
        """
        layers = list(layers)
        columns = {
            "op": [_OP_CODE[lay.op] for lay in layers],
            "activation": [_ACT_CODE[lay.activation] for lay in layers],
            "cin": [lay.in_shape[0] for lay in layers],
            "hin": [lay.in_shape[1] for lay in layers],
            "win": [lay.in_shape[2] for lay in layers],
            "cout": [lay.out_shape[0] for lay in layers],
            "hout": [lay.out_shape[1] for lay in layers],
            "wout": [lay.out_shape[2] for lay in layers],
        }
        for name in ("kernel", "stride", "groups", "weight_bits", "act_bits", "macs", "ops",
                     "weight_count", "input_bytes", "output_bytes", "weight_bytes"):
            columns[name] = [getattr(lay, name) for lay in layers]
        return cls(**{k: np.asarray(v, dtype=np.int64) for k, v in columns.items()})

    def __len__(self) -> int:
        return int(self.op.shape[0])

    def is_op(self, *names: str) -> np.ndarray:
        """Boolean mask of the layers whose op is one of ``names``."""
        unknown = [n for n in names if n not in _OP_CODE]
        if unknown:
            raise ValueError(f"unknown op(s) {unknown}; allowed: {', '.join(OPS)}")
        return np.isin(self.op, [_OP_CODE[n] for n in names])
