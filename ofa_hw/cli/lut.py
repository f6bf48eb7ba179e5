"""``ofa-hw lut``: plan, measure and inspect latency lookup tables.

* ``lut plan``: every distinct unit a search space needs at some resolutions,
  as models for the vendor toolchain (see the README written into the plan).
* ``lut compile-numpy``: the off-board stand-in for quantize + compile, for
  ``lut measure --runner numpy``.
* ``lut measure``: time the compiled units (on the board with ``pynq_dpu``),
  resumably, into a table file.
* ``lut fit``: calibrate a measured table, or whole networks timed on the
  board (``--networks``), on the shipped prior (:func:`latency_tables.fit_device`)
  and write the predictor record that ``--predictor FIT.json`` takes
  (``--predictor TABLE.csv`` fits a table on the fly).
* ``lut show``: the shipped tables, or one table's metadata and entries.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
from pathlib import Path

from .option_types import output_folder, positive_float, positive_int, seed

__all__ = ["add_parser", "run"]

#: How ``quantize_units.py`` builds a unit as a torch module (named, not imported: the plan needs no torch).
UNIT_MODULE_FACTORY = "ofa_hw.torch_model:build_unit_model"
#: The DPU overlay the pynq runner loads unless --bitstream names another (DPU-PYNQ's file name).
BITSTREAM = "dpu.bit"
#: Default untimed and timed runs per unit: a DPU unit takes milliseconds and is timed 100 times; the numpy
#: stand-in (tens of ms a unit on a CPU, and no DPU figure anyway) only exercises the path, so a few runs do.
RUNNER_RUNS = {"pynq": {"warmup": 10, "runs": 100}, "numpy": {"warmup": 1, "runs": 3}}


def _resolutions(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"resolutions must be comma-separated integers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("give at least one resolution")
    return values


def add_parser(subparsers) -> None:
    """Register ``ofa-hw lut`` with its options."""
    parser = subparsers.add_parser("lut", help="plan, measure and inspect latency lookup tables",
                                   description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="lut_command", metavar="ACTION")
    commands.required = True

    plan = commands.add_parser("plan", help="write the units a space needs, ready for Vitis AI")
    plan.add_argument("--space", default="ofa-mbv3-w1.2", help="search space (default: %(default)s)")
    plan.add_argument("--resolutions", type=_resolutions, default=(224,),
                      help="input resolutions, comma-separated, e.g. 160,192,224 (default: 224)")
    plan.add_argument("--out", type=output_folder, required=True, help="plan folder to create")
    plan.add_argument("--seed", type=seed, default=0,
                      help="weight initialisation seed of the unit models (default: %(default)s)")
    plan.add_argument("--models", action="store_true",
                      help="also export every unit as a torch.export program (and ONNX when onnx is installed); "
                           "needs torch. Without it the plan is complete: quantize_units.py builds the units")
    plan.add_argument("--no-onnx", action="store_true", help="with --models: do not export ONNX models")
    plan.add_argument("--manifest-only", action="store_true",
                      help="write manifest, quantize script and README, no per-unit files")
    plan.add_argument("--force", action="store_true", help="replace an existing plan in --out")
    plan.add_argument("--quiet", action="store_true", help="no progress bar")
    plan.set_defaults(run=_run_plan)

    numpy_compile = commands.add_parser("compile-numpy", help="int8 numpy stand-ins for the compiled units")
    numpy_compile.add_argument("--plan", type=Path, required=True, help="plan folder")
    numpy_compile.add_argument("--out", type=output_folder, required=True, help="folder for the .npz units")
    numpy_compile.add_argument("--seed", type=seed, default=0,
                               help="seed of the stand-ins' random int8 parameters (default: %(default)s)")
    numpy_compile.set_defaults(run=_run_compile_numpy)

    measure = commands.add_parser("measure", help="time the compiled units into a table (resumable)")
    measure.add_argument("--plan", type=Path, required=True, help="plan folder")
    measure.add_argument("--xmodels", type=Path, required=True, help="folder of compiled units (<name>.xmodel)")
    measure.add_argument("--out", type=Path, required=True, help="table file (.csv); resumed if it exists")
    measure.add_argument("--runner", choices=("pynq", "numpy"), default="pynq",
                         help="pynq: the board's DPU (default); numpy: int8 numpy units from compile-numpy")
    measure.add_argument("--bitstream", default=BITSTREAM,
                         help="DPU overlay for the pynq runner (default: %(default)s)")
    measure.add_argument("--board", required=True, help="board name, e.g. ultra96v2")
    measure.add_argument("--dpu-arch", required=True, help="DPU configuration, e.g. 'DPUCZDX8G B2304'")
    measure.add_argument("--clock-mhz", type=positive_float, default=None,
                         help="DPU clock in MHz (default: none recorded; omit for the numpy stand-in)")
    measure.add_argument("--cores", type=positive_int, default=1, help="DPU cores used (default: %(default)s)")
    measure.add_argument("--toolchain", required=True, help="e.g. 'Vitis AI 3.0'")
    measure.add_argument("--source", default=None, help="who measured / where the table comes from")
    measure.add_argument("--license", default=None, help="license of the measurements")
    for count, what in (("warmup", "untimed"), ("runs", "timed")):
        measure.add_argument(f"--{count}", type=int, default=None,
                             help=f"{what} runs per unit (default: {RUNNER_RUNS['pynq'][count]} on the DPU, "
                                  f"{RUNNER_RUNS['numpy'][count]} on the numpy stand-in)")
    measure.add_argument("--timing", choices=("host", "dpu"), default="host",
                         help="what each entry's mean_ms is: host wall time per run (default), or DPU-only time "
                              "(needs --dpu-time); both are recorded where measured")
    measure.add_argument("--dpu-time", choices=("none", "xdputil"), default="none",
                         help="also measure DPU-only time with 'xdputil benchmark' per DPU subgraph "
                              "(about a minute per subgraph; pynq runner only; default: none)")
    measure.add_argument("--quiet", action="store_true", help="no progress bar")
    measure.set_defaults(run=_run_measure, interrupted_note=lambda args: (
        f"the units timed so far are kept in {args.out}; the same command measures the rest"))

    fit = commands.add_parser("fit", help="calibrate a measured table (or whole networks) on the shipped prior "
                                           "(few-shot)")
    fit.add_argument("table", type=Path, nargs="?", metavar="TABLE.csv",
                     help="measured table (e.g. from 'lut measure')")
    fit.add_argument("--networks", type=Path, default=None, metavar="NETWORKS.json",
                     help="whole networks timed on the board instead of a table: a JSON list of {name, subnet (as "
                          "'ofa-hw info' reads it), latency_ms[, count, std_ms]}; needs --dpu and --clock-mhz, and "
                          "--board for its DDR bandwidth")
    fit.add_argument("--board", default=None, help="with --networks, or a table whose header names no known board "
                                                    "(e.g. 'host'): the board timed on, for its DDR bandwidth "
                                                    "(e.g. zcu102)")
    fit.add_argument("--prior", default="dpuczdx8g-joint", help="device whose calibration is the prior "
                                                                 "(default: %(default)s)")
    fit.add_argument("--dpu", default=None, help="DPU configuration measured, e.g. B1600 (default: the table's "
                                                "dpu_arch)")
    fit.add_argument("--clock-mhz", type=positive_float, default=None,
                     help="its clock in MHz (default: the table's clock_mhz)")
    fit.add_argument("--out", type=Path, default=None, help="predictor record to write (.json), for --predictor")
    fit.add_argument("--json", action="store_true", help="print the record as JSON")
    fit.set_defaults(run=_run_fit)

    show = commands.add_parser("show", help="list the shipped tables, or print one table")
    show.add_argument("table", nargs="?", help="shipped table name or path (.csv, or OFA .yaml with a sidecar)")
    show.add_argument("--match", default="", help="only entries whose key contains this text (default: every entry)")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(run=_run_show)


def run(args: argparse.Namespace) -> int:
    """Run ``ofa-hw lut``; the exit code (errors are raised to the boundary in :func:`ofa_hw.cli.main`)."""
    return args.run(args)


def _run_plan(args: argparse.Namespace) -> int:
    import numpy as np

    from latency_tables.harness import Plan, write_plan
    from latency_tables.harness.plan import MANIFEST
    from ofa_hw.space import SubnetBatch, SubnetConfig, get_space

    if args.no_onnx and not args.models:
        raise ValueError("--no-onnx goes with --models (without --models no ONNX model is written anyway)")
    if (args.out / MANIFEST).exists() and not args.force:  # in the command line's words, before the plan is built
        raise FileExistsError(f"{args.out} already holds a plan ({MANIFEST}); add --force to replace it")
    space = get_space(args.space)
    configs = [SubnetConfig.smallest(r=r, width_mult=space.width_mult) for r in args.resolutions]
    # The catalogue of a batch lists every unit its resolutions can use, not only the ones these configs use.
    keys = SubnetBatch.from_configs(configs).block_catalog().keys
    plan = Plan.from_keys(keys, space=space.name, resolutions=tuple(int(r) for r in np.unique(args.resolutions)),
                          seed=args.seed)
    factory: object = UNIT_MODULE_FACTORY
    if args.models:
        if importlib.util.find_spec("torch") is None:
            raise ValueError("--models exports torch programs and needs torch (pip install torch); "
                             "the plan without --models is complete")
        from ofa_hw.torch_model import build_unit_model as factory
    written = write_plan(plan, args.out, module_factory=factory, models=args.models,  # type: ignore[arg-type]
                         onnx=False if args.no_onnx else None, unit_files=not args.manifest_only,
                         overwrite=args.force, progress=not args.quiet)
    kinds = sorted({kind for unit in written.units for kind in unit.files})
    print(f"{args.out}: {len(written)} units of {space.name} at r={','.join(map(str, written.resolutions))}"
          f" ({', '.join(kinds) or 'manifest only'}); next steps in {args.out / 'README.md'}")
    return 0


def _run_compile_numpy(args: argparse.Namespace) -> int:
    from latency_tables.harness import compile_numpy_units, read_plan

    paths = compile_numpy_units(read_plan(args.plan), args.out, seed=args.seed)
    print(f"{args.out}: {len(paths)} int8 numpy units")
    return 0


def _run_measure(args: argparse.Namespace) -> int:
    import sys

    from latency_tables.harness import NumpyRunner, PynqDpuRunner, measure, read_plan, xdputil_dpu_ms
    from latency_tables.harness.board import BoardSetupError, require_pynq_dpu

    if args.runner == "numpy" and args.bitstream != BITSTREAM:
        raise ValueError(f"--bitstream {args.bitstream} is the DPU overlay of --runner pynq; the numpy runner loads "
                         "no overlay")
    if args.runner == "numpy" and args.dpu_time != "none":
        raise ValueError("--dpu-time needs --runner pynq: the numpy runner has no DPU")
    if args.timing == "dpu" and args.dpu_time == "none":  # else every unit is timed, then refused for want of it
        raise ValueError("--timing dpu makes each entry's mean_ms its DPU-only time, which needs --dpu-time xdputil "
                         "(pynq runner); without it, --timing host (the default) records host wall time")
    if args.runner == "pynq":
        _check_measured_dpu(args.board, args.dpu_arch)
    plan = read_plan(args.plan)
    if args.runner == "pynq":
        try:
            require_pynq_dpu()  # once, before any unit, instead of one failure per unit
        except BoardSetupError as exc:
            print(f"ofa-hw lut measure: error: {exc}", file=sys.stderr)
            return 2
    timer = xdputil_dpu_ms if args.dpu_time == "xdputil" else None
    runner = NumpyRunner() if args.runner == "numpy" else PynqDpuRunner(args.bitstream, dpu_timer=timer)
    if not args.out.exists() and args.xmodels.is_dir():  # a new table of nothing but failures is not a start
        unit_files = [f"{unit.name}{runner.suffix}" for unit in plan.units]
        if not any((args.xmodels / name).is_file() for name in unit_files):
            how = "'ofa-hw lut compile-numpy'" if args.runner == "numpy" else f"Vitis AI, {args.plan / 'README.md'}"
            raise FileNotFoundError(f"--xmodels {args.xmodels} holds none of the plan's {len(unit_files)} compiled "
                                    f"units (e.g. {unit_files[0]}); compile the plan first ({how}), or give the "
                                    "folder the compiled units were written to")
    meta = {"board": args.board, "dpu_arch": args.dpu_arch, "clock_mhz": args.clock_mhz, "cores": args.cores,
            "toolchain": args.toolchain}
    meta.update({k: v for k, v in (("source", args.source), ("license", args.license)) if v})
    defaults = RUNNER_RUNS[args.runner]
    report = measure(plan, args.xmodels, runner, args.out, meta=meta,
                     warmup=defaults["warmup"] if args.warmup is None else args.warmup,
                     runs=defaults["runs"] if args.runs is None else args.runs, timing=args.timing,
                     progress=not args.quiet)
    print(f"{report.table_path}: measured {len(report.measured)}, already there {len(report.already_present)}, "
          f"failed {len(report.failed)}")
    for key, names in report.cpu_parts.items():
        print(f"  {key}: split by the compiler; CPU part(s) {', '.join(names)} not in the timed DPU work")
    for failure in report.failed:
        print(f"  skipped {failure.key}: {failure.reason}")
    return 0 if report.complete else 1


def _check_measured_dpu(board: str, dpu_arch: str) -> None:
    """Refuse a board or DPU name that ``lut fit`` and ``search`` cannot read, before hours of timing.

    The table's header is all they know of the DPU measured: an unknown board
    would price it with default DDR bandwidth, an unnamed configuration is refused only at the fit.
    """
    from accel_models import get_board, list_dpu_archs
    from latency_tables.sources import DPU_ARCH_IN_TEXT

    get_board(board)
    match = DPU_ARCH_IN_TEXT.search(dpu_arch)
    if match is None or match.group(0) not in list_dpu_archs():
        raise ValueError(f"--dpu-arch {dpu_arch!r} names no DPUCZDX8G configuration: give the one on the board, "
                         f"e.g. 'DPUCZDX8G B2304' (sizes {', '.join(list_dpu_archs())}, upper-case B)")


def _run_fit(args: argparse.Namespace) -> int:
    import dataclasses
    import warnings

    from accel_models.atomic import atomic_write_text, check_writable
    from latency_tables import list_tables, load_table, predictor_record, table_accelerator
    from latency_tables.records import fit_networks_file, fit_table_file
    from latency_tables.sources import dpu_on_board

    if (args.table is None) == (args.networks is None):
        raise ValueError("give a measured table (TABLE.csv) or --networks NETWORKS.json, one of the two")
    if args.networks is not None and (args.dpu is None or args.clock_mhz is None):
        raise ValueError("--networks needs --dpu and --clock-mhz (the DPU the networks ran on; a network file has no "
                         "header naming it) and, for its DDR bandwidth, --board")
    if args.board is not None:
        from accel_models import get_board

        get_board(args.board)  # an unknown board is an error, not the default DDR bandwidth
    if args.out is not None:  # checked before the fit, not after it
        if args.out.suffix.lower() != ".json" or args.out.is_dir():
            raise ValueError(f"--out {args.out}: a predictor record is a .json file")
        check_writable(args.out, what="predictor record")
        _check_replaceable_record(args.out)
    if args.table is not None and not args.table.exists() and str(args.table) in list_tables():
        raise ValueError(f"{args.table} is the name of a shipped table, not a file: lut fit takes a table you "
                         "measured (TABLE.csv, from 'ofa-hw lut measure'); 'ofa-hw lut show NAME' prints a shipped one")
    from accel_models import list_boards

    header_board = load_table(args.table).meta.board if args.table is not None else None
    if args.board is not None and header_board in list_boards():
        raise ValueError(f"--board goes with --networks, or with a table whose header names no known board; "
                         f"{args.table}'s header names {header_board}")
    with warnings.catch_warnings(record=True) as caught:  # printed below the fit's note
        warnings.simplefilter("always")
        accelerator = None
        if args.table is not None and (args.dpu is not None or args.clock_mhz is not None or args.board is not None):
            # any flag in place of the table's header; the board's DDR bandwidth and build options, as a search
            # on that board builds the DPU
            meta = load_table(args.table).meta
            accelerator = table_accelerator(meta if args.board is None else dataclasses.replace(meta, board=args.board),
                                            arch=args.dpu, clock_mhz=args.clock_mhz)
        if args.networks is not None:
            predictor = fit_networks_file(args.networks, dpu_on_board(args.dpu, args.clock_mhz, args.board),
                                          prior=args.prior)
        else:
            predictor = fit_table_file(args.table, accelerator, prior=args.prior)
            if args.board is None and header_board not in list_boards():
                warnings.warn(f"{args.table}'s header names board {header_board!r}, not one of "
                              f"{', '.join(list_boards())}: the fit assumed the default DDR bandwidth "
                              f"{predictor.calibrated.accelerator.ddr_bw_gbps:g} GB/s; give --board BOARD for the "
                              "board's own", stacklevel=2)
    record = predictor_record(predictor)
    if args.out is not None:
        atomic_write_text(args.out, json.dumps(record, indent=1))
    if args.json:
        print(json.dumps(record, indent=1))
        return 0
    calibrated = predictor.calibrated
    n = len(predictor.table)
    singular, plural = ("network", "networks") if args.networks is not None else ("entry", "entries")
    print(f"{args.networks or args.table}: {n} {singular if n == 1 else plural} on {calibrated.accelerator.label}, "
          f"prior {args.prior}")
    print(f"  {predictor.few_shot.note}")
    print(f"  {_interval_line(predictor.few_shot)}")
    for message in dict.fromkeys(str(warning.message) for warning in caught):  # in the order raised, each once
        if "fit_device" not in message:
            print(f"  warning: {message}")
    print(calibrated.summary())
    if args.out is not None:
        print(f"wrote {args.out} (use it as --predictor {args.out})")
    return 0


def _check_replaceable_record(path: Path) -> None:
    """An existing ``--out`` is replaced only when it is an earlier predictor record, never another file."""
    from latency_tables.records import RECORD_FORMAT

    if not path.exists():
        return
    try:
        kind = json.loads(path.read_text(encoding="utf-8")).get("format", "")
    except (OSError, ValueError, AttributeError):  # unreadable, not JSON, not an object
        kind = ""
    if not str(kind).startswith(RECORD_FORMAT.rsplit("/", 1)[0] + "/"):
        raise FileExistsError(f"--out {path} exists and is not a predictor record (format {RECORD_FORMAT}); it is "
                              "left as it is: choose another file name")


def _interval_line(few_shot) -> str:
    """The fitted board's prediction interval (the prior's error posterior after the measurements), in words."""
    from latency_tables.uncertainty import DEFAULT_CONFIDENCE, INTERVAL_DEVICES, error_model, fitted_error_model

    if few_shot.prior not in INTERVAL_DEVICES:
        return f"interval: none (the prior {few_shot.prior} has no interval model; {', '.join(INTERVAL_DEVICES)} do)"
    errors = fitted_error_model(few_shot)
    prior = error_model(few_shot.prior).transferred.summary(DEFAULT_CONFIDENCE)
    board = errors.residuals("model").summary(DEFAULT_CONFIDENCE)
    n = len(few_shot.residuals)
    update = f"updated by {n} held-out residuals" if n >= 2 else \
        f"not updated: {n} measurement moves no interval, the update starts from two"
    return (f"{DEFAULT_CONFIDENCE:.0%} interval of a unit on this board: x{board['low_factor']:.2f} to "
            f"x{board['high_factor']:.2f} of its prediction (the prior's on an unseen board: "
            f"x{prior['low_factor']:.2f} to x{prior['high_factor']:.2f}; {update})")


def _run_show(args: argparse.Namespace) -> int:
    from latency_tables import list_tables, load_table

    if args.table is None:
        rows = [(name, load_table(name)) for name in list_tables()]
        if args.json:
            print(json.dumps({name: {"entries": len(t), **t.meta.to_dict()} for name, t in rows}, indent=1))
            return 0
        for name, table in rows:
            meta = table.meta
            clock = f"@{meta.clock_mhz:g} MHz" if meta.clock_mhz else ""
            print(f"{name:<20} {len(table):>4} entries  {meta.board}, {meta.dpu_arch} {clock}".rstrip())
        return 0
    table = load_table(args.table)
    entries = [e for e in table.entries.values() if args.match in e.key]
    if args.json:
        print(json.dumps({"meta": table.meta.to_dict(), "entries": [
            {"key": e.key, "count": e.count, "mean_ms": e.mean_ms, "std_ms": e.std_ms, "min_ms": e.min_ms,
             "max_ms": e.max_ms, **e.extra} for e in entries]}, indent=1))
        return 0
    for name, value in table.meta.to_dict().items():
        print(f"{name:>21}: {value}")
    print(f"{'entries':>21}: {len(table)} ({len(entries)} shown)")
    width = max((len(e.key) for e in entries), default=3)
    print(f"{'key':<{width}} {'count':>6} {'mean_ms':>9} {'std_ms':>8}")
    for e in entries:
        std = "" if e.std_ms is None else f"{e.std_ms:.4f}"
        print(f"{e.key:<{width}} {e.count:>6} {e.mean_ms:>9.4f} {std:>8}")
    return 0
