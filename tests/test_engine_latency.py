"""One latency for one design: custom accelerators priced by the HLS engine that builds them."""

import html
import json
import warnings

import numpy as np
import pytest

from accel_models import Accelerator, LatencyPredictor, group_by_block
from latency_tables import as_predictor, get_predictor, predictor_from_record, predictor_record
from latency_tables.by_build import BuildPredictor, latency_basis
from latency_tables.engine import ENGINE_SOURCE, EngineIntervals
from latency_tables.uncertainty import interval_predictor
from ofa_hw import SubnetConfig, subnet_layers

CUSTOM = Accelerator(4, 12, 10, clock_mhz=250.0)  # not among the cases the shipped range was taken from
B1600 = Accelerator.from_dpu("B1600", clock_mhz=200.0)


def _min(r):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return SubnetConfig.smallest(r=r)


def _engine_ms(cfg, acc):
    """The engine's own count for ``cfg`` on ``acc`` (hls.program.engine_cycles, the C-sim counter's count)."""
    import hls
    from accel_models.hls_engine import EngineConfig
    from hls.program import build_program, engine_cycles
    from ofa_hw import build_torch_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        source = hls.TorchNetwork(build_torch_model(cfg, seed=0).eval(), subnet_layers(cfg), cfg.to_dict())
        qnet = hls.quantize(source, n_calibration=1)
    program = build_program(qnet, EngineConfig.from_accelerator(acc))
    return sum(c["cycles"] for c in engine_cycles(program)) / (acc.clock_mhz * 1e3)


def test_the_engine_predictor_answers_the_protocol_consistently():
    p = get_predictor("hls-engine")
    assert isinstance(p, LatencyPredictor) and p.source == ENGINE_SOURCE and "not against synthesis" in p.description
    layers = subnet_layers(_min(128))
    units = group_by_block(layers)
    per_layer = p.layer_latency_ms(layers, [CUSTOM, B1600])
    assert per_layer.shape == (2, len(layers)) and (per_layer > 0).all()
    np.testing.assert_allclose(p.unit_latency_ms(units, [CUSTOM, B1600]).sum(axis=1), per_layer.sum(axis=1))
    assert p.network_latency_ms(layers, CUSTOM) == pytest.approx(per_layer[0].sum())
    assert set(p.unit_sources(units, CUSTOM)) == {"model"}
    with pytest.raises(ValueError, match="no accelerator of its own"):
        p.layer_latency_ms(layers)


@pytest.mark.parametrize("r", [128, 176])
def test_the_engines_count_lies_in_the_stated_interval(r):
    pytest.importorskip("torch")
    cfg = _min(r)
    interval = EngineIntervals().network_interval(subnet_layers(cfg), CUSTOM)
    assert interval.low_ms <= interval.latency_ms <= interval.high_ms
    assert interval.low_ms <= _engine_ms(cfg, CUSTOM) <= interval.high_ms


def test_by_build_prices_stock_by_the_dpu_and_custom_by_the_engine_in_one_list():
    p = get_predictor("by-build")
    dpu, engine = get_predictor("dpuczdx8g-joint"), p.engine
    units = group_by_block(subnet_layers(_min(160)))
    mixed = p.unit_latency_ms(units, [B1600, CUSTOM, B1600])
    np.testing.assert_allclose(mixed[0], dpu.unit_latency_ms(units, B1600))
    np.testing.assert_allclose(mixed[1], engine.unit_latency_ms(units, CUSTOM))
    np.testing.assert_allclose(mixed[2], mixed[0])
    assert p.invocation_ms == dpu.invocation_ms  # one launch per network for both builds
    intervals = interval_predictor("by-build")
    sources, low, high = intervals.unit_factors(units, [B1600, CUSTOM])
    assert set(sources[1]) == {ENGINE_SOURCE} and ENGINE_SOURCE not in set(sources[0])
    assert (low <= 1).all() and (high >= 1).all()
    # each row is its own half's answer
    for got, stock, custom in zip((sources, low, high), intervals.stock.unit_factors(units, [B1600]),
                                  intervals.engine.unit_factors(units, [CUSTOM]), strict=True):
        np.testing.assert_array_equal(got[0], stock[0])
        np.testing.assert_array_equal(got[1], custom[0])
    # a device by name, rebuilt from its record
    assert as_predictor("by-build") is p and predictor_from_record(predictor_record(p)) is p
    assert isinstance(p, BuildPredictor)


