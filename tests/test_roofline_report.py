"""roofline_report writes consistent files: PNG, SVG, CSV, JSON and one self-contained HTML page."""

from __future__ import annotations

import csv
import json
import re

import numpy as np
import pytest

from accel_models import Accelerator, Layer, RooflineModel, get_board, roofline_report
from accel_models.report import report_layers
from ofa_hw import SubnetConfig, subnet_layers

FILES = ("roofline.png", "roofline.svg", "layers.csv", "layers.json", "report.html")


@pytest.fixture(scope="module")
def layers():
    return subnet_layers(SubnetConfig.smallest(r=160))


@pytest.fixture(scope="module")
def written(layers, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "nested" / "dir"
    board = get_board("ultra96v2")
    report = roofline_report(layers, board.default_accelerator(), out, board=board, title="smallest <r=160>")
    return report, out, board.default_accelerator()


def test_all_files_written_atomically(written):
    report, out, _ = written
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)  # no temporary files left behind
    assert (report.png, report.svg, report.csv, report.json, report.html) == tuple(out / f for f in FILES)
    assert report.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in report.svg.read_text()[:1000]
    assert all(oct((out / f).stat().st_mode & 0o777) == "0o644" for f in FILES)


def test_tables_hold_the_analysis(written, layers):
    report, _, accelerator = written
    analysis = RooflineModel().analyze(layers, accelerator)
    with report.csv.open() as handle:
        rows = list(csv.DictReader(handle))
    assert [r["name"] for r in rows] == [layer.name for layer in layers]
    assert [r["bound"] for r in rows] == list(analysis.bound)
    np.testing.assert_allclose([float(r["latency_ms"]) for r in rows], analysis.latency_ms, rtol=1e-12)
    np.testing.assert_allclose([float(r["achieved_gops"]) for r in rows],
                               np.asarray(analysis.utilization) * analysis.peak_gops, rtol=1e-9)
    assert rows[0]["in_shape"] == "3x160x160" and rows[0]["out_shape"] == "24x80x80" and rows[0]["kernel"] == "3"
    assert [int(r["macs"]) for r in rows] == [layer.macs for layer in layers]

    document = json.loads(report.json.read_text())
    assert set(document) == {"accelerator", "totals", "layers", "fit"}
    assert Accelerator.from_dict(document["accelerator"]) == accelerator
    assert [r["name"] for r in document["layers"]] == [r["name"] for r in rows]
    totals = document["totals"]
    assert totals["latency_ms"] == pytest.approx(sum(float(r["latency_ms"]) for r in rows))
    assert totals["macs"] == sum(layer.macs for layer in layers)
    assert sum(b["layers"] for b in totals["bounds"].values()) == len(layers)
    assert sum(b["latency_share"] for b in totals["bounds"].values()) == pytest.approx(1.0)
    for bound, part in totals["bounds"].items():
        assert part["layers"] == sum(r["bound"] == bound for r in rows)
    assert totals["fps_per_core"] == pytest.approx(1e3 / totals["latency_ms"])
    assert document["fit"]["board"] == "ultra96v2" and document["fit"]["ok"] is True
    assert report.totals == totals


def test_html_page_is_self_contained_and_complete(written, layers):
    report, _, accelerator = written
    page = report.html.read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<title>smallest &lt;r=160&gt;</title>" in page  # escaped
    assert "<svg" in page and "<img" not in page
    assert not re.search(r"""(src|href)=["']?(https?:|//|file:)""", page)  # nothing fetched from outside
    assert "Fits ultra96v2" in page
    assert f"PP={accelerator.pp} ICP={accelerator.icp} OCP={accelerator.ocp}" in page
    assert f"{report.totals['latency_ms']:.3f} ms" in page
    assert f"{report.totals['utilization']:.1%}" in page
    analysis = RooflineModel().analyze(layers, accelerator)
    top_table = page.split("<h2>Slowest")[1].split("</table>")[0]
    first_row = top_table.split("<tr><td>")[1]
    assert first_row.startswith(analysis.name[int(np.argmax(analysis.latency_ms))] + "</td>")
    full_table = page.split("<details>")[1]
    assert full_table.count("<tr><td>") == len(layers)


def test_accelerator_that_does_not_fit_is_reported(layers, tmp_path):
    board = get_board("ultra96v2")
    too_big = Accelerator.from_dpu("B4096", clock_mhz=300.0, cores=3, ddr_bw_gbps=board.ddr_bw_gbps)
    report = roofline_report(layers, too_big, tmp_path, board=board)
    assert report.fit is not None and not report.fit.ok
    page = report.html.read_text()
    assert f"Does not fit ultra96v2</b>: {report.fit.binding_resource}" in page
    assert json.loads(report.json.read_text())["fit"]["ok"] is False


def test_duck_typed_networks_and_overwrite(layers, tmp_path):
    class Design:
        def layers(self):
            return layers

    accelerator = Accelerator.from_dpu("B512")
    first = roofline_report(Design(), accelerator, tmp_path, label_top=0)
    assert first.fit is None and "fit" not in json.loads(first.json.read_text())
    again = roofline_report(iter(layers[:5]), accelerator, tmp_path)
    assert len(json.loads(again.json.read_text())["layers"]) == 5
    subnet = SubnetConfig.smallest(r=128)  # offers layers()
    third = roofline_report(subnet, accelerator, tmp_path, label_top=0)
    assert [r["name"] for r in json.loads(third.json.read_text())["layers"]] == [x.name for x in subnet_layers(subnet)]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(FILES)


@pytest.mark.parametrize("bad", [42, [], ["not a layer"], None])
def test_bad_network(bad):
    with pytest.raises(TypeError, match="expected a sequence of Layer or an object with a layers"):
        report_layers(bad)


def test_torch_model_report(tmp_path):
    torch = pytest.importorskip("torch")
    from accel_models import layers_from_torch

    net = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, 2, 1), torch.nn.ReLU(), torch.nn.Conv2d(16, 32, 3, 1, 1),
                              torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(32, 10))
    layers = layers_from_torch(net, (3, 64, 64))
    report = roofline_report(layers, Accelerator.from_dpu("B1152"), tmp_path)
    assert [r["name"] for r in json.loads(report.json.read_text())["layers"]] == ["0", "2", "3", "5"]
    assert isinstance(layers[0], Layer)
