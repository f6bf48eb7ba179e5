"""The versioned ``manifest.json`` of an export: its JSON schema and validation.

Version ``2.1`` (the engine and its program; ``1.x`` described per-layer
kernels; ``2.1`` adds ``totals.latencies``, the labelled latency figures of
:mod:`hls.latency_figures`).  Readers accept every ``2.x`` (minor versions only add optional
fields) and refuse other major versions.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from .errors import ManifestError

__all__ = ["FORMAT", "SCHEMA_VERSION", "manifest_schema", "parse_version", "validate_manifest"]

FORMAT = "ofa-hw-hls"
SCHEMA_VERSION = "2.1"

_INT = {"type": "integer"}
_INT_OR_NULL = {"type": ["integer", "null"]}
_SHAPE = {"type": "array", "items": {"type": "integer", "minimum": 1}, "minItems": 1}
_PATH = {"type": "string", "pattern": r"^(?!/)(?!.*\.\.)[A-Za-z0-9_./-]+$"}
_SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_DTYPE = {"enum": ["int8", "int32"]}


def _object(properties: dict, required: list[str] | None = None, extra: bool = False) -> dict:
    return {"type": "object", "properties": properties, "required": list(properties) if required is None else required,
            "additionalProperties": extra}


_TENSOR_FILE = _object({
    "file": _PATH, "dtype": _DTYPE, "shape": _SHAPE, "layout": {"type": "string"}, "sha256": _SHA256,
    "bytes": {"type": "integer", "minimum": 0},
}, required=["file", "dtype", "shape", "layout", "sha256", "bytes"])
_TENSOR_FILE_OR_NULL = {"oneOf": [{"type": "null"}, _TENSOR_FILE]}
_IO_TENSOR = _object({
    "name": {"type": "string"}, "id": {"type": "string"}, "shape": _SHAPE, "layout": {"const": "CHW"},
    "dtype": {"const": "int8"}, "fix_position": _INT,
})
_REQUANT = _object({
    "activation": {"enum": ["none", "relu", "relu6", "h_swish", "h_sigmoid"]},
    "lo": _INT, "hi": _INT,
    "mult": {"oneOf": [_INT, {"const": "per_channel"}]},
    "shift": {"oneOf": [_INT, {"const": "per_channel"}]},
    "fi": _INT, "t_lo": _INT, "t_hi": _INT, "post_shift": _INT,
    "input_shifts": {"type": "array", "items": {"type": "integer", "minimum": 0}},
}, required=["activation", "lo", "hi", "mult", "shift"])
_LAYER = _object({
    "index": {"type": "integer", "minimum": 0},
    "id": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
    "name": {"type": "string"},
    "op": {"type": "string"},
    "kernel_function": {"enum": ["conv2d", "pwconv", "dwconv", "fc", "avgpool_global", "se_scale", "add"]},
    "inputs": {"type": "array", "items": {"type": "string"}, "minItems": 1},
    "in_shape": _SHAPE, "out_shape": _SHAPE, "layout": {"const": "CHW"},
    "kernel": _INT, "stride": _INT, "padding": _INT, "groups": _INT,
    "activation": _object({"name": {"type": "string"}, "integer_impl": {"type": "string"}}),
    "bits": _object({"weight": _INT_OR_NULL, "activation": _INT, "bias": _INT_OR_NULL, "accumulator": _INT}),
    "fix": _object({"inputs": {"type": "array", "items": _INT}, "output": _INT, "weight": _INT_OR_NULL}),
    "requant": _REQUANT,
    "weight": _TENSOR_FILE_OR_NULL,
    "bias": _TENSOR_FILE_OR_NULL,
    "requant_files": {"oneOf": [{"type": "null"}, _object({"mult": _TENSOR_FILE, "shift": _TENSOR_FILE})]},
    "parallelism": _object({"unit": {"enum": ["conv", "pw", "dw", "misc"]}, "pixels": _INT, "in_lanes": _INT,
                            "out_lanes": _INT}),
    "macs": _INT,
    "cycles": _object({"engine": _INT, "compute": _INT, "transfer": _INT, "ideal": _INT}),
    "ddr_bytes": _INT,
    "engine": _object({"op": {"enum": ["conv", "dwconv", "pool", "add", "scale"]}, "descriptor": {"type": "object"},
                       "weight_bytes": _INT, "param_words": _INT}),
    "layer": {"type": "object"},
})
_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "ofa-hw HLS export manifest",
    **_object({
        "format": {"const": FORMAT},
        "schema_version": {"type": "string", "pattern": r"^\d+\.\d+$"},
        "generator": _object({"name": {"type": "string"}, "version": {"type": "string"}}),
        "model": _object({"description": {"type": "object"}, "n_layers": _INT, "macs": _INT, "params": _INT}),
        "quantization": _object({
            "scheme": {"enum": ["pow2", "per_channel"]}, "method": {"enum": ["max", "mse"]},
            "weight_bits": _INT, "activation_bits": _INT, "bias_bits": _INT, "accumulator_bits": _INT,
            "multiplier_bits": _INT, "rounding": {"const": "half_up"},
            "hsigmoid_multiplier": _INT, "hsigmoid_shift": _INT, "requant_formula": {"type": "string"},
            "calibration": {"type": "object"},
        }),
        "target": _object({"name": {"type": "string"}, "kernel": _SHAPE, "stride": _SHAPE, "ops": {"type": "array"}}),
        "accelerator": {"type": "object", "required": ["name", "pp", "icp", "ocp", "dw_pp", "clock_mhz", "config"]},
        "engine": _object({"top": {"const": "ofa_engine"}, "config": {"type": "object"}, "on_chip_bytes": _INT,
                           "resources": {"type": "object", "required": ["board", "dsp", "bram36", "uram", "lut",
                                                                        "utilization", "fits"]},
                           "program": {"type": "object", "required": ["program_words", "weight_bytes",
                                                                      "activation_bytes", "input_offset"]}}),
        "inputs": {"type": "array", "items": _IO_TENSOR, "minItems": 1},
        "outputs": {"type": "array", "items": _IO_TENSOR, "minItems": 1},
        "layers": {"type": "array", "items": _LAYER, "minItems": 1},
        "testbench": _object({"source": _PATH, "input": _PATH,
                              "golden": {"type": "object", "additionalProperties": _PATH}}),
        "totals": _object({"macs": _INT, "engine_cycles": _INT, "ideal_cycles": _INT, "ddr_bytes": _INT,
                           "latency_ms": {"type": "number"}, "clock_mhz": {"type": "number"},
                           "latency_source": {"type": "string"},
                           "latencies": {"type": "array", "minItems": 1, "items": _object({
                               "label": {"type": "string"}, "latency_ms": {"type": "number"},
                               "source": {"type": "string"}, "low_ms": {"type": ["number", "null"]},
                               "high_ms": {"type": ["number", "null"]}})}},
                          required=["macs", "engine_cycles", "ideal_cycles", "ddr_bytes", "latency_ms", "clock_mhz",
                                    "latency_source"]),
        "files": {"type": "array", "items": _object({"path": _PATH, "role": {"type": "string"}, "sha256": _SHA256,
                                                     "bytes": {"type": "integer", "minimum": 0}})},
    }),
}


def manifest_schema() -> dict:
    """A copy of the JSON schema (draft 2020-12) of manifest version :data:`SCHEMA_VERSION`."""
    return copy.deepcopy(_SCHEMA)


def parse_version(text: str) -> tuple[int, int]:
    """``"1.0"`` -> ``(1, 0)``; anything else is a :class:`ManifestError`.

    >>> parse_version("1.2")
    (1, 2)
    """
    parts = str(text).split(".")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise ManifestError(f"schema_version must look like '1.0', got {text!r}")
    return int(parts[0]), int(parts[1])


def validate_manifest(manifest: Mapping[str, Any]) -> None:
    """Raise :class:`ManifestError` naming the first problem when ``manifest`` breaks the schema."""
    import jsonschema

    if not isinstance(manifest, Mapping):
        raise ManifestError(f"a manifest is a JSON object, got {type(manifest).__name__}")
    if manifest.get("format") != FORMAT:
        raise ManifestError(f"not an ofa-hw HLS manifest: format is {manifest.get('format')!r}, expected {FORMAT!r}")
    major, _ = parse_version(manifest.get("schema_version", ""))
    supported, _ = parse_version(SCHEMA_VERSION)
    if major != supported:
        raise ManifestError(f"manifest schema_version {manifest['schema_version']} is not supported; this reader "
                            f"reads {supported}.x")
    validator = jsonschema.Draft202012Validator(_SCHEMA)
    error = jsonschema.exceptions.best_match(validator.iter_errors(manifest))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise ManifestError(f"manifest does not match schema {SCHEMA_VERSION} at {where}: {error.message}")
