"""The torch sub-network: runs, matches our counts, carries OFA's names."""

import subprocess
import sys

import pytest

from ofa_hw import SubnetConfig, build_torch_model, count_macs, count_params

torch = pytest.importorskip("torch")


@pytest.mark.parametrize(
    "cfg",
    [SubnetConfig.largest(r=224), SubnetConfig.smallest(r=128, width_mult=1.0),
     SubnetConfig((3, 5, 7, 5) * 5, (6, 4, 3, 4) * 5, (4, 2, 3, 2, 4), r=172),
     SubnetConfig((3, 5, 7, 5) * 6, (6, 4, 3, 4) * 6, (4, 2, 3, 2, 4, 1), r=144, width_mult=1.3)],
    ids=["max-w1.2", "min-w1.0", "mixed", "proxyless-w1.3"],
)
def test_forward_flops_and_params(cfg):
    from torch.utils.flop_counter import FlopCounterMode

    model = build_torch_model(cfg, seed=0)
    x = torch.randn(2, 3, cfg.r, cfg.r)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        y = model(x)
    assert y.shape == (2, 1000) and torch.isfinite(y).all()
    assert counter.get_total_flops() == 2 * 2 * count_macs(cfg)  # FLOPs = 2 x MACs x batch 2
    assert sum(p.numel() for p in model.parameters()) == count_params(cfg)


def test_seeded_weights_are_reproducible_and_leave_global_rng_alone():
    cfg = SubnetConfig.smallest(r=128)
    state = torch.random.get_rng_state()
    a, b = build_torch_model(cfg, seed=1), build_torch_model(cfg, seed=1)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values(), strict=True))
    c = build_torch_model(cfg, seed=2)
    assert not torch.equal(a.first_conv.conv.weight, c.first_conv.conv.weight)


def test_state_dict_names_follow_ofa_and_legacy_names_load():
    cfg = SubnetConfig.uniform(3, 4, 2, r=160)
    model = build_torch_model(cfg, seed=0)
    names = set(model.state_dict())
    for expected in ["first_conv.conv.weight", "first_conv.bn.running_var", "blocks.0.conv.depth_conv.conv.weight",
                     "blocks.1.conv.inverted_bottleneck.conv.weight", "blocks.3.conv.depth_conv.se.fc.reduce.bias",
                     "blocks.1.conv.point_linear.bn.weight", "final_expand_layer.bn.bias",
                     "feature_mix_layer.conv.weight", "classifier.linear.weight"]:
        assert expected in names
    assert "feature_mix_layer.bn.weight" not in names
    legacy = {k.replace(".conv.", ".mobile_inverted_conv.", 1) if k.startswith("blocks.") else k: v * 0 + 1
              for k, v in model.state_dict().items()}
    other = build_torch_model(cfg, seed=5)
    other.load_ofa_state_dict(legacy)
    assert torch.all(other.blocks[1].conv.inverted_bottleneck.conv.weight == 1)


def test_proxyless_state_dict_names_follow_ofas_proxylessnasnets():
    model = build_torch_model(SubnetConfig.uniform(5, 6, 2, r=128, width_mult=1.3), seed=0)
    names = set(model.state_dict())
    for expected in ["first_conv.conv.weight", "first_conv.bn.bias", "blocks.0.conv.depth_conv.conv.weight",
                     "blocks.0.conv.point_linear.bn.running_mean", "blocks.11.conv.inverted_bottleneck.conv.weight",
                     "feature_mix_layer.conv.weight", "feature_mix_layer.bn.weight", "classifier.linear.bias"]:
        assert expected in names
    assert not any("final_expand_layer" in n or ".se." in n for n in names)
    assert isinstance(model.first_conv.act, torch.nn.ReLU6) and model.blocks[11].shortcut is None


def test_importing_ofa_hw_does_not_import_torch():
    code = "import sys, ofa_hw, accel_models; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_config_offers_what_hls_export_needs():
    hls = pytest.importorskip("hls")
    cfg = SubnetConfig.smallest(r=160)
    assert isinstance(cfg, hls.network.NetworkSource)
    model, layers, description, accelerator = hls.network.resolve_source(cfg)
    assert layers == cfg.layers() and description == cfg.to_dict() and accelerator is None
    named = dict(model.named_modules())
    assert all(layer.name in named for layer in layers if layer.op in ("conv", "pwconv", "dwconv", "fc"))
    again = cfg.torch_model()
    assert torch.equal(again.first_conv.conv.weight, model.first_conv.conv.weight)  # seeded by default
