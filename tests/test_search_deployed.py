"""The search's ``fps=`` is the deployed throughput, ``latency_ms=`` DPU time or end-to-end, as asked.

The independent reference: the latency table's own whole-network prediction
(``HybridPredictor.subnet_latency_ms``) fed to :class:`accel_models.deployed.DeployedModel`
by hand, against what the search reports for the design it picked.
"""

from __future__ import annotations

import pytest

from accel_models import Accelerator, DpuOptions
from accel_models.deployed import DeployedModel
from latency_tables import get_predictor
from ofa_hw import search_codesign
from ofa_hw.cli import main
from ofa_hw.search import CodesignResult

# the measured build (no channel augmentation), so the reference is the table itself
B2304 = Accelerator.from_dpu("B2304", clock_mhz=200.0, options=DpuOptions(channel_augmentation=False))
FAST = dict(board="ultra96v2", accelerators=B2304, predictor="ultra96v2-b2304", budget=600, population=30,
            progress=False, seed=0)


def _reference(design, threads=None):
    dpu_ms = float(get_predictor("ultra96v2-b2304").subnet_latency_ms(design.subnet)[0])
    return DeployedModel.shipped().estimate(dpu_ms, board="ultra96v2", design_cores=design.accelerator.cores,
                                            threads=threads, input_hw=(design.subnet.r, design.subnet.r))


@pytest.mark.parametrize("threads", [None, 1, 2])
def test_fps_constraint_uses_the_deployed_throughput(threads):
    result = search_codesign(fps=60.0, threads=threads, **FAST)
    best = result.best
    expected = _reference(best, threads)
    assert best.fps == pytest.approx(expected.fps, rel=1e-9) and best.fps >= 60.0
    assert best.latency_ms == pytest.approx(expected.dpu_ms, rel=1e-9)  # latency_ms stays DPU time by default
    assert best.deployed["threads"] == expected.threads and best.deployed["bound"] == expected.bound
    if threads == 1:  # one thread: nothing overlaps
        assert best.fps == pytest.approx(1000 / (expected.dpu_ms + expected.cpu_ms))
    assert result.settings["deployment"]["threads"] == threads


def test_end_to_end_latency_mode_bounds_dpu_plus_arm_time():
    result = search_codesign(latency_ms=12.0, latency_mode="e2e", **FAST)
    best = result.best
    expected = _reference(best)
    assert best.latency_ms == pytest.approx(expected.single_thread_latency_ms, rel=1e-9) and best.latency_ms <= 12.0
    dpu_only = search_codesign(latency_ms=12.0, **FAST).best
    assert dpu_only.latency_ms <= 12.0 and dpu_only.deployed["single_thread_latency_ms"] > dpu_only.latency_ms


def test_result_round_trips_with_the_breakdown(tmp_path):
    best = search_codesign(fps=60.0, **FAST).best
    path = CodesignResult(best=best, pareto=[best]).to_json(tmp_path / "r.json")
    again = CodesignResult.from_json(path).best
    assert again == best and sum(again.deployed["shares"].values()) == pytest.approx(1.0)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"threads": 0}, "threads must be an integer >= 1"),
    ({"threads": 2.5}, "threads must be an integer >= 1"),
    ({"latency_mode": "wall"}, "latency mode must be one of"),
])
def test_bad_deployment_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        search_codesign(fps=60.0, **(FAST | kwargs))


def test_cli_prints_dpu_time_end_to_end_and_fps_side_by_side(tmp_path, capsys):
    assert main(["search", "--board", "ultra96v2", "--fps", "60", "--threads", "2", "--accelerators", "B2304@200x1",
                 "--predictor", "ultra96v2-b2304", "--budget", "600", "--population", "30", "--no-report",
                 "--no-progress", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    line = next(line for line in printed.splitlines() if line.strip().startswith("deployed"))
    assert "with 2 thread(s) on 1 core(s)" in line and "DPU" in line and "ARM pre/post" in line and "%" in line
    assert "(DPU time, " in printed
