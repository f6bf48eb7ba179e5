"""The dense unit gather against the block catalogue it replaces, per-resolution values, grouped tables."""

import numpy as np
import pytest

from ofa_hw import sample_subnets
from ofa_hw.space import SubnetBatch, SubnetConfig, get_space
from ofa_hw.unit_gather import CHUNK, UnitGather, catalog_units, unit_totals

SPACE = get_space("ofa-mbv3-w1.2")
RESOLUTIONS = (160, 176, 224)


def _values(keys):
    # distinct, order-independent values per key, computed apart from the gather
    return np.array([(hash(k) % 1000) / 7.0 for k in keys])


def test_totals_equal_the_block_catalogue_sum_across_chunks():
    batch = sample_subnets(CHUNK + 123, seed=3, resolutions=RESOLUTIONS)
    catalog = batch.block_catalog()
    expected = catalog.total(_values(catalog.keys))
    got = unit_totals(batch, lambda r: lambda keys, layers: _values(keys))
    assert np.allclose(got, expected, rtol=0, atol=1e-9)


def test_per_resolution_values_are_read_at_the_network_resolution():
    cfg = SubnetConfig.largest(r=176)
    batch = SubnetBatch.concat([SubnetConfig.largest(r=160).as_batch(), SubnetConfig.largest(r=160).as_batch(),
                                cfg.as_batch()])
    got = unit_totals(batch, lambda r: lambda keys, layers: np.full(len(keys), float(r)))
    n_units = len(cfg.block_catalog().network_keys(0))
    assert got.tolist() == [160.0 * n_units, 160.0 * n_units, 176.0 * n_units]


def test_grouped_tables_pick_each_networks_group():
    keys, _ = catalog_units(SPACE, RESOLUTIONS)
    base = _values(keys)
    values = np.stack([np.stack([base * (g + 1), base * (g + 1) + 1]) for g in range(3)])  # (3 groups, 2, K)
    gather = UnitGather.from_unit_values(SPACE, RESOLUTIONS, values)
    batch = sample_subnets(50, seed=1, resolutions=RESOLUTIONS)
    group = np.arange(50) % 3
    catalog = batch.block_catalog(RESOLUTIONS)
    one = catalog.total(base)
    counts = catalog.counts()
    got = gather.total(batch, group)
    assert np.allclose(got[:, 0], one * (group + 1))
    assert np.allclose(got[:, 1], one * (group + 1) + counts)


def test_a_resolution_outside_the_gather_is_an_error():
    keys, _ = catalog_units(SPACE, (160,))
    gather = UnitGather.from_unit_values(SPACE, (160,), np.ones(len(keys)))
    with pytest.raises(ValueError, match=r"resolution\(s\) \[224\] are not among"):
        gather.total(SubnetConfig.smallest(r=224).as_batch())
    with pytest.raises(ValueError, match="one per catalogue unit"):
        UnitGather.from_unit_values(SPACE, (160,), np.ones(len(keys) + 1))


@pytest.mark.parametrize("space", ["ofa-mbv3-w1.0", "ofa-proxyless-w1.3"])
def test_every_space_sums_as_its_block_catalogue(space):
    width = get_space(space).width_mult
    batch = sample_subnets(300, seed=2, width_mult=width, resolutions=[160, 224])
    catalog = batch.block_catalog()
    got = unit_totals(batch, lambda r: lambda keys, layers: _values(keys))
    assert np.allclose(got, catalog.total(_values(catalog.keys)), rtol=0, atol=1e-9)


@pytest.mark.parametrize("groups, group_size", [(1, 1), (1, 4), (5, 1), (5, 3)])
def test_totals_are_the_fancy_index_sum_bit_for_bit(groups, group_size):
    # the gather's takes and slot sum against the plain formula: fancy indexing, then a sum over slots
    keys, _ = catalog_units(SPACE, RESOLUTIONS)
    rng = np.random.default_rng(groups * 10 + group_size)
    values = rng.random((groups, group_size, len(keys))) * 10.0 ** rng.integers(-4, 4, (groups, group_size, len(keys)))
    gather = UnitGather.from_unit_values(SPACE, RESOLUTIONS, values)
    batch = sample_subnets(700, seed=5, resolutions=RESOLUTIONS)
    group = rng.integers(0, groups, len(batch))
    rows = gather._rows(batch.r)
    cell = (batch.ks * 8 + batch.e + np.arange(SPACE.n_slots) * 64 + (rows * SPACE.n_slots * 64)[:, None])
    per_slot = gather.values[group[:, None], gather.unit_of_cell[cell]]  # (N, slots, Q)
    expected = per_slot.sum(axis=1) + gather.fixed[group, :, rows]
    np.testing.assert_array_equal(gather.total(batch, group), expected)
