"""``hls.load``: open an export, validate its manifest and verify every file's sha256."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from accel_models.layer import Layer

from .errors import IntegrityError, ManifestError
from .fixedpoint import Requant
from .manifest import validate_manifest

__all__ = ["ExportedProject", "load", "verified"]

_CHUNK = 1 << 20


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True, eq=False)
class ExportedProject:
    """A verified export: its directory and its manifest (a plain dict)."""

    path: Path
    manifest: Mapping[str, Any]

    def layer(self, name: str) -> dict:
        """The manifest entry of a layer, by name or C identifier."""
        for entry in self.manifest["layers"]:
            if name in (entry["name"], entry["id"]):
                return entry
        names = ", ".join(e["name"] for e in self.manifest["layers"])
        raise KeyError(f"no layer {name!r} in the export; layers: {names}")

    def read(self, tensor: Mapping[str, Any]) -> np.ndarray:
        """The array of a tensor-file entry (``{"file", "dtype", "shape", ...}``)."""
        dtype = np.dtype(tensor["dtype"]).newbyteorder("<")
        data = np.fromfile(self.path / tensor["file"], dtype=dtype)
        return data.astype(dtype.newbyteorder("=")).reshape(tensor["shape"])

    def golden(self, name: str) -> np.ndarray:
        """Golden int8 output of layer ``name`` (or ``"input"``) for the testbench input, shape (C, H, W)."""
        shape = self.manifest["inputs"][0]["shape"] if name == "input" else self.layer(name)["out_shape"]
        bench = self.manifest["testbench"]
        rel = bench["input"] if name == "input" else bench["golden"][self.layer(name)["name"]]
        return self.read({"file": rel, "dtype": "int8", "shape": shape})

    def quantized_network(self):
        """Rebuild the :class:`hls.QuantizedNetwork` from the manifest and the weight files."""
        from .quantize import QuantizedLayer, QuantizedNetwork

        layers = []
        for entry in self.manifest["layers"]:
            layer = Layer.from_dict(entry["layer"])
            rq = dict(entry["requant"])
            input_shifts = tuple(rq.pop("input_shifts", ()))
            channels = layer.out_shape[0]
            if entry["requant_files"] is not None:
                mult, shift = (self.read(entry["requant_files"][k]) for k in ("mult", "shift"))
            else:
                mult, shift = np.full(channels, rq["mult"]), np.full(channels, rq["shift"])
            rq.update(mult=mult, shift=shift)
            weight = None if entry["weight"] is None else self.read(entry["weight"])
            bias = None if entry["bias"] is None else self.read(entry["bias"])
            layers.append(QuantizedLayer(layer, tuple(entry["inputs"]), tuple(entry["fix"]["inputs"]),
                                         entry["fix"]["output"], Requant(**rq), weight=weight, bias=bias,
                                         weight_fix=entry["fix"]["weight"], input_shifts=input_shifts))
        quant = self.manifest["quantization"]
        return QuantizedNetwork(tuple(layers), self.manifest["inputs"][0]["fix_position"], quant["scheme"],
                                quant["method"], quant["calibration"], self.manifest["model"]["description"])


def load(out_dir: str | os.PathLike) -> ExportedProject:
    """Open the export in ``out_dir``.

    Validates ``manifest.json`` against its schema and checks that every file
    it lists exists with the recorded size and sha256.

    Raises
    ------
    FileNotFoundError
        ``out_dir`` or its manifest does not exist.
    ManifestError
        The manifest is not valid JSON, not of a supported version, breaks
        the schema or contradicts itself.
    IntegrityError
        A listed file is missing, truncated, longer than recorded or altered.
    """
    root = Path(out_dir)
    if root.is_file():
        raise NotADirectoryError(f"{root} is a file; hls.load takes the export directory (the folder holding "
                                 "manifest.json)")
    if not root.is_dir():
        raise FileNotFoundError(f"export directory {root} does not exist")
    manifest_path = root / "manifest.json"
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{root} has no manifest.json: not an hls.export directory")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{manifest_path}: not valid JSON ({exc})") from None
    validate_manifest(manifest)
    return verified(root, manifest)


def verified(root: Path, manifest: Mapping[str, Any]) -> ExportedProject:
    """The export at ``root`` whose ``manifest`` is already schema-valid: every file and cross-reference checked."""
    listed = {}
    for entry in manifest["files"]:
        _verify(root, entry)
        listed[entry["path"]] = entry["sha256"]
    _cross_check(manifest, listed)
    _cross_check_code(root, manifest)
    return ExportedProject(root, manifest)


def _verify(root: Path, entry: Mapping[str, Any]) -> None:
    path = root / entry["path"]
    if not path.is_file():
        raise IntegrityError(f"{entry['path']}: listed in the manifest but missing from {root}")
    size = path.stat().st_size
    if size < entry["bytes"]:
        raise IntegrityError(f"{entry['path']}: truncated ({size} of {entry['bytes']} bytes)")
    if size > entry["bytes"]:
        raise IntegrityError(f"{entry['path']}: {size} bytes, the manifest records {entry['bytes']}")
    digest = _file_sha256(path)
    if digest != entry["sha256"]:
        raise IntegrityError(f"{entry['path']}: sha256 {digest} differs from the manifest's {entry['sha256']} "
                             "(the file was modified after export)")


def _cross_check(manifest: Mapping[str, Any], listed: Mapping[str, str]) -> None:
    def check_tensor(where: str, tensor: Mapping[str, Any]) -> None:
        if listed.get(tensor["file"]) != tensor["sha256"]:
            raise ManifestError(f"{where}: {tensor['file']} is not listed in 'files' with the same sha256")
        expected = int(np.prod(tensor["shape"])) * np.dtype(tensor["dtype"]).itemsize
        if expected != tensor["bytes"]:
            raise ManifestError(f"{where}: shape {tensor['shape']} of {tensor['dtype']} needs {expected} bytes, "
                                f"the manifest records {tensor['bytes']}")

    for entry in manifest["layers"]:
        for key in ("weight", "bias"):
            if entry[key] is not None:
                check_tensor(f"layer {entry['name']!r} {key}", entry[key])
        for key, tensor in (entry["requant_files"] or {}).items():
            check_tensor(f"layer {entry['name']!r} requant {key}", tensor)
    bench = manifest["testbench"]
    for rel in [bench["source"], bench["input"], *bench["golden"].values()]:
        if rel not in listed:
            raise ManifestError(f"testbench file {rel} is not listed in 'files'")
    names = [entry["name"] for entry in manifest["layers"]]
    if sorted(bench["golden"]) != sorted(names):
        raise ManifestError("the testbench's golden tensors do not cover exactly the manifest's layers")


def _cross_check_code(root: Path, manifest: Mapping[str, Any]) -> None:
    """The manifest's fields agree with the weights, the golden tensors and the compiled ``program.bin``.

    The manifest cannot hash itself, so an edit to it (a shape, a shift) is
    caught here: each layer's shapes must match its layer record, its weight
    and golden tensors, and the descriptor and requantization tables the
    engine reads from ``program.bin`` (sha256-checked with the other files).
    """
    sizes = {entry["path"]: entry["bytes"] for entry in manifest["files"]}
    golden = manifest["testbench"]["golden"]
    for entry in manifest["layers"]:
        where = f"manifest layer {entry['name']!r}"
        layer = entry["layer"]
        for field in ("in_shape", "out_shape"):
            if field in entry and list(entry[field]) != list(layer[field]):
                raise ManifestError(f"{where}: {field} {entry[field]} contradicts its layer record {layer[field]}")
        out_elements = int(np.prod(layer["out_shape"]))
        if sizes.get(golden[entry["name"]]) != out_elements:
            raise ManifestError(f"{where}: out_shape {layer['out_shape']} ({out_elements} values) does not match "
                                f"its golden tensor {golden[entry['name']]} ({sizes.get(golden[entry['name']])} bytes)")
        weight = entry.get("weight")
        if weight is not None and int(weight["shape"][0]) != int(layer["out_shape"][0]):
            raise ManifestError(f"{where}: weight shape {weight['shape']} has {weight['shape'][0]} output channels, "
                                f"out_shape {layer['out_shape']} has {layer['out_shape'][0]}")
    if (root / "program.bin").is_file():
        _cross_check_program(root, manifest)


def _cross_check_program(root: Path, manifest: Mapping[str, Any]) -> None:
    from .program import FIELDS, N_FIELDS, PROGRAM_HEADER

    words = np.fromfile(root / "program.bin", dtype="<i4")
    if words.size < PROGRAM_HEADER or int(words[2]) != len(manifest["layers"]):
        raise ManifestError(f"program.bin holds {int(words[2]) if words.size > 2 else 0} layer descriptors, the "
                            f"manifest lists {len(manifest['layers'])} layers")
    column = {name: i for i, name in enumerate(FIELDS)}
    for i, entry in enumerate(manifest["layers"]):
        where = f"manifest layer {entry['name']!r}"
        start = PROGRAM_HEADER + i * N_FIELDS
        descriptor = words[start:start + N_FIELDS]
        fields = {name: int(descriptor[j]) for name, j in column.items()}
        recorded = (entry.get("engine") or {}).get("descriptor")
        if recorded is not None and recorded != fields:
            changed = sorted(k for k in fields if recorded.get(k) != fields[k])
            raise ManifestError(f"{where}: engine descriptor field(s) {changed} differ from program.bin")
        cout, ho, wo = (int(v) for v in entry["layer"]["out_shape"])
        if (fields["cout"], fields["ho"], fields["wo"]) != (cout, ho, wo):
            raise ManifestError(f"{where}: out_shape {[cout, ho, wo]} differs from the compiled program's "
                                f"{[fields['cout'], fields['ho'], fields['wo']]}")
        rq, files = entry.get("requant") or {}, entry.get("requant_files")
        for kind in ("mult", "shift", "lo", "hi"):
            if files is None and kind in rq and fields[kind] != int(rq[kind]):
                raise ManifestError(f"{where}: requant {kind} {rq[kind]} differs from the {fields[kind]} compiled "
                                    "into program.bin; re-export instead of editing the manifest")
        if files is not None and fields["per_channel"]:
            table = words[fields["prm"]:fields["prm"] + 3 * cout].reshape(cout, 3)
            for kind, col in (("mult", 1), ("shift", 2)):
                stored = np.fromfile(root / files[kind]["file"], dtype="<i4")
                if not np.array_equal(stored, table[:, col]):
                    raise ManifestError(f"{where}: {files[kind]['file']} differs from the per-channel {kind} "
                                        "table compiled into program.bin")
