"""Note10: one table per resolution, and whole-network sums equal OFA's per-resolution lookup.

The golden sums are computed here straight from OFA's YAML files (``../shared/data/note10``) with
OFA's own MobileNetV3 w1.2 key construction written out independently of ``ofa_hw.layers``.
"""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from latency_tables import get_predictor, list_tables, load_table
from ofa_hw import sample_subnets, subnet_layers

RESOLUTIONS = list(range(160, 225, 4))
WIDTHS, STRIDES, SE, HS = (32, 48, 96, 136, 192), (2, 2, 2, 1, 2), (0, 1, 0, 1, 1), (0, 0, 1, 1, 1)


def _divisible8(v: float) -> int:  # OFA's make_divisible(v, 8)
    new = max(8, int(v + 4) // 8 * 8)
    return new + 8 if new < 0.9 * v else new


def _ofa_keys(ks, e, d, r) -> list[str]:
    """OFA-MobileNetV3 w1.2 lookup keys of one network, as OFA's MBv3 latency table builds them."""
    size = (r - 1) // 2 + 1
    keys = [f"Conv-input:{r}x{r}x3-output:{size}x{size}x24",
            f"expanded_conv-input:{size}x{size}x24-output:{size}x{size}x24-expand:24-kernel:3-stride:1-idskip:1-se:0-hs:0"]
    channels = 24
    for stage in range(5):
        for j in range(d[stage]):
            slot, stride = stage * 4 + j, STRIDES[stage] if j == 0 else 1
            out = (size - 1) // stride + 1
            skip = int(stride == 1 and channels == WIDTHS[stage])
            keys.append(f"expanded_conv-input:{size}x{size}x{channels}-output:{out}x{out}x{WIDTHS[stage]}"
                        f"-expand:{_divisible8(round(channels * e[slot]))}-kernel:{ks[slot]}-stride:{stride}"
                        f"-idskip:{skip}-se:{SE[stage]}-hs:{HS[stage]}")
            size, channels = out, WIDTHS[stage]
    keys += [f"Conv_1-input:{size}x{size}x192-output:{size}x{size}x1152",
             f"AvgPool2D-input:{size}x{size}x1152-output:1x1x1152",
             "Conv_2-input:1x1x1152-output:1x1x1536", "Logits-input:1x1x1536-output:1000"]
    return keys


def test_one_table_per_resolution_with_the_yaml_entries_as_published(shared_data):
    assert list_tables("note10*") == [f"note10-r{r}" for r in RESOLUTIONS]
    for r in RESOLUTIONS:
        published = yaml.safe_load((shared_data / "note10" / f"{r}_lookup_table.yaml").read_text())
        table = load_table(f"note10-r{r}")
        assert set(table.keys()) == set(published)
        assert all(table.entries[k].mean_ms == v["mean"] and table.entries[k].count == v["count"]
                   for k, v in published.items())


def _ofa_sums(shared_data, batch) -> np.ndarray:
    """Each network's latency summed from OFA's YAML table of its own resolution."""
    published = {r: yaml.safe_load((shared_data / "note10" / f"{r}_lookup_table.yaml").read_text())
                 for r in sorted(set(batch.r.tolist()))}
    return np.array([sum(published[int(r)][k]["mean"] for k in _ofa_keys(ks, e, d, int(r)))
                     for ks, e, d, r in zip(batch.ks, batch.e, batch.d, batch.r, strict=True)])


def test_network_sums_equal_ofas_per_resolution_lookup(shared_data):
    batch = sample_subnets(400, seed=11, resolutions=RESOLUTIONS)
    golden = _ofa_sums(shared_data, batch)
    predictor = get_predictor("note10")
    got = predictor.subnet_latency_ms(batch)
    assert np.max(np.abs(got - golden)) <= 1e-9
    assert predictor.subnet_latency_ms(batch[3])[0] == pytest.approx(golden[3], abs=1e-9)
    assert predictor.breakdown(batch[3]).total_ms == pytest.approx(golden[3], abs=1e-9)
    # the protocol's whole-network call reads the resolution off the network's first layer
    assert predictor.network_latency_ms(subnet_layers(batch[5])) == pytest.approx(golden[5], abs=1e-9)


def test_the_head_keeps_each_resolutions_own_measurement(shared_data):
    head = "Conv_2-input:1x1x1152-output:1x1x1536"
    predictor = get_predictor("note10")
    at160 = yaml.safe_load((shared_data / "note10" / "160_lookup_table.yaml").read_text())[head]["mean"]
    assert predictor.predict_key_ms(head, r=160) == at160 == 0.7474116465863454
    assert predictor.predict_key_ms(head, r=224) != at160


def test_a_resolution_without_a_table_is_modelled_except_the_head():
    predictor = get_predictor("note10").for_resolution(128)
    assert predictor.source("Conv-input:128x128x3-output:64x64x24") == "model"
    assert predictor.source("Logits-input:1x1x1536-output:1000") == "measured"
    with pytest.raises(TypeError, match="needs networks with a resolution"):
        get_predictor("note10").subnet_latency_ms({"ks": [3] * 20})


def test_a_search_on_note10_prices_every_network_on_its_own_resolutions_table(shared_data):
    """The search's latency gather, not only ``subnet_latency_ms``: a key two resolutions share (e.g.
    7x7 blocks at 216-224) takes each resolution's own measurement, so a design within the budget is
    within it on OFA's tables too."""
    import warnings

    from ofa_hw.accuracy import get_predictor as get_accuracy_predictor
    from ofa_hw.search import AcceleratorSpace, Candidates, Evaluator, search_codesign
    from ofa_hw.space import get_space

    note10 = get_predictor("note10")
    evaluator = Evaluator(get_space("ofa-mbv3-w1.2"), RESOLUTIONS, AcceleratorSpace.device(note10.accelerator),
                          note10, get_accuracy_predictor("ofa-mbv3-w1.2", quantization=None, scale="raw"))
    batch = sample_subnets(300, seed=12, resolutions=RESOLUTIONS)
    latency = evaluator.speed(Candidates(batch, np.zeros(len(batch), dtype=np.int64)))[0]
    assert np.max(np.abs(latency - _ofa_sums(shared_data, batch))) <= 1e-9
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = search_codesign(board=None, predictor="note10", latency_ms=25.0, quantization=None,
                                 accuracy_scale="raw", resolutions=(208, 216, 224), budget=3000, seed=0,
                                 progress=False)
    designs = result.pareto
    golden = _ofa_sums(shared_data, type(batch).from_configs([d.subnet for d in designs]))
    assert np.max(np.abs(np.array([d.latency_ms for d in designs]) - golden)) <= 1e-9
    assert max(golden) <= 25.0
