"""The two accelerator spaces, what the search returns from them, and how a design says what it is."""

import json

import numpy as np
import pytest

from accel_models import CUSTOM_LABEL, Accelerator, DpuOptions, fits, get_board, list_boards, list_dpu_archs
from accel_models.cpu_fallback import CPU_BW_GBPS, cpu_gops, fallback_latency_ms, fallback_layers
from accel_models.layer import Layer
from ofa_hw import search_codesign
from ofa_hw.cli import main
from ofa_hw.search import CodesignResult
from ofa_hw.search.accelerators import AcceleratorSpace

FAST = dict(budget=400, population=40, progress=False)
#: a loose and a tight budget per board (ms): every board reaches both
BUDGETS = {"ultra96v2": (8.0, 15.0), "zcu102": (4.0, 8.0), "zcu104": (4.0, 8.0), "kv260": (5.0, 8.0)}


@pytest.mark.parametrize("board", list_boards())
@pytest.mark.parametrize("space", ["dpu", "dpu-like"])
def test_every_design_on_every_front_fits_with_no_extra_arguments(board, space):
    target = get_board(board)
    for latency_ms in BUDGETS[board]:
        result = search_codesign(board=board, latency_ms=latency_ms, accelerators=space, seed=0, **FAST)
        for design in [result.best, *result.pareto]:
            check = fits(design.accelerator, target)
            assert check.ok, (board, space, design.accelerator.label, str(check))
            assert check == design.resources  # the search's resources are the user's fit check
        if space == "dpu":
            assert result.best.accelerator.arch in list_dpu_archs()
            assert all(d.accelerator.is_dpuczdx8g for d in result.pareto)
        else:  # every design is a custom accelerator and its HLS engine fits: the export's own check passes
            from hls.engine import EngineConfig, check_board

            for design in [result.best, *result.pareto]:
                acc = design.accelerator
                assert not acc.is_dpuczdx8g, acc.label
                engine = check_board(EngineConfig.from_accelerator(acc, multipliers=False), target, acc.cores)
                assert all(engine["fits"].values())
                assert engine["total"]["dsp"] == design.resources.placed.dsp


def test_the_stock_space_holds_only_pg338_builds_and_the_grid_space_only_custom():
    board = get_board("zcu104")
    stock = AcceleratorSpace.named(board, "dpu")
    assert all(a.is_dpuczdx8g and a.icp == a.ocp for a in stock.accelerators)
    assert {a.options.ram_usage for a in stock.accelerators} == {"low", "high"}
    assert any(a.options.uram_per_core > 0 for a in stock.accelerators)  # ZCU104: 312 BRAM36, UltraRAM needed
    grid = AcceleratorSpace.named(board, "dpu-like")
    custom = [a for a in grid.accelerators if not a.is_dpuczdx8g]
    assert custom == list(grid.accelerators)  # the PG338 sizes are the "dpu" space's
    assert all(a.icp != a.ocp or (a.pp, a.icp) not in {(8, 10), (8, 12)} for a in custom)
    assert stock.describe()["custom"] == 0 and grid.describe()["custom"] == len(custom)
    with pytest.raises(ValueError, match="unknown accelerator space 'dpus'; known: dpu, dpu-like"):
        AcceleratorSpace.named(board, "dpus")


def test_identity_is_the_hardware_not_the_name():
    b2304 = Accelerator.from_dpu("B2304", clock_mhz=200.0)
    same = Accelerator(8, 12, 12, clock_mhz=200.0, name="custom")
    assert same == b2304 and hash(same) == hash(b2304) and same.arch == "B2304"
    assert b2304 != b2304.replace(options=b2304.options.replace(dsp_usage="low"))  # other hardware
    assert b2304.timing_key == b2304.replace(options=b2304.options.replace(dsp_usage="low")).timing_key
    from accel_models import group_by_block
    from latency_tables import get_predictor
    from ofa_hw import SubnetConfig
    from ofa_hw.layers import subnet_layers

    predictor = get_predictor("ultra96v2-b2304")
    units = group_by_block(subnet_layers(SubnetConfig.largest()))
    own = predictor.accelerator
    measured = (predictor.unit_sources(units, own) == "measured").sum()
    assert measured > 0
    for acc in (own.replace(name="my board's DPU"), own.replace(options=own.options.replace(dsp_usage="low"))):
        assert (predictor.unit_sources(units, acc) == "measured").sum() == measured  # label, DSP usage: same program
        np.testing.assert_array_equal(predictor.unit_latency_ms(units, acc), predictor.unit_latency_ms(units, own))
    other = own.replace(options=own.options.replace(ram_usage="high"))  # larger buffers: another program
    assert (predictor.unit_sources(units, other) == "measured").sum() == 0


