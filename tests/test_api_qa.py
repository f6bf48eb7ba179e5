"""The public Python API met by a user who passes the wrong thing: each case a clear, specific error.

One test (or parametrized group) per finding of the API QA pass; each asserts the exception class and
that the message names what was wrong and what is allowed, where before the user saw a generic error
from deep inside (``'NoneType' object is not iterable``) or, worse, a silent wrong answer.
"""

from __future__ import annotations

import re

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


def _search(**kwargs):
    from ofa_hw import search_codesign

    return search_codesign(**{"latency_ms": 10.0, "budget": 300, "progress": False, **kwargs})


@pytest.mark.parametrize("seed", [-1, -(2**40)])
def test_search_with_a_negative_seed_names_the_seed(seed):
    # before: numpy's "expected non-negative integer" (no word of which argument)
    with pytest.raises(ValueError, match=f"seed must be a non-negative integer, got {seed}"):
        _search(seed=seed)


@pytest.mark.parametrize(("name", "value"), [("confidence", "0.9"), ("confidence", [0.9]),
                                             ("max_utilization", "1"), ("max_utilization", None)])
def test_search_with_a_non_number_fraction_names_the_argument(name, value):
    # before: "'<' not supported between instances of 'int' and 'str'" (confidence / max_utilization as text)
    expected = f"{name} must be a number .*got {type(value).__name__} {re.escape(repr(value))}"
    with pytest.raises(ValueError, match=expected):
        _search(**{name: value})


@pytest.mark.parametrize("value", [0.77, 0.5, 1.0])
def test_search_with_min_accuracy_as_a_fraction_is_refused(value):
    # before: min_accuracy=0.77 read as 0.77 % top-1, so best was the fastest design of all, silently
    with pytest.raises(ValueError, match=rf"min_accuracy is a top-1 percentage .*got {value}.*{value * 100:g}"):
        _search(min_accuracy=value)


@pytest.mark.parametrize("accelerators", [None, 5, 2.5])
def test_search_with_accelerators_of_no_known_kind_lists_the_kinds(accelerators):
    # before: "'NoneType' object is not iterable" / "'int' object is not iterable"
    with pytest.raises(TypeError, match=r"accelerators must be 'dpu', 'dpu-like', a DpuGrid, an AcceleratorGrid, "
                                        rf"an Accelerator or a list of them, got {type(accelerators).__name__}"):
        _search(accelerators=accelerators)


@pytest.mark.parametrize("checkpoint", [5, True, ["ckpt"]])
def test_search_with_a_checkpoint_that_is_no_path_says_so(checkpoint):
    # before: "expected str, bytes or os.PathLike object, not int" (pathlib, after the evaluator was built)
    with pytest.raises(TypeError, match=f"checkpoint must be a folder path or None, got {type(checkpoint).__name__}"):
        _search(checkpoint=checkpoint)


@pytest.mark.parametrize(("name", "value"), [("progress", "no"), ("progress", 0), ("dsp_objective", "yes"),
                                             ("dsp_objective", 1)])
def test_search_switches_must_be_bools(name, value):
    # before: progress="no" showed the bar ("no" is truthy), dsp_objective="yes" was taken silently
    with pytest.raises(TypeError, match=f"{name} must be True or False, got {type(value).__name__} {value!r}"):
        _search(**{name: value})


@pytest.mark.parametrize("accuracy", ["", 3])
def test_search_with_an_empty_accuracy_name_is_refused(accuracy):
    # before: accuracy="" silently used the space's own predictor (the `or` default)
    with pytest.raises(KeyError, match=f"unknown accuracy predictor {accuracy!r}; known: ofa-mbv3-w1.0"):
        _search(accuracy=accuracy)


class _TimedSession:
    def __init__(self, dpu_ms):
        self.dpu_ms = dpu_ms

    def run(self):
        pass

    def dpu_time_ms(self):
        return self.dpu_ms

    def close(self):
        pass


class _TimedRunner:
    """A runner injected as the board harness takes one: each session reports ``dpu_ms`` as its DPU time."""

    suffix = ".fake"

    def __init__(self, dpu_ms):
        self.dpu_ms = dpu_ms

    def describe(self):
        return "fake runner"

    def load(self, path, key):
        return _TimedSession(self.dpu_ms)


LOGITS = "Logits-input:1x1x8-output:4"


