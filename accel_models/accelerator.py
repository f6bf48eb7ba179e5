"""DPU-like accelerators: a processing-element array described by its parallelism.

An :class:`Accelerator` is what the latency model and the resource model
consume: pixel / input-channel / output-channel parallelism (PP, ICP, OCP) of
the convolution engine, the depthwise engine's pixel parallelism, clock, DDR
bandwidth and the on-chip buffers.  :meth:`Accelerator.from_dpu` builds one
for every DPUCZDX8G configuration of Xilinx PG338 (B512 ... B4096); any other
(PP, ICP, OCP) combination is allowed, since that is the space co-design
explores.

On-chip buffers default to the DPUCZDX8G bank organisation: the image
(activation) buffer holds ``PP x ICP`` bytes per row in banks
:data:`BANK_DEPTH` rows deep, the weight buffer ``ICP x OCP`` bytes per row.
The bank depth is not published in PG338; 2048 rows makes the B2304 image
buffer 192 KiB, which is where the measured Ultra96-V2 traffic starts to show
intermediate tensors spilling to DDR (between 160 kB and 213 kB).
"""

from __future__ import annotations

import csv
import fnmatch
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from functools import lru_cache
from importlib import resources
from types import MappingProxyType

from .dpu_options import DpuOptions
from .validation import reject_unknown_keys

__all__ = ["ALU_PARALLELS", "BANK_DEPTH", "CUSTOM_LABEL", "MAX_CLOCK_MHZ", "MAX_CORES", "Accelerator", "DpuConfig",
           "check_dpu_clock", "dpu_config", "list_dpu_archs"]

#: Rows per on-chip buffer bank assumed for the default buffer sizes (see module docstring).
BANK_DEPTH = 2048
#: Default DDR bandwidth (GB/s) of an accelerator built without a board: a
#: 32-bit LPDDR4-2133 interface, the smallest the PYNQ boards here offer.
DEFAULT_DDR_BW_GBPS = 8.53
_DEFAULT_CLOCK_MHZ = 300.0
#: Highest main clock accepted: the DPU's DSP slices run at twice it, and the DSP48E2's
#: fastest Zynq UltraScale+ speed grade (-3) tops out at 891 MHz (DS925).
MAX_CLOCK_MHZ = 445.0
#: PG338: one DPUCZDX8G IP instance holds one to four cores.
MAX_CORES = 4
#: ALU pixel parallelisms of DPUCZDX8G IP 4.x (``ALU_PARALLEL_1/2/4/8`` of ``dpu_conf.vh``; PG338 v4.1
#: "DepthwiseConv (ALU)": 1 to PP, PP/2 recommended); the depthwise parallelism ``dw_pp`` of the model.
ALU_PARALLELS = (1, 2, 4, 8)
#: Sanity bound on a PE array (PP x ICP x OCP MACs per cycle, 64 each at most): 128x the largest DPUCZDX8G,
#: B4096's 2,048; far beyond what fits any board modelled here, and small enough that no size overflows a float.
MAX_MACS_PER_CYCLE = 64**3
#: What every output says about an accelerator that is not a DPUCZDX8G build.
CUSTOM_LABEL = "custom accelerator, not a DPUCZDX8G configuration"


@dataclass(frozen=True)
class DpuConfig:
    """One row of PG338's DPUCZDX8G configuration table (per core).

    Resource columns are the vendor's utilisation figures: ``dsp_high`` /
    ``dsp_low`` for the two DSP-usage options, LUT / FF / BRAM36 without the
    depthwise engine, and the extra cost of the depthwise engine.
    """

    arch: str
    pp: int
    icp: int
    ocp: int
    peak_ops_per_clock: int
    dsp_high: float
    dsp_low: float
    lut: float
    ff: float
    bram36: float
    depthwise_extra_lut: float
    depthwise_extra_bram36: float
    depthwise_extra_dsp: float


