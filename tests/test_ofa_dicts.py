"""SubnetConfig.from_dict on every dict form OFA and its ecosystem write."""

import ast
import csv
import json

import pytest

from ofa_hw.layers import subnet_blocks
from ofa_hw.space import SubnetConfig


def test_dynast_dicts_with_wid_and_list_resolution(shared_data):
    path = shared_data / "accuracy" / "mbnv3w10_evoga_acc.csv"
    row = next(csv.DictReader(path.open()))
    data = ast.literal_eval(row["Sub-network"])
    cfg = SubnetConfig.from_dict(data, width_mult=1.0)
    assert cfg.r == 224 and cfg.d == tuple(data["d"]) and cfg.width_mult == 1.0
    active = [4 * s + i for s in range(5) for i in range(cfg.d[s])]
    assert [cfg.ks[i] for i in active] == [data["ks"][i] for i in active]


@pytest.mark.filterwarnings("ignore:resolution.*outside the range:UserWarning")  # flops@224+ nets
def test_all_specialized_nets_parse_and_their_blocks_agree(shared_data):
    nets = json.loads((shared_data / "ofa" / "ofa_specialized_nets.json").read_text())
    parsed = {"MobileNetV3": 0, "ProxylessNASNets": 0}
    for name, entry in nets.items():
        cfg = SubnetConfig.from_dict(entry)
        assert cfg.r == entry["image_size"]
        assert cfg.width_mult == float(entry["supernet"][-3:])
        # the decoded blocks in the file are an independent description: compare shapes
        mb = [s for s in subnet_blocks(cfg) if s.kind == "mbconv"]
        assert [[s.in_shape[0], s.out_channels, s.kernel, s.stride, s.mid, s.activation, s.se] for s in mb[1:]] == \
            [[b[0], b[1], b[2], b[3], b[5], b[6], b[7]] for b in entry["blocks"][1:]], name
        assert [mb[0].in_shape[0], mb[0].out_channels, mb[0].activation] == [entry["blocks"][0][i] for i in (0, 1, 6)]
        parsed[entry["net_name"]] += 1
    assert parsed == {"MobileNetV3": 34, "ProxylessNASNets": 16}


def test_specialized_entry_with_tampered_block_is_rejected(shared_data):
    nets = json.loads((shared_data / "ofa" / "ofa_specialized_nets.json").read_text())
    entry = nets["LG-G8_lat-11ms_top1-73.0_finetune-25"]
    entry["blocks"][3][2] = 7  # kernel of block 3 no longer matches ks
    with pytest.raises(ValueError, match=r"blocks\[3\]"):
        SubnetConfig.from_dict(entry)


def _net_config(cfg: SubnetConfig) -> dict:
    """An OFA net.config as ``get_active_net_config`` writes it."""
    specs = subnet_blocks(cfg)
    blocks = []
    for n, spec in enumerate(s for s in specs if s.kind == "mbconv"):
        expand = spec.mid // spec.in_shape[0] if n else 1
        blocks.append({"name": "ResidualBlock", "conv": {
            "name": "MBConvLayer", "in_channels": spec.in_shape[0], "out_channels": spec.out_channels,
            "kernel_size": spec.kernel, "stride": spec.stride, "expand_ratio": expand, "mid_channels": spec.mid,
            "act_func": spec.activation, "use_se": spec.se, "groups": None},
            "shortcut": {"name": "IdentityLayer"} if spec.identity_skip else None})
    head = {"final_expand_layer": {}} if cfg.space.family == "mbv3" else {}
    return {"name": cfg.space.net_name, "bn": {"momentum": 0.1, "eps": 1e-5},
            "first_conv": {"name": "ConvLayer", "in_channels": 3, "out_channels": specs[0].out_channels},
            "blocks": blocks, **head, "feature_mix_layer": {}, "classifier": {}}


@pytest.mark.parametrize("width", [1.0, 1.2, 1.3])
def test_net_config_round_trip(width):
    stages = 6 if width == 1.3 else 5
    cfg = SubnetConfig((3, 5, 7, 3) * stages, (3, 4, 6, 4) * stages, (2, 3, 4, 3, 2, 1)[:stages], r=192,
                       width_mult=width)
    assert SubnetConfig.from_dict(_net_config(cfg), r=192) == cfg
    legacy = _net_config(cfg)
    for block in legacy["blocks"]:
        block["mobile_inverted_conv"] = block.pop("conv")
    assert SubnetConfig.from_dict(legacy, r=192) == cfg
    with pytest.raises(ValueError, match="pass r="):
        SubnetConfig.from_dict(_net_config(cfg))


@pytest.mark.parametrize(
    "data, message",
    [
        ({"ks": [3] * 20, "e": [3] * 20, "d": [2] * 5, "r": 224, "depth": 3}, r"unknown key\(s\) \['depth'\]"),
        ({"ks": [3] * 20, "e": [3] * 20, "d": [2] * 5}, "no resolution"),
        ({"ks": [3] * 20, "e": [3] * 20, "d": [2] * 5, "r": [160, 224]}, "one resolution"),
        ({"ks": [3] * 20, "e": [3] * 20, "d": [2] * 5, "r": 224, "image_size": 160}, "conflicting values for r"),
        ({"ks": [3] * 20, "e": [3] * 20, "d": [2] * 5, "r": 224, "wid": 2}, "wid"),
        ({"ks": [3] * 20, "e": [3] * 20, "r": 224}, r"lacks key\(s\) \['d'\]"),
        ({"supernet": "ofa_resnet50", "ks": [3] * 20, "e": [3] * 20, "d": [2] * 5, "r": 224}, "not an OFA space"),
        ({"supernet": "ofa_proxyless_d234_e346_k357_w1.3", "net_name": "MobileNetV3", "ks": [3] * 21, "e": [3] * 21,
          "d": [2] * 5 + [1], "r": 224}, "does not match ofa-proxyless-w1.3"),
        ([1, 2, 3], "expected a dict"),
    ],
)
def test_bad_dicts(data, message):
    with pytest.raises(ValueError, match=message):
        SubnetConfig.from_dict(data)


def test_image_size_key_and_width_option():
    cfg = SubnetConfig.from_dict({"ks": [5] * 20, "e": [6] * 20, "d": [4] * 5, "image_size": 176, "wid": None},
                                 width_mult=1.0)
    assert cfg == SubnetConfig.uniform(5, 6, 4, r=176, width_mult=1.0)
    with pytest.raises(ValueError, match="conflicting values for width_mult"):
        SubnetConfig.from_dict(cfg.to_dict(), width_mult=1.2)
