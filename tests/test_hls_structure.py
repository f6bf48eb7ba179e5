"""The generated engine is synthesizable by construction: the rules Vitis HLS needs, read off the generated code.

No Vitis HLS here, so this checks what can be checked from the text: on-chip arrays sized from the
accelerator (and their total against the board), static loop bounds or LOOP_TRIPCOUNT, II = 1 pipelines,
partitioning that matches the PE / SIMD reads, the three m_axi bundles and the s_axilite control, no
dynamic memory or pointers to pointers, strict C++11; and the build scripts name the top, part, clock
and every step.
"""

import math
import re
import shutil
import subprocess

import pytest

import hls
from accel_models import Accelerator
from accel_models.boards import get_board
from hls.engine import EngineConfig, EngineResourceError, OnChipMemoryError, check_board

pytest.importorskip("torch")
ACCELERATOR = Accelerator.from_dpu("B512", clock_mhz=250.0)  # the largest PG338 array whose engine fits


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    from hls.bn import randomize_batchnorm
    from tests.test_hls_kernels import LAYERS, Tiny  # a small network that uses every engine unit

    source = hls.TorchNetwork(randomize_batchnorm(Tiny(), seed=0, size=19), LAYERS)
    return hls.export(source, tmp_path_factory.mktemp("structure") / "p", accelerator=ACCELERATOR, n_calibration=4,
                      board="ultra96v2")


def _code(project, name):
    text = (project.path / name).read_text()
    return re.sub(r"//[^\n]*", "", text)


def _constants(project) -> dict[str, int]:
    return {m[0]: int(m[1]) for m in re.findall(r"const int (\w+) = (-?\d+);", _code(project, "engine_config.h"))}


def _loops(code: str):
    """(bound expression, the pragma lines right after the loop head) of every for loop."""
    for match in re.finditer(r"for \(int \w+ = [^;]+; \w+ < ([^;]+); [^)]+\) \{\n((?:\s*#pragma[^\n]*\n)*)", code):
        yield match.group(1).strip(), match.group(2)


def test_every_loop_has_a_static_bound_or_a_tripcount(project):
    constants = set(_constants(project)) | {"N_FIELDS"}
    loops = list(_loops(_code(project, "engine.h")))
    assert len(loops) >= 25
    for bound, pragmas in loops:
        static = bound.isdigit() or bound in constants
        assert static or "LOOP_TRIPCOUNT" in pragmas, f"loop to {bound!r} has a runtime bound and no LOOP_TRIPCOUNT"
        if "PIPELINE" in pragmas:
            assert "II = 1" in pragmas
        if "UNROLL" in pragmas:
            assert static, f"unrolled loop to {bound!r} needs a constant bound"


def test_flattened_tile_loops_are_pipelined_at_ii_1(project):
    code = _code(project, "engine.h")
    for label in ("conv_tile", "dw_tile", "eltwise", "pool_sum", "load_rows", "load_weights", "store_obuf"):
        body = code[code.index(f"{label}:"):]
        head = body[:body.index("{\n") + 200]
        assert "#pragma HLS PIPELINE II = 1" in head, label


def test_on_chip_arrays_are_the_accelerators_buffers_and_fit_the_board(project):
    top = _code(project, "top.cpp")
    constants = _constants(project)
    arrays = re.findall(r"static (\w+) (\w+)((?:\[\w+\])+);", top)
    widths = {"act_t": 1, "wgt_t": 1, "acc_t": 4, "int32_t": 4}
    total = 0
    cfg = EngineConfig.from_accelerator(ACCELERATOR)
    expected = cfg.arrays()
    assert {name for _, name, _ in arrays} == set(expected)
    for ctype, name, dims in arrays:
        sizes = [constants[d] for d in re.findall(r"\[(\w+)\]", dims)]  # every dimension a config constant
        total += math.prod(sizes) * widths[ctype]
        banks, depth, bits = expected[name]
        assert math.prod(sizes) == banks * depth and widths[ctype] * 8 == bits
    assert total == cfg.on_chip_bytes == project.manifest["engine"]["on_chip_bytes"]
    # the activation and weight buffers are exactly the Accelerator's
    assert cfg.act_buffer_bytes == ACCELERATOR.act_buffer_kib * 1024
    assert cfg.weight_buffer_bytes == ACCELERATOR.weight_buffer_kib * 1024
    fit = project.manifest["engine"]["resources"]
    board = get_board("ultra96v2")
    assert fit["board"] == "ultra96v2" and fit["bram36"] <= board.bram36 and fit["fits"]["bram36"]
    assert set(fit) >= {"dsp", "bram36", "uram", "lut"}


