"""ofa-hw: choose a quantized Once-for-All sub-network and a DPU-like accelerator jointly.

Importing this package does no I/O and does not import torch.
"""

from accel_models.layer import Layer

from .layers import block_keys, count_macs, count_params, subnet_graph, subnet_layers
from .space import (
    OFASpace,
    SubnetBatch,
    SubnetConfig,
    crossover,
    get_space,
    list_spaces,
    mutate,
    sample_subnets,
)
from .torch_model import build_torch_model

__version__ = "0.1.0"

__all__ = [
    "Layer",
    "OFASpace",
    "SubnetBatch",
    "SubnetConfig",
    "__version__",
    "block_keys",
    "build_torch_model",
    "count_macs",
    "count_params",
    "crossover",
    "get_space",
    "list_spaces",
    "mutate",
    "sample_subnets",
    "subnet_graph",
    "subnet_layers",
]
