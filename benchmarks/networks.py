"""Whole networks of the Vitis AI model zoo as :class:`accel_models.Layer` lists, matched to its published latency.

The model zoo (``data/vitis_ai_model_zoo_classification.csv``, see
``data/PROVENANCE.md``) publishes single-thread end-to-end latency of
ImageNet classifiers on ZCU102 / ZCU104 / KV260 (DPUCZDX8G B4096) and Ultra96
(B1600).  Those figures include the ARM's pre- and post-processing, so they
are upper bounds of the DPU time a latency model predicts.

Networks are built here directly as layers (no torch): every residual or
inverted-residual block, every depthwise-separable pair, is one unit (its
layers share ``block``), as the latency model treats OFA's blocks.  The
architecture variant each zoo model uses is pinned by its name's operation
count (2 ops per multiply-accumulate): the tests check every network's MACs
against it.

Which zoo models are covered, and why others are not:

* ResNet-18 / 50 (Caffe: stride 2 in the first 1x1 of a stage, 7.7 GOP),
  ResNet-50 v1.5 (PyTorch: stride in the 3x3, 4.1 G multiply-adds as its
  name says), TF-slim ResNet-v1 50 / 101 / 152 (stride in the 3x3 of a stage's
  last unit), VGG-16 / 19, MobileNet-v1 (1.0 / 0.5 / 0.25), MobileNet-v2
  (1.0 / 1.4).
* Not covered: Inception, SqueezeNet, DenseNet (channel concatenation has
  no :class:`~accel_models.Layer` equivalent), ResNet-v2 (pre-activation,
  299 px) and the OFA-ResNets (architectures not published in the zoo), and
  ``tf2_mobilenetv3`` (its h-swish ran on the ARM before Vitis AI 2.5:
  600 ms for 132 MOP, not a DPU figure).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from accel_models import Accelerator, BlockSpec, Layer, get_board, make_divisible

__all__ = ["NETWORKS", "ZooRow", "build", "network_macs", "predicted_dpu_ms", "zoo_accelerator", "zoo_rows"]

ZOO_CSV = Path(__file__).with_name("data") / "vitis_ai_model_zoo_classification.csv"


# ------------------------------------------------------------------ builders
class _Net:
    """Accumulates layers; ``unit`` names the block the next layers belong to."""

    def __init__(self, resolution: int):
        self.layers: list[Layer] = []
        self.shape = (3, resolution, resolution)
        self.last = "input"
        self.unit = ""

    def add(self, name: str, op: str, out_channels: int, kernel: int = 1, stride: int = 1, *,
            activation: str = "relu", inputs: tuple[str, ...] | None = None, in_shape=None, groups: int = 1,
            padding: int | None = None) -> Layer:
        in_shape = in_shape or self.shape
        c, h, w = in_shape
        if op in ("fc",):
            out = (out_channels, 1, 1)
        elif op in ("add",):
            out = in_shape
        else:
            pad = kernel // 2 if padding is None else padding
            out = (out_channels, (h + 2 * pad - kernel) // stride + 1, (w + 2 * pad - kernel) // stride + 1)
        layer = Layer(name, op, in_shape, out, kernel=kernel, stride=stride, groups=groups, padding=padding,
                      activation=activation, bias=op not in ("add", "maxpool", "pool"), block=self.unit or name,
                      inputs=inputs or (self.last,))
        self.layers.append(layer)
        self.shape, self.last = out, name
        return layer

    def head(self, classes: int = 1000) -> tuple[Layer, ...]:
        c, h, _ = self.shape
        self.unit = "pool"
        self.add("pool", "pool", c, kernel=h, stride=1, activation="none", padding=0)
        self.unit = "fc"
        self.add("fc", "fc", classes, activation="none")
        return tuple(self.layers)


def resnet(depth: int, variant: str = "caffe", resolution: int = 224) -> tuple[Layer, ...]:
    """ResNet-``depth`` (18, 34: basic blocks; 50, 101, 152: bottlenecks).

    ``variant`` places the down-sampling stride: ``"caffe"`` (He et al.'s
    release: the first 1x1 of a stage's first block), ``"torch"`` (v1.5: its
    3x3), ``"tf"`` (TF-slim resnet_v1: the 3x3 of a stage's *last* block).
    """
    blocks = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}[depth]
    if variant not in ("caffe", "torch", "tf"):
        raise ValueError(f"unknown ResNet variant {variant!r}; allowed: caffe, torch, tf")
    net = _Net(resolution)
    net.unit = "stem"
    net.add("conv1", "conv", 64, 7, 2)
    net.add("pool1", "maxpool", 64, 3, 2, activation="none", padding=1)
    bottleneck = depth >= 50
    for stage, (width, count) in enumerate(zip((64, 128, 256, 512), blocks)):
        for b in range(count):
            if variant == "tf":
                stride = 2 if (b == count - 1 and stage < 3) else 1
            else:
                stride = 2 if (b == 0 and stage > 0) else 1
            _residual_block(net, f"layer{stage + 1}.{b}", width, stride, bottleneck, variant)
    return net.head()


def _residual_block(net: _Net, name: str, width: int, stride: int, bottleneck: bool, variant: str) -> None:
    net.unit = name
    block_in, in_shape = net.last, net.shape
    cout = 4 * width if bottleneck else width
    if bottleneck:
        first_stride = stride if variant == "caffe" else 1
        net.add(f"{name}.conv1", "pwconv", width, 1, first_stride)
        net.add(f"{name}.conv2", "conv", width, 3, stride // first_stride)
        net.add(f"{name}.conv3", "pwconv", cout, 1, activation="none")
    else:
        net.add(f"{name}.conv1", "conv", width, 3, stride)
        net.add(f"{name}.conv2", "conv", cout, 3, activation="none")
    main, shape = net.last, net.shape
    if stride != 1 or in_shape[0] != cout:
        if variant == "tf" and in_shape[0] == cout:  # TF-slim: a strided identity is a 1x1 max pool
            short = net.add(f"{name}.shortcut", "maxpool", cout, 1, stride, activation="none", inputs=(block_in,),
                            in_shape=in_shape, padding=0)
        else:
            short = net.add(f"{name}.downsample", "pwconv", cout, 1, stride, activation="none",
                            inputs=(block_in,), in_shape=in_shape)
        shortcut = short.name
    else:
        shortcut = block_in
    net.add(f"{name}.add", "add", cout, inputs=(main, shortcut), in_shape=shape)


def vgg(depth: int, resolution: int = 224) -> tuple[Layer, ...]:
    """VGG-16 / VGG-19 (Simonyan & Zisserman, configurations D and E): each conv is a unit, max pools fused."""
    config = {16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}[depth]
    net = _Net(resolution)
    for stage, (width, count) in enumerate(zip((64, 128, 256, 512, 512), config)):
        for i in range(count):
            net.unit = f"conv{stage + 1}_{i + 1}"
            net.add(net.unit, "conv", width, 3, 1)
        net.add(f"pool{stage + 1}", "maxpool", width, 2, 2, activation="none", padding=0)
    for i, width in enumerate((4096, 4096, 1000)):
        net.unit = f"fc{i + 6}"
        if i == 0:
            c, h, w = net.shape
            net.shape = (c * h * w, 1, 1)  # flatten
        net.add(net.unit, "fc", width, activation="relu" if i < 2 else "none")
    return tuple(net.layers)


def mobilenet_v1(width: float = 1.0, resolution: int = 224) -> tuple[Layer, ...]:
    """MobileNet-v1 (Howard et al. 2017, Table 1) at a width multiplier: each depthwise + pointwise pair is a unit."""
    spec = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1), (512, 1),
            (512, 1), (1024, 2), (1024, 1))
    net = _Net(resolution)
    net.unit = "stem"
    net.add("conv0", "conv", make_divisible(32 * width), 3, 2, activation="relu6")
    for i, (channels, stride) in enumerate(spec, start=1):
        net.unit = f"block{i}"
        c = net.shape[0]
        net.add(f"block{i}.dw", "dwconv", c, 3, stride, groups=c, activation="relu6")
        net.add(f"block{i}.pw", "pwconv", make_divisible(channels * width), activation="relu6")
    return net.head()


def mobilenet_v2(width: float = 1.0, resolution: int = 224) -> tuple[Layer, ...]:
    """MobileNet-v2 (Sandler et al. 2018, Table 2) as :class:`BlockSpec` units with ReLU6."""
    settings = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                (6, 320, 1, 1))
    stem_out = make_divisible(32 * width)
    specs = [BlockSpec("stem", (3, resolution, resolution), stem_out, kernel=3, stride=2, activation="relu6")]
    shape = specs[0].out_shape
    for t, c, n, s in settings:
        for i in range(n):
            cout = make_divisible(c * width)
            spec = BlockSpec("mbconv", shape, cout, kernel=3, stride=s if i == 0 else 1, mid=shape[0] * t,
                             activation="relu6")
            specs.append(spec)
            shape = spec.out_shape
    last = make_divisible(1280 * width) if width > 1.0 else 1280
    specs += [BlockSpec("final_expand", shape, last, activation="relu6"),
              BlockSpec("pool", (last, shape[1], shape[2]), last),
              BlockSpec("classifier", (last, 1, 1), 1000)]
    layers: list[Layer] = []
    previous = "input"
    for i, spec in enumerate(specs):
        unit = spec.layers(prefix=f"u{i}.", input_name=previous)
        # the key is the unit's name; units of equal shape get the same key, so make it unique per position
        unit = tuple(_rename_block(layer, f"u{i}:{spec.key}") for layer in unit)
        layers += unit
        previous = unit[-1].name
    return tuple(layers)


def _rename_block(layer: Layer, block: str) -> Layer:
    from dataclasses import replace

    return replace(layer, block=block)


#: Our networks: name -> (builder, zoo model names it stands for).
NETWORKS: dict[str, tuple[Callable[[], tuple[Layer, ...]], tuple[str, ...]]] = {
    "resnet18": (lambda: resnet(18, "caffe"), ("cf_resnet18_imagenet_224_224_3.65G",)),
    "resnet50-caffe": (lambda: resnet(50, "caffe"), ("cf_resnet50_imagenet_224_224_7.7G",)),
    "resnet50-v1.5": (lambda: resnet(50, "torch"), ("pt_resnet50_imagenet_224_224_4.1G",)),
    "resnet50-tf": (lambda: resnet(50, "tf"), ("tf_resnetv1_50_imagenet_224_224_6.97G",
                                                 "tf_resnet50_imagenet_224_224_6.97G")),
    "resnet101-tf": (lambda: resnet(101, "tf"), ("tf_resnetv1_101_imagenet_224_224_14.4G",)),
    "resnet152-tf": (lambda: resnet(152, "tf"), ("tf_resnetv1_152_imagenet_224_224_21.83G",)),
    "vgg16": (lambda: vgg(16), ("tf_vgg16_imagenet_224_224_30.96G",)),
    "vgg19": (lambda: vgg(19), ("tf_vgg19_imagenet_224_224_39.28G",)),
    "mobilenet-v1-1.0": (lambda: mobilenet_v1(1.0, 224), ("tf_mobilenetv1_1.0_imagenet_224_224_1.14G",
                                                          "tf_mobilenetv1_imagenet_224_224_1.14G",
                                                          "tf2_mobilenetv1_imagenet_224_224_1.15G")),
    "mobilenet-v1-0.5": (lambda: mobilenet_v1(0.5, 160), ("tf_mobilenetv1_0.5_imagenet_160_160_150.07M",)),
    "mobilenet-v1-0.25": (lambda: mobilenet_v1(0.25, 128), ("tf_mobilenetv1_0.25_imagenet_128_128_27.15M",)),
    "mobilenet-v2-1.0": (lambda: mobilenet_v2(1.0), ("tf_mobilenetv2_1.0_imagenet_224_224_0.59G",
                                                     "cf_mobilenetv2_imagenet_224_224_0.59G")),
    "mobilenet-v2-1.4": (lambda: mobilenet_v2(1.4), ("tf_mobilenetv2_1.4_imagenet_224_224_1.16G",
                                                     "tf_mobilenetv2_imagenet_224_224_1.17G")),
}


@cache
def build(name: str) -> tuple[Layer, ...]:
    """The layers of network ``name`` (one of :data:`NETWORKS`)."""
    if name not in NETWORKS:
        raise KeyError(f"unknown network {name!r}; known: {', '.join(sorted(NETWORKS))}")
    return NETWORKS[name][0]()


def network_macs(name: str) -> int:
    return sum(layer.macs for layer in build(name))


# ------------------------------------------------------------- zoo rows
_OPS = re.compile(r"_(\d+(?:\.\d+)?)([GM])$")
_ARCH = re.compile(r"^(\d+)xB(\d+)")
_VERSION = re.compile(r"Vitis-AI@v(\d+\.\d+)")
_BOARDS = {"ZCU102": "zcu102", "ZCU104": "zcu104", "KV260": "kv260", "Ultra96": "ultra96v2"}


@dataclass(frozen=True)
class ZooRow:
    """One published single-thread latency of a network we can build."""

    network: str
    model: str
    board: str
    dpu_arch: str
    cores: int
    clock_mhz: float
    vitis_ai: str
    e2e_ms: float
    name_gops: float

    @property
    def label(self) -> str:
        return f"{self.network} {self.board} B{self.dpu_arch}@{self.clock_mhz:g} VAI{self.vitis_ai}"


def _name_gops(model: str) -> float:
    match = _OPS.search(model)
    if match is None:
        raise ValueError(f"model name {model!r} carries no operation count")
    value = float(match.group(1))
    return value if match.group(2) == "G" else value / 1e3


@lru_cache(maxsize=1)
def zoo_rows(path: Path = ZOO_CSV) -> tuple[ZooRow, ...]:
    """Single-thread rows of the shipped model-zoo subset, one per (model, board, DPU, clock, Vitis AI version)."""
    network_of = {model: net for net, (_, models) in NETWORKS.items() for model in models}
    rows = []
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            if row["threads"] != "1" or not row["latency_ms"] or row["model"] not in network_of:
                continue
            arch = _ARCH.match(row["dpu_arch"])
            version = _VERSION.search(row["source"])
            board = next((ours for theirs, ours in _BOARDS.items() if row["board"].startswith(theirs)), None)
            if arch is None or version is None or board is None:
                raise ValueError(f"{path}: cannot read board / DPU / version of row {row}")
            rows.append(ZooRow(network_of[row["model"]], row["model"], board, arch.group(2), int(arch.group(1)),
                               float(row["clock_mhz"]), version.group(1), float(row["latency_ms"]),
                               _name_gops(row["model"])))
    return tuple(rows)


def zoo_accelerator(row: ZooRow) -> Accelerator:
    """One core of the row's DPU at its clock, with its board's DDR bandwidth (single-thread latency uses one core)."""
    return Accelerator.from_dpu(f"B{row.dpu_arch}", clock_mhz=row.clock_mhz,
                                ddr_bw_gbps=get_board(row.board).ddr_bw_gbps)


@cache
def _schedule(name: str):
    from accel_models import UnitSchedule, group_by_block

    return UnitSchedule.from_units(group_by_block(build(name)))


def predicted_dpu_ms(model, invocation_ms: float, row: ZooRow) -> float:
    """DPU time of the row's network on its accelerator: the model's units plus one program launch.

    ``model`` is an :class:`accel_models.RooflineModel` (the parameters of a
    calibration: ``calibrated.model``).
    """
    return float(model.unit_latency_ms(_schedule(row.network), zoo_accelerator(row)).sum()) + invocation_ms
