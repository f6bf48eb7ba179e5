"""``ofa-hw export``: int8-quantize a sub-network and write the HLS project of its engine (optionally C-simulate it)."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from .option_types import output_folder, positive_float, seed
from .subnet_args import add_subnet_options, subnet_from_args


def add_parser(subparsers) -> None:
    """Register ``ofa-hw export`` with its options."""
    import inspect

    from accel_models import Accelerator

    dpu_clock_mhz = inspect.signature(Accelerator.from_dpu).parameters["clock_mhz"].default
    parser = subparsers.add_parser(
        "export", help="quantize a sub-network to int8 and export the Vitis HLS project of its DPU-like engine",
        description="Quantize a sub-network to int8 (BatchNorm folded) and write the Vitis HLS project of the "
                    "accelerator's engine with the network as its program: engine sources, program.bin, packed "
                    "weights.bin, a testbench calling the synthesis top with golden tensors, run_hls.tcl / "
                    "hls_config.cfg, a PYNQ driver and manifest.json. Take the sub-network, accelerator and board "
                    "from a search result (--result) or give a sub-network.",
    )
    parser.add_argument("--result", type=Path, metavar="RESULT.json",
                        help="search result JSON; exports its best design (sub-network + accelerator)")
    add_subnet_options(parser)
    parser.add_argument("--out", type=output_folder, required=True, metavar="DIR",
                        help="export directory (must not exist)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing export directory")
    parser.add_argument("--accelerator", metavar="ARCH",
                        help="DPU configuration giving the engine's shape, e.g. B512 (default: the result's, else "
                             "B512 at 200 MHz)")
    parser.add_argument("--board", default=None,
                        help="board the engine is built for: its part, and the resource check (DSP, LUT, FF, BRAM / "
                             "URAM) (default: the result's, else ultra96v2)")
    parser.add_argument("--clock-mhz", type=positive_float, default=None,
                        help=f"clock of --accelerator in MHz (default: {dpu_clock_mhz:g}, as for any DPU named)")
    parser.add_argument("--weights", type=Path, metavar="STATE_DICT.pth",
                        help="OFA sub-network state_dict to load (default: seeded random weights)")
    parser.add_argument("--seed", type=seed, default=0, help="seed of the random weights and calibration (default 0)")
    parser.add_argument("--calibration", type=Path, metavar="IMAGES.npy",
                        help="float (N, 3, r, r) calibration images (default: 16 standard-normal images)")
    parser.add_argument("--scheme", choices=("pow2", "per_channel"), default="pow2",
                        help="int8 scheme: DPU power-of-two per tensor (default) or per-channel weights")
    parser.add_argument("--method", choices=("max", "mse"), default="max",
                        help="fix-position calibration method (default: max)")
    parser.add_argument("--csim", action="store_true", help="compile with g++ and check every layer bit-exactly")
    parser.add_argument("--compiler", default=None, help="C++ compiler for --csim (default $OFA_HW_CXX or g++)")
    parser.set_defaults(run=run)


def _design(args: argparse.Namespace):
    """(SubnetConfig, accelerator or None, board name or None, the search's latency figure or None) from the options."""
    from accel_models import Accelerator
    from hls.latency_figures import search_figure

    given_subnet = args.subnet or args.subnet_option or args.preset
    if args.result and given_subnet:
        raise ValueError("give either --result or a sub-network (SUBNET.json / --subnet / --preset), not both")
    if args.result and args.width_mult is not None:
        raise ValueError("--width-mult goes with a sub-network (SUBNET.json / --preset); --result exports its best "
                         "design at the width it was searched in")
    accelerator, board, searched = None, args.board, None
    if args.result:
        from .file_kinds import read_result

        result = read_result(args.result)
        best = result.best
        if best is None:
            raise ValueError(f"{args.result} has no best design (a front-only search); export a sub-network with "
                             "--subnet instead")
        cfg, accelerator = best.subnet, best.accelerator
        searched = search_figure(best, result.settings.get("latency_predictor"))
        board = board or result.settings.get("board")
        if args.resolution is not None and args.resolution != cfg.r:
            import warnings

            warnings.warn(f"-r {args.resolution} exports the result's sub-network at another resolution than the "
                          f"searched r={cfg.r}: the search's latency is for r={cfg.r}, so none is set beside the "
                          "engine's", stacklevel=2)
            cfg, searched = dataclasses.replace(cfg, r=args.resolution), None
    else:
        cfg = subnet_from_args(args)
    if args.accelerator:
        kwargs = {} if args.clock_mhz is None else {"clock_mhz": args.clock_mhz}
        accelerator = Accelerator.from_dpu(args.accelerator, **kwargs)
    elif args.clock_mhz is not None:
        raise ValueError("--clock-mhz needs --accelerator")
    return cfg, accelerator, board, searched


def _model(cfg, args: argparse.Namespace, calibration):
    import numpy as np
    import torch

    from hls.bn import reset_bn_statistics
    from ofa_hw._torch_modules import OFASubnet
    from ofa_hw.torch_model import build_torch_model

    model = build_torch_model(cfg, seed=args.seed)
    assert isinstance(model, OFASubnet)
    if not args.weights:
        # As OFA does for every extracted sub-network; a fresh model's identity BatchNorms
        # would otherwise let activations shrink layer by layer towards zero.
        images = calibration if calibration is not None else \
            np.random.default_rng(args.seed).standard_normal((16, 3, cfg.r, cfg.r))
        return reset_bn_statistics(model, images)
    _require_file(args.weights, "weights file", ".pth")
    try:
        state = torch.load(args.weights, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch's unpickler raises anything from KeyError to UnpicklingError on a foreign file
        raise ValueError(f"--weights {args.weights} is not a PyTorch state_dict file (torch.save of "
                         f"model.state_dict()): {type(exc).__name__}: {exc}") from None
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"--weights {args.weights} holds a {type(state).__name__}, not a state_dict (a dict of "
                         "parameter name -> tensor, optionally under 'state_dict')")
    try:
        model.load_ofa_state_dict(state)
    except RuntimeError as exc:
        raise ValueError(f"{args.weights} does not fit this sub-network: {str(exc).splitlines()[0]}") from None
    return model


def _require_file(path: Path, what: str, suffix: str) -> None:
    if path.is_dir():
        raise IsADirectoryError(f"{what} {path} is a folder; give the {suffix} file")
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} not found")


