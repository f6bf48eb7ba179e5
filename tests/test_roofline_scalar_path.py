"""The one-accelerator (scalar) path of RooflineModel gives exactly the numbers of the bulk (numpy) path.

A call with one accelerator and a list of Layer objects runs in Python numbers
(``RooflineModel._scalar_layers``); a call with several accelerators, a
LayerArrays or a UnitSchedule runs the vectorised path.  Both share the
formulas, so over a grid that exercises every branch (every engine, merged
pools, spills, split h-swish, pipelined chunks, partial overlap, per-layer
accelerator overheads) they must agree to the last bit, each checked against
the other.  One point is computed by hand.
"""

import numpy as np
import pytest

from accel_models import Accelerator, BlockSpec, Layer, RooflineModel, RooflineParams
from accel_models.dpu_options import DpuOptions
from accel_models.layer import LayerArrays
from accel_models.schedule import UnitSchedule
from accel_models.tiling import AcceleratorArrays, layer_cycles, tiled_cycles

_KEYS = (
    "Conv-input:224x224x3-output:112x112x24",
    "Conv_1-input:7x7x192-output:7x7x1152",
    "AvgPool2D-input:7x7x1152-output:1x1x1152",
    "expanded_conv-input:112x112x24-output:112x112x24-expand:24-kernel:3-stride:1-idskip:1-se:0-hs:0",
    "expanded_conv-input:56x56x32-output:56x56x32-expand:192-kernel:5-stride:1-idskip:1-se:0-hs:0",
    "expanded_conv-input:28x28x48-output:28x28x48-expand:288-kernel:7-stride:1-idskip:1-se:1-hs:0",
    "expanded_conv-input:28x28x96-output:14x14x96-expand:576-kernel:3-stride:2-idskip:0-se:0-hs:1",
    "expanded_conv-input:14x14x136-output:7x7x192-expand:816-kernel:3-stride:2-idskip:0-se:1-hs:1",
    "Logits-input:1x1x1536-output:1000",
)


def _units() -> list[tuple[Layer, ...]]:
    units = [tuple(BlockSpec.from_key(k).layers()) for k in _KEYS]
    # a convolution feeding a max pool (the pool runs in the conv's write-back: merged), and standalone
    # layers of the remaining ops (grouped conv, element-wise ops, a standalone activation)
    conv = Layer("c", "conv", (64, 56, 56), (128, 56, 56), kernel=3, activation="relu", bias=True, block="cp")
    pool = Layer("p", "maxpool", (128, 56, 56), (128, 28, 28), kernel=2, stride=2, inputs=("c",), block="cp")
    units.append((conv, pool))
    units += [(Layer("g", "conv", (32, 30, 30), (64, 15, 15), kernel=3, stride=2, groups=4),),
              (Layer("a", "add", (96, 14, 14), (96, 14, 14)),),
              (Layer("s", "scale", (96, 14, 14), (96, 14, 14)),),
              (Layer("h", "act", (40, 28, 28), (40, 28, 28), activation="h_sigmoid"),),
              (Layer("avg", "pool", (1152, 7, 7), (1152, 1, 1), kernel=7),)]
    return units


def _accelerators() -> list[Accelerator]:
    rng = np.random.default_rng(3)
    accs = [Accelerator.from_dpu("B2304", clock_mhz=200.0), Accelerator.from_dpu("B4096", ddr_bw_gbps=19.2),
            Accelerator(4, 8, 8, clock_mhz=150.0, act_buffer_kib=8.0),  # tiny buffer: spills and split h-swish
            Accelerator(16, 12, 20, clock_mhz=333.0, dw_pp=3, layer_overhead_us=1.5, ddr_bw_gbps=4.2),
            # build options that may act on timing (channel augmentation off, a third image bank group)
            Accelerator.from_dpu("B1152", clock_mhz=250.0,
                                 options=DpuOptions(channel_augmentation=False, ram_usage="high"))]
    accs += [Accelerator(int(rng.choice([2, 4, 8, 16])), int(rng.integers(3, 33)), int(rng.integers(3, 33)),
                         clock_mhz=float(rng.uniform(100, 400)), ddr_bw_gbps=float(rng.uniform(2, 20)),
                         act_buffer_kib=float(rng.uniform(4, 600))) for _ in range(8)]
    return accs


