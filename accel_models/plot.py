"""Roofline plots of a network on an accelerator.

One point per layer at (arithmetic intensity, achieved GOP/s), under the
roof ``min(peak, bandwidth x intensity)`` of one core and the lower compute
ceilings of the engines a layer may run on instead of the int8 convolution
array: the depthwise engine, the element-wise engine (pooling, adds, channel
scale) and, for reference, the same array at int16.  matplotlib is imported
when a plot is drawn, and only its object API is used (no pyplot state).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from .accelerator import Accelerator
    from .layer import Layer

__all__ = ["BOUND_COLORS", "plot_analysis", "plot_roofline", "roofline_ceilings"]

#: Colour of a layer's point by what bounds it.
BOUND_COLORS = {"compute": "#1f77b4", "memory": "#d62728", "overhead": "#7f7f7f"}
_CEILING_STYLE = {"int16": (0, (6, 3)), "depthwise": (0, (3, 2)), "element-wise": (0, (1, 2))}


def roofline_ceilings(accelerator: Accelerator) -> dict[str, float]:
    """Compute ceilings of one core in GOP/s, highest first.

    * ``int8``: the convolution array, ``2 x PP x ICP x OCP`` ops per cycle
      (PG338's peak);
    * ``int16``: the same DSPs at 16-bit operands do one multiply per DSP
      instead of the two int8 multiplies the DPU packs into each DSP48, so
      half the int8 peak (the DPUCZDX8G itself runs int8 only: a reference
      line, not a mode of that IP);
    * ``depthwise``: the depthwise engine, one channel per ICP lane at
      ``dw_pp`` pixels, ``2 x dw_pp x ICP`` ops per cycle;
    * ``element-wise``: pooling / add / scale, one op per element at
      ``PP x ICP`` elements per cycle.

    Examples
    --------
    >>> from accel_models import Accelerator
    >>> roofline_ceilings(Accelerator.from_dpu("B1600", clock_mhz=200.0))
    {'int8': 320.0, 'int16': 160.0, 'depthwise': 16.0, 'element-wise': 16.0}
    """
    ghz = accelerator.clock_mhz / 1e3
    int8 = 2 * accelerator.pp * accelerator.icp * accelerator.ocp * ghz
    return {
        "int8": int8,
        "int16": int8 / 2,
        "depthwise": 2 * accelerator.dw_pp * accelerator.icp * ghz,
        "element-wise": accelerator.pp * accelerator.icp * ghz,
    }


def plot_roofline(layers: Sequence[Layer], accelerator: Accelerator, ax: Axes | None = None, model=None,
                  label_top: int = 5) -> Axes:
    """Roofline plot of ``layers`` on one core of ``accelerator``.

    Parameters
    ----------
    layers : sequence of Layer
        The network, e.g. ``ofa_hw.subnet_layers(cfg)`` or
        :func:`accel_models.layers_from_torch`.
    accelerator : Accelerator
        Where it runs.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; a new ``matplotlib.figure.Figure`` is made
        otherwise (no pyplot state is touched).
    model : RooflineModel, optional
        The latency model (default ``RooflineModel()``).
    label_top : int
        How many of the slowest layers to label by name.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> from accel_models import Accelerator, Layer
    >>> layers = [Layer("conv", "conv", (32, 56, 56), (64, 56, 56), kernel=3),
    ...           Layer("pool", "pool", (64, 56, 56), (64, 1, 1), kernel=56, inputs=("conv",))]
    >>> ax = plot_roofline(layers, Accelerator.from_dpu("B1152"))
    >>> ax.get_xscale(), sum(len(points.get_offsets()) for points in ax.collections)
    ('log', 2)
    """
    from .roofline import RooflineModel

    analysis = (model or RooflineModel()).analyze(layers, accelerator)
    return plot_analysis(analysis, ax=ax, label_top=label_top)


def plot_analysis(analysis, ax: Axes | None = None, label_top: int = 5) -> Axes:
    """Draw an existing :class:`LayerAnalysis` (see :func:`plot_roofline`).

    Artists carry ``gid`` tags a program can find them by: ``"roof"`` (the
    roof line), ``"ridge"``, ``"ceiling:<name>"`` (see
    :func:`roofline_ceilings`) and ``"layers:<bound>"`` (the points).
    """
    from matplotlib.lines import Line2D

    if int(label_top) != label_top or label_top < 0:
        raise ValueError(f"label_top must be a non-negative integer, got {label_top!r}")
    if ax is None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        figure = Figure(figsize=(9, 6), layout="constrained")
        FigureCanvasAgg(figure)  # a renderer to measure labels with; no pyplot involved
        ax = figure.add_subplot()
    accelerator = analysis.accelerator
    intensity = np.asarray(analysis.arithmetic_intensity, dtype=float)
    achieved = achieved_gops(analysis)
    peak, bw = float(analysis.peak_gops), float(analysis.bw_gbps)
    ridge = peak / bw
    shown = intensity > 0
    lo = min(ridge, *(intensity[shown] if shown.any() else [ridge])) / 4
    hi = max(ridge, *(intensity[shown] if shown.any() else [ridge])) * 4
    x = np.array([lo, ridge, hi])
    ax.plot(x, np.minimum(peak, bw * x), color="black", lw=2, gid="roof")
    ax.axvline(ridge, color="black", lw=0.8, ls=":", gid="ridge")
    ax.annotate(f"ridge {ridge:.3g} op/B", (ridge, peak), xytext=(4, -14), textcoords="offset points", fontsize=8)
    ax.annotate(f"int8 peak {peak:g}", (hi, peak), xytext=(-2, 3), textcoords="offset points", ha="right",
                va="bottom", fontsize=8)
    for value, names in _merged_ceilings(accelerator):
        ax.plot([value / bw, hi], [value, value], color="0.35", lw=1, ls=_CEILING_STYLE[names[0]],
                gid=f"ceiling:{names[0]}")
        ax.annotate(f"{' = '.join(names)} {value:g}", (hi, value), xytext=(-2, 2), textcoords="offset points",
                    ha="right", va="bottom", fontsize=8, color="0.3")
    macs = np.asarray(analysis.macs, dtype=float)
    sizes = 12 + 400 * np.sqrt(macs / macs.max()) if macs.max() > 0 else np.full(len(macs), 20.0)
    bounds = np.asarray(analysis.bound)
    handles = []
    for bound, color in BOUND_COLORS.items():
        mask = (bounds == bound) & shown
        if mask.any():
            ax.scatter(intensity[mask], achieved[mask], s=sizes[mask], color=color, alpha=0.6,
                       edgecolors="white", linewidths=0.5, gid=f"layers:{bound}")
            handles.append(Line2D([], [], ls="", marker="o", ms=7, color=color, alpha=0.6,
                                  label=f"{bound}-bound layers ({int(mask.sum())})"))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    ax.set_ylim(max(min(achieved[shown].min() if shown.any() else peak, bw * lo) / 3, 1e-3), peak * 2.5)
    ax.set_xlabel("arithmetic intensity (ops per DRAM byte)")
    ax.set_ylabel("performance (GOP/s)")
    total_ms = float(np.sum(analysis.latency_ms))
    ax.set_title(f"{accelerator.name} @ {accelerator.clock_mhz:g} MHz, one core: {len(intensity)} layers, "
                 f"{total_ms:.3g} ms (point area ~ MACs)", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(handles=handles, loc="lower right", fontsize=8, framealpha=0.9)
    renderer = _layout(ax)
    along = np.array([lo * 1.5, lo * 15])
    (x0, y0), (x1, y1) = ax.transData.transform(np.column_stack([along, bw * along]))
    ddr = ax.annotate(f"DDR {bw:.3g} GB/s (effective)", (along[0], bw * along[0]), xytext=(0, 4),
                      textcoords="offset points", rotation=float(np.degrees(np.arctan2(y1 - y0, x1 - x0))),
                      rotation_mode="anchor", fontsize=8)
    avoid = [ddr.get_window_extent(renderer)] if renderer is not None else []
    _label_slowest(ax, analysis, intensity, achieved, int(label_top), renderer, avoid)
    return ax


def _layout(ax):
    """Run the figure's layout and return a renderer to measure text with (``None`` if the canvas has none)."""
    figure = ax.get_figure()
    get_renderer = getattr(figure.canvas, "get_renderer", None)
    figure.draw_without_rendering()  # final axes position, so display coordinates are final
    return get_renderer() if get_renderer is not None else None


def _merged_ceilings(accelerator) -> list[tuple[float, list[str]]]:
    """The ceilings below the int8 roof, equal values merged into one line."""
    merged: list[tuple[float, list[str]]] = []
    for name, value in roofline_ceilings(accelerator).items():
        if name == "int8":
            continue
        for known, names in merged:
            if np.isclose(known, value):
                names.append(name)
                break
        else:
            merged.append((value, [name]))
    return merged


def achieved_gops(analysis) -> np.ndarray:
    """Achieved GOP/s per layer: its operations over its modelled latency."""
    return np.asarray(analysis.ops, dtype=float) / np.asarray(analysis.latency_ms, dtype=float) / 1e6


def _label_slowest(ax, analysis, x, y, count: int, renderer, placed: list) -> None:
    """Number the slowest layers at their points and list them in a box.

    Each number takes the first of a few offsets that overlaps neither an
    earlier number nor the boxes in ``placed`` (display extents measured
    with ``renderer`` after the layout has run).
    """
    if count == 0:
        return
    latency = np.asarray(analysis.latency_ms, dtype=float)
    order = np.argsort(-latency, kind="stable")[:count]
    offsets = [(5, 5), (5, -11), (-11, 5), (-11, -11), (12, 0), (-17, 0), (0, 13), (0, -17)]
    for rank, i in enumerate(order, start=1):
        for dx, dy in offsets:
            text = ax.annotate(str(rank), (x[i], y[i]), xytext=(dx, dy), textcoords="offset points", fontsize=8,
                               fontweight="bold", gid=f"rank:{rank}")
            if renderer is None:
                break
            box = text.get_window_extent(renderer)
            if not any(box.overlaps(other) for other in placed) or (dx, dy) == offsets[-1]:
                placed.append(box)
                break
            text.remove()
    names = [_short(analysis.name[i], 34) for i in order]
    width = max(len(n) for n in names)
    lines = [f"{rank:>2} {name:<{width}} {latency[i]:6.2f} ms  {analysis.bound[i]}"
             for rank, (i, name) in enumerate(zip(order, names), start=1)]
    ax.text(0.012, 0.985, "slowest layers\n" + "\n".join(lines), transform=ax.transAxes, va="top", ha="left",
            fontsize=7, family="monospace", gid="slowest",
            bbox={"boxstyle": "round,pad=0.4", "fc": "white", "ec": "0.75", "alpha": 0.92})


def _short(name: str, width: int = 28) -> str:
    return name if len(name) <= width else "..." + name[-(width - 3):]
