"""The files to build a stock DPUCZDX8G design: ``dpu_conf.vh``, ``arch.json`` and the compile command.

``dpu_conf.vh`` is the macro set of the DPU TRD flow (and of DPU-PYNQ's board
builds): architecture, UltraRAM, DRAM, RAM usage, channel augmentation and,
by IP version, either the depthwise / average-pool / element-wise-multiply
options and one ReLU type (IP 3.x) or the ALU parallelism, separate
convolution and ALU ReLU types and the argmax save (IP 4.x), then DSP usage,
power and device.  The macro names and their order are those of the public
reference files in ``tests/data/dpu_build`` (Vitis AI DPU TRD, DPU-PYNQ).

``arch.json`` is what ``vai_c_xir`` takes: ``{"fingerprint": "0x..."}``.  The
fingerprint is encoded from the configuration with the bit fields of the
Vitis AI target factory (``create_target_DPUCZDX8G_ISA1.cpp``: architecture
bits 0-3, ALU pixel parallelism 8-11, image bank groups 24-25, channel
augmentation 26, convolution leaky ReLU 28, ALU leaky ReLU 29, argmax save
30; type << 56, ISA << 48; bit 16, which the factory does not decode, is set
in every public fingerprint).  It is written only when the value is one that
a public file pins (``data/dpuczdx8g_fingerprints.csv``); otherwise the
output says so and how to read the real one off the built IP, never a guess.
IP 3.x fingerprints carry engine parallelisms no ``dpu_conf.vh`` option sets,
so they are never encoded here.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from .accelerator import Accelerator
from .atomic import atomic_directory, atomic_write_text, holds_only

__all__ = ["BuildConfig", "Fingerprint", "NotBuildableError", "build_config", "dpu_conf_vh", "fingerprint",
           "write_build_files"]

_DPUCZDX8G_TYPE = 1  # target_factory.cpp type2int("DPUCZDX8G")
# create_target_DPUCZDX8G_ISA1.cpp's PP_MAP / ICP_MAP index of each PG338 size
_ARCH_CODE = {arch: i for i, arch in enumerate(("B512", "B800", "B1024", "B1152", "B1600", "B2304", "B3136", "B4096"))}
_UNDECODED_BIT16 = 1 << 16
# An existing build folder is replaced only when it holds an earlier one (nothing of the user's is swapped away).
_replaceable = holds_only({"dpu_conf.vh", "arch.json", "BUILD.md"}, required={"dpu_conf.vh"}, what="a DPU build folder")

_URAM_BLOCK = """//config URAM
`ifdef URAM_ENABLE
    `define def_UBANK_IMG_N          5
    `define def_UBANK_WGT_N          17
    `define def_UBANK_BIAS           1
`elsif URAM_DISABLE
    `define def_UBANK_IMG_N          0
    `define def_UBANK_WGT_N          0
    `define def_UBANK_BIAS           0
