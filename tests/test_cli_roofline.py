"""``ofa-hw roofline``: options -> accelerator, report files, summary, one-line errors."""

from __future__ import annotations

import json

import pytest

from accel_models import get_board
from ofa_hw.cli import main


def run(capsys, *argv):
    code = main(["roofline", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_board_default_accelerator(tmp_path, capsys):
    code, out, err = run(capsys, "--board", "ultra96v2", "--preset", "min", "--out", str(tmp_path))
    assert code == 0 and err == ""
    board = get_board("ultra96v2")
    document = json.loads((tmp_path / "layers.json").read_text())
    assert document["accelerator"] == board.default_accelerator().to_dict()
    assert document["fit"]["ok"] is True
    lines = out.splitlines()
    assert lines[0] == "OFA-MobileNetV3 w1.2 r=160 d=[2, 2, 2, 2, 2] on ultra96v2"
    assert f"latency {document['totals']['latency_ms']:.3f} ms" in out
    assert lines[-1] == f"report: {tmp_path / 'report.html'} (per-layer roofs: {tmp_path / 'roofline.json'})"
    assert (tmp_path / "roofline.png").stat().st_size > 10_000


def test_dpu_clock_cores_and_subnet_file(tmp_path, capsys):
    subnet = tmp_path / "net.json"
    subnet.write_text(json.dumps({"ks": [3] * 20, "e": [4] * 20, "d": [3, 2, 4, 2, 3], "r": 176}))
    code, out, err = run(capsys, "--board", "zcu104", "--dpu", "B2304", "--clock-mhz", "250", "--cores", "1",
                         "--subnet", str(subnet), "--out", str(tmp_path / "out"))
    assert code == 0
    acc = json.loads((tmp_path / "out" / "layers.json").read_text())["accelerator"]
    assert (acc["name"], acc["clock_mhz"], acc["cores"]) == ("B2304", 250.0, 1)
    assert acc["ddr_bw_gbps"] == get_board("zcu104").ddr_bw_gbps
    assert "r=176 d=[3, 2, 4, 2, 3]" in out and "@ 250 MHz x 1 core(s)" in out


def test_accelerator_too_big_for_the_board_is_flagged(tmp_path, capsys):
    code, out, err = run(capsys, "--board", "ultra96v2", "--dpu", "B4096", "--cores", "2", "--preset", "min",
                         "--out", str(tmp_path))
    assert code == 0
    assert err.startswith("WARNING: B4096 does not fit ultra96v2: ")
    assert json.loads((tmp_path / "layers.json").read_text())["fit"]["ok"] is False


@pytest.mark.parametrize("argv, message", [
    (["--board", "pynq-z9", "--preset", "min"], "unknown board 'pynq-z9'; known: kv260, ultra96v2, zcu102, zcu104"),
    (["--board", "zcu102", "--dpu", "B9999", "--preset", "min"], "unknown DPU architecture 'B9999'"),
    (["--board", "zcu102", "--clock-mhz", "-5", "--preset", "min"], "argument --clock-mhz: expected a positive number"),
    (["--board", "zcu102"], "give a sub-network"),
])
def test_bad_options_are_one_line_errors(tmp_path, capsys, argv, message):
    code, out, err = run(capsys, *argv, "--out", str(tmp_path / "never"))
    assert code == 2
    assert err.startswith("ofa-hw roofline: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "never").exists()


def test_missing_subnet_file(tmp_path, capsys):
    code, _, err = run(capsys, "--board", "kv260", "--subnet", str(tmp_path / "nope.json"), "--out", str(tmp_path))
    assert code == 2 and "nope.json" in err
