"""Capture the operations a torch model runs: torch.fx or one eager run.

Both front ends return the same flat record (:class:`Capture`): one
:class:`CapturedOp` per module call or tensor function, in execution order,
with its tensor operands, its other arguments and its output shape.
:mod:`accel_models.from_torch` turns that record into layers.

This module imports torch; only :func:`accel_models.layers_from_torch` imports it.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp, TensorMetadata
from torch.overrides import TorchFunctionMode

__all__ = ["Capture", "CapturedOp", "FxTraceError", "TensorRef", "capture_eager", "capture_fx", "function_name"]


class FxTraceError(Exception):
    """torch.fx could not trace the model symbolically; ``__cause__`` says why."""


@dataclass(frozen=True)
class TensorRef:
    """A tensor argument: the output of the captured op ``name``."""

    name: str


@dataclass(frozen=True)
class CapturedOp:
    """One call recorded while the model ran.

    ``module`` is set for calls of a leaf module (``scope`` is then that
    module's path); otherwise ``function`` is the canonical name of the tensor
    function or method (see :func:`function_name`) and ``scope`` is the path
    of the module whose ``forward`` made the call (``""`` for the root).
    ``args`` / ``kwargs`` hold the call's arguments with tensors replaced by
    :class:`TensorRef` and values unknown to the tracer by ``None``;
    ``shape`` is the output shape, ``None`` when the output is not a tensor.
    """

    name: str
    scope: str
    module: nn.Module | None
    function: str | None
    target: str
    args: tuple
    kwargs: dict
    shape: tuple[int, ...] | None

    @property
    def inputs(self) -> tuple[str, ...]:
        """Names of the ops whose tensors this call reads, in argument order."""
        return tuple(ref.name for ref in _refs((self.args, tuple(self.kwargs.values()))))

    def describe(self) -> str:
        where = f" in module {self.scope!r}" if self.scope else " in the root module"
        if self.module is not None:
            return f"module {self.scope!r} ({type(self.module).__name__})"
        return f"call {self.target!r}{where} (node {self.name!r})"


@dataclass(frozen=True)
class Capture:
    """Execution-ordered ops of one forward pass; ``input`` names the model input."""

    ops: tuple[CapturedOp, ...]
    input: str
    outputs: tuple[str, ...]
    input_shape: tuple[int, ...]
    model: nn.Module
    tracer: str = field(default="fx")


def _refs(value: Any):
    if isinstance(value, TensorRef):
        yield value
    elif isinstance(value, (tuple, list)):
        for item in value:
            yield from _refs(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _refs(item)


_ALIASES = {"iadd": "add", "radd": "add", "imul": "mul", "rmul": "mul", "truediv": "div", "itruediv": "div"}


def function_name(target: Any) -> str:
    """Canonical name of a tensor function, method or operator.

    In-place and reflected variants map to the plain name, so fx's
    ``operator.iadd`` and eager ``Tensor.add_`` are both ``"add"``.
    Callables from outside torch and :mod:`operator` keep their qualified
    name, which no converter recognises.

    >>> import operator
    >>> function_name(operator.iadd), function_name("relu_"), function_name(torch.Tensor.__mul__)
    ('add', 'relu', 'mul')
    """
    if isinstance(target, str):
        name = target
    else:
        name = getattr(target, "__name__", None) or repr(target)
        module = getattr(target, "__module__", None)
        trusted = (module is None or module.startswith("torch") or module in ("_operator", "operator")
                   or hasattr(target, "__objclass__") or target in vars(operator).values())
        if not trusted:
            return f"{module}.{getattr(target, '__qualname__', name)}"
    name = name.strip("_")
    return _ALIASES.get(name, name)


def _is_leaf(module: nn.Module) -> bool:
    # The same rule as torch.fx's default tracer, so both front ends see the same ops.
    return (type(module).__module__.startswith(("torch.nn", "torch.ao.nn"))
            and not isinstance(module, (nn.Sequential, nn.ModuleList, nn.ModuleDict)))


# ------------------------------------------------------------------- fx
def capture_fx(model: nn.Module, example: torch.Tensor) -> Capture:
    """Trace ``model`` symbolically with torch.fx and propagate ``example``'s shape.

    Raises :class:`FxTraceError` when the model cannot be traced
    symbolically (control flow on tensor values, unsupported Python).
    """
    tracer = fx.Tracer()
    try:
        graph = tracer.trace(model)
    except Exception as exc:  # noqa: BLE001 - fx raises many types for untraceable Python
        raise FxTraceError(f"{type(exc).__name__}: {exc}") from exc
    graph_module = fx.GraphModule(tracer.root, graph)
    with torch.no_grad():
        ShapeProp(graph_module).propagate(example)
    placeholders = [node.name for node in graph.nodes if node.op == "placeholder"]
    if len(placeholders) != 1:
        raise ValueError(f"the model's forward takes {len(placeholders)} inputs {placeholders}; only "
                         "single-input models can be converted")
    ops: list[CapturedOp] = []
    outputs: tuple[str, ...] = ()
    for node in graph.nodes:
        if node.op == "placeholder":
            continue
        if node.op == "output":
            outputs = tuple(ref.name for ref in _refs(_fx_args(node.args)))
            continue
        stack = node.meta.get("nn_module_stack") or {}
        scope = next(reversed(stack.values()))[0] if stack else ""
        module = None
        if node.op == "call_module":
            module, scope, function = model.get_submodule(node.target), node.target, None
        elif node.op == "get_attr":
            function = f"parameter or buffer {node.target}"
        else:
            function = function_name(node.target)
        ops.append(CapturedOp(
            name=node.name, scope=scope, module=module, function=function,
            target=node.target if isinstance(node.target, str) else getattr(node.target, "__name__", str(node.target)),
            args=_fx_args(node.args), kwargs=_fx_args(dict(node.kwargs)), shape=_fx_shape(node),
        ))
    return Capture(tuple(ops), placeholders[0], outputs, tuple(example.shape), model, tracer="fx")


def _fx_args(value: Any) -> Any:
    if isinstance(value, fx.Node):
        meta = value.meta.get("tensor_meta")
        return TensorRef(value.name) if isinstance(meta, TensorMetadata) else None
    if isinstance(value, (tuple, list)):
        return tuple(_fx_args(item) for item in value)
    if isinstance(value, dict):
        return {key: _fx_args(item) for key, item in value.items()}
    return value


def _fx_shape(node: fx.Node) -> tuple[int, ...] | None:
    meta = node.meta.get("tensor_meta")
    if isinstance(meta, TensorMetadata):
        return tuple(int(v) for v in meta.shape)
    if meta is not None:
        raise ValueError(f"node {node.name!r} ({node.target}) returns several tensors; only ops with one "
                         "tensor output can be converted")
    return None


# ---------------------------------------------------------------- eager
class _Recorder(TorchFunctionMode):
    """Records tensor functions called outside leaf modules, and leaf module calls via hooks."""

    def __init__(self, paths: dict[int, str]):
        super().__init__()
        self.paths = paths
        self.ops: list[CapturedOp] = []
        self.producer: dict[int, str] = {}
        self.alive: list[torch.Tensor] = []  # keeps recorded tensors alive so their ids stay unique
        self.scopes: list[str] = [""]
        self.leaf_depth = 0
        self.counts: dict[str, int] = {}

    def _args(self, value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            name = self.producer.get(id(value))
            return TensorRef(name) if name is not None else None
        if isinstance(value, (tuple, list)):
            return tuple(self._args(item) for item in value)
        if isinstance(value, dict):
            return {key: self._args(item) for key, item in value.items()}
        return value

    def record(self, base: str, scope: str, module, function, target, args, kwargs, out) -> None:
        if not isinstance(out, torch.Tensor):
            if isinstance(out, (tuple, list)) and any(isinstance(o, torch.Tensor) for o in out):
                raise ValueError(f"{target!r} in module {scope!r} returns several tensors; only ops with one "
                                 "tensor output can be converted")
            return
        count = self.counts.get(base, 0)
        self.counts[base] = count + 1
        name = base if count == 0 else f"{base}_{count}"
        self.ops.append(CapturedOp(name, scope, module, function, target, self._args(tuple(args)),
                                   self._args(dict(kwargs)), tuple(int(v) for v in out.shape)))
        self.producer[id(out)] = name
        self.alive.append(out)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if self.leaf_depth == 0:
            name = function_name(func)
            self.record(name.replace(".", "_"), self.scopes[-1], None, name,
                        getattr(func, "__name__", str(func)), args, kwargs, out)
        return out

    def _leaf(self, module) -> bool:
        # fx always traces into the root's forward; so do we.
        return _is_leaf(module) and self.paths[id(module)] != ""

    def pre_hook(self, module, args):
        if self._leaf(module):
            self.leaf_depth += 1
        self.scopes.append(self.paths[id(module)])

    def post_hook(self, module, args, out):
        path = self.scopes.pop()
        if self._leaf(module):
            self.leaf_depth -= 1
            if self.leaf_depth == 0:
                self.record(path.replace(".", "_"), path, module, None, path, args, {}, out)


def capture_eager(model: nn.Module, example: torch.Tensor) -> Capture:
    """Run ``model`` once on ``example`` and record every op outside leaf modules.

    Works where symbolic tracing does not (Python control flow); branches
    that depend on tensor values follow ``example``.
    """
    paths = {id(module): path for path, module in model.named_modules()}
    recorder = _Recorder(paths)
    handles = []
    try:
        for module in model.modules():
            handles.append(module.register_forward_pre_hook(recorder.pre_hook))
            handles.append(module.register_forward_hook(recorder.post_hook))
        recorder.producer[id(example)] = "x"
        recorder.alive.append(example)
        with torch.no_grad(), recorder:
            out = model(example)
    finally:
        for handle in handles:
            handle.remove()
    outputs = tuple(ref.name for ref in _refs(recorder._args(out)))
    return Capture(tuple(recorder.ops), "x", outputs, tuple(example.shape), model, tracer="eager")