`endif"""
_DRAM_BLOCK = """//config DRAM
`ifdef DRAM_ENABLE
    `define def_DBANK_IMG_N          1
    `define def_DBANK_WGT_N          1
    `define def_DBANK_BIAS           1
`elsif DRAM_DISABLE
    `define def_DBANK_IMG_N          0
    `define def_DBANK_WGT_N          0
    `define def_DBANK_BIAS           0
`endif"""


class NotBuildableError(ValueError):
    """The accelerator is not a DPUCZDX8G configuration: no vendor build files exist for it."""


def _stock_arch(acc: Accelerator) -> str:
    if not acc.is_dpuczdx8g:
        raise NotBuildableError(f"{acc.label}: no DPU TRD files exist for it; realise it through the HLS export "
                                "(ofa-hw export)")
    return str(acc.arch)


def _on(flag: bool) -> str:
    return "ENABLE" if flag else "DISABLE"


def dpu_conf_vh(accelerator: Accelerator) -> str:
    """The ``dpu_conf.vh`` macro set of a stock DPUCZDX8G configuration.

    Examples
    --------
    >>> text = dpu_conf_vh(Accelerator.from_dpu("B1600", clock_mhz=200))
    >>> [line for line in text.splitlines() if line.startswith("`define") and "def_" not in line][:3]
    ['`define B1600', '`define URAM_DISABLE', '`define DRAM_DISABLE']
    """
    arch = _stock_arch(accelerator)
    o = accelerator.options
    lines = [f"// dpu_conf.vh for DPUCZDX8G {arch}, IP {o.ip_version} ({o.vitis_ai}); written by ofa-hw",
             f"// {accelerator.cores} core(s) at {accelerator.clock_mhz:g} MHz (DSP clock {accelerator.dsp_clock_mhz:g}"
             " MHz) are set in the Vivado / Vitis project, not here",
             f"`define {arch}", f"`define URAM_{_on(o.uram_per_core > 0)}", _URAM_BLOCK, "`define DRAM_DISABLE",
             _DRAM_BLOCK, f"`define RAM_USAGE_{o.ram_usage.upper()}",
             f"`define CHANNEL_AUGMENTATION_{_on(o.channel_augmentation)}"]
    if o.isa == 0:
        lines += [f"`define DWCV_{_on(o.depthwise)}", f"`define POOL_AVG_{_on(o.avg_pool)}",
                  f"`define ELEW_MULT_{_on(o.elementwise_multiply)}", f"`define {o.conv_relu.upper()}"]
    else:
        alu = "DEFAULT" if accelerator.dw_pp == accelerator.default_dw_pp else str(accelerator.dw_pp)
        lines += [f"`define ALU_PARALLEL_{alu}", f"`define CONV_{o.conv_relu.upper()}",
                  f"`define ALU_{o.alu_relu.upper()}"]
        if o.ip_version != "4.0":
            lines.append(f"`define SAVE_ARGMAX_{_on(o.save_argmax)}")
    lines += [f"`define DSP48_USAGE_{o.dsp_usage.upper()}", "`define LOWPOWER_DISABLE", "`define MPSOC", ""]
    return "\n".join(lines)


@lru_cache(maxsize=1)
def _pinned() -> Mapping[int, dict]:
    text = resources.files("accel_models").joinpath("data/dpuczdx8g_fingerprints.csv").read_text()
    return {int(row["fingerprint"], 16): row for row in csv.DictReader(text.splitlines())}


@dataclass(frozen=True)
class Fingerprint:
    """The DPU fingerprint of a configuration: ``value`` where a public file pins it, else None and why."""

    value: int | None
    source: str
    note: str

    @property
    def hex(self) -> str | None:
        """The fingerprint as vai_c_xir's arch.json writes it (``"0x..."``), or None."""
        return None if self.value is None else f"0x{self.value:X}"


def encode_isa1(accelerator: Accelerator) -> int:
    """The ISA1 fingerprint the target factory decodes into this configuration (not necessarily a public one)."""
    o = accelerator.options
    feature = (_ARCH_CODE[_stock_arch(accelerator)] | int(accelerator.dw_pp or 0) << 8 | _UNDECODED_BIT16
               | o.image_bank_groups << 24 | int(o.channel_augmentation) << 26
               | int(o.conv_relu == "relu_leakyrelu_relu6") << 28 | int(o.alu_relu == "relu_leakyrelu_relu6") << 29
               | int(o.save_argmax) << 30)
    return _DPUCZDX8G_TYPE << 56 | 1 << 48 | feature


def fingerprint(accelerator: Accelerator) -> Fingerprint:
    """The fingerprint ``vai_c_xir`` needs, only where a public reference file pins it.

    Examples
    --------
    >>> fingerprint(Accelerator.from_dpu("B2304")).hex
    '0x101000016010405'
    >>> fingerprint(Accelerator.from_dpu("B3136")).value is None
    True
    """
    _stock_arch(accelerator)
    how = ("read the real one off the built IP (the arch.json Vivado writes beside the DPU IP in the project's "
           "gen/ folder, or `xdputil query` on the board)")
    if accelerator.options.isa == 0:
        return Fingerprint(None, "", f"IP {accelerator.options.ip_version} (ISA0) fingerprints encode engine "
                                     f"parallelisms no dpu_conf.vh option sets, so none is derived here; {how}")
    value = encode_isa1(accelerator)
    row = _pinned().get(value)
    if row is None:
        return Fingerprint(None, "", f"this combination encodes to 0x{value:X}, which no public reference file "
                                     f"pins, so it is not written; {how}")
    return Fingerprint(value, row["source"], "pinned by a public reference file")


