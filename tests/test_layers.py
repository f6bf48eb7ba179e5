"""Sub-network -> layers: structure, MACs and parameters against independent counts."""

import ast
import csv
import json
from itertools import pairwise

import networkx as nx
import numpy as np
import pytest
import yaml

from ofa_hw.layers import (
    block_keys,
    count_macs,
    count_params,
    make_divisible,
    subnet_blocks,
    subnet_graph,
    subnet_layers,
)
from ofa_hw.space import SubnetConfig, sample_subnets


def _measured_rows(shared_data):
    for path in sorted((shared_data / "accuracy").glob("mbnv3w10_*.csv")):
        yield from csv.DictReader(path.open())


def test_macs_and_params_match_the_measured_dataset_exactly(shared_data):
    """DyNAS-T's MACs / parameter columns (their own counter) on every w1.0 config."""
    rows = list(_measured_rows(shared_data))
    assert len(rows) > 2000
    mac_mismatch = param_mismatch = 0
    for row in rows:
        cfg = SubnetConfig.from_dict(ast.literal_eval(row["Sub-network"]), width_mult=1.0)
        mac_mismatch += count_macs(cfg) != int(row["MACs"])
        param_mismatch += count_params(cfg) != int(row["Model Parameters"])
    assert mac_mismatch == 0
    assert param_mismatch == 0


