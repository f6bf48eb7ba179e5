"""Whole-network latency and roofline analysis of any layer list, against the independent per-unit paths."""

import dataclasses

import numpy as np
import pytest

from accel_models import Accelerator, RooflineModel, analyze_network, group_by_block, network_latency_ms
from latency_tables import get_predictor
from ofa_hw import SubnetConfig, sample_subnets, zoo

B2304 = Accelerator.from_dpu("B2304", clock_mhz=200.0)


def test_hybrid_network_latency_equals_the_block_catalog_sum():
    """The public path (layers -> units) against the search's path (block catalog), launch cost included."""
    predictor = get_predictor("ultra96v2-b2304")
    for cfg in [*sample_subnets(4, seed=2), SubnetConfig.smallest(r=128, width_mult=1.3)]:
        got = network_latency_ms(cfg.layers(), predictor.accelerator, predictor)
        assert got == pytest.approx(float(predictor.subnet_latency_ms(cfg)[0]), rel=1e-9)
    analysis = analyze_network(cfg.layers(), predictor.accelerator, predictor)
    assert analysis.launch_ms == predictor.invocation_ms > 0
    assert analysis.latency_ms == pytest.approx(got, rel=1e-9)  # per-layer attribution sums to the network


def test_roofline_analysis_totals_are_consistent():
    model = RooflineModel()
    layers = zoo.mobilenet_v2().layers()
    analysis = analyze_network(layers, B2304, model)
    units = model.unit_latency_ms(group_by_block(layers), B2304)
    totals = analysis.totals()
    assert totals["latency_ms"] == pytest.approx(float(units.sum())) and totals["launch_ms"] == 0
    assert totals["macs"] == zoo.mobilenet_v2().macs
    assert totals["gops"] == pytest.approx(2 * totals["macs"] / totals["latency_ms"] / 1e6)
    assert totals["utilization"] == pytest.approx(totals["gops"] / B2304.peak_gops_per_core)
    assert totals["arithmetic_intensity"] == pytest.approx(analysis.ops.sum() / analysis.dram_bytes.sum())
    assert set(analysis.bound.tolist()) <= {"compute", "memory", "overhead"}
    records = analysis.to_records()
    assert len(records) == len(layers) and records[0]["name"] == "first_conv"


def test_grouping_blocks_predicts_less_than_a_unit_per_layer():
    """Per-layer units hand every tensor through DDR; grouped blocks keep hand-offs on chip."""
    layers = zoo.mobilenet_v2().layers()
    flat = [dataclasses.replace(layer, block="") for layer in layers]
    grouped, ungrouped = network_latency_ms(layers, B2304), network_latency_ms(flat, B2304)
    assert grouped < 0.95 * ungrouped
    assert analyze_network(layers, B2304).dram_bytes.sum() < analyze_network(flat, B2304).dram_bytes.sum()


def test_bad_input():
    with pytest.raises(ValueError, match="non-empty sequence"):
        analyze_network([], B2304)
    with pytest.raises(ValueError, match="one Accelerator"):
        analyze_network(zoo.mobilenet_v2().layers(), "B2304")
    with pytest.raises(TypeError, match="not a latency predictor"):
        analyze_network(zoo.mobilenet_v2().layers(), B2304, predictor=np.zeros(3))


def test_proxyless_search_refuses_and_the_macs_proxy_is_labelled():
    from ofa_hw import search_codesign
    from ofa_hw.macs_proxy import MACS_PROXY, macs_proxy_front

    with pytest.raises(KeyError, match="no accuracy predictor for the ProxylessNAS space"):
        search_codesign(board="ultra96v2", space="ofa-proxyless-w1.3", budget=200, progress=False)
    predictor = get_predictor("dpuczdx8g-joint")
    front = macs_proxy_front("ofa-proxyless-w1.3", predictor, B2304, n=300, seed=1)
    assert front and all(d.objective == MACS_PROXY and "NOT a predicted accuracy" in d.objective for d in front)
    assert all(a.latency_ms <= b.latency_ms and a.macs < b.macs for a, b in zip(front, front[1:], strict=False))
    assert [d.macs for d in front] == [sum(layer.macs for layer in d.subnet.layers()) for d in front]
    best = front[-1]
    assert best.latency_ms == pytest.approx(predictor.network_latency_ms(best.subnet.layers(), B2304), rel=1e-9)
