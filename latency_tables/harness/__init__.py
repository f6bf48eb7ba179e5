"""Measuring a board: plan the units, compile them with the vendor toolchain, time them with a runner.

``pynq`` / ``pynq_dpu`` (the optional ``[board]`` extra) are imported only
inside :class:`PynqDpuRunner`; everything else runs anywhere, and
:class:`NumpyRunner` executes the units' real int8 arithmetic off-board.
"""

from .int8 import Int8Unit
from .measure import TIMINGS, MeasureReport, UnitFailure, describe_method, measure, measure_unit, summarize_runs
from .plan import PLAN_FORMAT, Plan, PlanUnit, read_plan, unit_name, write_plan
from .runners import NumpyRunner, PynqDpuRunner, Runner, Session, Subgraph, compile_numpy_units, xdputil_dpu_ms

__all__ = [
    "Int8Unit",
    "MeasureReport",
    "NumpyRunner",
    "PLAN_FORMAT",
    "Plan",
    "PlanUnit",
    "PynqDpuRunner",
    "Runner",
    "Session",
    "Subgraph",
    "TIMINGS",
    "UnitFailure",
    "compile_numpy_units",
    "describe_method",
    "measure",
    "measure_unit",
    "read_plan",
    "summarize_runs",
    "unit_name",
    "write_plan",
    "xdputil_dpu_ms",
]