def test_clock_and_options_are_validated():
    with pytest.raises(ValueError, match=r"clock_mhz 5000.0 is beyond what the hardware supports"):
        Accelerator.from_dpu("B2304", clock_mhz=5000.0)
    with pytest.raises(ValueError, match="hard_sigmoid needs DPUCZDX8G IP 4.0"):
        DpuOptions(ip_version="3.4", hard_sigmoid=True)
    with pytest.raises(ValueError, match="always builds depthwise"):
        DpuOptions(ip_version="4.1", depthwise=False)
    with pytest.raises(ValueError, match="ram_usage must be 'low' or 'high'"):
        DpuOptions(ram_usage="max")
    with pytest.raises(ValueError, match="unknown DpuOptions field"):
        DpuOptions.from_dict({"ram": "low"})


def test_ram_usage_high_enlarges_the_buffer_by_one_bank_group_and_costs_bram():
    from accel_models import estimate_resources

    low = Accelerator.from_dpu("B4096")
    high = low.replace(options=low.options.replace(ram_usage="high"))
    assert high.act_buffer_kib == pytest.approx(1.5 * low.act_buffer_kib)  # 3 image bank groups instead of 2
    extra = estimate_resources(high).bram36 - estimate_resources(low).bram36
    one_group = 8 * 16 * 2048 * 8 / 36864  # PP x ICP bytes x 2048 rows, in 36 Kb blocks
    assert extra == pytest.approx(one_group, rel=0.15)


# ------------------------------------------------------------ CPU fallback
def test_fallback_cost_of_one_h_swish_by_hand():
    conv = Layer("c", "conv", (16, 28, 28), (32, 28, 28), kernel=3, activation="h_swish", block="u")
    acc = Accelerator.from_dpu("B1600", options=DpuOptions(ip_version="3.4"), ddr_bw_gbps=10.0)
    launch_ms = 0.25
    out_bytes = 32 * 28 * 28
    cpu_ms = max(4 * out_bytes / (cpu_gops() * 1e6), 2 * out_bytes / (CPU_BW_GBPS * 1e6))
    round_trip_ms = 2 * out_bytes / (10.0 * 1e6)  # the DPU writes the conv output, the next subgraph reads it back
    expected = cpu_ms + round_trip_ms + launch_ms
    assert fallback_latency_ms([[conv]], [acc], launch_ms)[0, 0] == pytest.approx(expected)
    assert fallback_latency_ms([[conv]], [Accelerator.from_dpu("B1600")], launch_ms)[0, 0] == 0.0
    (layer,) = fallback_layers([conv], acc)
    assert layer.activation_only and "IP 3.4 has none" in layer.reason


