"""Sum a per-unit quantity over whole sub-networks with one dense gather.

Every unit of an OFA-MobileNetV3 sub-network is fixed by its resolution, its
position and, in a block slot, its kernel size and expand ratio.  A
:class:`UnitGather` lays a per-unit quantity (latency, measured latency, ...)
out as a dense ``(table, resolution, slot, kernel, expand)`` array indexed by
the raw kernel and expand values, with zeros at kernel or expand 0, which is
what :class:`~ofa_hw.space.SubnetBatch` stores in the slots its depths switch
off; the stem, first block and head depend on the resolution only and are one
precomputed sum.  A network's total is then one gather of 20 values and a row
sum: no per-call block index, no depth mask.  Networks are processed in
chunks, so memory stays bounded and throughput flat at any batch size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from .layers import FIRST_SLOT, catalog_lookup
from .space import OFASpace, SubnetBatch

__all__ = ["UnitGather", "catalog_units", "resolution_spans", "unit_totals"]

#: Raw kernel / expand values index the table directly (0 = slot switched off).
_K_RANGE, _E_RANGE = 8, 8
_SLOT_CELLS = _K_RANGE * _E_RANGE
#: Networks per chunk: ~10 MB of temporaries, cache-friendly and bounded at any batch size.
CHUNK = 1 << 15


@dataclass(frozen=True, eq=False)
class UnitGather:
    """Per-unit values of a space at fixed resolutions, laid out for gathering.

    Build with :meth:`from_unit_values` or :meth:`from_resolution_values`.
    ``unit_of_cell[(r * slots + slot) * 64 + kernel * 8 + expand]`` is the
    column of that slot unit in ``values`` (the last, zero column for kernel
    or expand 0); ``values`` is (groups, units + 1, group size), so one gather
    reads a whole group (e.g. one accelerator's latency, measured latency and
    shared-bandwidth latency); ``fixed`` (groups, group size, R) holds the sum
    over the stem, first block and head.
    """

    space: OFASpace
    resolutions: tuple[int, ...]
    unit_of_cell: np.ndarray
    values: np.ndarray
    fixed: np.ndarray
    _row_of_r: np.ndarray

    @classmethod
    def from_unit_values(cls, space: OFASpace, resolutions: Sequence[int], values: np.ndarray,
                         per_resolution: bool = False) -> UnitGather:
        """Lay out ``values`` (..., K) given over the :func:`catalog_units` ``(space, resolutions)`` units.

        ``values`` of shape (K,) is one table; (G, Q, K) is G groups of Q
        tables (what :meth:`total` with ``group=`` reads together).
        ``per_resolution``: over ``catalog_units(..., per_resolution=True)``,
        each resolution's units apart.
        """
        resolutions = tuple(int(r) for r in resolutions)
        keys, _, lookup = catalog_columns(space, resolutions, per_resolution)
        values = np.asarray(values, dtype=float)
        if values.shape[-1] != len(keys) or values.ndim not in (1, 3):
            raise ValueError(f"expected unit values of shape ({len(keys)},) or (groups, group size, {len(keys)}) "
                             f"(one per catalogue unit), got {values.shape}")
        return cls._laid_out(space, resolutions, lookup, values.reshape(-1, *values.shape[-2:])
                             if values.ndim == 3 else values.reshape(1, 1, -1))

    @classmethod
    def from_resolution_values(cls, space: OFASpace, resolutions: Sequence[int],
                               values_at: Callable[[int], Callable[[Sequence[str], Sequence], np.ndarray]]
                               ) -> UnitGather:
        """One table whose units at resolution ``r`` take ``values_at(r)(keys, layers)``.

        A device measured once per network resolution (OFA's Note10 tables)
        gives a key shared by two resolutions a different value at each.
        """
        resolutions = tuple(int(r) for r in resolutions)
        catalogues = _resolution_catalogues(space, resolutions)
        values = np.concatenate([np.asarray(values_at(r)(catalogues.keys[at], catalogues.layers[at]),
                                            dtype=float).reshape(-1)
                                 for r, at in zip(resolutions, catalogues.spans, strict=True)])
        return cls.from_unit_values(space, resolutions, values, per_resolution=True)

    @classmethod
    def _laid_out(cls, space: OFASpace, resolutions: tuple[int, ...], lookup: np.ndarray,
                  values: np.ndarray) -> UnitGather:
        """From the catalogue's (R, positions, choices) unit columns and (G, Q, K) values."""
        n_units = values.shape[-1]
        head = FIRST_SLOT + space.n_slots
        fixed_positions = [p for p in range(lookup.shape[1]) if not FIRST_SLOT <= p < head]
        fixed = values[:, :, lookup[:, fixed_positions, 0]].sum(axis=-1)  # (G, Q, R)
        unit_of_cell = np.full((len(resolutions), space.n_slots, _K_RANGE, _E_RANGE), n_units, dtype=np.int32)
        n_e = len(space.expand_choices)
        for ki, k in enumerate(space.kernel_choices):
            for ei, e in enumerate(space.expand_choices):
                unit_of_cell[:, :, k, e] = lookup[:, FIRST_SLOT:head, ki * n_e + ei]
        padded = np.concatenate([values, np.zeros(values.shape[:2] + (1,))], axis=-1)
        row_of_r = np.full(max(resolutions) // 4 + 2, -1, dtype=np.intp)
        row_of_r[np.asarray(resolutions) // 4] = np.arange(len(resolutions))
        return cls(space, resolutions, unit_of_cell.ravel(), np.ascontiguousarray(np.moveaxis(padded, 1, 2)),
                   fixed, row_of_r)

    def total(self, batch: SubnetBatch, group: np.ndarray | None = None) -> np.ndarray:
        """(N, Q) sums over each network's units of the Q tables of group ``group[n]`` (default: group 0)."""
        n = len(batch)
        r_row = self._rows(batch.r)
        group = np.zeros(n, dtype=np.intp) if group is None else np.asarray(group, dtype=np.intp)
        if n <= CHUNK:  # the search's populations: one pass, no chunk bookkeeping
            return self._chunk(batch.ks, batch.e, r_row, group)
        out = np.empty((n, self.values.shape[-1]))
        for start in range(0, n, CHUNK):
            part = slice(start, min(start + CHUNK, n))
            out[part] = self._chunk(batch.ks[part], batch.e[part], r_row[part], group[part])
        return out

    @cached_property
    def _slot_cells(self) -> np.ndarray:
        """(slots,) offset of each slot's cells in ``unit_of_cell`` (within a resolution)."""
        return np.arange(self.space.n_slots) * _SLOT_CELLS

    @cached_property
    def _cell_values(self) -> np.ndarray:
        """(cells, Q) the values of one group's table cell by cell: one gather instead of two.

        Only for a single group (``values`` (1, units + 1, Q)): R x slots x 64 x Q floats,
        1.3 MB at 25 resolutions and Q = 5; a grouped table would need that per group.
        """
        return self.values[0].take(self.unit_of_cell, axis=0)

    def _chunk(self, ks: np.ndarray, e: np.ndarray, rows: np.ndarray, group: np.ndarray) -> np.ndarray:
        n_slots = ks.shape[1]
        n_groups, n_columns, group_size = self.values.shape
        # Q > 1: cells slot by slot (slots, N), so the gather comes out (slots, N, Q) and sums slot after slot
        # over whole (N, Q) planes; Q = 1: (N, slots), summed along each network's contiguous row
        by_slot = group_size > 1
        if by_slot:
            ks, e = ks.T, e.T
        cell = ks * _E_RANGE
        cell += e
        cell += self._slot_cells[:, None] if by_slot else self._slot_cells
        offset = rows * (n_slots * _SLOT_CELLS)
        cell += offset[None, :] if by_slot else offset[:, None]
        # take: the same elements as fancy indexing, without its general index machinery (1.3-1.4x)
        if n_groups == 1:
            return _slot_sum(self._cell_values.take(cell, axis=0), by_slot) + self.fixed[0][:, rows].T
        flat = (group[None, :] if by_slot else group[:, None]) * n_columns + self.unit_of_cell.take(cell)
        return _slot_sum(self.values.reshape(-1, group_size).take(flat, axis=0), by_slot) + self.fixed[group, :, rows]

    def _rows(self, r: np.ndarray) -> np.ndarray:
        try:
            rows = self._row_of_r[r // 4]
        except IndexError:
            rows = np.full(len(r), -1)
        if rows.min(initial=0) < 0:
            bad = sorted(set(np.asarray(r).tolist()) - set(self.resolutions))
            raise ValueError(f"resolution(s) {bad} are not among the gather's resolutions {list(self.resolutions)}")
        return rows


def _slot_sum(per_slot: np.ndarray, by_slot: bool) -> np.ndarray:
    """(N, Q) sums over the slots of (slots, N, Q) values (``by_slot``) or of (N, slots, 1) values.

    Slot by slot, each slot's (N, Q) plane added to the sum of those before it: the same additions, in
    the same order, as ``einsum("nsq->nq")`` on (N, slots, Q), with no strided reduction (numpy reduces
    the middle axis of (N, slots, Q) one element at a time, about 5x slower).  With Q = 1 the slots of a
    network are contiguous and ``sum`` is the fast (pairwise) one.
    """
    return per_slot.sum(axis=0) if by_slot else per_slot.sum(axis=1)


def catalog_units(space: OFASpace, resolutions: Sequence[int],
                  per_resolution: bool = False) -> tuple[tuple[str, ...], tuple]:
    """Keys and layers of every unit the space uses at ``resolutions`` (the order :class:`UnitGather` expects).

    ``per_resolution``: each resolution's units in turn (:func:`resolution_spans`), a key two
    resolutions share once for each, for a device whose value of a key depends on the network's
    resolution (one table per resolution); else each key once.
    """
    keys, layers, _ = catalog_columns(space, tuple(int(r) for r in resolutions), per_resolution)
    return keys, layers


def resolution_spans(space: OFASpace, resolutions: Sequence[int]) -> list[slice]:
    """The slice of each resolution's units in ``catalog_units(space, resolutions, per_resolution=True)``."""
    return list(_resolution_catalogues(space, tuple(int(r) for r in resolutions)).spans)


def catalog_columns(space: OFASpace, resolutions: tuple[int, ...], per_resolution: bool = False):
    """Keys, layers and (R, positions, choices) column lookup of the units at ``resolutions``.

    One column per key (:func:`ofa_hw.layers.catalog_lookup`), or with ``per_resolution`` one per
    resolution and key: each resolution's own catalogue, one after the other.  Both cached.
    """
    if not per_resolution:
        return catalog_lookup(space, resolutions)
    catalogues = _resolution_catalogues(space, resolutions)
    return catalogues.keys, catalogues.layers, catalogues.lookup


@dataclass(frozen=True, eq=False)
class _ResolutionCatalogues:
    """Each resolution's own catalogue, one after the other: its units are ``keys[spans[i]]`` (and ``layers``)."""

    keys: tuple[str, ...]
    layers: tuple
    lookup: np.ndarray  # (R, positions, choices) columns into keys, read-only
    spans: tuple[slice, ...]


@lru_cache(maxsize=64)
def _resolution_catalogues(space: OFASpace, resolutions: tuple[int, ...]) -> _ResolutionCatalogues:
    keys: list[str] = []
    layers: list = []
    lookups = []
    spans = []
    for r in resolutions:
        own_keys, own_layers, lookup = catalog_lookup(space, (r,))
        spans.append(slice(len(keys), len(keys) + len(own_keys)))
        lookups.append(lookup[0] + len(keys))
        keys += own_keys
        layers += own_layers
    lookup = np.stack(lookups)
    lookup.setflags(write=False)
    return _ResolutionCatalogues(tuple(keys), tuple(layers), lookup, tuple(spans))


def unit_totals(batch: SubnetBatch,
                values_at: Callable[[int], Callable[[Sequence[str], Sequence], np.ndarray]]) -> np.ndarray:
    """(N,) sum over each network's units of ``values_at(r)(keys, layers)``, by one dense gather.

    ``values_at(r)`` is the per-unit function for networks at resolution
    ``r`` (e.g. ``lambda r: predictor.unit_latency_ms``, which caches per
    key), called once per resolution present with every unit that
    resolution can use (about 96).
    """
    present = np.flatnonzero(np.bincount(np.asarray(batch.r) // 4)) * 4
    gather = UnitGather.from_resolution_values(batch.space, present.tolist(), values_at)
    return gather.total(batch)[:, 0]
