"""The files that take an export to hardware: Vitis HLS scripts and the PYNQ driver.

``run_hls.tcl`` (``vitis_hls -f run_hls.tcl``, the classic flow) and
``hls_config.cfg`` (``v++ -c --mode hls --config hls_config.cfg``, the unified
2023.2+ flow) name the same top (``ofa_engine``), the board's part, the
accelerator's clock, the sources and the testbench, and run C-simulation,
C-synthesis, C/RTL co-simulation and ``export_design -format ip_catalog``.
``pynq_driver.py`` runs the exported IP from a PYNQ board: it loads the
overlay, allocates the three DDR buffers, writes the program and weights,
starts the engine and waits for it.  None of them runs here (no Vitis, no
board): they are generated text, checked by the tests for what they name.
"""

from __future__ import annotations

from accel_models import Accelerator
from accel_models.boards import Board

__all__ = ["build_files"]

_SOURCES = ("top.cpp",)
_HEADERS = ("engine.h", "engine_config.h", "program.h", "program_sizes.h")
_TB = ("tb.cpp", "testbench.h", "testbench_layers.h")
_TB_DATA = ("program.bin", "weights.bin", "golden")
_CFLAGS = "-std=c++11"


def _tcl(board: Board, accelerator: Accelerator, description: str) -> str:
    period_ns = 1e3 / accelerator.clock_mhz
    files = "".join(f"add_files {name} -cflags \"{_CFLAGS}\"\n" for name in (*_SOURCES, *_HEADERS))
    tb = "".join(f"add_files -tb {name} -cflags \"{_CFLAGS}\"\n" for name in (*_TB, *_TB_DATA))
    return (f"# Vitis HLS build of the ofa-hw engine for {description}.\n"
            "# Usage: vitis_hls -f run_hls.tcl   (from this directory; Vitis HLS 2020.2 or later)\n"
            "open_project -reset ofa_engine_prj\n"
            "set_top ofa_engine\n" + files + tb
            + "open_solution -reset solution1 -flow_target vivado\n"
            f"set_part {{{board.part}}}\n"
            f"create_clock -period {period_ns:.3f} -name default\n"
            "csim_design -argv \".\"\n"
            "csynth_design\n"
            "cosim_design -argv \".\"\n"
            "export_design -format ip_catalog -rtl verilog\n"
            "exit\n")


def _cfg(board: Board, accelerator: Accelerator, description: str) -> str:
    lines = [f"# Vitis unified (2023.2+) HLS component of the ofa-hw engine for {description}.",
             "# Usage: v++ -c --mode hls --config hls_config.cfg --work_dir ofa_engine_prj",
             f"part={board.part}", "", "[hls]", "flow_target=vivado", "package.output.format=ip_catalog",
             f"clock={1e3 / accelerator.clock_mhz:.3f}ns", "syn.top=ofa_engine"]
    lines += [f"syn.file={name}" for name in (*_SOURCES, *_HEADERS)]
    lines += [f"syn.cflags={_CFLAGS}", f"tb.cflags={_CFLAGS}"]
    lines += [f"tb.file={name}" for name in (*_TB, *_TB_DATA)]
    lines += ["csim.argv=.", "cosim.argv=.", "cosim.trace_level=none", ""]
    return "\n".join(lines)


def _driver(board: Board, accelerator: Accelerator, description: str) -> str:
    return f'''"""Run the exported ofa-hw engine on a PYNQ board ({board.name}): {description}.

Build the IP (run_hls.tcl), put it in a Vivado block design with the Zynq PS (its
three m_axi ports on HP ports, s_axi_control on an HPM port), write the bitstream
and copy ofa_engine.bit / .hwh beside this file, program.bin and weights.bin.
"""

import numpy as np
from pynq import Overlay, allocate

manifest = __import__("json").load(open("manifest.json"))
program = manifest["engine"]["program"]
overlay = Overlay("ofa_engine.bit")
engine = overlay.ofa_engine_0

act = allocate(shape=(program["activation_bytes"],), dtype=np.int8)
wgt = allocate(shape=(program["weight_bytes"],), dtype=np.int8)
prog = allocate(shape=(program["program_words"],), dtype=np.int32)
wgt[:] = np.fromfile("weights.bin", dtype=np.int8)
prog[:] = np.fromfile("program.bin", dtype="<i4")

c, h, w = manifest["inputs"][0]["shape"]
image = np.fromfile("golden/input.bin", dtype=np.int8).reshape(c, h, w)  # your int8 image at its fix position
act[program["input_offset"]:program["input_offset"] + c * h * w] = image.transpose(1, 2, 0).ravel()  # HWC
for buf in (act, wgt, prog):
    buf.flush()

engine.register_map.act_1 = act.device_address  # 64-bit addresses: *_1 low word, *_2 high word
engine.register_map.act_2 = act.device_address >> 32
engine.register_map.wgt_1 = wgt.device_address
engine.register_map.wgt_2 = wgt.device_address >> 32
engine.register_map.prog_1 = prog.device_address
engine.register_map.prog_2 = prog.device_address >> 32
engine.register_map.CTRL.AP_START = 1
while not engine.register_map.CTRL.AP_DONE:
    pass
act.invalidate()

last = manifest["layers"][-1]
out = last["engine"]["descriptor"]["out"]
fix = manifest["outputs"][0]["fix_position"]
logits = act[out:out + int(np.prod(last["out_shape"]))].astype(np.float64) * 2.0 ** -fix
print("top-5 classes:", np.argsort(-logits)[:5])
'''


def build_files(board: Board, accelerator: Accelerator, description: str) -> dict[str, tuple[str, str]]:
    """``{relative path: (text, manifest role)}`` of the build scripts and the driver."""
    return {"run_hls.tcl": (_tcl(board, accelerator, description), "script"),
            "hls_config.cfg": (_cfg(board, accelerator, description), "script"),
            "pynq_driver.py": (_driver(board, accelerator, description), "driver")}
