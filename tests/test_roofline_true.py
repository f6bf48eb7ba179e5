"""A true roofline: every layer on or under its own roof, one ridge definition, on-chip layers shown as such."""

from __future__ import annotations

import json

import numpy as np
import pytest

from accel_models import RooflineModel, get_board, list_boards, plot_analysis
from latency_tables import get_predictor
from ofa_hw import SubnetConfig, subnet_layers
from ofa_hw.cli import main

BOARDS = list_boards()


@pytest.mark.parametrize("board", BOARDS)
@pytest.mark.parametrize("preset", ["max", "min"])
def test_roofline_json_every_board_and_preset(board, preset, tmp_path, capsys):
    args = ["roofline", "--board", board, "--preset", preset, "--out", str(tmp_path), "--label-top", "0"]
    assert main([*args, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    document = json.loads((tmp_path / "roofline.json").read_text())
    assert printed == document
    spec = get_board(board)
    accelerator = spec.default_accelerator()
    peak = 2 * accelerator.pp * accelerator.icp * accelerator.ocp * accelerator.clock_mhz / 1e3  # PG338, one core
    assert document["peak_gops"] == pytest.approx(peak)
    assert document["ridge_ops_per_byte"] == pytest.approx(peak / spec.ddr_bw_gbps)
    assert {"name", "intensity_ops_per_byte", "attained_gops", "roof_gops", "bound"} <= set(document["layers"][0])
    for layer in document["layers"]:
        assert layer["attained_gops"] <= layer["roof_gops"] * (1 + 1e-9), layer["name"]
        intensity = layer["intensity_ops_per_byte"]
        ceiling = peak if intensity is None else min(peak, intensity * spec.ddr_bw_gbps)
        assert layer["roof_gops"] <= ceiling * (1 + 1e-9), layer["name"]
        assert (intensity is None) == layer["on_chip"]
    assert any(layer["on_chip"] for layer in document["layers"])  # the SE pool and scale never touch DDR


@pytest.mark.parametrize("clock_mhz", [None, 445.0])
def test_calibrated_model_points_stay_under_their_roofs(clock_mhz):
    # the case: kv260 --preset max, 7 (18 at 500 MHz) memory-bound layers sat above the drawn line
    # (a DPUCZDX8G array accepts at most 445 MHz: its 2x DSP clock would exceed the DSP48E2 maximum)
    accelerator = get_board("kv260").default_accelerator()
    if clock_mhz:
        accelerator = accelerator.replace(clock_mhz=clock_mhz)
    model = get_predictor("dpuczdx8g-joint").calibrated.model
    analysis = model.analyze(subnet_layers(SubnetConfig.largest()), accelerator)
    attained = analysis.ops / analysis.latency_ms / 1e6
    assert np.all(attained <= analysis.attainable_gops * (1 + 1e-9))
    moves = ~analysis.on_chip
    # each layer's bandwidth roof is what the model moves its bytes at: between the weight and feature-map levels
    levels = analysis.ddr_levels_gbps
    bandwidth = analysis.dram_bytes[moves] / analysis.memory_ms[moves] / 1e6
    np.testing.assert_allclose(analysis.bandwidth_gbps[moves], bandwidth)
    assert np.all(bandwidth <= max(levels.values()) * (1 + 1e-9))
    assert np.all(bandwidth >= min(levels.values()) * (1 - 1e-9))
    # engine roofs by hand (PG338: depthwise at dw_pp pixels over ICP lanes; element-wise PP x ICP elements)
    ghz = accelerator.clock_mhz / 1e3
    by_hand = {"int8": 2 * accelerator.pp * accelerator.icp * accelerator.ocp * ghz,
               "depthwise": 2 * accelerator.dw_pp * accelerator.icp * ghz,
               "element-wise": accelerator.pp * accelerator.icp * ghz}
    op_engine = {"conv": "int8", "pwconv": "int8", "fc": "int8", "se_fc": "int8", "dwconv": "depthwise",
                 "pool": "depthwise", "maxpool": "depthwise"}  # IP 4.x pools on the ALU with the depthwise conv
    for op, engine, roof in zip(analysis.op, analysis.engine, analysis.engine_peak_gops, strict=True):
        assert engine == op_engine.get(op, "element-wise") and roof == pytest.approx(by_hand[engine])


def test_plot_draws_every_roof_with_a_legend_entry_and_on_chip_layers_apart():
    accelerator = get_board("kv260").default_accelerator()
    analysis = RooflineModel().analyze(subnet_layers(SubnetConfig.largest()), accelerator)
    ax = plot_analysis(analysis, label_top=0)
    gids = {a.get_gid() for a in [*ax.lines, *ax.collections]}
    assert {"roof", "ddr:feature maps", "ddr:weights", "ceiling:depthwise"} <= gids
    assert "ceiling:int16" not in gids  # the DPU runs int8 only: no unexplained int16 line
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("DDR peak" in t and "ridge" in t for t in labels)
    assert any("feature maps" in t for t in labels) and any("weights" in t for t in labels)
    assert any("engine roof" in t for t in labels) and any("on-chip" in t for t in labels)
    ridge = [line for line in ax.lines if line.get_gid() == "ridge"][0]
    assert ridge.get_xdata()[0] == pytest.approx(accelerator.ridge_ops_per_byte)  # one ridge definition
    on_chip = [c for c in ax.collections if (c.get_gid() or "").startswith("on-chip:")]
    placed = np.concatenate([c.get_offsets()[:, 0] for c in on_chip])
    assert len(placed) == int(analysis.on_chip.sum())
    finite = analysis.arithmetic_intensity[~analysis.on_chip]
    assert placed.min() > finite.max()  # in the band right of every real intensity, not at intensity = ops
    for collection in ax.collections:
        gid = collection.get_gid() or ""
        if gid.startswith("layers:"):
            x, y = collection.get_offsets().T
            rows = [int(np.flatnonzero(analysis.arithmetic_intensity == xi)[0]) for xi in x]
            assert np.all(y <= analysis.attainable_gops[rows] * (1 + 1e-9))
