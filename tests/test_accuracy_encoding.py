"""Feature encodings of the accuracy predictors: OFA's one-hot and the engineered features."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ofa_hw.accuracy import as_batch, engineered_feature_names, engineered_features, ofa_onehot
from ofa_hw.layers import count_macs, count_params, subnet_layers
from ofa_hw.space import SubnetBatch, SubnetConfig, sample_subnets

# Random networks of both spaces through the space's own sampler, seeded by hypothesis.
configs = st.builds(
    lambda seed, width, r: sample_subnets(1, seed=seed, width_mult=width, resolutions=[r])[0],
    st.integers(0, 2**32 - 1), st.sampled_from([1.0, 1.2]), st.sampled_from(range(128, 225, 4)),
)


def test_onehot_of_a_hand_built_network():
    # Stage 0 keeps slots 0, 1; every other stage keeps its first two slots too.
    ks = (7, 3, 5, 5) + (5, 5, 3, 3) * 4
    e = (6, 4, 3, 3) + (3, 3, 6, 6) * 4
    cfg = SubnetConfig(ks, e, (2, 2, 2, 2, 2), r=192)
    expected = np.zeros(128)
    for slot in range(20):
        if slot % 4 < 2:
            expected[3 * slot + {3: 0, 5: 1, 7: 2}[ks[slot]]] = 1
            expected[60 + 3 * slot + {3: 0, 4: 1, 6: 2}[e[slot]]] = 1
    expected[120 + (192 - 112) // 16] = 1  # bin 5
    np.testing.assert_array_equal(ofa_onehot(cfg.as_batch())[0], expected)
    # Spot values written out: slot 0 is k7 (index 2), e6 (index 62); slot 2 is inactive.
    x = ofa_onehot(cfg.as_batch())[0]
    assert x[2] == 1 and x[62] == 1 and x[6:9].sum() == 0 and x[66:69].sum() == 0 and x[125] == 1


def test_onehot_of_the_max_net_sets_only_the_last_choices():
    x = ofa_onehot(SubnetConfig.largest(r=224).as_batch())[0]
    assert x[2:60:3].sum() == 20 and x[:60].sum() == 20      # every slot k7
    assert x[62:120:3].sum() == 20 and x[60:120].sum() == 20  # every slot e6
    assert x[127] == 1 and x[120:127].sum() == 0


@settings(max_examples=60, deadline=None)
@given(configs)
def test_inactive_slots_never_set_features(cfg):
    x = ofa_onehot(cfg.as_batch())[0]
    f = engineered_features(cfg.as_batch())[0]
    names = engineered_feature_names()
    for slot in range(20):
        active = slot % 4 < cfg.d[slot // 4]
        assert x[3 * slot:3 * slot + 3].sum() == active
        assert x[60 + 3 * slot:60 + 3 * slot + 3].sum() == active
        assert (f[names.index(f"mmacs@slot{slot}")] > 0) == active
    assert x[120:].sum() == 1


@settings(max_examples=15, deadline=None)
@given(configs)
def test_engineered_totals_equal_the_layer_model(cfg):
    f = engineered_features(cfg.as_batch())[0]
    names = engineered_feature_names()
    assert f[names.index("log_macs")] == pytest.approx(np.log(count_macs(cfg)), rel=1e-12)
    assert f[names.index("log_macs^2")] == pytest.approx(np.log(count_macs(cfg)) ** 2, rel=1e-12)
    folded_params = sum(layer.params for layer in subnet_layers(cfg))
    assert f[names.index("log_params")] == pytest.approx(np.log(folded_params), rel=1e-12)
    # Per-slot MACs: sum the layers named blocks.<n>.* for the n-th active block.
    blocks = [slot for stage in range(5) for slot in range(4 * stage, 4 * stage + cfg.d[stage])]
    for n, slot in enumerate(blocks, start=1):
        macs = sum(layer.macs for layer in subnet_layers(cfg) if layer.name.startswith(f"blocks.{n}."))
        assert f[names.index(f"mmacs@slot{slot}")] == pytest.approx(macs / 1e6, rel=1e-12)
    assert count_params(cfg) > 0


def test_batch_rows_equal_single_rows():
    cfgs = [SubnetConfig.smallest(r=160), SubnetConfig.largest(r=224), SubnetConfig.uniform(5, 4, 3, r=176)]
    batch = as_batch(cfgs)
    np.testing.assert_array_equal(ofa_onehot(batch), np.concatenate([ofa_onehot(c.as_batch()) for c in cfgs]))
    np.testing.assert_allclose(engineered_features(batch),
                               np.concatenate([engineered_features(c.as_batch()) for c in cfgs]), rtol=1e-12)


@pytest.mark.filterwarnings("ignore:resolution.*outside the range OFA was trained on")
@pytest.mark.parametrize("r", [108, 240, 256])
def test_resolutions_outside_the_onehot_raise(r):
    with pytest.raises(ValueError, match=r"112\.\.236"):
        ofa_onehot(SubnetConfig.smallest(r=r).as_batch())


def test_as_batch_accepts_the_three_forms_and_rejects_others():
    cfg = SubnetConfig.smallest()
    assert isinstance(as_batch(cfg), SubnetBatch) and len(as_batch(cfg)) == 1
    assert len(as_batch((cfg, cfg))) == 2
    batch = cfg.as_batch()
    assert as_batch(batch) is batch
    with pytest.raises(ValueError, match="SubnetConfig"):
        as_batch(cfg.to_dict())
    with pytest.raises(ValueError, match="SubnetConfig"):
        as_batch([cfg.to_dict()])
    with pytest.raises(ValueError, match="zero configs"):
        as_batch([])
