"""Measured DPU data sets as calibration sources: a table, the accelerator it ran on, its device.

:class:`CalibrationSource` is what :func:`latency_tables.calibrate_joint`
fits on.  The shipped DPUCZDX8G sources:

* ``ultra96v2-b2304``: OFA-MobileNetV3 w1.2 blocks on an Ultra96-V2, B2304 @
  200 MHz, Vitis AI 3.0, one xmodel per block (each entry includes a launch);
  the stem was measured with ReLU where its key implies h-swish
  (:func:`ultra96_units`).
* ``zcu102-b4096-layer-profiles``: DNNDK per-layer profiles of AlexNet,
  VGG-16 and ProxylessNAS-Mobile layers on a ZCU102, one B4096 core @ 300 MHz
  (:func:`accel_models.layer_profiles`), timed inside their networks (no
  launch), with the profiler's DDR traffic as ``mem_io_mb``.
* ``zcu102-b4096-mbv2``: MobileNetV2-style blocks on the same ZCU102 DPU.
  Noisy (``benchmarks/bench_calibration.py``: its latencies rank against
  block MACs with Spearman 0.25, and 8 entries beat their ideal compute
  time; ``latency_tables/data/PROVENANCE.md``), so it is a validation set,
  not a default calibration source.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from accel_models import Accelerator, BlockSpec, Layer

from .table import Entry, LatencyTable, TableMeta

__all__ = ["SOURCES", "CalibrationSource", "get_source", "ultra96_units", "zcu102_profile_table"]


@dataclass(frozen=True)
class CalibrationSource:
    """One measured table, the single-core accelerator it was measured on, and the device it stands for.

    Parameters
    ----------
    table : LatencyTable
    accelerator : Accelerator
    units : mapping, optional
        ``key -> layers`` where a measured unit differs from what its key
        implies (as for :func:`latency_tables.calibrate`).
    device : str, optional
        The device label leave-one-device-out groups by (default: the
        table's board); sources of one device are held out together.
    weight : float
        Relative weight of the source in a joint fit: every source counts
        ``weight`` in total, however many entries it has.  0 makes it a
        validation set: predicted, never fitted.
    """

    table: LatencyTable
    accelerator: Accelerator
    units: Mapping[str, Sequence[Layer]] = field(default_factory=dict)
    device: str = ""
    weight: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.table, LatencyTable):
            raise ValueError(f"CalibrationSource.table must be a LatencyTable, got {type(self.table).__name__}")
        if not isinstance(self.accelerator, Accelerator):
            raise ValueError(f"CalibrationSource.accelerator must be an Accelerator, "
                             f"got {type(self.accelerator).__name__}")
        if isinstance(self.weight, bool) or not isinstance(self.weight, (int, float)) \
                or not math.isfinite(self.weight) or self.weight < 0:
            raise ValueError(f"CalibrationSource.weight must be a number >= 0 (0: validation only), "
                             f"got {self.weight!r}")
        if not self.device:
            object.__setattr__(self, "device", self.table.meta.board)
        object.__setattr__(self, "units", dict(self.units or {}))

    @property
    def name(self) -> str:
        return self.table.meta.name


def ultra96_units() -> dict[str, tuple[Layer, ...]]:
    """The Ultra96-V2 table's units that differ from their keys: its stem ran with ReLU.

    The source names the measured stem ``Conv_in-3x224x224_out-24_k-3_act-relu``;
    OFA's stem key implies h-swish.  Calibrate on what was measured.
    """
    stem = BlockSpec("stem", (3, 224, 224), 24, kernel=3, stride=2, activation="relu")
    return {stem.key: stem.layers()}


def zcu102_profile_table() -> LatencyTable:
    """:func:`accel_models.layer_profiles` as a table: one entry per profiled layer, keyed by its name.

    ``mem_io_mb`` is the profiler's DDR traffic.  The keys are layer names,
    not block keys: ``get_source("zcu102-b4096-layer-profiles")`` pairs the
    table with the layers each entry ran (a convolution and the max pool
    DNNDK fused into it).
    """
    from accel_models import layer_profiles

    meta = TableMeta(
        name="zcu102-b4096-layer-profiles", board="zcu102", dpu_arch="DPUCZDX8G B4096 (DNNDK, Vitis AI 1.2 TRD)",
        clock_mhz=300.0, cores=1, toolchain="DNNDK (Vitis AI 1.2)",
        method="DNNDK per-layer profile inside whole networks (AlexNet, VGG-16 / FCN8, ProxylessNAS-Mobile 0.5); "
               "runtime per layer, no launch cost",
        date="2020 (Vitis AI 1.2 TRD)",
        source="Xilinx/Vitis-AI-Tutorials VAI-Profiling README; OFA-on-DPU deployment guide "
               "(accel_models/data/PROVENANCE.md)",
        license="figures only, attribute the sources", per_entry_invocation=False, space="per-layer")
    return LatencyTable.from_entries(meta, [Entry(p.layer.name, 1, p.runtime_ms, extra={"mem_io_mb": p.mem_mb})
                                            for p in layer_profiles()])


def _profile_units() -> dict[str, tuple[Layer, ...]]:
    from accel_models import layer_profiles

    return {p.layer.name: p.units for p in layer_profiles()}


def _ultra96() -> CalibrationSource:
    from .calibration import table_accelerator
    from .registry import load_table

    table = load_table("ultra96v2-b2304")
    return CalibrationSource(table, table_accelerator(table.meta), ultra96_units())


def _zcu102_profiles() -> CalibrationSource:
    from accel_models import profile_accelerator

    return CalibrationSource(zcu102_profile_table(), profile_accelerator(), _profile_units())


def _zcu102_mbv2() -> CalibrationSource:
    from .calibration import table_accelerator
    from .registry import load_table

    table = load_table("zcu102-b4096-mbv2")
    return CalibrationSource(table, table_accelerator(table.meta))


#: Shipped DPUCZDX8G sources by name (each built on demand).
SOURCES = {"ultra96v2-b2304": _ultra96, "zcu102-b4096-layer-profiles": _zcu102_profiles,
           "zcu102-b4096-mbv2": _zcu102_mbv2}


def get_source(name: str) -> CalibrationSource:
    """A shipped source by name (see :data:`SOURCES`).

    >>> source = get_source("zcu102-b4096-layer-profiles")
    >>> source.device, source.accelerator.name, len(source.table)
    ('zcu102', 'B4096', 26)
    """
    if name not in SOURCES:
        raise KeyError(f"unknown calibration source {name!r}; known: {', '.join(SOURCES)}")
    return SOURCES[name]()
