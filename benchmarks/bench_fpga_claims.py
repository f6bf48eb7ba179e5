"""OFA's published FPGA results (ZU3EG = Ultra96-V2, int8, batch 1) reproduced: OFA sub-networks vs MobileNetV2.

The published figures (Cai et al., Once-for-All, ICLR 2020, FPGA section):

* OFA sub-networks have 40 % higher arithmetic intensity than MobileNetV2,
* and 57 % higher GOP/s (and utilisation);
* at the same latency, up to 7.9 pp higher ImageNet top-1;
* at similar ImageNet top-1, 1.5x faster.

Each claim is evaluated on two DPUs of the Ultra96-V2 (B2304 @ 200 MHz with
the measured block table, and the PYNQ default B1600 @ 200 MHz through the
jointly calibrated model), for several sets of OFA networks: (a) the Pareto
front of a search on ``ofa-mbv3-w1.2`` (float top-1 from OFA's predictor on the
calibrated ImageNet-val scale of :mod:`ofa_hw.accuracy.scale`; its residual on
OFA's own w1.2 nets is printed), and
(b) OFA's released specialized nets of each space with their **measured**
ImageNet-val top-1.  MobileNetV2 is the 22 width x resolution variants of the
TF-slim table at their published top-1 (ImageNet-val, float).  Both sides are
predicted the same way: :func:`accel_models.analyze_network`, each block one
unit, plus one program launch.

Definitions: intensity = ops / modelled DRAM bytes of the network; GOP/s =
2 x MACs / latency (utilisation = GOP/s / peak, so both claims move together);
the intensity and GOP/s gains compare the mean of the OFA set with MobileNetV2
1.0 @ 224 (and, in ``details``, with the MobileNetV2 variants in the OFA set's
latency range); the top-1 gain at
equal latency is the largest over the OFA nets of (OFA top-1 - MobileNetV2's
top-1 interpolated on its latency front); the speed-up at similar accuracy is
the largest of (MobileNetV2 latency interpolated at the OFA net's top-1) /
(OFA latency), within the MobileNetV2 accuracy range.

A second table attributes the GOP/s of the OFA MobileNetV3 nets by layer type
(squeeze-and-excitation, h-swish, depthwise), the question behind the GOP/s
sign (README, "OFA vs MobileNetV2 on the Ultra96-V2").
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np

from accel_models import Accelerator, BlockSpec, analyze_network, get_board
from latency_tables import get_predictor, load_table
from latency_tables.predictor import calibrated_device
from ofa_hw import SubnetConfig, search_codesign, zoo
from ofa_hw.accuracy import get_predictor as get_accuracy_predictor
from ofa_hw.macs_proxy import macs_proxy_front

PUBLISHED = {"arithmetic_intensity_gain_pct": 40.0, "gops_gain_pct": 57.0, "utilization_gain_pct": 57.0,
             "top1_gain_at_equal_latency_pp": 7.9, "speedup_at_similar_top1": 1.5}


@dataclass(frozen=True)
class Point:
    """One network on one accelerator."""

    name: str
    latency_ms: float
    top1: float
    intensity: float
    gops: float
    utilization: float


def _point(name: str, layers, accelerator: Accelerator, predictor, top1: float) -> Point:
    totals = analyze_network(layers, accelerator, predictor).totals()
    return Point(name, totals["latency_ms"], top1, totals["arithmetic_intensity"], totals["gops"],
                 totals["utilization"])


def _devices() -> dict[str, tuple[Accelerator, object, str]]:
    measured = get_predictor("ultra96v2-b2304")
    joint = get_predictor("dpuczdx8g-joint")
    b1600 = get_board("ultra96v2").default_accelerator()
    return {
        "B2304": (calibrated_device("ultra96v2-b2304").accelerator, measured,
                  "Ultra96-V2 B2304 @ 200 MHz, measured block table (ultra96v2-b2304), model elsewhere"),
        "B1600": (b1600, joint, "Ultra96-V2 PYNQ default B1600 @ 200 MHz, joint model transferred (dpuczdx8g-joint)"),
    }


def _w12_scale_residual() -> float:
    """Mean (predicted float top-1, ImageNet-val scale - measured top-1) over OFA's w1.2 nets it scores (160-224)."""
    predictor = get_accuracy_predictor("ofa-mbv3-w1.2")
    nets = [n for n in zoo.ofa_specialized("ofa-mbv3-w1.2-*") if 160 <= n.resolution <= 224]
    predicted = np.array([float(predictor.predict(_config(n))[0]) for n in nets])
    return float(np.mean(predicted - np.array([n.top1 for n in nets])))


