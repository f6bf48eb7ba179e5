"""Roofline report of a network on an accelerator: plot, per-layer tables, one HTML page.

:func:`roofline_report` writes into a directory

* ``roofline.png`` and ``roofline.svg``: :func:`accel_models.plot.plot_analysis`;
* ``layers.csv`` and ``layers.json``: one row per layer (shapes, MACs,
  modelled DRAM traffic, arithmetic intensity, attainable / achieved GOP/s,
  compute / memory / overhead / total latency, bound, utilization); the JSON
  adds the accelerator and the totals;
* ``report.html``: one self-contained page (the SVG inline, no external
  files): totals, utilization, the bound breakdown, the slowest layers and
  whether the accelerator fits the board.

The folder is built as a temporary sibling and swapped into place as a unit
(:func:`accel_models.atomic.atomic_directory`), so a reader never sees a
half-written report and a crash or a full disk leaves the previous one intact;
an existing folder is replaced only when it holds an earlier roofline report.
"""

from __future__ import annotations

import csv
import html
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from .atomic import atomic_directory, atomic_write_bytes, check_replaceable, holds_only
from .html_page import html_page, inline_svg
from .layer import Layer
from .predictor_protocol import as_layers

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from .accelerator import Accelerator

__all__ = ["ROOFLINE_REPORT_FILES", "RooflineReport", "report_layers", "report_totals", "roofline_report"]

_BOUNDS = ("compute", "memory", "overhead")
#: The files of a roofline report folder (``roofline.json`` is the one ``ofa-hw roofline`` adds).
ROOFLINE_REPORT_FILES = ("report.html", "layers.json", "layers.csv", "roofline.png", "roofline.svg", "roofline.json")
_replaceable = holds_only(ROOFLINE_REPORT_FILES, required=("report.html", "layers.json"), what="a roofline report")


@dataclass(frozen=True)
class RooflineReport:
    """Where :func:`roofline_report` wrote what, and the network totals it reported."""

    out_dir: Path
    png: Path
    svg: Path
    csv: Path
    json: Path
    html: Path
    totals: Mapping[str, Any]
    fit: Any = None


def report_layers(subnet_or_layers) -> tuple[Layer, ...]:
    """The layers of ``subnet_or_layers``: layers, or any object with a ``layers()`` method.

    >>> report_layers([Layer("fc", "fc", (8, 1, 1), (4, 1, 1))])[0].name
    'fc'
    >>> report_layers(42)
    Traceback (most recent call last):
    ...
    TypeError: expected a sequence of Layer or an object with a layers() method (a SubnetConfig), got int
    """
    return as_layers(subnet_or_layers)


def report_totals(analysis) -> dict[str, Any]:
    """:meth:`LayerAnalysis.totals` plus inferences/s and, per bound, its layers and share of the latency."""
    totals = dict(analysis.totals())
    latency = np.asarray(analysis.latency_ms, dtype=float)
    bounds = np.asarray(analysis.bound)
    totals["fps_per_core"] = 1e3 / totals["latency_ms"]
    totals["bounds"] = {name: {"layers": int(np.sum(bounds == name)),
                               "latency_ms": float(latency[bounds == name].sum()),
                               "latency_share": float(latency[bounds == name].sum() / totals["latency_ms"])}
                        for name in _BOUNDS}
    return totals


