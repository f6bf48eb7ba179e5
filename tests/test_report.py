"""The co-design report: files, self-containment, numbers equal the result's, plots' data, CLI."""

from __future__ import annotations

import csv
import dataclasses
import json
import re

import numpy as np
import pytest

from accel_models import get_board
from latency_tables import get_predictor, load_table
from ofa_hw import SubnetConfig, block_keys
from ofa_hw.cli import main
from ofa_hw.report import REPORT_FILES, plot_history, plot_pareto, report_content, write_report
from ofa_hw.search import search_codesign

DEVICE = "ultra96v2-b2304"
FAST = dict(budget=800, population=40, progress=False, predictor=DEVICE)


@pytest.fixture(scope="module")
def constrained():
    """A joint search: the chosen accelerator is (almost surely) not the one the table was measured on."""
    return search_codesign(board="ultra96v2", latency_ms=8.0, seed=0, **FAST)


@pytest.fixture(scope="module")
def on_table_accelerator():
    """Fixed to the measured B2304 @ 200 MHz at r=224: the design's units are measured, two restarts."""
    acc = get_predictor(DEVICE).accelerator
    acc = acc.replace(options=acc.options.replace(dsp_usage="low"))  # PG338: "high" needs 422 of the ZU3EG's 360 DSPs
    return search_codesign(board="ultra96v2", latency_ms=12.0, accelerators=acc, resolutions=[224], restarts=2,
                           seed=0, **FAST)


@pytest.fixture(scope="module")
def front_only():
    return search_codesign(board="ultra96v2", seed=0, **FAST)


@pytest.fixture(scope="module")
def written(tmp_path_factory, constrained):
    out = tmp_path_factory.mktemp("report")
    return write_report(constrained, out)


def _summary(path):
    return json.loads((path.parent / "summary.json").read_text())


# ------------------------------------------------------------------ files
def test_files_are_written_and_the_page_is_self_contained(written):
    folder = written.parent
    assert written.name == "report.html"
    assert sorted(p.name for p in folder.iterdir()) == sorted(REPORT_FILES)
    page = written.read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert page.count("<svg") == 3  # pareto, roofline, history, all inline
    # nothing the browser would fetch: no scripts, stylesheets, images or links to files / the web
    assert not re.search(r"<(script|link|img|iframe)\b", page)
    assert not re.search(r"""(src|href)\s*=\s*["'](?!#|data:)""", page)  # fragments and inline data only
    assert not re.search(r"url\((?!#)", page)
    for png in folder.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(_summary(written)["files"]) == sorted(REPORT_FILES)


def test_rewriting_replaces_files_atomically(tmp_path, constrained, monkeypatch):
    first = write_report(constrained, tmp_path, cross_validate=False)
    before = first.read_bytes()

    def broken(*args, **kwargs):
        raise RuntimeError("renderer failed")

    monkeypatch.setattr("ofa_hw.report.writer.render_html", broken)
    with pytest.raises(RuntimeError, match="renderer failed"):
        write_report(constrained, tmp_path, cross_validate=False)
    assert first.read_bytes() == before  # the old page is intact, not truncated
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary files left behind


# --------------------------------------------------------- chosen design
def test_numbers_on_the_page_and_in_the_json_are_the_results(written, constrained):
    best = constrained.best
    summary = _summary(written)
    assert summary["best"]["design"] == json.loads(json.dumps(best.to_dict()))
    page = written.read_text()
    acc, cfg = best.accelerator, best.subnet
    for text in (f"{best.latency_ms:.3f} ms", f"{best.accuracy_top1:.2f}%", f"{best.accuracy_float_top1:.2f}%",
                 f"{best.fps:.1f}", f"PP {acc.pp}, ICP {acc.icp}, OCP {acc.ocp}", f"{acc.clock_mhz:g} MHz",
                 f"{cfg.r} x {cfg.r}", f"{acc.peak_gops:.0f} GOP/s"):
        assert text in page, text
    stages = summary["best"]["subnet"]["stages"]
    assert [s["depth"] for s in stages] == list(cfg.d)
    active = [k for s in range(5) for k in cfg.ks[4 * s:4 * s + cfg.d[s]]]
    assert [k for s in stages for k in s["kernels"]] == active
    assert len(summary["pareto"]) == len(constrained.pareto)
    assert [row["latency_ms"] for row in summary["pareto"]] == [d.latency_ms for d in constrained.pareto]


