"""The ofa-hw command line skeleton."""

import json
import subprocess
import sys

import pytest

from ofa_hw import SubnetConfig, count_macs
from ofa_hw.cli import main


def test_version_and_help():
    out = subprocess.run([sys.executable, "-m", "ofa_hw.cli", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("ofa-hw ")
    out = subprocess.run([sys.executable, "-m", "ofa_hw.cli", "--help"], capture_output=True, text=True, check=True)
    assert "info" in out.stdout


def test_search_budget_help_states_the_searchs_own_defaults(monkeypatch, capsys):
    from ofa_hw.cli import build_parser
    from ofa_hw.search import DEFAULT_BUDGETS

    monkeypatch.setitem(DEFAULT_BUDGETS, "evolution", 12_345)  # a changed default must show in --help
    with pytest.raises(SystemExit):
        build_parser().parse_args(["search", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert (f"default 12345 for the evolution, the search under a latency / fps limit; "
            f"{DEFAULT_BUDGETS['nsga2']} for NSGA-II's front, without a limit or with --min-top1") in text



def test_search_population_help_states_the_rule_the_search_follows(monkeypatch, capsys):
    from ofa_hw import search_codesign
    from ofa_hw.cli import build_parser
    from ofa_hw.search import codesign

    with pytest.raises(SystemExit):
        build_parser().parse_args(["search", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "default: 100 for NSGA-II; for the evolution budget / restarts / 50, within 100..400" in text
    result = search_codesign(board="ultra96v2", latency_ms=10.0, budget=10_200, restarts=2, progress=False)
    assert result.settings["population"] == 102  # 5,100 evaluations per restart / 50
    # the help is formatted from the constants the search reads: changed ones show in --help and in the search
    monkeypatch.setattr(codesign, "EVOLUTION_EVALUATIONS_PER_MEMBER", 40)
    monkeypatch.setattr(codesign, "EVOLUTION_POPULATION_RANGE", (90, 300))
    with pytest.raises(SystemExit):
        build_parser().parse_args(["search", "--help"])
    assert "budget / restarts / 40, within 90..300" in " ".join(capsys.readouterr().out.split())
    result = search_codesign(board="ultra96v2", latency_ms=10.0, budget=3_000, progress=False)
    assert result.settings["population"] == 90  # 3,000 / 40 = 75, raised to the range's 90

def test_info_prints_layer_table(tmp_path, capsys):
    cfg = SubnetConfig.uniform(5, 4, 3, r=192)
    path = tmp_path / "subnet.json"
    path.write_text(json.dumps(cfg.to_dict()))
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "blocks.1.conv.depth_conv" in out and f"{count_macs(cfg):,} MACs" in out
    assert main(["info", "--preset", "max", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["macs"] == count_macs(SubnetConfig.largest())
    assert data["layers"][0]["name"] == "first_conv"


def test_info_bad_input_is_one_line_error(tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"ks": [4] * 20, "e": [3] * 20, "d": [2] * 5, "r": 224}))
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err
    assert "ks: value 4 in slot 0" in err and "Traceback" not in err
    path.write_text("{not json")
    assert main(["info", str(path)]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert main(["info", str(tmp_path / "missing.json")]) == 2


def test_a_refused_search_leaves_no_output_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the default --out, results/search, under a fresh folder
    assert main(["search", "--board", "ultra96v2", "--latency-ms", "0.01", "--no-progress"]) == 2  # past the lock
    assert "below the fastest design reachable" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []  # no empty results/ left by the output lock


def test_warnings_print_as_one_line_naming_the_command(tmp_path):
    """A warning on the command line reads as the tool's note, not Python's file:line and source line."""
    run = subprocess.run([sys.executable, "-m", "ofa_hw.cli", "lut", "plan", "--resolutions", "64",
                          "--out", str(tmp_path / "plan"), "--quiet"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    lines = run.stderr.splitlines()
    assert any(line.startswith("ofa-hw lut plan: warning: resolution(s) [64] lie outside") for line in lines), lines
    assert "UserWarning" not in run.stderr and ".py:" not in run.stderr
