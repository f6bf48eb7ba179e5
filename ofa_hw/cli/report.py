"""``ofa-hw report``: the HTML / PNG / JSON report of a saved search result."""

from __future__ import annotations

import argparse
from pathlib import Path

from .option_types import output_folder


def add_parser(subparsers) -> None:
    """Register ``ofa-hw report`` with its options."""
    parser = subparsers.add_parser(
        "report", help="write the HTML report (plots, per-layer latency, assumptions) of a search result",
        description="Write the report of a result.json from 'ofa-hw search': one self-contained HTML page with the "
                    "chosen design, its accelerator and resource use, the Pareto front, the roofline, the per-unit "
                    "latency with the source of each number and the assumptions, plus PNG plots and summary.json.",
    )
    parser.add_argument("result", type=Path, metavar="RESULT.json", help="result file written by 'ofa-hw search'")
    parser.add_argument("--out", type=output_folder, default=None,
                        help="report folder (default: 'report' beside RESULT.json)")
    parser.add_argument("--predictor", default=None,
                        help="latency predictor the search used: device, TABLE.csv or FIT.json (default: the one "
                             "result.json records)")
    parser.add_argument("--export", type=Path, default=None, metavar="DIR",
                        help="HLS export of the best design ('ofa-hw export --result'): show its engine cycle count "
                             "beside the search's prediction")
    parser.add_argument("--no-cv", dest="cross_validate", action="store_false",
                        help="skip recomputing the cross-validated calibration error (saves about a second)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Run ``ofa-hw report``; the exit code (errors are raised to the boundary in :func:`ofa_hw.cli.main`)."""
    from .file_kinds import read_result

    if not args.result.is_file():
        raise FileNotFoundError(f"result file {args.result} not found (write one with 'ofa-hw search --out DIR')")
    result = read_result(args.result)
    out = args.out if args.out is not None else args.result.parent / "report"
    path = result.report(out, predictor=args.predictor, cross_validate=args.cross_validate, export=args.export)
    print(f"report: {path}")
    return 0
