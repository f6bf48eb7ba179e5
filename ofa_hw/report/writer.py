"""``write_report``: the report files of a co-design result, each written atomically."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import numpy as np

from accel_models.atomic import atomic_directory, atomic_write_bytes, check_replaceable, holds_only

from ..search.result import CodesignResult
from .content import report_content
from .html import render_html
from .plots import figure_bytes, plot_history, plot_pareto, scale_label

__all__ = ["REPORT_FILES", "write_report"]

#: Files a report folder holds (``roofline.png`` and ``layers.csv`` only with a chosen design).
REPORT_FILES = ("report.html", "summary.json", "pareto.png", "history.png", "roofline.png", "layers.csv")
# An existing folder is replaced only when it holds an earlier report, so nothing of the user's is lost.
_replaceable_report = holds_only(REPORT_FILES, required=("report.html", "summary.json"), what="an ofa-hw report")


def write_report(result: CodesignResult, out_dir: str | os.PathLike, *, predictor=None,
                 cross_validate: bool = True, label_top: int = 5, export: str | os.PathLike | None = None) -> Path:
    """Write the report of a co-design search into ``out_dir`` and return the HTML page's path.

    The folder gets ``report.html`` (one self-contained page: inline CSS and
    SVG plots, no external files), ``summary.json`` (every number of the
    page), ``pareto.png``, ``history.png`` and, when the result has a chosen
    design, ``roofline.png`` and ``layers.csv`` (its per-layer model
    estimates with the per-unit latency and its source).  The folder is
    built as a temporary sibling and swapped into place as a unit, so a
    reader never sees a half-written report; an earlier report there is
    replaced, a folder holding anything else is refused.

    Parameters
    ----------
    result : CodesignResult
        From :func:`ofa_hw.search_codesign` or :meth:`CodesignResult.from_json`.
    out_dir : path-like
        Created if missing.
    predictor : str or latency predictor, optional
        The latency predictor the search used, when it was not a shipped
        device (``result.settings["latency_predictor"]`` names it otherwise).
    cross_validate : bool
        Report the k-fold cross-validated calibration error, recomputing it
        (about a second) when the predictor carries none.
    label_top : int
        Slowest layers numbered in the roofline plot.
    export : path-like, optional
        The best design's HLS export: the page then shows the engine's cycle
        count beside the search's prediction (see :func:`report_content`).

    Returns
    -------
    pathlib.Path
        ``out_dir / "report.html"``.

    Raises
    ------
    TypeError
        ``result`` is not a :class:`CodesignResult`, or ``predictor`` is not a latency predictor.
    ValueError
        The result's latency predictor is not a shipped device and none was given, or its front is empty.
    """
    target = check_replaceable(out_dir, replaceable=_replaceable_report, what="report folder")
    content = report_content(result, predictor=predictor, cross_validate=cross_validate, export=export)
    with atomic_directory(target, replaceable=_replaceable_report, what="report folder") as out:
        _write_files(content, result, out, label_top)
    return target / "report.html"


def _write_files(content, result: CodesignResult, out: Path, label_top: int) -> None:
    summary = content.summary
    axes = {"pareto": plot_pareto(result), "history": plot_history(result.history, scale=scale_label(result.settings))}
    if content.analysis is not None:
        from accel_models import plot_analysis

        axes["roofline"] = plot_analysis(content.analysis, label_top=label_top)
    svgs = {}
    for name, ax in axes.items():
        atomic_write_bytes(out / f"{name}.png", figure_bytes(ax, "png"))
        svgs[name] = figure_bytes(ax, "svg").decode()
    files = [f"{name}.png" for name in axes]
    if summary["best"] is not None:
        atomic_write_bytes(out / "layers.csv", _layers_csv(summary["best"]["latency"]).encode())
        files.append("layers.csv")
    document = {**summary, "files": sorted(files + ["report.html", "summary.json"])}
    atomic_write_bytes(out / "summary.json", json.dumps(document, indent=1, default=_plain).encode())
    atomic_write_bytes(out / "report.html", render_html(summary, svgs).encode())


def _plain(value):
    """Numpy scalars and other number-likes as plain JSON numbers."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _layers_csv(table) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["unit_index", "unit", "unit_source", "unit_latency_ms", "layer", "op", "macs", "model_ms",
                     "bound", "utilization"])
    for i, unit in enumerate(table["units"]):
        for layer in unit["layers"]:
            writer.writerow([i, unit["unit"], unit["source"], f"{unit['latency_ms']:.6g}", layer["name"], layer["op"],
                             layer["macs"], f"{layer['model_ms']:.6g}", layer["bound"], f"{layer['utilization']:.4f}"])
    return buffer.getvalue()