def _proxyless_counts_from_blocks(entry: dict) -> tuple[int, int]:
    """MACs and parameters of a ProxylessNAS specialized net from its decoded ``blocks`` alone.

    OFA's convention (``count_net_flops`` / ``count_parameters``): conv and
    linear multiply-accumulates; conv weights, BN scale and shift, linear
    weight and bias.  Written from ProxylessNASNets' structure: first conv
    3x3/2 with BN, the blocks, a 1x1 feature-mix conv with BN on the last
    map (before the pool), the classifier.
    """
    size = (entry["image_size"] + 2 - 3) // 2 + 1
    stem = entry["blocks"][0][0]
    macs, params = 3 * stem * 9 * size ** 2, 3 * stem * 9 + 2 * stem
    for cin, cout, k, stride, _, mid, _, _ in entry["blocks"]:
        if mid is None:  # first block, expand 1: no 1x1 expansion
            mid = cin
        else:
            macs, params = macs + cin * mid * size ** 2, params + cin * mid + 2 * mid
        size = (size + 2 * (k // 2) - k) // stride + 1
        macs += mid * k * k * size ** 2 + mid * cout * size ** 2
        params += mid * k * k + 2 * mid + mid * cout + 2 * cout
    last, mix = entry["blocks"][-1][1], 1664
    macs += last * mix * size ** 2 + mix * 1000
    params += last * mix + 2 * mix + mix * 1000 + 1000
    return macs, params


def test_proxyless_macs_and_params_match_the_16_specialized_nets(shared_data):
    """OFA's 16 ProxylessNAS (w1.3) specialized nets: our counts against a count from their decoded blocks."""
    nets = json.loads((shared_data / "ofa" / "ofa_specialized_nets.json").read_text())
    proxyless = [entry for entry in nets.values() if entry["supernet"] == "ofa_proxyless_d234_e346_k357_w1.3"]
    assert len(proxyless) == 16
    for entry in proxyless:
        cfg = SubnetConfig.from_dict(entry)
        assert (count_macs(cfg), count_params(cfg)) == _proxyless_counts_from_blocks(entry)
    # ProxylessNAS's published mobile net is 320 M MACs / 4.1 M params at w1.0, r 224; the w1.3 space's nets
    # at r 128..208 lie at 121..397 M MACs and 4.2..6.5 M params
    macs = sorted(count_macs(SubnetConfig.from_dict(e)) for e in proxyless)
    assert 120e6 < macs[0] and macs[-1] < 400e6


def test_proxyless_layer_structure_follows_ofa():
    layers = subnet_layers(SubnetConfig.smallest(r=128, width_mult=1.3))
    by_name = {layer.name: layer for layer in layers}
    assert layers[0].name == "first_conv" and layers[0].activation == "relu6" and layers[0].out_shape == (40, 64, 64)
    assert "blocks.0.conv.inverted_bottleneck" not in by_name
    assert by_name["blocks.0.conv.depth_conv"].activation == "relu6"
    assert not any(layer.op in ("se_fc", "scale") or layer.activation == "h_swish" for layer in layers)
    assert [layer.name for layer in layers[-3:]] == ["feature_mix_layer", "global_avg_pool", "classifier"]
    assert by_name["feature_mix_layer"].in_shape == (416, 4, 4) and by_name["feature_mix_layer"].out_shape[0] == 1664
    assert by_name["blocks.11.conv.depth_conv"].in_shape[0] == 248 * 3  # the single block of stage 6, expand 3
    assert block_keys(SubnetConfig.smallest(r=128, width_mult=1.3))[-3] == "Conv_1-input:4x4x416-output:4x4x1664"


def test_macs_hand_computed_for_the_smallest_w1_net():
    """Hand count of the min net (k3 e3 d2, w1.0) at r=32: spatial 16,16,8,4,2,2,1."""
    with pytest.warns(UserWarning, match="outside the range"):
        cfg = SubnetConfig.smallest(r=32, width_mult=1.0)
    stem = 16 * 3 * 9 * 16 * 16
    first = 16 * 9 * 16 * 16 + 16 * 16 * 16 * 16  # dw 3x3 + project 1x1

    def block(cin, cout, h_in, h_out, se):
        mid = 3 * cin
        se_macs = 2 * mid * make_divisible(mid // 4) if se else 0
        return cin * mid * h_in * h_in + mid * 9 * h_out * h_out + se_macs + mid * cout * h_out * h_out

    blocks = (block(16, 24, 16, 8, False) + block(24, 24, 8, 8, False)
              + block(24, 40, 8, 4, True) + block(40, 40, 4, 4, True)
              + block(40, 80, 4, 2, False) + block(80, 80, 2, 2, False)
              + block(80, 112, 2, 2, True) + block(112, 112, 2, 2, True)
              + block(112, 160, 2, 1, True) + block(160, 160, 1, 1, True))
    head = 160 * 960 * 1 + 960 * 1280 + 1280 * 1000
    assert count_macs(cfg) == stem + first + blocks + head


def test_layer_structure_follows_ofa_mbv3():
    cfg = SubnetConfig.largest(r=224)
    layers = subnet_layers(cfg)
    by_name = {layer.name: layer for layer in layers}
    assert layers[0].name == "first_conv" and layers[0].activation == "h_swish"
    assert layers[0].out_shape == (24, 112, 112)
    assert "blocks.0.conv.inverted_bottleneck" not in by_name  # expand ratio 1
    assert by_name["blocks.0.add"].inputs == ("first_conv", "blocks.0.conv.point_linear")
    se_blocks = {name.split(".")[1] for name in by_name if ".se." in name}
    # stage s (1-based in OFA) blocks: 1-4, 5-8, 9-12, 13-16, 17-20; SE in stages 2, 4, 5
    assert se_blocks == {str(i) for i in [*range(5, 9), *range(13, 21)]}
    assert by_name["blocks.5.conv.depth_conv.se.fc.reduce"].out_shape == (make_divisible(32 * 6 // 4), 1, 1)
    assert by_name["blocks.9.conv.depth_conv"].activation == "h_swish"
    assert by_name["blocks.8.conv.depth_conv"].activation == "relu"
    assert by_name["blocks.1.conv.depth_conv"].stride == 2 and by_name["blocks.13.conv.depth_conv"].stride == 1
    assert "blocks.1.add" not in by_name and "blocks.2.add" in by_name
    assert layers[-4].name == "final_expand_layer" and layers[-4].out_shape == (1152, 7, 7)
    assert layers[-2].name == "feature_mix_layer" and not layers[-2].bias
    assert layers[-1].out_shape == (1000, 1, 1)


def test_graph_is_a_dag_in_execution_order():
    cfg = SubnetConfig.uniform(5, 4, 3, r=192)
    layers = subnet_layers(cfg)
    graph = subnet_graph(cfg)
    assert nx.is_directed_acyclic_graph(graph)
    assert graph.number_of_nodes() == len(layers) + 1
    order = {name: i for i, name in enumerate(nx.topological_sort(graph))}
    assert all(order[a] < order[b] for a, b in graph.edges)
    adds = [layer for layer in layers if layer.op == "add"]
    assert adds and all(graph.in_degree(layer.name) == 2 for layer in adds)
    assert list(nx.descendants(graph, "input")) and nx.has_path(graph, "input", "classifier")


@pytest.mark.parametrize("r", range(160, 225, 4))
def test_block_keys_cover_ofas_own_lookup_table(shared_data, r):
    """OFA's Note10 table lists every unit of the w1.2 space at r: our keys must be exactly those."""
    table_keys = set(yaml.safe_load((shared_data / "note10" / f"{r}_lookup_table.yaml").read_text()))
    catalog = sample_subnets(3000, seed=r, resolutions=[r]).block_catalog()
    assert set(catalog.keys) == table_keys


def test_catalog_totals_equal_per_network_sums():
    batch = sample_subnets(300, seed=7)
    catalog = batch.block_catalog()
    macs = np.array([sum(layer.macs for layer in unit) for unit in catalog.layers])
    totals = catalog.total(macs)
    for i in range(0, 300, 37):
        assert totals[i] == count_macs(batch[i])
        assert catalog.network_keys(i) == block_keys(batch[i])
    assert (catalog.counts() == 2 + batch.d.sum(axis=1) + 4).all()
    assert catalog.total(np.stack([macs, 2 * macs])).shape == (2, 300)


def test_blocks_chain_shapes():
    for cfg in sample_subnets(50, seed=1):
        specs = subnet_blocks(cfg)
        for prev, nxt in pairwise(specs):
            assert prev.out_shape == nxt.in_shape


@pytest.mark.parametrize("r", [160, 224])
def test_every_key_parses_back_to_its_unit(shared_data, r):
    from accel_models.blocks import BlockSpec

    for key in yaml.safe_load((shared_data / "note10" / f"{r}_lookup_table.yaml").read_text()):
        spec = BlockSpec.from_key(key)
        assert spec.key == key
        assert spec.layers()  # expands into valid layers


@pytest.mark.parametrize(
    "key, message",
    [
        ("expanded_conv-input:28x28x48-output:28x28x48-expand:144-kernel:3-stride:1-idskip:0-se:0-hs:0",
         "inconsistent"),
        ("expanded_conv-input:28x28x48-output:14x14x48-expand:144-kernel:3-stride:1-idskip:0-se:0-hs:0",
         "inconsistent"),
        ("Conv2D-input:1x1x3-output:1x1x3", "unrecognised block key"),
    ],
)
def test_bad_keys_are_rejected(key, message):
    from accel_models.blocks import BlockSpec

    with pytest.raises(ValueError, match=message):
        BlockSpec.from_key(key)


def test_catalog_over_fixed_resolutions_is_stable():
    resolutions = range(128, 225, 4)
    a = sample_subnets(50, seed=1, resolutions=[160, 224]).block_catalog(resolutions)
    b = sample_subnets(70, seed=2, resolutions=[128, 192]).block_catalog(resolutions)
    assert a.keys == b.keys and a.layers is b.layers
    for cat, batch in ((a, sample_subnets(50, seed=1, resolutions=[160, 224])),
                       (b, sample_subnets(70, seed=2, resolutions=[128, 192]))):
        assert all(cat.network_keys(i) == block_keys(batch[i]) for i in range(0, len(batch), 9))
    with pytest.raises(ValueError, match="not among the catalogue's resolutions"):
        sample_subnets(5, seed=0, resolutions=[200]).block_catalog([160, 224])
