"""The pynq_dpu runner: its use of the pynq_dpu API off-board (a stand-in module), and for real on a board."""

from __future__ import annotations

import os
import pickle
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from latency_tables import load_table
from latency_tables.harness import Plan, PynqDpuRunner, measure


class _Tensor:
    def __init__(self, dims, dtype):
        self.dims, self.dtype = dims, dtype


class _Subgraph:
    """An xir child subgraph: a name and the device the compiler placed it on."""

    def __init__(self, name, device, shapes=((1, 7, 7, 192), (1, 7, 7, 1152))):
        self.name, self.device, self.shapes = name, device, shapes

    def get_name(self):
        return self.name

    def has_attr(self, name):
        return name == "device"

    def get_attr(self, name):
        return self.device


class _Root:
    def __init__(self, children):
        self.children, self.is_leaf = children, not children

    def toposort_child_subgraph(self):
        return self.children


class _FakeRunner:
    """Follows the VART runner contract: execute_async(inputs, outputs) -> job id, wait(job id)."""

    def __init__(self, subgraph, log):
        self.subgraph, self.log = subgraph, log

    def get_input_tensors(self):
        return [_Tensor(list(self.subgraph.shapes[0]), "xint8")]

    def get_output_tensors(self):
        return [_Tensor(list(self.subgraph.shapes[1]), "xint8")]

    def execute_async(self, inputs, outputs):
        assert inputs[0].shape == self.subgraph.shapes[0] and inputs[0].dtype == np.int8
        assert inputs[0].flags.c_contiguous and outputs[0].shape == self.subgraph.shapes[1]
        self.log.append(("execute", self.subgraph.name))
        return (len(self.log), 0)

    def wait(self, job_id):
        self.log.append(("wait", job_id))


#: What each fake xmodel compiles to (file content -> child subgraphs in execution order).
_GRAPHS = {
    b"XMODEL one": [_Subgraph("input", "USER"), _Subgraph("subgraph_conv", "DPU")],
    b"XMODEL split": [_Subgraph("input", "USER"), _Subgraph("subgraph_expand", "DPU"),
                      _Subgraph("subgraph_hswish", "CPU"), _Subgraph("subgraph_project", "DPU")],
    b"XMODEL cpu only": [_Subgraph("input", "USER"), _Subgraph("subgraph_all", "CPU")],
}


@pytest.fixture()
def fake_pynq_dpu(monkeypatch, tmp_path):
    """pynq_dpu, xir and vart stand-ins following their APIs (DPU-PYNQ's dpu.py, VART's Python runner)."""
    log = []

    class DpuOverlay:
        def __init__(self, bitstream):
            log.append(("overlay", bitstream))

        def load_model(self, path):  # what DPU-PYNQ does: exactly one DPU subgraph or an empty AssertionError
            raise AssertionError()

    class Graph:
        @staticmethod
        def deserialize(path):
            data = open(path, "rb").read()
            if data not in _GRAPHS:
                raise RuntimeError(f"cannot deserialize {path}")
            log.append(("deserialize", os.path.basename(path)))
            graph = types.SimpleNamespace(get_root_subgraph=lambda: _Root(_GRAPHS[data]))
            return graph

    class Runner:
        @staticmethod
        def create_runner(subgraph, mode):
            assert mode == "run" and subgraph.device == "DPU"
            return _FakeRunner(subgraph, log)

    pynq_dpu = types.ModuleType("pynq_dpu")
    pynq_dpu.DpuOverlay = DpuOverlay
    pynq_dpu.dpu = types.SimpleNamespace(check_vart_config=lambda: log.append("check_vart_config"))
    xir = types.ModuleType("xir")
    xir.Graph = Graph
    vart = types.ModuleType("vart")
    vart.Runner = Runner
    for name, module in (("pynq_dpu", pynq_dpu), ("xir", xir), ("vart", vart)):
        monkeypatch.setitem(sys.modules, name, module)
    conf = tmp_path / "etc" / "vart.conf"
    conf.parent.mkdir()
    conf.write_text(f"firmware: {tmp_path / 'lib' / 'dpu.xclbin'}")
    (tmp_path / "lib").mkdir()
    monkeypatch.setattr(PynqDpuRunner, "vart_conf", conf)
    monkeypatch.setattr(PynqDpuRunner, "lib_dir", tmp_path / "lib")
    return log


KEYS = ["Conv_1-input:7x7x192-output:7x7x1152", "Logits-input:1x1x1536-output:1000",
        "Conv-input:224x224x3-output:112x112x24", "Conv-input:160x160x3-output:80x80x24"]
META = dict(board="ultra96v2", dpu_arch="B2304", clock_mhz=200.0, toolchain="Vitis AI 3.0")


