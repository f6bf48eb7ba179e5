"""Measured latency lookup tables, their calibration of the analytical model, and the board harness."""

from .calibration import (
    CalibratedModel,
    HoldoutReport,
    calibrate,
    holdout_errors,
    kernel_group,
    stage_group,
    table_accelerator,
)
from .format import TableFormatError, read_table, write_table
from .joint import (
    JOINT_FIT_PARAMETERS,
    JOINT_FIXED,
    JOINT_TIED,
    JointCalibration,
    TransferReport,
    calibrate_joint,
    leave_one_device_out,
)
from .metrics import ErrorReport, error_report
from .predictor import HybridPredictor, NetworkBreakdown, TablePredictor, as_predictor, get_predictor, list_devices
from .registry import list_tables, load_table
from .sources import SOURCES, CalibrationSource, get_source, zcu102_profile_table
from .table import Entry, LatencyTable, TableMeta, pool_entries

__all__ = [
    "JOINT_FIT_PARAMETERS",
    "JOINT_FIXED",
    "JOINT_TIED",
    "SOURCES",
    "CalibratedModel",
    "CalibrationSource",
    "Entry",
    "ErrorReport",
    "HoldoutReport",
    "HybridPredictor",
    "JointCalibration",
    "LatencyTable",
    "NetworkBreakdown",
    "TableFormatError",
    "TableMeta",
    "TablePredictor",
    "TransferReport",
    "as_predictor",
    "calibrate",
    "calibrate_joint",
    "error_report",
    "get_predictor",
    "get_source",
    "holdout_errors",
    "kernel_group",
    "leave_one_device_out",
    "list_devices",
    "list_tables",
    "load_table",
    "pool_entries",
    "read_table",
    "stage_group",
    "table_accelerator",
    "write_table",
    "zcu102_profile_table",
]
