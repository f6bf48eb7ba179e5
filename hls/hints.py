"""Per layer: which units of the engine run it, at what parallelism, and its ideal cycle count.

The ideal count is :func:`accel_models.tiling.tiled_cycles`, the tiling the
project's latency model uses: the engine runs dense and pointwise layers on
the PP x ICP x OCP array, depthwise layers on ``dw_pp`` pixels x ICP lanes, and
pool / add / scale on the PP x ICP element-wise unit.  The engine fuses
h-swish / h-sigmoid into the requantization, so no extra element-wise passes
are counted.  The engine's real count (DDR transfers, pipeline fill) is
:func:`hls.program.engine_cycles`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from accel_models import Accelerator, Layer
from accel_models.hls_engine import ENGINE_ALU_POOLING, engine_hardware
from accel_models.layer import LayerArrays
from accel_models.tiling import CLASSES, AcceleratorArrays, layer_classes, tiled_cycles

__all__ = ["accelerator_info", "as_accelerator", "layer_hints"]


def as_accelerator(accelerator: Any) -> Accelerator | None:
    """``accelerator`` as an ``Accelerator`` (any object with ``pp``, ``icp``, ``ocp``, ``clock_mhz``)."""
    if accelerator is None or isinstance(accelerator, Accelerator):
        return accelerator
    missing = [a for a in ("pp", "icp", "ocp", "clock_mhz") if not hasattr(accelerator, a)]
    if missing:
        raise ValueError(f"accelerator {accelerator!r} lacks attribute(s) {missing}; an accelerator needs "
                         "pp, icp, ocp and clock_mhz")
    return Accelerator(accelerator.pp, accelerator.icp, accelerator.ocp, accelerator.clock_mhz,
                       dw_pp=getattr(accelerator, "dw_pp", None),
                       name=str(getattr(accelerator, "name", "") or "custom"))


def accelerator_info(accelerator: Accelerator) -> dict:
    """The manifest's record of ``accelerator``: the whole ``Accelerator.to_dict()`` plus the headline fields."""
    return {"name": accelerator.name, "pp": accelerator.pp, "icp": accelerator.icp, "ocp": accelerator.ocp,
            "dw_pp": accelerator.dw_pp, "clock_mhz": accelerator.clock_mhz, "config": accelerator.to_dict()}


def layer_hints(layers: Sequence[Layer], accelerator: Accelerator) -> list[dict]:
    """Per layer, the manifest's ``parallelism``, ``macs`` and ``cycles["ideal"]`` entries.

    >>> acc = Accelerator(4, 16, 16, clock_mhz=100.0)
    >>> layer_hints([Layer("p", "pwconv", (24, 4, 4), (72, 4, 4))], acc)[0]["parallelism"]
    {'unit': 'pw', 'pixels': 4, 'in_lanes': 16, 'out_lanes': 16}
    """
    arrays = LayerArrays.from_layers(layers)
    # the generated engine has neither channel augmentation nor the DPUCZDX8G's ALU (it pools on its
    # element-wise unit): tile as it runs
    plain = engine_hardware(accelerator)
    cycles, _ = tiled_cycles(arrays, AcceleratorArrays.from_accelerators([plain]), alu_pooling=ENGINE_ALU_POOLING)
    out = []
    for layer, cls, ideal in zip(layers, layer_classes(arrays, ENGINE_ALU_POOLING), cycles[0], strict=True):
        unit = CLASSES[cls]
        pixels = accelerator.dw_pp if unit == "dw" else accelerator.pp
        out_lanes = accelerator.ocp if unit in ("conv", "pw") else accelerator.icp
        out.append({"parallelism": {"unit": unit, "pixels": pixels, "in_lanes": accelerator.icp,
                                    "out_lanes": out_lanes},
                    "macs": layer.macs, "cycles": {"ideal": int(ideal)}})
    return out
