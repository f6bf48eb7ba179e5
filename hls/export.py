"""``hls.export``: a quantized network as files a hardware engineer builds.

The export directory::

    manifest.json          versioned description of everything below (sha256 of every file)
    ofa_hw/*.h             the HLS kernel library (package data, copied)
    params.h               per-layer requantization parameters
    top.h, top.cpp         Weights / Activations structs and top_layers(): one kernel call per layer
    weights_rom.cpp        weights from the headers + the synthesis top function top()
    tb.cpp                 testbench: golden input, every layer against its golden tensor
    weights/<id>.w.bin     int8 weights (raw little-endian), <id>.b.bin int32 biases,
                           <id>.mult.bin / <id>.shift.bin int32 (per-channel scheme only)
    weights/<id>.h         the same weights and biases as C arrays
    golden/input.bin       int8 test input; golden/<id>.bin int8 output of every layer
    csim.sh                the g++ commands hls.csim runs
    hls4ml_config.yml      optional: per-layer ap_fixed precision and ReuseFactor

Everything is checked before anything is written (layer support, existing
directory), then written into a temporary sibling directory that is renamed
into place, so a failed export leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from accel_models.atomic import atomic_directory, check_replaceable

from .codegen import LayerCode, params_header, rom_source, testbench_source, top_header, top_source, weight_header
from .csim import DEFAULT_FLAGS, csim_script
from .fixedpoint import HSIG_MULT, HSIG_SHIFT, INTEGER_IMPL, MULT_BITS
from .graph import c_identifier
from .hints import accelerator_info, as_accelerator, layer_hints
from .manifest import FORMAT, SCHEMA_VERSION, validate_manifest
from .network import FloatNetwork, TorchNetwork, float_network, resolve_source
from .quantize import QuantizedNetwork, quantize
from .targets import DPU, TargetLimits, kernel_name, require_supported

__all__ = ["export", "generator_version"]


def generator_version() -> str:
    """Version of the installed ``ofa-hw`` distribution (``"unknown"`` when not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ofa-hw")
    except PackageNotFoundError:
        return "unknown"


def export(source: Any, out_dir: str | os.PathLike, accelerator: Any = None, calibration: np.ndarray | None = None,
           *, scheme: str = "pow2", method: str = "max", n_calibration: int = 16, seed: int = 0,
           test_input: np.ndarray | None = None, overwrite: bool = False, target: TargetLimits = DPU,
           hls4ml: bool = False, progress: bool = False):
    """Quantize ``source`` and write an HLS-ready project to ``out_dir``.

    Parameters
    ----------
    source : NetworkSource, (torch_model, layers) pair, design, FloatNetwork or QuantizedNetwork
        See :class:`hls.network.NetworkSource`.  A design's ``.accelerator``
        is used when ``accelerator`` is not given.
    out_dir : path
        Must not exist unless ``overwrite=True``.
    accelerator : object with ``pp``, ``icp``, ``ocp``, ``clock_mhz``, optional
        Source of the parallelism hints and DPU cycle estimates.
    calibration : ndarray, optional
        Float (N, C, H, W) calibration inputs (default: ``n_calibration``
        standard-normal images from ``seed``).
    scheme, method : str
        See :func:`hls.quantize`.
    test_input : ndarray, optional
        Float (1, C, H, W) image of the testbench (default: standard normal from ``seed + 1``).
    overwrite : bool
        Replace an existing ``out_dir`` (atomically) instead of raising ``FileExistsError``.
    target : TargetLimits
        Layers it cannot run are reported, all at once, before anything is written.
    hls4ml : bool
        Also write ``hls4ml_config.yml``.
    progress : bool
        Show a progress bar while writing the weight files.

    Returns
    -------
    hls.loader.ExportedProject
        The export, loaded back and verified.
    """
    from .loader import load

    out_dir = Path(out_dir)
    if out_dir.exists() and not overwrite:
        raise FileExistsError(f"export directory {out_dir} exists; pass overwrite=True to replace it")
    replaceable = _replaceable_export if overwrite else None
    check_replaceable(out_dir, replaceable=replaceable, what="export directory")  # before the slow steps
    accelerator = as_accelerator(accelerator)  # validated before the slow steps
    qnet, accelerator = _quantized(source, accelerator, target, calibration, scheme, method, n_calibration, seed)
    accelerator = as_accelerator(accelerator)
    if test_input is None:
        test_input = np.random.default_rng(seed + 1).standard_normal((1, *qnet.input_shape))
    test_input = np.asarray(test_input, dtype=np.float64)
    if test_input.shape != (1, *qnet.input_shape):
        raise ValueError(f"test_input must have shape (1, {', '.join(map(str, qnet.input_shape))}), got {test_input.shape}")
    with atomic_directory(out_dir, replaceable=replaceable, what="export directory") as tmp:
        _Writer(tmp, qnet, accelerator, target, test_input, progress).write(hls4ml)
    return load(out_dir)


def _quantized(source, accelerator, target, calibration, scheme, method, n_calibration, seed):
    if isinstance(source, QuantizedNetwork):
        require_supported([q.layer for q in source.layers], target)
        return source, accelerator
    if isinstance(source, FloatNetwork):
        require_supported(source.layers, target)
        fnet = source
    else:
        model, layers, description, design_accelerator = resolve_source(source)
        require_supported(layers, target)  # before the (slow) weight extraction and anything written
        fnet = float_network(TorchNetwork(model, layers, description))
        accelerator = design_accelerator if accelerator is None else accelerator
    return quantize(fnet, calibration, scheme=scheme, method=method, n_calibration=n_calibration, seed=seed), accelerator


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

    def __init__(self, root: Path, qnet: QuantizedNetwork, accelerator, target: TargetLimits,
                 test_input: np.ndarray, progress: bool):
        self.root, self.qnet, self.target = root, qnet, target
        self.acc_info = accelerator_info(accelerator)
        self.test_input, self.progress = test_input, progress
        self.files: list[dict] = []
        names = [q.name for q in qnet.layers]
        idents = [c_identifier(n) for n in names]
        clash = sorted({i for i in idents if idents.count(i) > 1})
        if clash:
            raise ValueError(f"layer names map to the same C identifier(s) {clash}; rename the layers")
        self.hints = layer_hints([q.layer for q in qnet.layers], accelerator)
        self.codes = [LayerCode(q, ident, h["parallelism"]["pe"], h["parallelism"]["simd"])
                      for q, ident, h in zip(qnet.layers, idents, self.hints)]
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

    def write(self, hls4ml: bool) -> None:
        from tqdm.auto import tqdm

        library = resources.files("hls") / "templates" / "ofa_hw"
        for item in sorted(library.iterdir(), key=lambda p: p.name):
            if item.name.endswith(".h"):
                self._put(f"ofa_hw/{item.name}", item.read_bytes(), "kernel")
        layers, weight_files = [], {}
        for index, code in enumerate(tqdm(self.codes, desc="export", unit="layer", disable=not self.progress)):
            entry = self._layer_entry(index, code)
            if entry["weight"] is not None:
                weight_files[code.q.name] = (entry["weight"]["file"], entry["bias"]["file"])
            layers.append(entry)
        golden = self._golden()
        self._put("params.h", params_header(self.codes, self.description), "header")
        self._put("top.h", top_header(self.qnet, self.codes, self.description), "header")
        self._put("top.cpp", top_source(self.codes, self.description), "source")
        self._put("weights_rom.cpp", rom_source(self.codes, self.description), "source")
        self._put("tb.cpp", testbench_source(self.codes, golden, weight_files, "golden/input.bin", self.description),
                  "testbench")
        self._put("csim.sh", csim_script(DEFAULT_FLAGS), "script")
        if hls4ml:
            from .hls4ml_config import hls4ml_config_yaml

            self._put("hls4ml_config.yml", hls4ml_config_yaml(self.qnet, self.codes), "config")
        manifest = self._manifest(layers, golden)
        validate_manifest(manifest)
        (self.root / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")

    def _layer_entry(self, index: int, code: LayerCode) -> dict:
        q, layer, ident = code.q, code.q.layer, code.ident
        weight = bias = requant_files = None
        if q.weight is not None:
            layout = "OIHW" if q.weight.ndim == 4 else "OI"
            header = f"weights/{ident}.h"
            weight = self._tensor(f"weights/{ident}.w.bin", q.weight, "int8", layout, "weight", header=header,
                                  symbol=f"{ident}_w")
            bias = self._tensor(f"weights/{ident}.b.bin", q.bias, "int32", "C", "bias", header=header,
                                symbol=f"{ident}_b")
            self._put(header, weight_header(code, self.description), "header")
        if not q.requant.per_tensor:
            requant_files = {
                "mult": self._tensor(f"weights/{ident}.mult.bin", q.requant.mult, "int32", "C", "requant",
                                     header="params.h", symbol=f"{ident}_mult"),
                "shift": self._tensor(f"weights/{ident}.shift.bin", q.requant.shift, "int32", "C", "requant",
                                      header="params.h", symbol=f"{ident}_shift"),
            }
        requant = q.requant.to_dict()
        if q.input_shifts:
            requant["input_shifts"] = list(q.input_shifts)
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
            **self.hints[index],
            "layer": layer.to_dict(),
        }

    def _golden(self) -> dict[str, str]:
        x = self.qnet.quantize_input(self.test_input)
        tensors = self.qnet.run(x, keep_all=True)
        self._tensor("golden/input.bin", x[0], "int8", "CHW", "golden")
        golden = {}
        for code in self.codes:
            rel = f"golden/{code.ident}.bin"
            self._tensor(rel, tensors[code.q.name][0], "int8", "CHW", "golden")
            golden[code.q.name] = rel
        return golden

    def _manifest(self, layers: list[dict], golden: dict[str, str]) -> dict:
        qnet, last = self.qnet, self.codes[-1]
        kernel_cycles = sum(entry["cycles"]["kernel"] for entry in layers)
        dpu_cycles = None if self.acc_info is None else sum(entry["cycles"]["dpu"] for entry in layers)
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
            "inputs": [{"name": "input", "id": "input", "shape": list(qnet.input_shape), "layout": "CHW",
                        "dtype": "int8", "fix_position": qnet.input_fix}],
            "outputs": [{"name": last.q.name, "id": last.ident, "shape": list(last.q.layer.out_shape),
                         "layout": "CHW", "dtype": "int8", "fix_position": last.q.output_fix}],
            "layers": layers,
            "testbench": {"source": "tb.cpp", "input": "golden/input.bin", "golden": golden},
            "totals": {"macs": sum(entry["macs"] for entry in layers), "kernel_cycles": kernel_cycles,
                       "dpu_cycles": dpu_cycles,
                       "dpu_latency_ms": None if dpu_cycles is None else dpu_cycles / (self.acc_info["clock_mhz"] * 1e3)},
            "files": sorted(self.files, key=lambda f: f["path"]),
        }
