"""What a target can run: per-layer checks done before anything is written.

:data:`DPU` holds the DPUCZDX8G limits of PG338 (kernel 1-16, stride 1-8,
padding below the kernel, int8) intersected with what the kernel library in
``hls/templates`` implements (dense, pointwise and depthwise convolution,
fully connected, global average pool, SE channel scale, residual add).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from accel_models.layer import Layer

from .errors import UnsupportedLayerError
from .fixedpoint import ACT_CODES

__all__ = ["DPU", "TargetLimits", "check_layers", "kernel_name", "require_supported"]


@dataclass(frozen=True)
class TargetLimits:
    """Limits of one target.

    ``ops`` are the :data:`accel_models.OPS` names with a kernel; ``kernel``
    and ``stride`` are inclusive ranges for window ops; ``bits`` the only
    weight / activation width.
    """

    name: str
    ops: tuple[str, ...]
    kernel: tuple[int, int]
    stride: tuple[int, int]
    bits: int = 8

    def __post_init__(self) -> None:
        for attr in ("kernel", "stride"):
            lo, hi = getattr(self, attr)
            if not 1 <= lo <= hi:
                raise ValueError(f"{attr} range must satisfy 1 <= low <= high, got {(lo, hi)}")


DPU = TargetLimits(
    name="dpuczdx8g",
    ops=("conv", "pwconv", "dwconv", "fc", "se_fc", "pool", "scale", "add"),
    kernel=(1, 16),
    stride=(1, 8),
)


def kernel_name(layer: Layer) -> str:
    """The library kernel that runs ``layer`` (``conv2d``, ``pwconv``, ``dwconv``, ``fc`` ...).

    >>> kernel_name(Layer("p", "pwconv", (8, 4, 4), (16, 4, 4)))
    'pwconv'
    >>> kernel_name(Layer("s", "pwconv", (8, 4, 4), (16, 2, 2), stride=2))
    'conv2d'
    """
    if layer.op == "dwconv":
        return "dwconv"
    if layer.op in ("conv", "pwconv"):
        plain_1x1 = layer.kernel == 1 and layer.stride == 1 and layer.pad == 0
        return "pwconv" if plain_1x1 else "conv2d"
    return {"fc": "fc", "se_fc": "fc", "pool": "avgpool_global", "scale": "se_scale", "add": "add"}[layer.op]


def _problems(layer: Layer, target: TargetLimits) -> list[str]:
    out = []
    if layer.op not in target.ops:
        return [f"op {layer.op!r} is not supported; supported: {', '.join(target.ops)}"]
    if layer.op in ("conv", "pwconv", "dwconv"):
        lo, hi = target.kernel
        if not lo <= layer.kernel <= hi:
            out.append(f"kernel {layer.kernel} outside the supported {lo}..{hi}")
        lo, hi = target.stride
        if not lo <= layer.stride <= hi:
            out.append(f"stride {layer.stride} outside the supported {lo}..{hi}")
        if layer.pad >= layer.kernel and layer.pad > 0:
            out.append(f"padding {layer.pad} must be smaller than the kernel {layer.kernel}")
        if layer.op != "dwconv" and layer.groups != 1:
            out.append(f"grouped convolution (groups={layer.groups}) has no kernel; supported: groups=1 or depthwise")
    if layer.op == "pool":
        _, h, w = layer.in_shape
        if not (layer.kernel == h == w and layer.pad == 0):
            out.append(f"only global average pooling is supported (kernel == H == W, no padding), got kernel "
                       f"{layer.kernel} on {h}x{w} with padding {layer.pad}")
    if layer.activation not in ACT_CODES:
        out.append(f"activation {layer.activation!r} has no integer implementation; supported: {', '.join(ACT_CODES)}")
    for attr in ("weight_bits", "act_bits"):
        if getattr(layer, attr) != target.bits:
            out.append(f"{attr} {getattr(layer, attr)} is not supported; the target runs {target.bits}-bit")
    return out


def check_layers(layers: Sequence[Layer], target: TargetLimits = DPU) -> list[tuple[str, str]]:
    """Every ``(layer name, problem)`` of ``layers`` on ``target`` (empty when all can run).

    >>> big = Layer("big", "conv", (8, 40, 40), (8, 24, 24), kernel=17, padding=0)
    >>> check_layers([big])
    [('big', 'kernel 17 outside the supported 1..16')]
    """
    return [(layer.name, problem) for layer in layers for problem in _problems(layer, target)]


def require_supported(layers: Sequence[Layer], target: TargetLimits = DPU) -> None:
    """Raise :class:`UnsupportedLayerError` listing every problem of :func:`check_layers`."""
    problems = check_layers(layers, target)
    if problems:
        raise UnsupportedLayerError(problems, target.name)
