"""Measured latency lookup tables, their calibration of the analytical model, and the board harness."""

from .calibration import CalibratedModel, HoldoutReport, calibrate, holdout_errors, kernel_group, stage_group, \
    table_accelerator
from .format import TableFormatError, read_table, write_table
from .metrics import ErrorReport, error_report
from .predictor import HybridPredictor, LatencyMatrix, NetworkBreakdown, TablePredictor, get_predictor, list_devices
from .registry import list_tables, load_table
from .table import Entry, LatencyTable, TableMeta, pool_entries

__all__ = [
    "CalibratedModel",
    "Entry",
    "ErrorReport",
    "HoldoutReport",
    "HybridPredictor",
    "LatencyMatrix",
    "LatencyTable",
    "NetworkBreakdown",
    "TableFormatError",
    "TableMeta",
    "TablePredictor",
    "calibrate",
    "error_report",
    "get_predictor",
    "holdout_errors",
    "kernel_group",
    "list_devices",
    "list_tables",
    "load_table",
    "pool_entries",
    "read_table",
    "stage_group",
    "table_accelerator",
    "write_table",
]
