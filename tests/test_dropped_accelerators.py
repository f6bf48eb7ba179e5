"""A grid or a list of accelerators never loses a configuration silently.

A listed accelerator that does not fit is an error naming it; a grid the user
gave warns once, listing every configuration it drops with the resource that
binds and by how much; the named spaces ("dpu", "dpu-like") record the count
in the result's settings.  Expected figures come from :func:`accel_models.fits`
evaluated here, not from the space's own bookkeeping.
"""

from __future__ import annotations

import json
import re
import warnings

import pytest

from accel_models import Accelerator, fits, get_board
from ofa_hw.cli.search import parse_accelerators
from ofa_hw.search.accelerators import (
    AcceleratorGrid,
    AcceleratorSpace,
    DpuGrid,
    DroppedAcceleratorsWarning,
    InfeasibleConstraintError,
)

BOARD = get_board("ultra96v2")
GRID = DpuGrid(arch=("B1600", "B4096"), clock_mhz=(300.0,), cores=(1, 4), ram_usage=("low",), dsp_usage=("high",))


def _misfits(grid: DpuGrid) -> dict[tuple[str, int], float]:
    """(arch, cores) -> binding utilisation of every configuration of ``grid`` that does not fit, computed here."""
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for arch in grid.arch:
            for cores in grid.cores:
                acc = Accelerator.from_dpu(arch, clock_mhz=300.0, cores=cores, ddr_bw_gbps=BOARD.ddr_bw_gbps)
                check = fits(acc, BOARD)
                if not check.ok:
                    out[arch, cores] = check.binding_utilization
    return out


def test_a_grid_of_the_users_warns_once_listing_every_dropped_configuration():
    expected = _misfits(GRID)
    assert expected, "the grid must hold configurations that do not fit for this test to mean anything"
    with pytest.warns(DroppedAcceleratorsWarning) as caught:
        space = AcceleratorSpace.stock(BOARD, GRID)
    dropped = [w for w in caught if issubclass(w.category, DroppedAcceleratorsWarning)]
    assert len(dropped) == 1
    message = str(dropped[0].message)
    assert f"{len(expected)} of the 4 configurations of the grid do not fit ultra96v2" in message
    for (arch, cores), share in expected.items():  # each one named in the warning, its overuse in .dropped
        assert re.search(rf"{arch} \(RAM usage low, DSP usage high\) (x\d at 300 MHz, )*x{cores} at 300 MHz",
                         message), (arch, cores, message)
        assert any(re.fullmatch(rf"{arch} \(RAM usage low, DSP usage high\) @300 MHz x{cores} needs "
                                rf"{100 * share:.0f}% of the \w+ \({100 * (share - 1):.0f} points over\)", item)
                   for item in space.dropped), (arch, cores, space.dropped)
    assert len(space) + len(space.dropped) == 4
    assert space.describe()["dropped"] == len(expected)


def test_a_custom_grid_warns_too():
    grid = AcceleratorGrid(pp=(2,), icp=(8,), ocp=(8,), clock_mhz=(300.0,), cores=(1, 4))
    with pytest.warns(DroppedAcceleratorsWarning, match=r"1 of the 2 configurations of the grid do not fit kv260 .*"
                                                        r"P2I8O8 \(custom accelerator.*\) x4 at 300 MHz \(\w+ up to"):
        AcceleratorSpace.from_grid(get_board("kv260"), grid)


def test_a_grid_of_stock_sizes_only_is_refused_as_custom():
    with pytest.raises(ValueError, match=r"every PP/ICP/OCP combination of the grid is a PG338 size \(B3136\)"):
        AcceleratorSpace.from_grid(BOARD, AcceleratorGrid(pp=(8,), icp=(14,), ocp=(14,)))


def test_the_named_spaces_do_not_warn_but_record_the_count():
    with warnings.catch_warnings():
        warnings.simplefilter("error", DroppedAcceleratorsWarning)
        space = AcceleratorSpace.named(BOARD, "dpu")
    assert space.dropped and space.describe()["dropped"] == len(space.dropped)
    assert len(space) + len(space.dropped) == len(DpuGrid().arch) * 4 * 4 * 2 * 2


def test_a_listed_accelerator_that_does_not_fit_is_an_error_naming_it():
    too_big = Accelerator.from_dpu("B4096", clock_mhz=300.0, cores=4, ddr_bw_gbps=BOARD.ddr_bw_gbps)
    with pytest.raises(InfeasibleConstraintError,
                       match=r"1 of the 2 listed accelerator\(s\) do not fit ultra96v2.*B4096 \(RAM usage low, "
                             r"DSP usage \w+\) @300 MHz x4 needs \d+% of the \w+ \(\d+ points over\)"):
        AcceleratorSpace.from_list(BOARD, [Accelerator.from_dpu("B1600"), too_big])


def test_the_cli_default_is_the_named_space_and_another_ip_a_grid():
    assert parse_accelerators("dpu", BOARD) == "dpu"
    assert parse_accelerators("dpu", BOARD, "4.0") == DpuGrid(ip_version="4.0")


def test_the_cli_warns_about_the_grid_it_was_given(tmp_path, capsys):
    from ofa_hw.cli import main

    argv = ["search", "--no-progress", "--no-report", "--latency-ms", "10", "--budget", "400", "--population", "20",
            "--dpu-ip", "4.0", "--out", str(tmp_path / "out")]
    with pytest.warns(DroppedAcceleratorsWarning, match=r"\d+ of the 512 configurations of the grid do not fit "
                                                        r"ultra96v2 .*B4096 \(RAM usage"):
        assert main(argv) == 0
    settings = json.loads((tmp_path / "out" / "result.json").read_text())["settings"]
    assert settings["accelerators"]["dropped"] == 512 - settings["accelerators"]["count"] > 0