@pytest.mark.parametrize("dpu_ms", [0.0, -1.0, float("nan"), float("inf")])
def test_measure_unit_returns_a_dpu_timer_fault_as_a_unit_failure(dpu_ms, tmp_path):
    # before: raised "entry '...': mean_ms must be positive, got 0" (and so ended a whole `measure`), although
    # measure_unit returns a unit's failure instead of raising
    from latency_tables.harness import UnitFailure, measure_unit

    compiled = tmp_path / "unit.fake"
    compiled.write_text("x")
    result = measure_unit(_TimedRunner(dpu_ms), compiled, LOGITS, warmup=0, runs=2, timing="dpu")
    assert isinstance(result, UnitFailure)
    assert f"the DPU timer gave {dpu_ms!r} ms, not a positive time" in result.reason


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"timing": "wall"}, "timing must be one of ('host', 'dpu'), got 'wall'"),
    ({"runs": 0}, "1 <= runs"), ({"runs": -1}, "1 <= runs"), ({"warmup": -1}, "warmup >= 0"),
    ({"warmup": 1.5}, "warmup must be an integer, got 1.5"),
])
def test_measure_unit_checks_its_counts_and_timing_as_measure_does(kwargs, message, tmp_path):
    # before: timing="wall" silently timed on the host; runs=-1 / warmup=1.5 came back as UnitFailures of numpy's
    # "negative dimensions" / "'float' object cannot be interpreted as an integer"; warmup=-1 as
    # "entry '...': warmup must be a finite non-negative number"
    from latency_tables.harness import measure_unit

    compiled = tmp_path / "unit.fake"
    compiled.write_text("x")
    with pytest.raises(ValueError, match=re.escape(message)):
        measure_unit(_TimedRunner(1.0), compiled, LOGITS, **{"warmup": 0, "runs": 2, **kwargs})


@pytest.mark.parametrize(("field", "value"), [
    ("in_shape", (3.5, 8, 8)), ("in_shape", (3, 8.25, 8)), ("out_shape", (8, 8, "8")), ("in_shape", (3, None, 8)),
    ("in_shape", None), ("kernel", 2.5), ("kernel", None), ("stride", "1"), ("padding", 0.5), ("groups", True),
])
def test_layer_with_a_fractional_or_non_numeric_size_is_refused(field, value):
    # before: in_shape (3.5, 8, 8) became (3, 8, 8) silently (int() truncation); kernel=None / in_shape=None raised
    # int()'s TypeError; a float kernel was kept as a float
    from accel_models.layer import Layer

    kwargs = {"name": "x", "op": "conv", "in_shape": (3, 8, 8), "out_shape": (8, 8, 8), "kernel": 3, field: value}
    with pytest.raises(ValueError, match=f"layer 'x': {field} must be .*integer.*got {re.escape(repr(value))}"):
        Layer(**kwargs)


def test_layer_keeps_whole_numbers_of_any_numeric_type_as_ints():
    import numpy as np

    from accel_models.layer import Layer

    layer = Layer("x", "conv", np.array([3, 8, 8]), (8.0, 8, np.int64(8)), kernel=3.0, padding=np.int32(1))
    assert (layer.in_shape, layer.out_shape, layer.kernel, layer.padding) == ((3, 8, 8), (8, 8, 8), 3, 1)
    assert all(type(v) is int for v in (*layer.in_shape, *layer.out_shape, layer.kernel, layer.padding))


@pytest.mark.parametrize("width", ["1.2", "ofa-mbv3-w1.2", None, [1.2]])
def test_subnet_with_a_width_that_is_no_number_says_a_number_is_wanted(width):
    # before: from_dict gave "malformed a sub-network dict: KeyError: \"unknown search space '1.2'; known: ...\"",
    # SubnetConfig(width_mult="1.2") that KeyError itself, as if a space name had been misspelt
    from ofa_hw import SubnetConfig

    largest = SubnetConfig.largest()
    expected = rf"width_mult must be a number, one of \[1.0, 1.2, 1.3\].*got {type(width).__name__}"
    with pytest.raises(ValueError, match=expected):
        SubnetConfig(largest.ks, largest.e, largest.d, largest.r, width_mult=width)
    if width is not None:  # a dict without a width is the w1.2 space
        with pytest.raises(ValueError, match=expected):
            SubnetConfig.from_dict({**largest.to_dict(), "width_mult": width})


