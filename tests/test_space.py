"""The OFA-MobileNetV3 search space: validation, normalisation, sampling, variation."""

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ofa_hw.space import (
    N_SLOTS,
    SubnetBatch,
    SubnetConfig,
    crossover,
    get_space,
    list_spaces,
    mutate,
    sample_subnets,
)

configs = st.builds(
    SubnetConfig,
    ks=st.lists(st.sampled_from([3, 5, 7]), min_size=20, max_size=20).map(tuple),
    e=st.lists(st.sampled_from([3, 4, 6]), min_size=20, max_size=20).map(tuple),
    d=st.lists(st.sampled_from([2, 3, 4]), min_size=5, max_size=5).map(tuple),
    r=st.sampled_from(range(128, 225, 4)),
    width_mult=st.sampled_from([1.0, 1.2]),
)


def test_spaces_registry_widths_match_ofa():
    assert list_spaces() == ["ofa-mbv3-w1.0", "ofa-mbv3-w1.2", "ofa-proxyless-w1.3"]
    assert get_space("ofa-mbv3-w1.0").widths == (16, 16, 24, 40, 80, 112, 160, 960, 1280)
    assert get_space(1.2).widths == (24, 24, 32, 48, 96, 136, 192, 1152, 1536)
    # OFA's ProxylessNAS base widths 32/16,24,40,80,96,192,320/1280 x 1.3, make_divisible(., 8) by hand
    proxyless = get_space(1.3)
    assert proxyless.widths == (40, 24, 32, 56, 104, 128, 248, 416, 1664)
    assert proxyless.supernet == "ofa_proxyless_d234_e346_k357_w1.3" and proxyless.n_slots == 24
    assert proxyless.stage_strides == (2, 2, 2, 1, 2, 1) and not any(proxyless.stage_se)
    with pytest.raises(KeyError, match="ofa-mbv3-w1.0"):
        get_space("mbv3")
    with pytest.raises(ValueError, match="width_mult"):
        get_space(1.4)


def test_proxyless_configs_have_six_stages_the_last_one_block():
    smallest = SubnetConfig.smallest(r=128, width_mult=1.3)
    assert smallest.d == (2, 2, 2, 2, 2, 1) and len(smallest.ks) == 24 and smallest.ks[20:] == (3, 0, 0, 0)
    assert SubnetConfig.largest(width_mult=1.3).n_blocks == 22
    with pytest.raises(ValueError, match=r"d: value 2 in stage 5 .* choose from \[1\]"):
        SubnetConfig((3,) * 24, (3,) * 24, (2,) * 6, r=128, width_mult=1.3)
    with pytest.raises(ValueError, match="ks: expected 24 integers"):
        SubnetConfig((3,) * 20, (3,) * 20, (2,) * 5, r=128, width_mult=1.3)
    batch = sample_subnets(200, seed=0, width_mult=1.3)
    assert (batch.d[:, 5] == 1).all() and set(batch.d[:, :5].ravel().tolist()) == {2, 3, 4}
    mutated = mutate(batch, np.random.default_rng(0), prob=1.0)
    assert (mutated.d[:, 5] == 1).all()
    # OFA's own encoding: 21 kernel / expand entries (one per elastic block), d of 6
    ofa = SubnetConfig.from_dict({"ks": [5] * 21, "e": [4] * 21, "d": [2, 3, 4, 2, 3, 1], "r": 160},
                                 width_mult=1.3)
    assert ofa.ks[20:] == (5, 0, 0, 0) and ofa.ks[:4] == (5, 5, 0, 0) and SubnetConfig.from_dict(ofa.to_dict()) == ofa


def test_inactive_slots_are_normalised_so_equal_networks_are_equal():
    d = (2, 3, 4, 2, 2)
    a = SubnetConfig((3,) * 20, (4,) * 20, d)
    ks = [3] * 20
    ks[2] = ks[3] = 7  # slots 2, 3 are off in stage 0 (depth 2)
    b = SubnetConfig(tuple(ks), (4,) * 20, d)
    assert a == b and hash(a) == hash(b)
    assert a.ks[2:4] == (0, 0) and a.ks[4:7] == (3, 3, 3) and a.ks[7] == 0


