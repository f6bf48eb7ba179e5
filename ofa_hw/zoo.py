"""Reference networks as layers, with their published ImageNet top-1: the peers an OFA design is judged against.

Every network is built directly as :class:`accel_models.Layer` lists (no
torchvision), each inverted-residual or residual block one unit (its layers
share ``block``, an OFA latency-table key where one describes the block), so
:func:`accel_models.analyze_network` predicts it as the DPU runs it.

* MobileNetV2 (Sandler et al. 2018, Table 2; TF-slim's width rounding) at any
  width multiplier 0.35-1.4 and resolution;
* MobileNetV3-Large (Howard et al. 2019, Table 1) at width 1.0 / 0.75;
* ResNet-18 / 50 (He et al. 2016; ``variant`` places the stride), VGG-16 / 19,
  MobileNet-v1;
* OFA's 50 released specialized networks of its three MobileNet spaces
  (``ofa-mbv3-w1.0``, ``ofa-mbv3-w1.2``, ``ofa-proxyless-w1.3``).

Every :class:`ZooNetwork` carries its published top-1 with the scale it is on
(``top1_scale``) and its source, or ``None`` where nothing is published (a
MobileNetV2 width / resolution pair outside the TF-slim table).  The OFA
specialized nets' top-1 is OFA's **measured** ImageNet-val figure after
finetuning, not a predictor's; data and provenance in ``ofa_hw/data/``.

Examples
--------
>>> net = get_network("mobilenet-v2-1.0-224")
>>> net.top1, net.top1_scale, round(net.macs / 1e6)
(71.8, 'ImageNet-val top-1, float, single crop', 301)
>>> [n for n in list_networks("ofa-proxyless-*")][:2]
['ofa-proxyless-w1.3-1080ti_gpu64-12ms', 'ofa-proxyless-w1.3-1080ti_gpu64-15ms']
"""

from __future__ import annotations

import csv
import fnmatch
import json
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache, partial
from pathlib import Path

from accel_models.blocks import BlockSpec, make_divisible
from accel_models.layer import Layer

from .space import SubnetConfig

__all__ = [
    "ZooNetwork",
    "get_network",
    "list_networks",
    "mobilenet_v1",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "ofa_specialized",
    "resnet",
    "vgg",
]

DATA_DIR = Path(__file__).resolve().parent / "data"
NO_PUBLISHED_TOP1 = "no published top-1 for this variant"


@dataclass(frozen=True)
class ZooNetwork:
    """One reference network: how to build it and what was published about it.

    Attributes
    ----------
    name : str
        Registry name (:func:`list_networks`).
    family : str
        ``"mobilenet-v2"``, ``"mobilenet-v3-large"``, ``"resnet"``, ``"ofa-mbv3-w1.2"`` ...
    resolution : int
        Input height = width.
    top1 : float or None
        Published ImageNet top-1 in percent, on ``top1_scale``.
    top1_scale : str
        What the figure is: data split, float or int8, how it was measured.
    source : str
        Where the figure (and the architecture) is published.
    config : SubnetConfig or None
        The OFA sub-network, for OFA's specialized nets.
    """

    name: str
    family: str
    resolution: int
    top1: float | None
    top1_scale: str
    source: str
    build: Callable[[], tuple[Layer, ...]] = field(repr=False, compare=False)
    config: SubnetConfig | None = None

    def layers(self) -> tuple[Layer, ...]:
        """The network's layers in execution order (cached)."""
        return _layers(self)

    @property
    def macs(self) -> int:
        """Multiply-accumulates (conv and linear layers)."""
        return sum(layer.macs for layer in self.layers())

    @property
    def params(self) -> int:
        """Weights and biases of the deployed (BatchNorm-folded) network."""
        return sum(layer.params for layer in self.layers())


@cache
def _layers(net: ZooNetwork) -> tuple[Layer, ...]:
    return net.build()


