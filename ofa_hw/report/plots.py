"""Plots of a co-design result: the Pareto front and the search history.

Functions take ``ax=None`` (a new ``matplotlib.figure.Figure`` is made, no
pyplot state is touched) and return the Axes.  Artists carry ``gid`` tags a
program (or a test) can find them by.  The roofline of the chosen design is
:func:`accel_models.plot_analysis`.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..search.result import CodesignResult, GenerationStats

__all__ = ["figure_bytes", "new_axes", "plot_history", "plot_pareto", "scale_label", "split_restarts"]

_BEST_COLOR = "#d62728"


def new_axes(width_in: float = 8.0, height_in: float = 5.0) -> Axes:
    """Axes on a new Figure with an Agg canvas (no pyplot involved)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width_in, height_in), layout="constrained")
    FigureCanvasAgg(figure)
    return figure.add_subplot()


def _figure(ax: Axes) -> Figure:
    from matplotlib.figure import Figure

    figure = ax.get_figure()
    if not isinstance(figure, Figure):
        raise ValueError("the Axes must belong to a top-level matplotlib Figure")
    return figure


def figure_bytes(ax: Axes, fmt: str, dpi: int = 130) -> bytes:
    """The Axes' figure as PNG or SVG bytes (SVG without a date, so reports are reproducible)."""
    if fmt not in ("png", "svg"):
        raise ValueError(f"fmt must be 'png' or 'svg', got {fmt!r}")
    buffer = io.BytesIO()
    metadata = {"Date": None} if fmt == "svg" else None
    _figure(ax).savefig(buffer, format=fmt, dpi=dpi, metadata=metadata)
    return buffer.getvalue()


