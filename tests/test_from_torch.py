"""layers_from_torch on OFA sub-networks, hand-built MobileNetV2 / ResNet-50 and odd models.

Golden numbers come from elsewhere: OFA layers from ``ofa_hw.subnet_layers`` (built
from the block specs, not from torch), MACs from torch's own ``FlopCounterMode``
and from the papers (MobileNetV2: 300M multiply-adds, Sandler et al. 2018, Table 3;
ResNet-50: 4.1G, torchvision's 4.09 GFLOPS entry, counted as MACs).
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import warnings

import pytest

torch = pytest.importorskip("torch")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from accel_models import Layer, UnsupportedModelError, group_by_block, layers_from_torch  # noqa: E402
from ofa_hw import SubnetConfig, build_torch_model, sample_subnets, subnet_graph, subnet_layers  # noqa: E402


# --------------------------------------------------------------- models
def conv_bn_act(cin, cout, kernel=3, stride=1, groups=1, act=nn.ReLU6):
    layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act is not None:
        layers.append(act(inplace=True))
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        mid = cin * expand
        self.use_res_connect = stride == 1 and cin == cout
        layers = [conv_bn_act(cin, mid, 1)] if expand != 1 else []
        layers += [conv_bn_act(mid, mid, 3, stride, groups=mid), nn.Conv2d(mid, cout, 1, bias=False),
                   nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2 1.0 as in Sandler et al. 2018, Table 2 (module layout of torchvision)."""

    SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                (6, 320, 1, 1))

    def __init__(self, n_classes=1000):
        super().__init__()
        features = [conv_bn_act(3, 32, 3, 2)]
        cin = 32
        for t, c, n, s in self.SETTINGS:
            for i in range(n):
                features.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        features.append(conv_bn_act(cin, 1280, 1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, n_classes))

    def forward(self, x):
        x = F.adaptive_avg_pool2d(self.features(x), (1, 1))
        return self.classifier(torch.flatten(x, 1))


class Bottleneck(nn.Module):
    def __init__(self, cin, width, stride, downsample):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width)
        self.conv2, self.bn2 = nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width)
        self.conv3, self.bn3 = nn.Conv2d(width, 4 * width, 1, bias=False), nn.BatchNorm2d(4 * width)
        self.relu = nn.ReLU(inplace=True)  # one module called three times, as in torchvision
        self.downsample = (nn.Sequential(nn.Conv2d(cin, 4 * width, 1, stride, bias=False),
                                         nn.BatchNorm2d(4 * width)) if downsample else None)

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet50(nn.Module):
    """ResNet-50 (He et al. 2016, v1.5 stride placement as in torchvision)."""

    def __init__(self, n_classes=1000):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for i, (width, blocks, stride) in enumerate(((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))):
            stage = []
            for b in range(blocks):
                stage.append(Bottleneck(cin, width, stride if b == 0 else 1, downsample=b == 0))
                cin = 4 * width
            setattr(self, f"layer{i + 1}", nn.Sequential(*stage))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(2048, n_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def torch_macs(model, shape) -> int:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(torch.zeros(1, *shape))
    flops = counter.get_total_flops()
    assert flops % 2 == 0
    return flops // 2


def weight_count(model) -> int:
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))


@pytest.fixture(scope="module")
def mobilenet_v2():
    return MobileNetV2().eval()


@pytest.fixture(scope="module")
def resnet50():
    return ResNet50().eval()


# --------------------------------------------------------------- OFA
OFA_CONFIGS = [
    SubnetConfig.smallest(r=160),
    SubnetConfig.largest(r=224),
    SubnetConfig.largest(r=192, width_mult=1.0),
    *sample_subnets(2, seed=3),
]


