"""HybridPredictor: measured hits, modelled misses, the launch-cost rule, many accelerators, and a new board."""

from __future__ import annotations

import numpy as np
import pytest

from accel_models import Accelerator, BlockSpec, RooflineModel
from latency_tables import HybridPredictor, calibrate, get_predictor, load_table
from latency_tables.predictor import DEVICES
from ofa_hw import SubnetConfig, block_keys, sample_subnets
from ofa_hw.layers import subnet_blocks

K7 = "expanded_conv-input:14x14x96-output:14x14x96-expand:288-kernel:7-stride:1-idskip:1-se:0-hs:1"
HIT = "expanded_conv-input:14x14x96-output:14x14x96-expand:288-kernel:3-stride:1-idskip:1-se:0-hs:1"


@pytest.fixture(scope="module")
def ultra96():
    return get_predictor("ultra96v2-b2304")


def _loop_reference(predictor: HybridPredictor, configs) -> np.ndarray:
    """The documented rule, one network and one unit at a time (independent of the vectorised path)."""
    out = []
    for cfg in configs:
        own = predictor.for_resolution(cfg.r) if hasattr(predictor, "for_resolution") else predictor  # note10
        table, inv = own.table, own.invocation_ms
        total = inv
        for spec in subnet_blocks(cfg):
            if spec.key in table:
                total += table.entries[spec.key].mean_ms - inv
            else:
                total += float(predictor.calibrated.model.unit_latency_ms([spec.layers()], predictor.accelerator)[0])
        out.append(total)
    return np.array(out)


@pytest.mark.parametrize("device", sorted(DEVICES))  # the table devices (hls-engine / by-build have no table)
def test_every_device_predicts_every_resolution(device):
    predictor = get_predictor(device)
    assert get_predictor(device) is predictor  # calibrated once
    batch = sample_subnets(40, seed=1, resolutions=[128, 176, 224])
    latency = predictor.subnet_latency_ms(batch)
    assert latency.shape == (40,) and np.all(np.isfinite(latency)) and np.all(latency > 0)
    assert np.allclose(latency, _loop_reference(predictor, batch), rtol=1e-10)


def test_hits_are_measured_and_misses_modelled(ultra96):
    table = load_table("ultra96v2-b2304")
    assert ultra96.source(HIT) == "measured" and ultra96.predict_key_ms(HIT) == table.entries[HIT].mean_ms
    assert ultra96.source(K7) == "model"
    # A miss is reported in the table's context: the in-network model plus one launch, like a table entry.
    assert ultra96.predict_key_ms(K7) == pytest.approx(ultra96.key_latency_ms([K7])[0] + ultra96.invocation_ms)
    # ... and a kernel-7 block of this shape costs more than its measured kernel-3 sibling.
    assert ultra96.predict_key_ms(K7) > ultra96.predict_key_ms(HIT)
    units = [BlockSpec.from_key(HIT).layers(), BlockSpec.from_key(K7).layers()]
    assert list(ultra96.unit_sources(units)) == ["measured", "model"]
    with pytest.raises(ValueError, match="unrecognised block key"):
        ultra96.source("expanded_conv-what")


def test_launch_cost_is_paid_once_per_network(ultra96):
    inv = ultra96.invocation_ms
    assert inv > 0 and load_table("ultra96v2-b2304").meta.per_entry_invocation
    cfg = SubnetConfig.uniform(5, 6, 4, r=224)  # every unit measured except the global pool
    keys = block_keys(cfg)
    table = load_table("ultra96v2-b2304")
    measured = [k for k in keys if k in table]
    pool = [k for k in keys if k not in table]
    assert len(pool) == 1 and pool[0].startswith("AvgPool2D")
    expected = sum(table.entries[k].mean_ms for k in measured) - len(measured) * inv + inv \
        + ultra96.key_latency_ms(pool)[0]
    assert ultra96.subnet_latency_ms(cfg)[0] == pytest.approx(expected, rel=1e-12)
    # The naive OFA-style sum of entries pays the launch cost once per unit.
    naive = sum(table.entries[k].mean_ms for k in measured) + ultra96.predict_key_ms(pool[0])
    assert naive - ultra96.subnet_latency_ms(cfg)[0] == pytest.approx(len(keys) * inv - inv, rel=1e-9)


def test_other_resolutions_and_kernels_are_filled_by_the_model(ultra96):
    cfg = SubnetConfig.uniform(7, 4, 3, r=160)
    sources = {unit["key"]: unit["source"] for unit in ultra96.breakdown(cfg).units}
    measured = {k for k, s in sources.items() if s == "measured"}
    # Only the resolution-independent head units exist in a 224-only table.
    assert measured == {"Conv_2-input:1x1x1152-output:1x1x1536", "Logits-input:1x1x1536-output:1000"}


