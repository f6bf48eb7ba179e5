"""Whole networks of the Vitis AI model zoo as :class:`accel_models.Layer` lists, matched to its published latency.

The model zoo (``data/vitis_ai_model_zoo_classification.csv``, see
``data/PROVENANCE.md``) publishes single-thread end-to-end latency of
ImageNet classifiers on ZCU102 / ZCU104 / KV260 (DPUCZDX8G B4096) and Ultra96
(B1600).  Those figures include the ARM's pre- and post-processing, so they
are upper bounds of the DPU time a latency model predicts.

Networks come from the public zoo (:mod:`ofa_hw.zoo`, layers without torch):
every residual or inverted-residual block, every depthwise-separable pair,
is one unit (its layers share ``block``), as the latency model treats OFA's
blocks.  The
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

from accel_models import Accelerator, Layer, get_board
from ofa_hw import zoo

__all__ = ["NETWORKS", "ZooRow", "build", "network_macs", "predicted_dpu_ms", "zoo_accelerator", "zoo_rows"]

ZOO_CSV = Path(__file__).with_name("data") / "vitis_ai_model_zoo_classification.csv"


def resnet(depth: int, variant: str = "caffe", resolution: int = 224) -> tuple[Layer, ...]:
    """ResNet layers in the zoo's variant (default: Caffe, as most zoo ResNets)."""
    return zoo.resnet_layers(depth, variant, resolution)


def mobilenet_v2(width: float = 1.0, resolution: int = 224) -> tuple[Layer, ...]:
    return zoo.mobilenet_v2(width, resolution).layers()


vgg, mobilenet_v1 = zoo.vgg, zoo.mobilenet_v1


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
    from accel_models import group_by_block
    from accel_models.schedule import UnitSchedule

    return UnitSchedule.from_units(group_by_block(build(name)))


def predicted_dpu_ms(model, invocation_ms: float, row: ZooRow) -> float:
    """DPU time of the row's network on its accelerator: the model's units plus one program launch.

    ``model`` is an :class:`accel_models.RooflineModel` (the parameters of a
    calibration: ``calibrated.model``).
    """
    return float(model.unit_latency_ms(_schedule(row.network), zoo_accelerator(row)).sum()) + invocation_ms
