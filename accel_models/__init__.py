"""DPU-like accelerator models: the layer data model, accelerators, boards, latency."""

from .accelerator import Accelerator, DpuConfig, dpu_config, list_dpu_archs
from .blocks import BlockSpec, make_divisible
from .boards import Board, get_board, list_boards
from .from_torch import UnsupportedModelError, layers_from_torch
from .layer import ACTIVATIONS, OPS, Layer, LayerArrays, conv_output_size
from .network import BlockCatalog
from .plot import plot_analysis, plot_roofline, roofline_ceilings
from .predictor_protocol import LATENCY_SOURCES, LatencyPredictor
from .reference import LayerProfile, layer_profiles, profile_accelerator
from .report import RooflineReport, roofline_report
from .resources import FitResult, Resources, estimate_resources, fits, resource_fit_report
from .roofline import PARAMETER_INFO, LayerAnalysis, RooflineModel, RooflineParams
from .schedule import UnitSchedule, group_by_block

__all__ = [
    "ACTIVATIONS",
    "LATENCY_SOURCES",
    "OPS",
    "PARAMETER_INFO",
    "Accelerator",
    "BlockCatalog",
    "BlockSpec",
    "Board",
    "DpuConfig",
    "FitResult",
    "Layer",
    "LayerAnalysis",
    "LayerArrays",
    "LayerProfile",
    "LatencyPredictor",
    "Resources",
    "RooflineModel",
    "RooflineParams",
    "RooflineReport",
    "UnsupportedModelError",
    "UnitSchedule",
    "conv_output_size",
    "dpu_config",
    "estimate_resources",
    "fits",
    "get_board",
    "group_by_block",
    "layer_profiles",
    "layers_from_torch",
    "list_boards",
    "list_dpu_archs",
    "make_divisible",
    "plot_analysis",
    "plot_roofline",
    "profile_accelerator",
    "resource_fit_report",
    "roofline_ceilings",
    "roofline_report",
]