# ------------------------------------------------------------ block-spec networks
def _from_specs(specs: list[BlockSpec]) -> tuple[Layer, ...]:
    """Layers of a chain of units, named as OFA names its modules (``first_conv``, ``blocks.N.conv...``)."""
    layers: list[Layer] = []
    previous, n_block = "input", 0
    for spec in specs:
        prefix = ""
        if spec.kind == "mbconv":
            prefix, n_block = f"blocks.{n_block}.", n_block + 1
        unit = spec.layers(prefix, previous)
        layers += unit
        previous = unit[-1].name
    return tuple(layers)


_MBV2_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                  (6, 320, 1, 1))


def _mobilenet_v2_layers(width: float, resolution: int) -> tuple[Layer, ...]:
    stem = BlockSpec("stem", (3, resolution, resolution), make_divisible(32 * width), kernel=3, stride=2,
                     activation="relu6")
    specs = [stem]
    shape = stem.out_shape
    for t, c, n, s in _MBV2_SETTINGS:
        for i in range(n):
            spec = BlockSpec("mbconv", shape, make_divisible(c * width), kernel=3, stride=s if i == 0 else 1,
                             mid=shape[0] * t, activation="relu6")
            specs.append(spec)
            shape = spec.out_shape
    last = make_divisible(1280 * width) if width > 1.0 else 1280  # TF-slim keeps 1280 below width 1
    specs += [BlockSpec("final_expand", shape, last, activation="relu6"),
              BlockSpec("pool", (last, shape[1], shape[2]), last),
              BlockSpec("classifier", (last, 1, 1), 1000)]
    return _from_specs(specs)


# (kernel, expanded width, output width, SE, activation, stride): Howard et al. 2019, Table 1
_MBV3_LARGE = ((3, 16, 16, False, "relu", 1), (3, 64, 24, False, "relu", 2), (3, 72, 24, False, "relu", 1),
               (5, 72, 40, True, "relu", 2), (5, 120, 40, True, "relu", 1), (5, 120, 40, True, "relu", 1),
               (3, 240, 80, False, "h_swish", 2), (3, 200, 80, False, "h_swish", 1),
               (3, 184, 80, False, "h_swish", 1), (3, 184, 80, False, "h_swish", 1),
               (3, 480, 112, True, "h_swish", 1), (3, 672, 112, True, "h_swish", 1),
               (5, 672, 160, True, "h_swish", 2), (5, 960, 160, True, "h_swish", 1),
               (5, 960, 160, True, "h_swish", 1))


def _mobilenet_v3_large_layers(width: float, resolution: int) -> tuple[Layer, ...]:
    stem = BlockSpec("stem", (3, resolution, resolution), make_divisible(16 * width), kernel=3, stride=2,
                     activation="h_swish")
    specs = [stem]
    shape = stem.out_shape
    cin_unscaled = 16
    for k, expanded, out, se, activation, stride in _MBV3_LARGE:
        # TF-slim expands by a ratio of the (scaled) input width: 64 = 4 x 16, 200 = 2.5 x 80, ...
        mid = make_divisible(shape[0] * expanded / cin_unscaled)
        spec = BlockSpec("mbconv", shape, make_divisible(out * width), kernel=k, stride=stride,
                         mid=mid, se=se, activation=activation)
        cin_unscaled = out
        specs.append(spec)
        shape = spec.out_shape
    final = make_divisible(960 * width)
    specs += [BlockSpec("final_expand", shape, final, activation="h_swish"),
              BlockSpec("pool", (final, shape[1], shape[2]), final),
              BlockSpec("feature_mix", (final, 1, 1), 1280, activation="h_swish"),
              BlockSpec("classifier", (1280, 1, 1), 1000)]
    return _from_specs(specs)


def _width_label(width: float) -> str:
    """``1.0``, ``0.35``: TF-slim's checkpoint naming."""
    text = f"{width:g}"
    return text if "." in text else f"{text}.0"


def _check_width_resolution(family: str, width: float, resolution: int, widths: tuple[float, float]) -> None:
    if isinstance(width, bool) or not isinstance(width, (int, float)) or not widths[0] <= width <= widths[1]:
        raise ValueError(f"{family}: width must be a number in [{widths[0]}, {widths[1]}], got {width!r}")
    if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 32:
        raise ValueError(f"{family}: resolution must be an integer of at least 32, got {resolution!r}")