_PARAMS = [RooflineParams(),
           RooflineParams(overlap=0.6, pipeline_chunk_fraction=0.05, buffer_fraction=0.5),
           RooflineParams(overlap=1.0, hswish_passes=0.0, layer_overhead_cycles=0.0),
           RooflineParams(conv_efficiency=0.3, pw_efficiency=0.9, dw_efficiency=0.45, misc_efficiency=0.02,
                          bw_efficiency=0.9, weight_bw_efficiency=0.05, pipeline_chunk_fraction=1.0)]


def test_the_grid_exercises_every_branch():
    # so that agreement below means something: spills, split h-swish, merged pools, pipelined chunks occur
    schedule = UnitSchedule.from_units(_units())
    accs = _accelerators()
    terms = RooflineModel(_PARAMS[1]).terms(schedule, accs)
    assert schedule.merged.any()
    assert (terms.dram_bytes > schedule.base_bytes).any(), "no tensor spills"
    assert terms.extra_layers.any(), "no h-swish split"
    chunks = terms.dram_bytes / (_PARAMS[1].pipeline_chunk_fraction * terms.act_buffer_bytes)
    assert (chunks > 1).any() and (chunks < 1).any()
    assert (terms.accelerator_overhead_ms > 0).any()


@pytest.mark.parametrize("alu_pooling", [True, False], ids=["alu-pooling", "elementwise-pooling"])
@pytest.mark.parametrize("params", _PARAMS, ids=range(len(_PARAMS)))
def test_scalar_path_equals_bulk_path_exactly(params, alu_pooling):
    model = RooflineModel(params, alu_pooling)
    units = _units()
    flat = [layer for unit in units for layer in unit]
    accs = _accelerators()
    schedule = model.schedule(units)
    bulk_layers = model.layer_latency_ms(flat, accs)  # several accelerators: the numpy path
    bulk_units = model.unit_latency_ms(schedule, accs)
    bulk = model.breakdown(schedule, accs)
    for m, acc in enumerate(accs):
        np.testing.assert_array_equal(model.layer_latency_ms(flat, acc), bulk_layers[m])
        np.testing.assert_array_equal(model.unit_latency_ms(units, acc), bulk_units[m])
        assert model.network_latency_ms(flat, acc) == bulk_layers[m].sum()
        scalar = model.analyze(flat, acc)  # Layer objects: the scalar path
        vectorised = model.analyze(schedule, acc)  # a UnitSchedule: the numpy path
        for name in ("compute_ms", "memory_ms", "overhead_ms", "latency_ms", "dram_bytes"):
            np.testing.assert_array_equal(getattr(scalar, name), bulk[name][m], err_msg=name)
            np.testing.assert_array_equal(getattr(vectorised, name), bulk[name][m], err_msg=name)
        for name in ("arithmetic_intensity", "attainable_gops", "utilization", "bandwidth_gbps", "ops", "macs",
                     "bound", "engine_peak_gops"):
            np.testing.assert_array_equal(getattr(scalar, name), getattr(vectorised, name), err_msg=name)
        assert (scalar.name, scalar.op, scalar.engine) == (vectorised.name, vectorised.op, vectorised.engine)
        for unit in units:  # short lists: their roofs in Python numbers, not numpy (_PYTHON_ROOFS_MAX_LAYERS)
            short, bulk_unit = model.analyze(list(unit), acc), model.analyze(model.schedule([unit]), acc)
            for name in ("latency_ms", "arithmetic_intensity", "attainable_gops", "utilization", "bandwidth_gbps",
                         "bound", "engine_peak_gops"):
                np.testing.assert_array_equal(getattr(short, name), getattr(bulk_unit, name), err_msg=name)


@pytest.mark.parametrize("alu_pooling", [True, False])
def test_layer_cycles_equal_tiled_cycles(alu_pooling):
    flat = [layer for unit in _units() for layer in unit]
    accs = _accelerators()
    cycles, act = tiled_cycles(LayerArrays.from_layers(flat), AcceleratorArrays.from_accelerators(accs), alu_pooling)
    scalar = np.array([[layer_cycles(lay, a, alu_pooling) for lay in flat] for a in accs])
    np.testing.assert_array_equal(scalar[..., 0], cycles)
    np.testing.assert_array_equal(scalar[..., 1], act)
    # channel augmentation acts on the grid (the 3-channel stem), so both of its branches are compared
    plain = [a.replace(options=a.options.replace(channel_augmentation=False)) for a in accs]
    assert (tiled_cycles(LayerArrays.from_layers(flat), AcceleratorArrays.from_accelerators(plain),
                         alu_pooling)[0] > cycles).any()