@pytest.mark.parametrize("seed", ["0", -1, 1.5, None])
def test_fit_device_with_a_bad_seed_names_the_seed(seed):
    # before: numpy's "SeedSequence expects int or sequence of ints for entropy not 0" / "expected non-negative
    # integer"; seed=None was taken (an unseeded, unrepeatable cross-validation)
    from latency_tables import get_source

    ultra96 = get_source("ultra96v2-b2304")
    shots = ultra96.table.subset(ultra96.table.keys()[3:10])
    with pytest.raises(ValueError, match=f"seed must be a non-negative integer, got {type(seed).__name__}"):
        fit_device(shots, ultra96.accelerator, seed=seed)


@pytest.mark.parametrize("given", [None, 5, b"my_board.csv"])
def test_load_table_of_no_name_or_path_says_what_it_takes(given):
    # before: pathlib's "expected str, bytes or os.PathLike object, not NoneType"
    from latency_tables import load_table

    with pytest.raises(TypeError, match=f"shipped table's name .* or a file path, got {type(given).__name__}"):
        load_table(given)


def test_a_result_written_onto_a_folder_is_refused_naming_the_folder(tmp_path):
    # before: IsADirectoryError "[Errno 21] Is a directory: '.../.full.1359.0a7c9cdf.gosvqzdq.tmp' -> '.../full'"
    from accel_models.atomic import atomic_write_text

    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "mine.txt").write_text("mine")
    with pytest.raises(IsADirectoryError, match=f"cannot write the file {re.escape(str(folder))}: it is a folder"):
        atomic_write_text(folder, "{}")
    assert [p.name for p in tmp_path.iterdir()] == ["results"]  # no temporary file left beside it
    assert (folder / "mine.txt").read_text() == "mine"


@pytest.mark.parametrize(("budget", "duration"), [(10_000_001, "2 minutes"), (10**12, "3,086.4 hours")])
def test_a_budget_over_the_maximum_says_how_long_it_would_run(budget, duration):
    # before: budget=10_000_001 said "it would run for about 0.0 hours" (10 M evaluations / 90,000 per s = 111 s)
    with pytest.raises(ValueError, match=f"above the maximum 10,000,000: it would run for about {duration} "):
        _search(budget=budget)


@pytest.mark.parametrize("device", ["dpuczdx8g-joint", "ultra96v2-b2304", "by-build", "hls-engine", "note10"])
def test_latency_predictors_refuse_no_layers_by_name_and_take_a_subnet_config(device, b1600):
    # before: network_latency_ms([]) / unit_latency_ms([]) raised numpy's "zero-size array to reduction operation
    # maximum which has no identity"; network_latency_ms(None / a SubnetConfig) "'...' object is not iterable"
    from latency_tables import get_predictor
    from ofa_hw import SubnetConfig

    predictor = get_predictor(device)
    with pytest.raises(TypeError, match="sequence of Layer.*got list with no layers"):
        predictor.network_latency_ms([], b1600)
    with pytest.raises(TypeError, match="sequence of Layer.*got NoneType"):
        predictor.network_latency_ms(None, b1600)
    with pytest.raises(ValueError, match="no layers given"):
        predictor.layer_latency_ms([], b1600)
    with pytest.raises(ValueError, match="units must be a non-empty sequence"):
        predictor.unit_latency_ms([], b1600)
    subnet = SubnetConfig.smallest()
    assert predictor.network_latency_ms(subnet, b1600) == predictor.network_latency_ms(subnet.layers(), b1600)


@pytest.mark.parametrize("device", ["dpuczdx8g-joint", "ultra96v2-b2304", "by-build", "hls-engine"])
def test_latency_predictors_refuse_a_unit_with_no_layers(device, b1600):
    # before: the hls-engine predictor priced a unit with no layers at 0 ms, where the others refuse it
    from latency_tables import get_predictor
    from ofa_hw import SubnetConfig

    with pytest.raises(ValueError, match="every unit needs at least one layer"):
        get_predictor(device).unit_latency_ms([SubnetConfig.smallest().layers()[:2], []], b1600)


