"""``ofa-hw build-config``: the DPU build files (``dpu_conf.vh``, ``arch.json``, compile command) of a result."""

from __future__ import annotations

import argparse
from pathlib import Path

from .option_types import net_name, output_folder


def add_parser(subparsers) -> None:
    """Register ``ofa-hw build-config``."""
    parser = subparsers.add_parser(
        "build-config", help="write dpu_conf.vh, arch.json and the vai_c_xir command of a search result's design",
        description="Regenerate the DPU TRD build configuration of the best design of a result.json: dpu_conf.vh, "
                    "arch.json (only where a public file pins the DPU fingerprint) and BUILD.md with the compile "
                    "command. A custom (dpu-like) design has no vendor build: use ofa-hw export.",
    )
    parser.add_argument("result", type=Path, help="result.json written by ofa-hw search")
    parser.add_argument("--out", type=output_folder, default=None,
                        help="output folder (default: dpu_build/ beside result.json)")
    parser.add_argument("--net-name", type=net_name, default="ofa_subnet",
                        help="network name for vai_c_xir, the compiled <name>.xmodel (default ofa_subnet)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Write the build files of the result's best design."""
    from .file_kinds import read_result

    result = read_result(args.result)
    if result.best is None:
        raise ValueError(f"{args.result}: the result has no best design (an unconstrained front); nothing to build")
    _check_fits_board(result.best.accelerator, result.settings.get("board"), args.result)
    out = args.out if args.out is not None else args.result.parent / "dpu_build"
    for path in write_design_build_files(result.best, out, args.net_name):
        print(f"wrote {path}")
    return 0


def write_design_build_files(design, out: Path, net_name: str = "ofa_subnet") -> list[Path]:
    """Write the build files of ``design``; a custom accelerator is an error naming the HLS export."""
    from accel_models.build_files import write_build_files

    return write_build_files(design.accelerator, out, net_name)


def _check_fits_board(accelerator, board_name: str | None, path: Path) -> None:
    """A design no bitstream of its board can hold (a hand-edited result) is refused, not given build files."""
    from accel_models import fits, get_board

    if board_name is None:
        return
    fit = fits(accelerator, get_board(board_name))
    if not fit.ok:
        raise ValueError(f"{path}: its design {accelerator.label} does not fit {board_name} "
                         f"({fit.binding_resource} {fit.binding_utilization:.0%} of the board), so no bitstream can "
                         "hold it (was the result edited?); search again, or name a configuration that fits")
