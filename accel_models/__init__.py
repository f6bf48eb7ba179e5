"""DPU-like accelerator models: the layer data model, accelerators, boards, latency.

The public API (what the README, the notebooks and a user need); internals such
as ``UnitSchedule``, ``LayerArrays`` or ``PARAMETER_INFO`` stay importable from
their modules (``accel_models.schedule``, ``accel_models.layer``,
``accel_models.roofline``).
"""

from .accelerator import CUSTOM_LABEL, Accelerator, dpu_config, list_dpu_archs
from .blocks import BlockSpec
from .boards import Board, get_board, list_boards
from .cpu_fallback import fallback_layers
from .dpu_options import DpuOptions
from .from_torch import UnsupportedModelError, layers_from_torch
from .layer import Layer
from .network import NetworkAnalysis, analyze_network, network_latency_ms
from .plot import plot_analysis, plot_roofline, roofline_ceilings, roofline_records
from .predictor_protocol import LATENCY_SOURCES, LatencyPredictor
from .report import roofline_report
from .resources import FitResult, estimate_resources, fits, resource_fit_report
from .roofline import RooflineModel, RooflineParams, engine_peaks_gops
from .schedule import group_by_block

__all__ = [
    "CUSTOM_LABEL",
    "LATENCY_SOURCES",
    "Accelerator",
    "BlockSpec",
    "Board",
    "DpuOptions",
    "FitResult",
    "LatencyPredictor",
    "Layer",
    "NetworkAnalysis",
    "RooflineModel",
    "RooflineParams",
    "UnsupportedModelError",
    "analyze_network",
    "dpu_config",
    "engine_peaks_gops",
    "estimate_resources",
    "fallback_layers",
    "fits",
    "get_board",
    "group_by_block",
    "layers_from_torch",
    "list_boards",
    "list_dpu_archs",
    "network_latency_ms",
    "plot_analysis",
    "plot_roofline",
    "resource_fit_report",
    "roofline_ceilings",
    "roofline_records",
    "roofline_report",
]
