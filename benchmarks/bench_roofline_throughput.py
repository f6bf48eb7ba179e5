"""Throughput of the vectorised analytical model: layer x accelerator evaluations per second.

Side by side with a straightforward Python loop over (accelerator, layer)
pairs computing the same per-layer formula (standalone layers: every input
and output through DDR), on a subset of the same pairs; the two must agree.
The vectorised figures also include the unit path the search uses (OFA
catalogue units with on-chip spills).  Small calls (one accelerator, one
layer / unit / network, as the CLI's ``roofline``, the report and notebooks
make them) are timed on the scalar path they take, side by side with the same
question on the numpy path.
"""

from __future__ import annotations

import math
import time

import numpy as np

from accel_models import Accelerator, RooflineModel, group_by_block
from accel_models.layer import LayerArrays
from benchmarks.timing import best_cpu_s

_DENSE = {"conv", "pwconv", "fc", "se_fc"}


def _catalogue_units(resolution: int = 224) -> list:
    from ofa_hw import sample_subnets
    from ofa_hw.layers import block_catalog

    # the catalogue of a batch holds every unit its resolutions can use
    return list(block_catalog(sample_subnets(1, seed=0, resolutions=[resolution])).layers)


def _accelerators(n: int, seed: int = 0) -> list[Accelerator]:
    rng = np.random.default_rng(seed)
    return [Accelerator(int(rng.choice([2, 4, 8, 16])), int(rng.integers(4, 33)), int(rng.integers(4, 33)),
                        clock_mhz=float(rng.uniform(100, 400)), ddr_bw_gbps=float(rng.uniform(2, 20)))
            for _ in range(n)]


def loop_latency_ms(layers, accelerators, params) -> np.ndarray:
    """The per-layer formula for standalone layers, one pair at a time in plain Python."""
    out = np.empty((len(accelerators), len(layers)))
    eff = {"conv": params.conv_efficiency, "pw": params.pw_efficiency, "dw": params.dw_efficiency,
           "misc": params.misc_efficiency}
    for m, acc in enumerate(accelerators):
        per_ms = acc.clock_mhz * 1e3
        for i, lay in enumerate(layers):
            cin = lay.in_shape[0]
            cout, hout, wout = lay.out_shape
            k2 = lay.kernel * lay.kernel
            if lay.op in _DENSE:
                g = lay.groups
                cycles = (math.ceil(cin / g / acc.icp) * math.ceil(cout / g / acc.ocp) * g
                          * math.ceil(wout / acc.pp) * hout * k2)
                if acc.options.channel_augmentation and g == 1 and lay.kernel > 1:
                    # Cin x k channels per pass, a loop over the kernel's rows only, where it saves cycles
                    cycles = min(cycles, math.ceil(cin * lay.kernel / acc.icp) * math.ceil(cout / acc.ocp)
                                 * math.ceil(wout / acc.pp) * hout * lay.kernel)
                engine = "conv" if lay.kernel > 1 else "pw"
            elif lay.op in ("dwconv", "pool", "maxpool"):  # the ALU: depthwise convolution and pooling
                cycles = math.ceil(cout / acc.icp) * math.ceil(wout / acc.dw_pp) * hout * k2
                engine = "dw"
            else:
                cycles = math.ceil(cout / acc.icp) * math.ceil(wout / acc.pp) * hout
                engine = "misc"
            hard = lay.activation in ("h_swish", "h_sigmoid")
            act = math.ceil(cout / acc.icp) * math.ceil(wout / acc.pp) * hout if hard else 0
            compute = (cycles / eff[engine] + params.hswish_passes * act / params.misc_efficiency) / per_ms
            memory = ((lay.input_bytes + lay.output_bytes) / params.bw_efficiency
                      + lay.weight_bytes / params.weight_bw_efficiency) / (acc.ddr_bw_gbps * 1e6)
            overhead = params.layer_overhead_cycles / per_ms + acc.layer_overhead_us / 1e3
            out[m, i] = (max(compute, memory) + (1 - params.overlap) * min(compute, memory) + overhead)
    return out