def test_one_roofline_point_by_hand():
    # a 1x1 convolution 64 -> 128 channels at 28x28 on a B4096 array (PP 8, ICP 16, OCP 16) at 300 MHz, 10 GB/s
    layer = Layer("pw", "pwconv", (64, 28, 28), (128, 28, 28), activation="relu")
    acc = Accelerator.from_dpu("B4096", clock_mhz=300.0, ddr_bw_gbps=10.0)
    cycles = 4 * 8 * 4 * 28  # ceil(64/16) * ceil(128/16) * ceil(28/8) * 28 rows
    compute_ms = cycles / 0.7 / 300e3  # default pw_efficiency 0.7, 3e5 cycles per ms
    feature_maps, weights = 64 * 784 + 128 * 784, 64 * 128
    memory_ms = (feature_maps / 0.4 + weights / 0.16) / 10e6  # default bw 0.4 / weights 0.16 of 1e7 bytes per ms
    expected = memory_ms + compute_ms + 600 / 300e3  # no overlap; 600 cycles per layer
    assert expected == pytest.approx(0.0618186667, rel=1e-9)
    model = RooflineModel()
    assert model.layer_latency_ms([layer], acc)[0] == pytest.approx(expected, rel=1e-12)
    assert model.layer_latency_ms([layer], [acc, acc])[1, 0] == pytest.approx(expected, rel=1e-12)
    analysis = model.analyze([layer], acc)
    assert analysis.bound[0] == "memory"
    assert analysis.dram_bytes[0] == feature_maps + weights


def test_scalar_path_rejects_bad_units():
    model = RooflineModel()
    acc = Accelerator.from_dpu("B1600")
    with pytest.raises(ValueError, match="non-empty sequence of Layer sequences"):
        model.unit_latency_ms([], acc)
    with pytest.raises(ValueError, match="non-empty sequence of Layer sequences"):
        model.unit_latency_ms([["not a layer"]], acc)
    with pytest.raises(ValueError, match="at least one layer"):
        model.unit_latency_ms([()], acc)
    with pytest.raises(ValueError, match="no layers given"):
        model.layer_latency_ms([], acc)


@pytest.mark.parametrize("n_units", [1, 2, None], ids=["one unit", "two units", "all units"])
def test_both_analyze_paths_fill_every_field_alike(n_units):
    import dataclasses

    from accel_models.roofline import _PYTHON_ROOFS_MAX_LAYERS, LayerAnalysis

    model = RooflineModel()
    units = _units()[:n_units]
    acc = _accelerators()[0]
    layers = [layer for unit in units for layer in unit]
    if n_units is None:  # the whole grid is a long list: numpy roofs
        assert len(layers) > _PYTHON_ROOFS_MAX_LAYERS
    else:
        assert len(layers) <= _PYTHON_ROOFS_MAX_LAYERS
    scalar = model.analyze(layers, acc)
    vectorised = model.analyze(model.schedule(units), acc)
    names = {f.name for f in dataclasses.fields(LayerAnalysis)}
    for analysis in (scalar, vectorised):
        assert set(vars(analysis)) == names
        with pytest.raises(dataclasses.FrozenInstanceError):
            analysis.peak_gops = 0.0  # type: ignore[misc]
    for name in sorted(names - {"accelerator"}):
        a, b = getattr(scalar, name), getattr(vectorised, name)
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and a.flags.c_contiguous, name
            np.testing.assert_array_equal(a, b, err_msg=name)
        else:
            assert a == b, name


@pytest.mark.parametrize("n", [*range(1, 21), 127, 128, 129, 136, 300])
def test_python_sums_add_in_numpy_order(n):
    # the scalar path sums in Python numbers where the numpy path calls array.sum() / np.add.reduceat
    from accel_models.roofline import _numpy_segment_sum, _numpy_sum

    rng = np.random.default_rng(n)
    differs = {"sum": 0, "reduceat": 0}
    for _ in range(200):
        array = rng.random(n) * 10.0 ** rng.uniform(-6, 3, n)  # magnitudes far apart: every order rounds its own way
        values = array.tolist()
        total, segment = array.sum(), np.add.reduceat(array, [0])[0]
        assert _numpy_sum(values) == total
        assert _numpy_segment_sum(values) == segment
        differs["sum"] += sum(values) != total
        differs["reduceat"] += sum(values) != segment
    # numpy adds fewer than 8 numbers one by one, as Python's sum does, and 8 or more pairwise; reduceat adds
    # the first to the sum of the rest, another order from 3 numbers on: so the equalities above say something
    assert (differs["sum"] > 0) == (n >= 8)
    assert (differs["reduceat"] > 0) == (n >= 3)
