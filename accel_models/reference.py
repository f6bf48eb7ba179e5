"""Measured per-layer DPU profiles with known layer shapes, to check latency models against.

``data/zcu102_b4096_layer_profiles.csv`` holds DNNDK per-layer profiles of
AlexNet, VGG16 (the FCN8 backbone) and ProxylessNAS-Mobile-0.5 on a ZCU102
B4096 @ 300 MHz, restricted to the layers whose shapes are unambiguous; the
shape columns were added by hand from the published architectures (their
MACs reproduce the profiler's workload, see the tests).  DNNDK runs a max
pool that follows a convolution inside that convolution (its traffic shows
the pooled output), so those entries are a conv + max-pool unit.

Both builds predate DPU IP 4.x (DPU v1.4.0 for ProxylessNAS, the Vitis AI
1.2 TRD, IP 3.2, for AlexNet / VGG16) and ran without channel augmentation:
the 3-channel first convolutions reach 18.7 % (VGG16, = 3/16 of the B4096's
input lanes) and 16.2 % (AlexNet's 11 x 11, 3/16 at 55/56 column use)
utilisation, where augmentation would allow 9/16 and 33/48
(:data:`PROFILED_BUILD`).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from .accelerator import Accelerator
from .dpu_options import DpuOptions
from .layer import Layer, conv_output_size

__all__ = ["PROFILED_BUILD", "LayerProfile", "layer_profiles", "profile_accelerator"]

#: Build options of the profiled ZCU102 DPUs: IP 3.x, no channel augmentation (see the module docstring).
PROFILED_BUILD = DpuOptions(ip_version="3.2", channel_augmentation=False)


@dataclass(frozen=True)
class LayerProfile:
    """One measured layer: its shape and what the profiler reported.

    ``units`` is what the DPU ran as this entry: the layer, followed by the
    max pool DNNDK fused into it where there is one.
    """

    network: str
    layer: Layer
    units: tuple[Layer, ...]
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
        name = row["layer"]
        if row["op"] == "fc":
            layer = Layer(name, "fc", (cin, 1, 1), (cout, 1, 1), bias=True, block=name)
        else:
            out_shape = (cout, conv_output_size(h, kernel, stride, padding),
                         conv_output_size(w, kernel, stride, padding))
            layer = Layer(name, row["op"], (cin, h, w), out_shape, kernel=kernel, stride=stride, padding=padding,
                          activation="relu", bias=True, block=name)
        units: tuple[Layer, ...] = (layer,)
        pool_kernel, pool_stride = int(row["pool_kernel"]), int(row["pool_stride"])
        if pool_kernel:
            c, ph, pw = layer.out_shape
            pooled = (c, conv_output_size(ph, pool_kernel, pool_stride, 0),
                      conv_output_size(pw, pool_kernel, pool_stride, 0))
            units += (Layer(name + ".pool", "maxpool", layer.out_shape, pooled, kernel=pool_kernel,
                            stride=pool_stride, block=name),)
        out.append(LayerProfile(row["network"], layer, units, float(row["workload_mop"]), float(row["mem_mb"]),
                                float(row["runtime_ms"]), float(row["utilization_pct"])))
    return tuple(out)


def profile_accelerator() -> Accelerator:
    """The accelerator the profiles were measured on: one B4096 core at 300 MHz on a ZCU102, as built then.

    >>> profile_accelerator().options.channel_augmentation
    False
    """
    from .boards import get_board

    return Accelerator.from_dpu("B4096", clock_mhz=300.0, ddr_bw_gbps=get_board("zcu102").ddr_bw_gbps,
                                options=PROFILED_BUILD)
