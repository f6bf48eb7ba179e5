"""Parallelism hints and cycle estimates per layer.

Two views of the same layer:

* the DPU's: pixel / input-channel / output-channel parallelism (PP, ICP,
  OCP) of a DPU-like :class:`accel_models.Accelerator`; cycles are
  :func:`accel_models.tiling.tiled_cycles` (the tiling the project's latency
  model uses, plus the element-wise passes of a fused h-swish / h-sigmoid);
* the generated kernels': FINN-style PE (output channels per cycle) and SIMD
  (input channels per cycle), the largest divisors of the channel counts not
  above OCP and ICP, with every pipelined loop at II = 1.

Both are compute-only estimates: no memory stalls, no per-layer overhead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from accel_models import Accelerator, Layer, LayerArrays
from accel_models.tiling import AcceleratorArrays, tiled_cycles

from .targets import kernel_name

__all__ = ["accelerator_info", "as_accelerator", "kernel_folding", "layer_hints"]


def _largest_divisor(n: int, limit: int) -> int:
    return max(d for d in range(1, max(1, min(n, limit)) + 1) if n % d == 0)


def as_accelerator(accelerator: Any) -> Accelerator | None:
    """``accelerator`` as an :class:`accel_models.Accelerator` (any object with ``pp``, ``icp``, ``ocp``, ``clock_mhz``)."""
    if accelerator is None or isinstance(accelerator, Accelerator):
        return accelerator
    missing = [a for a in ("pp", "icp", "ocp", "clock_mhz") if not hasattr(accelerator, a)]
    if missing:
        raise ValueError(f"accelerator {accelerator!r} lacks attribute(s) {missing}; an accelerator needs "
                         "pp, icp, ocp and clock_mhz")
    return Accelerator(accelerator.pp, accelerator.icp, accelerator.ocp, accelerator.clock_mhz,
                       dw_pp=getattr(accelerator, "dw_pp", None), name=str(getattr(accelerator, "name", "") or "custom"))


def accelerator_info(accelerator: Accelerator | None) -> dict | None:
    """The manifest's description of ``accelerator`` (``None`` stays ``None``)."""
    if accelerator is None:
        return None
    return {"name": accelerator.name, "pp": accelerator.pp, "icp": accelerator.icp, "ocp": accelerator.ocp,
            "dw_pp": accelerator.dw_pp, "clock_mhz": accelerator.clock_mhz, "config": accelerator.to_dict()}


def kernel_folding(layer: Layer, accelerator: Accelerator | None) -> tuple[int, int]:
    """(PE, SIMD) of the generated kernel: 1 x 1 without an accelerator.

    >>> kernel_folding(Layer("p", "pwconv", (24, 4, 4), (72, 4, 4)), Accelerator(4, 16, 16, clock_mhz=100.0))
    (12, 12)
    """
    if accelerator is None:
        return 1, 1
    cin, cout = layer.in_shape[0], layer.out_shape[0]
    kernel = kernel_name(layer)
    if kernel == "dwconv":
        return _largest_divisor(cout, accelerator.icp), 1
    if kernel in ("conv2d", "pwconv", "fc"):
        return _largest_divisor(cout, accelerator.ocp), _largest_divisor(cin, accelerator.icp)
    return 1, 1


def _kernel_cycles(layer: Layer, pe: int, simd: int) -> int:
    cin, h, w = layer.in_shape
    cout, ho, wo = layer.out_shape
    kernel = kernel_name(layer)
    if kernel in ("conv2d", "pwconv", "fc"):
        return (cout // pe) * (cin // simd) * layer.kernel**2 * ho * wo
    if kernel == "dwconv":
        return (cout // pe) * layer.kernel**2 * ho * wo
    return cin * h * w  # pool / scale / add: one element per cycle


def layer_hints(layers: Sequence[Layer], accelerator: Accelerator | None) -> list[dict]:
    """Per layer, the manifest's ``parallelism``, ``macs`` and ``cycles`` entries."""
    dpu = [None] * len(layers)
    if accelerator is not None:
        cycles, activation = tiled_cycles(LayerArrays.from_layers(layers),
                                          AcceleratorArrays.from_accelerators([accelerator]))
        dpu = [int(c) for c in (cycles + activation)[0]]
    out = []
    for layer, dpu_cycles in zip(layers, dpu):
        pe, simd = kernel_folding(layer, accelerator)
        parallelism = {"pe": pe, "simd": simd}
        if accelerator is not None:
            parallelism.update(pp=accelerator.pp, icp=accelerator.icp, ocp=accelerator.ocp)
        out.append({"parallelism": parallelism, "macs": layer.macs,
                    "cycles": {"kernel": _kernel_cycles(layer, pe, simd), "dpu": dpu_cycles}})
    return out
