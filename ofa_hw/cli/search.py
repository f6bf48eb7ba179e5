"""``ofa-hw search``: the joint sub-network x accelerator search (the main job)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from .option_types import open_fraction, output_folder, positive_float, positive_int, seed, top1_percent

if TYPE_CHECKING:  # pragma: no cover
    from accel_models import Board


#: The DPUCZDX8G IP version a search assumes unless --dpu-ip names another (Vitis AI 3.0's).
DEFAULT_DPU_IP = "4.1"


def add_parser(subparsers) -> None:
    """Register ``ofa-hw search`` with its options."""
    from ofa_hw.accuracy import list_predictors
    from ofa_hw.search import DEFAULT_BUDGETS
    from ofa_hw.search.codesign import EVOLUTION_EVALUATIONS_PER_MEMBER, EVOLUTION_POPULATION_RANGE, NSGA2_POPULATION

    parser = subparsers.add_parser(
        "search", help="find the most accurate int8 OFA sub-network + DPU configuration for a board and budget",
        description="Search OFA-MobileNetV3 sub-networks and DPU-like accelerator configurations jointly under a "
                    "board's resources and a latency or throughput constraint. Prints the best design and writes "
                    "result.json plus an HTML report.",
    )
    parser.add_argument("--board", default="ultra96v2", help="ultra96v2, zcu102, zcu104 or kv260 (default: ultra96v2)")
    parser.add_argument("--latency-ms", type=positive_float, default=None,
                        help="latency ceiling for one image (ms; DPU time unless --latency-mode e2e)")
    parser.add_argument("--fps", type=positive_float, default=None,
                        help="deployed throughput floor (images/s with --threads threads, ARM pre/post-processing "
                             "and DDR contention included)")
    parser.add_argument("--threads", type=positive_int, default=None,
                        help="application threads feeding the DPU cores (default: as many as saturate them)")
    parser.add_argument("--latency-mode", choices=("dpu", "e2e"), default="dpu",
                        help="what --latency-ms bounds: dpu (default, DPU time per image; what the model zoo "
                             "validates best) or e2e (plus the modelled ARM pre/post-processing)")
    parser.add_argument("--min-top1", type=top1_percent, default=None,
                        help="accuracy floor (top-1 %%, ImageNet-val scale unless --raw-accuracy): the fastest "
                             "design at or above it")
    parser.add_argument("--confidence", type=open_fraction, default=None,
                        help="meet the latency / fps budget at this confidence (e.g. 0.9): the search uses the upper "
                             "end of each design's latency interval")
    parser.add_argument("--raw-accuracy", dest="accuracy_scale", action="store_const", const="raw",
                        default="imagenet-val",
                        help="report accuracy on the predictor's own scale instead of the calibrated ImageNet-val one")
    parser.add_argument("--space", default="ofa-mbv3-w1.2", choices=list_predictors(),  # a space with top-1 predicted
                        help="sub-network space: ofa-mbv3-w1.2 (default) or ofa-mbv3-w1.0")
    parser.add_argument("--accelerators", default="dpu",
                        help="'dpu' (default: every stock DPUCZDX8G configuration, PG338 size x clock x cores x "
                             "RAM/DSP usage, that fits the board), 'dpu-like' (NAAS-style PE arrays, mostly custom "
                             "accelerators that only the HLS export builds), 'default' (the board's PYNQ-DPU "
                             "configuration only) or a comma list like B2304@200x1,B1600@300x2")
    parser.add_argument("--dpu-ip", default=DEFAULT_DPU_IP, choices=("3.2", "3.3", "3.4", "4.0", "4.1"),
                        help=f"DPUCZDX8G IP version of the 'dpu' space and of listed configurations (default "
                             f"{DEFAULT_DPU_IP}, Vitis AI 3.0; 3.x has no hard-sigmoid, so h-swish runs on the CPU)")
    parser.add_argument("--predictor", default=None,
                        help="latency predictor: a device name (default: by-build: a stock DPUCZDX8G by "
                             "dpuczdx8g-joint, the Ultra96-V2 measurements, elsewhere the model calibrated on two "
                             "boards; a custom accelerator by hls-engine, its HLS engine's model), your measured table "
                             "(TABLE.csv, calibrated on that prior) or a record from 'ofa-hw lut fit' (FIT.json)")
    parser.add_argument("--algorithm", default="auto", choices=("auto", "evolution", "nsga2"),
                        help="auto (default): the evolution under a latency / fps limit, NSGA-II's front without one "
                             "or with --min-top1")
    parser.add_argument("--budget", type=positive_int, default=None,
                        help=f"candidate evaluations (default {DEFAULT_BUDGETS['evolution']} for the evolution, the "
                             f"search under a latency / fps limit; {DEFAULT_BUDGETS['nsga2']} for NSGA-II's front, "
                             f"without a limit or with --min-top1)")
    parser.add_argument("--population", type=positive_int, default=None,
                        help=f"population size (default: {NSGA2_POPULATION} for NSGA-II; for the evolution budget / "
                             f"restarts / {EVOLUTION_EVALUATIONS_PER_MEMBER}, within "
                             f"{EVOLUTION_POPULATION_RANGE[0]}..{EVOLUTION_POPULATION_RANGE[1]})")
    parser.add_argument("--restarts", type=positive_int, default=1,
                        help="independent runs (seeds spawned from --seed) sharing the budget, their results merged "
                             "(default: %(default)s)")
    parser.add_argument("--seed", type=seed, default=0, help="random seed of the search (default: %(default)s)")
    parser.add_argument("--float", dest="quantization", action="store_const", const=None, default="int8-pow2",
                        help="optimise float accuracy instead of the modelled int8 (DPU) accuracy")
    parser.add_argument("--out", type=output_folder, default=Path("results/search"),
                        help="output folder (default results/search)")
    parser.add_argument("--checkpoint", type=Path, default=None, help="folder to save finished restarts in (resumable)")
    parser.add_argument("--no-report", action="store_true", help="write result.json only")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print the result as JSON (result.json's content) "
                                                            "instead of the summary")
    parser.set_defaults(run=run, interrupted_note=interrupted_note)


def interrupted_note(args: argparse.Namespace) -> str:
    """What an interrupted search kept, and how to go on (printed after Ctrl-C)."""
    if args.checkpoint is None:
        return (f"nothing of this search was kept ({args.out} is as it was); with --checkpoint DIR each finished "
                "restart (--restarts N) is saved, and the same command then resumes from them")
    return (f"the restarts finished so far are kept in {args.checkpoint} (each is saved as it ends); the same "
            "command resumes from them")


def parse_accelerators(text: str, board, ip_version: str = "4.1"):
    """``dpu`` | ``dpu-like`` | ``default`` | ``B2304@200x1,...`` -> what search_codesign takes.

    Listed sizes take the UltraRAM and DSP-usage options that fit the board (printed with the design).
    """
    from accel_models import Accelerator, DpuOptions
    from ofa_hw.search.accelerators import DpuGrid, fitting_options

    options = DpuOptions(ip_version=ip_version)
    if text == "dpu":  # the named space (what fits is its definition); another IP version is a grid of the user's
        return "dpu" if ip_version == DpuGrid.ip_version else DpuGrid(ip_version=ip_version)
    if text == "dpu-like":
        return "dpu-like"
    if text == "default":
        acc = board.default_accelerator()
        return fitting_options(acc.replace(options=acc.options.replace(ip_version=ip_version, hard_sigmoid=None)),
                               board)
    accelerators = []
    for item in text.split(","):
        if not item.strip():
            raise ValueError(f"--accelerators {text!r} has an empty item (a doubled or trailing comma?): give 'dpu', "
                             "'dpu-like', 'default' or a comma list like B2304@200x1,B1600@300x2")
        arch, _, rest = item.strip().partition("@")
        clock, _, cores = rest.partition("x")
        try:
            clock_mhz, n_cores = float(clock or board.default_dpu_clock_mhz), int(cores or 1)
        except ValueError:
            raise ValueError(f"--accelerators item {item!r}: expected ARCH[@MHZ][xCORES], e.g. B2304@200x1") from None
        try:
            accelerators.append(fitting_options(Accelerator.from_dpu(
                arch, clock_mhz=clock_mhz, cores=n_cores, ddr_bw_gbps=board.ddr_bw_gbps, options=options), board))
        except (KeyError, ValueError) as exc:  # KeyError: an unknown size, its message lists the known ones
            raise ValueError(f"--accelerators item {item!r}: {exc.args[0] if exc.args else exc}") from None
    return accelerators


def run(args: argparse.Namespace) -> int:
    """Run ``ofa-hw search``; the exit code (errors are raised to the boundary in :func:`ofa_hw.cli.main`)."""
    from accel_models import get_board
    from accel_models.atomic import check_replaceable, output_lock
    from ofa_hw.search import search_codesign

    _check_combination(args)
    board = get_board(args.board)
    accelerators = parse_accelerators(args.accelerators, board, args.dpu_ip)
    # Outputs are checked and locked before the search runs: a second search into the same folder, or one into
    # a folder it cannot write (or one holding files of the user's), stops here instead of after the work.
    check_replaceable(args.out, replaceable=_replaceable_output, what="search output folder")
    if args.checkpoint is not None and args.checkpoint.exists() and not args.checkpoint.is_dir():
        raise NotADirectoryError(f"--checkpoint {args.checkpoint} is a file; it names a folder to keep finished "
                                 "restarts in (created if missing)")
    if args.checkpoint is not None and _inside(args.checkpoint, args.out):
        raise ValueError(f"--checkpoint {args.checkpoint} is inside --out {args.out}, which is replaced as a unit "
                         "when the search ends: keep the checkpoint folder elsewhere")
    with output_lock(args.out, what="ofa-hw search"):
        result = search_codesign(
            board=board, latency_ms=args.latency_ms, fps=args.fps, min_accuracy=args.min_top1,
            confidence=args.confidence, space=args.space, accuracy_scale=args.accuracy_scale,
            accelerators=accelerators, predictor=args.predictor,
            quantization=args.quantization, algorithm=args.algorithm, budget=args.budget, population=args.population,
            restarts=args.restarts, seed=args.seed, progress=not args.no_progress, checkpoint=args.checkpoint,
            threads=args.threads, latency_mode=args.latency_mode,
        )
        written = write_search_output(result, args.out, report=not args.no_report)
    _warn_if_measured_elsewhere(result.settings.get("latency_predictor_record"), board)
    if args.json:
        print(json.dumps(result.to_dict(), indent=1))
        return 0
    print(format_summary(result))
    print()
    for path in written:
        print(f"wrote {path}")
    return 0


def _check_combination(args: argparse.Namespace) -> None:
    """Options that cannot go together, refused in the command line's terms before the search starts."""
    if args.algorithm == "evolution" and args.latency_ms is None and args.fps is None:
        raise ValueError("--algorithm evolution needs --latency-ms or --fps; without a limit (or with --min-top1 "
                         "alone) the search is NSGA-II's Pareto front: --algorithm nsga2, or auto (the default)")
    if args.accelerators == "dpu-like" and args.dpu_ip != DEFAULT_DPU_IP:
        raise ValueError(f"--dpu-ip {args.dpu_ip} is a DPUCZDX8G IP version; the 'dpu-like' accelerators are custom "
                         "engines built through the HLS export, which it does not apply to: drop --dpu-ip, or search "
                         "--accelerators dpu")
    if args.confidence is not None and args.latency_mode != "dpu":
        raise ValueError("--confidence bounds the DPU time (the latency intervals are those of the DPU latency "
                         "predictors); use it with --latency-mode dpu (the default)")
    if args.confidence is not None and args.predictor is not None:
        from latency_tables import list_devices
        from latency_tables.uncertainty import INTERVAL_DEVICES

        if args.predictor in list_devices() and args.predictor not in INTERVAL_DEVICES:
            raise ValueError(f"--confidence needs a latency predictor with an interval model: --predictor "
                             f"{', '.join(INTERVAL_DEVICES)}, or a table of yours fitted on one of them "
                             f"(TABLE.csv, or FIT.json from 'ofa-hw lut fit'); {args.predictor} has none")


