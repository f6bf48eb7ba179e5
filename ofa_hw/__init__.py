"""ofa-hw: choose a quantized Once-for-All sub-network and a DPU-like accelerator jointly.

Importing this package does no I/O and does not import torch.
"""

from accel_models.layer import Layer

from . import zoo
from ._version import __version__
from .accuracy import get_predictor as get_accuracy_predictor
from .accuracy import list_predictors as list_accuracy_predictors
from .layers import block_keys, count_macs, count_params, subnet_graph, subnet_layers
from .search import AcceleratorGrid, CodesignResult, Design, InfeasibleConstraintError, search_codesign
from .space import SubnetBatch, SubnetConfig, get_space, list_spaces, sample_subnets
from .torch_model import build_torch_model

__all__ = [
    "AcceleratorGrid",
    "CodesignResult",
    "Design",
    "InfeasibleConstraintError",
    "Layer",
    "SubnetBatch",
    "SubnetConfig",
    "__version__",
    "block_keys",
    "build_torch_model",
    "count_macs",
    "count_params",
    "get_accuracy_predictor",
    "get_space",
    "list_accuracy_predictors",
    "list_spaces",
    "sample_subnets",
    "search_codesign",
    "subnet_graph",
    "subnet_layers",
    "zoo",
]