def test_partitioning_matches_the_lane_reads(project):
    top = _code(project, "top.cpp")
    for name in ("ibuf", "obuf", "wbuf"):  # [pixels or OCP][ICP or OCP][depth]: both lane dimensions in registers
        for dim in (1, 2):
            assert f"ARRAY_PARTITION variable = {name} complete dim = {dim}" in top
    for name in ("bias_buf", "mult_buf", "shift_buf", "macc"):
        assert f"ARRAY_PARTITION variable = {name} complete dim = 1" in top


def test_interfaces_dynamic_memory_and_pointers(project):
    top = _code(project, "top.cpp")
    bundles = re.findall(r"INTERFACE m_axi port = (\w+) offset = slave bundle = (\w+)", top)
    assert dict(bundles) == {"act": "gmem_act", "wgt": "gmem_wgt", "prog": "gmem_prog"}
    assert "INTERFACE s_axilite port = return bundle = control" in top
    assert "void ofa_engine(act_t* act, const wgt_t* wgt, const int32_t* prog)" in top
    for name in ("engine.h", "top.cpp", "program.h", "engine_config.h"):
        code = _code(project, name)
        assert not re.search(r"\b(new|delete|malloc|calloc|realloc|free)\b|std::|\*\s*\*|\*\s*&", code), name


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not installed")
def test_synthesizable_sources_are_strict_cxx11(project):
    run = subprocess.run(["g++", "-std=c++11", "-pedantic-errors", "-Wall", "-Wextra", "-Wno-unknown-pragmas",
                          "-Wno-unused-label", "-fsyntax-only", "-D__SYNTHESIS__", "top.cpp"],
                         cwd=project.path, capture_output=True, text=True)
    assert run.returncode == 0 and not run.stderr, run.stderr


def test_build_scripts_name_top_part_clock_and_every_step(project):
    tcl = (project.path / "run_hls.tcl").read_text()
    board = get_board("ultra96v2")
    for line in ("set_top ofa_engine", f"set_part {{{board.part}}}", "create_clock -period 4.000", "csim_design",
                 "csynth_design", "cosim_design", "export_design -format ip_catalog"):
        assert line in tcl
    cfg = (project.path / "hls_config.cfg").read_text()
    for line in (f"part={board.part}", "syn.top=ofa_engine", "clock=4.000ns", "package.output.format=ip_catalog",
                 "flow_target=vivado"):
        assert line in cfg
    listed = set(re.findall(r"add_files(?: -tb)? (\S+)", tcl)) | set(re.findall(r"(?:syn|tb)\.file=(\S+)", cfg))
    assert listed and all((project.path / name).exists() for name in listed)
    driver = (project.path / "pynq_driver.py").read_text()
    assert "Overlay(" in driver and "allocate(" in driver and "AP_START" in driver and "AP_DONE" in driver
    compile(driver, "pynq_driver.py", "exec")  # valid Python


def test_buffers_the_board_cannot_hold_are_refused_before_writing(tmp_path):
    from tests.test_hls_kernels import LAYERS, Tiny

    big = Accelerator.from_dpu("B4096", clock_mhz=300.0)
    with pytest.raises(OnChipMemoryError, match="need 288 BRAM36 and 0 URAM; board ultra96v2 has 216"):
        hls.export(hls.TorchNetwork(Tiny(), LAYERS), tmp_path / "out", accelerator=big, board="ultra96v2",
                   n_calibration=2)
    assert not (tmp_path / "out").exists()
    fit = check_board(EngineConfig.from_accelerator(big, multipliers=False), get_board("zcu102"))
    assert all(fit["fits"].values()) and fit["uram_arrays"] == []


def test_an_engine_beyond_the_boards_dsp_or_lut_is_refused_before_writing(tmp_path):
    from tests.test_hls_kernels import LAYERS, Tiny

    # B1600's buffers fit the Ultra96-V2 (PYNQ-DPU ships it as a DPU there), its engine's array does not:
    # 8 x 10 x 10 MACs at two per DSP48E2 alone are 400 of the board's 360 DSP slices
    with pytest.raises(EngineResourceError, match=r"P8I10O10 needs [\d,]+ DSP \(\d+% of 360\).*ultra96v2"):
        hls.export(hls.TorchNetwork(Tiny(), LAYERS), tmp_path / "out", accelerator=Accelerator.from_dpu("B1600"),
                   board="ultra96v2", n_calibration=2)
    assert not (tmp_path / "out").exists()
