"""The public Python API met by a user who passes the wrong thing: each case a clear, specific error.

One test (or parametrized group) per finding of the API QA pass; each asserts the exception class and
that the message names what was wrong and what is allowed, where before the user saw a generic error
from deep inside (``'NoneType' object is not iterable``) or, worse, a silent wrong answer.
"""

from __future__ import annotations

import pytest

from accel_models import Accelerator
from latency_tables import fit_device


@pytest.fixture(scope="module")
def b1600():
    return Accelerator.from_dpu("B1600", clock_mhz=300)


@pytest.mark.parametrize("given", ["my_board.csv", "ultra96v2-b2304"])
def test_fit_device_given_a_file_name_says_to_load_it(given, b1600):
    # before: "network measurements must be a non-empty sequence of NetworkMeasurement, got ['str']"
    with pytest.raises(TypeError, match=r"load_table\(.*" + given):
        fit_device(given, b1600)


@pytest.mark.parametrize("given", [None, 5, 2.5])
def test_fit_device_given_no_measurements_names_what_it_takes(given, b1600):
    # before: "'NoneType' object is not iterable"
    with pytest.raises(TypeError, match="LatencyTable.*NetworkMeasurement.*got " + type(given).__name__):
        fit_device(given, b1600)


@pytest.mark.parametrize(("field", "value", "allowed"), [
    ("count", 0, "positive integer"), ("count", -1, "positive integer"), ("count", 2.5, "positive integer"),
    ("count", True, "positive integer"), ("std_ms", -1.0, "non-negative"), ("std_ms", float("nan"), "finite"),
])
def test_network_measurement_checks_its_run_statistics_when_made(field, value, allowed):
    # before: accepted, and refused only later inside fit_device as "entry 'a': ..."
    from latency_tables import NetworkMeasurement
    from ofa_hw import SubnetConfig

    with pytest.raises(ValueError, match=f"NetworkMeasurement 'a': {field} .*{allowed}.*got {value!r}"):
        NetworkMeasurement("a", SubnetConfig.smallest(), 5.0, **{field: value})


@pytest.mark.parametrize("given", [None, "subnet", "layer"])
def test_roofline_analyze_of_no_layer_list_names_what_it_takes(given, b1600):
    # before: "'NoneType' object is not iterable", "'SubnetConfig' object is not iterable", "'Layer' ..."
    from accel_models import RooflineModel
    from ofa_hw import SubnetConfig

    subnet = SubnetConfig.smallest()
    layers = {None: None, "subnet": subnet, "layer": subnet.layers()[0]}[given]
    expected = r"list of Layer \(a SubnetConfig's .layers\(\)\).*got " + type(layers).__name__
    with pytest.raises(TypeError, match=expected):
        RooflineModel().analyze(layers, b1600)


@pytest.mark.parametrize("device", ["dpuczdx8g-joint", "hls-engine", "by-build"])
def test_network_interval_of_no_layers_is_refused_by_name(device, b1600):
    # before: "zero-size array to reduction operation maximum which has no identity" (numpy, from deep inside)
    from latency_tables.uncertainty import interval_predictor

    intervals = interval_predictor(device)
    with pytest.raises(TypeError, match="sequence of Layer.*got list with no layers"):
        intervals.network_interval([], b1600)
    with pytest.raises(TypeError, match="sequence of Layer.*got NoneType"):
        intervals.network_interval(None, b1600)


def test_network_interval_takes_a_subnet_config_as_its_layers(b1600):
    # before: "'SubnetConfig' object is not iterable"; as_layers is what every other network entry point accepts
    from latency_tables.uncertainty import interval_predictor
    from ofa_hw import SubnetConfig

    intervals = interval_predictor()
    subnet = SubnetConfig.largest()
    assert intervals.network_interval(subnet, b1600) == intervals.network_interval(subnet.layers(), b1600)
