"""Throughput of whole-network latency prediction against OFA's own ``LatencyTable``.

Baseline: the faithful re-implementation of OFA's tutorial ``LatencyTable``
(``benchmarks/peers/ofa_latency_table.py``): per-resolution Note10 YAML
tables, one Python dict per network, a formatted key and a dict lookup per
block.  It is first checked to give OFA's latencies exactly: an independent
key construction (``ofa_hw.block_keys``) over the same per-resolution tables
must sum to the same values.

Ours: ``subnet_latency_ms`` of a latency predictor on a ``SubnetBatch``, one
dense gather over a (resolution, slot, kernel, expand) table
(``ofa_hw.unit_gather``), on a measured device (OFA's Note10 tables, one per
resolution, every unit measured: it must equal OFA's figures exactly) and on
modelled ones (the Ultra96-V2 B2304 and jointly calibrated DPU predictors at
every resolution, where most units are modelled).  Networks/s per batch
size, timed as this process's CPU time (best of three; of 30 and 10 for the
millisecond-long 10^4 and 10^5 batches), so that other load
on a shared machine does not count; 10^7 networks are predicted as ten batches of 10^6 (as int64 arrays the
input alone would need 3.4 GB).  Memory: the peak of what one call allocates beyond its float64 output
(``tracemalloc``, which sees numpy's buffers), in a separate untimed call: the chunks' temporaries plus
a few index arrays of one entry a network, against an input of 368 bytes a network.
"""

from __future__ import annotations

import tracemalloc
from functools import partial

import numpy as np
import yaml

from benchmarks.peers.ofa_latency_table import DEFAULT_RESOLUTIONS, NOTE10_DIR, OFALatencyTable
from benchmarks.timing import best_cpu_s
from latency_tables import HybridPredictor, get_predictor
from latency_tables.per_resolution import PerResolutionPredictor
from ofa_hw import block_keys, sample_subnets

ALL_RESOLUTIONS = tuple(range(160, 225, 4))
#: The devices timed, with where their unit latencies come from.
DEVICES = {"note10": "measured", "ultra96v2-b2304": "modelled", "dpuczdx8g-joint": "modelled"}


def ofa_specs(batch) -> list[dict]:
    """The batch as OFA's sub-network dicts."""
    return [{"wid": None, "ks": k, "e": e, "d": d, "r": [r]}
            for k, e, d, r in zip(batch.ks.tolist(), batch.e.tolist(), batch.d.tolist(), batch.r.tolist(),
                                  strict=True)]


def _fixed_device(device: str) -> HybridPredictor | PerResolutionPredictor:
    """``device``'s predictor: one that prices whole sub-networks on the device's own accelerator."""
    predictor = get_predictor(device)
    if not isinstance(predictor, (HybridPredictor, PerResolutionPredictor)):
        raise TypeError(f"{device!r} ({type(predictor).__name__}) prices units on the accelerators it is given: "
                        "it has no subnet_latency_ms of its own to time")
    return predictor


def _repeated(predictor, batch, parts: int) -> list:
    return [predictor.subnet_latency_ms(batch) for _ in range(parts)]


def _working_mib(predictor, batch) -> float:
    """MiB one ``subnet_latency_ms(batch)`` call allocates at its peak beyond its float64 output."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        out = predictor.subnet_latency_ms(batch)
        peak = tracemalloc.get_traced_memory()[1] - before
    finally:
        tracemalloc.stop()
    return (peak - out.nbytes) / 2**20


def _check_ofa_baseline(table: OFALatencyTable, batch, specs: list[dict]) -> float:
    means = {r: {k: v["mean"] for k, v in yaml.safe_load((NOTE10_DIR / f"{r}_lookup_table.yaml").read_text()).items()}
             for r in DEFAULT_RESOLUTIONS}
    independent = np.array([sum(means[cfg.r][k] for k in block_keys(cfg)) for cfg in batch])
    ofa = np.array([table.predict_efficiency(s) for s in specs])
    return float(np.max(np.abs(ofa - independent)))


def run(quick: bool = False) -> dict:
    sizes = [10_000, 100_000] if quick else [10_000, 100_000, 1_000_000, 10_000_000]
    baseline_n = 2_000 if quick else 20_000
    repeats = 3
    figures: dict = {"sizes": sizes, "baseline_networks": baseline_n}

    ofa = OFALatencyTable()
    check = sample_subnets(500, seed=7, resolutions=DEFAULT_RESOLUTIONS)
    diff = _check_ofa_baseline(ofa, check, ofa_specs(check))
    figures["ofa_baseline_vs_independent_max_abs_diff_ms"] = diff
    print(f"faithful OFA LatencyTable vs an independent key construction over the same per-resolution "
          f"Note10 tables: max |difference| {diff:.2g} ms over {len(check)} networks")
    if diff > 1e-9:
        raise AssertionError(f"the OFA LatencyTable re-implementation is off by {diff} ms")
    base_batch = sample_subnets(baseline_n, seed=11, resolutions=DEFAULT_RESOLUTIONS)
    specs = ofa_specs(base_batch)
    base_s = best_cpu_s(lambda: [ofa.predict_efficiency(s) for s in specs], repeats)
    ofa_rate = baseline_n / base_s
    figures["ofa_latency_table_networks_per_s"] = ofa_rate
    print(f"OFA LatencyTable.predict_efficiency (faithful, per-network dicts): {ofa_rate:,.0f} networks/s")

    note10 = _fixed_device("note10")
    ofa_diff = float(np.max(np.abs(note10.subnet_latency_ms(base_batch) - np.array(
        [ofa.predict_efficiency(s) for s in specs]))))
    figures["note10_vs_ofa_max_abs_diff_ms"] = ofa_diff
    print(f"note10 predictor (dense gather) vs OFA LatencyTable: max |difference| {ofa_diff:.2g} ms over "
          f"{baseline_n} networks")
    if ofa_diff > 1e-9:
        raise AssertionError(f"the note10 predictor and OFA's LatencyTable disagree by {ofa_diff} ms")

    print(f"{'device':<17} {'source':<9} {'networks':>10} {'seconds':>8} {'networks/s':>12} {'x OFA':>7} "
          f"{'MiB/call':>9}")
    for device, source in DEVICES.items():
        predictor = _fixed_device(device)
        predictor.subnet_latency_ms(sample_subnets(10, seed=98, resolutions=ALL_RESOLUTIONS))  # calibrate first
        for n in sizes:
            parts = max(1, n // 1_000_000)
            batch = sample_subnets(n // parts, seed=n, resolutions=ALL_RESOLUTIONS)
            seconds = best_cpu_s(partial(_repeated, predictor, batch, parts),
                                 1 if parts > 1 else max(repeats, min(30, 1_000_000 // n)))
            rate = n / seconds
            working_mib = _working_mib(predictor, batch)
            figures[f"{device}/{n}"] = {"source": source, "seconds": seconds, "networks_per_s": rate,
                                        "ratio_to_ofa": rate / ofa_rate, "networks_per_call": len(batch),
                                        "working_mib_per_call": working_mib}
            print(f"{device:<17} {source:<9} {n:>10,} {seconds:>8.3f} {rate:>12,.0f} {rate / ofa_rate:>6.0f}x "
                  f"{working_mib:>9.1f}")
    print("flatness over sizes (fastest / slowest networks/s): " + ", ".join(
        f"{device} {_spread(figures, device, sizes):.2f}x" for device in DEVICES))
    return figures


def _spread(figures: dict, device: str, sizes: list[int]) -> float:
    rates = [figures[f"{device}/{n}"]["networks_per_s"] for n in sizes]
    return max(rates) / min(rates)