def mobilenet_v2(width: float = 1.0, resolution: int = 224) -> ZooNetwork:
    """MobileNetV2 at a width multiplier (0.35-1.4) and any resolution, ReLU6, each block one unit.

    The published top-1 is attached where TF-slim's checkpoint table has the
    (width, resolution) pair, else ``top1`` is None.

    >>> mobilenet_v2(1.4).top1, mobilenet_v2(1.0, 200).top1
    (75.0, None)
    """
    _check_width_resolution("mobilenet-v2", width, resolution, (0.35, 1.4))
    return _published(f"mobilenet-v2-{_width_label(width)}-{resolution}", "mobilenet-v2", width, resolution,
                      lambda: _mobilenet_v2_layers(width, resolution))


def mobilenet_v3_large(width: float = 1.0, resolution: int = 224) -> ZooNetwork:
    """MobileNetV3-Large (h-swish, squeeze-and-excitation), each block one unit.

    >>> mobilenet_v3_large().top1
    75.2
    """
    _check_width_resolution("mobilenet-v3-large", width, resolution, (0.35, 1.4))
    return _published(f"mobilenet-v3-large-{_width_label(width)}-{resolution}", "mobilenet-v3-large", width,
                      resolution, lambda: _mobilenet_v3_large_layers(width, resolution))


# -------------------------------------------------------------- dense networks
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
        _, h, w = in_shape
        if op == "fc":
            out = (out_channels, 1, 1)
        elif op == "add":
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


_RESNET_BLOCKS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}


def resnet_layers(depth: int, variant: str = "torch", resolution: int = 224) -> tuple[Layer, ...]:
    """ResNet-``depth`` (18, 34: basic blocks; 50, 101, 152: bottlenecks) as layers, each residual block one unit.

    ``variant`` places the down-sampling stride: ``"caffe"`` (He et al.'s
    release: the first 1x1 of a stage's first block), ``"torch"`` (v1.5,
    torchvision: its 3x3), ``"tf"`` (TF-slim resnet_v1: the 3x3 of a stage's
    *last* block).
    """
    if depth not in _RESNET_BLOCKS:
        raise ValueError(f"unknown ResNet depth {depth!r}; allowed: {sorted(_RESNET_BLOCKS)}")
    if variant not in ("caffe", "torch", "tf"):
        raise ValueError(f"unknown ResNet variant {variant!r}; allowed: caffe, torch, tf")
    blocks = _RESNET_BLOCKS[depth]
    net = _Net(resolution)
    net.unit = "stem"
    net.add("conv1", "conv", 64, 7, 2)
    net.add("pool1", "maxpool", 64, 3, 2, activation="none", padding=1)
    bottleneck = depth >= 50
    for stage, (width, count) in enumerate(zip((64, 128, 256, 512), blocks, strict=True)):
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
    configs = {16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}
    if depth not in configs:
        raise ValueError(f"unknown VGG depth {depth!r}; allowed: 16, 19")
    net = _Net(resolution)
    for stage, (width, count) in enumerate(zip((64, 128, 256, 512, 512), configs[depth], strict=True)):
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


def resnet(depth: int, resolution: int = 224) -> ZooNetwork:
    """ResNet-18 / 50 (torchvision's v1.5 layout) with torchvision's published top-1.

    >>> resnet(50).top1
    76.13
    """
    if depth not in (18, 50):
        raise ValueError(f"resnet: depth must be 18 or 50 (the ones with a published top-1 here), got {depth!r}")
    return _published(f"resnet{depth}-{resolution}", f"resnet{depth}", 1.0, resolution,
                      lambda: resnet_layers(depth, "torch", resolution))


# -------------------------------------------------------------- published figures
@cache
def _published_rows() -> dict[tuple[str, float, int], dict]:
    with open(DATA_DIR / "published_top1.csv", newline="") as handle:
        return {(row["network"], float(row["width"]), int(row["resolution"])): row for row in csv.DictReader(handle)}