@pytest.mark.parametrize("tracer", ["fx", "eager"])
@pytest.mark.parametrize("cfg", OFA_CONFIGS, ids=lambda c: f"r{c.r}-d{''.join(map(str, c.d))}")
def test_ofa_subnet_matches_subnet_layers(cfg, tracer):
    """Layers, graph and units (each block one unit, named by OFA's table key) as ``subnet_layers`` builds them."""
    expected = subnet_layers(cfg)
    got = layers_from_torch(build_torch_model(cfg, seed=0), (3, cfg.r, cfg.r), tracer=tracer)
    assert [layer.name for layer in got] == [layer.name for layer in expected]
    for mine, theirs in zip(got, expected, strict=True):
        assert mine == theirs, mine.name
    ungrouped = layers_from_torch(build_torch_model(cfg, seed=0), (3, cfg.r, cfg.r), tracer=tracer,
                                  group_blocks=False)
    assert ungrouped == tuple(dataclasses.replace(layer, block="") for layer in expected)


def test_proxyless_subnet_units_match_subnet_layers():
    cfg = SubnetConfig((3, 5, 7, 5) * 6, (6, 4, 3, 4) * 6, (4, 2, 3, 2, 4, 1), r=144, width_mult=1.3)
    expected = subnet_layers(cfg)
    got = layers_from_torch(build_torch_model(cfg, seed=0), (3, cfg.r, cfg.r))
    assert [dataclasses.replace(layer, block="") for layer in got] == \
        [dataclasses.replace(layer, block="") for layer in expected]
    assert [len(u) for u in group_by_block(got)] == [len(u) for u in group_by_block(expected)]
    mbconv = [layer for layer in got if layer.name.startswith("blocks.")]
    assert all(a.block == b.block for a, b in zip(mbconv, [x for x in expected if x.name.startswith("blocks.")],
                                                   strict=True))


# ------------------------------------------- MobileNetV2 and ResNet-50
@pytest.mark.parametrize("net, exact, published, rel", [
    ("mobilenet_v2", 300_774_272, 300e6, 0.005),  # Sandler et al. 2018: 300M multiply-adds
    ("resnet50", 4_089_184_256, 4.1e9, 0.01),  # torchvision: 4.09 GFLOPS (MACs); He et al.: 3.8 GFLOPs (v1)
])
def test_macs_match_torch_and_the_published_figure(net, exact, published, rel, request):
    model = request.getfixturevalue(net)
    layers = layers_from_torch(model, (3, 224, 224))
    macs = sum(layer.macs for layer in layers)
    # conv + linear multiply-adds; BN is folded, activations / adds / pools carry no MACs (the papers' convention)
    assert macs == torch_macs(model, (3, 224, 224)) == exact
    assert macs == pytest.approx(published, rel=rel)
    assert sum(layer.weight_count for layer in layers) == weight_count(model)


def test_mobilenet_v2_blocks_are_units_with_ofa_keys(mobilenet_v2):
    units = group_by_block(layers_from_torch(mobilenet_v2, (3, 224, 224)))
    # stem, 17 inverted-residual blocks, final 1x1 conv, pool, classifier (Sandler et al. 2018, Table 2)
    assert [len(u) for u in units] == [1, 2] + [3, 4] * 1 + [3, 4, 4, 3, 4, 4, 4, 3, 4, 4, 3, 4, 4, 3] + [1, 1, 1]
    assert units[1][0].block == ("expanded_conv-input:112x112x32-output:112x112x16-expand:32-kernel:3-stride:1"
                                 "-idskip:0-se:0-hs:0")
    assert units[3][-1].name == "features.3.add" and units[3][0].block == units[3][-1].block


def test_resnet_blocks_are_units_named_by_module(resnet50):
    units = group_by_block(layers_from_torch(resnet50, (3, 224, 224)))
    assert [u[0].block for u in units[:4]] == ["", "", "layer1.0", "layer1.1"]
    assert [layer.name for layer in units[2]] == ["layer1.0.conv1", "layer1.0.conv2", "layer1.0.conv3",
                                                  "layer1.0.downsample", "layer1.0.add"]