def plot_pareto(result: CodesignResult, ax: Axes | None = None, color_by: str = "dsp") -> Axes:
    """Accuracy against latency of the designs on the Pareto front.

    The front is drawn as a staircase, each design's latency interval as a
    grey horizontal bar (when the predictor has an interval model); the chosen
    design (``result.best``) is a star, a latency constraint a dashed line with the infeasible side
    shaded.  A throughput constraint has no single latency line when designs
    use several cores, so it is named in the title instead.

    Parameters
    ----------
    result : CodesignResult
    ax : matplotlib.axes.Axes, optional
    color_by : {"dsp", "accelerator"}
        Colour the points by the DSPs their accelerator uses (a colour bar)
        or by accelerator configuration (a legend).

    Returns
    -------
    matplotlib.axes.Axes
        Artists: ``"front"`` (points), ``"front-line"``, ``"best"``,
        ``"constraint"``.
    """
    if color_by not in ("dsp", "accelerator"):
        raise ValueError(f"color_by must be 'dsp' or 'accelerator', got {color_by!r}")
    designs = list(result.pareto)
    if not designs:
        raise ValueError("the result has an empty Pareto front")
    ax = new_axes() if ax is None else ax
    latency = np.array([d.latency_ms for d in designs])
    accuracy = np.array([d.accuracy_top1 for d in designs])
    ax.step(latency, accuracy, where="post", color="0.65", lw=1, zorder=1, gid="front-line")
    if all(d.latency_confidence is not None for d in designs):  # each design's latency interval
        low = np.array([d.latency_low_ms for d in designs])
        high = np.array([d.latency_high_ms for d in designs])
        ax.errorbar(latency, accuracy, xerr=[latency - low, high - latency], fmt="none", ecolor="0.8", elinewidth=0.8,
                    zorder=0, gid="intervals")
    accelerators = list(dict.fromkeys(d.accelerator.label for d in designs))
    if len(accelerators) == 1:  # nothing to tell apart: one colour, the accelerator in the title
        ax.scatter(latency, accuracy, color="#1f77b4", s=36, zorder=2, edgecolors="white", linewidths=0.5,
                   gid="front")
    elif color_by == "dsp" and all(d.resources is not None for d in designs):  # a board-less device has no DSPs
        dsp = np.array([d.resources.placed.dsp for d in designs if d.resources is not None])
        points = ax.scatter(latency, accuracy, c=dsp, cmap="viridis", s=36, zorder=2, edgecolors="white",
                            linewidths=0.5, gid="front")
        _figure(ax).colorbar(points, ax=ax, label="DSP slices used (all cores)", pad=0.01)
    else:
        labels = [d.accelerator.label for d in designs]
        names = accelerators
        cmap = _categorical(len(names))
        colors = [cmap[names.index(label)] for label in labels]
        ax.scatter(latency, accuracy, c=colors, s=36, zorder=2, edgecolors="white", linewidths=0.5, gid="front")
        from matplotlib.lines import Line2D

        handles = [Line2D([], [], ls="", marker="o", color=cmap[i], label=name) for i, name in enumerate(names)]
        ax.legend(handles=handles, fontsize=7, loc="lower right", ncols=1 + len(names) // 12, framealpha=0.9)
    settings = result.settings or {}
    constraint = settings.get("constraint") or {}
    budget = constraint.get("latency_ms")
    lo, hi = latency.min(), latency.max()
    if budget is not None:
        hi = max(hi, budget)
        ax.axvline(budget, color=_BEST_COLOR, ls="--", lw=1.2, gid="constraint")
        # mid-height just left of the line: below the front, where no design can be
        ax.annotate(f"latency budget {budget:g} ms", (budget, 0.5), xycoords=("data", "axes fraction"),
                    xytext=(-3, 0), textcoords="offset points", color=_BEST_COLOR, fontsize=8, rotation=90,
                    ha="right", va="center")
    pad = 0.04 * (hi - lo if hi > lo else hi)
    ax.set_xlim(lo - pad, hi + pad)
    if budget is not None:
        ax.axvspan(budget, hi + pad, color="0.5", alpha=0.08, lw=0)
    if result.best is not None:
        best = result.best
        ax.scatter([best.latency_ms], [best.accuracy_top1], marker="*", s=260, color=_BEST_COLOR, zorder=3,
                   edgecolors="black", linewidths=0.6, gid="best")
        # the lower right corner is empty on any accuracy-latency front (it would be dominated)
        ax.annotate(f"chosen: {best.accuracy_top1:.2f}% at {best.latency_ms:.2f} ms\n{best.accelerator.label}",
                    (best.latency_ms, best.accuracy_top1), xytext=(0.97, 0.05), textcoords="axes fraction",
                    ha="right", va="bottom", fontsize=8, gid="best-label",
                    arrowprops={"arrowstyle": "->", "color": "0.4", "lw": 0.8, "shrinkB": 8},
                    bbox={"boxstyle": "round,pad=0.3", "fc": "white", "ec": "0.7", "alpha": 0.9})
    quantized = settings.get("quantization")
    confidence = designs[0].latency_confidence
    bars = f"; bars: {100 * confidence:.0f}% interval" if confidence else ""
    ax.set_xlabel(f"latency per image (ms, one core){bars}")
    scale = scale_label(settings)
    ax.set_ylabel(f"predicted top-1 (%, {scale}), {quantized}" if quantized else f"predicted top-1 (%, {scale}), float")
    title = f"Pareto front on {settings.get('board', '?')}: {len(designs)} designs"
    if len(accelerators) == 1:
        title += f", all on {accelerators[0]}"
    if constraint.get("fps") is not None:
        title += f"; constraint: {constraint.get('text')}"
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    return ax


def _categorical(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def split_restarts(history: Sequence[GenerationStats]) -> list[list[GenerationStats]]:
    """The history of each restart: a new one starts where the generation number does not increase.

    >>> from ofa_hw.search import GenerationStats
    >>> h = [GenerationStats(g, 10, 1, 70.0, 5.0, 6.0) for g in (0, 1, 2, 0, 1)]
    >>> [len(run) for run in split_restarts(h)]
    [3, 2]
    """
    runs: list[list] = []
    for stats in history:
        if not runs or stats.generation <= runs[-1][-1].generation:
            runs.append([])
        runs[-1].append(stats)
    return runs


def scale_label(settings) -> str:
    """How a result's accuracies are labelled: the scale its settings name.

    >>> scale_label({"accuracy_scale_label": "ImageNet-val"}), scale_label({})
    ('ImageNet-val', 'scale not recorded')
    """
    return (settings or {}).get("accuracy_scale_label") or "scale not recorded"


def plot_history(history: Sequence[GenerationStats], ax: Axes | None = None, scale: str = "scale not recorded") -> Axes:
    """Best feasible accuracy per generation and so far (one colour per restart), feasible share behind.

    ``scale`` names the accuracy scale on the y axis (:func:`scale_label` of the result's settings).

    Returns
    -------
    matplotlib.axes.Axes
        Artists: ``"history:<restart>"`` (best so far, a line), ``"generation:<restart>"`` (best of
        each generation, points) and, when some candidates were infeasible, ``"feasible:<restart>"``
        (the feasible share of each generation, bars on a twin axis).
    """
    ax = new_axes(8.0, 3.2) if ax is None else ax
    runs = split_restarts(history)
    if not runs:
        ax.text(0.5, 0.5, "no search history recorded", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return ax
    shares = [np.array([s.feasible / s.evaluated if s.evaluated else 0.0 for s in run]) for run in runs]
    share_ax = None
    if any((share < 1).any() for share in shares):  # an unconstrained search has nothing infeasible to show
        share_ax = ax.twinx()
        share_ax.set_zorder(ax.get_zorder() - 1)  # bars behind the lines
        ax.patch.set_visible(False)
    width = 0.8 / len(runs)
    for i, (run, share) in enumerate(zip(runs, shares, strict=True)):
        color = f"C{i % 10}"
        generation = np.array([s.generation for s in run], dtype=float)
        best = np.array([np.nan if s.best_accuracy_top1 is None else s.best_accuracy_top1 for s in run])
        so_far = np.fmax.accumulate(best)
        prefix = f"restart {i}: " if len(runs) > 1 else ""
        ax.plot(generation, so_far, color=color, lw=1.6, label=f"{prefix}best so far", gid=f"history:{i}")
        ax.plot(generation, best, ls="", marker=".", ms=5, color=color, alpha=0.45,
                label=f"{prefix}best of the generation", gid=f"generation:{i}")
        if share_ax is not None:
            share_ax.bar(generation + (i - (len(runs) - 1) / 2) * width, share, width=width, color="0.88",
                         gid=f"feasible:{i}")
    if share_ax is not None:
        share_ax.set_ylim(0, 1.05)
        share_ax.set_ylabel("feasible share (bars)", fontsize=8, color="0.45")
        share_ax.tick_params(labelsize=8, colors="0.45")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("generation")
    ax.set_ylabel(f"predicted top-1 (%, {scale})")
    ax.set_title("Search history: most accurate feasible design", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="lower right", ncols=min(len(runs), 3))
    return ax
