"""What :mod:`hls` quantizes: layers plus float weights, BatchNorm folded.

The input is anything that offers a torch model and its layers (see
:class:`NetworkSource`); :func:`float_network` pulls the weights out of the
torch modules named like the layers, folds every BatchNorm into the
convolution before it, and returns a :class:`FloatNetwork` - a plain numpy
model that runs the layer list in float64.  That float model is what the
calibration observes and what the integer reference is compared with; it is
itself checked against the torch model.

torch is imported only when weights are extracted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol, runtime_checkable

import numpy as np

from accel_models.int8 import conv2d
from accel_models.layer import Layer

from .graph import INPUT, Step, plan

__all__ = [
    "FloatNetwork",
    "NetworkSource",
    "TorchNetwork",
    "float_activation",
    "float_network",
    "resolve_source",
    "run_float_layer",
]

_PARAM_OPS = frozenset({"conv", "pwconv", "dwconv", "fc", "se_fc"})


@runtime_checkable
class NetworkSource(Protocol):
    """The protocol :func:`hls.export` and :func:`hls.quantize` accept.

    ``layers()`` returns the layers in execution order (``accel_models.Layer``
    with OFA module-path names and ``inputs`` edges); ``torch_model()`` returns
    a torch module whose sub-module of each weighted layer has that layer's
    name (a ``Conv2d``/``Linear``, or a container whose direct children are
    the ``Conv2d``/``Linear``, an optional ``BatchNorm2d`` and the
    activation).  An optional ``to_dict()`` describes the network in the
    manifest.  An object with ``.subnet`` and ``.accelerator`` attributes (a
    co-design result) is accepted too; its accelerator becomes the default.
    """

    def layers(self) -> Sequence[Layer]:
        """The layers in execution order."""
        ...

    def torch_model(self) -> Any:
        """The torch module holding the weights."""
        ...


@dataclass(frozen=True, eq=False)
class TorchNetwork:
    """A torch module and its layer list, as a :class:`NetworkSource`.

    ``description`` goes into the manifest's ``model`` section (for an OFA
    sub-network: its ``SubnetConfig.to_dict()``).
    """

    model: Any
    layer_list: tuple[Layer, ...]
    description: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "layer_list", tuple(self.layer_list))
        if not all(isinstance(layer, Layer) for layer in self.layer_list):
            raise TypeError("layer_list must hold accel_models.Layer objects")

    def layers(self) -> tuple[Layer, ...]:
        """The layers in execution order."""
        return self.layer_list

    def torch_model(self) -> Any:
        """The torch module."""
        return self.model

    def to_dict(self) -> dict:
        """The description for the manifest."""
        return dict(self.description)


def _offers_network(obj: Any) -> bool:
    return callable(getattr(obj, "layers", None)) and callable(getattr(obj, "torch_model", None))


def resolve_source(source: Any) -> tuple[Any, tuple[Layer, ...], dict, Any]:
    """``(torch model, layers, description, accelerator or None)`` of any accepted source."""
    accelerator = None
    if hasattr(source, "subnet") and hasattr(source, "accelerator"):
        accelerator = source.accelerator
        if not _offers_network(source):
            source = source.subnet
    if isinstance(source, tuple) and len(source) == 2:
        source = TorchNetwork(source[0], tuple(source[1]))
    if not _offers_network(source):
        raise TypeError(
            f"cannot export a {type(source).__name__}: give a (torch_model, layers) pair, an hls.TorchNetwork, "
            "an object with layers() and torch_model() methods, or a design with .subnet and .accelerator"
        )
    layers = tuple(source.layers())
    description = dict(source.to_dict()) if callable(getattr(source, "to_dict", None)) else {}
    return source.torch_model(), layers, description, accelerator


def float_activation(x: np.ndarray, activation: str) -> np.ndarray:
    """The float activations, as torch defines them (``Hardswish``, ``Hardsigmoid``)."""
    if activation == "none":
        return x
    if activation == "relu":
        return np.maximum(x, 0.0)
    if activation == "relu6":
        return np.clip(x, 0.0, 6.0)
    if activation == "h_sigmoid":
        return np.clip(x + 3.0, 0.0, 6.0) / 6.0
    if activation == "h_swish":
        return x * np.clip(x + 3.0, 0.0, 6.0) / 6.0
    raise ValueError(f"unknown activation {activation!r}")


def is_global_pool(layer: Layer) -> bool:
    """True for a pooling layer whose window covers its whole (unpadded) input."""
    _, h, w = layer.in_shape
    return layer.op == "pool" and layer.kernel == h == w and layer.pad == 0


@dataclass(frozen=True, eq=False)
class FloatNetwork:
    """Layers plus folded float64 weights: ``params[name] = (weight, bias)``.

    Weights are OIHW for convolutions (I = C_in / groups) and OI for fully
    connected layers; every weighted layer has a bias (zeros where the float
    model had none).
    """

    layers: tuple[Layer, ...]
    params: Mapping[str, tuple[np.ndarray, np.ndarray]]
    description: Mapping[str, Any] = field(default_factory=dict)

    _steps: tuple[Step, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        steps = plan(self.layers)
        object.__setattr__(self, "_steps", steps)
        for layer in self.layers:
            if layer.op in _PARAM_OPS and layer.name not in self.params:
                raise ValueError(f"layer {layer.name!r} ({layer.op}) has no weights")

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the network input."""
        return self.layers[0].in_shape

    def observe_ranges(self, x: np.ndarray, observe: Callable[[str, Any], None]) -> None:
        """Run (N, C, H, W) inputs in torch float32 and call ``observe(name, tensor)`` on the input and every output.

        The tensors are torch float32 (``observe`` takes what it needs: a maximum, or ``.numpy()``).
        Calibration uses this pass: 3-4x faster than :meth:`forward`'s float64 numpy and a quarter of
        its memory; the integer network it calibrates is still checked bit-exactly.  Without torch the
        numpy :meth:`forward` runs instead.
        """
        try:
            import torch  # noqa: F401
        except ImportError:  # pragma: no cover - torch is a dependency of every export
            self.forward(x, observe)
            return
        self.forward(x, observe, precision="float32")

    def forward(self, x: np.ndarray, observe: Callable[[str, np.ndarray], None] | None = None, *,
                precision: str = "float64") -> np.ndarray:
        """Run (N, C, H, W) inputs; returns the last layer's output (numpy).

        ``observe(name, tensor)`` sees the input (as ``"input"``) and every
        layer's output - how calibration collects activation ranges.
        ``precision`` ``"float64"`` runs the numpy reference; ``"float32"``
        the same dispatch in torch (several times faster; observed tensors
        are then torch tensors).
        """
        if precision == "float64":
            return self._run(_NUMPY, self._checked(np.asarray(x, dtype=np.float64)), observe)
        if precision != "float32":
            raise ValueError(f"precision must be 'float64' (numpy) or 'float32' (torch), got {precision!r}")
        import torch

        with torch.inference_mode():
            tensor = torch.as_tensor(self._checked(x), dtype=torch.float32)
            return self._run(_torch_backend(torch), tensor, observe).numpy().astype(np.float64)

    def _checked(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim != 4 or x.shape[1:] != self.input_shape:
            raise ValueError(f"input must have shape (N, {', '.join(map(str, self.input_shape))}), got {x.shape}")
        return x

    def _run(self, backend: _Backend, x: Any, observe: Callable[[str, Any], None] | None) -> Any:
        """Walk the layers on ``backend``, releasing every tensor after its last reader."""
        tensors = {INPUT: x}
        if observe is not None:
            observe(INPUT, x)
        for step in self._steps:
            out = _run_layer(backend, step.layer, [tensors[name] for name in step.inputs],
                             self.params.get(step.layer.name))
            if observe is not None:
                observe(step.layer.name, out)
            for name in step.release:
                del tensors[name]
            tensors[step.layer.name] = out
        return tensors[self.layers[-1].name]


def _weights(layer: Layer, params: tuple[np.ndarray, np.ndarray] | None) -> tuple[np.ndarray, np.ndarray]:
    if params is None:
        raise ValueError(f"layer {layer.name!r} ({layer.op}) needs its (weight, bias)")
    return params


@dataclass(frozen=True)
class _Backend:
    """The array primitives a float pass needs; :func:`_run_layer` is the one op dispatch over them."""

    conv: Callable[..., Any]  # (x, weight, bias, stride, pad, groups) -> y
    linear: Callable[[Any, np.ndarray, np.ndarray], Any]  # (x of (N, C), weight OI, bias) -> (N, O)
    mean_hw: Callable[[Any], Any]  # (N, C, H, W) -> (N, C, 1, 1)
    activation: Callable[[Any, str], Any]  # (y, name) -> y


#: numpy float64: the reference the integer network is compared with.
_NUMPY = _Backend(
    conv=lambda x, w, b, stride, pad, groups: conv2d(x, w, stride, pad, groups) + b[None, :, None, None],
    linear=lambda x, w, b: x @ w.T + b,
    mean_hw=lambda x: x.mean(axis=(2, 3), keepdims=True),
    activation=lambda y, name: float_activation(y, name))


def _torch_backend(torch: Any) -> _Backend:
    """The torch float32 backend: the calibration pass (torch's conv is several times faster than :func:`conv2d`)."""
    functional = torch.nn.functional

    def tensor(a: np.ndarray) -> Any:
        return torch.as_tensor(a, dtype=torch.float32)

    def activation(y: Any, name: str) -> Any:
        act = {"none": None, "relu": functional.relu, "relu6": functional.relu6,
               "h_sigmoid": functional.hardsigmoid, "h_swish": functional.hardswish}[name]
        return y if act is None else act(y, inplace=True)  # y is this layer's own tensor

    return _Backend(
        conv=lambda x, w, b, stride, pad, groups: functional.conv2d(x, tensor(w), tensor(b), stride=stride,
                                                                     padding=pad, groups=groups),
        linear=lambda x, w, b: functional.linear(x, tensor(w), tensor(b)),
        mean_hw=lambda x: x.mean(dim=(2, 3), keepdim=True),
        activation=activation)


def _run_layer(backend: _Backend, layer: Layer, xs: list, params: tuple[np.ndarray, np.ndarray] | None) -> Any:
    x = xs[0]
    if layer.op in ("conv", "pwconv", "dwconv"):
        w, b = _weights(layer, params)
        y = backend.conv(x, w, b, layer.stride, layer.pad, layer.groups)
    elif layer.op in ("fc", "se_fc"):
        w, b = _weights(layer, params)
        y = backend.linear(x.reshape(len(x), -1), w, b).reshape(len(x), -1, 1, 1)
    elif is_global_pool(layer):
        y = backend.mean_hw(x)
    elif layer.op == "add":
        y = xs[0] + xs[1]
    elif layer.op == "scale":
        y = xs[0] * xs[1]
    else:
        raise ValueError(f"layer {layer.name!r}: op {layer.op!r} is not supported by the float reference "
                         "(supported: conv, pwconv, dwconv, fc, se_fc, global pool, add, scale)")
    return backend.activation(y, layer.activation)


def run_float_layer(layer: Layer, xs: list[np.ndarray],
                    params: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """One layer in float64 on (N, C, H, W) inputs; ``params`` = (weight, bias) for weighted layers."""
    return _run_layer(_NUMPY, layer, xs, params)


def float_network(source: Any) -> FloatNetwork:
    """Extract and fold the weights of any :class:`NetworkSource` (or return a :class:`FloatNetwork` as is)."""
    if isinstance(source, FloatNetwork):
        return source
    model, layers, description, _ = resolve_source(source)
    params = {layer.name: _extract(model, layer) for layer in layers if layer.op in _PARAM_OPS}
    return FloatNetwork(layers, params, description)


# ------------------------------------------------------------ torch side
_TORCH_ACTIVATIONS = {"ReLU": "relu", "ReLU6": "relu6", "Hardswish": "h_swish", "Hardsigmoid": "h_sigmoid"}


def _extract(model: Any, layer: Layer) -> tuple[np.ndarray, np.ndarray]:
    import torch
    from torch import nn

    try:
        module = model.get_submodule(layer.name)
    except AttributeError:
        raise ValueError(f"the torch model has no module named {layer.name!r} for layer {layer.name!r}") from None
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        core, bn, activation = module, None, None
    else:
        children = list(module.children())
        cores = [m for m in children if isinstance(m, (nn.Conv2d, nn.Linear))]
        bns = [m for m in children if isinstance(m, nn.BatchNorm2d)]
        acts = [_TORCH_ACTIVATIONS[type(m).__name__] for m in children if type(m).__name__ in _TORCH_ACTIVATIONS]
        if len(cores) != 1 or len(bns) > 1 or len(acts) > 1:
            raise ValueError(f"module {layer.name!r} must hold one Conv2d/Linear, at most one BatchNorm2d and at "
                             f"most one activation as direct children, found {[type(m).__name__ for m in children]}")
        core, bn, activation = cores[0], (bns[0] if bns else None), (acts[0] if acts else "none")
    if activation is not None and activation != layer.activation:
        raise ValueError(f"layer {layer.name!r}: the torch module applies {activation!r}, the layer says "
                         f"{layer.activation!r}")
    _check_core(core, layer)
    with torch.no_grad():
        weight = core.weight.detach().to(torch.float64).cpu().numpy().copy()
        bias = (core.bias.detach().to(torch.float64).cpu().numpy().copy() if core.bias is not None
                else np.zeros(weight.shape[0]))
        if bn is not None:
            if bn.running_mean is None or bn.running_var is None:
                raise ValueError(f"layer {layer.name!r}: BatchNorm2d without running statistics cannot be folded")
            mean = bn.running_mean.detach().to(torch.float64).cpu().numpy()
            var = bn.running_var.detach().to(torch.float64).cpu().numpy()
            gamma = (bn.weight.detach().to(torch.float64).cpu().numpy() if bn.weight is not None
                     else np.ones_like(mean))
            beta = bn.bias.detach().to(torch.float64).cpu().numpy() if bn.bias is not None else np.zeros_like(mean)
            scale = gamma / np.sqrt(var + bn.eps)
            weight = weight * scale.reshape(-1, *([1] * (weight.ndim - 1)))
            bias = beta + (bias - mean) * scale
    if layer.op in ("fc", "se_fc") and weight.ndim == 4:
        weight = weight.reshape(weight.shape[0], -1)  # a 1x1 Conv2d used as fully connected (OFA's SE)
    if not (np.all(np.isfinite(weight)) and np.all(np.isfinite(bias))):
        raise ValueError(f"layer {layer.name!r}: weights or folded bias are not finite")
    return weight, bias


def _check_core(core: Any, layer: Layer) -> None:
    from torch import nn

    cin, cout = layer.in_shape[0], layer.out_shape[0]
    got: dict[str, object]
    want: dict[str, object]
    if isinstance(core, nn.Linear):
        got = dict(in_channels=core.in_features, out_channels=core.out_features)
        want = dict(in_channels=cin, out_channels=cout)
    else:
        is_fc = layer.op in ("fc", "se_fc")
        got = dict(in_channels=core.in_channels, out_channels=core.out_channels, kernel=tuple(core.kernel_size),
                   stride=tuple(core.stride), padding=tuple(core.padding), groups=core.groups,
                   dilation=tuple(core.dilation))
        k, s, p = (1, 1, 0) if is_fc else (layer.kernel, layer.stride, layer.pad)
        want = dict(in_channels=cin, out_channels=cout, kernel=(k, k), stride=(s, s), padding=(p, p),
                    groups=1 if is_fc else layer.groups, dilation=(1, 1))
    wrong = {key: (got[key], want[key]) for key in want if got[key] != want[key]}
    if wrong:
        detail = ", ".join(f"{key} {g} (layer: {w})" for key, (g, w) in wrong.items())
        raise ValueError(f"layer {layer.name!r}: the torch module disagrees with the layer: {detail}")
