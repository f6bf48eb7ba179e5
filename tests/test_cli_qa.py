"""A hostile pass over the command line: each test is one thing a new user typed and what they must see.

Every case runs ``ofa_hw.cli.main`` in-process and checks the exit code and
the one-line message (what was wrong, what is allowed), and that nothing was
written where the input was refused.  The wider bad-input corpus is
``tests/test_bad_input.py``; these are the cases found since.
"""

from __future__ import annotations

import re

import pytest

from ofa_hw.cli import EXIT_BAD_INPUT, main


def refused(argv: list[str], capsys, pattern: str) -> str:
    """Run ``argv``; assert exit 2 with one ``error:`` line matching ``pattern`` and no traceback; the line."""
    assert main(argv) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if ": error: " in line]
    assert len(lines) == 1, err
    assert re.search(pattern, lines[0]), lines[0]
    return lines[0]


# ---- -r 0 was read as "not given" -------------------------------------------------
@pytest.mark.parametrize("command", [["info"], ["roofline", "--board", "zcu102", "--out", "OUT"]])
def test_resolution_zero_with_a_preset_is_refused_not_replaced_by_the_default(command, tmp_path, capsys):
    argv = [str(tmp_path / "rf") if a == "OUT" else a for a in command]
    refused([*argv, "--preset", "min", "-r", "0"], capsys, r"resolution 0 is not allowed")
    assert not (tmp_path / "rf").exists()


# ---- --seed -1 ended in numpy's "expected non-negative integer", or wrote a plan that later failed -------------
@pytest.mark.parametrize("command", [
    ["search", "--latency-ms", "8", "--budget", "100", "--out", "OUT"],
    ["lut", "plan", "--manifest-only", "--out", "OUT"],
    ["lut", "compile-numpy", "--plan", "OUT", "--out", "OUT"],
    ["export", "--preset", "min", "--out", "OUT"],
])
def test_a_negative_seed_is_a_usage_error_naming_the_option(command, tmp_path, capsys):
    argv = [str(tmp_path / "out") if a == "OUT" else a for a in command]
    refused([*argv, "--seed", "-1"], capsys, r"argument --seed: expected a non-negative integer, got -1")
    assert not (tmp_path / "out").exists()
