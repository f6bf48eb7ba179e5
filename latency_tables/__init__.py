"""Measured latency lookup tables, their calibration of the analytical model, and the board harness."""

from .format import TableFormatError, read_table, write_table
from .predictor import HybridPredictor, LatencyMatrix, NetworkBreakdown, TablePredictor, get_predictor, list_devices
from .registry import list_tables, load_table
from .table import Entry, LatencyTable, TableMeta, pool_entries

__all__ = [
    "Entry",
    "HybridPredictor",
    "LatencyMatrix",
    "LatencyTable",
    "NetworkBreakdown",
    "TableFormatError",
    "TableMeta",
    "TablePredictor",
    "get_predictor",
    "list_devices",
    "list_tables",
    "load_table",
    "pool_entries",
    "read_table",
    "write_table",
]
