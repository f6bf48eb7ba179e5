"""The int8 (power-of-two, per-tensor) drop model and the quantized predictor."""

import numpy as np
import pytest

from ofa_hw.accuracy import (
    Int8DropModel,
    PublishedInt8Result,
    QuantizedPredictor,
    get_predictor,
    load_published_int8,
)
from ofa_hw.space import sample_subnets

#: Float / int8 top-1 of the inverted-residual models as the Vitis AI zoo READMEs print them
#: (v2.5 model_zoo/README.md rows 13, 14, 36, 37; v1.4 models/AI-Model-Zoo/README.md row 7).
ZOO_INVERTED_RESIDUAL = {
    "tf_mobilenetv2_1.0": (0.7013, 0.6767),
    "tf_mobilenetv2_1.4": (0.7411, 0.7194),
    "tf2_efficientnet-b0": (0.7690, 0.7515),
    "tf2_mobilenetv3": (0.6756, 0.6536),
    "cf_mobilenetv2": (0.6527, 0.6399),
}


def test_published_file_parses_with_sources():
    results = load_published_int8()
    assert len(results) == 56
    assert all(r.source.startswith("Xilinx/Vitis-AI@") for r in results)
    family = [r for r in results if r.family == "inverted-residual"]
    assert sorted(r.model.rsplit("_imagenet", 1)[0] for r in family) == sorted(ZOO_INVERTED_RESIDUAL)
    for r in family:
        fl, q = ZOO_INVERTED_RESIDUAL[r.model.rsplit("_imagenet", 1)[0]]
        assert (r.float_top1_pct, r.int8_top1_pct) == pytest.approx((100 * fl, 100 * q), abs=1e-9)


def test_drop_model_is_the_family_mean_with_its_spread():
    drops = [100 * (fl - q) for fl, q in ZOO_INVERTED_RESIDUAL.values()]  # 2.46 2.17 1.75 2.20 1.28
    model = Int8DropModel.from_published()
    assert model.scheme == "int8-pow2"
    assert model.drop_pp == pytest.approx(sum(drops) / 5, abs=1e-9)  # 1.972
    mean = sum(drops) / 5
    assert model.sd_pp == pytest.approx((sum((d - mean) ** 2 for d in drops) / 4) ** 0.5, abs=1e-9)
    assert len(model.analogues) == 5


def test_dense_networks_lose_less_than_depthwise_ones_in_the_data():
    """The one architecture effect the published figures do show."""
    results = load_published_int8()
    dense = np.median([r.drop_pp for r in results if r.family == "dense"])
    inverted = Int8DropModel.from_published(results).drop_pp
    plain = Int8DropModel.from_published(results, family="depthwise-plain").drop_pp
    assert dense < 1.0 < inverted < plain


@pytest.mark.parametrize("name", ["ofa-mbv3-w1.0", "ofa-mbv3-w1.2"])
def test_quantized_predictor_is_float_minus_drop(name):
    float_p = get_predictor(name)
    int8_p = get_predictor(name, quantization="int8-pow2")
    assert isinstance(int8_p, QuantizedPredictor) and int8_p.base is float_p
    assert int8_p.quantization == "int8-pow2" and "int8-pow2" in int8_p.kind and "int8" in repr(int8_p)
    assert int8_p.space == float_p.space and int8_p.valid_resolutions == float_p.valid_resolutions
    batch = sample_subnets(50, seed=1, width_mult=1.0 if name.endswith("1.0") else 1.2, resolutions=[224])
    np.testing.assert_allclose(float_p.predict(batch) - int8_p.predict(batch), 1.972, atol=1e-9)


def test_bad_inputs_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="family 'cnn' unknown"):
        Int8DropModel.from_published(family="cnn")
    with pytest.raises(ValueError, match="no published figures"):
        Int8DropModel.from_published(results=[], family="dense")
    with pytest.raises(ValueError, match="percentage"):
        PublishedInt8Result("m", "dense", False, "relu", 224, 70.0, 170.0, "src")
    with pytest.raises(ValueError, match="source"):
        PublishedInt8Result("m", "dense", False, "relu", 224, 70.0, 69.0, "")
    bad = tmp_path / "bad.csv"
    bad.write_text("model,float,int8\nx,1,2\n")
    with pytest.raises(ValueError, match="expected columns"):
        load_published_int8(bad)
    with pytest.raises(FileNotFoundError):
        load_published_int8(tmp_path / "missing.csv")