def test_labels_say_which_model_priced_a_custom_design():
    assert latency_basis("by-build", CUSTOM).startswith("modelled by latency predictor 'hls-engine'")
    assert "DPUCZDX8G-calibrated model applied to a custom accelerator" in latency_basis("dpuczdx8g-joint", CUSTOM)
    assert latency_basis("by-build", B1600, "measured").startswith("measured by latency predictor 'dpuczdx8g-joint'")
    assert latency_basis("hls-engine", B1600).endswith("priced as its HLS engine, not as the vendor IP")


def test_an_explicit_dpu_predictor_still_wins_and_is_labelled():
    from hls.latency_figures import search_figure
    from ofa_hw import search_codesign

    kwargs = dict(board="ultra96v2", latency_ms=12.0, budget=400, seed=0, accelerators="dpu-like", progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the DPU model is outside its validity on custom arrays: the point here
        explicit = search_codesign(predictor="dpuczdx8g-joint", **kwargs)
    design = explicit.best
    assert design.latency_ms == pytest.approx(get_predictor("dpuczdx8g-joint").network_latency_ms(
        design.layers(), design.accelerator) + _fallback_ms(design), rel=1e-6)
    line = search_figure(design, explicit.settings["latency_predictor"]).line()
    assert "DPUCZDX8G-calibrated model applied to a custom accelerator" in line


def _fallback_ms(design):
    from accel_models.cpu_fallback import fallback_latency_ms

    units = group_by_block(design.layers())
    return float(fallback_latency_ms(units, [design.accelerator], get_predictor("dpuczdx8g-joint").invocation_ms).sum())


@pytest.fixture(scope="module")
def custom_search():
    from ofa_hw import search_codesign

    return search_codesign(board="ultra96v2", latency_ms=5.0, budget=400, seed=0, accelerators="dpu-like",
                           progress=False)


def test_the_default_search_prices_a_custom_design_by_its_engine(custom_search):
    best = custom_search.best
    assert not best.accelerator.is_dpuczdx8g and custom_search.settings["latency_predictor"] == "by-build"
    assert best.cpu_fallback == ()  # the engine runs every layer of the space
    assert best.latency_ms == pytest.approx(get_predictor("by-build").network_latency_ms(best.layers(),
                                                                                         best.accelerator))
    assert best.latency_low_ms <= best.latency_ms < best.latency_high_ms
    # deployed fps: the engine's time where a DPU's would be, plus the same ARM pre/post-processing
    assert best.deployed["dpu_ms"] == pytest.approx(best.latency_ms)
    assert 0 < best.deployed["fps"] <= 1e3 / best.latency_ms * best.accelerator.cores
    assert "custom (hls-engine)" in custom_search.settings["latency_interval"]["sources"]


@pytest.mark.slow
def test_search_export_manifest_and_report_give_one_figure_for_the_best_custom_design(custom_search, tmp_path,
                                                                                      capsys):
    pytest.importorskip("torch")
    import hls
    from hls.latency_figures import SEARCH_LABEL, manifest_figures, search_figure
    from ofa_hw.cli import main

    result, best = custom_search, custom_search.best
    searched = search_figure(best, result.settings["latency_predictor"])
    assert searched.source.startswith("modelled by latency predictor 'hls-engine'")
    path = tmp_path / "result.json"
    result.to_json(path)
    assert main(["export", "--result", str(path), "--out", str(tmp_path / "hls")]) == 0
    printed = capsys.readouterr().out
    manifest = hls.load(tmp_path / "hls").manifest
    recorded = {f.label: f for f in manifest_figures(manifest)}
    assert recorded[SEARCH_LABEL] == searched and f"latency: {searched.line()}" in printed
    engine_ms = manifest["totals"]["latency_ms"]  # the engine's count, as the C-simulation makes it
    assert searched.low_ms <= engine_ms <= searched.high_ms
    assert main(["report", str(path), "--export", str(tmp_path / "hls"), "--no-cv", "--out",
                 str(tmp_path / "report")]) == 0
    assert html.escape(searched.line()) in (tmp_path / "report" / "report.html").read_text()
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    assert searched.to_dict() in summary["best"]["latencies"]
    assert summary["assumptions"]["latency"]["custom_accelerators"]["device"] == "hls-engine"
    assert summary["best"]["latency"]["total_ms"] == pytest.approx(best.latency_ms)  # the same predictor
    assert summary["best"]["latency"]["method"].startswith("the HLS engine's cycle model")
