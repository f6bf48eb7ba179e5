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
        """Lay out ``values`` (..., K) given over :func:`catalog_units` ``(space, resolutions)`` keys.

        Leading dimensions of ``values`` (e.g. one row per accelerator) become
        tables ``t``, flattened in C order.
        """
        resolutions = tuple(int(r) for r in resolutions)
        keys, _, lookup = _catalog_lookup(space, resolutions)
        values = np.asarray(values, dtype=float)
        if values.shape[-1] != len(keys):
            raise ValueError(f"expected {len(keys)} unit values (one per catalogue key), got {values.shape[-1]}")
        values = values.reshape(-1, len(keys))
        n_tables, n_res = values.shape[0], len(resolutions)
        fixed_positions = [p for p in range(lookup.shape[1]) if not FIRST_SLOT <= p < HEAD]
        fixed = values[:, lookup[:, fixed_positions, 0]].sum(axis=-1)  # (T, R)
        slots = np.zeros((n_res, N_SLOTS, _K_RANGE, _E_RANGE, n_tables))
        n_e = len(space.expand_choices)
        for ki, k in enumerate(space.kernel_choices):
            for ei, e in enumerate(space.expand_choices):
                rows = lookup[:, FIRST_SLOT:HEAD, ki * n_e + ei]  # (R, 20)
                slots[:, :, k, e, :] = np.moveaxis(values[:, rows], 0, -1)
        row_of_r = np.full(max(resolutions) // 4 + 2, -1, dtype=np.intp)
        row_of_r[np.asarray(resolutions) // 4] = np.arange(n_res)
        return cls(space, resolutions, fixed, slots.reshape(n_res * _CELLS, n_tables), row_of_r)

    @property
    def n_tables(self) -> int:
        return int(self.fixed.shape[0])

    def total(self, batch: SubnetBatch, table: np.ndarray | None = None) -> np.ndarray:
        """(N, T) sums over each network's units of every table, or (N,) of table ``table[n]`` per network.

        ``table`` (N,) picks one table per network (e.g. its accelerator).
        """
        n = len(batch)
        r_row = self._rows(batch.r)
        out = np.empty(n if table is not None else (n, self.n_tables))
        slot_offset = (np.arange(N_SLOTS) * (_K_RANGE * _E_RANGE)).astype(np.intp)
        for start in range(0, n, CHUNK):
            part = slice(start, min(start + CHUNK, n))
            cell = batch.ks[part] * _E_RANGE
            cell += batch.e[part]
            cell += slot_offset
            cell += (r_row[part] * _CELLS)[:, None]
            if table is None:
                out[part] = self.slots[cell].sum(axis=1) + self.fixed[:, r_row[part]].T
            else:
                t = np.asarray(table[part], dtype=np.intp)
                cell *= self.n_tables
                cell += t[:, None]
                out[part] = self.slots.ravel()[cell].sum(axis=1) + self.fixed[t, r_row[part]]
        return out

    def _rows(self, r: np.ndarray) -> np.ndarray:
        index = r // 4
        rows = self._row_of_r[np.minimum(index, len(self._row_of_r) - 1)]
        if (rows < 0).any() or (r % 4 != 0).any():
            bad = int(r[(rows < 0) | (r % 4 != 0)][0])
            raise ValueError(f"resolution {bad} is not among the gather's resolutions {list(self.resolutions)}")
        return rows


def catalog_units(space: OFASpace, resolutions: Sequence[int]) -> tuple[tuple[str, ...], tuple]:
    """Keys and layers of every unit the space uses at ``resolutions`` (the order :class:`UnitGather` expects)."""
    keys, layers, _ = _catalog_lookup(space, tuple(int(r) for r in resolutions))
    return keys, layers


def unit_totals(batch: SubnetBatch, unit_values: Callable[[Sequence[str], Sequence], np.ndarray]) -> np.ndarray:
    """(N,) sum over each network's units of ``unit_values(keys, layers)``, by one dense gather.

    ``unit_values`` is called once with every unit the batch's resolutions
    can use (about 96 per resolution), e.g. a latency predictor's
    ``unit_latency_ms``, which caches per key.
    """
    present = np.flatnonzero(np.bincount(np.asarray(batch.r) // 4)) * 4
    resolutions = tuple(int(r) for r in present)
    keys, layers = catalog_units(batch.space, resolutions)
    values = np.asarray(unit_values(keys, layers), dtype=float)
    return UnitGather.from_unit_values(batch.space, resolutions, values).total(batch)[:, 0]