def _read_calibration(path: Path, r: int):
    """The calibration images of ``--calibration``: a finite float (N, 3, r, r) array, N >= 1."""
    import numpy as np

    try:
        images = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as exc:  # not .npy, an object (pickled) array, or truncated
        raise ValueError(f"--calibration {path} is not a numpy array file (np.save of float images): {exc}") from None
    if not isinstance(images, np.ndarray):  # an .npz archive
        raise ValueError(f"--calibration {path} is an .npz archive; give one array saved with np.save")
    if images.ndim != 4 or images.shape[0] < 1 or images.shape[1:] != (3, r, r):
        raise ValueError(f"--calibration {path} has shape {images.shape}; expected (N, 3, {r}, {r}) images at the "
                         f"sub-network's resolution, N >= 1")
    if not np.issubdtype(images.dtype, np.floating) or not np.isfinite(images).all():
        what = "non-finite values" if np.issubdtype(images.dtype, np.floating) else f"dtype {images.dtype}"
        raise ValueError(f"--calibration {path} has {what}; expected finite float images, normalised as the "
                         "network's input")
    return images


def run(args: argparse.Namespace) -> int:
    """Run ``ofa-hw export``; returns the exit code."""
    import hls
    from hls.latency_figures import manifest_figures
    from ofa_hw.layers import subnet_layers

    if args.compiler is not None and not args.csim:
        raise ValueError("--compiler is the C++ compiler of --csim; add --csim to C-simulate, or drop --compiler")
    cfg, accelerator, board, searched = _design(args)
    if args.out.exists() and not args.overwrite:
        raise FileExistsError(f"{args.out} exists; pass --overwrite to replace it")
    calibration = None
    if args.calibration:
        _require_file(args.calibration, "calibration file", ".npy")
        calibration = _read_calibration(args.calibration, cfg.r)
    source = hls.TorchNetwork(_model(cfg, args, calibration), subnet_layers(cfg), cfg.to_dict())
    project = hls.export(source, args.out, accelerator=accelerator, board=board, calibration=calibration,
                         scheme=args.scheme, method=args.method, seed=args.seed, overwrite=args.overwrite,
                         progress=True, search_latency=searched)
    manifest = project.manifest
    totals = manifest["totals"]
    print(f"exported {manifest['model']['n_layers']} layers ({totals['macs']:,} MACs, {args.scheme} int8) "
          f"to {args.out}")
    if not args.weights:
        print(f"note: random weights (seed {args.seed}), BatchNorm statistics re-estimated on the calibration "
              "images; pass --weights to export trained ones")
    acc, engine = manifest["accelerator"], manifest["engine"]
    fit = engine["resources"]
    print(f"engine {acc['name']} (PP {acc['pp']}, ICP {acc['icp']}, OCP {acc['ocp']}, depthwise {acc['dw_pp']} pixels) "
          f"at {acc['clock_mhz']:g} MHz on {fit['board']} ({fit['part']}): {engine['on_chip_bytes'] / 1024:.0f} KiB "
          f"on chip; estimated per core DSP {fit['dsp']}, LUT {fit['lut']:,}, FF {fit['ff']:,}, "
          f"BRAM36 {fit['bram36']:g}, URAM {fit['uram']} (x{fit['cores']} cores: "
          + ", ".join(f"{k} {100 * v:.0f}%" for k, v in fit["utilization"].items()) + " of the board)")
    for figure in manifest_figures(manifest):  # the figures the manifest and the report show, printed alike
        print(f"latency: {figure.line()}")
    print(f"build: vitis_hls -f {args.out / 'run_hls.tcl'}  (or v++ -c --mode hls --config hls_config.cfg)")
    if not args.csim:
        return 0
    report = hls.csim(args.out, compiler=args.compiler)
    print(report.summary())
    for layer in report.failed_layers:
        print(f"  {layer.name}: {layer.mismatches} of {layer.elements} values differ (max {layer.max_abs_diff})")
    return 0 if report.passed else 1
