"""In-memory form of a measured latency lookup table.

A :class:`LatencyTable` is device metadata (:class:`TableMeta`) plus measured
entries (:class:`Entry`) keyed by OFA's canonical unit keys (see
:class:`accel_models.BlockSpec`).  Reading and writing files is the job of
:mod:`latency_tables.format`; this module only holds and validates.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import MISSING, dataclass, field, fields
from types import MappingProxyType

import numpy as np

from accel_models.validation import reject_unknown_keys

__all__ = ["Entry", "LatencyTable", "TableMeta", "pool_entries"]


#: Highest device clock a table may declare (any CPU or FPGA clock is far below; a typo like 3e5 is not).
MAX_TABLE_CLOCK_MHZ = 10_000.0


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
        clock = self.clock_mhz
        if clock is not None and (isinstance(clock, bool) or not isinstance(clock, int | float)
                                  or not 0 < clock <= MAX_TABLE_CLOCK_MHZ):
            raise ValueError(f"table metadata clock_mhz must be a number in (0, {MAX_TABLE_CLOCK_MHZ:g}] MHz, "
                             f"got {self.clock_mhz!r}")
        if isinstance(self.cores, bool) or not isinstance(self.cores, int | float) or int(self.cores) != self.cores \
                or self.cores < 1:
            raise ValueError(f"table metadata cores must be a positive integer, got {self.cores!r}")
        if not isinstance(self.per_entry_invocation, bool):
            raise ValueError(f"table metadata per_entry_invocation must be true or false, "
                             f"got {self.per_entry_invocation!r}")

    def to_dict(self) -> dict:
        """Plain dict of every field (JSON / YAML friendly)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping) -> TableMeta:
        """Inverse of :meth:`to_dict`; unknown and missing fields are errors naming the allowed ones.

        >>> meta = TableMeta.from_dict(dict(name="t", board="b", dpu_arch="B512", clock_mhz=100.0, cores=1,
        ...     toolchain="tc", method="m", date="d", source="s", license="l", per_entry_invocation=False))
        >>> TableMeta.from_dict(meta.to_dict()) == meta
        True
        """
        reject_unknown_keys(data, [f.name for f in fields(cls)], "table metadata")
        required = [f.name for f in fields(cls) if f.default is MISSING]
        missing = [name for name in required if name not in data]
        if missing:
            raise ValueError(f"table metadata field(s) {missing} missing; required: {required}")
        return cls(**data)


def _finite_non_negative(name: str, value: float | None, key: str, optional: bool = True) -> None:
    if value is None and optional:
        return
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) \
            or math.isinf(value) or value < 0:  # a bool is not a latency (True would read as 1 ms)
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
        if isinstance(self.count, bool) or not isinstance(self.count, int | float) or int(self.count) != self.count \
                or self.count < 1:
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
    def from_entries(cls, meta: TableMeta, entries: Iterable[Entry]) -> LatencyTable:
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

    def subset(self, keys: Sequence[str]) -> LatencyTable:
        """The same table with only the entries ``keys`` (in that order; KeyError for one it lacks)."""
        missing = [k for k in keys if k not in self.entries]
        if missing:
            raise KeyError(f"table {self.meta.name!r} has no entry {missing[0]!r}")
        return LatencyTable.from_entries(self.meta, [self.entries[k] for k in keys])

    def keys(self) -> list[str]:
        """Entry keys in table order."""
        return list(self.entries)

    def mean_ms(self, keys: Sequence[str] | None = None) -> np.ndarray:
        """Measured means of ``keys`` (all entries by default); NaN where a key is absent."""
        keys = self.keys() if keys is None else keys
        return np.array([self.entries[k].mean_ms if k in self.entries else np.nan for k in keys])

    def column(self, name: str, keys: Sequence[str] | None = None) -> np.ndarray:
        """An ``extra`` column (e.g. ``"mem_io_mb"``); NaN where absent."""
        keys = self.keys() if keys is None else keys
        return np.array([self.entries[k].extra.get(name, np.nan) if k in self.entries else np.nan for k in keys])


def pool_entries(entries: Sequence[Entry]) -> Entry:
    """One entry from several measurements of the same key, as if all runs were one sample.

    ``count`` adds up; the mean is count-weighted; ``std_ms`` is the pooled
    sample standard deviation (within-run variances plus the spread of the
    means), so it equals ``numpy.std(all_runs, ddof=1)`` of the concatenated
    runs; ``min_ms`` / ``max_ms`` are the extremes.  A statistic or ``extra``
    column missing from any entry is missing from the result (``extra``
    columns are count-weighted means).

    Examples
    --------
    >>> a, b = Entry("k", 2, 1.0, std_ms=0.0), Entry("k", 2, 3.0, std_ms=0.0)
    >>> p = pool_entries([a, b])
    >>> p.count, p.mean_ms, round(p.std_ms, 6)
    (4, 2.0, 1.154701)
    """
    entries = list(entries)
    if not entries:
        raise ValueError("pool_entries needs at least one entry")
    keys = {e.key for e in entries}
    if len(keys) != 1:
        raise ValueError(f"pool_entries pools measurements of one key, got {sorted(keys)}")
    n = np.array([e.count for e in entries], dtype=float)
    means = np.array([e.mean_ms for e in entries])
    total = n.sum()
    mean = float(n @ means / total)
    std = None
    stds = [e.std_ms for e in entries if e.std_ms is not None]
    if total > 1 and len(stds) == len(entries):
        within = sum((e.count - 1) * s ** 2 for e, s in zip(entries, stds, strict=True))
        between = float(n @ (means - mean) ** 2)
        std = math.sqrt((within + between) / (total - 1))
    mins = [e.min_ms for e in entries if e.min_ms is not None]
    maxs = [e.max_ms for e in entries if e.max_ms is not None]
    shared = set.intersection(*(set(e.extra) for e in entries))
    extra = {name: float(n @ np.array([e.extra[name] for e in entries]) / total) for name in sorted(shared)}
    return Entry(
        key=entries[0].key,
        count=int(total),
        mean_ms=mean,
        std_ms=std,
        min_ms=min(mins) if len(mins) == len(entries) else None,
        max_ms=max(maxs) if len(maxs) == len(entries) else None,
        extra=extra,
    )