def _compiled(tmp_path, plan, payloads):
    folder = tmp_path / "xmodels"
    folder.mkdir()
    for unit, payload in zip(plan.units, payloads, strict=True):
        (folder / f"{unit.name}.xmodel").write_bytes(payload)
    return folder


def test_runner_times_every_dpu_subgraph_and_reports_the_cpu_parts(tmp_path, fake_pynq_dpu):
    plan = Plan.from_keys(KEYS)
    folder = _compiled(tmp_path, plan, [b"XMODEL one", b"XMODEL split", b"garbage", b"XMODEL cpu only"])
    runner = PynqDpuRunner("dpu.bit")
    report = measure(plan, folder, runner, tmp_path / "t.csv", meta=META, warmup=2, runs=3, progress=False)
    assert set(report.measured) == set(KEYS[:2])
    reasons = {failure.key: failure.reason for failure in report.failed}
    assert "cannot deserialize" in reasons[KEYS[2]] and "no DPU subgraph" in reasons[KEYS[3]]
    assert fake_pynq_dpu[0] == ("overlay", "dpu.bit") and fake_pynq_dpu[1] == "check_vart_config"
    executed = [entry[1] for entry in fake_pynq_dpu if entry[0] == "execute"]
    assert executed.count("subgraph_conv") == 5  # 2 warm-up + 3 timed
    assert executed.count("subgraph_expand") == executed.count("subgraph_project") == 5
    assert "subgraph_hswish" not in executed  # VART runs DPU subgraphs only; the CPU part is reported
    assert report.cpu_parts == {KEYS[1]: ("subgraph_hswish",)}
    table = load_table(tmp_path / "t.csv")
    split = table.entries[KEYS[1]]
    assert split.extra["dpu_subgraphs"] == 2 and split.extra["cpu_subgraphs"] == 1 and split.count == 3
    assert 0 < split.extra["subgraph_ms"] <= split.extra["host_ms"] == split.mean_ms
    assert "dpu_ms" not in split.extra and "mean_ms is host wall time" in table.meta.method
    clone = pickle.loads(pickle.dumps(runner))  # shipped to another worker without the board handle
    assert clone.bitstream == "dpu.bit" and clone._overlay is None


def test_dpu_time_from_a_dpu_timer_can_be_the_tables_mean(tmp_path, fake_pynq_dpu):
    plan = Plan.from_keys(KEYS[:2])
    folder = _compiled(tmp_path, plan, [b"XMODEL one", b"XMODEL split"])
    calls = []

    def timer(path, index):  # stands in for xdputil benchmark: DPU-only ms of one DPU subgraph
        calls.append((path.name, index))
        return 0.25 * (index + 1)

    report = measure(plan, folder, PynqDpuRunner("dpu.bit", dpu_timer=timer), tmp_path / "t.csv", meta=META,
                     warmup=0, runs=2, timing="dpu", progress=False)
    assert report.complete
    table = load_table(tmp_path / "t.csv")
    assert table.entries[KEYS[0]].mean_ms == table.entries[KEYS[0]].extra["dpu_ms"] == 0.25
    assert table.entries[KEYS[1]].mean_ms == 0.25 + 0.5  # two DPU subgraphs, each timed by the DPU timer
    assert table.entries[KEYS[1]].extra["host_ms"] > 0 and "mean_ms is DPU-only time" in table.meta.method
    assert sorted(index for _, index in calls) == [0, 0, 1]
    no_timer = measure(plan, folder, PynqDpuRunner("dpu.bit"), tmp_path / "u.csv", meta=META, warmup=0, runs=1,
                       timing="dpu", progress=False)
    assert all("no DPU-only time" in failure.reason for failure in no_timer.failed) and not no_timer.measured


def test_root_requirements_are_checked_before_anything_is_measured(tmp_path, fake_pynq_dpu, monkeypatch):
    plan = Plan.from_keys(KEYS[:1])
    folder = _compiled(tmp_path, plan, [b"XMODEL one"])
    PynqDpuRunner.vart_conf.write_text("firmware: /somewhere/else.xclbin")
    system = (PynqDpuRunner.vart_conf.parent, PynqDpuRunner.lib_dir)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) not in system and real_access(path, mode))
    with pytest.raises(PermissionError, match=r"vart.conf.*run as root"):
        measure(plan, folder, PynqDpuRunner("dpu.bit"), tmp_path / "t.csv", meta=META, progress=False)
    assert not (tmp_path / "t.csv").exists() and fake_pynq_dpu == []  # nothing loaded, nothing written
    PynqDpuRunner.vart_conf.write_text(f"firmware: {PynqDpuRunner.lib_dir / 'dpu.xclbin'}")
    with pytest.raises(PermissionError, match=r"copies dpu.xclbin into .*run as root"):
        measure(plan, folder, PynqDpuRunner("dpu.bit"), tmp_path / "t.csv", meta=META, progress=False)


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