@pytest.mark.parametrize(("grid", "field", "value", "message"), [
    ("DpuGrid", "arch", "B1600", "must be a tuple of values .*got str 'B1600'"),
    ("DpuGrid", "clock_mhz", 200, "must be a tuple of values .*got int 200"),
    ("DpuGrid", "ram_usage", ("mid",), "must hold 'low' and/or 'high'"),
    ("AcceleratorGrid", "pp", 8, "must be a tuple of values .*got int 8"),
    ("AcceleratorGrid", "ocp", (8.5,), r"must be integers, got \(8.5,\)"),
    ("AcceleratorGrid", "cores", (9,), r"must be 1-4 cores per device, got \(9,\)"),
])
def test_accelerator_grids_check_their_values_when_made(grid, field, value, message):
    # before: arch="B1600" was "must be distinct values, got ('B', '1', '6', '0', '0')", a scalar clock "'int' object
    # is not iterable"; ram_usage ("mid",), ocp (8.5,) and cores (9,) were taken and refused only inside the search
    from ofa_hw.search import accelerators

    with pytest.raises(ValueError, match=f"{grid}.{field} {message}"):
        getattr(accelerators, grid)(**{field: value})


def test_fits_names_what_it_takes():
    # before: fits(acc, "ultra96v2") -> AttributeError "'str' object has no attribute 'resources'"; fits("B1600", board)
    # -> "'str' object has no attribute 'is_dpuczdx8g'"; max_utilization="1" -> "'<' not supported ..."
    from accel_models import fits, get_board

    board, acc = get_board("ultra96v2"), Accelerator.from_dpu("B1600")
    with pytest.raises(TypeError, match=r"fits takes a Board \(e.g. get_board\('ultra96v2'\)\), got str"):
        fits(acc, "ultra96v2")
    with pytest.raises(TypeError, match=r"fits takes an Accelerator .*got str 'B1600'"):
        fits("B1600", board)
    for bad in ("1", None, True):
        with pytest.raises(ValueError, match=rf"max_utilization must lie in \(0, 1\] \(a number\), got {bad!r}"):
            fits(acc, board, max_utilization=bad)


def test_plan_from_keys_refuses_a_single_key_and_an_empty_list():
    # before: from_keys("Logits-...") read the string's characters ("unrecognised block key 'L'"); from_keys([]) made
    # an empty plan, which `measure` turned into an empty table
    from latency_tables.harness import Plan

    with pytest.raises(TypeError, match=f"takes a list of unit keys, got str '{LOGITS}'"):
        Plan.from_keys(LOGITS)
    with pytest.raises(ValueError, match="needs at least one unit key"):
        Plan.from_keys([])


@pytest.mark.parametrize(("what", "message"), [("plan", r"takes a Plan \(read_plan\(folder\)\), got NoneType"),
                                               ("runner", r"takes a Runner .*got NoneType")])
def test_measure_without_a_plan_or_runner_says_what_it_takes(what, message, tmp_path):
    # before: AttributeError "'NoneType' object has no attribute 'space'" / "... 'describe'"
    from latency_tables.harness import NumpyRunner, Plan, measure

    args = {"plan": Plan.from_keys([LOGITS]), "runner": NumpyRunner(), what: None}
    meta = {"board": "host", "dpu_arch": "numpy-int8", "clock_mhz": 1.0, "toolchain": "numpy"}
    with pytest.raises(TypeError, match=message):
        measure(args["plan"], tmp_path, args["runner"], tmp_path / "t.csv", meta=meta, warmup=0, runs=2)
    assert list(tmp_path.iterdir()) == []


def test_analyze_network_takes_a_subnet_config_and_refuses_none_by_name(b1600):
    # before: analyze_network(SubnetConfig) / analyze_network(None) -> "'SubnetConfig' object is not iterable"
    from accel_models import analyze_network
    from ofa_hw import SubnetConfig

    subnet = SubnetConfig.smallest()
    assert analyze_network(subnet, b1600).totals() == analyze_network(subnet.layers(), b1600).totals()
    with pytest.raises(ValueError, match="takes a non-empty sequence of accel_models.Layer: .*NoneType"):
        analyze_network(None, b1600)