def _warn_if_measured_elsewhere(record, board: Board) -> None:
    """A user's table measured on a known board of another DDR bandwidth: none of its entries price a design here."""
    import warnings

    from latency_tables.records import recorded_board
    from latency_tables.sources import other_ddr_gbps

    measured_on = recorded_board(record)
    there_gbps = other_ddr_gbps(measured_on, board.ddr_bw_gbps)
    if there_gbps is not None:
        warnings.warn(f"the predictor's table was measured on {measured_on}, this search is on {board.name}: none "
                      f"of its entries apply here (DDR {there_gbps:g} GB/s there, "
                      f"{board.ddr_bw_gbps:g} here), every latency is its fitted model transferred; measure on "
                      f"{board.name}, or search --board {measured_on}", stacklevel=2)


#: What ``ofa-hw search --out`` holds: the result, its report and (a stock DPU) the files to build it.
SEARCH_OUTPUT = ("result.json", "report", "dpu_build")


def _replaceable_output(path: Path) -> str | None:
    """None when ``path`` is empty or holds only an earlier search output (see :func:`write_search_output`)."""
    from accel_models.atomic import holds_only

    return holds_only(SEARCH_OUTPUT, required=("result.json",), what="an ofa-hw search output")(path)


def write_search_output(result, out: Path, *, report: bool = True) -> list[Path]:
    """Write ``result.json``, the report and the DPU build files into ``out`` as one unit; the paths written.

    The folder is built as a temporary sibling and swapped into place, so a crash or a full disk leaves the
    previous output whole, and a result never sits beside another run's report.  The caller holds
    :func:`accel_models.atomic.output_lock` of ``out`` (the search locks it for the whole run).
    """
    from accel_models.atomic import atomic_directory

    from .build_config import write_design_build_files

    with atomic_directory(out, replaceable=_replaceable_output, what="search output folder",
                          locked=True) as tmp:
        written = [result.to_json(tmp / "result.json")]
        if result.best is not None and not result.best.is_custom:  # a stock DPU: the files to build it
            written += write_design_build_files(result.best, tmp / "dpu_build")
        if report:
            written.append(result.report(tmp / "report"))
    return [out / path.relative_to(tmp) for path in written]


