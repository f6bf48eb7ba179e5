"""Measured latency lookup tables, their calibration of the analytical model, and the board harness."""

from .table import Entry, LatencyTable, TableMeta

__all__ = ["Entry", "LatencyTable", "TableMeta"]