def test_mobilenet_v2_structure(mobilenet_v2):
    layers = layers_from_torch(mobilenet_v2, (3, 224, 224))
    ops = [layer.op for layer in layers]
    assert ops.count("dwconv") == 17 and ops.count("add") == 10 and ops.count("fc") == 1
    assert ops.count("conv") == 1 and ops.count("pwconv") == 34 and ops.count("act") == 0
    by_name = {layer.name: layer for layer in layers}
    stem = by_name["features.0"]  # Sequential(conv, bn, relu6) is named after its container
    assert (stem.op, stem.out_shape, stem.activation, stem.bias, stem.stride) == ("conv", (32, 112, 112), "relu6",
                                                                                  True, 2)
    project = by_name["features.2.conv.2"]  # the linear bottleneck: no activation
    assert (project.op, project.activation, project.in_shape, project.out_shape) == \
        ("pwconv", "none", (96, 56, 56), (24, 56, 56))
    add = by_name["features.3.add"]
    assert add.inputs == ("features.2.conv.2", "features.3.conv.2") and add.activation == "none"
    assert by_name["pool"].in_shape == (1280, 7, 7) and by_name["pool"].kernel == 7
    assert layers[-1].name == "classifier" and layers[-1].inputs == ("pool",)
    assert layers[-1].in_shape == (1280, 1, 1) and layers[-1].out_shape == (1000, 1, 1)


def test_resnet50_structure_and_graph(resnet50):
    layers = layers_from_torch(resnet50, (3, 224, 224))
    ops = [layer.op for layer in layers]
    assert len(layers) == 72  # 53 convs, max pool, 16 adds, global pool, fc
    assert ops.count("add") == 16 and ops.count("maxpool") == 1 and ops.count("pool") == 1
    by_name = {layer.name: layer for layer in layers}
    assert by_name["conv1"].activation == "relu" and by_name["conv1"].out_shape == (64, 112, 112)
    pool = by_name["maxpool"]
    assert (pool.kernel, pool.stride, pool.pad, pool.out_shape) == (3, 2, 1, (64, 56, 56))
    add = by_name["layer1.0.add"]
    # the ReLU after `out += identity` is fused into the add
    assert add.activation == "relu" and add.inputs == ("layer1.0.conv3", "layer1.0.downsample")
    assert by_name["layer1.0.downsample"].inputs == ("maxpool",)
    assert by_name["layer1.1.add"].inputs == ("layer1.0.add", "layer1.1.conv3")
    assert by_name["layer2.0.conv2"].stride == 2 and by_name["layer2.0.conv2"].out_shape == (128, 28, 28)
    graph = subnet_graph(layers)
    assert graph.number_of_nodes() == 73 and graph.in_degree("input") == 0
    assert sum(1 for n in graph if graph.in_degree(n) == 2) == 16


@pytest.mark.parametrize("net", ["mobilenet_v2", "resnet50"])
def test_fx_and_eager_capture_agree(net, request):
    model = request.getfixturevalue(net)
    assert layers_from_torch(model, (3, 96, 96), tracer="fx") == layers_from_torch(model, (3, 96, 96),
                                                                                   tracer="eager")


