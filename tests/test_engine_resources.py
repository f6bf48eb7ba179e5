"""The HLS engine's structural resource estimate and the fit check that uses it for custom accelerators."""

import pytest

from accel_models import Accelerator, fits, get_board, list_boards
from accel_models.hls_engine import EngineConfig
from accel_models.resources import buildable_on, estimate_resources, resource_basis, uram_to_fit


def _hand_count_dsp(pp, icp, ocp, dw_pp, multipliers):
    """DSP48E2 slices counted by hand from the engine's C++ (engine.h), independent of hls_engine.py."""
    array = pp * icp * ((ocp + 1) // 2)  # conv_rows: mul2 over output-channel pairs, per pixel and input lane
    depthwise = icp * ((dw_pp + 1) // 2)  # dw_rows: mul2 over pixel pairs, per channel lane
    se_scale = icp * ((pp + 1) // 2)  # run_eltwise: mul2 over pixel pairs, per channel lane
    outputs = pp * ocp + dw_pp * icp  # requantize<REQUANT_MULT, true> instances
    return array + depthwise + se_scale + outputs * (2 + 2 * multipliers) + 2  # + run_pool's requantize<true, false>


@pytest.mark.parametrize("shape", [(4, 8, 8, 2), (2, 16, 14, 1), (8, 16, 12, 4), (2, 4, 3, 1)])
@pytest.mark.parametrize("multipliers", [False, True])
def test_dsp_count_follows_the_engines_packed_multiplies(shape, multipliers):
    pp, icp, ocp, dw_pp = shape
    cfg = EngineConfig.from_accelerator(Accelerator(pp, icp, ocp, clock_mhz=300.0, dw_pp=dw_pp),
                                        multipliers=multipliers)
    assert cfg.resources().dsp == _hand_count_dsp(pp, icp, ocp, dw_pp, multipliers)


def test_an_engine_needs_about_twice_a_dpus_dsps():
    # one clock, two int8 MACs per DSP48E2, against the DPU's double-rate DSP clock (four per main clock)
    b2304 = Accelerator.from_dpu("B2304")
    engine = EngineConfig.from_accelerator(b2304, multipliers=False).resources().dsp
    assert engine > 1.8 * estimate_resources(b2304).dsp


def test_bram_follows_the_partitioned_banks():
    cfg = EngineConfig.from_accelerator(Accelerator.from_dpu("B512"))
    # ibuf / obuf: 32 banks of 1024 bytes = one BRAM18 each; wbuf: 64 banks of 2048 bytes = one BRAM18 each;
    # bias / mult / shift: 8 lanes x 256 words x 32 bits = one BRAM18 each; macc: 8 x 256 x 32 bits likewise
    assert cfg.resources().bram36 == (32 + 32 + 64 + 3 * 8 + 8) / 2


def test_fits_prices_custom_accelerators_as_their_engine_and_stock_ones_by_pg338():
    ultra96 = get_board("ultra96v2")
    b1600 = buildable_on(Accelerator.from_dpu("B1600", ddr_bw_gbps=ultra96.ddr_bw_gbps), ultra96)
    assert fits(b1600, ultra96).ok and resource_basis(b1600).startswith("PG338")  # PYNQ-DPU's DPU for the board
    custom = Accelerator(8, 10, 12, clock_mhz=300.0)  # a B1600-sized custom array: its engine does not fit
    check = fits(custom, ultra96)
    assert not check.ok and check.binding_resource in ("dsp", "lut") and resource_basis(custom).startswith("HLS")
    engine = EngineConfig.from_accelerator(custom, multipliers=False).resources()
    assert check.placed.dsp == engine.dsp and check.placed.lut == engine.lut
    assert buildable_on(custom, ultra96) == custom and uram_to_fit(custom, ultra96) == 0  # no DPU options
    assert fits(custom.replace(cores=2), get_board("zcu102")).placed.dsp == 2 * engine.dsp


@pytest.mark.parametrize("board", list_boards())
def test_the_engines_weight_buffer_moves_to_ultraram_only_when_bram_is_short(board):
    target = get_board(board)
    big = EngineConfig.from_accelerator(Accelerator(8, 16, 14, clock_mhz=300.0), multipliers=False)
    placed = big.placed(target)
    if big.resources().bram36 <= target.bram36 or not target.uram:
        assert placed.uram_arrays == () and placed.uram == 0
    else:
        assert placed.uram_arrays == ("wbuf",) and placed.uram > 0 and placed.bram36 < big.resources().bram36


def test_the_report_names_the_engine_as_the_basis_of_a_custom_designs_resources():
    from ofa_hw.report.content import resource_use
    from ofa_hw.search.result import Design
    from ofa_hw.space import SubnetConfig

    board = get_board("ultra96v2")
    acc = Accelerator(2, 16, 14, clock_mhz=300.0, ddr_bw_gbps=board.ddr_bw_gbps)
    design = Design(subnet=SubnetConfig.smallest(r=160), accelerator=acc, latency_ms=9.0, fps=111.0,
                    accuracy_top1=70.0, accuracy_float_top1=72.0, resources=fits(acc, board), latency_source="model",
                    measured_fraction=0.0)
    use = resource_use(design, board)
    assert use["basis"].startswith("HLS engine") and use["fits"]
    dsp = next(r for r in use["rows"] if r["resource"] == "dsp")
    assert dsp["used"] == EngineConfig.from_accelerator(acc, multipliers=False).resources().dsp
