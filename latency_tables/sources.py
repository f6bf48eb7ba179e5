"""Measured DPU data sets as calibration sources: a table, the accelerator it ran on, its device.

:class:`CalibrationSource` is what :func:`latency_tables.calibrate_joint`
fits on.  The shipped DPUCZDX8G sources:

* ``ultra96v2-b2304``: OFA-MobileNetV3 w1.2 blocks on an Ultra96-V2, B2304 @
  200 MHz, Vitis AI 3.0, one xmodel per block (each entry includes a launch);
  the stem was measured with ReLU where its key implies h-swish
  (:func:`ultra96_units`), and without channel augmentation
  (:data:`ULTRA96_CHANNEL_AUGMENTATION`).
* ``zcu102-b4096-layer-profiles``: DNNDK per-layer profiles of AlexNet,
  VGG-16 and ProxylessNAS-Mobile layers on a ZCU102, one B4096 core @ 300 MHz
  (:func:`accel_models.reference.layer_profiles`), timed inside their networks (no
  launch), with the profiler's DDR traffic as ``mem_io_mb``; IP 3.x, no channel
  augmentation (:data:`accel_models.reference.PROFILED_BUILD`).
* ``zcu102-b4096-mbv2``: MobileNetV2-style blocks on the same ZCU102 DPU.
  Noisy (``benchmarks/bench_calibration.py``: its latencies rank against
  block MACs with Spearman 0.25, and 8 entries beat their ideal compute
  time; ``latency_tables/data/PROVENANCE.md``), so it is a validation set,
  not a default calibration source.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from accel_models import Accelerator, BlockSpec, Layer
from accel_models.wording import COMMAND_LINE, PYTHON, WordedError, literal

from .table import Entry, LatencyTable, TableMeta

__all__ = ["SOURCES", "ULTRA96_CHANNEL_AUGMENTATION", "BoardMismatchWarning", "CalibrationSource", "built_on_board",
           "dpu_on_board", "get_source", "other_ddr_gbps", "profiler_launch_ms", "table_accelerator", "table_units",
           "ultra96_units", "warn_if_unbuildable", "zcu102_profile_table"]


#: Whether the measured Ultra96-V2 B2304 ran its stem with channel augmentation: no, by its timing.  The build
#: (Vitis AI 3.0: XRT 2.14 / 2022.2 in the source's profile summaries) publishes no ``dpu_conf.vh`` or fingerprint;
#: the release's stock files enable augmentation (target ``DPUCZDX8G_ISA1_B2304``, DPU-PYNQ's Ultra96-V2
#: ``dpu_conf.vh``), but the stem's measured DPU time (0.293 ms) is what its un-augmented tiling (28,224 cycles)
#: costs at a dense-conv efficiency of 0.83 (0.96 on the ZCU102 profiles), while augmented (9,408 cycles) it would
#: need 0.28, a third of every dense convolution measured (``tests/test_calibration_golden.py``).
ULTRA96_CHANNEL_AUGMENTATION = False


@dataclass(frozen=True)
class CalibrationSource:
    """One measured table, the single-core accelerator it was measured on, and the device it stands for.

    Parameters
    ----------
    table : LatencyTable
    accelerator : Accelerator
    units : mapping, optional
        ``key -> layers`` where a measured entry differs from what its key
        implies (as for :func:`latency_tables.calibrate`), or, for entries
        whose keys are no unit keys, what they ran.
    device : str, optional
        The device label leave-one-device-out groups by (default: the
        table's board); sources of one device are held out together.
    weight : float
        Relative weight of the source in a joint fit: every source counts
        ``weight`` in total, however many entries it has.  0 makes it a
        validation set: predicted, never fitted.
    networks : bool
        Whether every entry is a whole network (its ``units[key]`` are the
        network's layers, grouped into units by their ``block`` key; the
        entry is the sum of the units plus one launch when the table says
        ``per_entry_invocation``) rather than one unit.
    """

    table: LatencyTable
    accelerator: Accelerator
    units: Mapping[str, Sequence[Layer]] = field(default_factory=dict)
    device: str = ""
    weight: float = 1.0
    networks: bool = False

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
        if not isinstance(self.networks, bool):
            raise ValueError(f"CalibrationSource.networks must be True or False, got {self.networks!r}")
        if not self.device:
            object.__setattr__(self, "device", self.table.meta.board)
        object.__setattr__(self, "units", dict(self.units or {}))

    @property
    def name(self) -> str:
        """The table's name, which names the source."""
        return self.table.meta.name


def table_units(table: LatencyTable,
                units: Mapping[str, Sequence[Layer]] | None = None) -> dict[str, tuple[Layer, ...]]:
    """The layers of every table entry: ``units[key]`` where given, else parsed from the key.

    Raises ValueError naming the keys that neither ``units`` covers nor
    :meth:`accel_models.BlockSpec.from_key` understands.
    """
    units = dict(units or {})
    strays = sorted(set(units) - set(table.keys()))
    if strays:
        raise ValueError(f"units given for {len(strays)} key(s) not in table {table.meta.name!r}, e.g. {strays[0]!r}")
    out, bad = {}, []
    for key in table.keys():
        if key in units:
            out[key] = tuple(units[key])
            continue
        try:
            out[key] = BlockSpec.from_key(key).layers()
        except ValueError:
            bad.append(key)
    if bad:
        raise ValueError(f"table {table.meta.name!r}: cannot derive the layers of {len(bad)} key(s) "
                         f"(e.g. {bad[0]!r}); pass them as units={{key: layers}}")
    return out


#: The DPUCZDX8G configuration a table's ``dpu_arch`` names: its ``B<number>`` (``"DPUCZDX8G B1600"`` -> ``B1600``).
DPU_ARCH_IN_TEXT = re.compile(r"\bB(\d+)\b")


def table_accelerator(meta: TableMeta, arch: str | None = None, clock_mhz: float | None = None) -> Accelerator:
    """The single-core accelerator a table was measured on, from its metadata.

    The DPU configuration is the ``B<number>`` in ``meta.dpu_arch``, its
    clock ``meta.clock_mhz``; ``arch`` (e.g. ``"B1600"``) and ``clock_mhz``,
    where given, take their place.  DDR bandwidth comes from
    the board registry when ``meta.board`` is known, and so do the build
    options the DPU needs to fit that board.

    >>> from latency_tables import load_table
    >>> acc = table_accelerator(load_table("ultra96v2-b2304").meta)
    >>> acc.name, acc.clock_mhz, acc.ddr_bw_gbps
    ('B2304', 200.0, 8.53)
    >>> acc = table_accelerator(load_table("zcu102-b4096-mbv2").meta, arch="B1600", clock_mhz=300)
    >>> acc.name, acc.clock_mhz, acc.ddr_bw_gbps  # the ZCU102's DDR, not the default's
    ('B1600', 300.0, 19.2)
    """
    match = DPU_ARCH_IN_TEXT.search(meta.dpu_arch)
    clock = meta.clock_mhz if clock_mhz is None else clock_mhz
    missing = [what for what, absent in ((f"dpu_arch {meta.dpu_arch!r} names no DPUCZDX8G configuration "
                                          "(B512 ... B4096)", arch is None and match is None),
                                         ("metadata has no clock_mhz", clock is None)) if absent]
    if missing:
        flags = " ".join(flag for flag, absent in (("--dpu B1600", arch is None and match is None),
                                                   ("--clock-mhz 300", clock is None)) if absent)
        raise WordedError(literal(f"table {meta.name!r}: {' and '.join(missing)}; ") + "name the DPU measured: {fix}",
                          hints={"fix": {PYTHON: "table_accelerator(meta, arch=..., clock_mhz=...)",
                                         COMMAND_LINE: f"'ofa-hw lut fit TABLE.csv {flags} --out FIT.json', then "
                                                       "--predictor FIT.json"}})
    arch = arch if arch is not None else f"B{match.group(1)}"  # type: ignore[union-attr]
    assert clock is not None  # refused above
    return dpu_on_board(arch, clock, meta.board)


class BoardMismatchWarning(UserWarning):
    """The DPU a measurement names cannot be built on the board it names (PG338's resources, the board's options)."""


def warn_if_unbuildable(accelerator: Accelerator, board: str | None, stacklevel: int = 2) -> str | None:
    """Warn (:class:`BoardMismatchWarning`) when ``accelerator`` does not fit ``board``; return the message or None.

    The accelerator is priced as :func:`accel_models.fits` prices a search's
    candidates (PG338's resource model, with the UltraRAM and "low DSP
    usage" options the board would need, :func:`accel_models.resources.buildable_on`).
    A measurement is never refused for it (the user timed something), but a
    header naming, say, a B4096 on an Ultra96-V2 is a header and a board
    that disagree: the message says so and names the configurations that
    do fit.  A board the registry does not know (or None) is not checked.

    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     message = warn_if_unbuildable(Accelerator.from_dpu("B4096", clock_mhz=300.0), "ultra96v2")
    >>> "DPUCZDX8G configurations that fit ultra96v2: B512, B800, B1024, B1152, B1600, B2304" in message
    True
    >>> warn_if_unbuildable(Accelerator.from_dpu("B2304", clock_mhz=200.0), "ultra96v2") is None
    True
    """
    import warnings

    from accel_models import fits, get_board, list_boards, list_dpu_archs
    from accel_models.resources import buildable_on

    if board not in list_boards():
        return None
    spec = get_board(board)

    def fit(acc: Accelerator):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # extrapolated estimates: the verdict is what matters here
            return fits(buildable_on(acc, spec), spec)

    verdict = fit(accelerator)
    if verdict.ok:
        return None
    fitting = [arch for arch in list_dpu_archs() if fit(Accelerator.from_dpu(
        arch, clock_mhz=accelerator.clock_mhz, ddr_bw_gbps=accelerator.ddr_bw_gbps)).ok]
    message = (f"{accelerator.label} cannot be built on {board} ({spec.part}): even with the options the board "
               f"would need it takes {100 * verdict.binding_utilization:.0f}% of its {verdict.binding_resource} "
               f"(PG338's resource model); the measurement is used as given, but the DPU its header names "
               f"(dpu_arch, or --dpu) and the board disagree: check both. DPUCZDX8G configurations that fit "
               f"{board}: {', '.join(fitting) or 'none'}")
    warnings.warn(message, BoardMismatchWarning, stacklevel=stacklevel + 1)
    return message


def other_ddr_gbps(board: str | None, ddr_bw_gbps: float) -> float | None:
    """The DDR bandwidth of the known board ``board`` when it is not ``ddr_bw_gbps``; None when equal or not known.

    A table measured on ``board`` timed its memory at that board's DDR:
    an accelerator of another bandwidth has another ``timing_key``, so none
    of the table's entries price it (a fit on them, or a search on a board
    of that bandwidth, uses the fitted model alone).

    >>> other_ddr_gbps("ultra96v2", 19.2), other_ddr_gbps("zcu102", 19.2), other_ddr_gbps("my-board", 19.2)
    (8.53, None, None)
    """
    from accel_models import get_board, list_boards

    if board not in list_boards():
        return None
    board_gbps = get_board(board).ddr_bw_gbps
    return None if board_gbps == ddr_bw_gbps else board_gbps


def dpu_on_board(arch: str, clock_mhz: float, board: str | None) -> Accelerator:
    """The single-core DPUCZDX8G ``arch`` at ``clock_mhz`` as built on ``board``: its DDR bandwidth and build options.

    A ``board`` the registry does not know (or None) keeps the defaults; a
    configuration that cannot be built on the board is warned about
    (:func:`warn_if_unbuildable`) and returned as asked.

    >>> dpu_on_board("B4096", 300, "zcu102").ddr_bw_gbps
    19.2
    """
    accelerator = _built_on(arch, clock_mhz, board)
    warn_if_unbuildable(accelerator, board, stacklevel=3)  # the caller of table_accelerator / dpu_on_board
    return accelerator


def built_on_board(accelerator: Accelerator, board: str | None) -> bool:
    """Whether ``accelerator`` is what :func:`dpu_on_board` (and so :func:`table_accelerator`) builds on ``board``.

    Those have said, as they built it, whether the board can hold it: a
    fit on that board's measurements (:func:`latency_tables.fit_device`)
    does not say it again.

    >>> from accel_models import Accelerator
    >>> built_on_board(dpu_on_board("B1600", 300, "zcu102"), "zcu102")
    True
    >>> built_on_board(Accelerator.from_dpu("B1600", clock_mhz=300), "zcu102")  # the default DDR, not the board's
    False
    """
    from accel_models import list_boards

    if board not in list_boards() or accelerator.arch is None or accelerator.cores != 1:
        return False
    return accelerator == _built_on(accelerator.arch, accelerator.clock_mhz, board)


def _built_on(arch: str, clock_mhz: float, board: str | None) -> Accelerator:
    """:func:`dpu_on_board` without its word on whether the board can hold the DPU."""
    from accel_models import get_board, list_boards
    from accel_models.resources import buildable_on

    if board not in list_boards():
        return Accelerator.from_dpu(arch, clock_mhz=clock_mhz)
    spec = get_board(board)
    # as it must have been built to fit that board (DSP usage / UltraRAM; neither changes the timing)
    return buildable_on(Accelerator.from_dpu(arch, clock_mhz=clock_mhz, ddr_bw_gbps=spec.ddr_bw_gbps), spec)


def profiler_launch_ms(table: LatencyTable, keys: Sequence[str] | None = None) -> float | None:
    """Launch cost per entry from the profiler: median of measured time minus DPU-busy time.

    The busy time is ``mem_io_mb / mem_bw_mbps`` (the profiler's traffic and
    bandwidth).  Uses the entries ``keys`` (default: all) that report both;
    None when none does.

    >>> from latency_tables import load_table
    >>> round(profiler_launch_ms(load_table("ultra96v2-b2304")), 4)
    0.059
    """
    keys = table.keys() if keys is None else list(keys)
    busy_ms = table.column("mem_io_mb", keys) / table.column("mem_bw_mbps", keys) * 1e3
    gaps = table.mean_ms(keys) - busy_ms
    gaps = gaps[np.isfinite(gaps)]  # NaN where the profiler gave no bandwidth
    return float(max(np.median(gaps), 0.0)) if len(gaps) else None


def ultra96_units() -> dict[str, tuple[Layer, ...]]:
    """The Ultra96-V2 table's units that differ from their keys: its stem ran with ReLU.

    The source names the measured stem ``Conv_in-3x224x224_out-24_k-3_act-relu``;
    OFA's stem key implies h-swish.  Calibrate on what was measured.
    """
    stem = BlockSpec("stem", (3, 224, 224), 24, kernel=3, stride=2, activation="relu")
    return {stem.key: stem.layers()}


def zcu102_profile_table() -> LatencyTable:
    """:func:`accel_models.reference.layer_profiles` as a table: one entry per profiled layer, keyed by its name.

    ``mem_io_mb`` is the profiler's DDR traffic.  The keys are layer names,
    not block keys: ``get_source("zcu102-b4096-layer-profiles")`` pairs the
    table with the layers each entry ran (a convolution and the max pool
    DNNDK fused into it).
    """
    from accel_models.reference import layer_profiles

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
    from accel_models.reference import layer_profiles

    return {p.layer.name: p.units for p in layer_profiles()}


def _ultra96() -> CalibrationSource:
    from .registry import load_table

    table = load_table("ultra96v2-b2304")
    accelerator = table_accelerator(table.meta)
    return CalibrationSource(table, accelerator.replace(options=accelerator.options.replace(
        channel_augmentation=ULTRA96_CHANNEL_AUGMENTATION)), ultra96_units())


def _zcu102_profiles() -> CalibrationSource:
    from accel_models.reference import profile_accelerator

    return CalibrationSource(zcu102_profile_table(), profile_accelerator(), _profile_units())


def _zcu102_mbv2() -> CalibrationSource:
    from accel_models.reference import PROFILED_BUILD

    from .registry import load_table

    table = load_table("zcu102-b4096-mbv2")
    accelerator = table_accelerator(table.meta)
    # the DNNDK-era DPU v1.4.0 of the layer profiles (no channel augmentation; its blocks have no 3-channel conv)
    built = accelerator.options.replace(ip_version=PROFILED_BUILD.ip_version, hard_sigmoid=False,
                                        channel_augmentation=PROFILED_BUILD.channel_augmentation)
    return CalibrationSource(table, accelerator.replace(options=built))


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