def test_resource_use_against_the_board(written, constrained):
    best, board = constrained.best, get_board("ultra96v2")
    resources = _summary(written)["best"]["resources"]
    rows = {row["resource"]: row for row in resources["rows"]}
    assert set(rows) == {"dsp", "lut", "ff", "bram36", "uram"}
    placed = best.resources.placed.as_dict()
    for name in ("dsp", "lut", "ff", "bram36", "uram"):  # as placed, BRAM moved to UltraRAM where built so
        assert rows[name]["used"] == pytest.approx(placed[name])
        if getattr(board, name):
            assert rows[name]["utilization"] == pytest.approx(placed[name] / getattr(board, name))
        assert rows[name]["budget"] == getattr(board, name)
    assert resources["binding_resource"] == best.resources.binding_resource
    binding = rows[resources["binding_resource"]]
    assert binding["utilization"] == pytest.approx(best.resources.binding_utilization)
    assert resources["fits"] and max(r["utilization"] for r in rows.values()) <= 1.0
    page = written.read_text()
    assert f"{rows['dsp']['used']:,.0f} of {board.dsp:,.0f}" in page


@pytest.mark.parametrize("fixture", ["constrained", "on_table_accelerator"])
def test_per_unit_latencies_add_up_to_the_designs_latency(fixture, request):
    result = request.getfixturevalue(fixture)
    best = result.best
    table = report_content(result, cross_validate=False).summary["best"]["latency"]
    units = table["units"]
    assert [u["unit"] for u in units] == block_keys(best.subnet)
    # the units come from a different code path than the search's (A, K) latency matrix
    assert sum(u["latency_ms"] for u in units) + table["invocation_ms"] == pytest.approx(best.latency_ms, rel=1e-9)
    assert table["total_ms"] == pytest.approx(best.latency_ms, rel=1e-9)
    assert table["measured_ms"] / best.latency_ms == pytest.approx(best.measured_fraction, abs=1e-9)
    assert sum(len(u["layers"]) for u in units) == len(best.layers())


def test_measured_units_are_the_table_entries_minus_one_launch(on_table_accelerator):
    best = on_table_accelerator.best
    assert best.latency_source in ("measured", "mixed")
    table = load_table(DEVICE)
    launch = get_predictor(DEVICE).invocation_ms
    latency = report_content(on_table_accelerator, cross_validate=False).summary["best"]["latency"]
    assert latency["accelerator_measured"]
    sources = {u["source"] for u in latency["units"]}
    assert "measured" in sources
    for unit in latency["units"]:
        if unit["unit"] in table:
            assert unit["source"] == "measured"
            assert unit["measured_entry_ms"] == table.entries[unit["unit"]].mean_ms
            assert unit["latency_ms"] == pytest.approx(max(table.entries[unit["unit"]].mean_ms - launch, 0.0))
        else:
            assert unit["source"] == "model" and unit["measured_entry_ms"] is None


def test_transferred_design_is_all_model_and_the_roofline_matches(constrained):
    content = report_content(constrained, cross_validate=False)
    best, latency = content.summary["best"], content.summary["best"]["latency"]
    assert constrained.best.accelerator != get_predictor(DEVICE).accelerator
    assert not latency["accelerator_measured"]
    assert {u["source"] for u in latency["units"]} == {"model"}
    model_layers = sum(layer["model_ms"] for u in latency["units"] for layer in u["layers"])
    assert best["roofline"]["model_latency_ms"] == pytest.approx(model_layers)
    assert model_layers + latency["invocation_ms"] == pytest.approx(constrained.best.latency_ms, rel=1e-9)
    assert len(content.analysis) == len(constrained.best.layers())
    assert content.analysis.accelerator == constrained.best.accelerator