def test_build_config_of_an_architecture_name_says_to_make_an_accelerator():
    # before: AttributeError "'str' object has no attribute 'is_dpuczdx8g'"
    from accel_models.build_files import build_config

    with pytest.raises(TypeError, match=r"build_config takes an Accelerator \(e.g. Accelerator.from_dpu\('B1600'\)\)"):
        build_config("B1600")


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"dpu_ms": "4"}, "dpu_ms must be a number of milliseconds, got str '4'"),
    ({"cpu_fallback_ms": None}, "cpu_fallback_ms must be a number of milliseconds, got NoneType"),
    ({"design_cores": 9}, "design_cores must be an integer >= 1 and <= 4 (DPU cores, PG338), got 9"),
])
def test_deployed_estimate_checks_its_numbers(kwargs, message):
    # before: dpu_ms="4" -> math's "must be real number, not str"; design_cores=9 gave an estimate for 9 DPU cores
    from accel_models.deployed import DeployedModel

    args = {"dpu_ms": 4.0, "board": "zcu104", "design_cores": 2, **kwargs}
    with pytest.raises(ValueError, match=re.escape(message)):
        DeployedModel.shipped().estimate(args.pop("dpu_ms"), **args)


def test_sample_subnets_with_a_negative_seed_names_the_seed():
    # before: numpy's "expected non-negative integer"
    from ofa_hw.space import sample_subnets

    with pytest.raises(ValueError, match="seed must be a non-negative integer, a numpy Generator or None, got -1"):
        sample_subnets(2, seed=-1)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"calibration": "nan"}, "calibration images must be finite numbers"),
    ({"calibration": "inf"}, "calibration images must be finite numbers"),
    ({"seed": -1}, "seed must be an integer of at least 0, got -1"),
    ({"n_calibration": 2.5}, "n_calibration must be an integer of at least 1, got 2.5"),
    ({"n_calibration": 0}, "n_calibration must be an integer of at least 1, got 0"),
    ({"test_input": "nan"}, "test_input must be finite numbers"),
])
def test_hls_export_refuses_non_finite_images_and_bad_counts(kwargs, message, tmp_path):
    # before: NaN calibration images were exported silently (every fix position from NaN ranges), seed=-1 raised
    # numpy's "expected non-negative integer", n_calibration=2.5 was taken
    import numpy as np

    import hls
    from ofa_hw import SubnetConfig

    images = {"nan": np.full((2, 3, 32, 32), np.nan), "inf": np.full((2, 3, 32, 32), np.inf)}
    if kwargs.get("test_input") == "nan":
        kwargs = {"test_input": np.full((1, 3, 32, 32), np.nan)}
    elif "calibration" in kwargs:
        kwargs = {"calibration": images[kwargs["calibration"]]}
    with pytest.raises(ValueError, match=re.escape(message)):
        hls.export(SubnetConfig.smallest(r=32), tmp_path / "hls", **kwargs)
    assert not (tmp_path / "hls").exists()


@pytest.mark.parametrize("space", [True, None, [1.2]])
def test_a_search_space_that_is_no_name_or_width_is_refused(space):
    # before: space=True searched the w1.0 space (float(True) == 1.0); None / a list raised float()'s TypeError
    from ofa_hw.space import get_space

    with pytest.raises(TypeError, match=f"a search space is a name .*got {type(space).__name__}"):
        get_space(space)
    with pytest.raises(TypeError, match="a search space is a name"):
        _search(space=space)


def test_search_takes_numpy_scalars_as_the_numbers_they_are():
    # before: latency_ms=np.int64(10) -> "latency_ms must be a positive number, got np.int64(10)"; likewise
    # np.float32 fps, min_accuracy and np.int64 threads
    import numpy as np

    assert _search(latency_ms=np.int64(10)).best == _search(latency_ms=10).best
    assert _search(latency_ms=np.float32(10), min_accuracy=np.float32(70)).best == \
        _search(latency_ms=10.0, min_accuracy=70.0).best
    assert _search(latency_ms=None, fps=np.float32(30), threads=np.int64(2)).best == \
        _search(latency_ms=None, fps=30.0, threads=2).best


def test_network_measurement_takes_numpy_numbers():
    # before: NetworkMeasurement("a", subnet, np.float32(5.0)) -> "latency_ms must be a positive number, got
    # np.float32(5.0)", count=np.int64(100) -> "count ... must be a positive integer"
    import numpy as np

    from latency_tables import NetworkMeasurement
    from ofa_hw import SubnetConfig

    runs = np.array([5.0, 5.5, 4.5], dtype=np.float32)
    m = NetworkMeasurement("a", SubnetConfig.smallest(), runs.mean(), count=np.int64(runs.size), std_ms=runs.std())
    assert (m.latency_ms, m.count, m.std_ms) == (5.0, 3, pytest.approx(0.408248, rel=1e-5))
    assert type(m.count) is int and type(m.std_ms) is float


