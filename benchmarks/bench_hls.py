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

C-simulation: export time, g++ compile and run time, bit-exactness, and the
speed of the generated C++ against the numpy integer reference run side by
side on the same image.
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
    """Float weights and arithmetic, each layer's output rounded to its int8 fix position: the loss
    int8 activations alone cause, whatever the integer arithmetic does."""
    from hls.graph import INPUT, plan
    from hls.network import run_float_layer

    def fake(t: np.ndarray, f: int) -> np.ndarray:
        return np.clip(np.floor(t * 2.0**f + 0.5), -128, 127) * 2.0**-f

    tensors = {INPUT: fake(x, qnet.input_fix)}
    for step in plan(fnet.layers):
        out = run_float_layer(step.layer, [tensors[n] for n in step.inputs], fnet.params.get(step.layer.name))
        tensors[step.layer.name] = fake(out, qnet.layer(step.layer.name).output_fix)
    return tensors[fnet.layers[-1].name].reshape(len(x), -1)


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
        float_out = fnet.forward(x).reshape(n_eval, -1)
        float_err = float(np.max(np.abs(float_out - reference)))
        # how chaotic this random network is: 1 % input noise, float everywhere
        noisy = fnet.forward(x * (1 + 0.01 * np.random.default_rng(7).standard_normal(x.shape))).reshape(n_eval, -1)
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


def csim_cost(cases: list[tuple[str, int, str]]) -> list[dict]:
    import hls
    from ofa_hw import SubnetConfig

    rows = []
    root = Path(tempfile.mkdtemp(prefix="bench_hls_"))
    try:
        for name, r, weights in cases:
            cfg = SubnetConfig.smallest(r=r) if name == "min" else SubnetConfig.largest(r=r)
            _, source = _source(cfg, seed=1)
            out = root / f"{name}{r}{weights}"
            started = time.perf_counter()
            project = hls.export(source, out, accelerator=None, n_calibration=8)
            export_s = time.perf_counter() - started
            report = hls.csim(out, weights=weights)
            qnet = project.quantized_network()
            x = project.golden("input")[None]
            started = time.perf_counter()
            repeats = 3
            for _ in range(repeats):
                qnet.run(x)
            numpy_ms = (time.perf_counter() - started) / repeats * 1e3
            rows.append({"network": name, "r": r, "weights": weights, "layers": len(report.layers),
                         "params": project.manifest["model"]["params"], "macs": project.manifest["totals"]["macs"],
                         "export_s": export_s, "compile_s": report.compile_s, "run_s": report.run_s,
                         "cpp_ms": report.kernel_us / 1e3, "numpy_int8_ms": numpy_ms,
                         "cpp_speedup_vs_numpy": numpy_ms / max(report.kernel_us / 1e3, 1e-6),
                         "mismatches": report.mismatches, "bit_exact": report.passed})
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return rows


def run(quick: bool = False) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # small resolutions lie outside OFA's trained range
        if quick:
            fid = fidelity(r=64, n_sampled=1, n_eval=16, n_calib=8)
            cost = csim_cost([("min", 32, "bin")])
        else:
            fid = fidelity(r=160, n_sampled=3, n_eval=64, n_calib=32)
            cost = csim_cost([("min", 64, "bin"), ("min", 64, "headers"), ("max", 64, "bin"), ("max", 64, "headers"),
                              ("max", 160, "bin")])
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
    print(f"{'network':<8} {'r':>4} {'weights':<8} {'layers':>6} {'params':>10} {'export s':>9} {'compile s':>10} "
          f"{'run s':>7} {'C++ ms':>8} {'numpy ms':>9} {'speedup':>8} {'mismatch':>8}")
    for row in cost:
        print(f"{row['network']:<8} {row['r']:>4} {row['weights']:<8} {row['layers']:>6} {row['params']:>10,} "
              f"{row['export_s']:>9.2f} {row['compile_s']:>10.2f} {row['run_s']:>7.3f} {row['cpp_ms']:>8.1f} "
              f"{row['numpy_int8_ms']:>9.1f} {row['cpp_speedup_vs_numpy']:>7.1f}x {row['mismatches']:>8}")
    return {"fidelity": fid, "csim": cost}
