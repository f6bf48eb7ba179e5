"""The pynq_dpu runner: its use of the pynq_dpu API off-board (a stand-in module), and for real on a board."""

from __future__ import annotations

import os
import pickle
import sys
import types

import numpy as np
import pytest

from latency_tables import load_table
from latency_tables.harness import Plan, PynqDpuRunner, measure


class _Tensor:
    def __init__(self, dims, dtype):
        self.dims, self.dtype = dims, dtype


class _FakeRunner:
    """Follows the VART runner contract: execute_async(inputs, outputs) -> job id, wait(job id)."""

    def __init__(self, log):
        self.log = log

    def get_input_tensors(self):
        return [_Tensor([1, 7, 7, 192], "xint8")]

    def get_output_tensors(self):
        return [_Tensor([1, 7, 7, 1152], "xint8")]

    def execute_async(self, inputs, outputs):
        assert inputs[0].shape == (1, 7, 7, 192) and inputs[0].dtype == np.int8 and inputs[0].flags.c_contiguous
        assert outputs[0].shape == (1, 7, 7, 1152)
        self.log.append("execute")
        return (len(self.log), 0)

    def wait(self, job_id):
        self.log.append(("wait", job_id))


@pytest.fixture()
def fake_pynq_dpu(monkeypatch):
    log = []

    class DpuOverlay:
        def __init__(self, bitstream):
            log.append(("overlay", bitstream))

        def load_model(self, path):
            if not open(path, "rb").read().startswith(b"XMODEL"):
                raise RuntimeError(f"cannot deserialize {path}")
            log.append(("load_model", os.path.basename(path)))
            self.runner = _FakeRunner(log)

    module = types.ModuleType("pynq_dpu")
    module.DpuOverlay = DpuOverlay
    monkeypatch.setitem(sys.modules, "pynq_dpu", module)
    return log


def test_runner_drives_the_pynq_dpu_api(tmp_path, fake_pynq_dpu):
    key = "Conv_1-input:7x7x192-output:7x7x1152"
    plan = Plan.from_keys([key, "Logits-input:1x1x1536-output:1000"])
    (tmp_path / f"{plan.units[0].name}.xmodel").write_bytes(b"XMODEL fake payload")
    (tmp_path / f"{plan.units[1].name}.xmodel").write_bytes(b"garbage")
    runner = PynqDpuRunner("dpu.bit")
    report = measure(plan, tmp_path, runner, tmp_path / "t.csv", meta=dict(board="ultra96v2", dpu_arch="B2304",
                     clock_mhz=200.0, toolchain="Vitis AI 3.0"), warmup=2, runs=3, progress=False)
    assert report.measured == (key,)
    assert "cannot deserialize" in report.failed[0].reason
    assert fake_pynq_dpu[0] == ("overlay", "dpu.bit")  # one overlay for the whole run
    assert fake_pynq_dpu.count("execute") == 5 and sum(1 for e in fake_pynq_dpu if e[0] == "wait") == 5
    assert load_table(tmp_path / "t.csv").entries[key].count == 3
    clone = pickle.loads(pickle.dumps(runner))  # shipped to another worker without the board handle
    assert clone.bitstream == "dpu.bit" and clone._overlay is None


def test_runner_without_pynq_explains_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pynq_dpu", None)
    with pytest.raises(ImportError, match=r"come with the PYNQ image.*pip3 install pynq-dpu --no-build-isolation"):
        PynqDpuRunner().load(tmp_path / "x.xmodel", "Logits-input:1x1x1536-output:1000")


@pytest.mark.board
def test_measure_on_a_real_board(tmp_path):
    pytest.importorskip("pynq_dpu")
    xmodels = os.environ.get("OFA_HW_XMODELS")
    plan_dir = os.environ.get("OFA_HW_PLAN")
    if not (xmodels and plan_dir):
        pytest.skip("set OFA_HW_PLAN and OFA_HW_XMODELS to a compiled plan on the board")
    from latency_tables.harness import read_plan

    plan = read_plan(plan_dir)
    report = measure(Plan(plan.units[:3]), xmodels, PynqDpuRunner(os.environ.get("OFA_HW_BITSTREAM", "dpu.bit")),
                     tmp_path / "t.csv", meta=dict(board="board", dpu_arch="dpu", clock_mhz=None, toolchain="vai"),
                     warmup=5, runs=20, progress=False)
    assert report.complete and all(e.mean_ms > 0 for e in load_table(tmp_path / "t.csv").entries.values())