def _inside(path: Path, folder: Path) -> bool:
    path, folder = path.resolve(), folder.resolve()
    return path == folder or folder in path.parents


def _interval(design) -> str:
    if design.latency_confidence is None:
        return " (no interval model for this predictor)"
    return (f", {100 * design.latency_confidence:.0f}% interval {design.latency_low_ms:.2f}-"
            f"{design.latency_high_ms:.2f} ms")


def _latency_meaning(settings, design) -> str:
    if settings.get("deployment", {}).get("latency_mode") == "e2e":
        return "end-to-end"
    if not design.accelerator.is_dpuczdx8g:
        return "HLS engine time"
    from latency_tables.records import timing_basis

    return timing_basis(settings.get("latency_predictor_record"), dpu="DPU time")  # or a user's host-timed table


def _basis(settings, design) -> str:
    """What a custom design's latency is (its engine's model, or a DPU model applied to it) and what its fps means."""
    from latency_tables.by_build import latency_basis

    return (latency_basis(settings.get("latency_predictor"), design.accelerator, design.latency_source)
            + "; deployed fps: the engine's time in place of the DPU's (no DPU runtime: a PYNQ Overlay driver), "
            "the same ARM pre/post-processing and threads")


def _deployed_line(settings, design) -> str:
    """DPU time, end-to-end latency and deployed fps side by side, with threads and the share of each part."""
    from latency_tables.records import timing_basis

    d = design.deployed
    if d is None:
        return (f"{design.fps:.1f} fps with all {design.accelerator.cores} core(s) busy "
                f"({timing_basis(settings.get('latency_predictor_record'))})")
    shares = d["shares"]
    return (f"{d['fps']:.1f} fps with {d['threads']} thread(s) on {d['cores']} core(s) ({d['bound']}-bound); "
            f"end-to-end {d['single_thread_latency_ms']:.2f} ms single-thread = DPU {d['dpu_ms']:.2f} ms "
            f"({100 * shares['dpu']:.0f}%) + ARM pre/post {d['cpu_ms'] - d['fallback_ms']:.2f} ms "
            f"({100 * shares['cpu_pre_post']:.0f}%), {d['latency_ms']:.2f} ms under load")


