"""The tutorial notebooks: committed without outputs, run top to bottom, and their claims hold.

Each notebook ends with a cell asserting the claims its text makes and printing
``all claims hold``; cells tagged ``board`` need a PYNQ board and are skipped
unless ``pynq`` and ``pynq_dpu`` import.  Notebooks run in a temporary working
directory, so the files they write (results, reports, HLS exports, plans and
tables) land there.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"
ON_BOARD = all(importlib.util.find_spec(name) is not None for name in ("pynq", "pynq_dpu"))
CELL_TIMEOUT_S = 300

#: What each notebook must leave behind besides "all claims hold": text in its outputs,
#: files in its working directory, and how many figures it shows at least.
EXPECTED = {
    "01_quickstart": dict(text=["csim PASS (bit-exact)", "joint search", "dpu-like space"], images=2,
                          files=["quickstart-output/result.json", "quickstart-output/report/report.html",
                                 "quickstart-output/hls/manifest.json"]),
    "02_roofline_and_latency_tables": dict(text=["cross-validated: MAPE", "leave-one-kernel-size-out"], images=2,
                                           files=[]),
    "03_measure_on_pynq": dict(text=["measured now", "cross-validated:"], images=0,
                               files=["pynq-workflow/plan/manifest.json", "pynq-workflow/table.csv",
                                      "pynq-workflow/report/report.html"]),
    "04_codesign_study": dict(text=["accelerators (dpu / dpu-like)", "not a DPUCZDX8G configuration",
                                    "latency to reach"], images=2, files=[]),
    "05_ofa_vs_mobilenetv2": dict(text=["at equal latency", "GOP/s with ReLU for h-swish"], images=1, files=[]),
    "06_deployed_throughput": dict(text=["fps with", "published"], images=1, files=[]),
}


def _ids(paths):
    return [p.stem for p in paths]


NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))


def test_the_tutorials_are_there():
    assert [p.stem for p in NOTEBOOKS] == sorted(EXPECTED)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: strip the outputs"
    last = [c for c in notebook.cells if c.cell_type == "code"][-1]
    assert "all claims hold" in last.source


def test_only_the_board_workflow_has_board_cells():
    tagged = {p.stem: sum("board" in c.metadata.get("tags", []) for c in nbformat.read(p, as_version=4).cells)
              for p in NOTEBOOKS}
    assert tagged.pop("03_measure_on_pynq") >= 1
    assert not any(tagged.values())


def _run(path: Path, workdir: Path):
    notebook = nbformat.read(path, as_version=4)
    if not ON_BOARD:
        notebook.cells = [c for c in notebook.cells if "board" not in c.metadata.get("tags", [])]
    client = nbclient.NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(workdir)}})
    client.execute()  # a failing cell raises CellExecutionError with its traceback
    return notebook


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_runs_and_its_claims_hold(path, tmp_path):
    notebook = _run(path, tmp_path)
    outputs = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs]
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    images = sum("image/png" in o.get("data", {}) for o in outputs)
    last = [c for c in notebook.cells if c.cell_type == "code"][-1]
    assert "".join(o.get("text", "") for o in last.outputs).strip().endswith("all claims hold")
    expected = EXPECTED[path.stem]
    for snippet in expected["text"]:
        assert snippet in text, f"{path.name}: {snippet!r} not in its output"
    assert images >= expected["images"]
    for name in expected["files"]:
        assert (tmp_path / name).is_file(), f"{path.name} did not write {name}"
