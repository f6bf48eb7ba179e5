"""TablePredictor: measured-only sums, the launch-cost rule, and errors."""

from __future__ import annotations

import numpy as np
import pytest

from latency_tables import Entry, LatencyTable, TableMeta, TablePredictor, load_table
from ofa_hw import SubnetConfig, block_keys, sample_subnets


def test_note10_sums_equal_an_ofa_style_loop():
    table = load_table("note10-r176")
    means = {k: e.mean_ms for k, e in table.entries.items()}
    batch = sample_subnets(300, seed=5, resolutions=[176])
    expected = np.array([sum(means[k] for k in block_keys(cfg)) for cfg in batch])
    got = TablePredictor(table).subnet_latency_ms(batch)
    assert got.shape == (300,) and np.allclose(got, expected, rtol=1e-12, atol=0)
    assert TablePredictor(table).subnet_latency_ms(batch[7])[0] == pytest.approx(expected[7], rel=1e-12)


def _meta(per_entry: bool) -> TableMeta:
    return TableMeta("hand", "b", "a", 100.0, 1, "t", "m", "d", "s", "l", per_entry)


def test_launch_cost_rule_by_hand():
    keys = ["Logits-input:1x1x8-output:4", "Conv_2-input:1x1x8-output:1x1x8"]
    entries = [Entry(keys[0], 1, 1.0), Entry(keys[1], 1, 3.0)]

    class TwoUnits:  # anything with .block_catalog() will do
        def block_catalog(self):
            from accel_models import BlockSpec
            from accel_models.network import BlockCatalog

            return BlockCatalog(tuple(keys), tuple(BlockSpec.from_key(k).layers() for k in keys),
                                np.array([[0, 1], [1, -1]]))

    per_entry = TablePredictor(LatencyTable.from_entries(_meta(True), entries), invocation_ms=0.25)
    # network 0: (1 - 0.25) + (3 - 0.25) + 0.25 = 3.75; network 1: (3 - 0.25) + 0.25 = 3.0
    assert np.allclose(per_entry.subnet_latency_ms(TwoUnits()), [3.75, 3.0])
    # a table not measured one program per entry ignores the launch cost
    plain = TablePredictor(LatencyTable.from_entries(_meta(False), entries), invocation_ms=0.25)
    assert plain.invocation_ms == 0.0 and np.allclose(plain.subnet_latency_ms(TwoUnits()), [4.0, 3.0])


def test_missing_and_malformed_keys():
    predictor = TablePredictor(load_table("ultra96v2-b2304"))
    k7 = "expanded_conv-input:14x14x96-output:14x14x96-expand:288-kernel:7-stride:1-idskip:1-se:0-hs:1"
    with pytest.raises(KeyError, match="kernel:7.*HybridPredictor"):
        predictor.predict_key_ms(k7)
    with pytest.raises(ValueError, match="unrecognised block key"):
        predictor.predict_key_ms("expanded_conv-nonsense")
    with pytest.raises(KeyError, match="1 unit"):
        predictor.subnet_latency_ms(SubnetConfig.uniform(3, 4, 2, r=224))  # the global pool was never measured
    with pytest.raises(TypeError, match="block_catalog"):
        predictor.subnet_latency_ms([1, 2, 3])
    with pytest.raises(ValueError, match="invocation_ms must be >= 0"):
        TablePredictor(load_table("note10-r160"), invocation_ms=-1.0)
