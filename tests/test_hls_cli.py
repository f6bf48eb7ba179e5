"""``ofa-hw export``: from a preset, a search result or given weights to a verified HLS project."""

import json
import shutil
import warnings

import numpy as np
import pytest

import hls
from accel_models import Accelerator
from ofa_hw import SubnetConfig, build_torch_model
from ofa_hw.cli import main

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings("ignore:resolution:UserWarning")


def _min32():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return SubnetConfig.smallest(r=32)


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not installed")
def test_export_a_preset_and_csim_it(tmp_path, capsys):
    out = tmp_path / "hls_out"
    assert main(["export", "--preset", "min", "-r", "32", "--out", str(out), "--accelerator", "B512", "--csim"]) == 0
    text = capsys.readouterr().out
    assert "exported 67 layers" in text and "csim PASS (bit-exact)" in text and "random weights" in text
    manifest = hls.load(out).manifest
    assert manifest["accelerator"]["name"] == "B512"
    # one latency: the manifest's figure is the one printed, and the C-simulation counted the same cycles
    assert f"latency: HLS engine (this export): {manifest['totals']['latency_ms']:.3f} ms" in text
    assert f"{manifest['totals']['engine_cycles']:,} engine cycles" in text
    assert "search prediction" not in text and len(manifest["totals"]["latencies"]) == 1  # no search: one figure
    assert "on ultra96v2 (xczu3eg-sbva484-1-e)" in text and "vitis_hls -f" in text
    assert main(["export", "--preset", "min", "-r", "32", "--out", str(out)]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err


def _result_json(path, best, acc=None):
    from accel_models import fits, get_board
    from ofa_hw.search.result import CodesignResult, Design

    acc = acc or Accelerator.from_dpu("B1152", clock_mhz=250.0)
    design = None if best is None else Design(
        subnet=best, accelerator=acc, latency_ms=1.0, fps=1000.0,
        accuracy_top1=70.0, accuracy_float_top1=71.0, resources=fits(acc, get_board("zcu102")), latency_source="model",
        measured_fraction=0.0)
    CodesignResult(best=design, pareto=[] if design is None else [design]).to_json(path)
    return path


def test_export_the_best_design_of_a_search_result(tmp_path, capsys):
    result = _result_json(tmp_path / "result.json", _min32())
    assert main(["export", "--result", str(result), "--out", str(tmp_path / "a"), "--scheme", "per_channel",
                 "--board", "zcu104"]) == 0
    manifest = hls.load(tmp_path / "a").manifest
    assert manifest["accelerator"]["config"] == Accelerator.from_dpu("B1152", clock_mhz=250.0).to_dict()
    assert manifest["quantization"]["scheme"] == "per_channel" and manifest["model"]["description"]["r"] == 32
    assert manifest["engine"]["resources"]["board"] == "zcu104"
    text = capsys.readouterr().out
    assert "at 250 MHz on zcu104" in text
    # the manifest records both figures and the CLI prints exactly those lines
    from hls.latency_figures import manifest_figures

    figures = manifest_figures(manifest)
    assert [f.label for f in figures] == ["HLS engine (this export)", "search prediction"]
    assert figures[1].latency_ms == 1.0 and figures[0].latency_ms == manifest["totals"]["latency_ms"]
    for figure in figures:
        assert f"latency: {figure.line()}" in text
    # the report of the exported design shows the same lines
    import html

    assert main(["report", str(result), "--export", str(tmp_path / "a"), "--predictor", "ultra96v2-b2304", "--no-cv",
                 "--out", str(tmp_path / "report")]) == 0
    page = (tmp_path / "report" / "report.html").read_text()
    assert all(html.escape(figure.line()) in page for figure in figures)
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert summary["best"]["latencies"] == [f.to_dict() for f in figures]
    other = _result_json(tmp_path / "other.json", _min32(), Accelerator.from_dpu("B512"))
    assert main(["report", str(other), "--export", str(tmp_path / "a"), "--predictor", "ultra96v2-b2304", "--no-cv",
                 "--out", str(tmp_path / "report2")]) != 0
    assert "is of another accelerator (B1152)" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--preset", "min", "--result", "{result}"], "either --result or a sub-network"),
    (["--result", "{empty}"], "has no best design"),
    (["--preset", "min", "-r", "32", "--clock-mhz", "300"], "--clock-mhz needs --accelerator"),
    (["--preset", "min", "-r", "32", "--accelerator", "B9999"], "unknown DPU architecture 'B9999'"),
    (["--preset", "min", "-r", "32", "--weights", "{missing}"], "not found"),
    (["--preset", "min", "-r", "32", "--accelerator", "B4096"], "need 288 BRAM36 and 0 URAM; board ultra96v2"),
    (["--preset", "min", "-r", "32", "--board", "nosuch"], "unknown board 'nosuch'"),
])
def test_bad_options_are_one_line_errors(tmp_path, capsys, argv, message):
    paths = {"result": _result_json(tmp_path / "r.json", _min32()), "empty": _result_json(tmp_path / "e.json", None),
             "missing": tmp_path / "missing.pth"}
    argv = [a.format(**paths) for a in argv]
    assert main(["export", *argv, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.filterwarnings("ignore:.*clamped:UserWarning")  # untrained, identity-BN nets fade towards zero
def test_given_weights_are_the_ones_exported(tmp_path):
    cfg = _min32()
    model = build_torch_model(cfg, seed=7)
    with torch.no_grad():
        model.first_conv.bn.running_var.fill_(4.0)  # folding must divide the weights by sqrt(4 + eps)
    torch.save(model.state_dict(), tmp_path / "w.pth")
    assert main(["export", "--preset", "min", "-r", "32", "--weights", str(tmp_path / "w.pth"),
                 "--out", str(tmp_path / "x")]) == 0
    project = hls.load(tmp_path / "x")
    entry = project.layer("first_conv")
    bn = model.first_conv.bn
    folded = model.first_conv.conv.weight.detach().double().numpy() * (
        bn.weight.detach().double().numpy() / np.sqrt(4.0 + bn.eps)).reshape(-1, 1, 1, 1)
    want = np.clip(np.floor(folded * 2.0 ** entry["fix"]["weight"] + 0.5), -128, 127)
    assert np.array_equal(project.read(entry["weight"]), want)
    other = tmp_path / "bad.pth"
    torch.save({"first_conv.conv.weight": torch.zeros(1)}, other)
    assert main(["export", "--preset", "min", "-r", "32", "--weights", str(other), "--out", str(tmp_path / "y")]) == 2