def _published(name: str, family: str, width: float, resolution: int, build) -> ZooNetwork:
    row = _published_rows().get((family, float(width), int(resolution)))
    if row is None:
        return ZooNetwork(name, family, resolution, None, NO_PUBLISHED_TOP1, "", build)
    return ZooNetwork(name, family, resolution, float(row["top1"]), row["scale"], row["source"], build)


# -------------------------------------------------------------- OFA specialized
_OFA_SCALE = "ImageNet-val top-1, float, measured by OFA after finetuning (the net's released label)"
_OFA_SOURCE = "OFA specialized nets, han-cai/files @a7c9bcd ofa/ofa_specialized (Cai et al. 2020)"
_LABEL = re.compile(r"^(?P<device>.+?)_top1-(?P<top1>\d+(?:\.\d+)?)_finetune-(?P<epochs>\d+)$")


@cache
def _specialized() -> dict[str, ZooNetwork]:
    from .space import get_space, list_spaces

    entries = json.loads((DATA_DIR / "ofa_specialized_nets.json").read_text())
    spaces = {get_space(name).supernet: name for name in list_spaces()}
    nets = {}
    for label, entry in sorted(entries.items()):
        match = _LABEL.match(label)
        if match is None:
            raise ValueError(f"{DATA_DIR / 'ofa_specialized_nets.json'}: cannot read the top-1 of entry {label!r}")
        with warnings.catch_warnings():  # r 228..260 nets: the warning is about predicted accuracy, not used here
            warnings.filterwarnings("ignore", "resolution.*outside the range", UserWarning)
            config = SubnetConfig.from_dict(entry)
        space = spaces[entry["supernet"]]
        name = f"{space}-{match['device']}"
        nets[name] = ZooNetwork(name, space, config.r, float(match["top1"]),
                                f"{_OFA_SCALE}, {match['epochs']} epochs", f"{_OFA_SOURCE}: {label}",
                                config.layers, config)
    return nets


def ofa_specialized(pattern: str = "*") -> list[ZooNetwork]:
    """OFA's released specialized networks whose name matches ``pattern``, with their measured top-1.

    >>> nets = ofa_specialized("ofa-proxyless-*")
    >>> len(nets), nets[0].config.space.name, nets[0].top1
    (16, 'ofa-proxyless-w1.3', 72.6)
    """
    return [net for name, net in _specialized().items() if fnmatch.fnmatchcase(name, pattern)]


# -------------------------------------------------------------- registry
def _registry() -> dict[str, Callable[[], ZooNetwork]]:
    entries: dict[str, Callable[[], ZooNetwork]] = {}
    for family, width, resolution in _published_rows():
        if family == "mobilenet-v2":
            entries[f"mobilenet-v2-{_width_label(width)}-{resolution}"] = partial(mobilenet_v2, width, resolution)
        elif family == "mobilenet-v3-large":
            entries[f"mobilenet-v3-large-{_width_label(width)}-{resolution}"] = \
                partial(mobilenet_v3_large, width, resolution)
        else:
            entries[f"{family}-{resolution}"] = partial(resnet, int(family.removeprefix("resnet")), resolution)
    for name in _specialized():
        entries[name] = partial(_specialized_net, name)
    return entries


def _specialized_net(name: str) -> ZooNetwork:
    return _specialized()[name]


def list_networks(pattern: str = "*") -> list[str]:
    """Names of the registered networks (every one with a published top-1) matching ``pattern``.

    >>> len(list_networks("mobilenet-v2-*")), len(list_networks("ofa-*"))
    (22, 50)
    """
    return sorted(name for name in _registry() if fnmatch.fnmatchcase(name, pattern))


def get_network(name: str) -> ZooNetwork:
    """The registered network ``name`` (see :func:`list_networks`)."""
    registry = _registry()
    if name not in registry:
        close = [n for n in registry if n.split("-")[0] == name.split("-")[0]][:6]
        raise KeyError(f"unknown network {name!r}; e.g. {', '.join(close or sorted(registry)[:6])} "
                       "(list_networks() gives all)")
    return registry[name]()
