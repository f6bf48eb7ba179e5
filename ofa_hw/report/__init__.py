"""The co-design report: one self-contained HTML page, PNG plots and a JSON summary.

``result.report(out_dir)`` (or ``ofa-hw report result.json``) calls
:func:`write_report`; :func:`report_content` computes what the page shows,
:func:`plot_pareto` and :func:`plot_history` draw two of its plots (the
roofline is :func:`accel_models.plot_analysis`).
"""

from .content import LatencyModel, ReportContent, report_content, resolve_latency_model
from .plots import plot_history, plot_pareto
from .writer import REPORT_FILES, write_report

__all__ = [
    "REPORT_FILES",
    "LatencyModel",
    "ReportContent",
    "plot_history",
    "plot_pareto",
    "report_content",
    "resolve_latency_model",
    "write_report",
]