def test_a_design_with_cpu_fallback_says_so_everywhere(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["search", "--board", "ultra96v2", "--latency-ms", "40", "--accelerators", "B1600@300x1",
                 "--dpu-ip", "3.4", "--budget", "600", "--population", "50", "--no-progress", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "CPU fallback:" in printed and "hard-sigmoid" in printed
    result = CodesignResult.from_json(out / "result.json")
    best = result.best
    data = json.loads((out / "result.json").read_text())["best"]
    assert data["cpu_fallback"] and data["cpu_fallback"] == [f.to_dict() for f in best.cpu_fallback]
    assert "CPU fallback" in (out / "report" / "report.html").read_text()
    # the latency includes the fallback: the same search on IP 4.1, where everything runs on the DPU, is faster
    on_41 = result.best.accelerator.replace(options=best.accelerator.options.replace(ip_version="4.1",
                                                                                     hard_sigmoid=None))
    from latency_tables import get_predictor
    from ofa_hw.accuracy import get_predictor as get_accuracy
    from ofa_hw.search import Candidates, Evaluator
    from ofa_hw.search.codesign import DEFAULT_LATENCY_PREDICTOR
    from ofa_hw.space import get_space

    board = get_board("ultra96v2")
    space = AcceleratorSpace.from_list(board, [best.accelerator, on_41])
    evaluator = Evaluator(get_space("ofa-mbv3-w1.2"), [best.subnet.r], space, get_predictor(DEFAULT_LATENCY_PREDICTOR),
                          get_accuracy("ofa-mbv3-w1.2"))
    latency = evaluator.evaluate(Candidates(best.subnet.as_batch().concat([best.subnet.as_batch()] * 2),
                                            np.array([0, 1]))).latency_ms
    assert latency[0] == pytest.approx(best.latency_ms)
    extra = fallback_latency_ms([u for u in _units(best)], [best.accelerator], evaluator.invocation_ms).sum()
    assert latency[0] - latency[1] == pytest.approx(extra, rel=1e-9) and extra > 0


def _units(design):
    from accel_models import group_by_block

    return group_by_block(design.layers())


def test_custom_designs_are_labelled_in_cli_json_and_report(tmp_path, capsys):
    out = tmp_path / "custom"
    code = main(["search", "--board", "ultra96v2", "--latency-ms", "10", "--accelerators", "dpu-like",
                 "--budget", "1500", "--population", "50", "--no-progress", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    result = CodesignResult.from_json(out / "result.json")
    data = json.loads((out / "result.json").read_text())
    custom = [d for d in data["pareto"] if d["accelerator"]["kind"] == "custom"]
    assert custom and all(CUSTOM_LABEL in d["accelerator"]["label"] for d in custom)
    assert data["settings"]["accelerators"]["space"] == "dpu-like"
    if result.best.is_custom:
        assert CUSTOM_LABEL in printed and "HLS export" in printed
        assert CUSTOM_LABEL in (out / "report" / "report.html").read_text()
        assert not (out / "dpu_build").exists()  # no vendor build files for a custom design
    else:
        assert (out / "dpu_build" / "dpu_conf.vh").exists()


def test_build_config_regenerates_the_files_of_a_search(tmp_path, capsys):
    out = tmp_path / "stock"
    assert main(["search", "--board", "kv260", "--latency-ms", "8", "--budget", "600", "--population", "50",
                 "--no-progress", "--no-report", "--out", str(out)]) == 0
    first = (out / "dpu_build" / "dpu_conf.vh").read_text()
    assert main(["build-config", str(out / "result.json"), "--out", str(tmp_path / "again")]) == 0
    assert (tmp_path / "again" / "dpu_conf.vh").read_text() == first
    best = CodesignResult.from_json(out / "result.json").best
    assert f"`define {best.accelerator.arch}" in first
    assert ("`define URAM_ENABLE" in first) == (best.accelerator.options.uram_per_core > 0)


def test_the_hls_manifest_records_the_whole_accelerator_with_its_options():
    from hls.hints import accelerator_info

    acc = Accelerator(8, 16, 8, clock_mhz=300.0, options=DpuOptions(dsp_usage="low", uram_per_core=3))
    info = accelerator_info(acc)
    assert info["config"]["options"] == {**DpuOptions().to_dict(), "dsp_usage": "low", "uram_per_core": 3}
    assert Accelerator.from_dict(json.loads(json.dumps(info["config"]))) == acc  # the manifest rebuilds the hardware


def test_cpu_fallback_throughput_comes_from_the_zoo_fit():
    # 4 operations x 3 channels per pixel of the fitted pre-processing time (ns per pixel), read from the file
    import json
    from importlib import resources

    params = json.loads(resources.files("accel_models").joinpath("data/deployed_params.json").read_text())
    assert cpu_gops() == pytest.approx(12 / params["preprocess_ms_per_mpx"])
    assert 0.8 < cpu_gops() < 1.7  # the stated uncertainty band
