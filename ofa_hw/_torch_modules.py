"""torch modules of OFA sub-networks (MobileNetV3, ProxylessNAS); imported only by :mod:`ofa_hw.torch_model`."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from accel_models.blocks import BlockSpec, make_divisible

from .layers import subnet_blocks
from .space import SubnetConfig

_ACTIVATIONS = {"relu": nn.ReLU, "relu6": nn.ReLU6, "h_swish": nn.Hardswish, "h_sigmoid": nn.Hardsigmoid}


def _conv_bn_act(cin: int, cout: int, kernel: int, stride: int, activation: str, groups: int = 1) -> nn.Sequential:
    modules = OrderedDict(
        conv=nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
        bn=nn.BatchNorm2d(cout),
    )
    if activation != "none":
        modules["act"] = _ACTIVATIONS[activation]()
    return nn.Sequential(modules)


class SqueezeExcite(nn.Module):
    """OFA's ``SEModule``: global pool, 1x1 reduce + ReLU, 1x1 expand + h-sigmoid, scale."""

    def __init__(self, channels: int, mid: int):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(OrderedDict(
            reduce=nn.Conv2d(channels, mid, 1, bias=True),
            relu=nn.ReLU(),
            expand=nn.Conv2d(mid, channels, 1, bias=True),
            h_sigmoid=nn.Hardsigmoid(),
        ))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(self.pool(x))


class MBConv(nn.Module):
    """OFA's ``MBConvLayer``: 1x1 expand, depthwise kxk (+SE), 1x1 linear project."""

    def __init__(self, spec: BlockSpec):
        super().__init__()
        cin, mid = spec.in_shape[0], spec.mid
        self.inverted_bottleneck: nn.Module | None
        if mid != cin:
            self.inverted_bottleneck = _conv_bn_act(cin, mid, 1, 1, spec.activation)
        else:
            self.inverted_bottleneck = None
        self.depth_conv = _conv_bn_act(mid, mid, spec.kernel, spec.stride, spec.activation, groups=mid)
        if spec.se:
            self.depth_conv.add_module("se", SqueezeExcite(mid, make_divisible(mid // 4, 8)))
        self.point_linear = _conv_bn_act(mid, spec.out_channels, 1, 1, "none")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.inverted_bottleneck is not None:
            x = self.inverted_bottleneck(x)
        return self.point_linear(self.depth_conv(x))


class ResidualBlock(nn.Module):
    def __init__(self, spec: BlockSpec):
        super().__init__()
        self.conv = MBConv(spec)
        self.shortcut = nn.Identity() if spec.identity_skip else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.shortcut is None:
            return self.conv(x)
        return self.conv(x) + self.shortcut(x)


class OFASubnet(nn.Module):
    """An OFA sub-network with OFA's module names.

    MobileNetV3 (``MobileNetV3``): ``final_expand_layer`` (1x1, BN), pool,
    ``feature_mix_layer`` (1x1 on 1x1, no BN); ProxylessNAS
    (``ProxylessNASNets``): ``feature_mix_layer`` (1x1, BN) on the feature
    map, then the pool.  Both end in ``classifier`` (dropout, linear).
    """

    def __init__(self, cfg: SubnetConfig, dropout_rate: float = 0.1):
        super().__init__()
        self.cfg = cfg
        specs = subnet_blocks(cfg)
        stem = specs[0]
        head = {spec.kind: spec for spec in specs if spec.kind not in ("stem", "mbconv")}
        self.first_conv = _conv_bn_act(3, stem.out_channels, stem.kernel, stem.stride, stem.activation)
        self.blocks = nn.ModuleList(ResidualBlock(spec) for spec in specs if spec.kind == "mbconv")
        final = head["final_expand"]
        final_conv = _conv_bn_act(final.in_shape[0], final.out_channels, 1, 1, final.activation)
        if "feature_mix" in head:
            self.final_expand_layer: nn.Module | None = final_conv
            self.global_avg_pool = nn.AdaptiveAvgPool2d(1)
            mix = head["feature_mix"]
            self.feature_mix_layer = nn.Sequential(OrderedDict(
                conv=nn.Conv2d(mix.in_shape[0], mix.out_channels, 1, bias=False),
                act=_ACTIVATIONS[mix.activation](),
            ))
        else:
            self.final_expand_layer = None
            self.feature_mix_layer = final_conv
            self.global_avg_pool = nn.AdaptiveAvgPool2d(1)
        classifier = head["classifier"]
        self.classifier = nn.Sequential(OrderedDict(
            dropout=nn.Dropout(dropout_rate),
            linear=nn.Linear(classifier.in_shape[0], classifier.out_channels),
        ))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.first_conv(x)
        for block in self.blocks:
            x = block(x)
        if self.final_expand_layer is None:
            x = self.global_avg_pool(self.feature_mix_layer(x))
        else:
            x = self.feature_mix_layer(self.global_avg_pool(self.final_expand_layer(x)))
        return self.classifier(torch.flatten(x, 1))

    def load_ofa_state_dict(self, state_dict: dict) -> None:
        """Load weights saved from an OFA sub-network (old ``mobile_inverted_conv`` names too)."""
        renamed = {key.replace(".mobile_inverted_conv.", ".conv."): value for key, value in state_dict.items()}
        self.load_state_dict(renamed, strict=True)


def unit_module(spec: BlockSpec) -> nn.Module:
    """One unit of a latency table (stem, MBConv block, head layer) as a module of its own."""
    if spec.kind == "mbconv":
        return ResidualBlock(spec)
    if spec.kind in ("stem", "final_expand"):
        return _conv_bn_act(spec.in_shape[0], spec.out_channels, spec.kernel, spec.stride, spec.activation)
    if spec.kind == "pool":
        return nn.AdaptiveAvgPool2d(1)
    if spec.kind == "feature_mix":
        return nn.Sequential(OrderedDict(conv=nn.Conv2d(spec.in_shape[0], spec.out_channels, 1, bias=False),
                                         act=_ACTIVATIONS[spec.activation]()))
    if spec.kind == "classifier":
        return nn.Sequential(OrderedDict(flatten=nn.Flatten(), linear=nn.Linear(spec.in_shape[0], spec.out_channels)))
    raise ValueError(f"unknown unit kind {spec.kind!r}")
