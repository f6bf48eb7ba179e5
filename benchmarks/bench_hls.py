"""int8 quantization fidelity and C-simulation cost of exported OFA sub-networks.

Fidelity: the integer-only numpy reference (dequantized logits) against the
float torch model on the same random images, for the DPU scheme (power-of-two
per tensor) and per-channel weights, each with max and MSE calibration.  The
networks have random weights with BatchNorms drawn and re-estimated
(:func:`hls.bn.randomize_batchnorm`): no trained OFA weights ship with the
project, so the figures measure the arithmetic, not a deployed accuracy.  Such
random deep nets amplify small perturbations (see the 1 %-input-noise column),
so two baselines are printed beside the int8 figures: the float network with
only its activations rounded to the same int8 fix positions, and the float
network on slightly noisy inputs.

C-simulation: export time, g++ compile and run time, bit-exactness of the
engine through its synthesis top, and the speed of the C-simulated engine
against the numpy integer reference run side by side on the same image.

Engine vs model: the engine's cycle count (``hls.engine_cycles``, equal to the
C-simulation's counter) against the analytical latency model evaluated with the
engine's parameters (``hls.engine.engine_model``) for the same ``Accelerator``,
summed per layer type, for the min and max networks on stock sizes and on the
best design of a joint search in the "dpu-like" space (a custom accelerator),
with the engine's structural resource estimate on the board.

Export speed: ``hls.export`` of the max network at r = 224 in a fresh process
(wall, CPU, peak RSS of the whole process), and the calibration pass in torch
float32 against the numpy float64 forward it replaced, side by side.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

_SCHEMES = (("pow2", "max"), ("pow2", "mse"), ("per_channel", "max"), ("per_channel", "mse"))


def _networks(r: int, n_sampled: int):
    from ofa_hw import SubnetConfig, sample_subnets

    nets = {"min": SubnetConfig.smallest(r=r), "max": SubnetConfig.largest(r=r)}
    batch = sample_subnets(n_sampled, seed=0, resolutions=[r])
    nets.update({f"sampled{i}": batch[i] for i in range(n_sampled)})
    return nets


def _source(cfg, seed: int):
    import hls
    from hls.bn import randomize_batchnorm
    from ofa_hw import build_torch_model, subnet_layers

    model = randomize_batchnorm(build_torch_model(cfg, seed=seed), seed=seed + 1)
    return model, hls.TorchNetwork(model, subnet_layers(cfg), cfg.to_dict())


def _activation_fake_quant(fnet, qnet, x: np.ndarray) -> np.ndarray:
    """Float weights and arithmetic (torch float32), each layer's output rounded to its int8 fix position:
    the loss int8 activations alone cause, whatever the integer arithmetic does."""
    import torch

    from hls.graph import INPUT

    def fake(name: str, t) -> None:  # in place: the pass goes on with the rounded tensor
        f = qnet.input_fix if name == INPUT else qnet.layer(name).output_fix
        t.copy_(torch.clamp(torch.floor(t * 2.0**f + 0.5), -128, 127) * 2.0**-f)

    return fnet.forward(x, fake, precision="float32").reshape(len(x), -1)


def fidelity(r: int, n_sampled: int, n_eval: int, n_calib: int) -> list[dict]:
    import torch

    import hls

    rows = []
    for i, (name, cfg) in enumerate(_networks(r, n_sampled).items()):
        model, source = _source(cfg, seed=10 + i)
        fnet = hls.float_network(source)
        x = np.random.default_rng(100 + i).standard_normal((n_eval, 3, r, r))
        with torch.no_grad():
            reference = model(torch.from_numpy(x).float()).double().numpy()
        # the numpy float64 reference against torch on two images (it is checked, not timed, here)
        float_err = float(np.max(np.abs(fnet.forward(x[:2]).reshape(2, -1) - reference[:2])))
        float_out = fnet.forward(x, precision="float32").reshape(n_eval, -1)
        # how chaotic this random network is: 1 % input noise, float everywhere
        noisy = fnet.forward(x * (1 + 0.01 * np.random.default_rng(7).standard_normal(x.shape)),
                             precision="float32").reshape(n_eval, -1)
        sensitivity = hls.Fidelity.between(float_out, noisy)
        for scheme, method in _SCHEMES:
            started = time.perf_counter()
            qnet = hls.quantize(fnet, scheme=scheme, method=method, n_calibration=n_calib, seed=i)
            quantize_s = time.perf_counter() - started
            f = qnet.fidelity(x, reference)
            fake = hls.Fidelity.between(reference, _activation_fake_quant(fnet, qnet, x))
            rows.append({"network": name, "r": r, "scheme": scheme, "method": method, "cosine_mean": f.cosine_mean,
                         "cosine_min": f.cosine_min, "top1_agreement": f.top1_agreement,
                         "top5_overlap": f.top5_overlap, "n_eval": n_eval, "quantize_s": quantize_s,
                         "act_fake_quant_cosine": fake.cosine_mean, "act_fake_quant_top1": fake.top1_agreement,
                         "noise_1pct_cosine": sensitivity.cosine_mean, "noise_1pct_top1": sensitivity.top1_agreement,
                         "float_ref_max_abs_err": float_err})
    return rows


def csim_cost(cases: list[tuple[str, int]]) -> list[dict]:
    import hls
    from ofa_hw import SubnetConfig

    rows = []
    root = Path(tempfile.mkdtemp(prefix="bench_hls_"))
    try:
        for name, r in cases:
            cfg = SubnetConfig.smallest(r=r) if name == "min" else SubnetConfig.largest(r=r)
            _, source = _source(cfg, seed=1)
            out = root / f"{name}{r}"
            started = time.perf_counter()
            project = hls.export(source, out, n_calibration=8)
            export_s = time.perf_counter() - started
            report = hls.csim(out)
            qnet = project.quantized_network()
            x = project.golden("input")[None]
            started = time.perf_counter()
            repeats = 3
            for _ in range(repeats):
                qnet.run(x)
            numpy_ms = (time.perf_counter() - started) / repeats * 1e3
            rows.append({"network": name, "r": r, "accelerator": project.manifest["accelerator"]["name"],
                         "layers": len(report.layers), "engine_cycles": report.total_cycles,
                         "counter_equals_manifest": report.total_cycles == project.manifest["totals"]["engine_cycles"],
                         "params": project.manifest["model"]["params"], "macs": project.manifest["totals"]["macs"],
                         "export_s": export_s, "compile_s": report.compile_s, "run_s": report.run_s,
                         "cpp_ms": report.kernel_us / 1e3, "numpy_int8_ms": numpy_ms,
                         "cpp_speedup_vs_numpy": numpy_ms / max(report.kernel_us / 1e3, 1e-6),
                         "mismatches": report.mismatches, "bit_exact": report.passed})
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return rows


def _qnet(cfg):
    import hls
    from ofa_hw import build_torch_model, subnet_layers

    # cycle counts depend on shapes only: untrained weights and one calibration image suffice
    source = hls.TorchNetwork(build_torch_model(cfg, seed=0).eval(), subnet_layers(cfg), cfg.to_dict())
    return hls.quantize(source, n_calibration=1)


def engine_vs_model(r: int, budget: int) -> list[dict]:
    from accel_models import Accelerator, get_board
    from accel_models.hls_engine import EngineConfig, cycles_by_layer_type, engine_model_cycles
    from accel_models.layer import LayerArrays
    from hls.program import build_program, engine_cycles
    from ofa_hw import SubnetConfig, search_codesign

    ultra96 = get_board("ultra96v2")
    result = search_codesign(board="ultra96v2", latency_ms=10.0, budget=budget, seed=0, accelerators="dpu-like",
                             progress=False)  # a custom accelerator: realised only as this engine
    best = result.best
    if best is None:
        raise RuntimeError(f"the Ultra96-V2 search at 10 ms (budget {budget}) found no design to run on the engine")
    cases = [("min", SubnetConfig.smallest(r=r), Accelerator.from_dpu("B1600", clock_mhz=200.0,
                                                                      ddr_bw_gbps=ultra96.ddr_bw_gbps), None),
             ("max", SubnetConfig.largest(r=r), Accelerator.from_dpu("B2304", clock_mhz=300.0,
                                                                     ddr_bw_gbps=ultra96.ddr_bw_gbps), None),
             ("max", SubnetConfig.largest(r=r), Accelerator.from_dpu("B512", clock_mhz=300.0), None),
             ("search best", best.subnet, best.accelerator, best.latency_ms)]
    rows = []
    for name, cfg, acc, searched_ms in cases:
        qnet = _qnet(cfg)
        program = build_program(qnet, EngineConfig.from_accelerator(acc))
        engine = np.array([c["cycles"] for c in engine_cycles(program)], dtype=float)
        arrays = LayerArrays.from_layers([q.layer for q in qnet.layers])
        model = engine_model_cycles(arrays, acc)
        by_type = cycles_by_layer_type(arrays, engine, model)
        rows.append({"network": name, "r": cfg.r, "accelerator": acc.name, "pp_icp_ocp": [acc.pp, acc.icp, acc.ocp],
                     "clock_mhz": acc.clock_mhz, "engine_ms": float(engine.sum()) / (acc.clock_mhz * 1e3),
                     "model_ms": float(model.sum()) / (acc.clock_mhz * 1e3), "search_predicted_ms": searched_ms,
                     "by_type": by_type,
                     "max_abs_deviation_pct": max(100 * abs(v["ratio"] - 1) for v in by_type.values())})
    return rows


_PREAMBLE = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
import numpy as np
import hls
from hls.bn import randomize_batchnorm
from accel_models import Accelerator
from ofa_hw import SubnetConfig, build_torch_model, subnet_layers
cfg = SubnetConfig.largest(r={r})
model = randomize_batchnorm(build_torch_model(cfg, seed=0), seed=1, n_images=2)
source = hls.TorchNetwork(model, subnet_layers(cfg), cfg.to_dict())


def peak_rss_mib():
    # VmHWM, not ru_maxrss: Linux carries the forking parent's high-water mark into ru_maxrss across exec
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM")) / 1024
"""
_EXPORT = """
before = peak_rss_mib()
wall, cpu = time.perf_counter(), time.process_time()
hls.export(source, sys.argv[1], accelerator=Accelerator.from_dpu("B2304", clock_mhz=300.0), board="zcu104")
print(json.dumps({"export_wall_s": time.perf_counter() - wall, "export_cpu_s": time.process_time() - cpu,
                  "rss_before_export_mib": before, "peak_rss_mib": peak_rss_mib()}))
"""
_CALIBRATION = """
fnet = hls.float_network(source)
x = np.random.default_rng(0).standard_normal((16, 3, cfg.r, cfg.r))
t = time.process_time(); fnet.forward(x); numpy_cpu = time.process_time() - t
t = time.process_time(); fnet.observe_ranges(x, lambda name, tensor: None); torch_cpu = time.process_time() - t
print(json.dumps({"calibration_numpy_float64_cpu_s": numpy_cpu, "calibration_torch_float32_cpu_s": torch_cpu}))
"""