@given(configs)
@settings(max_examples=60, deadline=None)
def test_dict_round_trip(cfg):
    assert SubnetConfig.from_dict(cfg.to_dict()) == cfg
    assert SubnetConfig.from_dict({k: v for k, v in cfg.to_dict().items() if k != "width_mult"},
                                  width_mult=cfg.width_mult) == cfg


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(ks=(3,) * 19), r"ks: expected 20 integers"),
        (dict(e=(3,) * 21), r"e: expected 20 integers"),
        (dict(d=(2,) * 4), r"d: expected 5 integers"),
        (dict(ks=(4,) + (3,) * 19), r"ks: value 4 in slot 0 .*\[3, 5, 7\]"),
        (dict(e=(3,) * 5 + (5,) + (3,) * 14), r"e: value 5 in slot 5 .*\[3, 4, 6\]"),
        (dict(d=(2, 2, 5, 2, 2)), r"d: value 5 in stage 2 .*\[2, 3, 4\]"),
        (dict(r=226), r"r: resolution 226 .*multiple of 4"),
        (dict(r=[224]), r"r: expected one integer"),
        (dict(width_mult=1.5), r"width_mult must be one of"),
    ],
)
def test_bad_values_name_field_value_and_choices(kwargs, message):
    args = dict(ks=(3,) * 20, e=(3,) * 20, d=(2,) * 5, r=224)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        SubnetConfig(**args)


def test_inactive_slot_garbage_is_still_rejected():
    ks = [3] * 20
    ks[3] = 9  # inactive (depth 2) but not a kernel size at all
    with pytest.raises(ValueError, match="ks: value 9 in slot 3"):
        SubnetConfig(tuple(ks), (3,) * 20, (2,) * 5)


def test_resolution_outside_trained_range_warns_but_works():
    with pytest.warns(UserWarning, match="outside the range OFA was trained on"):
        cfg = SubnetConfig.uniform(3, 3, 2, r=256)
    assert cfg.r == 256


def test_sample_subnets_is_seeded_and_covers_choices():
    a = sample_subnets(5000, seed=3, width_mult=1.0, resolutions=[160, 192, 224])
    b = sample_subnets(5000, seed=3, width_mult=1.0, resolutions=[160, 192, 224])
    assert np.array_equal(a.ks, b.ks) and np.array_equal(a.r, b.r)
    assert set(np.unique(a.r)) == {160, 192, 224}
    assert set(np.unique(a.ks[a.active()])) == {3, 5, 7}
    assert set(np.unique(a.e[a.active()])) == {3, 4, 6}
    assert set(np.unique(a.d)) == {2, 3, 4}
    assert (a.ks[~a.active()] == 0).all()
    assert a.ks.shape == (5000, N_SLOTS) and a.d.shape == (5000, 5) and a.r.shape == (5000,)
    assert not np.array_equal(sample_subnets(50, seed=4).ks, sample_subnets(50, seed=5).ks)


def test_batch_and_config_agree():
    batch = sample_subnets(20, seed=0)
    configs = list(batch)
    again = SubnetBatch.from_configs(configs)
    assert all(np.array_equal(getattr(again, f), getattr(batch, f)) for f in ("ks", "e", "d", "r"))
    assert batch[7] == configs[7]
    with pytest.raises(ValueError):
        batch.ks[0, 0] = 5  # arrays are read-only


def test_batch_validates_like_config():
    batch = sample_subnets(4, seed=0)
    ks = batch.ks.copy()
    ks[2, 0] = 4
    with pytest.raises(ValueError, match=r"ks: value 4 in slot 0 \(network 2\)"):
        SubnetBatch(ks, batch.e, batch.d, batch.r)
    with pytest.raises(ValueError, match=r"d: expected shape \(4, 5\)"):
        SubnetBatch(batch.ks, batch.e, batch.d[:, :4], batch.r)