@lru_cache(maxsize=1)
def _dpu_table() -> Mapping[str, DpuConfig]:
    text = resources.files("accel_models").joinpath("data/dpuczdx8g_configs.csv").read_text()
    configs = {}
    for row in csv.DictReader(text.splitlines()):
        configs[row["arch"]] = DpuConfig(
            arch=row["arch"], pp=int(row["pixel_parallelism"]), icp=int(row["input_channel_parallelism"]),
            ocp=int(row["output_channel_parallelism"]), peak_ops_per_clock=int(row["peak_ops_per_clock"]),
            **{name: float(row[name]) for name in ("dsp_high", "dsp_low", "lut", "ff", "bram36",
                                                   "depthwise_extra_lut", "depthwise_extra_bram36",
                                                   "depthwise_extra_dsp")})
    return MappingProxyType(configs)


def list_dpu_archs(pattern: str = "B*") -> list[str]:
    """DPUCZDX8G configurations whose name matches ``pattern``, smallest first.

    Examples
    --------
    >>> list_dpu_archs()
    ['B512', 'B800', 'B1024', 'B1152', 'B1600', 'B2304', 'B3136', 'B4096']
    >>> list_dpu_archs("B1*")
    ['B1024', 'B1152', 'B1600']
    """
    table = _dpu_table()
    names = [name for name in table if fnmatch.fnmatchcase(name, pattern)]
    return sorted(names, key=lambda name: table[name].peak_ops_per_clock)


def dpu_config(arch: str) -> DpuConfig:
    """PG338's row for ``arch`` (e.g. ``"B2304"``); unknown names raise KeyError."""
    table = _dpu_table()
    if arch not in table:
        raise KeyError(f"unknown DPU architecture {arch!r}; known: {', '.join(list_dpu_archs())}")
    return table[arch]


def _is_number(value) -> bool:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an int of hundreds of digits: no float holds it
        return False


def _positive_int(name: str, value) -> None:
    if not (_is_number(value) and float(value).is_integer() and value > 0):
        raise ValueError(f"Accelerator {name} must be a positive integer, got {value!r}")


def _positive_float(name: str, value) -> None:
    if not (_is_number(value) and value > 0):
        raise ValueError(f"Accelerator {name} must be a positive finite number, got {value!r}")


def check_dpu_clock(clock_mhz) -> None:
    """Raise ``ValueError`` unless ``clock_mhz`` is a clock a DPU-like FPGA engine can run at."""
    if not _is_number(clock_mhz) or clock_mhz <= 0:
        raise ValueError(f"DPU clock_mhz must be a positive number, got {clock_mhz!r}")
    if clock_mhz > MAX_CLOCK_MHZ:
        raise ValueError(f"DPU clock_mhz {clock_mhz!r} is beyond what the hardware supports: (0, {MAX_CLOCK_MHZ:g}] "
                         "MHz (the DSP clock is twice it; DSP48E2 limit 891 MHz); PYNQ DPUs run at 200-300 MHz")


