"""``ofa-hw roofline``: the roofline report of one sub-network on a board's accelerator."""

from __future__ import annotations

import argparse
import json
import sys

from .option_types import output_folder, positive_float, positive_int
from .subnet_args import add_subnet_options, subnet_from_args


def add_parser(subparsers) -> None:
    """Register ``ofa-hw roofline``."""
    parser = subparsers.add_parser(
        "roofline", help="roofline report (plot, per-layer table, HTML summary) of a sub-network on a board",
        description="Analyse every layer of a sub-network on a DPU-like accelerator and write a roofline report: "
                    "roofline.png / .svg, roofline.json (per layer: intensity, attained GOP/s, its own roof, bound), "
                    "layers.csv / .json and report.html. The accelerator is the board's "
                    "PYNQ-DPU default unless --dpu / --clock-mhz / --cores change it.",
    )
    parser.add_argument("--board", required=True, help="board name (ultra96v2, zcu102, zcu104, kv260)")
    parser.add_argument("--dpu", help="DPUCZDX8G configuration, e.g. B1600 (default: the board's)")
    parser.add_argument("--clock-mhz", type=positive_float, help="DPU clock in MHz (default: the board's)")
    parser.add_argument("--cores", type=positive_int, help="number of DPU cores (default: the board's)")
    add_subnet_options(parser)
    parser.add_argument("--out", required=True, type=output_folder, metavar="DIR",
                        help="new folder for the report (an earlier roofline report there is replaced as a unit; "
                             "a folder holding other files is refused)")
    parser.add_argument("--label-top", type=int, default=5,
                        help="label the N slowest layers in the plot (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print roofline.json's content instead of the summary")
    parser.set_defaults(run=run)


def accelerator_from_args(args: argparse.Namespace):
    """The board and the accelerator the options describe."""
    from accel_models import Accelerator, get_board

    board = get_board(args.board)
    if args.dpu is None and args.clock_mhz is None and args.cores is None:
        return board, board.default_accelerator()
    accelerator = Accelerator.from_dpu(
        args.dpu or board.default_dpu_arch,
        clock_mhz=board.default_dpu_clock_mhz if args.clock_mhz is None else args.clock_mhz,
        cores=board.default_dpu_cores if args.cores is None else args.cores,
        ddr_bw_gbps=board.ddr_bw_gbps,
    )
    return board, accelerator


def roofline_document(analysis, board) -> dict:
    """``roofline.json``: the roofs and, per layer, what the plot draws (:func:`accel_models.roofline_records`)."""
    from accel_models import roofline_records

    return {"board": board.name, "accelerator": analysis.accelerator.to_dict(),
            "peak_gops": analysis.peak_gops, "ddr_peak_gbps": analysis.ddr_peak_gbps,
            "ridge_ops_per_byte": analysis.ridge_ops_per_byte,
            "ddr_levels_gbps": dict(analysis.ddr_levels_gbps),
            "engine_roofs_gops": {e: float(v) for e, v in zip(analysis.engine, analysis.engine_peak_gops, strict=True)},
            "layers": roofline_records(analysis)}


def run(args: argparse.Namespace) -> int:
    """Write the report and ``roofline.json``; print a summary (or the JSON with ``--json``)."""
    from accel_models import RooflineModel, roofline_report

    board, accelerator = accelerator_from_args(args)
    cfg = subnet_from_args(args)
    title = f"{cfg.space.title} r={cfg.r} d={list(cfg.d)} on {board.name}"
    document = roofline_document(RooflineModel().analyze(cfg.layers(), accelerator), board)  # the report's model
    text = json.dumps(document, indent=1, allow_nan=False)
    # One unit: the report and roofline.json are swapped into place together (or not at all).
    report = roofline_report(cfg, accelerator, args.out, board=board, title=title,
                             label_top=args.label_top, extra_files={"roofline.json": text.encode()})
    if args.json:
        print(text)
        return 0
    totals = report.totals
    print(title)
    print(f"accelerator {accelerator.name}: PP={accelerator.pp} ICP={accelerator.icp} OCP={accelerator.ocp} "
          f"@ {accelerator.clock_mhz:g} MHz x {accelerator.cores} core(s), {accelerator.ddr_bw_gbps:g} GB/s")
    if report.fit is not None and not report.fit.ok:
        print(f"WARNING: {accelerator.name} does not fit {board.name}: {report.fit.binding_resource} needs "
              f"{report.fit.utilization[report.fit.binding_resource]:.0%} of the board", file=sys.stderr)
    print(f"latency {totals['latency_ms']:.3f} ms, {totals['ops'] / 1e9:.3f} GOP, "
          f"utilization {totals['utilization']:.1%}")
    print("bound: " + ", ".join(f"{name} {part['layers']} layers / {part['latency_share']:.0%} of time"
                                for name, part in totals["bounds"].items()))
    print(f"report: {report.html} (per-layer roofs: {args.out / 'roofline.json'})")
    return 0