def test_mutation_changes_about_prob_of_genes():
    rng = np.random.default_rng(0)
    parents = sample_subnets(4000, seed=1)
    children = mutate(parents, rng, prob=0.2)
    changed = (children.d != parents.d).mean()
    # a resampled gene keeps its value 1/3 of the time: expected change rate 0.2 * 2/3
    assert 0.11 < changed < 0.16
    assert np.array_equal(mutate(parents, rng, prob=0.0).d, parents.d)
    with pytest.raises(ValueError, match="prob"):
        mutate(parents, rng, prob=1.5)


def test_crossover_takes_every_gene_from_a_parent():
    rng = np.random.default_rng(0)
    a, b = sample_subnets(500, seed=1), sample_subnets(500, seed=2)
    child = crossover(a, b, rng)
    assert ((child.d == a.d) | (child.d == b.d)).all()
    assert ((child.r == a.r) | (child.r == b.r)).all()
    both_active = child.active() & a.active() & b.active()
    assert ((child.ks == a.ks) | (child.ks == b.ks))[both_active].all()
    differ = a.d != b.d
    assert (child.d == a.d)[differ].mean() == pytest.approx(0.5, abs=0.05)


def test_unique_inverts():
    batch = SubnetBatch.concat([sample_subnets(30, seed=0), sample_subnets(30, seed=0)])
    distinct, inverse = batch.unique()
    assert len(distinct) == 30
    assert all(distinct[int(inverse[i])] == batch[i] for i in range(60))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31), n=st.integers(1, 30), width=st.sampled_from([1.0, 1.2, 1.3]))
def test_batch_rows_are_the_configs_a_validated_construction_gives(seed, n, width):
    batch = sample_subnets(n, seed=seed, width_mult=width, resolutions=[128, 160, 224])
    validated = [SubnetConfig(ks=tuple(int(v) for v in batch.ks[i]), e=tuple(int(v) for v in batch.e[i]),
                              d=tuple(int(v) for v in batch.d[i]), r=int(batch.r[i]), width_mult=width)
                 for i in range(n)]
    for configs in (batch.configs(), list(batch), [batch[i] for i in range(n)]):
        assert configs == validated
        assert [hash(c) for c in configs] == [hash(c) for c in validated]
        assert all(type(v) is int for c in configs for v in (*c.ks, *c.e, *c.d, c.r))
    assert batch[-1] == validated[-1]
    with pytest.raises(dataclasses.FrozenInstanceError):
        batch[0].r = 192  # type: ignore[misc]


def test_active_mask_is_position_below_depth():
    from ofa_hw.space import active_mask

    d = np.array([[0, 1, 2, 3, 4, 5], [4, 3, 2, 1, 0, -1]])
    position = np.arange(24) % 4
    np.testing.assert_array_equal(active_mask(d), position[None, :] < np.repeat(d, 4, axis=1))


@pytest.mark.parametrize("index", [slice(0, 2), [0, 1], np.array([0]), True, 1.0])
def test_batch_indexing_takes_one_integer(index):
    batch = sample_subnets(3, seed=0)
    with pytest.raises(TypeError, match="indexed by one integer.*take"):
        batch[index]
    assert batch[np.int64(2)] == batch[2] == batch[-1]


def test_batches_of_configs_equal_their_validated_construction():
    configs = sample_subnets(40, seed=9, width_mult=1.3, resolutions=[128, 224]).configs()
    fast = SubnetBatch.from_configs(configs)
    checked = SubnetBatch(np.array([c.ks for c in configs]), np.array([c.e for c in configs]),
                          np.array([c.d for c in configs]), np.array([c.r for c in configs]), 1.3)
    for name in ("ks", "e", "d", "r"):
        got = getattr(fast, name)
        assert got.dtype == np.int64 and not got.flags.writeable
        np.testing.assert_array_equal(got, getattr(checked, name))
    assert SubnetConfig.largest().as_batch()[0] == SubnetConfig.largest()
