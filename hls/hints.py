"""Parallelism hints and cycle estimates per layer.

Two views of the same layer:

* the DPU's: pixel / input-channel / output-channel parallelism (PP, ICP,
  OCP) of a DPU-like accelerator, any object with ``pp``, ``icp``, ``ocp``
  and ``clock_mhz`` attributes (``accel_models.Accelerator``); depthwise
  layers run at ``dw_pp`` pixels per cycle (default PP/2, as PG338 says);
* the generated kernels': FINN-style PE (output channels per cycle) and SIMD
  (input channels per cycle), the largest divisors of the channel counts not
  above OCP and ICP, with every pipelined loop at II = 1.

Both are compute-only estimates: no memory stalls, no per-layer overhead.
"""

from __future__ import annotations

import math
from typing import Any

from accel_models.layer import Layer

from .targets import kernel_name

__all__ = ["accelerator_info", "kernel_folding", "layer_hints"]


def _largest_divisor(n: int, limit: int) -> int:
    return max(d for d in range(1, max(1, min(n, limit)) + 1) if n % d == 0)


def accelerator_info(accelerator: Any) -> dict | None:
    """The manifest's description of ``accelerator`` (``None`` stays ``None``)."""
    if accelerator is None:
        return None
    missing = [a for a in ("pp", "icp", "ocp", "clock_mhz") if not hasattr(accelerator, a)]
    if missing:
        raise ValueError(f"accelerator {accelerator!r} lacks attribute(s) {missing}; an accelerator needs "
                         "pp, icp, ocp and clock_mhz")
    info = {"pp": int(accelerator.pp), "icp": int(accelerator.icp), "ocp": int(accelerator.ocp),
            "clock_mhz": float(accelerator.clock_mhz)}
    if min(info["pp"], info["icp"], info["ocp"]) < 1 or info["clock_mhz"] <= 0:
        raise ValueError(f"accelerator parallelism and clock must be positive, got {info}")
    info["dw_pp"] = int(getattr(accelerator, "dw_pp", None) or max(1, info["pp"] // 2))
    info["name"] = str(getattr(accelerator, "name", "") or "")
    if callable(getattr(accelerator, "to_dict", None)):
        info["config"] = accelerator.to_dict()
    return info


def kernel_folding(layer: Layer, accelerator: dict | None) -> tuple[int, int]:
    """(PE, SIMD) of the generated kernel: 1 x 1 without an accelerator.

    >>> kernel_folding(Layer("p", "pwconv", (24, 4, 4), (72, 4, 4)), {"pp": 4, "icp": 16, "ocp": 16})
    (12, 12)
    """
    if accelerator is None:
        return 1, 1
    cin, cout = layer.in_shape[0], layer.out_shape[0]
    kernel = kernel_name(layer)
    if kernel == "dwconv":
        return _largest_divisor(cout, accelerator["icp"]), 1
    if kernel in ("conv2d", "pwconv", "fc"):
        return _largest_divisor(cout, accelerator["ocp"]), _largest_divisor(cin, accelerator["icp"])
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


def _dpu_cycles(layer: Layer, acc: dict) -> int:
    cin, h, w = layer.in_shape
    cout, ho, wo = layer.out_shape
    pp, icp, ocp = acc["pp"], acc["icp"], acc["ocp"]
    if layer.op == "dwconv":
        return math.ceil(cout / icp) * layer.kernel**2 * math.ceil(ho * wo / acc["dw_pp"])
    if layer.op in ("conv", "pwconv"):
        cin_g = cin // layer.groups
        return math.ceil(cout / ocp) * math.ceil(cin_g / icp) * layer.kernel**2 * math.ceil(ho * wo / pp)
    if layer.op in ("fc", "se_fc"):
        return math.ceil(cout / ocp) * math.ceil(cin / icp)
    return math.ceil(cin * h * w / (pp * icp))  # element-wise engines


def layer_hints(layer: Layer, accelerator: dict | None) -> dict:
    """The manifest's ``parallelism``, ``macs`` and ``cycles`` entries of one layer."""
    pe, simd = kernel_folding(layer, accelerator)
    parallelism = {"pe": pe, "simd": simd}
    cycles = {"kernel": _kernel_cycles(layer, pe, simd), "dpu": None}
    if accelerator is not None:
        parallelism.update(pp=accelerator["pp"], icp=accelerator["icp"], ocp=accelerator["ocp"])
        cycles["dpu"] = _dpu_cycles(layer, accelerator)
    return {"parallelism": parallelism, "macs": layer.macs, "cycles": cycles}
