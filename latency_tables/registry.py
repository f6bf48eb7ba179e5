"""The shipped measured tables, by name.

Shipped tables live in this package's ``data/`` folder as ``<name>.csv`` in
the format of :mod:`latency_tables.format`; ``data/PROVENANCE.md`` says where
each was measured and how it was converted (``scripts/convert_tables.py``).
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping
from functools import cache
from pathlib import Path

from .format import read_table
from .table import LatencyTable, TableMeta

__all__ = ["DATA_DIR", "list_tables", "load_table"]

#: Folder of the shipped tables.
DATA_DIR = Path(__file__).resolve().parent / "data"


def list_tables(pattern: str = "*") -> list[str]:
    """Names of the shipped tables matching a shell-style ``pattern``.

    >>> "ultra96v2-b2304" in list_tables("ultra96*")
    True
    """
    return sorted(p.stem for p in DATA_DIR.glob("*.csv") if fnmatch.fnmatchcase(p.stem, pattern))


def load_table(name_or_path: str | os.PathLike, *, meta: TableMeta | Mapping | None = None) -> LatencyTable:
    """A shipped table by name (see :func:`list_tables`) or any table file by path.

    Paths may be our CSV format or OFA's YAML tables (``meta`` or a sidecar
    ``<stem>.meta.yaml`` gives their metadata); see :func:`latency_tables.format.read_table`.

    Examples
    --------
    >>> table = load_table("ultra96v2-b2304")
    >>> table.meta.dpu_arch, table.meta.per_entry_invocation
    ('DPUCZDX8G B2304', True)
    """
    if isinstance(name_or_path, str) and name_or_path in list_tables():
        if meta is not None:
            raise ValueError(f"shipped table {name_or_path!r} carries its own metadata; do not pass meta=")
        return _load_shipped(name_or_path)
    if not isinstance(name_or_path, str | os.PathLike):
        raise TypeError(f"load_table takes a shipped table's name (list_tables()) or a file path, "
                        f"got {type(name_or_path).__name__}")
    path = Path(name_or_path)
    if path.is_dir():
        raise IsADirectoryError(f"latency table {str(path)!r} is a folder; give a .csv or .yaml file")
    if not path.is_file():
        raise FileNotFoundError(
            f"no latency table {str(name_or_path)!r}: not a file, and not a shipped table "
            f"(shipped: {', '.join(list_tables())})"
        )
    return read_table(path, meta=meta)


@cache
def _load_shipped(name: str) -> LatencyTable:
    # Tables are immutable, so every caller can share one parsed copy.
    path = DATA_DIR / f"{name}.csv"
    table = read_table(path, check_units=False)  # shipped: checked by the tests, and the prior is calibrated on them
    if table.meta.name != name:
        raise ValueError(f"{path}: shipped table file is named {name!r} but its metadata name is {table.meta.name!r}")
    return table
