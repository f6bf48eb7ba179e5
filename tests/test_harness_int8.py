"""The numpy int8 engine (accel_models.int8) and the harness runner on it, against torch as an independent reference."""

from __future__ import annotations

import numpy as np
import pytest

from accel_models import BlockSpec, Layer
from accel_models.int8 import conv2d_int
from latency_tables.harness.int8 import Int8Unit

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("cin, cout, size, kernel, stride", [(3, 8, 15, 3, 2), (16, 24, 9, 5, 1), (12, 4, 7, 1, 1),
                                                            (5, 6, 8, 7, 2)])
def test_dense_conv_accumulators_match_torch(cin, cout, size, kernel, stride):
    rng = np.random.default_rng(0)
    op = "pwconv" if kernel == 1 else "conv"
    out = (size + 2 * (kernel // 2) - kernel) // stride + 1
    layer = Layer("c", op, (cin, size, size), (cout, out, out), kernel=kernel, stride=stride)
    x = rng.integers(-128, 128, size=layer.in_shape, dtype=np.int8)
    w = rng.integers(-127, 128, size=(cout, cin, kernel, kernel), dtype=np.int8)
    ours = conv2d_int(x[None], w, stride, kernel // 2, 1)[0]
    ref = torch.nn.functional.conv2d(torch.from_numpy(x[None].astype(np.float64)),
                                     torch.from_numpy(w.astype(np.float64)),
                                     stride=stride, padding=kernel // 2)[0].numpy()
    assert ours.dtype == np.int64 and np.array_equal(ours, ref.astype(np.int64))


@pytest.mark.parametrize("channels, size, kernel, stride", [(8, 14, 3, 1), (6, 15, 5, 2), (4, 7, 7, 1), (3, 10, 7, 2)])
def test_depthwise_accumulators_match_torch(channels, size, kernel, stride):
    rng = np.random.default_rng(1)
    out = (size + 2 * (kernel // 2) - kernel) // stride + 1
    layer = Layer("d", "dwconv", (channels, size, size), (channels, out, out), kernel=kernel, stride=stride,
                  groups=channels)
    x = rng.integers(-128, 128, size=layer.in_shape, dtype=np.int8)
    w = rng.integers(-127, 128, size=(channels, 1, kernel, kernel), dtype=np.int8)
    ours = conv2d_int(x[None], w, stride, kernel // 2, channels)[0]
    ref = torch.nn.functional.conv2d(torch.from_numpy(x[None].astype(np.float64)),
                                     torch.from_numpy(w.astype(np.float64)),
                                     stride=stride, padding=kernel // 2, groups=channels)[0].numpy()
    assert ours.dtype == np.int64 and np.array_equal(ours, ref.astype(np.int64))


def test_unit_runs_every_op_and_stays_in_int8_range():
    spec = BlockSpec("mbconv", (16, 9, 9), 16, kernel=5, stride=1, mid=48, se=True, activation="h_swish")
    ops = {layer.op for layer in spec.layers()}
    assert ops == {"pwconv", "dwconv", "pool", "se_fc", "scale", "add"}
    unit = Int8Unit.random(spec.layers(), np.random.default_rng(2))
    x = np.random.default_rng(3).integers(-128, 128, size=spec.in_shape, dtype=np.int8)
    y = unit.run(x)
    assert y.shape == spec.out_shape and y.dtype == np.int8
    assert np.array_equal(y, unit.run(x))  # deterministic
    assert 0 < np.abs(y.astype(int)).mean() < 127  # neither all-zero nor saturated


def test_global_pool_is_the_rounded_mean():
    spec = BlockSpec.from_key("AvgPool2D-input:3x3x4-output:1x1x4")
    x = np.arange(36, dtype=np.int8).reshape(4, 3, 3) - 18
    y = Int8Unit(spec.layers(), {}).run(x)
    expected = np.floor(x.reshape(4, -1).astype(float).mean(axis=1) + 0.5)
    assert np.array_equal(y.ravel(), expected.astype(np.int8))


def test_bad_parameters_and_input_are_rejected():
    spec = BlockSpec.from_key("Logits-input:1x1x16-output:4")
    good = Int8Unit.random(spec.layers(), np.random.default_rng(0)).weights
    with pytest.raises(ValueError, match="needs int8 weights of shape"):
        Int8Unit(spec.layers(), {**good, "classifier/w": good["classifier/w"].astype(np.int16)})
    with pytest.raises(ValueError, match="int32 bias"):
        Int8Unit(spec.layers(), {"classifier/w": good["classifier/w"]})
    with pytest.raises(ValueError, match="input must be int8 of shape"):
        Int8Unit(spec.layers(), good).run(np.zeros((16, 1, 1), dtype=np.float32))
