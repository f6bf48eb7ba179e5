"""In-memory form of a measured latency lookup table.

A :class:`LatencyTable` is device metadata (:class:`TableMeta`) plus measured
entries (:class:`Entry`) keyed by OFA's canonical unit keys (see
:class:`accel_models.BlockSpec`).  Reading and writing files is the job of
:mod:`latency_tables.format`; this module only holds and validates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Iterable, Mapping, Sequence

import numpy as np

__all__ = ["Entry", "LatencyTable", "TableMeta"]


@dataclass(frozen=True)
class TableMeta:
    """Where and how a table was measured.

    ``per_entry_invocation`` is True when every entry was timed as its own
    compiled program (one xmodel per block), so each entry includes the fixed
    cost of one invocation that a whole network compiled as one program pays
    only once.
    """

    name: str
    board: str
    dpu_arch: str
    clock_mhz: float | None
    cores: int
    toolchain: str
    method: str
    date: str
    source: str
    license: str
    per_entry_invocation: bool
    space: str = ""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("clock_mhz", "space"):
                continue
            if value is None or (isinstance(value, str) and not value.strip()):
                raise ValueError(f"table metadata field {f.name!r} is missing or empty")
        if self.clock_mhz is not None and not self.clock_mhz > 0:
            raise ValueError(f"table metadata clock_mhz must be positive, got {self.clock_mhz!r}")
        if int(self.cores) != self.cores or self.cores < 1:
            raise ValueError(f"table metadata cores must be a positive integer, got {self.cores!r}")
        if not isinstance(self.per_entry_invocation, bool):
            raise ValueError(f"table metadata per_entry_invocation must be true or false, got {self.per_entry_invocation!r}")


def _finite_non_negative(name: str, value: float | None, key: str, optional: bool = True) -> None:
    if value is None and optional:
        return
    if value is None or not isinstance(value, (int, float)) or math.isnan(value) or math.isinf(value) or value < 0:
        raise ValueError(f"entry {key!r}: {name} must be a finite non-negative number, got {value!r}")


@dataclass(frozen=True)
class Entry:
    """One measured unit: ``count`` timed runs with their statistics (milliseconds).

    ``extra`` holds further measured columns (e.g. ``mem_io_mb``, the DRAM
    traffic the profiler reported).
    """

    key: str
    count: int
    mean_ms: float
    std_ms: float | None = None
    min_ms: float | None = None
    max_ms: float | None = None
    extra: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.key:
            raise ValueError("entry key must not be empty")
        if int(self.count) != self.count or self.count < 1:
            raise ValueError(f"entry {self.key!r}: count must be a positive integer, got {self.count!r}")
        _finite_non_negative("mean_ms", self.mean_ms, self.key, optional=False)
        if self.mean_ms == 0:
            raise ValueError(f"entry {self.key!r}: mean_ms must be positive, got 0")
        for name in ("std_ms", "min_ms", "max_ms"):
            _finite_non_negative(name, getattr(self, name), self.key)
        if self.min_ms is not None and self.min_ms > self.mean_ms * (1 + 1e-9):
            raise ValueError(f"entry {self.key!r}: min_ms {self.min_ms} exceeds mean_ms {self.mean_ms}")
        if self.max_ms is not None and self.max_ms < self.mean_ms * (1 - 1e-9):
            raise ValueError(f"entry {self.key!r}: max_ms {self.max_ms} is below mean_ms {self.mean_ms}")
        for name, value in self.extra.items():
            _finite_non_negative(name, value, self.key)
        object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))


@dataclass(frozen=True, eq=False)
class LatencyTable:
    """Measured entries of one device, keyed by canonical unit key."""

    meta: TableMeta
    entries: Mapping[str, Entry]

    def __post_init__(self) -> None:
        for key, entry in self.entries.items():
            if key != entry.key:
                raise ValueError(f"table {self.meta.name!r}: entry stored under {key!r} has key {entry.key!r}")
        object.__setattr__(self, "entries", MappingProxyType(dict(self.entries)))

    @classmethod
    def from_entries(cls, meta: TableMeta, entries: Iterable[Entry]) -> "LatencyTable":
        """Build a table; a key given twice with different values is an error."""
        collected: dict[str, Entry] = {}
        for entry in entries:
            if entry.key in collected and collected[entry.key] != entry:
                raise ValueError(f"table {meta.name!r}: key {entry.key!r} appears twice with different values")
            collected[entry.key] = entry
        return cls(meta, collected)

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, key: object) -> bool:
        return key in self.entries

    def keys(self) -> list[str]:
        return list(self.entries)

    def mean_ms(self, keys: Sequence[str] | None = None) -> np.ndarray:
        """Measured means of ``keys`` (all entries by default); NaN where a key is absent."""
        keys = self.keys() if keys is None else keys
        return np.array([self.entries[k].mean_ms if k in self.entries else np.nan for k in keys])

    def column(self, name: str, keys: Sequence[str] | None = None) -> np.ndarray:
        """An ``extra`` column (e.g. ``"mem_io_mb"``); NaN where absent."""
        keys = self.keys() if keys is None else keys
        return np.array([self.entries[k].extra.get(name, np.nan) if k in self.entries else np.nan for k in keys])