@dataclass(frozen=True)
class BuildConfig:
    """What ``write_build_files`` writes for one design."""

    dpu_conf_vh: str
    arch_json: dict | None
    fingerprint: Fingerprint
    compile_command: str
    notes: tuple[str, ...]


def build_config(accelerator: Accelerator, net_name: str = "ofa_subnet",
                 quantized_xmodel: str = "quantize_result/Model_int.xmodel") -> BuildConfig:
    """The DPU build configuration and the ``vai_c_xir`` command for a stock DPUCZDX8G design."""
    if not isinstance(accelerator, Accelerator):
        raise TypeError(f"build_config takes an Accelerator (e.g. Accelerator.from_dpu('B1600')), "
                        f"got {type(accelerator).__name__} {accelerator!r}")
    conf = dpu_conf_vh(accelerator)
    finger = fingerprint(accelerator)
    arch_json = None if finger.value is None else {"fingerprint": finger.hex}
    command = f"vai_c_xir --xmodel {quantized_xmodel} --arch arch.json --output_dir compiled --net_name {net_name}"
    o = accelerator.options
    notes = [f"DPUCZDX8G {accelerator.arch}, IP {o.ip_version}: compile with {o.vitis_ai} (vai_c_xir of that release)",
             f"{accelerator.cores} core(s) at {accelerator.clock_mhz:g} MHz, "
             f"DSP clock {accelerator.dsp_clock_mhz:g} MHz: "
             "set them in the Vivado block design / Vitis link configuration (prj_config)",
             f"fingerprint: {finger.hex} ({finger.source})" if finger.value is not None
             else "fingerprint: not pinned by a public file (see below)"]
    if o.uram_per_core:
        notes.append(f"UltraRAM: the model places {o.uram_per_core} UltraRAM block(s) per core of buffers; the TRD's "
                     "URAM_ENABLE puts 5 image, 17 weight and 1 bias bank in UltraRAM (def_UBANK_*): check the "
                     "placement in the implemented design")
    if o.softmax:
        notes.append("softmax core: enable it in the DPU IP's Vivado configuration (not a dpu_conf.vh macro)")
    return BuildConfig(conf, arch_json, finger, command, tuple(notes))


def write_build_files(accelerator: Accelerator, out_dir: str | os.PathLike, net_name: str = "ofa_subnet") -> list[Path]:
    """Write ``dpu_conf.vh``, ``arch.json`` (when the fingerprint is pinned) and ``BUILD.md``; return the paths.

    A custom accelerator raises :class:`NotBuildableError` naming the HLS export as its route to hardware.
    The folder is written as a unit (:func:`accel_models.atomic.atomic_directory`): an earlier build folder
    is replaced, one holding other files is refused with ``FileExistsError``.
    """
    config = build_config(accelerator, net_name)
    out = Path(out_dir)
    files = {"dpu_conf.vh": config.dpu_conf_vh}
    if config.arch_json is not None:
        files["arch.json"] = json.dumps(config.arch_json) + "\n"
    readme = ["# DPU build configuration", "", *[f"- {n}" for n in config.notes], "", "Compile the quantized network:",
              "", "```", config.compile_command, "```", ""]
    if config.arch_json is None:  # (a previous run's arch.json, describing other hardware, goes with the old folder)
        readme[-1:] = ["", "arch.json is not written: " + config.fingerprint.note + ".", ""]
    files["BUILD.md"] = "\n".join(readme)
    with atomic_directory(out, replaceable=_replaceable, what="DPU build folder") as tmp:
        for name, text in files.items():
            atomic_write_text(tmp / name, text)
    written = [out / name for name in files]
    return written

