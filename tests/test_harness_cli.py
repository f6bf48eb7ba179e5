"""``ofa-hw lut plan|compile-numpy|measure|show`` end to end with the numpy runner."""

from __future__ import annotations

import json

import pytest
import yaml

from latency_tables import load_table
from ofa_hw.cli import main


def _plan_keys(path):
    return [u["key"] for u in json.loads((path / "manifest.json").read_text())["units"]]


def test_plan_enumerates_exactly_ofas_units(tmp_path, shared_data):
    assert main(["lut", "plan", "--resolutions", "160,224", "--out", str(tmp_path / "p"), "--manifest-only"]) == 0
    keys = _plan_keys(tmp_path / "p")
    ofa = set()
    for r in (160, 224):  # OFA's own tables list every unit of the space at a resolution
        ofa |= set(yaml.safe_load((shared_data / "note10" / f"{r}_lookup_table.yaml").read_text()))
    assert len(keys) == len(set(keys)) and set(keys) == ofa


def test_measure_pipeline_resume_and_show(tmp_path, capsys):
    plan, npz, out = tmp_path / "plan", tmp_path / "npz", tmp_path / "t.csv"
    with pytest.warns(UserWarning, match="outside the range OFA was trained on"):  # small units keep this fast
        assert main(["lut", "plan", "--resolutions", "64", "--out", str(plan), "--manifest-only", "--quiet"]) == 0
    n = len(_plan_keys(plan))
    assert main(["lut", "compile-numpy", "--plan", str(plan), "--out", str(npz)]) == 0
    victim = sorted(npz.iterdir())[0]
    victim.rename(victim.with_suffix(".hidden"))
    args = ["lut", "measure", "--plan", str(plan), "--xmodels", str(npz), "--out", str(out), "--runner", "numpy",
            "--board", "host", "--dpu-arch", "numpy-int8", "--toolchain", "numpy", "--warmup", "0", "--runs", "2",
            "--quiet"]
    capsys.readouterr()
    assert main(args) == 1  # one unit missing: reported, the rest measured
    printed = capsys.readouterr().out
    assert f"measured {n - 1}, already there 0, failed 1" in printed and "compiled file missing" in printed
    victim.with_suffix(".hidden").rename(victim)
    assert main(args) == 0
    assert f"measured 1, already there {n - 1}, failed 0" in capsys.readouterr().out
    table = load_table(out)
    assert len(table) == n and table.meta.board == "host" and table.meta.space == "ofa-mbv3-w1.2"

    assert main(["lut", "show", str(out), "--match", "Logits"]) == 0
    shown = capsys.readouterr().out
    assert "Logits-input:1x1x1536-output:1000" in shown and f"{n} (1 shown)" in shown
    assert main(["lut", "show", str(out), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["entries"]) == n


def test_measure_defaults_its_run_counts_per_runner(tmp_path, capsys):
    """Without --runs / --warmup the numpy stand-in times a few runs (the DPU's 100 would take minutes a plan)."""
    from ofa_hw.cli.lut import RUNNER_RUNS

    plan, npz, out = tmp_path / "plan", tmp_path / "npz", tmp_path / "t.csv"
    with pytest.warns(UserWarning, match="outside the range OFA was trained on"):
        assert main(["lut", "plan", "--resolutions", "64", "--out", str(plan), "--manifest-only", "--quiet"]) == 0
    assert main(["lut", "compile-numpy", "--plan", str(plan), "--out", str(npz)]) == 0
    assert main(["lut", "measure", "--plan", str(plan), "--xmodels", str(npz), "--out", str(out), "--runner",
                 "numpy", "--board", "host", "--dpu-arch", "numpy-int8", "--toolchain", "numpy", "--quiet"]) == 0
    counts = {entry.count for entry in load_table(out).entries.values()}
    assert counts == {3} == {RUNNER_RUNS["numpy"]["runs"]}
    assert RUNNER_RUNS["pynq"] == {"warmup": 10, "runs": 100}
    assert main(["lut", "measure", "--help"]) == 0
    assert "100 on the DPU, 3 on the numpy stand-in" in " ".join(capsys.readouterr().out.split())


def test_show_lists_shipped_tables_and_errors_are_one_line(capsys, tmp_path):
    assert main(["lut", "show"]) == 0
    listing = capsys.readouterr().out
    assert "ultra96v2-b2304" in listing and "66 entries" in listing
    assert main(["lut", "show", "no-such-table"]) == 2
    assert "shipped: note10-r160" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("# format: ofa-hw-latency-table/1\n")
    assert main(["lut", "show", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:1:" in err and "Traceback" not in err
    assert main(["lut", "measure", "--plan", str(tmp_path), "--xmodels", str(tmp_path), "--out", "x.csv",
                 "--board", "ultra96v2", "--dpu-arch", "DPUCZDX8G B2304", "--toolchain", "t"]) == 2
    assert "manifest.json is missing" in capsys.readouterr().err
    assert main(["lut", "plan", "--resolutions", "a,b", "--out", str(tmp_path)]) == 2  # argparse's usage error
    assert "resolutions must be comma-separated integers" in capsys.readouterr().err


@pytest.mark.slow
def test_plan_with_models_for_a_whole_resolution(tmp_path):
    assert main(["lut", "plan", "--resolutions", "160", "--out", str(tmp_path / "p"), "--models", "--quiet"]) == 0
    units = json.loads((tmp_path / "p" / "manifest.json").read_text())["units"]
    assert len(units) == 96 and all((tmp_path / "p" / u["files"]["torch_export"]).is_file() for u in units)
    assert all((tmp_path / "p" / u["files"]["spec"]).is_file() for u in units)
