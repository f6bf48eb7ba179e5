"""``hls.export``: a quantized network as an HLS project of the searched engine, and its program.

The export directory::

    manifest.json          versioned description of everything below (sha256 of every file)
    engine.h, program.h    the engine (package data, copied): PP x ICP x OCP array, depthwise engine,
                           element-wise unit, on-chip buffers; the program format
    engine_config.h        the engine's shape from the accelerator (generated)
    top.cpp                the synthesis top ofa_engine(act, wgt, prog): m_axi + s_axilite
    program.bin            int32 program: one descriptor per layer + per-channel parameter tables
    weights.bin            int8 weights packed in the order the array reads them
    program_sizes.h        buffer sizes of this network (co-simulation depths, testbench)
    tb.cpp, testbench.h,   testbench calling ofa_engine() as the PYNQ driver does; every layer
    testbench_layers.h     against its golden tensor, and the engine's cycles per layer
    golden/input.bin       int8 test input (CHW); golden/<id>.bin int8 output of every layer (CHW)
    weights/<id>.w.bin     int8 weights OIHW / OI (raw little-endian), <id>.b.bin int32 biases,
                           <id>.mult.bin / <id>.shift.bin int32 (per-channel scheme only)
    csim.sh                the g++ commands hls.csim runs
    run_hls.tcl            vitis_hls -f run_hls.tcl: C-sim, C-synthesis, co-simulation, IP export
    hls_config.cfg         the same for the 2023+ flow (v++ -c --mode hls --config hls_config.cfg)
    pynq_driver.py         the board side: Overlay, allocate, start, wait

Everything is checked before anything is written (layer support, the tiling on
the accelerator's buffers, the engine's resources on the board, an existing directory),
then written into a temporary sibling directory that is renamed into place, so
a failed export leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from accel_models import Accelerator
from accel_models.atomic import atomic_directory, check_replaceable
from accel_models.boards import Board, get_board

from .build import build_files
from .csim import DEFAULT_FLAGS, csim_script
from .engine import EngineConfig, EngineResourceError, check_board, config_header
from .fixedpoint import HSIG_MULT, HSIG_SHIFT, INTEGER_IMPL, MULT_BITS
from .graph import c_identifier
from .hints import accelerator_info, as_accelerator, layer_hints
from .latency_figures import LatencyFigure, engine_figure, search_figure
from .manifest import FORMAT, SCHEMA_VERSION, validate_manifest
from .network import FloatNetwork, TorchNetwork, float_network, resolve_source
from .program import Program, build_program, engine_cycles, needs_multipliers
from .quantize import QuantizedNetwork, quantize
from .targets import DPU, TargetLimits, kernel_name, require_supported

__all__ = ["DEFAULT_ACCELERATOR", "DEFAULT_BOARD", "export", "generator_version"]

#: The engine exported when neither the call nor the design names an accelerator: the board PYNQ-DPU
#: targets first, with the largest PG338 array whose HLS engine fits it (B512: an engine at one clock
#: needs about twice a DPU's DSPs, so PYNQ-DPU's B1600 for this board does not fit as an engine).
DEFAULT_BOARD = "ultra96v2"
DEFAULT_ACCELERATOR = "B512"
_ENGINE_FILES = ("engine.h", "program.h", "top.cpp", "tb.cpp", "testbench.h")


def generator_version() -> str:
    """Version of the installed ``ofa-hw`` distribution (``"unknown"`` when not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ofa-hw")
    except PackageNotFoundError:
        return "unknown"


def export(source: Any, out_dir: str | os.PathLike, accelerator: Any = None, calibration: np.ndarray | None = None,
           *, board: str | Board | None = None, scheme: str = "pow2", method: str = "max", n_calibration: int = 16,
           seed: int = 0, test_input: np.ndarray | None = None, overwrite: bool = False,
           target: TargetLimits = DPU, progress: bool = False, search_latency: LatencyFigure | None = None):
    """Quantize ``source`` and write the HLS project of its engine to ``out_dir``.

    Parameters
    ----------
    source : NetworkSource, (torch_model, layers) pair, design, FloatNetwork or QuantizedNetwork
        See :class:`hls.network.NetworkSource`.  A design's ``.accelerator``
        is used when ``accelerator`` is not given.
    out_dir : path
        Must not exist unless ``overwrite=True``.
    accelerator : Accelerator (or an object with ``pp``, ``icp``, ``ocp``, ``clock_mhz``), optional
        The engine's shape: parallelism, buffers, clock, DDR bandwidth (default
        :data:`DEFAULT_ACCELERATOR` at 200 MHz with the board's bandwidth).
    calibration : ndarray, optional
        Float (N, C, H, W) calibration inputs (default: ``n_calibration``
        standard-normal images from ``seed``).
    board : str or Board, optional
        The board the engine is built for (default :data:`DEFAULT_BOARD`): its
        part goes into the build scripts, and the engine's structural resource
        estimate (:func:`hls.engine.check_board`: DSP, LUT, FF, BRAM / UltraRAM,
        times the accelerator's cores) is checked against it before anything
        is written.
    scheme, method : str
        See :func:`hls.quantize`.
    test_input : ndarray, optional
        Float (1, C, H, W) image of the testbench (default: standard normal from ``seed + 1``).
    overwrite : bool
        Replace an existing ``out_dir`` (atomically) instead of raising ``FileExistsError``.
    target : TargetLimits
        Layers it cannot run are reported, all at once, before anything is written.
    progress : bool
        Show a progress bar while writing the weight files.
    search_latency : LatencyFigure, optional
        The search's prediction for this design (:func:`hls.latency_figures.search_figure`), recorded in the
        manifest beside the engine's count; taken from ``source`` when it is a search's ``Design``.

    Returns
    -------
    hls.loader.ExportedProject
        The export, loaded back and verified.
    """
    from .loader import verified

    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise FileExistsError(f"export directory {out_dir} exists; pass overwrite=True to replace it")
    replaceable = _replaceable_export if overwrite else None
    check_replaceable(out_dir, replaceable=replaceable, what="export directory")  # before the slow steps
    board = get_board(board or DEFAULT_BOARD) if not isinstance(board, Board) else board
    accelerator = as_accelerator(accelerator)  # validated before the slow steps
    if search_latency is None:
        search_latency = search_figure(source)
    elif not isinstance(search_latency, LatencyFigure):
        raise TypeError(f"search_latency must be an hls.latency_figures.LatencyFigure, got "
                        f"{type(search_latency).__name__}")
    network, accelerator = _resolved(source, accelerator, target)
    accelerator = as_accelerator(accelerator)
    if accelerator is None:
        accelerator = Accelerator.from_dpu(DEFAULT_ACCELERATOR, clock_mhz=200.0, ddr_bw_gbps=board.ddr_bw_gbps)
    _check_fit_before_quantizing(network, accelerator, board, scheme)
    qnet = _quantized(network, calibration, scheme, method, n_calibration, seed)
    engine = EngineConfig.from_accelerator(accelerator, multipliers=needs_multipliers(qnet))
    fit = check_board(engine, board, accelerator.cores)  # EngineResourceError before anything is written
    program = build_program(qnet, engine)  # UnsupportedLayerError (untileable layers) likewise
    if test_input is None:
        test_input = np.random.default_rng(seed + 1).standard_normal((1, *qnet.input_shape))
    test_input = np.asarray(test_input, dtype=np.float64)
    if not np.all(np.isfinite(test_input)):
        raise ValueError("test_input must be finite numbers; it holds NaN or infinity")
    if test_input.shape != (1, *qnet.input_shape):
        shape = ", ".join(map(str, qnet.input_shape))
        raise ValueError(f"test_input must have shape (1, {shape}), got {test_input.shape}")
    with atomic_directory(out_dir, replaceable=replaceable, what="export directory") as tmp:
        manifest = _Writer(tmp, qnet, accelerator, board, fit, program, target, test_input, progress,
                           search_latency).write()
    return verified(out_dir, manifest)  # the manifest was validated before it was written


def _resolved(source, accelerator, target) -> tuple[QuantizedNetwork | FloatNetwork | TorchNetwork, Any]:
    """The network of ``source`` (not yet extracted or quantized) and the accelerator to build; its layers checked."""
    if isinstance(source, QuantizedNetwork):
        require_supported([q.layer for q in source.layers], target)
        return source, accelerator
    if isinstance(source, FloatNetwork):
        require_supported(source.layers, target)
        return source, accelerator
    model, layers, description, design_accelerator = resolve_source(source)
    require_supported(layers, target)  # before the (slow) weight extraction and anything written
    return TorchNetwork(model, layers, description), design_accelerator if accelerator is None else accelerator


def _check_fit_before_quantizing(network, accelerator: Accelerator, board: Board, scheme: str) -> None:
    """Refuse an engine ``board`` cannot hold before the (slow) weight extraction and quantization.

    Whether the engine has requantization multipliers is known only once the network is quantized
    (:func:`~hls.program.needs_multipliers`); the pow2 scheme never needs them, the per-channel scheme
    does unless every scale happens to be a power of two.  So the refusal here is the one of the engine
    the scheme builds, raised only when even the engine without multipliers cannot fit (a certain refusal).
    """
    if isinstance(network, QuantizedNetwork):
        check_board(EngineConfig.from_accelerator(accelerator, multipliers=needs_multipliers(network)), board,
                    accelerator.cores)
        return
    smallest = EngineConfig.from_accelerator(accelerator, multipliers=False)
    try:
        check_board(smallest, board, accelerator.cores)
    except EngineResourceError:
        if scheme != "pow2":
            check_board(EngineConfig.from_accelerator(accelerator, multipliers=True), board, accelerator.cores)
        raise


def _quantized(network, calibration, scheme, method, n_calibration, seed) -> QuantizedNetwork:
    if isinstance(network, QuantizedNetwork):
        return network
    fnet = network if isinstance(network, FloatNetwork) else float_network(network)
    return quantize(fnet, calibration, scheme=scheme, method=method, n_calibration=n_calibration, seed=seed)


def _replaceable_export(path: Path) -> str | None:
    """None when ``path`` holds an export of ours (its manifest), else why it must not be replaced."""
    manifest = path / "manifest.json"
    if not manifest.is_file():
        return "it holds no manifest.json, so it is not an hls.export directory (only an earlier export is replaced)"
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return f"its manifest.json cannot be read ({exc})"
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return f"its manifest.json is not an ofa-hw HLS manifest (format {FORMAT!r})"
    return None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Writer:
    """Writes the files of one export into ``root`` and collects their manifest entries."""

    def __init__(self, root: Path, qnet: QuantizedNetwork, accelerator: Accelerator, board: Board, fit: dict,
                 program: Program, target: TargetLimits, test_input: np.ndarray, progress: bool,
                 search_latency: LatencyFigure | None):
        self.root, self.qnet, self.target, self.board, self.fit = root, qnet, target, board, fit
        self.search_latency = search_latency
        self.accelerator, self.program = accelerator, program
        self.acc_info = accelerator_info(accelerator)
        self.test_input, self.progress = test_input, progress
        self.files: list[dict] = []
        names = [q.name for q in qnet.layers]
        self.idents = [c_identifier(n) for n in names]
        clash = sorted({i for i in self.idents if self.idents.count(i) > 1})
        if clash:
            raise ValueError(f"layer names map to the same C identifier(s) {clash}; rename the layers")
        self.hints = layer_hints([q.layer for q in qnet.layers], accelerator)
        self.cycles = engine_cycles(program)
        description = qnet.description
        self.description = (", ".join(f"{k}={v}" for k, v in description.items() if not isinstance(v, (list, dict)))
                            or "a quantized network")
        self.description += f" ({len(qnet.layers)} layers, {qnet.scheme} int8)"

    # ---------------------------------------------------------------- files
    def _put(self, rel: str, data: bytes | str, role: str) -> dict:
        if isinstance(data, str):
            data = data.encode()
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        entry = {"path": rel, "role": role, "sha256": _sha256(data), "bytes": len(data)}
        self.files.append(entry)
        return entry

    def _tensor(self, rel: str, array: np.ndarray, dtype: str, layout: str, role: str, **extra) -> dict:
        data = np.ascontiguousarray(array, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()
        entry = self._put(rel, data, role)
        return {"file": rel, "dtype": dtype, "shape": list(array.shape), "layout": layout, "sha256": entry["sha256"],
                "bytes": entry["bytes"], **extra}

    def write(self) -> dict:
        from tqdm.auto import tqdm

        library = resources.files("hls") / "templates" / "engine"
        for name in _ENGINE_FILES:
            self._put(name, (library / name).read_bytes(), "testbench" if name.startswith("t") and name != "top.cpp"
                      else "source")
        self._put("engine_config.h", config_header(self.program.config), "header")
        self._put("program.bin", self.program.words.astype("<i4").tobytes(), "program")
        self._put("weights.bin", self.program.weights.tobytes(), "weights")
        layers = [self._layer_entry(index) for index in tqdm(range(len(self.qnet.layers)), desc="export",
                                                              unit="layer", disable=not self.progress)]
        golden = self._golden()
        self._put("program_sizes.h", self._sizes_header(), "header")
        self._put("testbench_layers.h", self._testbench_layers(golden), "testbench")
        self._put("csim.sh", csim_script(DEFAULT_FLAGS), "script")
        for rel, (text, role) in build_files(self.board, self.accelerator, self.description).items():
            self._put(rel, text, role)
        manifest = self._manifest(layers, golden)
        validate_manifest(manifest)
        (self.root / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
        return manifest

    def _sizes_header(self) -> str:
        p = self.program
        c, h, w = p.input_shape
        return ("// Buffer sizes of this network's program (generated by ofa-hw). Do not edit: re-export.\n"
                "#ifndef OFA_HW_PROGRAM_SIZES_H\n#define OFA_HW_PROGRAM_SIZES_H\n\n"
                f"#define ACT_BYTES {p.act_bytes}\n#define WGT_BYTES {p.weights.size}\n"
                f"#define PROG_WORDS {p.words.size}\n#define N_LAYERS {len(p.layers)}\n"
                f"#define INPUT_OFFSET {p.input_offset}\n#define IN_C {c}\n#define IN_H {h}\n#define IN_W {w}\n"
                "\n#endif\n")

    def _testbench_layers(self, golden: dict[str, str]) -> str:
        names = ",\n    ".join(f'"{q.name}"' for q in self.qnet.layers)
        files = ",\n    ".join(f'"{golden[q.name]}"' for q in self.qnet.layers)
        return ("// Layer names and golden tensors of the testbench (generated by ofa-hw).\n"
                "#ifndef OFA_HW_TESTBENCH_LAYERS_H\n#define OFA_HW_TESTBENCH_LAYERS_H\n\n"
                '#define INPUT_FILE "golden/input.bin"\n'
                f"static const char* const LAYER_NAMES[N_LAYERS] = {{\n    {names}\n}};\n"
                f"static const char* const GOLDEN_FILES[N_LAYERS] = {{\n    {files}\n}};\n\n#endif\n")

    def _layer_entry(self, index: int) -> dict:
        q, ident = self.qnet.layers[index], self.idents[index]
        layer = q.layer
        lp = self.program.layers[index]
        weight = bias = requant_files = None
        if q.weight is not None:
            w, b = q.params()
            weight = self._tensor(f"weights/{ident}.w.bin", w, "int8", "OIHW" if w.ndim == 4 else "OI", "weight")
            bias = self._tensor(f"weights/{ident}.b.bin", b, "int32", "C", "bias")
        if not q.requant.per_tensor:
            requant_files = {
                "mult": self._tensor(f"weights/{ident}.mult.bin", q.requant.mult, "int32", "C", "requant"),
                "shift": self._tensor(f"weights/{ident}.shift.bin", q.requant.shift, "int32", "C", "requant"),
            }
        requant = q.requant.to_dict()
        if q.input_shifts:
            requant["input_shifts"] = list(q.input_shifts)
        hints = self.hints[index]
        cycles = self.cycles[index]
        return {
            "index": index, "id": ident, "name": q.name, "op": layer.op, "kernel_function": kernel_name(layer),
            "inputs": list(q.inputs), "in_shape": list(layer.in_shape), "out_shape": list(layer.out_shape),
            "layout": "CHW", "kernel": layer.kernel, "stride": layer.stride, "padding": layer.pad,
            "groups": layer.groups,
            "activation": {"name": layer.activation, "integer_impl": INTEGER_IMPL[layer.activation]},
            "bits": {"weight": 8 if weight else None, "activation": 8, "bias": 32 if bias else None,
                     "accumulator": 32},
            "fix": {"inputs": list(q.input_fix), "output": q.output_fix, "weight": q.weight_fix},
            "requant": requant, "weight": weight, "bias": bias, "requant_files": requant_files,
            "parallelism": hints["parallelism"], "macs": hints["macs"],
            "cycles": {"engine": cycles["cycles"], "compute": cycles["compute_cycles"],
                       "transfer": cycles["transfer_cycles"], "ideal": hints["cycles"]["ideal"]},
            "ddr_bytes": cycles["ddr_bytes"],
            "engine": {"op": lp.engine_op, "descriptor": dict(lp.fields), "weight_bytes": lp.weight_bytes,
                       "param_words": lp.param_words},
            "layer": layer.to_dict(),
        }

    def _golden(self) -> dict[str, str]:
        x = self.qnet.quantize_input(self.test_input)
        tensors = self.qnet.run(x, keep_all=True)
        self._tensor("golden/input.bin", x[0], "int8", "CHW", "golden")
        golden = {}
        for q, ident in zip(self.qnet.layers, self.idents, strict=True):
            rel = f"golden/{ident}.bin"
            self._tensor(rel, tensors[q.name][0], "int8", "CHW", "golden")
            golden[q.name] = rel
        return golden

    def _manifest(self, layers: list[dict], golden: dict[str, str]) -> dict:
        qnet, last = self.qnet, self.qnet.layers[-1]
        engine_total = sum(entry["cycles"]["engine"] for entry in layers)
        clock_mhz = self.accelerator.clock_mhz
        return {
            "format": FORMAT,
            "schema_version": SCHEMA_VERSION,
            "generator": {"name": "ofa-hw hls", "version": generator_version()},
            "model": {"description": dict(qnet.description), "n_layers": len(layers),
                      "macs": sum(q.layer.macs for q in qnet.layers),
                      "params": sum(q.layer.params for q in qnet.layers)},
            "quantization": {
                "scheme": qnet.scheme, "method": qnet.method, "weight_bits": 8, "activation_bits": 8,
                "bias_bits": 32, "accumulator_bits": 32, "multiplier_bits": MULT_BITS, "rounding": "half_up",
                "hsigmoid_multiplier": HSIG_MULT, "hsigmoid_shift": HSIG_SHIFT,
                "requant_formula": ("rshift_round(v, s) = (v + 2^(s-1)) >> s (arithmetic) for s > 0, v * 2^-s for "
                                    "s <= 0; real value of an int8 tensor q at fix position f is q * 2^-f"),
                "calibration": dict(qnet.calibration),
            },
            "target": {"name": self.target.name, "kernel": list(self.target.kernel),
                       "stride": list(self.target.stride), "ops": list(self.target.ops)},
            "accelerator": self.acc_info,
            "engine": {"top": "ofa_engine", "config": dict(vars(self.program.config)),
                       "on_chip_bytes": self.program.config.on_chip_bytes,
                       "resources": self.fit, "program": self.program.to_dict()},
            "inputs": [{"name": "input", "id": "input", "shape": list(qnet.input_shape), "layout": "CHW",
                        "dtype": "int8", "fix_position": qnet.input_fix}],
            "outputs": [{"name": last.name, "id": self.idents[-1], "shape": list(last.layer.out_shape),
                         "layout": "CHW", "dtype": "int8", "fix_position": last.output_fix}],
            "layers": layers,
            "testbench": {"source": "tb.cpp", "input": "golden/input.bin", "golden": golden},
            "totals": {"macs": sum(entry["macs"] for entry in layers), "engine_cycles": engine_total,
                       "ideal_cycles": sum(entry["cycles"]["ideal"] for entry in layers),
                       "ddr_bytes": sum(entry["ddr_bytes"] for entry in layers),
                       "latency_ms": engine_total / (clock_mhz * 1e3), "clock_mhz": clock_mhz,
                       "latency_source": "engine cycle count (C-simulation counter, hls.program.engine_cycles)",
                       "latencies": [f.to_dict() for f in (engine_figure(engine_total, clock_mhz), self.search_latency)
                                     if f is not None]},
            "files": sorted(self.files, key=lambda f: f["path"]),
        }