# ---------------------------------------------------- functional forms
class Functional(nn.Module):
    """The same ops written functionally: F.relu, torch.add, x.mean, F.max_pool2d, a Linear SE."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, padding=1)
        self.body = nn.Conv2d(16, 16, 3, padding=1, groups=16)
        self.fc1, self.fc2 = nn.Linear(16, 4), nn.Linear(4, 16)
        self.head = nn.Linear(16, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.stem(x)), 2)
        y = F.hardswish(self.body(x))
        s = F.hardsigmoid(self.fc2(F.relu(self.fc1(y.mean((2, 3))))))
        y = y * s.view(s.shape[0], -1, 1, 1)
        x = torch.add(x, y)
        return self.head(x.mean(dim=[-2, -1]))


@pytest.mark.parametrize("tracer", ["fx", "eager"])
def test_functional_ops_and_linear_squeeze_excitation(tracer):
    layers = layers_from_torch(Functional(), (1, 3, 32, 32), tracer=tracer)
    summary = [(layer.name, layer.op, layer.activation, layer.inputs) for layer in layers]
    assert summary == [
        ("stem", "conv", "relu", ("input",)),
        ("maxpool", "maxpool", "none", ("stem",)),
        ("body", "dwconv", "h_swish", ("maxpool",)),
        ("pool", "pool", "none", ("body",)),
        ("fc1", "se_fc", "relu", ("pool",)),
        ("fc2", "se_fc", "h_sigmoid", ("fc1",)),
        ("scale", "scale", "none", ("body", "fc2")),
        ("add", "add", "none", ("maxpool", "scale")),
        ("pool_1", "pool", "none", ("add",)),
        ("head", "fc", "none", ("pool_1",)),
    ]
    assert layers[1].out_shape == (16, 16, 16) and layers[1].kernel == layers[1].stride == 2


def test_activation_that_cannot_fuse_is_its_own_layer():
    class TwoUsers(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 1)
            self.act = nn.ReLU()

        def forward(self, x):
            y = self.conv(x)
            return self.act(y) + y  # the conv output is read twice: the ReLU cannot fuse

    layers = layers_from_torch(TwoUsers(), (4, 8, 8))
    assert [(layer.name, layer.op, layer.activation) for layer in layers] == \
        [("conv", "pwconv", "none"), ("act", "act", "relu"), ("add", "add", "none")]
    assert layers[2].inputs == ("conv", "act")


def test_grouped_and_padded_convs_keep_their_geometry():
    model = nn.Sequential(nn.Conv2d(8, 16, 3, stride=2, padding=0, groups=4), nn.Conv2d(16, 32, 5, padding="same"),
                          nn.Conv2d(32, 32, 3, padding="valid", groups=32, bias=False))
    first, second, third = layers_from_torch(model, (8, 17, 17))
    assert (first.op, first.groups, first.padding, first.out_shape) == ("conv", 4, 0, (16, 8, 8))
    assert (second.padding, second.pad, second.out_shape) == (None, 2, (32, 8, 8))
    assert (third.op, third.padding, third.bias, third.out_shape) == ("dwconv", 0, False, (32, 6, 6))


# ------------------------------------------------------------- property
@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([1, 3, 5, 7]), st.integers(1, 3), st.integers(0, 3),
                          st.sampled_from(["dense", "depthwise", "grouped"]), st.integers(1, 3)),
                min_size=1, max_size=4),
       st.integers(12, 40))
def test_random_conv_stacks_match_torch_shapes_and_flops(specs, size):
    modules, cin, h = [], 4, size
    for kernel, stride, pad, kind, widen in specs:
        pad = min(pad, kernel // 2 + 1)
        if h + 2 * pad < kernel:
            continue
        groups = {"dense": 1, "depthwise": cin, "grouped": 2}[kind]
        cout = cin if kind == "depthwise" else 4 * widen
        modules.append(nn.Conv2d(cin, cout, kernel, stride, pad, groups=groups))
        cin, h = cout, (h + 2 * pad - kernel) // stride + 1
    if not modules:
        return
    model = nn.Sequential(*modules)
    layers = layers_from_torch(model, (4, size, size))
    with torch.no_grad():
        out = model(torch.zeros(1, 4, size, size))
    assert layers[-1].out_shape == tuple(out.shape[1:])
    assert sum(layer.macs for layer in layers) == torch_macs(model, (4, size, size))
    for layer, module in zip(layers, modules, strict=True):
        assert layer.kernel == module.kernel_size[0] and layer.stride == module.stride[0]
        assert layer.pad == module.padding[0] and layer.groups == module.groups


# ------------------------------------------------------------ bad input
@pytest.mark.parametrize("model, match", [
    (nn.Sequential(nn.Conv2d(3, 4, 3), nn.Upsample(scale_factor=2)), r"module '1' \(Upsample\)"),
    (nn.Sequential(nn.Conv2d(3, 4, 3), nn.SiLU()), r"module '1' \(SiLU\)"),
    (nn.Sequential(nn.Conv2d(3, 4, 3, dilation=2)), "dilated"),
    (nn.Sequential(nn.Conv2d(3, 4, (3, 1))), "kernel_size .* differs"),
    (nn.Sequential(nn.BatchNorm2d(3), nn.Conv2d(3, 4, 3)), "BatchNorm can only be folded"),
    (nn.Sequential(nn.Conv2d(3, 4, 3), nn.MaxPool2d(2, ceil_mode=True)), "ceil_mode=True"),
    (nn.Sequential(nn.Conv2d(3, 4, 3), nn.ConvTranspose2d(4, 4, 2)), "ConvTranspose2d"),
])
@pytest.mark.parametrize("tracer", ["fx", "eager"])
def test_unsupported_ops_are_named(model, match, tracer):
    with pytest.raises(UnsupportedModelError, match=match):
        layers_from_torch(model, (3, 15, 15), tracer=tracer)


class Concat(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 4, 1), nn.Conv2d(3, 4, 1)

    def forward(self, x):
        return torch.cat([self.a(x), self.b(x)], 1)


class ShapeBranch(nn.Module):
    """Python control flow on a tensor value: torch.fx cannot trace it."""

    def __init__(self):
        super().__init__()
        self.small, self.large = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(3, 4, 5, padding=2)

    def forward(self, x):
        return self.small(x) if x.sum() >= 0 else self.large(x)


class Product(nn.Module):
    def forward(self, x):
        return x * x


class AddConstant(nn.Module):
    def forward(self, x):
        return x + 1.0


@pytest.mark.parametrize("model, match", [
    (Product(), r"call 'mul' in the root module .*only a channel scale"),
    (AddConstant(), r"call 'add' in the root module .*constant operands are not supported"),
])
@pytest.mark.parametrize("tracer", ["fx", "eager"])
def test_element_wise_ops_outside_the_layer_model(model, match, tracer):
    with pytest.raises(UnsupportedModelError, match=match):
        layers_from_torch(model, (3, 8, 8), tracer=tracer)


@pytest.mark.parametrize("tracer", ["fx", "eager"])
def test_functional_unsupported_op_names_the_node(tracer):
    with pytest.raises(UnsupportedModelError, match=r"call 'cat' in the root module"):
        layers_from_torch(Concat(), (3, 8, 8), tracer=tracer)


def test_untraceable_model_falls_back_to_eager_with_a_warning():
    with pytest.warns(UserWarning, match="torch.fx cannot trace ShapeBranch"):
        layers = layers_from_torch(ShapeBranch(), (3, 8, 8))
    assert [(layer.name, layer.kernel) for layer in layers] == [("small", 3)]
    with pytest.raises(UnsupportedModelError, match="tracer='eager'"):
        layers_from_torch(ShapeBranch(), (3, 8, 8), tracer="fx")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert layers_from_torch(ShapeBranch(), (3, 8, 8), tracer="eager") == layers


@pytest.mark.parametrize("shape", [(3, 8), (2, 3, 8, 8), (3, 0, 8), (3, 8.5, 8), "3x8x8"])
def test_bad_input_shape(shape):
    with pytest.raises(ValueError, match="input_shape must be"):
        layers_from_torch(nn.Conv2d(3, 4, 1), shape)


def test_bad_tracer_and_bits():
    model = nn.Sequential(nn.Conv2d(3, 4, 1))
    with pytest.raises(ValueError, match="unknown tracer 'jit'; allowed: auto, fx, eager"):
        layers_from_torch(model, (3, 8, 8), tracer="jit")
    with pytest.raises(ValueError, match="weight_bits must be a positive integer"):
        layers_from_torch(model, (3, 8, 8), weight_bits=0)
    (layer,) = layers_from_torch(model, (3, 8, 8), weight_bits=4, act_bits=16)
    assert (layer.weight_bits, layer.act_bits) == (4, 16)


@pytest.mark.parametrize("tracer", ["fx", "eager"])
def test_input_shape_the_model_cannot_take(tracer):
    with pytest.raises(ValueError, match=r"Sequential does not run on an input of shape \(1, 4, 8, 8\)"):
        layers_from_torch(nn.Sequential(nn.Conv2d(3, 4, 1)), (4, 8, 8), tracer=tracer)


def test_model_mode_is_restored_and_weights_untouched():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout()).train()
    model[2].eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    layers_from_torch(model, (3, 8, 8))
    assert [m.training for m in model.modules()] == [True, True, True, False]
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_importing_accel_models_does_not_import_torch():
    code = "import sys, accel_models; from accel_models import layers_from_torch; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_layers_are_plain_layers():
    (layer,) = layers_from_torch(nn.Sequential(nn.Conv2d(3, 4, 1)), (3, 8, 8))
    assert isinstance(layer, Layer) and Layer.from_dict(layer.to_dict()) == layer