@pytest.mark.parametrize("data", [None, [1, 2], "pp"])
def test_from_dict_of_no_mapping_says_a_dict_is_wanted(data):
    # before: Accelerator.from_dict(None) -> "'NoneType' object is not iterable"; from_dict("pp") -> "unknown key(s)
    # ['p'] in Accelerator" (the string's characters)
    with pytest.raises(ValueError, match=f"Accelerator must be a mapping .*got {type(data).__name__}"):
        Accelerator.from_dict(data)


def test_result_to_json_into_a_folder_path_with_a_slash_is_refused(tmp_path):
    # before: to_json("results/") wrote a 58 kB file named "results" (pathlib drops the trailing slash)
    result = _search()
    with pytest.raises(IsADirectoryError, match=r"names a folder; give a file name such as '.*results/result.json'"):
        result.to_json(f"{tmp_path}/results/")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("board", ["ultra96v2", "zcu102"])
def test_a_board_search_refuses_a_phone_cpu_predictor(board):
    # before: search_codesign(board="ultra96v2", predictor="note10") priced DPU designs with the phone-CPU curve
    # fit and labelled the latency "DPU time, model", with only a validity warning
    with pytest.raises(ValueError, match=r"^predictor='note10' times Samsung Note10 CPU .*not a DPU: .*board=None"):
        _search(board=board, predictor="note10")


def test_a_board_search_refuses_any_predictor_timing_a_device_that_is_not_a_dpu():
    # by the device the predictor times, not its name: the Note10 tables pooled into one hybrid predictor object
    from latency_tables import get_predictor

    pooled = get_predictor("note10").pooled
    with pytest.raises(ValueError, match=r"times note10-cpu, not a DPU"):
        _search(predictor=pooled)
    assert _search(board=None, predictor="note10", latency_ms=25.0, quantization=None, accuracy_scale="raw").best


@pytest.mark.parametrize("kwargs, message", [
    ({"latency_ms": 1.0}, r"^latency_ms=1 is below the fastest design reachable on ultra96v2"),
    ({"latency_ms": None, "min_accuracy": 99.0}, r"^no design reached min_accuracy=99% top-1"),
    ({"population": 1000}, r"^budget=300 is fewer evaluations per restart than population=1000: each generation"),
    ({"restarts": 3, "population": 200}, r"^budget=300 split over restarts=3 is fewer evaluations per restart than "
                                         r"population=200"),
])
def test_search_messages_name_python_keywords(kwargs, message):
    # the same refusals the command line words with its options (tests/test_cli_qa.py) name keywords here
    with pytest.raises(ValueError, match=message):
        _search(**kwargs)


def test_a_worded_error_keeps_its_parts_through_pickling():
    # a search's restarts run in executors: the command line must still word an error raised in another process
    import pickle

    from accel_models.wording import COMMAND_LINE
    from ofa_hw.search import InfeasibleConstraintError

    error = InfeasibleConstraintError("{fps:g} is above {{braces}} kept", arguments={"fps": 500.0})
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is InfeasibleConstraintError and str(copy) == "fps=500 is above {braces} kept"
    assert copy.worded(COMMAND_LINE, lambda keyword, text: f"--{keyword} {text}") == "--fps 500 is above {braces} kept"


@pytest.mark.parametrize("scheme", ["pow2", "per_channel"])
def test_hls_export_of_an_engine_too_big_for_the_board_refuses_before_quantizing(scheme, tmp_path, monkeypatch):
    # before: the whole network was extracted and quantized (seconds) before "P8I10O10 needs ... DSP" was raised
    import importlib

    import hls
    from hls.engine import EngineResourceError
    from ofa_hw import SubnetConfig

    export_module = importlib.import_module("hls.export")

    def no_work(*args, **kwargs):
        raise AssertionError("the network was extracted or quantized before the board check")

    monkeypatch.setattr(export_module, "float_network", no_work)
    monkeypatch.setattr(export_module, "quantize", no_work)
    with pytest.raises(EngineResourceError, match=r"P8I10O10 needs [\d,]+ DSP \(\d+% of 360\).* on ultra96v2"):
        hls.export(SubnetConfig.smallest(r=32), tmp_path / "hls", accelerator=Accelerator.from_dpu("B1600"),
                   board="ultra96v2", scheme=scheme)
    assert not (tmp_path / "hls").exists()