def _config(net: zoo.ZooNetwork) -> SubnetConfig:
    if net.config is None:
        raise ValueError(f"{net.name} is not an OFA sub-network")
    return net.config


def _top1(net: zoo.ZooNetwork) -> float:
    if net.top1 is None:
        raise ValueError(f"{net.name} has no published top-1")
    return net.top1


def _search_front(accelerator: Accelerator, predictor, budget: int) -> list[tuple[str, SubnetConfig, float]]:
    result = search_codesign(board="ultra96v2", accelerators=accelerator, predictor=predictor, budget=budget,
                             seed=0, progress=False)
    front = sorted(result.pareto, key=lambda d: d.latency_ms)
    return [(f"search-{i}", d.subnet, d.accuracy_float_top1) for i, d in enumerate(front)]


def _interp(x: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Linear interpolation on a front; NaN outside it (no extrapolation)."""
    order = np.argsort(xs)
    xs, ys = xs[order], np.maximum.accumulate(ys[order])
    out = np.interp(x, xs, ys)
    return np.where((x < xs[0]) | (x > xs[-1]), np.nan, out)


def _front(points: list[Point]) -> list[Point]:
    """The latency-accuracy Pareto front (faster and more accurate than every later point)."""
    best, front = -np.inf, []
    for p in sorted(points, key=lambda p: p.latency_ms):
        if p.top1 > best:
            front.append(p)
            best = p.top1
    return front


REFERENCE = "mobilenet-v2-1.0-224"


def compare(ofa: list[Point], mbv2: list[Point]) -> dict:
    """The four claims for one OFA set against the MobileNetV2 variants.

    Intensity and GOP/s: the OFA set's mean against MobileNetV2 1.0 @ 224
    (the network the claim names); ``..._vs_latency_peers`` against the mean of
    the MobileNetV2 variants within the OFA set's latency range.
    """
    lo, hi = min(p.latency_ms for p in ofa), max(p.latency_ms for p in ofa)
    in_range = [p for p in mbv2 if lo <= p.latency_ms <= hi] or mbv2
    peers = [p for p in mbv2 if p.name == REFERENCE]
    mean = lambda pts, f: float(np.mean([getattr(p, f) for p in pts]))  # noqa: E731
    front = _front(mbv2)
    f_lat, f_top1 = np.array([p.latency_ms for p in front]), np.array([p.top1 for p in front])
    o_lat, o_top1 = np.array([p.latency_ms for p in ofa]), np.array([p.top1 for p in ofa])
    gain = o_top1 - _interp(o_lat, f_lat, f_top1)
    mbv2_latency = _interp(o_top1, f_top1, f_lat)
    speedup = mbv2_latency / o_lat
    return {
        "arithmetic_intensity_gain_pct": 100 * (mean(ofa, "intensity") / mean(peers, "intensity") - 1),
        "gops_gain_pct": 100 * (mean(ofa, "gops") / mean(peers, "gops") - 1),
        "utilization_gain_pct": 100 * (mean(ofa, "utilization") / mean(peers, "utilization") - 1),
        "top1_gain_at_equal_latency_pp": float(np.nanmax(gain)) if np.isfinite(gain).any() else None,
        "speedup_at_similar_top1": float(np.nanmax(speedup)) if np.isfinite(speedup).any() else None,
        "arithmetic_intensity_gain_pct_vs_latency_peers": 100 * (mean(ofa, "intensity") / mean(in_range, "intensity")
                                                                 - 1),
        "gops_gain_pct_vs_latency_peers": 100 * (mean(ofa, "gops") / mean(in_range, "gops") - 1),
        "mobilenet_v2_latency_peers": [p.name for p in in_range],
        "ofa_networks": len(ofa),
        "ofa_latency_ms": [round(lo, 3), round(hi, 3)],
    }


def _without(layers, kind: str):
    """The layers with one feature removed, for attribution: SE layers dropped, or h-swish / h-sigmoid -> ReLU."""
    if kind == "se":
        return tuple(replace(layer, inputs=tuple(i for i in layer.inputs if ".se." not in i) or layer.inputs)
                     for layer in layers if ".se." not in layer.name)
    if kind == "h_swish":
        return tuple(replace(layer, activation="relu") if layer.activation in ("h_swish", "h_sigmoid") else layer
                     for layer in layers)
    raise ValueError(kind)


def attribution(nets, accelerator: Accelerator, predictor) -> dict:
    """Mean share of latency and GOP/s of the OFA MobileNetV3 nets with and without SE and h-swish."""
    rows = {}
    for kind in ("as built", "se", "h_swish"):
        gops, latency = [], []
        share: dict[str, list[float]] = {"se": [], "h_swish": [], "dwconv": []}
        for net in nets:
            layers = net.layers() if kind == "as built" else _without(net.layers(), kind)
            analysis = analyze_network(layers, accelerator, predictor)
            totals = analysis.totals()
            gops.append(totals["gops"])
            latency.append(totals["latency_ms"])
            if kind == "as built":
                lat = analysis.layer_latency_ms
                names = np.array(analysis.names)
                share["se"].append(lat[np.char.find(names.astype(str), ".se.") >= 0].sum() / totals["latency_ms"])
                share["h_swish"].append(lat[[layer.activation in ("h_swish", "h_sigmoid") for layer in layers]].sum()
                                        / totals["latency_ms"])
                share["dwconv"].append(lat[np.array(analysis.op) == "dwconv"].sum() / totals["latency_ms"])
        row = {"gops": float(np.mean(gops)), "latency_ms": float(np.mean(latency))}
        if kind == "as built":
            row.update({f"latency_share_{k}_pct": 100 * float(np.mean(v)) for k, v in share.items()})
        rows["without " + kind if kind != "as built" else kind] = row
    return rows


PROXY_FRONT = "OFA-ProxylessNAS w1.3 (latency, MACs)-proxy front of a search (no accuracy exists)"

_VERSUS = {
    "arithmetic_intensity_gain_pct": "1.0 @ 224; means",
    "gops_gain_pct": "1.0 @ 224; means",
    "utilization_gain_pct": "1.0 @ 224; means",
    "top1_gain_at_equal_latency_pp": "front of the 22 TF-slim variants at published ImageNet-val top-1; max over nets",
    "speedup_at_similar_top1": "front of the 22 TF-slim variants at published ImageNet-val top-1; max over nets",
}


def measured_block_gops() -> dict:
    """The Ultra96-V2 profiler's GOP/s of the measured MBConv blocks, by activation and SE (median, range, map sizes).

    Each block was its own xmodel (one launch included); activation and map
    size are confounded in this table (h-swish only in the 7-28 px stages).
    """
    groups: dict[str, list[tuple[float, int]]] = {}
    for key, entry in load_table("ultra96v2-b2304").entries.items():
        if not key.startswith("expanded_conv"):
            continue
        spec = BlockSpec.from_key(key)
        group = f"{spec.activation}{' + SE' if spec.se else ''}"
        groups.setdefault(group, []).append((float(entry.extra["dpu_gops"]), spec.in_shape[1]))
    return {group: {"blocks": len(rows), "median_gops": float(np.median([g for g, _ in rows])),
                    "min_gops": min(g for g, _ in rows), "max_gops": max(g for g, _ in rows),
                    "input_px": sorted({px for _, px in rows})} for group, rows in sorted(groups.items())}


def run(quick: bool = False) -> dict:
    warnings.filterwarnings("ignore", "resolution.*outside the range", UserWarning)
    budget = 2_000 if quick else 10_000
    residual = _w12_scale_residual()
    mbv2 = [zoo.get_network(n) for n in zoo.list_networks("mobilenet-v2-*")]
    sets = {
        "OFA w1.2 search front (predicted float top-1, calibrated ImageNet-val scale)": None,
        "OFA-MobileNetV3 w1.0 specialized (measured top-1)": zoo.ofa_specialized("ofa-mbv3-w1.0-*"),
        "OFA-MobileNetV3 w1.2 specialized (measured top-1)": zoo.ofa_specialized("ofa-mbv3-w1.2-*"),
        "OFA-ProxylessNAS w1.3 specialized (measured top-1)": zoo.ofa_specialized("ofa-proxyless-w1.3-*"),
        PROXY_FRONT: None,
    }
    claims, details = [], {}
    for device, (accelerator, predictor, device_text) in _devices().items():
        mbv2_points = [_point(n.name, n.layers(), accelerator, predictor, _top1(n)) for n in mbv2]
        for label, nets in sets.items():
            if label == PROXY_FRONT:  # no accuracy exists for this space: intensity and GOP/s only
                proxy = macs_proxy_front("ofa-proxyless-w1.3", predictor, accelerator, n=budget, seed=0)
                ofa = [_point(f"macs-proxy-{i}", d.subnet.layers(), accelerator, predictor, float("nan"))
                       for i, d in enumerate(proxy)]
            elif nets is None:
                front = _search_front(accelerator, predictor, budget)
                ofa = [_point(name, cfg.layers(), accelerator, predictor, top1) for name, cfg, top1 in front]
            else:
                ofa = [_point(n.name, n.layers(), accelerator, predictor, _top1(n)) for n in nets]
            figures = compare(ofa, mbv2_points)
            details[f"{device} | {label}"] = figures
            for key, published in PUBLISHED.items():
                claims.append({"name": key, "published": published,
                               "ours": None if figures[key] is None else round(figures[key], 2),
                               "condition": f"{device_text}; {label} vs MobileNetV2 ({_VERSUS[key]}); OFA latency "
                                            f"{figures['ofa_latency_ms']} ms"})
    accelerator, predictor, _ = _devices()["B2304"]
    attribution_rows = attribution(zoo.ofa_specialized("ofa-mbv3-*"), accelerator, predictor)
    measured = measured_block_gops()
    _print(claims, attribution_rows, residual, measured)
    return {"claims": claims, "details": details, "gops_attribution_b2304_mbv3_specialized": attribution_rows,
            "measured_ultra96_block_gops": measured, "w12_predictor_residual_pp": residual, "search_budget": budget}


def _print(claims: list[dict], attribution_rows: dict, residual: float, measured: dict) -> None:
    print(f"w1.2 predictor (ImageNet-val scale) - measured top-1 of OFA's w1.2 nets: {residual:+.2f} pp (in-sample)")
    print(f"{'claim':<32} {'published':>9} {'ours':>8}  condition")
    for c in claims:
        ours = "n/a" if c["ours"] is None else f"{c['ours']:.2f}"
        print(f"{c['name']:<32} {c['published']:>9.2f} {ours:>8}  {c['condition'][:150]}")
    print("\nGOP/s attribution, OFA-MobileNetV3 specialized nets on B2304 (mean):")
    for name, row in attribution_rows.items():
        print(f"  {name:<16} " + ", ".join(f"{k} {v:.2f}" for k, v in row.items()))
    print("\nMeasured Ultra96-V2 B2304 MBConv blocks (profiler GOP/s, each block its own xmodel):")
    for group, row in measured.items():
        print(f"  {group:<16} {row['blocks']:>3} blocks at {row['input_px']} px: median {row['median_gops']:.1f} "
              f"GOP/s ({row['min_gops']:.1f}-{row['max_gops']:.1f})")
