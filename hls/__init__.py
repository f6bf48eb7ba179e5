"""int8 quantization and HLS export of OFA sub-networks, verified by g++ C-simulation.

The flow: a network (a torch model plus its ``accel_models.Layer`` list, see
:class:`NetworkSource`) is quantized to int8 with BatchNorm folded
(:func:`quantize`, power-of-two "fix positions" as on the DPU by default),
exported as the HLS project of the searched DPU-like engine with the network
as its program (:func:`export`),
loaded back with every file verified (:func:`load`), and C-simulated with
g++ against the integer numpy reference, bit for bit (:func:`csim`).

Importing this package does no I/O and does not import torch.
"""

from .csim import CsimReport, LayerCheck, LayerCycles, csim
from .engine import EngineConfig, OnChipMemoryError
from .errors import (
    CompilerNotFoundError,
    CsimError,
    HLSError,
    IntegrityError,
    ManifestError,
    QuantizationError,
    UnsupportedLayerError,
)
from .export import export
from .fixedpoint import Requant
from .loader import ExportedProject, load
from .manifest import SCHEMA_VERSION, manifest_schema, validate_manifest
from .network import FloatNetwork, NetworkSource, TorchNetwork, float_network
from .program import engine_cycles
from .quantize import Fidelity, QuantizedLayer, QuantizedNetwork, quantize
from .reference import run_int8
from .targets import DPU, TargetLimits, check_layers

__all__ = [
    "DPU",
    "SCHEMA_VERSION",
    "CompilerNotFoundError",
    "CsimError",
    "CsimReport",
    "EngineConfig",
    "ExportedProject",
    "Fidelity",
    "FloatNetwork",
    "HLSError",
    "IntegrityError",
    "LayerCheck",
    "LayerCycles",
    "ManifestError",
    "NetworkSource",
    "OnChipMemoryError",
    "QuantizationError",
    "QuantizedLayer",
    "QuantizedNetwork",
    "Requant",
    "TargetLimits",
    "TorchNetwork",
    "UnsupportedLayerError",
    "check_layers",
    "csim",
    "export",
    "engine_cycles",
    "float_network",
    "load",
    "manifest_schema",
    "quantize",
    "run_int8",
    "validate_manifest",
]
