"""Any torch CNN -> the :class:`~accel_models.Layer` list an accelerator runs.

:func:`layers_from_torch` records the ops of one forward pass (torch.fx
symbolic tracing; one eager run with hooks where fx cannot trace) and turns
them into layers the way a DPU compiler would: BatchNorm folded into the
convolution before it (which then carries a bias), activations fused into
the layer that produces them, reshapes / dropout / identities dropped, the
1x1 convolutions or linear layers between a global pool and a channel scale
recognised as squeeze-and-excitation (``se_fc``).

Names follow module paths, with the convention of OFA's ``ConvLayer`` /
``LinearLayer`` and of ``Conv-BN-Act`` containers: the layer made of
``first_conv.conv`` + ``first_conv.bn`` + ``first_conv.act`` is called
``first_conv``, because that container holds nothing else; a convolution
registered as ``conv`` or ``linear`` is also named after its parent.
Functional ops are named ``<module path>.<op>`` (``layer1.0.add``, the SE
multiply ``...se.scale``).

Layers are grouped into the units a DPU runs as one block (``Layer.block``,
see :func:`accel_models.group_by_block`): the layers inside one block module
(an inverted-residual or residual block: the shallowest module on a layer's
path that is not a ``Sequential`` / ``ModuleList`` container, such as
``blocks.3``, ``features.5`` or ``layer2.0``) form one unit, whose hand-off
tensors may stay on chip, as OFA's latency tables measure its blocks.  A unit
whose layers are exactly what an OFA latency-table key describes gets that key
(``expanded_conv-input:...``), so measured tables apply to it; other units are
named by their module path; a layer outside any block module is its own unit.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .blocks import BlockSpec
from .layer import Layer, conv_output_size

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["UnsupportedModelError", "layers_from_torch"]

_TRACERS = ("auto", "fx", "eager")
_ACTIVATION_FUNCTIONS = {"relu": "relu", "relu6": "relu6", "hardswish": "h_swish", "hardsigmoid": "h_sigmoid",
                         "sigmoid": "sigmoid"}
_RESHAPES = frozenset({"flatten", "view", "reshape", "contiguous", "squeeze", "unsqueeze", "dropout",
                       "clone", "detach"})
_POOL_FUNCTIONS = {"avg_pool2d": "pool", "max_pool2d": "maxpool",
                   "adaptive_avg_pool2d": "pool", "adaptive_max_pool2d": "maxpool"}
_FUSES_ACTIVATION = frozenset({"conv", "pwconv", "dwconv", "fc", "add"})
_FOLDS_BATCHNORM = frozenset({"conv", "pwconv", "dwconv", "fc"})
_SUPPORTED = ("Conv2d (dense, grouped, depthwise), Linear, BatchNorm (after a conv / linear), "
              "AvgPool2d, MaxPool2d, AdaptiveAvg/MaxPool2d, mean over H and W, add, channel scale "
              "(x * s with s of shape (N, C, 1, 1)), ReLU, ReLU6, Hardswish, Hardsigmoid, Sigmoid, "
              "flatten / view / reshape, Dropout, Identity")


class UnsupportedModelError(ValueError):
    """The model uses an op (or an op configuration) that has no :class:`Layer` equivalent."""


def layers_from_torch(model: torch.nn.Module, input_shape: Sequence[int], *, weight_bits: int = 8,
                      act_bits: int = 8, tracer: str = "auto", group_blocks: bool = True) -> tuple[Layer, ...]:
    """The layers of a torch CNN, in execution order, with their data-flow edges.

    Parameters
    ----------
    model : torch.nn.Module
        Any single-input CNN built from the supported ops: convolutions
        (dense, grouped, depthwise), linear, BatchNorm directly after a
        convolution or linear layer, average / max / adaptive pooling, mean
        over H and W, residual add, channel scale (squeeze-and-excitation),
        ReLU / ReLU6 / Hardswish / Hardsigmoid / Sigmoid (no DPUCZDX8G has a
        sigmoid: :mod:`accel_models.cpu_fallback` prices it on the CPU), and
        the layout no-ops flatten / view / reshape / dropout / identity.  Evaluated as in eval
        mode (BatchNorm folded, dropout dropped); the model is not modified.
    input_shape : sequence of int
        (C, H, W) or (1, C, H, W) of one input image.
    weight_bits, act_bits : int
        Bit widths given to every layer (8 on the DPU).
    tracer : {"auto", "fx", "eager"}
        ``"fx"``: torch.fx symbolic tracing; ``"eager"``: run the model once
        on a zero input with hooks (handles Python control flow; branches on
        tensor values follow that input); ``"auto"``: fx, and eager with a
        warning where fx fails.
    group_blocks : bool
        Give the layers of each block module one ``block`` (the unit the DPU
        runs, see the module docstring); ``False`` leaves ``block`` empty, so
        every layer is a unit of its own with its own DDR hand-offs.

    Returns
    -------
    tuple of Layer
        ``inputs`` name the producing layers (``"input"`` for the image);
        the operands of an add are listed in execution order of their
        producers, a scale lists the feature map first.

    Raises
    ------
    UnsupportedModelError
        An op with no layer equivalent (the message names the module path or
        the traced node), or a supported op in a configuration the layer
        model cannot express (dilation, non-square kernels, ...).
    ValueError
        A bad ``input_shape``, ``tracer`` or bit width.

    Examples
    --------
    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False),
    ...                           torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
    ...                           torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
    ...                           torch.nn.Linear(8, 10))
    >>> for layer in layers_from_torch(net, (3, 32, 32)):
    ...     print(layer.name, layer.op, layer.out_shape, layer.activation, layer.bias, layer.inputs)
    0 conv (8, 16, 16) relu True ('input',)
    3 pool (8, 1, 1) none False ('0',)
    5 fc (10, 1, 1) none True ('3',)
    """
    import torch

    if tracer not in _TRACERS:
        raise ValueError(f"unknown tracer {tracer!r}; allowed: {', '.join(_TRACERS)}")
    for name, bits in (("weight_bits", weight_bits), ("act_bits", act_bits)):
        if int(bits) != bits or bits <= 0:
            raise ValueError(f"{name} must be a positive integer, got {bits!r}")
    example = torch.zeros(_batch_shape(input_shape))
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        captured = _capture(model, example, tracer)
    except RuntimeError as exc:
        raise ValueError(f"{type(model).__name__} does not run on an input of shape {tuple(example.shape)}: "
                         f"{exc}") from exc
    finally:
        for module, training in modes:
            module.training = training
    placed = _Converter(captured, weight_bits, act_bits).layers()
    return _with_blocks(placed, captured.model) if group_blocks else tuple(p.layer for p in placed)


def _capture(model, example, tracer: str):
    from . import _torch_capture as capture

    if tracer == "eager":
        return capture.capture_eager(model, example)
    try:
        return capture.capture_fx(model, example)
    except capture.FxTraceError as exc:
        if tracer == "fx":
            raise UnsupportedModelError(f"torch.fx cannot trace {type(model).__name__}: {exc}; use "
                                        "tracer='eager' to capture it by running it once") from exc
        warnings.warn(f"torch.fx cannot trace {type(model).__name__} ({exc}); captured by running it once "
                      "on a zero input instead: branches that depend on tensor values follow that input",
                      stacklevel=3)
    return capture.capture_eager(model, example)


def _batch_shape(input_shape: Sequence[int]) -> tuple[int, int, int, int]:
    try:
        shape = tuple(int(v) for v in input_shape)
        exact = all(int(v) == v for v in input_shape)
    except (TypeError, ValueError):
        shape, exact = (), False
    if len(shape) == 4 and shape[0] == 1:
        shape = shape[1:]
    if len(shape) != 3 or not exact or any(v <= 0 for v in shape):
        raise ValueError(f"input_shape must be (C, H, W) or (1, C, H, W) of positive integers, got {input_shape!r}")
    return (1, *shape)


@dataclass
class _Draft:
    """A layer being assembled: fusions change its op, activation and bias."""

    index: int
    op: str
    in_shape: tuple[int, int, int]
    out_shape: tuple[int, int, int]
    sources: list  # producing drafts (or None for the network input), in operand order
    path: str = ""  # module path for module layers
    label: str = ""  # op label for functional layers, named <scope>.<label>
    scope: str = ""
    members: list[str] = field(default_factory=list)  # module paths fused into this layer
    kernel: int = 1
    stride: int = 1
    groups: int = 1
    padding: int | None = None
    activation: str = "none"
    bias: bool = False
    folded_bn: bool = False


class _Converter:
    def __init__(self, captured, weight_bits: int, act_bits: int):
        from torch import nn

        self.nn = nn
        self.captured = captured
        self.bits = {"weight_bits": weight_bits, "act_bits": act_bits}
        self.drafts: list[_Draft] = []
        self.ops = {op.name: op for op in captured.ops}
        self.alias: dict[str, str] = {}  # layout no-op -> the op whose data it shows
        self.produced: dict[str, _Draft | None] = {captured.input: None}
        self.users: dict[str, int] = {}
        self.shapes = {op.name: op.shape for op in captured.ops}
        self.shapes[captured.input] = captured.input_shape

    # ------------------------------------------------------------ driver
    def layers(self) -> tuple[_Placed, ...]:
        needed = self._needed()
        live = [op for op in self.captured.ops if op.shape is not None and op.name in needed]
        for op in live:
            if self._is_reshape(op):
                self.alias[op.name] = self._resolve(self._tensor_inputs(op, 1)[0])
        for op in live:
            if op.name not in self.alias:
                for source in op.inputs:
                    key = self._resolve(source)
                    self.users[key] = self.users.get(key, 0) + 1
        for name in self.captured.outputs:
            key = self._resolve(name)
            self.users[key] = self.users.get(key, 0) + 1
        for op in live:
            if op.name not in self.alias:
                self.produced[op.name] = self._convert(op)
        self._mark_squeeze_excitation()
        return self._finish()

    def _needed(self) -> set[str]:
        """Ops the outputs depend on: the rest (e.g. a tensor test steering Python control flow) is dropped."""
        needed, stack = set(), list(self.captured.outputs)
        while stack:
            name = stack.pop()
            if name not in needed and name in self.ops:
                needed.add(name)
                stack.extend(self.ops[name].inputs)
        return needed

    def _resolve(self, name: str) -> str:
        return self.alias.get(name, name)

    def _source(self, name: str) -> _Draft | None:
        key = self._resolve(name)
        if key not in self.produced:
            op = self.ops.get(key)
            raise UnsupportedModelError(f"{op.describe() if op else key!r} feeds a layer but is not a tensor op "
                                        "the converter knows")
        return self.produced[key]

    def _tensor_inputs(self, op, count: int) -> tuple[str, ...]:
        inputs = op.inputs
        if len(inputs) != count:
            what = "constant operands" if len(inputs) < count else f"{len(inputs)} tensor operands"
            raise UnsupportedModelError(f"{op.describe()}: {what} are not supported (expected {count} "
                                        f"feature-map operand{'s' if count > 1 else ''})")
        return inputs

    def _chw(self, op, name: str | None = None) -> tuple[int, int, int]:
        """(C, H, W) of ``op``'s output, or of its operand ``name`` as ``op`` sees it."""
        shape = op.shape if name is None else self.shapes[name]
        if len(shape) == 4:
            return tuple(shape[1:])  # type: ignore[return-value]
        if len(shape) == 2:
            return (shape[1], 1, 1)
        raise UnsupportedModelError(f"{op.describe()}: tensors of shape {tuple(shape)} are not supported "
                                    "(expected (N, C, H, W) feature maps or (N, F) vectors)")

    def _is_reshape(self, op) -> bool:
        nn = self.nn
        if op.module is not None:
            return isinstance(op.module, (nn.Identity, nn.Flatten, nn.Unflatten, nn.Dropout, nn.Dropout2d,
                                          nn.AlphaDropout))
        return op.function in _RESHAPES

    # ------------------------------------------------------------ per op
    def _convert(self, op) -> _Draft:
        nn = self.nn
        module = op.module
        if module is not None:
            if isinstance(module, nn.Conv2d):
                return self._conv(op, module)
            if isinstance(module, nn.Linear):
                return self._linear(op, module)
            if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
                return self._batchnorm(op)
            activation = _module_activation(module, nn)
            if activation:
                return self._activation(op, activation)
            if isinstance(module, (nn.AvgPool2d, nn.MaxPool2d)):
                return self._pool(op, "maxpool" if isinstance(module, nn.MaxPool2d) else "pool",
                                  module.kernel_size, module.stride, module.padding,
                                  ceil_mode=module.ceil_mode, dilation=getattr(module, "dilation", 1))
            if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
                return self._adaptive_pool(op, "maxpool" if isinstance(module, nn.AdaptiveMaxPool2d) else "pool")
            raise UnsupportedModelError(f"{op.describe()} is not supported; supported: {_SUPPORTED}")
        name = op.function
        if name in _ACTIVATION_FUNCTIONS:
            return self._activation(op, _ACTIVATION_FUNCTIONS[name])
        if name in ("avg_pool2d", "max_pool2d"):
            args = _bind(op, ("input", "kernel_size", "stride", "padding", "ceil_mode"))
            return self._pool(op, _POOL_FUNCTIONS[name], args.get("kernel_size"), args.get("stride"),
                              args.get("padding", 0), ceil_mode=args.get("ceil_mode", False),
                              dilation=args.get("dilation", 1))
        if name in ("adaptive_avg_pool2d", "adaptive_max_pool2d"):
            return self._adaptive_pool(op, _POOL_FUNCTIONS[name])
        if name == "mean":
            return self._mean(op)
        if name == "add":
            return self._add(op)
        if name == "mul":
            return self._mul(op)
        raise UnsupportedModelError(f"{op.describe()} is not supported; supported: {_SUPPORTED}")

    def _new(self, op, layer_op: str, in_shape, sources, **fields) -> _Draft:
        draft = _Draft(index=len(self.drafts), op=layer_op, in_shape=tuple(in_shape), out_shape=self._chw(op),
                       sources=list(sources), scope=op.scope, **fields)
        if op.module is not None:
            draft.path = op.scope
            draft.members.append(op.scope)
        self.drafts.append(draft)
        return draft

    def _conv(self, op, conv) -> _Draft:
        (source,) = self._tensor_inputs(op, 1)
        in_shape = self._chw(op, source)
        kernel = _square(op, "kernel_size", conv.kernel_size)
        stride = _square(op, "stride", conv.stride)
        if _square(op, "dilation", conv.dilation) != 1:
            raise UnsupportedModelError(f"{op.describe()}: dilated convolutions are not supported")
        if conv.padding_mode != "zeros":
            raise UnsupportedModelError(f"{op.describe()}: padding_mode {conv.padding_mode!r} is not supported "
                                        "(only 'zeros')")
        if conv.padding == "valid":
            pad = 0
        elif conv.padding == "same":
            pad = kernel // 2
            if kernel % 2 == 0:
                raise UnsupportedModelError(f"{op.describe()}: padding='same' with an even kernel pads unevenly")
        else:
            pad = _square(op, "padding", conv.padding)
        cin, cout, groups = conv.in_channels, conv.out_channels, conv.groups
        if groups > 1 and groups == cin == cout:
            layer_op = "dwconv"
        else:
            layer_op = "pwconv" if kernel == 1 else "conv"
        return self._new(op, layer_op, in_shape, [self._source(source)], kernel=kernel, stride=stride,
                         groups=groups, padding=None if pad == kernel // 2 else pad, bias=conv.bias is not None)

    def _linear(self, op, linear) -> _Draft:
        (source,) = self._tensor_inputs(op, 1)
        if len(self.shapes[source]) != 2:
            raise UnsupportedModelError(f"{op.describe()}: linear layers are supported on (N, F) vectors only, "
                                        f"got input shape {self.shapes[source]}")
        return self._new(op, "fc", (linear.in_features, 1, 1), [self._source(source)],
                         bias=linear.bias is not None)

    def _fusion_target(self, op, kinds) -> _Draft | None:
        """The layer ``op`` can fuse into: it produced ``op``'s only input and nothing else reads it."""
        (source,) = self._tensor_inputs(op, 1)
        draft = self._source(source)
        if draft is None or draft.op not in kinds or draft.activation != "none" \
                or self.users.get(self._resolve(source), 0) != 1:
            return None
        return draft

    def _batchnorm(self, op) -> _Draft:
        draft = self._fusion_target(op, _FOLDS_BATCHNORM)
        if draft is None or draft.folded_bn:
            raise UnsupportedModelError(f"{op.describe()}: BatchNorm can only be folded into a convolution or "
                                        "linear layer whose output feeds nothing else (and that has no activation "
                                        "or BatchNorm yet); a standalone BatchNorm has no layer equivalent")
        draft.bias = draft.folded_bn = True
        draft.members.append(op.scope)
        return draft

    def _activation(self, op, activation: str) -> _Draft:
        draft = self._fusion_target(op, _FUSES_ACTIVATION)
        if draft is not None:
            draft.activation = activation
            if op.module is not None:
                draft.members.append(op.scope)
            return draft
        (source,) = self._tensor_inputs(op, 1)
        return self._new(op, "act", self._chw(op, source), [self._source(source)], activation=activation,
                         label=activation)

    def _pool(self, op, kind: str, kernel, stride, padding, *, ceil_mode: bool, dilation) -> _Draft:
        (source,) = self._tensor_inputs(op, 1)
        in_shape = self._chw(op, source)
        kernel = _square(op, "kernel_size", kernel)
        stride = _square(op, "stride", stride) if stride else kernel  # torch: None or [] means "= kernel"
        pad = _square(op, "padding", padding)
        if _square(op, "dilation", dilation) != 1:
            raise UnsupportedModelError(f"{op.describe()}: dilated pooling is not supported")
        out_shape = self._chw(op)
        expected = tuple(conv_output_size(v, kernel, stride, pad) for v in in_shape[1:])
        if tuple(out_shape[1:]) != expected:
            raise UnsupportedModelError(f"{op.describe()}: ceil_mode={ceil_mode} gives output {out_shape[1:]}, "
                                        f"not the floor-mode {expected} the layer model uses")
        return self._new(op, kind, in_shape, [self._source(source)], kernel=kernel, stride=stride,
                         padding=pad or None, label=kind)

    def _global_pool(self, op, kind: str, source: str) -> _Draft:
        c, h, w = self._chw(op, source)
        if h != w:
            raise UnsupportedModelError(f"{op.describe()}: global pooling over a non-square {h}x{w} map "
                                        "is not supported (layers have square windows)")
        return self._new(op, kind, (c, h, w), [self._source(source)], kernel=h, label=kind)

    def _adaptive_pool(self, op, kind: str) -> _Draft:
        (source,) = self._tensor_inputs(op, 1)
        c, h, w = self._chw(op, source)
        _, oh, ow = self._chw(op)
        if (oh, ow) == (1, 1):
            return self._global_pool(op, kind, source)
        if h % oh or w % ow or h // oh != w // ow:
            raise UnsupportedModelError(f"{op.describe()}: adaptive pooling {h}x{w} -> {oh}x{ow} has no fixed "
                                        "square window (sizes must divide evenly, equally in H and W)")
        window = h // oh
        return self._new(op, kind, (c, h, w), [self._source(source)], kernel=window, stride=window, label=kind)

    def _mean(self, op) -> _Draft:
        (source,) = self._tensor_inputs(op, 1)
        args = _bind(op, ("input", "dim", "keepdim"))
        dims = args.get("dim")
        dims = (dims,) if isinstance(dims, int) else tuple(dims or ())
        if len(self.shapes[source]) != 4 or sorted(d % 4 for d in dims) != [2, 3]:
            raise UnsupportedModelError(f"{op.describe()}: only a mean over H and W of an (N, C, H, W) map "
                                        f"(global average pooling) is supported, got dim={args.get('dim')!r}")
        return self._global_pool(op, "pool", source)

    def _add(self, op) -> _Draft:
        left, right = self._tensor_inputs(op, 2)
        if _bind(op, ("input", "other")).get("alpha", 1) != 1:
            raise UnsupportedModelError(f"{op.describe()}: add with alpha != 1 is not supported")
        shapes = {self._chw(op, left), self._chw(op, right)}
        if len(shapes) != 1:
            raise UnsupportedModelError(f"{op.describe()}: add of different shapes {sorted(shapes)} (broadcasting) "
                                        "is not supported")
        sources = sorted((self._source(left), self._source(right)), key=_order)
        return self._new(op, "add", self._chw(op), sources, label="add")

    def _mul(self, op) -> _Draft:
        left, right = self._tensor_inputs(op, 2)
        shapes = {name: self._chw(op, name) for name in (left, right)}
        data, vector = sorted((left, right), key=lambda n: shapes[n][1:] == (1, 1))
        (c, h, w), (cv, hv, wv) = shapes[data], shapes[vector]
        if (hv, wv) != (1, 1) or cv != c or (h, w) == (1, 1):
            raise UnsupportedModelError(f"{op.describe()}: only a channel scale (a (N, C, H, W) map times a "
                                        f"(N, C, 1, 1) vector) is supported, got {shapes[left]} * {shapes[right]}")
        return self._new(op, "scale", shapes[data], [self._source(data), self._source(vector)], label="scale")

    # ---------------------------------------------------------- finishing
    def _mark_squeeze_excitation(self) -> None:
        """1x1 layers between a global pool of x and the scale of x are SE layers."""
        for scale in (d for d in self.drafts if d.op == "scale"):
            data, draft = scale.sources
            chain = []
            while draft is not None and draft.op in ("pwconv", "fc", "act") and draft.out_shape[1:] == (1, 1) \
                    and draft.in_shape[1:] == (1, 1) and draft.groups == 1:
                chain.append(draft)
                draft = draft.sources[0]
            if draft is not None and draft.op == "pool" and draft.out_shape[1:] == (1, 1) \
                    and draft.sources[0] is data and any(d.op != "act" for d in chain):
                for d in chain:
                    if d.op != "act":
                        d.op = "se_fc"

    def _finish(self) -> tuple[_Placed, ...]:
        names = self._names()
        layers = []
        for draft in self.drafts:
            inputs = tuple("input" if s is None else names[s.index] for s in draft.sources)
            layer = Layer(names[draft.index], draft.op, draft.in_shape, draft.out_shape, kernel=draft.kernel,
                          stride=draft.stride, groups=draft.groups, padding=draft.padding,
                          activation=draft.activation, bias=draft.bias, inputs=inputs,
                          weight_bits=self.bits["weight_bits"], act_bits=self.bits["act_bits"])
            layers.append(_Placed(layer, draft.path or draft.scope, bool(draft.path)))
        return tuple(layers)

    def _names(self) -> list[str]:
        used = {"input"}
        names = []
        for draft in self.drafts:
            if draft.path:
                base = self._module_layer_name(draft)
            else:
                base = f"{draft.scope}.{draft.label}" if draft.scope else draft.label
            name, n = base, 0
            while name in used:
                n += 1
                name = f"{base}_{n}"
            used.add(name)
            names.append(name)
        return names

    def _module_layer_name(self, draft: _Draft) -> str:
        path = draft.path
        if "." not in path:
            return path
        parent_path, leaf = path.rsplit(".", 1)
        if leaf in ("conv", "linear"):  # OFA's ConvLayer / LinearLayer naming
            return parent_path
        nn = self.nn
        parent = self.captured.model.get_submodule(parent_path)
        if isinstance(parent, nn.Sequential):
            others = [f"{parent_path}.{child}" for child, module in parent.named_children()
                      if not isinstance(module, (nn.Identity, nn.Dropout, nn.Flatten))]
            if set(others) <= set(draft.members):
                return parent_path
        return path


@dataclass(frozen=True)
class _Placed:
    """A converted layer and the module path it came from (``leaf``: the path is its own module)."""

    layer: Layer
    path: str
    leaf: bool


def _with_blocks(placed: Sequence[_Placed], model) -> tuple[Layer, ...]:
    """The layers with ``block`` set: one unit per block module (see the module docstring)."""
    from dataclasses import replace

    unit_of = [_block_module(p.path, p.leaf, model) for p in placed]
    layers: list[Layer] = []
    start = 0
    while start < len(placed):
        end = start + 1
        while end < len(placed) and unit_of[start] and unit_of[end] == unit_of[start]:
            end += 1
        unit = [p.layer for p in placed[start:end]]
        block = _canonical_key(unit) or unit_of[start]
        layers += [replace(layer, block=block) for layer in unit]
        start = end
    return tuple(layers)


def _block_module(path: str, leaf: bool, model) -> str:
    """The shallowest non-container module on ``path`` ("" when that is the layer's own module or the root)."""
    from torch import nn

    parts = path.split(".") if path else []
    for depth in range(1, len(parts) + 1):
        prefix = ".".join(parts[:depth])
        if not isinstance(model.get_submodule(prefix), (nn.Sequential, nn.ModuleList, nn.ModuleDict)):
            return "" if (leaf and depth == len(parts)) else prefix
    return ""


def _signature(layers: Sequence[Layer]) -> list[tuple]:
    # ReLU and ReLU6 cost the same on a DPU, and OFA's keys do not tell them apart (hs:0)
    return [(layer.op, layer.in_shape, layer.out_shape, layer.kernel, layer.stride, layer.groups, layer.bias,
             "relu" if layer.activation == "relu6" else layer.activation) for layer in layers]


def _canonical_key(unit: Sequence[Layer]) -> str:
    """OFA's latency-table key of ``unit`` if that key describes exactly these layers, else ""."""
    first, last = unit[0], unit[-1]
    depthwise = [layer for layer in unit if layer.op == "dwconv"]
    if len(depthwise) == 1:
        dw = depthwise[0]
        spec = BlockSpec("mbconv", first.in_shape, last.out_shape[0], kernel=dw.kernel, stride=dw.stride,
                         mid=dw.in_shape[0], se=any(layer.op == "se_fc" for layer in unit),
                         activation=dw.activation)
    elif len(unit) == 1 and first.op in ("conv", "pwconv", "pool", "fc"):
        kind = {"conv": "stem", "pool": "pool", "fc": "classifier"}.get(
            first.op, "feature_mix" if first.in_shape[1:] == (1, 1) else "final_expand")
        spec = BlockSpec(kind, first.in_shape, first.out_shape[0], kernel=first.kernel, stride=first.stride,
                         activation=first.activation)
    else:
        return ""
    try:
        key = spec.key
        described = BlockSpec.from_key(key).layers()
    except ValueError:
        return ""
    return key if _signature(described) == _signature(unit) else ""


def _order(draft: _Draft | None) -> int:
    return -1 if draft is None else draft.index


def _module_activation(module, nn) -> str:
    for cls, name in ((nn.ReLU6, "relu6"), (nn.ReLU, "relu"), (nn.Hardswish, "h_swish"),
                      (nn.Hardsigmoid, "h_sigmoid"), (nn.Sigmoid, "sigmoid")):
        if type(module) is cls:
            return name
    return ""


def _square(op, what: str, value) -> int:
    values = (value,) if isinstance(value, int) else tuple(value)
    if len(set(values)) != 1:
        raise UnsupportedModelError(f"{op.describe()}: {what} {value} differs between H and W; "
                                    "only square windows are supported")
    return int(values[0])


def _bind(op, names: tuple[str, ...]) -> dict:
    """Positional and keyword arguments of a functional call, by parameter name."""
    bound = dict(zip(names, op.args, strict=False))  # optional trailing parameters may be absent
    bound.update(op.kwargs)
    return bound
