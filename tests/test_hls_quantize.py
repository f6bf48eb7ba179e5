"""Quantization: BN folding, the float reference against torch, the integer reference against float math."""

import warnings

import numpy as np
import pytest

import hls
from accel_models import Layer
from hls.bn import randomize_batchnorm, reset_bn_statistics
from hls.errors import QuantizationError
from hls.network import FloatNetwork, float_network, run_float_layer
from hls.quantize import SCHEMES
from ofa_hw import SubnetConfig, build_torch_model, subnet_layers

torch = pytest.importorskip("torch")

with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # r < 128 is outside OFA's trained range: fine for int8 checks
    CONFIGS = {
        "min-w1.2-r32": SubnetConfig.smallest(r=32),
        "max-w1.2-r32": SubnetConfig.largest(r=32),
        "mixed-w1.0-r40": SubnetConfig((3, 5, 7, 5) * 5, (6, 4, 3, 4) * 5, (4, 2, 3, 2, 4), r=40, width_mult=1.0),
    }


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def network(request):
    cfg = CONFIGS[request.param]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        layers = subnet_layers(cfg)
        model = randomize_batchnorm(build_torch_model(cfg, seed=3), seed=4)
    return cfg, model, float_network(hls.TorchNetwork(model, layers, cfg.to_dict()))


def test_float_reference_matches_torch(network):
    cfg, model, fnet = network
    x = np.random.default_rng(0).standard_normal((4, 3, cfg.r, cfg.r))
    with torch.no_grad():
        want = model(torch.from_numpy(x).float()).double().numpy()
    got = fnet.forward(x).reshape(4, -1)
    assert np.max(np.abs(got - want)) <= 1e-4 * max(1.0, np.max(np.abs(want)))


def test_batchnorm_statistics_were_randomised_so_folding_matters(network):
    _, model, fnet = network
    conv = model.first_conv.conv.weight.detach().double().numpy()
    assert not np.allclose(fnet.params["first_conv"][0], conv, rtol=0.05)
    assert np.any(np.abs(fnet.params["first_conv"][1]) > 1e-3)


def test_batchnorm_folding_by_hand():
    model = torch.nn.Sequential()
    model.add_module("c", torch.nn.Sequential())
    model.c.add_module("conv", torch.nn.Conv2d(1, 1, 1, bias=False))
    model.c.add_module("bn", torch.nn.BatchNorm2d(1, eps=1.0))
    with torch.no_grad():
        model.c.conv.weight.fill_(2.0)
        model.c.bn.running_mean.fill_(1.0)
        model.c.bn.running_var.fill_(3.0)
        model.c.bn.weight.fill_(4.0)
        model.c.bn.bias.fill_(0.5)
    layer = Layer("c", "pwconv", (1, 2, 2), (1, 2, 2), bias=True)
    w, b = float_network((model, [layer])).params["c"]
    # scale = 4 / sqrt(3 + 1) = 2: w = 2 * 2, b = 0.5 + (0 - 1) * 2
    assert w.ravel().tolist() == [4.0] and b.tolist() == [-1.5]


@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_integer_layer_is_float_math_on_dequantized_values(network, scheme):
    """The int8 reference equals float arithmetic on its own dequantized inputs and weights, to rounding."""
    cfg, _, fnet = network
    q = hls.quantize(fnet, scheme=scheme, n_calibration=4)
    x = np.random.default_rng(1).standard_normal((2, 3, cfg.r, cfg.r))
    ints = q.run(q.quantize_input(x), keep_all=True)
    deq = {name: v.astype(np.float64) * 2.0 ** -(q.input_fix if name == "input" else q.layer(name).output_fix)
           for name, v in ints.items()}
    for ql in q.layers:
        params = None
        if ql.weight is not None:
            scale = np.full(len(ql.bias), 2.0**-ql.weight_fix) if ql.weight_fix is not None else ql.weight_scale
            params = (ql.weight * scale.reshape(-1, *[1] * (ql.weight.ndim - 1)),
                      ql.bias * scale * 2.0 ** -ql.input_fix[0])
        lsb = 2.0**-ql.output_fix
        want = np.clip(run_float_layer(ql.layer, [deq[n] for n in ql.inputs], params), -128 * lsb, 127 * lsb)
        # half an LSB of rounding; a 15-bit multiplier adds up to 128 * 2**-15 LSB; h-swish / h-sigmoid
        # add their intermediate rounding and 2731/16384 vs 1/6
        slack = 0.5 + 1e-9 + (128 * 2.0**-15 if np.any(ql.requant.mult != 1) else 0.0)
        slack += 0.06 if ql.layer.activation.startswith("h_") else 0.0
        assert np.max(np.abs(want - deq[ql.name])) <= slack * lsb, ql.name