def roofline_report(subnet_or_layers, accelerator: Accelerator, out_dir, model=None, *, board=None,
                    title: str | None = None, label_top: int = 5,
                    extra_files: Mapping[str, bytes] | None = None) -> RooflineReport:
    """Analyse a network on ``accelerator`` and write the roofline report to ``out_dir``.

    Parameters
    ----------
    subnet_or_layers : sequence of Layer, or an object with ``layers()``
        The network (an OFA ``SubnetConfig``, a design, or layers from
        :func:`accel_models.layers_from_torch`).
    accelerator : Accelerator
        Where it runs.
    out_dir : path-like
        Created if missing; an existing folder is replaced as a unit when it
        is empty or holds an earlier roofline report, and refused
        (``FileExistsError``) when it holds anything else.
    model : RooflineModel, optional
        The latency model (default ``RooflineModel()``; pass a calibrated one).
    board : Board, optional
        If given, the report says whether the accelerator fits it and which
        resource binds.
    title : str, optional
        Heading of the page (default: the accelerator).
    label_top : int
        Slowest layers labelled in the plot and listed on the page.
    extra_files : mapping of str to bytes, optional
        More files of the report (a name of :data:`ROOFLINE_REPORT_FILES`
        to its content), written into the same folder as part of the unit.

    Returns
    -------
    RooflineReport

    Examples
    --------
    >>> import tempfile
    >>> from accel_models import Accelerator
    >>> layers = [Layer("conv", "conv", (32, 56, 56), (64, 56, 56), kernel=3, activation="relu")]
    >>> with tempfile.TemporaryDirectory() as out:
    ...     report = roofline_report(layers, Accelerator.from_dpu("B1152"), out)
    ...     sorted(path.name for path in Path(out).iterdir())
    ['layers.csv', 'layers.json', 'report.html', 'roofline.png', 'roofline.svg']
    >>> report.totals["layers"], report.totals["bounds"]["compute"]["layers"]
    (1, 1)
    """
    from .plot import achieved_gops, plot_analysis
    from .roofline import RooflineModel

    extra = dict(extra_files or {})
    unknown = sorted(set(extra) - set(ROOFLINE_REPORT_FILES))
    if unknown:
        raise ValueError(f"extra_files {unknown} are not files of a roofline report; allowed: {ROOFLINE_REPORT_FILES}")
    out = check_replaceable(out_dir, replaceable=_replaceable, what="roofline report folder")  # before the work
    layers = report_layers(subnet_or_layers)
    analysis = (model or RooflineModel()).analyze(layers, accelerator)
    fit = None
    if board is not None:
        from .resources import fits

        fit = fits(accelerator, board)
    totals = report_totals(analysis)
    records = _records(layers, analysis, achieved_gops(analysis))

    ax = plot_analysis(analysis, label_top=label_top)
    figure = cast("Figure", ax.figure)  # plot_analysis draws on a figure of its own
    images = {}
    for fmt in ("png", "svg"):
        buffer = io.BytesIO()
        figure.savefig(buffer, format=fmt, dpi=150)
        images[fmt] = buffer.getvalue()
    document = {"accelerator": accelerator.to_dict(), "totals": totals, "layers": records}
    if fit is not None:
        document["fit"] = _fit_dict(fit, board)
    page = _html(title or f"Roofline of {len(layers)} layers on {accelerator.name}", accelerator, totals, records,
                 images["svg"].decode(), fit, board, label_top)
    files = {"roofline.png": images["png"], "roofline.svg": images["svg"], "layers.csv": _csv(records).encode(),
             "layers.json": json.dumps(document, indent=1).encode(), **extra, "report.html": page.encode()}
    with atomic_directory(out, replaceable=_replaceable, what="roofline report folder") as tmp:
        for name, content in files.items():
            atomic_write_bytes(tmp / name, content)
    paths = {name: out / file for name, file in (("png", "roofline.png"), ("svg", "roofline.svg"),
                                                 ("csv", "layers.csv"), ("json", "layers.json"),
                                                 ("html", "report.html"))}
    return RooflineReport(out_dir=out, totals=totals, fit=fit, **paths)


def _records(layers: Sequence[Layer], analysis, achieved: np.ndarray) -> list[dict]:
    records = []
    for layer, record, gops in zip(layers, analysis.to_records(), achieved, strict=True):
        row = {"name": layer.name, "op": layer.op,
               "in_shape": "x".join(map(str, layer.in_shape)), "out_shape": "x".join(map(str, layer.out_shape)),
               "kernel": layer.kernel, "stride": layer.stride, "groups": layer.groups,
               "activation": layer.activation}
        row.update({key: _plain(value) for key, value in record.items() if key not in row})
        row["achieved_gops"] = float(gops)
        records.append(row)
    return records


def _plain(value):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None  # no DRAM traffic: no intensity, no bandwidth (strict JSON has no inf)
    return value


def _fit_dict(fit, board) -> dict:
    return {"board": board.name, "ok": bool(fit.ok), "binding_resource": fit.binding_resource,
            "utilization": {k: float(v) for k, v in fit.utilization.items()}}


