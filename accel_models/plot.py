"""Roofline plots of a network on an accelerator: every layer under its own roof.

One point per layer at (arithmetic intensity, attained GOP/s).  A layer's
roof is ``min(compute roof of its engine, intensity x the DDR bandwidth the
model moves its bytes at)`` (:class:`accel_models.LayerAnalysis`), so the plot
draws every roof that can bound a point: the compute roofs of the int8
convolution array, the depthwise engine and the element-wise engine, and the
DDR lines: the hardware peak, and the two levels the model applies (feature
maps at ``bw_efficiency``, weights at ``weight_bw_efficiency`` of the peak; a
layer moving both lies between them).  Layers that move no DRAM bytes (on
chip only) have no intensity; they are drawn in a band at the right edge,
not at a made-up intensity.  One ridge point: int8 peak over peak DDR.
matplotlib is imported when a plot is drawn, and only its object API is used
(no pyplot state).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from .accelerator import Accelerator
    from .layer import Layer

__all__ = ["BOUND_COLORS", "plot_analysis", "plot_roofline", "roofline_ceilings", "roofline_records"]

#: Colour of a layer's point by what bounds it.
BOUND_COLORS = {"compute": "#1f77b4", "memory": "#d62728", "overhead": "#7f7f7f"}
_CEILING_STYLE = {"depthwise": (0, (3, 2)), "element-wise": (0, (1, 2))}
_DDR_STYLE = {"feature maps": (0, (5, 2)), "weights": (0, (2, 1, 1, 1))}


def roofline_ceilings(accelerator: Accelerator) -> dict[str, float]:
    """Compute roofs of one core's engines in GOP/s, highest first (:func:`accel_models.engine_peaks_gops`).

    Examples
    --------
    >>> from accel_models import Accelerator
    >>> roofline_ceilings(Accelerator.from_dpu("B1600", clock_mhz=200.0))
    {'int8': 320.0, 'depthwise': 16.0, 'element-wise': 16.0}
    """
    from .roofline import engine_peaks_gops

    return engine_peaks_gops(accelerator)


def roofline_records(analysis) -> list[dict]:
    """What the roofline plot draws, one record per layer (the content of ``roofline.json``).

    Keys: ``name``, ``op``, ``engine``, ``intensity_ops_per_byte`` (None for a
    layer with no DRAM traffic), ``attained_gops``, ``roof_gops`` (its own
    roof), ``engine_roof_gops``, ``bandwidth_gbps`` (None on chip),
    ``bound`` and ``on_chip``.
    """
    attained = achieved_gops(analysis)
    records = []
    for i, name in enumerate(analysis.name):
        on_chip = bool(analysis.on_chip[i])
        records.append({
            "name": name, "op": analysis.op[i], "engine": analysis.engine[i],
            "intensity_ops_per_byte": None if on_chip else float(analysis.arithmetic_intensity[i]),
            "attained_gops": float(attained[i]), "roof_gops": float(analysis.attainable_gops[i]),
            "engine_roof_gops": float(analysis.engine_peak_gops[i]),
            "bandwidth_gbps": None if on_chip else float(analysis.bandwidth_gbps[i]),
            "bound": str(analysis.bound[i]), "on_chip": on_chip})
    return records


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

    Artists carry ``gid`` tags a program can find them by: ``"roof"`` (int8
    peak and peak DDR), ``"ridge"``, ``"ceiling:<engine>"`` (depthwise,
    element-wise), ``"ddr:<level>"`` (feature maps, weights),
    ``"layers:<bound>"`` (points with a DRAM intensity) and
    ``"on-chip:<bound>"`` (layers without DRAM traffic, in the right band).
    Every roof drawn has a legend entry.
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
    on_chip = np.asarray(analysis.on_chip)
    intensity = np.asarray(analysis.arithmetic_intensity, dtype=float)
    achieved = achieved_gops(analysis)
    peak, ddr = float(analysis.peak_gops), float(analysis.ddr_peak_gbps)
    ridge = float(analysis.ridge_ops_per_byte)
    levels = {name: float(v) for name, v in analysis.ddr_levels_gbps.items()}
    finite = intensity[~on_chip]
    lo = min(ridge, *(finite if finite.size else [ridge])) / 4
    top = max(ridge, *(finite if finite.size else [ridge])) * 4
    hi = top * (6 if on_chip.any() else 1)  # room for the on-chip band right of the last intensity
    x = np.array([lo, ridge, hi])
    handles = [Line2D([], [], color="black", lw=2,
                      label=f"roof: int8 array {peak:g} GOP/s, DDR peak {ddr:g} GB/s; ridge {ridge:.3g} op/B")]
    ax.plot(x, np.minimum(peak, ddr * x), color="black", lw=2, gid="roof")
    ax.axvline(ridge, color="black", lw=0.8, ls=":", gid="ridge")
    for gbps, names in _merged(levels):  # a calibration may tie the two levels: one line then
        ax.plot([lo, peak / gbps], [gbps * lo, peak], color="#8c564b", lw=1.1, ls=_DDR_STYLE[names[0]],
                gid=f"ddr:{names[0]}")
        handles.append(Line2D([], [], color="#8c564b", lw=1.1, ls=_DDR_STYLE[names[0]],
                              label=f"DDR as the model moves {' = '.join(names)}: {gbps:.3g} GB/s "
                                    f"({gbps / ddr:.0%} of peak)"))
    fastest_ddr = max([ddr, *levels.values()])
    for value, names in _merged_ceilings(accelerator):
        ax.plot([value / fastest_ddr, hi], [value, value], color="0.35", lw=1, ls=_CEILING_STYLE[names[0]],
                gid=f"ceiling:{names[0]}")
        handles.append(Line2D([], [], color="0.35", lw=1, ls=_CEILING_STYLE[names[0]],
                              label=f"{' = '.join(names)} engine roof {value:g} GOP/s"))
    macs = np.asarray(analysis.macs, dtype=float)
    sizes = 12 + 400 * np.sqrt(macs / macs.max()) if macs.max() > 0 else np.full(len(macs), 20.0)
    bounds = np.asarray(analysis.bound)
    band = np.sqrt(top * hi)  # on-chip layers: one column in the middle of the band, spread a little
    shown_x = intensity.copy()
    if on_chip.any():
        ax.axvspan(top * 1.5, hi, color="0.5", alpha=0.08, lw=0, gid="on-chip-band")
        ax.annotate("on chip only\n(no DRAM bytes:\nno intensity)", (band, 0.02), xycoords=("data", "axes fraction"),
                    ha="center", va="bottom", fontsize=7, color="0.35", gid="on-chip-label")
        spread = np.linspace(-0.25, 0.25, int(on_chip.sum())) if on_chip.sum() > 1 else np.zeros(1)
        shown_x[on_chip] = band * np.exp(spread)
    for bound, color in BOUND_COLORS.items():
        for where, marker, gid in ((~on_chip, "o", "layers"), (on_chip, "D", "on-chip")):
            mask = (bounds == bound) & where
            if mask.any():
                ax.scatter(shown_x[mask], achieved[mask], s=sizes[mask] if marker == "o" else 22, color=color,
                           marker=marker, alpha=0.6, edgecolors="white", linewidths=0.5, gid=f"{gid}:{bound}")
                what = "layers" if marker == "o" else "on-chip layers"
                handles.append(Line2D([], [], ls="", marker=marker, ms=7, color=color, alpha=0.6,
                                      label=f"{bound}-bound {what} ({int(mask.sum())})"))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(lo, hi)
    floor = min(achieved.min() if achieved.size else peak, min(levels.values(), default=ddr) * lo)
    ax.set_ylim(max(floor / 3, 1e-3), peak * 2.5)
    ax.set_xlabel("arithmetic intensity (ops per DRAM byte)")
    ax.set_ylabel("attained performance (GOP/s)")
    total_ms = float(np.sum(analysis.latency_ms))
    ax.set_title(f"{accelerator.name} @ {accelerator.clock_mhz:g} MHz, one core: {len(intensity)} layers, "
                 f"{total_ms:.3g} ms (point area ~ MACs); every layer under its own roof", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncols=2, fontsize=7, frameon=False)
    renderer = _layout(ax)
    _label_slowest(ax, analysis, shown_x, achieved, int(label_top), renderer, [])
    return ax


def _layout(ax):
    """Run the figure's layout and return a renderer to measure text with (``None`` if the canvas has none)."""
    figure = ax.get_figure()
    get_renderer = getattr(figure.canvas, "get_renderer", None)
    figure.draw_without_rendering()  # final axes position, so display coordinates are final
    return get_renderer() if get_renderer is not None else None


def _merged_ceilings(accelerator) -> list[tuple[float, list[str]]]:
    """The engine roofs below the int8 roof, equal values merged into one line."""
    return _merged({name: value for name, value in roofline_ceilings(accelerator).items() if name != "int8"})


def _merged(values: dict[str, float]) -> list[tuple[float, list[str]]]:
    """``name -> value`` as ``(value, names)``, equal values merged (one line for each distinct roof)."""
    merged: list[tuple[float, list[str]]] = []
    for name, value in values.items():
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
             for rank, (i, name) in enumerate(zip(order, names, strict=True), start=1)]
    ax.text(0.012, 0.985, "slowest layers\n" + "\n".join(lines), transform=ax.transAxes, va="top", ha="left",
            fontsize=7, family="monospace", gid="slowest",
            bbox={"boxstyle": "round,pad=0.4", "fc": "white", "ec": "0.75", "alpha": 0.92})


def _short(name: str, width: int = 28) -> str:
    return name if len(name) <= width else "..." + name[-(width - 3):]
