"""Measured per-layer DPU profiles with known layer shapes, to check latency models against.

``data/zcu102_b4096_layer_profiles.csv`` holds DNNDK per-layer profiles of
AlexNet, VGG16 (the FCN8 backbone) and ProxylessNAS-Mobile-0.5 on a ZCU102
B4096 @ 300 MHz, restricted to the layers whose shapes are unambiguous; the
shape columns were added by hand from the published architectures (their
MACs reproduce the profiler's workload, see the tests).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from .accelerator import Accelerator
from .layer import Layer

__all__ = ["LayerProfile", "layer_profiles", "profile_accelerator"]


@dataclass(frozen=True)
class LayerProfile:
    """One measured layer: its shape and what the profiler reported."""

    network: str
    layer: Layer
    workload_mop: float
    mem_mb: float
    runtime_ms: float
    utilization_pct: float


@lru_cache(maxsize=1)
def layer_profiles() -> tuple[LayerProfile, ...]:
    """The measured layers, in file order.

    >>> profiles = layer_profiles()
    >>> first = profiles[8]
    >>> first.layer.name, first.utilization_pct
    ('block1_conv1_convolution', 18.7)
    """
    text = resources.files("accel_models").joinpath("data/zcu102_b4096_layer_profiles.csv").read_text()
    out = []
    for row in csv.DictReader(text.splitlines()):
        cin, h, w, cout = (int(row[k]) for k in ("cin", "hin", "win", "cout"))
        kernel, stride, padding = int(row["kernel"]), int(row["stride"]), int(row["padding"])
        if row["op"] == "fc":
            layer = Layer(row["layer"], "fc", (cin, 1, 1), (cout, 1, 1), bias=True)
        else:
            size = (h + 2 * padding - kernel) // stride + 1
            layer = Layer(row["layer"], row["op"], (cin, h, w), (cout, size, (w + 2 * padding - kernel) // stride + 1),
                          kernel=kernel, stride=stride, padding=padding, activation="relu", bias=True)
        out.append(LayerProfile(row["network"], layer, float(row["workload_mop"]), float(row["mem_mb"]),
                                float(row["runtime_ms"]), float(row["utilization_pct"])))
    return tuple(out)


def profile_accelerator() -> Accelerator:
    """The accelerator the profiles were measured on: one B4096 core at 300 MHz on a ZCU102."""
    from .boards import get_board

    return Accelerator.from_dpu("B4096", clock_mhz=300.0, ddr_bw_gbps=get_board("zcu102").ddr_bw_gbps)