def _csv(records: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(records[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return buffer.getvalue()


# ------------------------------------------------------------------ HTML
def _html(title, accelerator, totals, records, svg: str, fit, board, top: int) -> str:
    from .plot import BOUND_COLORS

    esc = html.escape
    acc = accelerator
    cards = [
        (f"{totals['latency_ms']:.3f} ms", "latency (one core)"),
        (f"{totals['fps_per_core']:.1f}", "inferences/s per core"),
        (f"{totals['macs'] / 1e9:.3f} G", "MACs"),
        (f"{totals['dram_bytes'] / 1e6:.2f} MB", "modelled DRAM traffic"),
        (f"{totals['achieved_gops']:.1f} GOP/s", f"achieved of {totals['peak_gops']:g} peak (one core)"),
        (f"{totals['utilization']:.1%}", "utilization"),
    ]
    parts = [f"<h1>{esc(title)}</h1>",
             f"<p class='sub'>{esc(acc.name)}: PP={acc.pp} ICP={acc.icp} OCP={acc.ocp}, depthwise PP={acc.dw_pp}, "
             f"{acc.clock_mhz:g} MHz x {acc.cores} core(s), DDR {acc.ddr_bw_gbps:g} GB/s peak "
             f"({totals['bw_gbps']:.3g} GB/s effective over the network in the model), ridge "
             f"{acc.ridge_ops_per_byte:.1f} ops/byte (int8 peak over peak DDR). One inference runs on one "
             "core.</p>"]
    if fit is not None:
        used = ", ".join(f"{k} {v:.0%}" for k, v in fit.utilization.items())
        if fit.ok:
            parts.append(f"<p class='ok'>Fits {esc(board.name)}; binding resource {esc(fit.binding_resource)} "
                         f"({esc(used)}).</p>")
        else:
            parts.append(f"<p class='warn'><b>Does not fit {esc(board.name)}</b>: {esc(fit.binding_resource)} is "
                         f"over budget ({esc(used)}).</p>")
    parts.append("<div class='cards'>" + "".join(f"<div class='card'><b>{esc(v)}</b><span>{esc(k)}</span></div>"
                                                for v, k in cards) + "</div>")
    parts.append("<h2>What bounds the layers</h2><div class='bar'>")
    for name, part in totals["bounds"].items():
        if part["latency_share"] > 0:
            parts.append(f"<div style='width:{100 * part['latency_share']:.2f}%;background:{BOUND_COLORS[name]}'>"
                         f"{esc(name)} {part['latency_share']:.0%}</div>")
    parts.append("</div><table class='narrow first-left'><tr><th>bound</th><th>layers</th><th>latency (ms)</th>"
                 "<th>share</th></tr>")
    for name, part in totals["bounds"].items():
        parts.append(f"<tr><td>{esc(name)}</td><td>{part['layers']}</td><td>{part['latency_ms']:.4f}</td>"
                     f"<td>{part['latency_share']:.1%}</td></tr>")
    parts.append(f"<tr><td>time split</td><td></td><td colspan='2'>compute {totals['compute_ms']:.3f} ms, memory "
                 f"{totals['memory_ms']:.3f} ms, fixed overhead {totals['overhead_ms']:.3f} ms (summed over "
                 "layers before max/overlap)</td></tr></table>")
    parts.append(f"<h2>Roofline</h2>{inline_svg(svg)}")
    slowest = sorted(records, key=lambda r: -r["latency_ms"])[:max(top, 10)]
    parts.append(f"<h2>Slowest {len(slowest)} layers</h2>{_table(slowest)}")
    parts.append(f"<details><summary>All {len(records)} layers</summary>{_table(records)}</details>")
    return html_page(title, parts)


_COLUMNS = (("name", "layer", "{}"), ("op", "op", "{}"), ("in_shape", "input", "{}"), ("out_shape", "output", "{}"),
            ("kernel", "k", "{}"), ("stride", "s", "{}"), ("macs", "MACs", "{:,}"),
            ("dram_bytes", "DRAM bytes", "{:,.0f}"), ("arithmetic_intensity", "ops/B", "{:.1f}"),
            ("achieved_gops", "GOP/s", "{:.1f}"), ("utilization", "util.", "{:.1%}"),
            ("latency_ms", "ms", "{:.4f}"), ("bound", "bound", "{}"))


def _table(records: list[dict]) -> str:
    left = {key: " class='l'" if key in ("op", "bound") else "" for key, _, _ in _COLUMNS}
    head = "".join(f"<th{left[key]}>{html.escape(label)}</th>" for key, label, _ in _COLUMNS)
    rows = []
    for record in records:
        cells = "".join(f"<td{left[key]}>{html.escape('on chip' if record[key] is None else fmt.format(record[key]))}"
                        "</td>" for key, _, fmt in _COLUMNS)
        rows.append(f"<tr>{cells}</tr>")
    return f"<table class='first-left'><tr>{head}</tr>{''.join(rows)}</table>"
