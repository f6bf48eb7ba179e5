"""Every unit of the engine beyond what OFA nets use: odd sizes, 5x5 / 7x7 / strided 1x1, ReLU6,
non-power-of-two pools, channel counts that fill no tile, ICP != OCP, and buffers so small that every
layer is split into bands of rows, chunks of weight tiles and (depthwise) chunks of channels."""

import shutil
from collections import OrderedDict

import numpy as np
import pytest

import hls
from accel_models import Accelerator, Layer
from hls.bn import randomize_batchnorm
from hls.network import float_network

torch = pytest.importorskip("torch")
nn = torch.nn
needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not installed")


def _cba(cin, cout, k, s, act=None, groups=1):
    modules = OrderedDict(conv=nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False), bn=nn.BatchNorm2d(cout))
    if act is not None:
        modules["act"] = act
    return nn.Sequential(modules)


class Tiny(nn.Module):
    """19x19 input: 5x5/2 conv + ReLU6, 7x7/2 depthwise + h-swish with SE, 1x1 project, residual add,
    strided 1x1 conv, 3x3 global pool (9 values), fully connected."""

    def __init__(self):
        super().__init__()
        self.stem = _cba(3, 20, 5, 2, nn.ReLU6())
        self.dw = _cba(20, 20, 7, 2, nn.Hardswish(), groups=20)
        self.reduce = nn.Conv2d(20, 8, 1)
        self.expand = nn.Conv2d(8, 20, 1)
        self.proj = _cba(20, 20, 1, 1)
        self.down = _cba(20, 12, 1, 2, nn.ReLU())
        self.fc = nn.Linear(12, 10)

    def forward(self, x):
        x = self.stem(x)
        d = self.dw(x)
        gate = nn.functional.hardsigmoid(self.expand(nn.functional.relu(self.reduce(d.mean((2, 3), keepdim=True)))))
        y = self.down(self.proj(d * gate) + d)
        return self.fc(y.mean((2, 3)))


LAYERS = (
    Layer("stem", "conv", (3, 19, 19), (20, 10, 10), kernel=5, stride=2, activation="relu6", bias=True),
    Layer("dw", "dwconv", (20, 10, 10), (20, 5, 5), kernel=7, stride=2, groups=20, activation="h_swish", bias=True),
    Layer("se.pool", "pool", (20, 5, 5), (20, 1, 1), kernel=5),
    Layer("reduce", "se_fc", (20, 1, 1), (8, 1, 1), activation="relu", bias=True),
    Layer("expand", "se_fc", (8, 1, 1), (20, 1, 1), activation="h_sigmoid", bias=True),
    Layer("se.scale", "scale", (20, 5, 5), (20, 5, 5), inputs=("dw", "expand")),
    Layer("proj", "pwconv", (20, 5, 5), (20, 5, 5), bias=True),
    Layer("res", "add", (20, 5, 5), (20, 5, 5), inputs=("proj", "dw")),
    Layer("down", "pwconv", (20, 5, 5), (12, 3, 3), stride=2, padding=0, activation="relu", bias=True),
    Layer("gap", "pool", (12, 3, 3), (12, 1, 1), kernel=3),
    Layer("fc", "fc", (12, 1, 1), (10, 1, 1), bias=True),
)


@pytest.fixture(scope="module")
def tiny():
    model = randomize_batchnorm(Tiny(), seed=0, size=19)
    return model, hls.TorchNetwork(model, LAYERS, {"name": "tiny"})


def test_float_reference_runs_the_same_graph_as_torch(tiny):
    model, source = tiny
    x = np.random.default_rng(0).standard_normal((3, 3, 19, 19))
    with torch.no_grad():
        want = model(torch.from_numpy(x).float()).double().numpy()
    assert np.allclose(float_network(source).forward(x).reshape(3, -1), want, atol=1e-4)


#: (accelerator, scheme): a stock size; a custom (dpu-like) array with ICP != OCP; a 2 x 4 x 3 array whose
#: 1 KiB buffers force bands of one or two rows, one weight tile per load and depthwise channel chunks.
ENGINES = {
    "B512": (Accelerator.from_dpu("B512", clock_mhz=200.0), "pow2"),
    "P4I16O8": (Accelerator(4, 16, 8, clock_mhz=250.0, dw_pp=4, name="P4I16O8"), "per_channel"),
    "P2I4O3-tiny-buffers": (Accelerator(2, 4, 3, clock_mhz=100.0, act_buffer_kib=1.0, weight_buffer_kib=0.75,
                                        name="tiny"), "pow2"),
}


@needs_gxx
@pytest.mark.parametrize("engine", list(ENGINES))
def test_every_unit_is_bit_exact_on_every_engine_shape(tiny, tmp_path, engine):
    accelerator, scheme = ENGINES[engine]
    project = hls.export(tiny[1], tmp_path / "tiny", accelerator=accelerator, scheme=scheme, n_calibration=8,
                         board="zcu102")  # the largest board: every shape's engine fits
    ops = {e["name"]: e["engine"]["op"] for e in project.manifest["layers"]}
    assert ops["down"] == ops["proj"] == ops["fc"] == "conv" and ops["gap"] == "pool" and ops["dw"] == "dwconv"
    stem = project.layer("stem")
    assert (stem["requant"]["lo"], stem["requant"]["hi"]) == (0, min(127, int(6 * 2.0 ** stem["fix"]["output"] + 0.5)))
    if engine.startswith("P2I4O3"):  # the tiling really splits: several bands, weight chunks, channel chunks
        descriptors = {e["name"]: e["engine"]["descriptor"] for e in project.manifest["layers"]}
        assert descriptors["stem"]["rows"] < 10 and descriptors["stem"]["chunk"] < 7
        assert descriptors["dw"]["chunk"] < 5 and descriptors["se.scale"]["rows"] < 5
    report = hls.csim(project.path)
    assert report.passed, report.failed_layers
    assert report.compiler_warnings == 0, report.compiler_output
    assert len(report.layers) == len(LAYERS)
    assert [c.cycles for c in report.cycles] == [e["cycles"]["engine"] for e in project.manifest["layers"]]
