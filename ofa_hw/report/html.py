"""The co-design report as one self-contained HTML page (the scaffold: :mod:`accel_models.html_page`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from accel_models.accelerator import CUSTOM_LABEL
from accel_models.html_page import escape, html_page, inline_svg

__all__ = ["render_html"]

_BOUND_COLORS = {"compute": "#1f77b4", "memory": "#d62728", "overhead": "#7f7f7f"}


_e = escape


def _kv(rows: list[tuple[str, Any]]) -> str:
    return "<table class='kv'>" + "".join(f"<tr><td>{_e(k)}</td><td>{v}</td></tr>" for k, v in rows) + "</table>"


def _pct(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{100 * value:.{digits}f}%"


def render_html(summary: Mapping[str, Any], svgs: Mapping[str, str]) -> str:
    """The page of a report ``summary`` (see :func:`ofa_hw.report.report_content`) with its SVG plots.

    ``svgs`` maps ``"pareto"``, ``"roofline"`` and ``"history"`` to SVG text;
    missing plots are left out.
    """
    best = summary.get("best")
    parts = [f"<h1>{_e(summary['title'])}</h1>"]
    accuracy = summary["assumptions"]["accuracy"]
    parts.append(f"<p class='sub'>Objective: {_e(accuracy.get('objective'))}. Latency predictor: "
                 f"{_e(summary['assumptions']['latency'].get('device') or 'user supplied')}. All figures are "
                 "predictions; the assumptions behind them are listed at the end.</p>")
    if best is not None:
        parts += _best_sections(best, summary)
    else:
        parts += _front_only_cards(summary)
    parts.append("<h2>Pareto front: accuracy against latency</h2>")
    accelerators = {d["accelerator"] for d in summary["pareto"]}
    colouring = ("points are coloured by the DSP slices their accelerator uses (colour bar). " if len(accelerators) > 1
                 else "every point runs on the same accelerator, named in the plot title. ")
    parts.append("<p class='note'>Every design on the front is the most accurate one found for its latency; "
                 f"top-1 on the {_e(_scale_label(summary))} scale; " + colouring +
                 ("The star is the chosen design, the most accurate one that meets the constraint." if best else
                  "Without a constraint the search returns the whole front: pick the design whose latency you "
                  "can afford.") + "</p>")
    if "pareto" in svgs:
        parts.append(inline_svg(svgs["pareto"]))
    parts.append(_front_table(summary["pareto"], _scale_label(summary)))
    if best is not None:
        parts += _roofline_section(best, svgs)
        parts += _latency_section(best)
    parts.append("<h2>Search history</h2>")
    if "history" in svgs:
        parts.append(inline_svg(svgs["history"]))
    parts += _assumptions_section(summary)
    return html_page(summary["title"], parts)


# ----------------------------------------------------------- chosen design
def _fps_card(design: Mapping, acc: Mapping, basis: str) -> tuple[str, str]:
    deployed = design.get("deployed")
    if deployed:
        return (f"{design['fps']:.1f}", f"images/s deployed: {deployed['threads']} thread(s) on {deployed['cores']} "
                                        f"core(s), {deployed['bound']}-bound")
    return (f"{design['fps']:.1f}", f"images/s on its core ({basis})" if acc["cores"] == 1 else
            f"images/s on all {acc['cores']} cores ({basis})")


def _best_sections(best: Mapping, summary: Mapping) -> list[str]:
    design, acc, subnet = best["design"], best["accelerator"], best["subnet"]
    resources = best["resources"]
    quantized = summary["assumptions"]["accuracy"].get("quantization")
    scale = _scale_label(summary)
    measured = design["measured_fraction"]
    cards = [
        (f"{design['accuracy_top1']:.2f}%", f"top-1 {scale}, {quantized}" if quantized else f"top-1 {scale} (float)"),
        (f"{design['accuracy_float_top1']:.2f}%", f"top-1 {scale}, float network"),
        (f"{design['latency_ms']:.3f} ms", f"latency per image ({design['latency_source']}, "
                                           f"{100 * measured:.0f}% measured); {_interval_text(design)}"),
        _fps_card(design, acc, best["fps_basis"]),
        (acc["label"].split(" @")[0],
         f"accelerator at {acc['clock_mhz']:g} MHz x {acc['cores']}, {acc['peak_gops']:.0f} GOP/s peak"),
    ]
    deployed = design.get("deployed")
    if deployed:
        shares = deployed["shares"]
        cards.append((f"{deployed['single_thread_latency_ms']:.2f} ms",
                      f"end-to-end, one thread: DPU {100 * shares['dpu']:.0f}%, ARM pre/post "
                      f"{100 * shares['cpu_pre_post']:.0f}%; {deployed['latency_ms']:.2f} ms under load"))
    if resources is not None:
        binding = next(r for r in resources["rows"] if r["resource"] == resources["binding_resource"])
        cards.append((f"{binding['label']} {100 * binding['utilization']:.0f}%", "binding resource on the board"))
    out = ["<div class='cards'>" + "".join(f"<div class='card'><b>{_e(v)}</b><span>{_e(k)}</span></div>"
                                           for v, k in cards) + "</div>", *_latency_figures(best),
           "<h2>Chosen design</h2><div class='cols'>"]
    stages = "".join(
        f"<tr><td>{s['stage']}</td><td>{s['depth']}</td><td class='l'>{_e(' '.join(map(str, s['kernels'])))}</td>"
        f"<td class='l'>{_e(' '.join(map(str, s['expands'])))}</td></tr>" for s in subnet["stages"])
    out.append(
        f"<div><h3>Sub-network: OFA-MobileNetV3 w{subnet['width_mult']:g}</h3>" + _kv([
            ("input resolution", f"{subnet['r']} x {subnet['r']}"),
            ("depth per stage", _e(subnet["d"])),
            ("blocks (first block included)", subnet["blocks"]),
            ("MACs", f"{subnet['macs'] / 1e6:,.1f} M"),
            ("parameters", f"{subnet['params'] / 1e6:,.2f} M"),
        ]) + "<table><tr><th>stage</th><th>depth</th><th class='l'>kernel per block</th>"
             f"<th class='l'>expand per block</th></tr>{stages}</table></div>")
    out.append(
        f"<div><h3>Accelerator: {_e(acc['label'])}</h3>" + _kv([
            ("pixel / input-channel / output-channel parallelism",
             f"PP {acc['pp']}, ICP {acc['icp']}, OCP {acc['ocp']}"),
            ("depthwise pixel parallelism", acc["dw_pp"]),
            ("clock", f"{acc['clock_mhz']:g} MHz"),
            ("cores", acc["cores"]),
            ("peak int8", f"{acc['peak_gops_per_core']:.0f} GOP/s per core, {acc['peak_gops']:.0f} GOP/s in all"),
            ("DDR bandwidth (peak)", f"{acc['ddr_bw_gbps']:g} GB/s"),
            ("on-chip buffers", f"weights {acc['weight_buffer_kib']:g} KiB, activations {acc['act_buffer_kib']:g} KiB"),
            ("ridge point", f"{acc['ridge_ops_per_byte']:.1f} ops/byte"),
            ("DPU build options", f"IP {acc['options']['ip_version']}, RAM usage {acc['options']['ram_usage']}, "
                                  f"DSP usage {acc['options']['dsp_usage']}, UltraRAM {acc['options']['uram_per_core']}"
                                  f"/core, hard-sigmoid {'yes' if acc['options']['hard_sigmoid'] else 'no'}"),
        ]) + "</div></div>")
    if resources is not None:
        out += _resources(resources, summary, stock=acc["kind"] != "custom")
    if acc["kind"] == "custom":
        out.append(f"<p class='note'><b>{_e(CUSTOM_LABEL)}</b>: no vendor IP builds it; the HLS export "
                   "(<code>ofa-hw export</code>) realises it.</p>")
    fallback = best["cpu_fallback"]
    if fallback:
        rows = "".join(f"<tr><td class='l'>{_e(f['name'])}</td><td>{_e(f['op'])}</td><td class='l'>"
                       f"{_e(f['reason'])}</td></tr>" for f in fallback)
        out.append(f"<h3>CPU fallback: {len(fallback)} layer(s) the DPU configuration cannot run</h3>"
                   "<p class='note'>They run on the ARM CPU as separate subgraphs; their CPU time, DDR round trip "
                   "and one extra DPU launch per split are included in the latency.</p>"
                   f"<table><tr><th class='l'>layer</th><th>op</th><th class='l'>reason</th></tr>{rows}</table>")
    return out


def _latency_figures(best: Mapping) -> list[str]:
    """Every labelled latency of the design, as ``ofa-hw export`` prints them (:mod:`hls.latency_figures`)."""
    from hls.latency_figures import ENGINE_LABEL, LatencyFigure

    figures = [LatencyFigure.from_dict(f) for f in best.get("latencies") or []]
    items = "".join(f"<li>{_e(f.line())}</li>" for f in figures)
    note = "" if any(f.label == ENGINE_LABEL for f in figures) or best["accelerator"]["kind"] != "custom" else (
        "<p class='note'>The HLS engine's own cycle count appears here once the design is exported: "
        "<code>ofa-hw export --result RESULT.json --out DIR</code>, then <code>ofa-hw report RESULT.json "
        "--export DIR</code>.</p>")
    return [f"<h3>Latency of this design</h3><ul class='figures'>{items}</ul>{note}"]


def _resources(resources: Mapping, summary: Mapping, *, stock: bool) -> list[str]:
    """The resource bars and notes; ``stock``: a DPUCZDX8G build, priced by PG338 (else by its HLS engine)."""
    board = summary["board"]
    cap = (summary["assumptions"]["search"].get("max_utilization") or 1.0)
    out = [f"<h3>Resources on {_e(board['name'])} ({_e(board['part'])})</h3><div class='res'>"]
    for row in resources["rows"]:
        binding = row["resource"] == resources["binding_resource"]
        width = min(row["utilization"], 1.0) * 100
        marker = f"<div class='cap' style='left:{100 * cap:.1f}%'></div>" if cap < 1 else ""
        used = "none on board" if not row["budget"] else \
            f"{row['used']:,.0f} of {row['budget']:,.0f} ({100 * row['utilization']:.0f}%)"
        out.append(f"<div>{'<b>' if binding else ''}{_e(row['label'])}{'</b>' if binding else ''}</div>"
                   f"<div class='track'><div class='fill{' binding' if binding else ''}' style='width:{width:.1f}%'>"
                   f"</div>{marker}</div><div>{_e(used)}</div>")
    out.append("</div>")
    notes = [f"binding resource: <b>{_e(resources['binding_resource'])}</b> (the one that stops a larger "
             "accelerator)"]
    if stock:
        notes += [f"DSP-usage option: {_e(resources['dsp_usage'])} (PG338; 'low' builds the accumulators in LUTs)",
                  f"UltraRAM per core: {resources['uram_per_core']} (buffers placed in it as built)",
                  "estimates from the PG338 resource fit", *(_e(n) for n in resources.get("notes", ()))]
    else:  # a custom accelerator: its HLS engine is its only build
        notes.append("estimates from the structure of the HLS engine that realises it (accel_models.hls_engine: "
                     "two int8 MACs per DSP48E2 at one clock, its weight buffer in UltraRAM only when BRAM is short)")
    if cap < 1:
        notes.append(f"dashed line: the {100 * cap:.0f}% limit the search allowed")
    if resources["extrapolated"]:
        notes.append("<b>the parallelism lies outside the PG338 configurations: extrapolated estimate</b>")
    if not resources["fits"]:
        notes.append("<b>does not fit the board</b>")
    out.append("<p class='note'>" + "; ".join(notes) + ".</p>")
    return out


def _front_only_cards(summary: Mapping) -> list[str]:
    front = summary["pareto"]
    cards = [(str(len(front)), "designs on the Pareto front"),
             (f"{front[0]['latency_ms']:.2f} - {front[-1]['latency_ms']:.2f} ms", "latency range"),
             (f"{front[0]['accuracy_top1']:.2f} - {front[-1]['accuracy_top1']:.2f}%",
              f"predicted top-1 range, {_scale_label(summary)}"),
             (str(len({d['accelerator'] for d in front})), "distinct accelerators on the front")]
    return ["<div class='cards'>" + "".join(f"<div class='card'><b>{_e(v)}</b><span>{_e(k)}</span></div>"
                                            for v, k in cards) + "</div>",
            "<p class='warn'>No constraint was given, so there is no single chosen design: the report shows the "
            "front and its assumptions. Rerun with a latency or throughput constraint to get a design, its "
            "roofline and its per-layer latency.</p>"]


def _scale_label(summary: Mapping) -> str:
    """The accuracy scale, as printed beside every top-1 figure."""
    return (summary["assumptions"]["accuracy"].get("scale") or {}).get("label", "(scale not recorded)")


def _interval_text(design: Mapping) -> str:
    """The latency interval of a design summary, or why there is none."""
    if design.get("latency_confidence") is None:
        return "no interval model for this predictor"
    return (f"{100 * design['latency_confidence']:.0f}% interval {design['latency_low_ms']:.2f}-"
            f"{design['latency_high_ms']:.2f} ms")


def _dsp(dsp: float | None) -> str:
    """A design's DSP count, or "n/a" for a search of a device's own accelerator (no board, no resources)."""
    return "n/a" if dsp is None else f"{dsp:.0f}"


def _front_table(front: list[Mapping], scale: str) -> str:
    rows = "".join(
        f"<tr><td>{i + 1}</td><td>{d['latency_ms']:.3f}</td>"
        f"<td>{_e(_interval_text(d).split(' interval ')[-1])}</td><td>{d['fps']:.1f}</td>"
        f"<td>{d['accuracy_top1']:.2f}</td>"
        f"<td>{d['accuracy_float_top1']:.2f}</td><td class='l'>{_e(d['accelerator'])}</td><td>{_dsp(d['dsp'])}</td>"
        f"<td>{d['r']}</td><td class='l'>{_e(d['d'])}</td><td class='l'>{_e(d['latency_source'])}</td></tr>"
        for i, d in enumerate(front))
    return (f"<details><summary>The {len(front)} designs of the front</summary><table><tr><th>#</th>"
            f"<th>latency (ms)</th><th>interval</th><th>images/s</th><th>top-1 (%, {_e(scale)})</th>"
            "<th>float top-1 (%)</th>"
            "<th class='l'>accelerator</th><th>DSP</th><th>r</th><th class='l'>depths</th><th class='l'>latency "
            f"from</th></tr>{rows}</table></details>")


# ----------------------------------------------------- roofline and latency
def _roofline_section(best: Mapping, svgs: Mapping[str, str]) -> list[str]:
    roof = best["roofline"]
    out = ["<h2>Roofline of the chosen design</h2>",
           f"<p class='note'>One point per layer at its arithmetic intensity (operations per DRAM byte) and the "
           f"performance the calibrated model predicts for it; every point lies on or under its own roof, the "
           f"lower of its engine's compute roof and its intensity times the DDR bandwidth the model moves its "
           f"bytes at. Drawn: the int8 array roof ({roof['peak_gops']:.0f} GOP/s on one core) with the peak DDR "
           f"line and the ridge point at {roof['ridge_ops_per_byte']:.1f} ops/byte (int8 peak over peak DDR, the "
           f"figure in the accelerator table above), the depthwise and element-wise engine roofs, and the DDR "
           f"lines at the rates the model applies to feature maps and to weights (a layer moving both lies "
           f"between them). Layers that move no DRAM bytes (squeeze-excite pool and scale) are drawn in the grey "
           f"band on the right: they have no intensity. The network reaches {roof['achieved_gops']:.1f} GOP/s, "
           f"{100 * roof['utilization']:.1f}% of the peak.</p>"]
    if best["latency"]["accelerator_measured"]:
        out.append("<p class='note'>This accelerator is the one the latency table was measured on: the plot shows "
                   "the model's view of every layer, the per-unit table below the measured latencies.</p>")
    if "roofline" in svgs:
        out.append(inline_svg(svgs["roofline"]))
    out.append("<div class='bar'>")
    for bound, share in roof["share_by_bound"].items():
        if share > 0:
            out.append(f"<div style='width:{100 * share:.2f}%;background:{_BOUND_COLORS[bound]}'>"
                       f"{_e(bound)} {100 * share:.0f}%</div>")
    out.append("</div>")
    rows = "".join(f"<tr><td class='l'>{_e(b)}</td><td>{roof['layers_by_bound'][b]}</td>"
                   f"<td>{roof['latency_ms_by_bound'][b]:.3f}</td><td>{100 * roof['share_by_bound'][b]:.1f}%</td></tr>"
                   for b in ("compute", "memory", "overhead"))
    out.append("<table style='width:auto;min-width:50%'><tr><th class='l'>bound</th><th>layers</th>"
               f"<th>model latency (ms)</th><th>share</th></tr>{rows}</table>")
    return out


def _main_bound(unit: Mapping) -> str:
    times: dict[str, float] = {}
    for layer in unit["layers"]:
        times[layer["bound"]] = times.get(layer["bound"], 0.0) + layer["model_ms"]
    return max(times, key=lambda bound: times[bound])


def _latency_section(best: Mapping) -> list[str]:
    table = best["latency"]
    total = table["total_ms"]
    measured = any(unit["source"] == "measured" for unit in table["units"])  # else the comparison columns are empty
    out = ["<h2>Latency per unit, with the source of each number</h2>",
           f"<p class='note'>Numbers come from: {_e(table['method'])}. Units run one after the other, so the "
           f"design's latency is their sum plus one program launch ({table['invocation_ms']:.4f} ms): "
           f"{total:.3f} ms, of which {table['measured_ms']:.3f} ms measured. "
           + ("For measured units, <i>entry</i> is the table's measurement of the unit as its own program "
              "(launch included) and <i>model</i> the calibrated model's estimate of the unit in the network, "
              "for comparison." if measured else "No unit of this design was measured, so every number is the "
              "calibrated model's.") + "</p>"]
    rows = []
    for i, unit in enumerate(table["units"]):
        entry = "" if unit["measured_entry_ms"] is None else f"{unit['measured_entry_ms']:.4f}"
        model = f"{unit['model_ms']:.4f}" if unit["source"] == "measured" else ""
        compare = f"<td>{entry}</td><td>{model}</td>" if measured else ""
        rows.append(
            f"<tr><td>{i}</td><td class='l' title='{_e(unit['unit'])}'>{_e(unit['label'])}</td>"
            f"<td class='l'><span class='src {_e(unit['source'])}'>{_e(unit['source'])}</span></td>"
            f"<td>{unit['latency_ms']:.4f}</td><td>{100 * unit['latency_ms'] / total:.1f}%</td>{compare}"
            f"<td>{len(unit['layers'])}</td><td class='l'>{_e(_main_bound(unit))}</td></tr>")
    blank = "<td></td><td></td>" if measured else ""
    rows.append(f"<tr><td></td><td class='l'>one program launch</td><td class='l'><span class='src model'>model"
                f"</span></td><td>{table['invocation_ms']:.4f}</td><td>{100 * table['invocation_ms'] / total:.1f}%"
                f"</td>{blank}<td></td><td></td></tr>")
    rows.append(f"<tr><th></th><th class='l'>total</th><th></th><th>{total:.4f}</th><th>100%</th>"
                f"{blank.replace('td', 'th')}<th></th><th></th></tr>")
    heads = "<th>entry (ms)</th><th>model (ms)</th>" if measured else ""
    out.append("<table><tr><th>#</th><th class='l'>unit</th><th class='l'>source</th><th>latency (ms)</th>"
               f"<th>share</th>{heads}<th>layers</th><th class='l'>bound (mostly)</th></tr>"
               + "".join(rows) + "</table>")
    layer_rows = "".join(
        f"<tr><td class='l'>{_e(layer['name'])}</td><td class='l'>{_e(layer['op'])}</td><td>{layer['macs']:,}</td>"
        f"<td>{layer['model_ms']:.4f}</td><td>{100 * layer['utilization']:.1f}%</td>"
        f"<td class='l'>{_e(layer['bound'])}</td></tr>"
        for unit in table["units"] for layer in unit["layers"])
    n_layers = sum(len(u["layers"]) for u in table["units"])
    out.append(f"<details><summary>All {n_layers} layers (calibrated-model estimates on this accelerator)</summary>"
               "<table><tr><th class='l'>layer</th><th class='l'>op</th><th>MACs</th><th>model (ms)</th>"
               f"<th>PE utilization</th><th class='l'>bound</th></tr>{layer_rows}</table></details>")
    return out


# ------------------------------------------------------------- assumptions
def _error(report: Mapping | None) -> str:
    if not report:
        return "not available"
    return (f"MAPE {report['mape_pct']:.1f}%, median {report['median_abs_pct_error']:.1f}%, worst "
            f"{report['max_abs_pct_error']:.1f}%, Spearman {report['spearman']:.3f} (n={report['n']})")


def _assumptions_section(summary: Mapping) -> list[str]:
    assumptions = summary["assumptions"]
    latency, accuracy, search = assumptions["latency"], assumptions["accuracy"], assumptions["search"]
    out = ["<h2>Assumptions</h2><div class='cols'><div><h3>Latency</h3>"]
    rows: list[tuple[str, Any]] = [("predictor", _e(latency.get("device") or "user supplied") + (
        f"<br><span class='note'>{_e(latency['description'])}</span>" if latency.get("description") else ""))]
    if latency.get("model"):
        rows.append(("latency model", _e(latency["model"])))
    table = latency.get("table")
    if table:
        rows += [("measured table", f"{_e(table['name'])} ({table['entries']} entries)"),
                 ("measured on", _e(", ".join([table["board"], table["dpu_arch"] + (
                     f" @ {table['clock_mhz']:g} MHz" if table["clock_mhz"] else ""), table["toolchain"]]))),
                 ("method", _e(table["method"])), ("source", _e(table["source"])), ("license", _e(table["license"]))]
    calibration = latency.get("calibration") or {}
    if "in_sample" in calibration:
        rows += [("calibration error, in sample", _e(_error(calibration["in_sample"]))),
                 ("calibration error, cross-validated", _e(_error(calibration["cross_validated"])) +
                  f"<br><span class='note'>{_e(calibration['cross_validation'])}</span>")]
        if calibration.get("traffic"):
            rows.append(("modelled vs measured DRAM traffic", _e(_error(calibration["traffic"]))))
        how = calibration["method"].get("invocation_ms")
        rows.append(("program launch cost", f"{latency['invocation_ms']:.4f} ms" + (f": {_e(how)}" if how else "")))
    elif calibration:
        rows.append(("calibration", _e(calibration.get("note"))))
    out.append(_kv(rows))
    if table:
        out.append("<p class='note'>Measured entries apply only on the accelerator they were measured on; on every "
                   "other accelerator the model calibrated on them is transferred (efficiencies, bandwidth fractions "
                   "and overheads carry over), so its error there can exceed the figures above.</p>")
    parameters = latency.get("parameters") or {}
    if parameters:
        prow = "".join(f"<tr><td class='l'>{_e(name)}</td><td>{_value(info)}</td>"
                       f"<td class='l'>{_e(_meaning(info))}</td></tr>" for name, info in parameters.items())
        out.append(f"<details><summary>Calibrated model parameters</summary><table><tr><th class='l'>parameter</th>"
                   f"<th>value</th><th class='l'>meaning</th></tr>{prow}</table></details>")
    out.append("</div><div><h3>Accuracy</h3>")
    arows: list[tuple[str, Any]] = [("predictor", _e(accuracy.get("predictor"))),
                                    ("what it predicts", _e(accuracy.get("kind") or accuracy.get("objective")))]
    scale = accuracy.get("scale")
    if scale:
        arows.append(("scale", _e(f"{scale['label']}: {scale['description']}")))
        if scale.get("calibration"):
            arows.append(("scale calibration", _e(scale["calibration"])))
    drop = accuracy.get("int8_drop")
    if drop:
        arows.append(("int8 drop model", _e(f"{drop['scheme']}: {drop['drop_pp']:.2f} +/- {drop['sd_pp']:.2f} pp, "
                                            f"from published float vs int8 figures of {', '.join(drop['analogues'])}")))
    if accuracy.get("note"):
        arows.append(("note", _e(accuracy["note"])))
    out.append(_kv(arows))
    out.append("<h3>Search</h3>")
    srows = [(k, _e(json.dumps(v) if isinstance(v, (dict, list)) else v)) for k, v in search.items()
             if k not in ("accelerators", "resolutions")]
    if "resolutions" in search:
        srows.append(("resolutions", _e(_ranges(search["resolutions"]))))
    accelerators = search.get("accelerators")
    if isinstance(accelerators, Mapping):
        grid = accelerators.get("grid")
        text = f"{accelerators.get('count')} that fit the board"
        if accelerators.get("dropped"):
            text += f" ({accelerators['dropped']} configurations that do not fit left out)"
        if grid:
            text += " from the grid " + "; ".join(f"{k} {v}" for k, v in grid.items())
        srows.append(("accelerators considered", _e(text)))
    out.append(_kv(srows))
    out.append("</div></div>")
    return out


def _value(info: Mapping) -> str:
    value = info.get("value") if isinstance(info, Mapping) else info
    unit = info.get("unit", "") if isinstance(info, Mapping) else ""
    return _e(f"{value:.4g} {unit if unit != '1' else ''}".strip())


def _meaning(info: Mapping) -> str:
    return info.get("meaning", "") if isinstance(info, Mapping) else ""


def _ranges(values: list[int]) -> str:
    values = sorted(values)
    if len(values) > 2:
        steps = {b - a for a, b in zip(values, values[1:], strict=False)}
        if len(steps) == 1:
            return f"{values[0]}..{values[-1]} step {steps.pop()} ({len(values)} values)"
    return ", ".join(map(str, values))
