"""The Layer data model: derived quantities by hand, validation of impossible shapes."""

import numpy as np
import pytest

from accel_models import Layer
from accel_models.layer import LayerArrays


def test_derived_quantities_by_hand():
    conv = Layer("c", "conv", (32, 56, 56), (64, 28, 28), kernel=3, stride=2, bias=True)
    assert conv.macs == 64 * 32 * 9 * 28 * 28
    assert conv.params == 64 * 32 * 9 + 64
    assert conv.weight_bytes == 64 * 32 * 9 + 4 * 64
    assert conv.input_bytes == 32 * 56 * 56 and conv.output_bytes == 64 * 28 * 28
    assert conv.arithmetic_intensity == pytest.approx(2 * conv.macs / (32 * 56 * 56 + 64 * 28 * 28 + 64 * 32 * 9 + 256))
    dw = Layer("d", "dwconv", (96, 14, 14), (96, 14, 14), kernel=5, groups=96)
    assert dw.macs == 96 * 25 * 14 * 14 and dw.weight_count == 96 * 25
    add = Layer("a", "add", (40, 28, 28), (40, 28, 28))
    assert add.macs == 0 and add.ops == 40 * 28 * 28 and add.input_bytes == 2 * 40 * 28 * 28
    scale = Layer("s", "scale", (40, 28, 28), (40, 28, 28))
    assert scale.input_bytes == 40 * 28 * 28 + 40
    pool = Layer("p", "pool", (960, 7, 7), (960, 1, 1), kernel=7)
    assert pool.ops == 960 * 49 and pool.params == 0
    w4 = Layer("q", "fc", (1280, 1, 1), (1000, 1, 1), weight_bits=4)
    assert w4.weight_bytes == 1280 * 1000 // 2


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(op="conv3d"), "unknown op 'conv3d'"),
        (dict(activation="gelu"), "unknown activation 'gelu'"),
        (dict(out_shape=(16, 56, 56)), r"output H x W 56x56 does not follow .* \(expected 28x28\)"),
        (dict(in_shape=(16, 0, 56)), "three positive integers"),
        (dict(stride=0), "stride must be a positive integer"),
        (dict(kernel=9, in_shape=(16, 2, 2), out_shape=(16, 1, 1), padding=0), "larger than the padded input"),
        (dict(op="dwconv", out_shape=(32, 28, 28), groups=16), "groups == C_in == C_out"),
        (dict(op="pwconv"), "pointwise convolution has kernel 1"),
        (dict(op="add"), "must equal input shape"),
        (dict(op="fc"), r"take and give \(C, 1, 1\)"),
        (dict(groups=3), "groups 3 must divide"),
    ],
)
def test_impossible_layers_are_rejected(kwargs, message):
    args = dict(name="x", op="conv", in_shape=(16, 56, 56), out_shape=(16, 28, 28), kernel=3, stride=2)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        Layer(**args)


def test_dict_round_trip_and_unknown_keys():
    layer = Layer("c", "dwconv", (8, 9, 9), (8, 5, 5), kernel=3, stride=2, groups=8, inputs=("input",))
    assert Layer.from_dict(layer.to_dict()) == layer
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['colour'\] in Layer"):
        Layer.from_dict({**layer.to_dict(), "colour": 1})


def test_layer_arrays_match_layers():
    layers = [Layer("c", "conv", (3, 32, 32), (8, 16, 16), kernel=3, stride=2),
              Layer("d", "dwconv", (8, 16, 16), (8, 16, 16), kernel=3, groups=8),
              Layer("a", "add", (8, 16, 16), (8, 16, 16))]
    arrays = LayerArrays.from_layers(layers)
    assert len(arrays) == 3
    assert arrays.macs.tolist() == [lay.macs for lay in layers]
    assert arrays.input_bytes.tolist() == [lay.input_bytes for lay in layers]
    assert np.array_equal(arrays.is_op("dwconv", "add"), [False, True, True])
    with pytest.raises(ValueError, match="unknown op"):
        arrays.is_op("deconv")
