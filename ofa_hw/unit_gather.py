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

import numpy as np

from .layers import FIRST_SLOT, HEAD, _catalog_lookup
from .space import N_SLOTS, OFASpace, SubnetBatch

__all__ = ["UnitGather", "unit_totals"]

#: Raw kernel / expand values index the table directly (0 = slot switched off).
_K_RANGE, _E_RANGE = 8, 8
_CELLS = N_SLOTS * _K_RANGE * _E_RANGE
_SLOT_OFFSET = np.arange(N_SLOTS) * (_K_RANGE * _E_RANGE)
#: Networks per chunk: ~10 MB of temporaries, cache-friendly and bounded at any batch size.
CHUNK = 1 << 15


@dataclass(frozen=True, eq=False)
class UnitGather:
    """Per-unit values of a space at fixed resolutions, laid out for gathering.

    Build with :meth:`from_unit_values`.  ``fixed[t, r]`` is the sum over the
    stem, first block and head at resolution row ``r`` of table ``t``;
    ``slots[r, cell, t]`` the value of the slot unit at ``cell = slot * 64 +
    kernel * 8 + expand`` (tables last, so one gather reads all of them).
    """

    space: OFASpace
    resolutions: tuple[int, ...]
    fixed: np.ndarray
    slots: np.ndarray
    _row_of_r: np.ndarray

    @classmethod
    def from_unit_values(cls, space: OFASpace, resolutions: Sequence[int], values: np.ndarray) -> UnitGather:
        """Lay out ``values`` (..., K) given over the :func:`catalog_units` ``(space, resolutions)`` keys.

        Leading dimensions of ``values`` (e.g. one row per accelerator) become
        tables ``t``, flattened in C order.
        """
        resolutions = tuple(int(r) for r in resolutions)
        keys, _, lookup = _catalog_lookup(space, resolutions)
        values = np.asarray(values, dtype=float)
        if values.shape[-1] != len(keys):
            raise ValueError(f"expected {len(keys)} unit values (one per catalogue key), got {values.shape[-1]}")
        return cls._laid_out(space, resolutions, [values.reshape(-1, len(keys))[:, row] for row in lookup])

    @classmethod
    def from_resolution_values(cls, space: OFASpace, resolutions: Sequence[int],
                               values_at: Callable[[int], Callable[[Sequence[str], Sequence], np.ndarray]]
                               ) -> UnitGather:
        """One table whose units at resolution ``r`` take ``values_at(r)(keys, layers)``.

        A device measured once per network resolution (OFA's Note10 tables)
        gives a key shared by two resolutions a different value at each.
        """
        resolutions = tuple(int(r) for r in resolutions)
        per_resolution = []
        for r in resolutions:
            keys, layers, lookup = _catalog_lookup(space, (r,))
            values = np.asarray(values_at(r)(keys, layers), dtype=float).reshape(1, len(keys))
            per_resolution.append(values[:, lookup[0]])
        return cls._laid_out(space, resolutions, per_resolution)

    @classmethod
    def _laid_out(cls, space: OFASpace, resolutions: tuple[int, ...], by_position: list[np.ndarray]) -> UnitGather:
        """From per resolution (T, positions, choices) values of the catalogue layout."""
        stacked = np.stack(by_position, axis=1)  # (T, R, P, C)
        n_tables, n_res = stacked.shape[:2]
        fixed_positions = [p for p in range(stacked.shape[2]) if not FIRST_SLOT <= p < HEAD]
        fixed = stacked[:, :, fixed_positions, 0].sum(axis=-1)  # (T, R)
        slots = np.zeros((n_res, N_SLOTS, _K_RANGE, _E_RANGE, n_tables))
        n_e = len(space.expand_choices)
        for ki, k in enumerate(space.kernel_choices):
            for ei, e in enumerate(space.expand_choices):
                slots[:, :, k, e, :] = np.moveaxis(stacked[:, :, FIRST_SLOT:HEAD, ki * n_e + ei], 0, -1)
        row_of_r = np.full(max(resolutions) // 4 + 2, -1, dtype=np.intp)
        row_of_r[np.asarray(resolutions) // 4] = np.arange(n_res)
        return cls(space, resolutions, fixed, slots.reshape(n_res * _CELLS, n_tables), row_of_r)

    @property
    def n_tables(self) -> int:
        return int(self.fixed.shape[0])

    def total(self, batch: SubnetBatch, group: np.ndarray | None = None, group_size: int = 1) -> np.ndarray:
        """Sums over each network's units: (N, T) of every table, or (N, group_size) of its own group.

        With ``group`` (N,), tables are read as consecutive groups of
        ``group_size`` (e.g. latency, measured latency and shared-bandwidth
        latency of one accelerator) and network ``n`` gets the sums of group
        ``group[n]``; one gather reads the whole group.
        """
        n = len(batch)
        r_row = self._rows(batch.r)
        width = self.n_tables if group is None else group_size
        if self.n_tables % width:
            raise ValueError(f"{self.n_tables} tables do not split into groups of {group_size}")
        n_groups = self.n_tables // width
        table = self.slots.reshape(-1, width)
        fixed = self.fixed.reshape(n_groups, width, -1)
        if n <= CHUNK:  # the search's populations: one pass, no chunk bookkeeping
            return self._chunk(batch.ks, batch.e, r_row, group, table, fixed, n_groups)
        out = np.empty((n, width))
        for start in range(0, n, CHUNK):
            part = slice(start, min(start + CHUNK, n))
            out[part] = self._chunk(batch.ks[part], batch.e[part], r_row[part],
                                    None if group is None else group[part], table, fixed, n_groups)
        return out

    @staticmethod
    def _chunk(ks: np.ndarray, e: np.ndarray, rows: np.ndarray, group: np.ndarray | None, table: np.ndarray,
               fixed: np.ndarray, n_groups: int) -> np.ndarray:
        cell = ks * _E_RANGE
        cell += e
        cell += _SLOT_OFFSET
        cell += (rows * _CELLS)[:, None]
        if group is None:
            return table[cell].sum(axis=1) + fixed[0][:, rows].T
        group = np.asarray(group, dtype=np.intp)
        cell *= n_groups
        cell += group[:, None]
        return table[cell].sum(axis=1) + fixed[group, :, rows]

    def _rows(self, r: np.ndarray) -> np.ndarray:
        try:
            rows = self._row_of_r[r // 4]
        except IndexError:
            rows = np.full(len(r), -1)
        if rows.min(initial=0) < 0:
            bad = sorted(set(np.asarray(r).tolist()) - set(self.resolutions))
            raise ValueError(f"resolution(s) {bad} are not among the gather's resolutions {list(self.resolutions)}")
        return rows


def catalog_units(space: OFASpace, resolutions: Sequence[int]) -> tuple[tuple[str, ...], tuple]:
    """Keys and layers of every unit the space uses at ``resolutions`` (the order :class:`UnitGather` expects)."""
    keys, layers, _ = _catalog_lookup(space, tuple(int(r) for r in resolutions))
    return keys, layers


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