@pytest.mark.parametrize(("field", "value", "allowed"), [
    ("lut", 1.5, "positive integer"), ("dsp", 0, "positive integer"), ("bram36", 216.5, "positive integer"),
    ("ff", True, "positive integer"), ("uram", -1, "non-negative integer"), ("uram", 0.5, "non-negative integer"),
    ("default_dpu_cores", 1.5, "positive integer"), ("name", "", "non-empty string"),
    ("name", None, "non-empty string"), ("part", " ", "non-empty string"),
])
def test_board_refuses_fractional_resources_and_an_empty_name(field, value, allowed):
    # before: Board(lut=1.5), Board(dsp=0) and Board(name="") were accepted (a fit check against 1.5 LUTs)
    from accel_models.boards import Board, get_board

    good = get_board("ultra96v2").to_dict()
    with pytest.raises(ValueError, match=f"{field} must be a {allowed}, got {re.escape(repr(value))}"):
        Board(**{**good, field: value})


def test_board_takes_numpy_integers_as_the_counts_they_are():
    # the other side of the check above: a count computed with numpy is the count it is
    import numpy as np

    from accel_models.boards import Board, get_board

    shipped = get_board("zcu104")
    board = Board(**{**shipped.to_dict(), "dsp": np.int64(shipped.dsp), "uram": np.int32(shipped.uram)})
    assert board == shipped and type(board.dsp) is int and type(board.uram) is int


def _validity_warnings(call):
    """(result, the ValidityWarnings ``call()`` raised)."""
    import warnings

    from latency_tables.validity import ValidityWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call()
    return result, [w for w in caught if issubclass(w.category, ValidityWarning)]


@pytest.mark.parametrize("device", ["dpuczdx8g-joint", "ultra96v2-b2304", "by-build", "hls-engine", "note10"])
def test_latency_predictors_beyond_the_measured_resolutions_warn_once_per_call(device, b1600):
    # before: network_latency_ms of an r=448 network (feature maps of 448 px, none above 227 px measured) answered
    # without a word; now one ValidityWarning per call, and the same number as the (unwarned) sum of its units
    from accel_models import group_by_block
    from latency_tables import get_predictor
    from ofa_hw import SubnetConfig

    predictor = get_predictor(device)
    acc = None if device in ("ultra96v2-b2304", "note10") else b1600
    with pytest.warns(UserWarning):  # the subnet's own: r=448 is outside OFA's training resolutions
        layers = SubnetConfig.smallest(r=448).layers()
    units = group_by_block(layers)
    unit_sum, quiet = _validity_warnings(lambda: predictor.unit_latency_ms(units, acc).sum())
    assert quiet == []  # the bulk path the search uses: the search decides its warning once, for all candidates
    latency, warned = _validity_warnings(lambda: predictor.network_latency_ms(layers, acc))
    assert len(warned) == 1 and warned[0].filename == __file__  # the caller's line, not the library's
    assert re.search(r"feature maps 1-448 px beyond the measured 1-22\d px", str(warned[0].message))
    assert latency == pytest.approx(unit_sum + predictor.invocation_ms, rel=1e-12)
    per_layer, warned = _validity_warnings(lambda: predictor.layer_latency_ms(layers, acc))
    assert len(warned) == 1 and len(per_layer) == len(layers)
    _, warned = _validity_warnings(lambda: predictor.network_latency_ms(SubnetConfig.smallest(r=224).layers(), acc))
    assert warned == []


@pytest.mark.parametrize("device", ["dpuczdx8g-joint", "by-build", "hls-engine"])
def test_latency_intervals_beyond_the_measured_resolutions_warn_once(device, b1600):
    # before: network_interval of an r=448 network answered with source_ms "modelled" / "transferred", no warning
    from latency_tables.uncertainty import interval_predictor
    from ofa_hw import SubnetConfig

    with pytest.warns(UserWarning):
        subnet = SubnetConfig.smallest(r=448)
    _, warned = _validity_warnings(lambda: interval_predictor(device).network_interval(subnet, b1600))
    assert len(warned) == 1 and "feature maps 1-448 px beyond the measured" in str(warned[0].message)
    assert warned[0].filename == __file__
