"""Throughput of whole-network latency prediction: vectorised hybrid predictor vs an OFA-style loop.

The baseline is what OFA's ``LatencyTable.predict_network_latency`` does: for
each network, build the key of every block and add up the means of the table
of the network's resolution from a dict.  The hybrid predictor turns a population into a catalogue of distinct
units, looks each unit up (or models it) once and sums per network with one
numpy gather.  On Note10 every unit of the space at 160..224 is measured, so
both must give the same numbers there; the benchmark checks that.
"""

from __future__ import annotations

import time

import numpy as np

from latency_tables import get_predictor, load_table
from ofa_hw import block_keys, sample_subnets


def ofa_style_latency_ms(batch, means: dict[int, dict[str, float]]) -> np.ndarray:
    """Per-network dict lookups in the table of its resolution, one Python loop per network and block."""
    out = np.empty(len(batch))
    for i, cfg in enumerate(batch):
        table = means[cfg.r]
        out[i] = sum(table[key] for key in block_keys(cfg))
    return out


def _timed(fn, *args):
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def run(quick: bool = False) -> dict:
    sizes = [100_000] if quick else [100_000, 1_000_000]
    baseline_n = 2_000 if quick else 20_000
    resolutions = list(range(160, 225, 4))
    figures: dict = {"sizes": sizes, "baseline_networks": baseline_n}

    note10 = get_predictor("note10")
    note10.subnet_latency_ms(sample_subnets(10, seed=99, resolutions=resolutions))  # calibrate outside the timing
    means = {r: {key: entry.mean_ms for key, entry in load_table(f"note10-r{r}").entries.items()}
             for r in resolutions}

    print(f"{'device':<16} {'networks':>9} {'hybrid s':>9} {'networks/s':>12} {'baseline networks/s':>20} "
          f"{'speed-up':>9}")
    for device, res in (("note10", resolutions), ("ultra96v2-b2304", [224])):
        predictor = get_predictor(device)
        predictor.subnet_latency_ms(sample_subnets(10, seed=98, resolutions=res))
        for n in sizes:
            batch = sample_subnets(n, seed=n, resolutions=res)
            latency, hybrid_s = _timed(predictor.subnet_latency_ms, batch)
            record = {"hybrid_s": hybrid_s, "hybrid_networks_per_s": n / hybrid_s,
                      "median_latency_ms": float(np.median(latency))}
            line = f"{device:<16} {n:>9} {hybrid_s:>9.3f} {n / hybrid_s:>12,.0f}"
            if device == "note10":
                sub = batch.take(np.arange(baseline_n))
                reference, base_s = _timed(ofa_style_latency_ms, sub, means)
                record.update(baseline_s=base_s, baseline_networks_per_s=baseline_n / base_s,
                              speedup=(n / hybrid_s) / (baseline_n / base_s),
                              max_abs_diff_ms=float(np.max(np.abs(reference - latency[:baseline_n]))))
                line += f" {baseline_n / base_s:>20,.0f} {record['speedup']:>8.0f}x"
            print(line)
            figures[f"{device}/{n}"] = record
    diff = figures[f"note10/{sizes[0]}"]["max_abs_diff_ms"]
    print(f"note10 (every unit measured): hybrid vs OFA-style loop, max |difference| = {diff:.3g} ms "
          f"over {baseline_n} networks")
    if diff > 1e-9:
        raise AssertionError(f"hybrid and OFA-style sums disagree by {diff} ms on measured-only networks")
    return figures
