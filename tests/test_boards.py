"""Board registry: figures, citations, and the DPU PYNQ-DPU ships fitting its board."""

import pytest

from accel_models import Accelerator, Board, fits, get_board, list_boards

BOARDS = list_boards()


def test_the_four_boards():
    assert BOARDS == ["kv260", "ultra96v2", "zcu102", "zcu104"]
    with pytest.raises(KeyError, match="unknown board 'pynq-z2'; known: kv260"):
        get_board("pynq-z2")


@pytest.mark.parametrize("name", BOARDS)
def test_every_figure_is_cited(name):
    board = get_board(name)
    needed = {"part", "dsp", "lut", "ff", "bram36", "uram", "ddr_bw_gbps", "default_dpu"}
    assert needed <= set(board.sources)
    assert all(board.sources[k].strip() for k in needed)
    assert set(board.unverified()) <= needed


@pytest.mark.parametrize("name", BOARDS)
def test_shipped_dpu_fits_its_board(name):
    # PYNQ-DPU ships these configurations on these boards, so the resource
    # model must find them feasible (an independent check of the model).
    board = get_board(name)
    acc = board.default_accelerator()
    assert acc.name == board.default_dpu_arch and acc.cores == board.default_dpu_cores
    assert acc.ddr_bw_gbps == board.ddr_bw_gbps
    result = fits(acc, board)
    assert result.ok, f"{name}: {result}"


@pytest.mark.parametrize("name, expected", [("ultra96v2", (360, 216, 0)), ("zcu102", (2520, 912, 0)),
                                            ("zcu104", (1728, 312, 96)), ("kv260", (1248, 144, 64))])
def test_budgets(name, expected):
    board = get_board(name)
    assert (board.dsp, board.bram36, board.uram) == expected
    assert board.lut > 0 and board.ff == 2 * board.lut  # UltraScale+ CLBs: two flip-flops per LUT


def test_too_big_is_reported_not_clamped():
    result = fits(Accelerator.from_dpu("B4096", cores=2), get_board("ultra96v2"))
    assert not result.ok and result.binding_resource == "dsp"
    assert result.utilization["dsp"] > 3  # 2 x (642 + 48) DSP on a 360-DSP part
    assert "does NOT fit" in str(result)


def test_bad_board_values():
    good = get_board("kv260").to_dict()
    with pytest.raises(ValueError, match="dsp must be a positive integer, got -1"):
        Board(**{**good, "dsp": -1})
    with pytest.raises(ValueError, match="ddr_bw_gbps must be positive"):
        Board(**{**good, "ddr_bw_gbps": 0})
