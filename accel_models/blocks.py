"""Network units as latency tables measure them, and OFA's canonical keys for them.

A :class:`BlockSpec` is one unit of an OFA-style network: the stem conv, an
MBConv block (1x1 expand, depthwise kxk, optional squeeze-and-excitation, 1x1
project, residual add), the final expand conv, the global pool, the
feature-mix conv or the classifier.  It knows its canonical key (OFA's
latency-table format, e.g.
``expanded_conv-input:56x56x32-output:28x28x48-expand:128-kernel:5-stride:2-idskip:0-se:1-hs:0``),
can be parsed back from that key, and expands into :class:`Layer` objects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .layer import Layer, conv_output_size

__all__ = ["BlockSpec", "make_divisible"]


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to a multiple of ``divisor`` as OFA (and TF-slim) do.

    Never rounds down by more than 10%.

    >>> make_divisible(134.4), make_divisible(19.2), make_divisible(96 // 4)
    (136, 24, 24)
    """
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


@dataclass(frozen=True)
class BlockSpec:
    """One network unit that a latency table measures as a whole.

    ``kind`` is ``"stem"``, ``"mbconv"``, ``"final_expand"``, ``"pool"``,
    ``"feature_mix"`` or ``"classifier"``; shapes are (C, H, W) of the input;
    ``mid`` is the expanded width of an MBConv block.
    """

    kind: str
    in_shape: tuple[int, int, int]
    out_channels: int
    kernel: int = 1
    stride: int = 1
    mid: int = 0
    se: bool = False
    activation: str = "none"

    @property
    def out_shape(self) -> tuple[int, int, int]:
        """Output (C, H, W): (C, 1, 1) for pooling and the head, else the strided convolution's."""
        _, h, w = self.in_shape
        if self.kind in ("pool", "feature_mix", "classifier"):
            return (self.out_channels, 1, 1)
        pad = self.kernel // 2
        return (self.out_channels, conv_output_size(h, self.kernel, self.stride, pad),
                conv_output_size(w, self.kernel, self.stride, pad))

    @property
    def identity_skip(self) -> bool:
        """Whether the unit adds its input back (an MBConv block of stride 1 keeping its width)."""
        return self.kind == "mbconv" and self.stride == 1 and self.in_shape[0] == self.out_channels

    @property
    def key(self) -> str:
        """OFA's latency-table key of this unit."""
        (cin, h, w), (cout, ho, wo) = self.in_shape, self.out_shape
        io = f"input:{h}x{w}x{cin}-output:{ho}x{wo}x{cout}"
        if self.kind == "mbconv":
            return (f"expanded_conv-{io}-expand:{self.mid}-kernel:{self.kernel}-stride:{self.stride}"
                    f"-idskip:{int(self.identity_skip)}-se:{int(self.se)}-hs:{int(self.activation == 'h_swish')}")
        if self.kind == "classifier":
            return f"Logits-input:1x1x{cin}-output:{cout}"
        prefix = {"stem": "Conv", "final_expand": "Conv_1", "pool": "AvgPool2D", "feature_mix": "Conv_2"}[self.kind]
        return f"{prefix}-{io}"

    def layers(self, prefix: str = "", input_name: str = "input") -> tuple[Layer, ...]:
        """The layers of this unit, named ``prefix + OFA module path``."""
        key, shape = self.key, self.in_shape
        if self.kind == "stem":
            return (Layer(prefix + "first_conv", "conv", shape, self.out_shape, kernel=self.kernel,
                          stride=self.stride, activation=self.activation, bias=True, block=key,
                          inputs=(input_name,)),)
        if self.kind == "final_expand":
            return (Layer(prefix + "final_expand_layer", "pwconv", shape, self.out_shape,
                          activation=self.activation, bias=True, block=key, inputs=(input_name,)),)
        if self.kind == "pool":
            return (Layer(prefix + "global_avg_pool", "pool", shape, self.out_shape, kernel=shape[1],
                          block=key, inputs=(input_name,)),)
        if self.kind == "feature_mix":  # OFA: no BN, no bias
            return (Layer(prefix + "feature_mix_layer", "pwconv", shape, self.out_shape,
                          activation=self.activation, block=key, inputs=(input_name,)),)
        if self.kind == "classifier":
            return (Layer(prefix + "classifier", "fc", shape, self.out_shape, bias=True, block=key,
                          inputs=(input_name,)),)
        return self._mbconv_layers(prefix, input_name)

    def _mbconv_layers(self, prefix: str, input_name: str) -> tuple[Layer, ...]:
        key, (cin, h, w), mid = self.key, self.in_shape, self.mid
        _, ho, wo = self.out_shape
        conv = prefix + "conv."
        layers = []
        previous = input_name
        if self._has_expand:
            layers.append(Layer(conv + "inverted_bottleneck", "pwconv", (cin, h, w), (mid, h, w),
                                activation=self.activation, bias=True, block=key, inputs=(previous,)))
            previous = layers[-1].name
        layers.append(Layer(conv + "depth_conv", "dwconv", (mid, h, w), (mid, ho, wo), kernel=self.kernel,
                            stride=self.stride, groups=mid, activation=self.activation, bias=True,
                            block=key, inputs=(previous,)))
        previous = layers[-1].name
        if self.se:
            se = conv + "depth_conv.se."
            se_mid = make_divisible(mid // 4, 8)
            layers += [
                Layer(se + "pool", "pool", (mid, ho, wo), (mid, 1, 1), kernel=ho, block=key, inputs=(previous,)),
                Layer(se + "fc.reduce", "se_fc", (mid, 1, 1), (se_mid, 1, 1), activation="relu", bias=True,
                      block=key, inputs=(se + "pool",)),
                Layer(se + "fc.expand", "se_fc", (se_mid, 1, 1), (mid, 1, 1), activation="h_sigmoid",
                      bias=True, block=key, inputs=(se + "fc.reduce",)),
                Layer(se + "scale", "scale", (mid, ho, wo), (mid, ho, wo), block=key,
                      inputs=(previous, se + "fc.expand")),
            ]
            previous = layers[-1].name
        layers.append(Layer(conv + "point_linear", "pwconv", (mid, ho, wo), self.out_shape, bias=True,
                            block=key, inputs=(previous,)))
        if self.identity_skip:
            layers.append(Layer(prefix + "add", "add", self.out_shape, self.out_shape, block=key,
                                inputs=(input_name, layers[-1].name)))
        return tuple(layers)

    @property
    def _has_expand(self) -> bool:
        # OFA drops the 1x1 expansion when the expand ratio is 1 (the first block).
        return self.mid != self.in_shape[0]

    # ----------------------------------------------------------- key parsing
    @classmethod
    def from_key(cls, key: str) -> BlockSpec:
        """Parse an OFA latency-table key.

        >>> BlockSpec.from_key("Logits-input:1x1x1536-output:1000").out_shape
        (1000, 1, 1)
        >>> spec = BlockSpec.from_key(
        ...     "expanded_conv-input:28x28x48-output:14x14x96-expand:144-kernel:5-stride:2-idskip:0-se:0-hs:1")
        >>> spec.kernel, spec.mid, spec.activation
        (5, 144, 'h_swish')
        """
        match = _KEY_PATTERN.fullmatch(key)
        if match is None:
            raise ValueError(
                f"unrecognised block key {key!r}; expected OFA's format, e.g. "
                "'expanded_conv-input:HxWxC-output:HxWxC-expand:M-kernel:K-stride:S-idskip:0|1-se:0|1-hs:0|1', "
                "'Conv-input:HxWxC-output:HxWxC', 'Conv_1-...', 'AvgPool2D-...', 'Conv_2-...' or "
                "'Logits-input:1x1xC-output:N'"
            )
        g = match.groupdict()
        if g["logits_in"] is not None:
            spec = cls("classifier", (int(g["logits_in"]), 1, 1), int(g["logits_out"]))
        else:
            h, w, c = (int(v) for v in g["input"].split("x"))
            ho, _, co = (int(v) for v in g["output"].split("x"))
            kind = _KIND_OF_PREFIX[g["prefix"]]
            if kind == "mbconv":
                spec = cls("mbconv", (c, h, w), co, kernel=int(g["kernel"]), stride=int(g["stride"]),
                           mid=int(g["expand"]), se=g["se"] == "1",
                           activation="h_swish" if g["hs"] == "1" else "relu")
            elif kind == "stem":
                spec = cls("stem", (c, h, w), co, kernel=3, stride=max(1, round(h / ho)), activation="h_swish")
            elif kind == "pool":
                spec = cls("pool", (c, h, w), co)
            else:
                spec = cls(kind, (c, h, w), co, activation="h_swish")
        if spec.key != key:
            raise ValueError(f"block key {key!r} is inconsistent: its shapes and flags describe {spec.key!r}")
        return spec


_DIMS = r"\d+x\d+x\d+"
_KEY_PATTERN = re.compile(
    rf"(?:(?P<prefix>expanded_conv|Conv|Conv_1|Conv_2|AvgPool2D)-input:(?P<input>{_DIMS})-output:(?P<output>{_DIMS})"
    r"(?:-expand:(?P<expand>\d+)-kernel:(?P<kernel>\d+)-stride:(?P<stride>\d+)-idskip:(?P<idskip>[01])"
    r"-se:(?P<se>[01])-hs:(?P<hs>[01]))?"
    r"|Logits-input:1x1x(?P<logits_in>\d+)-output:(?P<logits_out>\d+))"
)
_KIND_OF_PREFIX = {"expanded_conv": "mbconv", "Conv": "stem", "Conv_1": "final_expand",
                   "AvgPool2D": "pool", "Conv_2": "feature_mix"}
