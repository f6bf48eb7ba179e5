"""Execution order of a layer list: resolved inputs and when each tensor can be freed.

Shared by the float and the integer executors (and the C++ generator), so
all three agree on which tensor feeds which layer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from accel_models.layer import Layer

__all__ = ["INPUT", "Step", "c_identifier", "plan"]

#: Name of the network input tensor in ``Layer.inputs``.
INPUT = "input"


@dataclass(frozen=True)
class Step:
    """One layer with its resolved input names and the tensors no longer needed after it."""

    layer: Layer
    inputs: tuple[str, ...]
    release: tuple[str, ...]


def plan(layers: Sequence[Layer]) -> tuple[Step, ...]:
    """Resolve every layer's inputs (empty means "the previous layer") and plan tensor lifetimes.

    Examples
    --------
    >>> a = Layer("a", "pwconv", (4, 2, 2), (4, 2, 2))
    >>> b = Layer("b", "add", (4, 2, 2), (4, 2, 2), inputs=("input", "a"))
    >>> [(s.layer.name, s.inputs, s.release) for s in plan([a, b])]
    [('a', ('input',), ()), ('b', ('input', 'a'), ('input', 'a'))]
    """
    layers = tuple(layers)
    if not layers:
        raise ValueError("a network needs at least one layer")
    seen = {INPUT}
    resolved = []
    previous = INPUT
    for layer in layers:
        if layer.name in seen:
            raise ValueError(f"duplicate layer name {layer.name!r}" if layer.name != INPUT
                             else f"a layer may not be called {INPUT!r}")
        inputs = layer.inputs or (previous,)
        for source in inputs:
            if source not in seen:
                raise ValueError(f"layer {layer.name!r} reads {source!r}, which no earlier layer produces")
        n_expected = {"add": 2, "scale": 2}.get(layer.op, 1)
        if len(inputs) != n_expected:
            raise ValueError(f"layer {layer.name!r} ({layer.op}) needs {n_expected} input(s), got {list(inputs)}")
        resolved.append(tuple(inputs))
        seen.add(layer.name)
        previous = layer.name
    last_use = {}
    for i, inputs in enumerate(resolved):
        for source in inputs:
            last_use[source] = i
    steps = []
    for i, (layer, inputs) in enumerate(zip(layers, resolved, strict=True)):
        release = tuple(dict.fromkeys(s for s in inputs if last_use[s] == i))
        steps.append(Step(layer, inputs, release))
    return tuple(steps)


def c_identifier(name: str) -> str:
    """A C identifier for a layer name (``blocks.3.conv.depth_conv`` -> ``blocks_3_conv_depth_conv``).

    >>> c_identifier("blocks.3.conv.depth_conv.se.fc.reduce")
    'blocks_3_conv_depth_conv_se_fc_reduce'
    >>> c_identifier("1st-layer")
    'l_1st_layer'
    """
    ident = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return ident if re.match(r"[A-Za-z_]", ident) else f"l_{ident}"