def export_speed(r: int) -> dict:
    """``hls.export`` of the max network in a fresh process (peak RSS: the export's, torch and the model
    included), and in another one the calibration pass in numpy float64 and torch float32 side by side."""
    import json
    import os
    import subprocess
    import sys

    out = Path(tempfile.mkdtemp(prefix="bench_hls_export_"))
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    figures = {"network": "max", "r": r}
    try:
        for script in (_EXPORT, _CALIBRATION):
            run = subprocess.run([sys.executable, "-c", _PREAMBLE.format(r=r) + script, str(out / "export")],
                                 capture_output=True, text=True, check=True, env=env)
            figures.update(json.loads(run.stdout.strip().splitlines()[-1]))
    finally:
        shutil.rmtree(out, ignore_errors=True)
    return figures


def run(quick: bool = False) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # small resolutions lie outside OFA's trained range
        if quick:
            fid = fidelity(r=64, n_sampled=1, n_eval=16, n_calib=8)
            cost = csim_cost([("min", 32)])
            agreement = engine_vs_model(r=128, budget=2000)
            speed = export_speed(r=128)
        else:
            # sized to finish in a few minutes on a loaded 2-core machine: the numpy int8 reference of
            # every network x scheme is what costs (the float passes run in torch float32)
            fid = fidelity(r=128, n_sampled=1, n_eval=24, n_calib=16)
            cost = csim_cost([("min", 224), ("max", 224)])
            agreement = engine_vs_model(r=224, budget=5_000)
            speed = export_speed(r=224)
    print("int8 reference vs float torch logits; baselines: float net with only its activations rounded to the same\n"
          "int8 fix positions ('act-FQ'), and float net on inputs with 1 % noise ('1% noise': how chaotic it is)")
    print(f"{'network':<10} {'r':>4} {'scheme':<12} {'calib':<5} {'cos mean':>9} {'cos min':>8} {'top1':>6} "
          f"{'top5':>6} {'act-FQ cos':>10} {'1% noise cos':>12} {'quant s':>8}")
    for row in fid:
        print(f"{row['network']:<10} {row['r']:>4} {row['scheme']:<12} {row['method']:<5} {row['cosine_mean']:>9.4f} "
              f"{row['cosine_min']:>8.4f} {row['top1_agreement']:>6.2f} {row['top5_overlap']:>6.2f} "
              f"{row['act_fake_quant_cosine']:>10.4f} {row['noise_1pct_cosine']:>12.4f} {row['quantize_s']:>8.2f}")
    print(f"float numpy reference vs torch: max |logit difference| {max(r['float_ref_max_abs_err'] for r in fid):.2e}")
    print()
    print("C-simulation of the engine through its synthesis top ofa_engine() (default engine: B512 @ 200 MHz)")
    print(f"{'network':<8} {'r':>4} {'layers':>6} {'params':>10} {'export s':>9} {'compile s':>10} {'run s':>7} "
          f"{'C++ ms':>8} {'numpy ms':>9} {'C++/numpy':>9} {'mismatch':>8} {'cycles':>11}")
    for row in cost:
        print(f"{row['network']:<8} {row['r']:>4} {row['layers']:>6} {row['params']:>10,} {row['export_s']:>9.2f} "
              f"{row['compile_s']:>10.2f} {row['run_s']:>7.3f} {row['cpp_ms']:>8.1f} {row['numpy_int8_ms']:>9.1f} "
              f"{row['cpp_speedup_vs_numpy']:>8.1f}x {row['mismatches']:>8} {row['engine_cycles']:>11,}")
    print()
    print("engine cycles (C-sim counter) / analytical model with the engine's parameters, same Accelerator, "
          "per layer type")
    print(f"{'network':<12} {'r':>4} {'accelerator':<12} {'engine ms':>10} {'model ms':>9} {'search ms':>9} "
          + " ".join(f"{c:>12}" for c in ("conv", "pw", "dw", "misc")) + f" {'max dev':>8}")
    for row in agreement:
        cells = " ".join(f"{row['by_type'][c]['ratio']:>7.3f} ({row['by_type'][c]['layers']:>2})" if c in row["by_type"]
                         else f"{'-':>12}" for c in ("conv", "pw", "dw", "misc"))
        searched = f"{row['search_predicted_ms']:>9.3f}" if row["search_predicted_ms"] is not None else f"{'-':>9}"
        print(f"{row['network']:<12} {row['r']:>4} {row['accelerator']:<12} {row['engine_ms']:>10.3f} "
              f"{row['model_ms']:>9.3f} {searched} {cells} {row['max_abs_deviation_pct']:>7.1f}%")
    print()
    print(f"export of the max network at r={speed['r']} (fresh process): {speed['export_wall_s']:.2f} s wall, "
          f"{speed['export_cpu_s']:.2f} s CPU, peak RSS {speed['peak_rss_mib']:.0f} MiB (torch and the model "
          f"included: {speed['rss_before_export_mib']:.0f} MiB before the export)")
    print(f"calibration pass over 16 images: torch float32 {speed['calibration_torch_float32_cpu_s']:.2f} s CPU vs "
          "numpy "
          f"float64 {speed['calibration_numpy_float64_cpu_s']:.2f} s CPU "
          f"({speed['calibration_numpy_float64_cpu_s'] / speed['calibration_torch_float32_cpu_s']:.1f}x)")
    return {"fidelity": fid, "csim": cost, "engine_vs_model": agreement, "export_speed": speed}
