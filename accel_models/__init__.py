"""DPU-like accelerator models: the layer data model, accelerators, boards, latency."""

from .blocks import BlockSpec, make_divisible
from .from_torch import UnsupportedModelError, layers_from_torch
from .layer import ACTIVATIONS, OPS, Layer, LayerArrays, conv_output_size
from .network import BlockCatalog

__all__ = [
    "ACTIVATIONS",
    "OPS",
    "BlockCatalog",
    "BlockSpec",
    "Layer",
    "LayerArrays",
    "UnsupportedModelError",
    "conv_output_size",
    "layers_from_torch",
    "make_divisible",
]