@dataclass(frozen=True)
class Accelerator:
    """A DPU-like convolution accelerator (one or more identical cores).

    Parameters
    ----------
    pp, icp, ocp : int
        Pixel, input-channel and output-channel parallelism of the
        convolution engine of one core (peak ``2 * pp * icp * ocp`` ops/cycle).
    clock_mhz : float
        Main clock of the processing elements.
    cores : int
        Identical cores; one inference runs on one core, so ``cores``
        multiplies throughput, not single-inference latency.
    ddr_bw_gbps : float
        Peak DDR bandwidth available to the accelerator (GB/s = 1e9 B/s).
    weight_buffer_kib, act_buffer_kib : float, optional
        On-chip weight and activation buffers per core; default
        ``ICP * OCP`` and ``PP * ICP`` bytes times :data:`BANK_DEPTH`.
    dw_pp : int, optional
        Pixel parallelism of the depthwise engine; default ``pp // 2`` as on
        the DPUCZDX8G.
    layer_overhead_us : float
        Extra fixed cost per layer on top of the latency model's calibrated
        per-layer setup cycles (e.g. a slower instruction path of a custom
        design); 0 for a DPUCZDX8G.
    bits : int
        Operand width of the engine (8 for the int8 DPU).
    options : DpuOptions
        The DPUCZDX8G build options (RAM / DSP usage, UltraRAM, channel
        augmentation, depthwise engine, pooling, element-wise multiply,
        ReLU and hard-sigmoid types, softmax, IP version); a custom
        accelerator uses them for its resources and supported layers too.
    name : str
        Label for display only, e.g. ``"B2304"``: it takes no part in
        equality or hashing, which compare the hardware.

    Examples
    --------
    >>> acc = Accelerator.from_dpu("B2304", clock_mhz=200.0)
    >>> acc.peak_ops_per_cycle, round(acc.peak_gops, 1), acc.dw_pp, acc.act_buffer_kib
    (2304, 460.8, 4, 192.0)
    >>> acc == acc.replace(name="my DPU"), acc.arch, acc.dsp_clock_mhz
    (True, 'B2304', 400.0)
    >>> Accelerator(8, 16, 8, clock_mhz=300.0).label
    'P8I16O8 (custom accelerator, not a DPUCZDX8G configuration) @300 MHz x1'
    """

    pp: int
    icp: int
    ocp: int
    clock_mhz: float
    cores: int = 1
    ddr_bw_gbps: float = DEFAULT_DDR_BW_GBPS
    weight_buffer_kib: float | None = None
    act_buffer_kib: float | None = None
    dw_pp: int | None = None
    layer_overhead_us: float = 0.0
    bits: int = 8
    options: DpuOptions = DpuOptions()
    name: str = field(default="custom", compare=False)

    def __post_init__(self) -> None:
        for name in ("pp", "icp", "ocp", "cores", "bits"):
            _positive_int(name, getattr(self, name))
            object.__setattr__(self, name, int(getattr(self, name)))
        for name in ("clock_mhz", "ddr_bw_gbps"):
            _positive_float(name, getattr(self, name))
            object.__setattr__(self, name, float(getattr(self, name)))
        if self.cores > MAX_CORES:
            raise ValueError(f"Accelerator cores {self.cores}: a DPUCZDX8G holds 1 to {MAX_CORES} cores (PG338)")
        if self.pp * self.icp * self.ocp > MAX_MACS_PER_CYCLE:
            raise ValueError(f"Accelerator pp x icp x ocp = {self.pp * self.icp * self.ocp:,} MACs per cycle is beyond "
                             f"what the hardware supports: at most {MAX_MACS_PER_CYCLE:,} (128x the B4096's 2,048)")
        dw_pp = self.default_dw_pp if self.dw_pp is None else self.dw_pp
        _positive_int("dw_pp", dw_pp)
        object.__setattr__(self, "dw_pp", int(dw_pp))
        if self.pg338_array is not None:
            check_dpu_clock(self.clock_mhz)  # a DPUCZDX8G array: the IP's clock limit applies
        if isinstance(self.options, Mapping):
            object.__setattr__(self, "options", DpuOptions.from_dict(self.options))
        if not isinstance(self.options, DpuOptions):
            raise ValueError(f"Accelerator options must be a DpuOptions, got {type(self.options).__name__}")
        defaults = {"weight_buffer_kib": self.default_weight_buffer_kib, "act_buffer_kib": self.default_act_buffer_kib}
        for name, default in defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, float(default))
            _positive_float(name, getattr(self, name))
        if not (_is_number(self.layer_overhead_us) and self.layer_overhead_us >= 0):
            raise ValueError("Accelerator layer_overhead_us must be a non-negative number, "
                             f"got {self.layer_overhead_us!r}")
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"Accelerator name must be a non-empty string, got {self.name!r}")

    # ---------------------------------------------------------------- factory
    @classmethod
    def from_dpu(cls, arch: str, clock_mhz: float = _DEFAULT_CLOCK_MHZ, cores: int = 1,
                 **overrides) -> Accelerator:
        """The DPUCZDX8G configuration ``arch`` of PG338 (``"B512"`` ... ``"B4096"``).

        ``overrides`` set any other field (``ddr_bw_gbps=...``, ``options=DpuOptions(...)``);
        changing ``dw_pp``, the buffers or ``layer_overhead_us`` makes it a custom accelerator.

        Examples
        --------
        >>> Accelerator.from_dpu("B4096", cores=2).peak_gops
        2457.6
        >>> Accelerator.from_dpu("B9999")
        Traceback (most recent call last):
        ...
        KeyError: "unknown DPU architecture 'B9999'; known: B512, B800, B1024, B1152, B1600, B2304, B3136, B4096"
        """
        config = dpu_config(arch)
        check_dpu_clock(clock_mhz)
        allowed = {f.name for f in fields(cls)} - {"pp", "icp", "ocp", "clock_mhz", "cores"}
        reject_unknown_keys(overrides, allowed, "Accelerator.from_dpu's overrides")
        args = {"name": arch, **overrides}
        return cls(config.pp, config.icp, config.ocp, clock_mhz=clock_mhz, cores=cores, **args)

    # ------------------------------------------------------------- identity
    @property
    def default_act_buffer_kib(self) -> float:
        """Activation buffer the latency model sees for this PE array and RAM-usage option.

        ``PP x ICP`` bytes x :data:`BANK_DEPTH` rows with RAM usage low (the
        calibrated spill capacity of the two-bank-group DPUs measured); RAM
        usage high adds a third image bank group, so 1.5 times that.
        """
        return self.pp * self.icp * BANK_DEPTH / 1024 * self.options.image_bank_groups / 2

    @property
    def default_weight_buffer_kib(self) -> float:
        """Weight buffer of this PE array: ``ICP x OCP`` bytes x :data:`BANK_DEPTH` rows."""
        return self.icp * self.ocp * BANK_DEPTH / 1024

    @property
    def default_dw_pp(self) -> int:
        """The DPU's own depthwise pixel parallelism, PP/2 (at least 1)."""
        return max(1, self.pp // 2)

    @property
    def pg338_array(self) -> str | None:
        """The PG338 architecture with this PE array (PP, ICP, OCP), whatever the buffers and options, else None."""
        for name, config in _dpu_table().items():
            if (config.pp, config.icp, config.ocp) == (self.pp, self.icp, self.ocp):
                return name
        return None

    @property
    def arch(self) -> str | None:
        """The PG338 architecture (``"B2304"``) this accelerator is a stock build of, else None.

        Stock means: a PG338 PE array, the DPU's own depthwise parallelism
        (PP/2; IP 4.x also builds 1, 2, 4 or 8 up to PP, its ALU_PARALLEL
        option) and buffers, no extra per-layer cost, int8.
        """
        alu_parallel = {self.default_dw_pp}
        if self.options.isa == 1:
            alu_parallel |= {n for n in ALU_PARALLELS if n <= self.pp}
        stock = (self.dw_pp in alu_parallel and self.layer_overhead_us == 0 and self.bits == 8
                 and self.act_buffer_kib == self.default_act_buffer_kib
                 and self.weight_buffer_kib == self.default_weight_buffer_kib)
        return self.pg338_array if stock else None

    @property
    def timing_key(self) -> tuple:
        """What decides latency: everything but the label and the build options that change only resources.

        PG338's DSP usage and UltraRAM options ("if change, don't need update
        model" in the DPU TRD's ``dpu_conf.vh``) and the softmax core leave the
        compiled program and its timing unchanged, so a table measured on one
        of them holds for the others.  Channel augmentation changes the
        program of a dense convolution with fewer input channels than ICP
        only (:func:`accel_models.tiling.augmentation_applies`), so it is not
        part of the key either: a table's other units hold with it on or off,
        and the latency tables check that unit by unit.
        """
        options = self.options.replace(dsp_usage="high", uram_per_core=0, softmax=False, channel_augmentation=True)
        return (self.pp, self.icp, self.ocp, self.clock_mhz, self.cores, self.ddr_bw_gbps, self.weight_buffer_kib,
                self.act_buffer_kib, self.dw_pp, self.layer_overhead_us, self.bits, options)

    @property
    def is_dpuczdx8g(self) -> bool:
        """True for a configuration the vendor's DPUCZDX8G IP builds."""
        return self.arch is not None

    @property
    def kind(self) -> str:
        """``"DPUCZDX8G"`` or ``"custom"``."""
        return "DPUCZDX8G" if self.is_dpuczdx8g else "custom"

    @property
    def hardware_label(self) -> str:
        """The PG338 name of a stock build, or the array shape marked as a custom accelerator."""
        if self.is_dpuczdx8g:
            return str(self.arch)
        return f"P{self.pp}I{self.icp}O{self.ocp} ({CUSTOM_LABEL})"

    # ------------------------------------------------------------- properties
    @property
    def dsp_clock_mhz(self) -> float:
        """Clock of the DSP slices: twice the main clock (PG338 v4.1, Port Descriptions, Table 1: ``dpu_2x_clk``)."""
        return 2.0 * self.clock_mhz

    @property
    def label(self) -> str:
        """Short human label: the hardware, clock and cores, e.g. ``"B2304 @200 MHz x1"``.

        A custom accelerator says so (:data:`CUSTOM_LABEL`); the ``name`` is not part of it.

        >>> Accelerator.from_dpu("B2304", clock_mhz=200.0).label
        'B2304 @200 MHz x1'
        """
        return f"{self.hardware_label} @{self.clock_mhz:g} MHz x{self.cores}"

    @property
    def macs_per_cycle(self) -> int:
        """Multiply-accumulates per cycle of one core's convolution engine."""
        return self.pp * self.icp * self.ocp

    @property
    def peak_ops_per_cycle(self) -> int:
        """Peak operations per cycle of one core (2 per MAC), PG338's "B" number."""
        return 2 * self.macs_per_cycle

    @property
    def peak_gops_per_core(self) -> float:
        """Peak GOP/s of one core."""
        return self.peak_ops_per_cycle * self.clock_mhz / 1e3

    @property
    def peak_gops(self) -> float:
        """Peak GOP/s of all cores together."""
        return self.peak_gops_per_core * self.cores

    @property
    def ridge_ops_per_byte(self) -> float:
        """Arithmetic intensity where one core turns from memory- to compute-bound."""
        return self.peak_gops_per_core / self.ddr_bw_gbps

    def replace(self, **changes) -> Accelerator:
        """A copy with some fields changed.

        Fields left at their derived default (``dw_pp``, the buffers) are
        derived again from the changed fields; explicitly set ones are kept.
        """
        data = self.to_dict()
        derived = {"dw_pp": self.default_dw_pp, "act_buffer_kib": self.default_act_buffer_kib,
                   "weight_buffer_kib": self.default_weight_buffer_kib}
        for name, default in derived.items():
            if name not in changes and data[name] == default:
                data[name] = None
        data.update(changes)
        return Accelerator.from_dict(data)

    def to_dict(self) -> dict:
        """Plain-JSON form (``options`` as a nested dict)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["options"] = self.options.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping) -> Accelerator:
        """Inverse of :meth:`to_dict`; unknown keys are an error naming the allowed ones."""
        reject_unknown_keys(data, [f.name for f in fields(cls)], "Accelerator")
        return cls(**data)
