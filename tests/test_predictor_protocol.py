"""Every latency predictor answers the same questions with the same signatures (accel_models.LatencyPredictor)."""

from __future__ import annotations

import numpy as np
import pytest

from accel_models import LATENCY_SOURCES, Accelerator, LatencyPredictor, RooflineModel, group_by_block
from latency_tables import TablePredictor, as_predictor, get_predictor, load_table
from ofa_hw import SubnetConfig, subnet_layers
from ofa_hw.search.evaluate import latency_matrix

B2304 = Accelerator.from_dpu("B2304", clock_mhz=200.0)
OTHER = Accelerator.from_dpu("B1600", clock_mhz=300.0)
#: every unit of this network is in the Ultra96 table but the global pool
MEASURED_NET = SubnetConfig.uniform(3, 4, 3, r=224)


def _predictors():
    hybrid = get_predictor("ultra96v2-b2304")
    return {
        "roofline": RooflineModel(),
        "calibrated": hybrid.calibrated,
        "hybrid": hybrid,
        "joint": get_predictor("dpuczdx8g-joint"),
        "table": TablePredictor(load_table("ultra96v2-b2304"), hybrid.invocation_ms, hybrid.accelerator),
    }


@pytest.fixture(scope="module")
def predictors():
    return _predictors()


def _network(name: str):
    layers = subnet_layers(SubnetConfig.uniform(5, 6, 4, r=224) if name != "table" else MEASURED_NET)
    # a table predicts only what it measured
    return [layer for layer in layers if name != "table" or not layer.block.startswith("AvgPool2D")]


@pytest.mark.parametrize("name", ["roofline", "calibrated", "hybrid", "joint", "table"])
def test_every_predictor_implements_the_protocol(predictors, name):
    predictor = predictors[name]
    assert isinstance(predictor, LatencyPredictor)
    assert as_predictor(predictor) is predictor
    layers = _network(name)
    units = group_by_block(layers)
    accelerator = B2304 if name != "table" else predictors["table"].accelerator
    per_layer = predictor.layer_latency_ms(layers, accelerator)
    per_unit = predictor.unit_latency_ms(units, accelerator)
    sources = predictor.unit_sources(units, accelerator)
    network = predictor.network_latency_ms(layers, accelerator)
    assert per_layer.shape == (len(layers),) and per_unit.shape == sources.shape == (len(units),)
    assert np.all(per_unit > 0) and set(sources) <= set(LATENCY_SOURCES)
    assert isinstance(network, float)
    # layers add up to their units, units plus one launch to the network
    starts = np.cumsum([0] + [len(u) for u in units[:-1]])
    np.testing.assert_allclose(np.add.reduceat(per_layer, starts), per_unit, rtol=1e-9)
    assert network == pytest.approx(per_unit.sum() + predictor.invocation_ms, rel=1e-12)


@pytest.mark.parametrize("name", ["roofline", "calibrated", "hybrid", "joint"])
def test_many_accelerators_add_a_leading_axis(predictors, name):
    predictor = predictors[name]
    layers = _network(name)
    units = group_by_block(layers)
    pair = [B2304, OTHER]
    per_unit = predictor.unit_latency_ms(units, pair)
    assert per_unit.shape == predictor.unit_sources(units, pair).shape == (2, len(units))
    assert predictor.layer_latency_ms(layers, pair).shape == (2, len(layers))
    network = predictor.network_latency_ms(layers, pair)
    assert network.shape == (2,)
    for row, accelerator in enumerate(pair):
        np.testing.assert_allclose(per_unit[row], predictor.unit_latency_ms(units, accelerator), rtol=1e-12)
        assert network[row] == pytest.approx(predictor.network_latency_ms(layers, accelerator), rel=1e-12)


def test_own_accelerator_is_the_default_and_measured_units_say_so(predictors):
    hybrid, table = predictors["hybrid"], predictors["table"]
    units = group_by_block(subnet_layers(MEASURED_NET))
    sources = hybrid.unit_sources(units)
    assert list(sources).count("model") == 1 and units[list(sources).index("model")][0].block.startswith("AvgPool")
    assert set(hybrid.unit_sources(units, OTHER)) == {"model"}  # measurements apply only where they were taken
    measured = [u for u, s in zip(units, sources, strict=True) if s == "measured"]
    np.testing.assert_allclose(table.unit_latency_ms(measured), hybrid.unit_latency_ms(measured), rtol=1e-12)
    assert set(table.unit_sources(measured)) == {"measured"}


def test_predictors_without_an_accelerator_of_their_own_ask_for_one(predictors):
    layers = _network("roofline")
    with pytest.raises(ValueError, match="no accelerator of its own"):
        RooflineModel().network_latency_ms(layers)
    with pytest.raises(ValueError, match="was measured on B2304 @200 MHz x1, not on B1600 @300 MHz x1"):
        predictors["table"].unit_latency_ms(group_by_block(layers), OTHER)
    with pytest.raises(KeyError, match="not in table"):
        predictors["table"].unit_latency_ms(group_by_block(layers))  # the k7 / pool units were never measured


def test_as_predictor_names_what_it_accepts():
    assert as_predictor("dpuczdx8g-joint") is get_predictor("dpuczdx8g-joint")
    with pytest.raises(KeyError, match="unknown device 'kv260'"):
        as_predictor("kv260")
    with pytest.raises(TypeError, match="dict is not a latency predictor.*HybridPredictor"):
        as_predictor({"latency_ms": 3.0})


class _Broken:
    """A predictor whose model fails inside: the error must reach the caller, not be taken for a signature mismatch."""

    invocation_ms = 0.0

    def layer_latency_ms(self, layers, accelerator=None):
        raise TypeError("bug inside the model")

    unit_latency_ms = network_latency_ms = unit_sources = layer_latency_ms


def test_errors_inside_a_predictor_propagate():
    broken = _Broken()
    assert isinstance(broken, LatencyPredictor)
    catalog = MEASURED_NET.block_catalog()
    with pytest.raises(TypeError, match="bug inside the model"):
        latency_matrix(broken, catalog.layers, [B2304])