def test_quantization_is_deterministic_and_close_early_on(network):
    cfg, _, fnet = network
    a, b = hls.quantize(fnet, n_calibration=4), hls.quantize(fnet, n_calibration=4)
    for qa, qb in zip(a.layers, b.layers, strict=True):
        assert qa.output_fix == qb.output_fix and qa.input_fix == qb.input_fix
        if qa.weight is not None:
            assert np.array_equal(qa.weight, qb.weight) and np.array_equal(qa.bias, qb.bias)
    x = np.random.default_rng(2).standard_normal((2, 3, cfg.r, cfg.r))
    seen = {}
    fnet.forward(x, lambda name, t: seen.__setitem__(name, t) if name == "first_conv" else None)
    first = a.run(a.quantize_input(x), keep_all=True)["first_conv"] * 2.0 ** -a.layer("first_conv").output_fix
    cos = np.sum(first * seen["first_conv"]) / np.linalg.norm(first) / np.linalg.norm(seen["first_conv"])
    assert cos > 0.995


def test_fidelity_measures():
    same = np.random.default_rng(0).standard_normal((8, 10))
    f = hls.Fidelity.between(same, same)
    assert (f.cosine_mean, f.top1_agreement, f.top5_overlap) == pytest.approx((1.0, 1.0, 1.0))
    f = hls.Fidelity.between(same, -same)
    assert f.cosine_mean == pytest.approx(-1.0) and f.top1_agreement == 0.0


def test_bad_arguments_name_what_is_allowed(network):
    _, _, fnet = network
    with pytest.raises(ValueError, match="allowed: pow2, per_channel"):
        hls.quantize(fnet, scheme="fp8")
    with pytest.raises(ValueError, match="allowed: max, mse"):
        hls.quantize(fnet, method="kl")
    with pytest.raises(ValueError, match="input must have shape"):
        hls.quantize(fnet, calibration=np.zeros((2, 3, 8, 8)))
    q = hls.quantize(fnet, n_calibration=2)
    with pytest.raises(ValueError, match="int8"):
        q.run(np.zeros((1, *q.input_shape)))
    with pytest.raises(KeyError, match="no layer 'nope'"):
        q.layer("nope")


def test_torch_module_must_agree_with_the_layers():
    model = torch.nn.Sequential()
    model.add_module("c", torch.nn.Conv2d(3, 4, 3, padding=1))
    wrong_kernel = Layer("c", "conv", (3, 8, 8), (4, 8, 8), kernel=5, padding=2, bias=True)
    with pytest.raises(ValueError, match=r"kernel \(3, 3\) \(layer: \(5, 5\)\)"):
        float_network((model, [wrong_kernel]))
    with pytest.raises(ValueError, match="no module named 'd'"):
        float_network((model, [Layer("d", "conv", (3, 8, 8), (4, 8, 8), kernel=3)]))
    with pytest.raises(TypeError, match="layers\\(\\) and torch_model\\(\\)"):
        float_network(object())


def test_accumulator_overflow_is_refused():
    layer = Layer("c", "pwconv", (2, 2, 2), (2, 2, 2), bias=True)
    fnet = FloatNetwork((layer,), {"c": (np.full((2, 2, 1, 1), 1e-7), np.array([1e3, 0.0]))})
    with pytest.warns(UserWarning, match="clamped"), pytest.raises(QuantizationError, match="beyond int32"):
        hls.quantize(fnet, n_calibration=2)


def test_vanishing_activations_give_one_warning_and_bn_reestimation_cures_them():
    cfg = CONFIGS["min-w1.2-r32"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model, layers = build_torch_model(cfg, seed=0), subnet_layers(cfg)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hls.quantize((model, layers), n_calibration=2)
    clamped = [w for w in caught if "clamped" in str(w.message)]
    assert len(clamped) == 1 and "reset_bn_statistics" in str(clamped[0].message)
    reset_bn_statistics(model, np.random.default_rng(0).standard_normal((8, 3, cfg.r, cfg.r)))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        hls.quantize((model, layers), n_calibration=2)
