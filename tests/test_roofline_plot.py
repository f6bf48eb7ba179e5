"""plot_roofline draws what the analysis says: points, roof, ridge, ceilings, labels."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
from matplotlib.figure import Figure

from accel_models import Accelerator, RooflineModel, get_board, plot_analysis, plot_roofline, roofline_ceilings
from ofa_hw import SubnetConfig, subnet_layers

# Hand-computed from PG338 (peak ops/clock = 2 PP ICP OCP; depthwise at PP/2 over ICP lanes).
# B1600: PP 8, ICP 10, OCP 10 @ 200 MHz; B4096: PP 8, ICP 16, OCP 16 @ 300 MHz.
CEILINGS = {
    ("B1600", 200.0): {"int8": 320.0, "depthwise": 2 * 4 * 10 * 0.2, "element-wise": 8 * 10 * 0.2},
    ("B4096", 300.0): {"int8": 1228.8, "depthwise": 2 * 4 * 16 * 0.3, "element-wise": 8 * 16 * 0.3},
    ("B512", 300.0): {"int8": 153.6, "depthwise": 2 * 2 * 8 * 0.3, "element-wise": 4 * 8 * 0.3},
}


@pytest.fixture(scope="module")
def layers():
    return subnet_layers(SubnetConfig.largest(r=192))


@pytest.mark.parametrize("arch, clock", list(CEILINGS))
def test_ceilings_by_hand(arch, clock):
    ceilings = roofline_ceilings(Accelerator.from_dpu(arch, clock_mhz=clock))
    assert ceilings == pytest.approx(CEILINGS[arch, clock])


def _artist(ax, gid):
    found = [a for a in [*ax.lines, *ax.collections, *ax.texts] if a.get_gid() == gid]
    assert len(found) == 1, gid
    return found[0]


@pytest.mark.parametrize("arch, clock", list(CEILINGS))
def test_points_roof_ridge_and_ceilings_are_the_analysis(layers, arch, clock):
    accelerator = Accelerator.from_dpu(arch, clock_mhz=clock, cores=2)
    analysis = RooflineModel().analyze(layers, accelerator)
    ax = plot_roofline(layers, accelerator)
    bounds = np.asarray(analysis.bound)
    achieved = np.asarray(analysis.utilization) * analysis.peak_gops
    on_chip = np.asarray(analysis.on_chip)
    plotted = 0
    gids = [c.get_gid() for c in ax.collections]
    for bound in ("compute", "memory", "overhead"):
        for where, prefix in ((~on_chip, "layers"), (on_chip, "on-chip")):
            mask = (bounds == bound) & where
            if not mask.any():
                assert f"{prefix}:{bound}" not in gids
                continue
            points = _artist(ax, f"{prefix}:{bound}").get_offsets()
            if prefix == "layers":
                np.testing.assert_allclose(points[:, 0], np.asarray(analysis.arithmetic_intensity)[mask], rtol=1e-12)
            np.testing.assert_allclose(points[:, 1], achieved[mask], rtol=1e-9)
            plotted += len(points)
    assert plotted == len(layers)

    peak = CEILINGS[arch, clock]["int8"]  # one core: the roof of a single inference
    assert analysis.peak_gops == pytest.approx(peak)
    roof = _artist(ax, "roof")
    x, y = np.asarray(roof.get_xdata()), np.asarray(roof.get_ydata())
    ddr = accelerator.ddr_bw_gbps
    ridge = peak / ddr  # one definition: int8 peak over peak DDR
    np.testing.assert_allclose(y, np.minimum(peak, ddr * x))
    assert ridge in x and y[list(x).index(ridge)] == pytest.approx(peak)
    slopes = np.diff(np.log(y)) / np.diff(np.log(x))
    np.testing.assert_allclose(slopes, [1.0, 0.0], atol=1e-12)  # bandwidth roof, then flat peak: the kink
    assert np.asarray(_artist(ax, "ridge").get_xdata()) == pytest.approx([ridge, ridge])
    for level in ("feature maps", "weights"):
        line = _artist(ax, f"ddr:{level}")
        slope = np.diff(np.log(line.get_ydata())) / np.diff(np.log(line.get_xdata()))
        assert slope == pytest.approx([1.0])
        assert line.get_ydata()[0] / line.get_xdata()[0] == pytest.approx(analysis.ddr_levels_gbps[level])

    expected = CEILINGS[arch, clock]
    merged_away = {"element-wise"} if np.isclose(expected["depthwise"], expected["element-wise"]) else set()
    for name, value in expected.items():
        if name == "int8" or name in merged_away:
            continue
        line = _artist(ax, f"ceiling:{name}")
        assert np.asarray(line.get_ydata()) == pytest.approx([value, value])
        assert line.get_xdata()[0] == pytest.approx(value / ddr)  # starts on the fastest DDR roof
    if merged_away:
        assert any("depthwise = element-wise" in t.get_text() for t in ax.get_legend().get_texts())


def test_slowest_layers_are_numbered_at_their_points(layers):
    accelerator = get_board("ultra96v2").default_accelerator()
    analysis = RooflineModel().analyze(layers, accelerator)
    ax = plot_roofline(layers, accelerator, label_top=4)
    latency = np.asarray(analysis.latency_ms)
    slowest = np.argsort(-latency, kind="stable")[:4]
    for rank, i in enumerate(slowest, start=1):
        label = _artist(ax, f"rank:{rank}")
        assert label.get_text() == str(rank)
        achieved = analysis.utilization[i] * analysis.peak_gops
        assert label.xy == pytest.approx((analysis.arithmetic_intensity[i], achieved))
    listing = _artist(ax, "slowest").get_text().splitlines()
    assert len(listing) == 5 and listing[1].split()[1] == analysis.name[slowest[0]]
    assert not [t for t in ax.texts if (t.get_gid() or "").startswith("rank:5")]
    bare = plot_roofline(layers, accelerator, label_top=0)
    assert not [t for t in bare.texts if t.get_gid() in ("slowest", "rank:1")]


def test_numbers_do_not_overlap(layers):
    ax = plot_roofline(layers, Accelerator.from_dpu("B2304", clock_mhz=200.0), label_top=8)
    figure = ax.get_figure()
    renderer = figure.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.texts if (t.get_gid() or "").startswith("rank:")]
    assert len(boxes) == 8
    overlaps = sum(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    assert overlaps == 0


def test_draws_into_a_given_axes_and_renders(layers):
    figure = Figure(figsize=(6, 4))
    ax = figure.add_subplot()
    analysis = RooflineModel().analyze(layers, Accelerator.from_dpu("B1024"))
    assert plot_analysis(analysis, ax=ax) is ax
    assert ax.get_xscale() == ax.get_yscale() == "log"
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    assert buffer.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_pyplot_state():
    code = ("import sys; from accel_models import plot_roofline, Accelerator; from ofa_hw import SubnetConfig, "
            "subnet_layers; plot_roofline(subnet_layers(SubnetConfig.smallest()), Accelerator.from_dpu('B512')); "
            "print('matplotlib.pyplot' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


@pytest.mark.parametrize("bad", [-1, 1.5])
def test_bad_label_top(layers, bad):
    with pytest.raises(ValueError, match="label_top must be a non-negative integer"):
        plot_roofline(layers, Accelerator.from_dpu("B512"), label_top=bad)