def test_identical_consecutive_blocks_stay_separate_units(constrained):
    """Uniform networks repeat the same unit key within a stage; each block is still its own unit."""
    cfg = SubnetConfig.uniform(5, 4, 3, r=constrained.best.subnet.r)
    acc = constrained.best.accelerator
    catalog = cfg.block_catalog()
    per_unit = get_predictor(DEVICE).unit_latency_ms(list(catalog.layers), [acc])  # the search's per-unit path
    expected = float(catalog.total(per_unit)[0, 0]) + get_predictor(DEVICE).invocation_ms
    design = dataclasses.replace(constrained.best, subnet=cfg, latency_ms=expected)
    result = dataclasses.replace(constrained, best=design)
    latency = report_content(result, cross_validate=False).summary["best"]["latency"]
    keys = block_keys(cfg)
    assert len(set(keys)) < len(keys)  # the premise: repeated keys
    assert [u["unit"] for u in latency["units"]] == keys
    assert latency["total_ms"] == pytest.approx(expected, rel=1e-9)


def test_layers_csv_has_every_layer_and_the_unit_latencies(written, constrained):
    with open(written.parent / "layers.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["layer"] for r in rows] == [layer.name for layer in constrained.best.layers()]
    units = {int(r["unit_index"]): float(r["unit_latency_ms"]) for r in rows}
    launch = _summary(written)["best"]["latency"]["invocation_ms"]
    assert sum(units.values()) + launch == pytest.approx(constrained.best.latency_ms, rel=1e-5)


# ------------------------------------------------------------ assumptions
def test_assumptions_name_the_table_the_calibration_and_the_accuracy_model(written, constrained):
    assumptions = _summary(written)["assumptions"]
    predictor = get_predictor(DEVICE)
    table = assumptions["latency"]["table"]
    assert (table["name"], table["entries"], table["board"]) == (DEVICE, len(load_table(DEVICE)), "ultra96v2")
    from latency_tables.predictor import DEVICES

    assert assumptions["latency"]["model"] == DEVICES[DEVICE].model_note
    calibration = assumptions["latency"]["calibration"]
    assert calibration["in_sample"] == predictor.calibrated.in_sample.to_dict()
    cross = calibration["cross_validated"]
    assert cross["n"] == len(load_table(DEVICE))
    assert cross["mape_pct"] > calibration["in_sample"]["mape_pct"]  # held-out entries fit worse than seen ones
    drop = assumptions["accuracy"]["int8_drop"]
    best = constrained.best
    assert drop["drop_pp"] == pytest.approx(best.accuracy_float_top1 - best.accuracy_top1)
    search = assumptions["search"]
    assert (search["algorithm"], search["budget"], search["seed"]) == ("evolution", FAST["budget"], 0)
    page = written.read_text()
    assert f"MAPE {cross['mape_pct']:.1f}%" in page and f"{drop['drop_pp']:.2f} +/- {drop['sd_pp']:.2f} pp" in page


def test_without_cross_validation_the_report_says_so(constrained):
    calibration = report_content(constrained, cross_validate=False).summary["assumptions"]["latency"]["calibration"]
    assert calibration["cross_validated"] is None and calibration["cross_validation"] == "not computed"


# ------------------------------------------------------------------ plots
def test_pareto_plot_data(constrained):
    ax = plot_pareto(constrained)
    by_gid = {artist.get_gid(): artist for artist in ax.get_children() if artist.get_gid()}
    expected = [(d.latency_ms, d.accuracy_top1) for d in constrained.pareto]
    np.testing.assert_allclose(by_gid["front"].get_offsets(), expected)
    np.testing.assert_allclose(by_gid["best"].get_offsets(), [(constrained.best.latency_ms,
                                                                constrained.best.accuracy_top1)])
    assert list(by_gid["constraint"].get_xdata()) == [8.0, 8.0]
    several = len({d.accelerator for d in constrained.pareto}) > 1
    assert len(ax.get_figure().axes) == (2 if several else 1)  # the plot, and a DSP colour bar for several accelerators


def test_pareto_plot_colours():
    # the "dpu-like" space: its front spans several accelerators (the stock space's may sit on one)
    front_only = search_codesign(board="ultra96v2", accelerators="dpu-like", seed=0, **FAST)
    assert len(plot_pareto(front_only).get_figure().axes) == 2  # the plot and its DSP colour bar
    colours = plot_pareto(front_only, color_by="accelerator")
    accelerators = {(d.accelerator.name, d.accelerator.clock_mhz, d.accelerator.cores) for d in front_only.pareto}
    assert len(accelerators) > 1 and len(colours.get_legend().get_texts()) == len(accelerators)
    with pytest.raises(ValueError, match="color_by must be"):
        plot_pareto(front_only, color_by="lut")


def test_a_front_on_one_accelerator_names_it_instead_of_a_colour_scale(on_table_accelerator):
    ax = plot_pareto(on_table_accelerator)
    assert len(ax.get_figure().axes) == 1
    assert ax.get_title().endswith("all on B2304 @200 MHz x1")


def test_history_plot_has_one_best_so_far_line_per_restart(on_table_accelerator):
    history = on_table_accelerator.history
    ax = plot_history(history)
    lines = {line.get_gid(): line for line in ax.get_lines() if line.get_gid()}
    assert {"history:0", "history:1"} <= set(lines) and "history:2" not in lines
    restarts, current = [], None
    for stats in history:  # restarts by hand: a generation number that does not grow starts a new run
        if current is None or stats.generation <= current[-1].generation:
            current = []
            restarts.append(current)
        current.append(stats)
    for i, run in enumerate(restarts):
        best, so_far = -np.inf, []
        for stats in run:
            if stats.best_accuracy_top1 is not None:
                best = max(best, stats.best_accuracy_top1)
            so_far.append(best if best > -np.inf else np.nan)
        np.testing.assert_allclose(lines[f"history:{i}"].get_ydata(), so_far)
        np.testing.assert_allclose(lines[f"history:{i}"].get_xdata(), [s.generation for s in run])
    assert plot_history([]).texts[0].get_text() == "no search history recorded"


# ------------------------------------------------------ front-only results
def test_a_front_only_result_still_gives_a_report(tmp_path, front_only):
    assert front_only.best is None
    path = write_report(front_only, tmp_path, cross_validate=False)
    names = {p.name for p in tmp_path.iterdir()}
    assert names == set(REPORT_FILES) - {"roofline.png", "layers.csv"}
    summary = _summary(path)
    assert summary["best"] is None and len(summary["pareto"]) == len(front_only.pareto)
    page = path.read_text()
    assert "no constraint" in summary["title"] and "No constraint was given" in page
    assert page.count("<svg") == 2
    assert f"{front_only.pareto[0].latency_ms:.2f} - {front_only.pareto[-1].latency_ms:.2f} ms" in page


@pytest.mark.parametrize("custom", [False, True], ids=["DPUCZDX8G", "custom"])
def test_the_resource_notes_name_the_model_that_priced_the_accelerator(constrained, custom):
    from accel_models import Accelerator, fits
    from ofa_hw.report.html import render_html

    result = constrained
    if custom:  # no vendor IP builds it: its HLS engine's structure prices it, PG338's option notes do not apply
        board = get_board("ultra96v2")
        acc = Accelerator(2, 16, 14, clock_mhz=300.0, ddr_bw_gbps=board.ddr_bw_gbps)
        best = dataclasses.replace(constrained.best, accelerator=acc, resources=fits(acc, board))
        result = dataclasses.replace(constrained, best=best, pareto=[best])
    page = render_html(report_content(result, cross_validate=False).summary, {})
    assert ("estimates from the PG338 resource fit" in page) is not custom
    assert ("DSP-usage option:" in page) is not custom
    assert ("estimates from the structure of the HLS engine" in page) is custom


# ------------------------------------------------------------- bad input
def test_bad_inputs_are_specific_errors(tmp_path, constrained):
    with pytest.raises(TypeError, match="expected a CodesignResult"):
        write_report({"best": None}, tmp_path)
    custom = dataclasses.replace(constrained, settings={
        **constrained.settings, "latency_predictor": "HybridPredictor",
        "latency_predictor_record": {"format": "ofa-hw-latency-predictor/1", "kind": "object", "type": "Mine"}})
    with pytest.raises(ValueError, match=r"'Mine' latency predictor .*give it again \(predictor=\.\.\.\)$"):
        write_report(custom, tmp_path)
    unrecorded = {k: v for k, v in custom.settings.items() if k != "latency_predictor_record"}
    with pytest.raises(ValueError, match="does not record its latency predictor 'HybridPredictor'"):
        write_report(dataclasses.replace(constrained, settings=unrecorded), tmp_path)
    with pytest.raises(KeyError, match="unknown device 'nope'"):
        write_report(constrained, tmp_path, predictor="nope")
    with pytest.raises(TypeError, match="not a latency predictor"):
        write_report(constrained, tmp_path, predictor=object())
    empty = dataclasses.replace(constrained, best=None, pareto=[])
    with pytest.raises(ValueError, match="empty Pareto front"):
        write_report(empty, tmp_path)
    assert not list(tmp_path.iterdir())  # nothing was written for any of them


def test_another_predictor_than_the_searchs_is_flagged(constrained):
    with pytest.warns(UserWarning, match="not the one the search used"):
        report_content(constrained, predictor="dpuczdx8g-joint", cross_validate=False)


def test_the_default_joint_device_reports_without_a_misleading_cross_validation(constrained):
    """dpuczdx8g-joint is calibrated on several sources: a single-table CV would describe another model."""
    with pytest.warns(UserWarning, match="not the one the search used"):
        content = report_content(constrained, predictor="dpuczdx8g-joint")
    calibration = content.summary["assumptions"]["latency"]["calibration"]
    assert calibration["cross_validated"] is None and "not recomputed" in calibration["cross_validation"]


def test_a_predictor_object_gives_the_same_numbers_as_its_device_name(constrained):
    custom = dataclasses.replace(constrained, settings={**constrained.settings,
                                                        "latency_predictor": "HybridPredictor"})
    by_object = report_content(custom, predictor=get_predictor(DEVICE), cross_validate=False).summary
    by_name = report_content(constrained, cross_validate=False).summary
    assert by_object["best"]["latency"] == by_name["best"]["latency"]


def test_a_users_table_without_clock_reports_its_own_calibration(tmp_path, on_table_accelerator):
    """A table of one's own (here the shipped entries under new metadata) passed as a HybridPredictor."""
    from accel_models import RooflineModel
    from latency_tables import HybridPredictor, LatencyTable, calibrate

    shipped = load_table(DEVICE)
    meta = dataclasses.replace(shipped.meta, name="my-board", clock_mhz=None, source="measured by me")
    table = LatencyTable(meta, shipped.entries)
    predictor = HybridPredictor(table, calibrate(RooflineModel(), table, get_predictor(DEVICE).accelerator, folds=0))
    result = dataclasses.replace(on_table_accelerator, settings={**on_table_accelerator.settings,
                                                                 "latency_predictor": "HybridPredictor"})
    with pytest.warns(UserWarning, match="not the one the search used"):  # its stem is calibrated as h-swish
        path = write_report(result, tmp_path, predictor=predictor)
    latency = _summary(path)["assumptions"]["latency"]
    assert latency["table"]["name"] == "my-board" and latency["table"]["clock_mhz"] is None
    assert latency["calibration"]["cross_validated"]["n"] == len(shipped)  # recomputed for a non-shipped table too
    page = path.read_text()
    assert "my-board (66 entries)" in page and "measured by me" in page


# -------------------------------------------------------------------- CLI
def test_cli_report(tmp_path, constrained, capsys):
    path = constrained.to_json(tmp_path / "run" / "result.json")
    assert main(["report", str(path), "--no-cv"]) == 0
    out, err = capsys.readouterr()
    assert out.strip() == f"report: {tmp_path / 'run' / 'report' / 'report.html'}" and err == ""
    summary = json.loads((tmp_path / "run" / "report" / "summary.json").read_text())
    assert summary["best"]["design"]["latency_ms"] == constrained.best.latency_ms
    assert main(["report", str(path), "--no-cv", "--out", str(tmp_path / "elsewhere")]) == 0
    assert (tmp_path / "elsewhere" / "report.html").is_file()


@pytest.mark.parametrize("content, message", [
    (None, "result file .* not found"),
    ("{", r"result.json:1: not valid JSON"),
])
def test_cli_report_bad_files(tmp_path, capsys, content, message):
    path = tmp_path / "result.json"
    if content is not None:
        path.write_text(content)
    assert main(["report", str(path)]) == 2
    assert re.search(message, capsys.readouterr().err)
