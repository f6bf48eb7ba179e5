"""Measured latency lookup tables, their calibration of the analytical model, and the board harness.

The public API (what the README, the notebooks and a user need); internals such
as ``kernel_group``, ``JOINT_TIED`` or ``ErrorReport`` stay importable from their
modules (``latency_tables.calibration``, ``latency_tables.joint``,
``latency_tables.metrics``).
"""

from .calibration import CalibratedModel, calibrate, holdout_errors
from .few_shot import NetworkMeasurement, fit_device
from .format import TableFormatError, read_table, write_table
from .joint import calibrate_joint, leave_one_device_out
from .predictor import HybridPredictor, TablePredictor, get_predictor, list_devices
from .records import as_predictor, predictor_from_record, predictor_record
from .registry import list_tables, load_table
from .sources import BoardMismatchWarning, CalibrationSource, get_source, table_accelerator
from .table import Entry, LatencyTable, TableMeta

__all__ = [
    "BoardMismatchWarning",
    "CalibratedModel",
    "CalibrationSource",
    "Entry",
    "HybridPredictor",
    "LatencyTable",
    "NetworkMeasurement",
    "TableFormatError",
    "TableMeta",
    "TablePredictor",
    "as_predictor",
    "calibrate",
    "calibrate_joint",
    "fit_device",
    "get_predictor",
    "get_source",
    "holdout_errors",
    "leave_one_device_out",
    "list_devices",
    "list_tables",
    "load_table",
    "predictor_from_record",
    "predictor_record",
    "read_table",
    "table_accelerator",
    "write_table",
]