def format_summary(result) -> str:
    """The printed summary of a result: the best design with its hardware and the front."""
    settings = result.settings
    scale = settings.get("accuracy_scale_label", "scale not recorded")
    constraint = settings["constraint"]["text"]
    if settings.get("min_accuracy") is not None:
        constraint = f"top-1 >= {settings['min_accuracy']:g}% ({scale})" + ("" if constraint == "none"
                                                                            else f" and {constraint}")
    if settings.get("confidence") is not None and constraint != "none":
        constraint += f" at {100 * settings['confidence']:.0f}% confidence"
    lines = [f"Board {settings['board']}, constraint: {constraint}; objective: {settings['objective']}"]
    design = result.best
    if design is not None:
        acc, res = design.accelerator, design.resources
        placed = res.placed
        cfg = design.subnet
        opts = acc.options
        lines += [
            "Best design:",
            f"  sub-network : OFA-MobileNetV3 w{cfg.width_mult} r={cfg.r} d={list(cfg.d)}",
            f"                ks={list(cfg.ks)}",
            f"                e ={list(cfg.e)}",
            f"  accelerator : {acc.hardware_label} (PP {acc.pp}, ICP {acc.icp}, OCP {acc.ocp}) @ {acc.clock_mhz:g} MHz "
            f"x{acc.cores} core(s), {acc.peak_gops:.0f} GOP/s peak",
            f"  options     : DPUCZDX8G IP {opts.ip_version}, RAM usage {opts.ram_usage}, DSP usage {opts.dsp_usage}, "
            f"UltraRAM {opts.uram_per_core}/core" if acc.is_dpuczdx8g else
            f"  buffers     : activations {acc.act_buffer_kib:g} KiB, weights {acc.weight_buffer_kib:g} KiB per core; "
            "realised only through the HLS export (ofa-hw export)",
            f"  resources   : DSP {placed.dsp:.0f}, LUT {placed.lut:.0f}, FF {placed.ff:.0f}, "
            f"BRAM36 {placed.bram36:.0f}, "
            f"URAM {placed.uram:.0f} as placed (binding: {res.binding_resource} {100 * res.binding_utilization:.0f}%)",
            *(f"                {note}" for note in res.notes[-1:]),
            f"  latency     : {design.latency_ms:.3f} ms per image{_interval(design)} "
            f"({_latency_meaning(settings, design)}, {design.latency_source}; "
            f"{100 * design.measured_fraction:.0f}% from measured entries)",
            *([] if acc.is_dpuczdx8g else [f"  latency by  : {_basis(settings, design)}"]),
            f"  deployed    : {_deployed_line(settings, design)}",
            f"  accuracy    : {design.accuracy_top1:.2f}% top-1 ({scale}) int8 predicted "
            f"({design.accuracy_float_top1:.2f}% float)"
            if settings.get("quantization")
            else f"  accuracy    : {design.accuracy_top1:.2f}% top-1 ({scale}) predicted (float)",
        ]
        if design.cpu_fallback:
            lines.append(f"  CPU fallback: {len(design.cpu_fallback)} layer(s) run on the ARM CPU (included in the "
                         f"latency), e.g. {design.cpu_fallback[0].name}: {design.cpu_fallback[0].reason}")
    lines.append(f"Pareto front: {len(result.pareto)} designs from "
                 f"{result.pareto[0].latency_ms:.2f} ms / {result.pareto[0].accuracy_top1:.2f}% to "
                 f"{result.pareto[-1].latency_ms:.2f} ms / {result.pareto[-1].accuracy_top1:.2f}% top-1 ({scale})")
    return "\n".join(lines)