def _median_call_us(fn, repeats: int) -> float:
    """Median CPU time of one call of ``fn`` in microseconds (CPU time: other load on the machine does not count)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.process_time()
        fn()
        times.append(time.process_time() - start)
    return float(np.median(times) * 1e6)


def small_calls(model: RooflineModel, units: list, accelerator: Accelerator, repeats: int) -> list[tuple]:
    """``(call, layers, us on the scalar path, us on the numpy path)`` of the calls reports and notebooks make.

    The scalar path is what a one-accelerator call on Layer objects runs;
    the numpy path is the same question asked as the bulk path computes it
    (a ``UnitSchedule`` built and evaluated for one accelerator), the way
    every call ran before the scalar path existed.
    """
    from ofa_hw import SubnetConfig

    layer = [units[3][0]]
    unit = [units[3]]
    network = list(SubnetConfig.largest(r=224).layers())  # what `roofline --preset max` analyses

    def numpy_layers(layers):
        return model.breakdown(model.schedule(group_by_block(layers)), [accelerator])["latency_ms"][0]

    def numpy_units(us):
        schedule = model.schedule(us)
        return schedule.per_unit(model.breakdown(schedule, [accelerator])["latency_ms"])[0]

    cases = [
        ("layer_latency_ms(one layer)", 1, lambda: model.layer_latency_ms(layer, accelerator),
         lambda: numpy_layers(layer)),
        ("network_latency_ms(one layer)", 1, lambda: model.network_latency_ms(layer, accelerator),
         lambda: float(numpy_layers(layer).sum())),
        (f"unit_latency_ms(one unit, {len(unit[0])} layers)", len(unit[0]),
         lambda: model.unit_latency_ms(unit, accelerator), lambda: numpy_units(unit)),
        ("analyze(one layer)", 1, lambda: model.analyze(layer, accelerator),
         lambda: model.analyze(model.schedule(group_by_block(layer)), accelerator)),
        (f"analyze(max network, {len(network)} layers)", len(network), lambda: model.analyze(network, accelerator),
         lambda: model.analyze(model.schedule(group_by_block(network)), accelerator)),
    ]
    rows = []
    for name, n_layers, scalar, vectorised in cases:
        rows.append((name, n_layers, _median_call_us(scalar, repeats if n_layers < 100 else max(1, repeats // 20)),
                     _median_call_us(vectorised, repeats if n_layers < 100 else max(1, repeats // 20))))
    return rows


def run(quick: bool = False) -> dict:
    model = RooflineModel()
    units = _catalogue_units()
    layers = [layer for unit in units for layer in unit]
    n_acc = max(1, round((1e5 if quick else 1e6) / len(layers)))
    accs = _accelerators(n_acc)
    pairs = n_acc * len(layers)
    arrays = LayerArrays.from_layers(layers)
    schedule = model.schedule(units)

    vec_s = best_cpu_s(lambda: model.layer_latency_ms(arrays, accs), 3)
    unit_s = best_cpu_s(lambda: model.unit_latency_ms(schedule, accs), 3)
    loop_accs = accs[: max(1, round((2000 if quick else 20000) / len(layers)))]
    loop_pairs = len(loop_accs) * len(layers)
    start = time.process_time()
    looped = loop_latency_ms(layers, loop_accs, model.params)
    loop_s = time.process_time() - start
    vectorised = model.layer_latency_ms(arrays, loop_accs)
    max_rel_diff = float(np.max(np.abs(vectorised - looped) / looped))
    if max_rel_diff > 1e-9:
        raise AssertionError(f"the numpy path and the per-pair loop disagree by {max_rel_diff:.2g} (relative): "
                             "one of them no longer follows the model's formulas")

    rows = [
        ("python loop (standalone layers)", loop_pairs, loop_s, loop_pairs / loop_s),
        ("numpy, standalone layers", pairs, vec_s, pairs / vec_s),
        ("numpy, catalogue units with spills", pairs, unit_s, pairs / unit_s),
    ]
    print(f"{len(layers)} layers ({len(units)} OFA-MobileNetV3 w1.2 units at 224) x {n_acc} random accelerators "
          "(CPU time, best of 3)")
    print(f"{'method':38s} {'pairs':>10s} {'seconds':>9s} {'pairs/s':>14s}")
    for name, n, s, rate in rows:
        print(f"{name:38s} {n:>10d} {s:>9.3f} {rate:>14,.0f}")
    speedup = rows[1][3] / rows[0][3]
    print(f"vectorised / loop: {speedup:,.0f}x   (max relative difference {max_rel_diff:.1e})")
    small = small_calls(model, units, accs[0], repeats=200 if quick else 2000)
    check_accs = accs[:20]
    numpy_path = model.layer_latency_ms(layers, check_accs)
    path_diff = max(float(np.max(np.abs(model.layer_latency_ms(layers, acc) - numpy_path[m])))
                    for m, acc in enumerate(check_accs))
    print(f"scalar path vs numpy path: max |difference| {path_diff:.2g} ms over {len(layers)} layers x "
          f"{len(check_accs)} accelerators")
    if path_diff != 0:
        raise AssertionError(f"the scalar and numpy paths disagree by {path_diff} ms")
    print(f"small calls on one accelerator (median CPU time per call; bulk above: {rows[1][3]:,.0f} pairs/s, "
          f"{1e6 / rows[1][3]:.2f} us per pair)")
    print(f"{'call':38s} {'layers':>6s} {'scalar us':>10s} {'numpy us':>9s} {'ratio':>6s} {'pairs/s':>10s}")
    for name, n_layers, scalar_us, numpy_us in small:
        print(f"{name:38s} {n_layers:>6d} {scalar_us:>10.1f} {numpy_us:>9.1f} {numpy_us / scalar_us:>5.0f}x "
              f"{n_layers / scalar_us * 1e6:>10,.0f}")
    return {
        "layers": len(layers), "units": len(units), "accelerators": n_acc, "pairs": pairs,
        "loop_pairs_per_s": rows[0][3], "vectorised_pairs_per_s": rows[1][3],
        "unit_path_pairs_per_s": rows[2][3], "vectorised_seconds_for_pairs": vec_s,
        "speedup_vs_loop": speedup, "max_rel_diff_vs_loop": max_rel_diff,
        "small_call_us": small[0][2], "scalar_vs_numpy_max_abs_diff_ms": path_diff,
        "small_calls": [{"call": name, "layers": n, "scalar_us": a, "numpy_us": b} for name, n, a, b in small],
    }