def test_breakdown_adds_up(ultra96):
    cfg = SubnetConfig.uniform(7, 6, 2, r=224)
    report = ultra96.breakdown(cfg)
    assert report.total_ms == pytest.approx(ultra96.subnet_latency_ms(cfg)[0], rel=1e-12)
    assert [u["key"] for u in report.units] == block_keys(cfg)
    for unit in report.units:
        if unit["source"] == "model":
            assert sum(layer["latency_ms"] for layer in unit["layers"]) == pytest.approx(unit["latency_ms"], rel=1e-9)
            assert unit["measured_ms"] is None
        else:
            assert unit["latency_ms"] == pytest.approx(unit["measured_ms"] - ultra96.invocation_ms)
    text = report.format()
    assert text.splitlines()[0].startswith("unit") and "one program launch" in text
    with pytest.raises(ValueError, match="one network"):
        ultra96.breakdown(sample_subnets(2, seed=0))


def test_unit_latency_uses_measurements_only_on_the_measured_accelerator(ultra96):
    batch = sample_subnets(50, seed=3, resolutions=[224])
    catalog = batch.block_catalog()
    units = list(catalog.layers)
    other = Accelerator.from_dpu("B4096", clock_mhz=300.0)
    latency = ultra96.unit_latency_ms(units, [other, ultra96.accelerator])
    sources = ultra96.unit_sources(units, [other, ultra96.accelerator])
    in_table = np.array([k in ultra96.table for k in catalog.keys])
    assert latency.shape == sources.shape == (2, len(units))
    assert set(sources[0]) == {"model"} and np.array_equal(sources[1] == "measured", in_table)
    assert np.allclose(latency[1], ultra96.key_latency_ms(catalog.keys))
    assert np.allclose(latency[1], ultra96.unit_latency_ms(units))  # None: the table's own accelerator
    transferred = ultra96.calibrated.for_accelerator(other).unit_latency_ms(units)
    assert np.allclose(latency[0], transferred)
    networks = catalog.total(latency) + ultra96.invocation_ms
    assert networks.shape == (2, 50) and np.allclose(networks[1], ultra96.subnet_latency_ms(batch))
    assert np.all(networks[0] < networks[1])  # a B4096 at 300 MHz beats a B2304 at 200 MHz on every network
    with pytest.raises(ValueError, match="non-empty sequence"):
        ultra96.unit_latency_ms(units, [])


def test_unknown_device_and_wrong_argument():
    with pytest.raises(KeyError, match='known: by-build, dpuczdx8g-joint, hls-engine, note10, ultra96v2-b2304"'):
        get_predictor("kv260")
    with pytest.raises(TypeError, match="block_catalog"):
        get_predictor("ultra96v2-b2304").subnet_latency_ms({"ks": [3] * 20})


def test_a_newly_measured_board_feeds_calibration_with_no_manual_step(tmp_path):
    from latency_tables.harness import NumpyRunner, Plan, compile_numpy_units, measure

    keys = [spec.key for spec in subnet_blocks(SubnetConfig.uniform(3, 3, 2, r=128))]
    keys += [spec.key for spec in subnet_blocks(SubnetConfig.uniform(5, 3, 2, r=128))]
    plan = Plan.from_keys(keys, space="ofa-mbv3-w1.2", resolutions=(128,))
    compile_numpy_units(plan, tmp_path / "units")
    measure(plan, tmp_path / "units", NumpyRunner(), tmp_path / "host.csv", warmup=0, runs=2, progress=False,
            meta=dict(board="host", dpu_arch="numpy-int8", clock_mhz=None, toolchain="numpy"))
    table = load_table(tmp_path / "host.csv")
    host = Accelerator(pp=1, icp=8, ocp=8, clock_mhz=2000.0, name="host-cpu")  # abstract, like note10's
    predictor = HybridPredictor(table, calibrate(RooflineModel(), table, host, folds=2))
    assert predictor.calibrated.cross_validated.n == len(table) and predictor.invocation_ms >= 0
    cfg = SubnetConfig.uniform(7, 4, 3, r=128)  # kernel 7 and expand 4 were never measured
    sources = {u["source"] for u in predictor.breakdown(cfg).units}
    assert sources == {"measured", "model"} and predictor.subnet_latency_ms(cfg)[0] > 0


def test_layer_latency_attributes_measured_units_to_their_layers(ultra96):
    from ofa_hw import subnet_layers

    cfg = SubnetConfig.uniform(5, 4, 2, r=224)
    layers = subnet_layers(cfg)
    per_layer = ultra96.layer_latency_ms(layers)
    assert per_layer.shape == (len(layers),) and np.all(per_layer > 0)
    assert per_layer.sum() + ultra96.invocation_ms == pytest.approx(ultra96.subnet_latency_ms(cfg)[0], rel=1e-9)
    by_unit = {}
    for layer, ms in zip(layers, per_layer, strict=True):
        by_unit[layer.block] = by_unit.get(layer.block, 0.0) + ms
    hit = next(k for k in by_unit if k in ultra96.table and k.startswith("expanded_conv"))
    assert by_unit[hit] == pytest.approx(ultra96.table.entries[hit].mean_ms - ultra96.invocation_ms)
    other = Accelerator.from_dpu("B1600", clock_mhz=200.0)
    assert np.allclose(ultra96.layer_latency_ms(layers, other),
                       ultra96.calibrated.model.layer_latency_ms(layers, other))
