"""The latency-table file format: read and write measured tables.

A table file is a CSV document with a metadata header, readable and diffable
by hand::

    # format: ofa-hw-latency-table/1
    # name: ultra96v2-b2304
    # board: ultra96v2
    # dpu_arch: DPUCZDX8G B2304
    # clock_mhz: 200.0
    # cores: 1
    # toolchain: Vitis AI 3.0
    # method: one xmodel per block, 500 timed runs, Vitis AI profiler
    # date: 2021-11-19
    # source: owner/repo@commit, path
    # license: figures only, attribute the source
    # per_entry_invocation: true
    # space: ofa-mbv3-w1.2
    # entries: 66
    key,count,mean_ms,std_ms,min_ms,max_ms,mem_io_mb
    Conv-input:224x224x3-output:112x112x24,500,0.352,,0.338,0.771,0.503
    ...

Rules, all checked on reading:

* Header lines are ``# field: value``, one per :class:`TableMeta` field
  (``space`` may be omitted), plus ``format`` (first line) and ``entries``
  (the number of rows, so a file cut at a line boundary is detected).
  ``clock_mhz`` may be ``none``; ``per_entry_invocation`` is ``true`` or
  ``false``.  An optional ``unit`` (``ms``, ``us`` or ``s``; default ``ms``)
  declares the unit of the latency columns, converted to ms on reading.
* The column line starts with ``key,count,mean_ms,std_ms,min_ms,max_ms``;
  further columns are measured extras (``[a-z][a-z0-9_]*``, e.g. ``mem_io_mb``).
  An empty cell is a value that was not measured (never allowed for
  ``key``, ``count`` and ``mean_ms``).
* Keys are OFA canonical unit keys (:meth:`accel_models.BlockSpec.from_key`
  must parse them).  A key may repeat only with identical values.
* Latencies are finite and non-negative, means positive; the file ends with
  a line end (a file cut inside its last line is detected).  The text is
  UTF-8 (a BOM is accepted).
* Units against physics: a DPU table without a ``unit`` line must not have an
  entry 1000x away from what the calibrated prior predicts for its unit
  (:mod:`latency_tables.units`): a table in microseconds or seconds is
  refused naming the row.

Any violation raises :class:`TableFormatError` naming the file and line, and
nothing is returned half-loaded.  OFA's own YAML tables
(``{key: {count, mean, std}}``) are read as they are by :func:`read_table`;
their metadata comes from the ``meta=`` argument or a sidecar file
``<name>.meta.yaml`` next to them.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from accel_models.atomic import atomic_write_text
from accel_models.blocks import BlockSpec

from .table import Entry, LatencyTable, TableMeta

__all__ = [
    "FORMAT_ID",
    "STANDARD_COLUMNS",
    "TableFormatError",
    "UNITS",
    "format_table",
    "parse_ofa_yaml",
    "parse_table",
    "read_table",
    "write_table",
]

FORMAT_ID = "ofa-hw-latency-table/1"
#: Columns every table file has, in this order; extra measured columns follow.
STANDARD_COLUMNS = ("key", "count", "mean_ms", "std_ms", "min_ms", "max_ms")
_META_FIELDS = tuple(TableMeta.__dataclass_fields__)
_OPTIONAL_META = ("space",)
_HEADER_FIELDS = ("format", *_META_FIELDS, "unit", "entries")
#: Latency units a file may declare (``# unit: us``), as factors to milliseconds; undeclared means ms.
UNITS = {"ms": 1.0, "us": 1e-3, "s": 1e3}
_UNIT_LINE = re.compile(r"^#\s*unit\s*:", re.MULTILINE)
_LATENCY_COLUMNS = ("mean_ms", "std_ms", "min_ms", "max_ms")
_META_LINE = re.compile(r"#\s*([A-Za-z_][A-Za-z0-9_]*)\s*:(.*)")
_EXTRA_NAME = re.compile(r"[a-z][a-z0-9_]*")
_OFA_FIELDS = ("count", "mean", "std")
#: YAML's spellings of the non-finite floats, so they are reported as such rather than as text.
_YAML_SPECIAL = {".nan": "nan", ".inf": "inf", "+.inf": "inf", "-.inf": "-inf"}


class TableFormatError(ValueError):
    """A table file that cannot be read: ``path`` and ``line`` (1-based, 0 if the whole file) say where."""

    def __init__(self, path: str | os.PathLike, line: int, problem: str):
        self.path = str(path)
        self.line = line
        self.problem = problem
        super().__init__(f"{self.path}:{line}: {problem}" if line else f"{self.path}: {problem}")


# --------------------------------------------------------------------- write
def _meta_value(name: str, value) -> str:
    if name == "per_entry_invocation":
        return "true" if value else "false"
    if name == "clock_mhz":
        return "none" if value is None else repr(float(value))
    if name == "cores":
        return str(int(value))
    text = str(value)
    if "\n" in text or "\r" in text or text != text.strip():
        raise ValueError(
            f"table metadata {name!r} cannot be written: {text!r} has a line break or leading/trailing "
            "whitespace; use a single line without surrounding spaces"
        )
    return text


def _cell(value) -> str:
    return "" if value is None else repr(float(value))


def format_table(table: LatencyTable, *, declare_unit: bool = False) -> str:
    """The file text of ``table`` (see the module docstring for the format).

    ``declare_unit`` writes the header line ``# unit: ms``: for tables whose
    milliseconds are certain (timed by the harness itself), so reading them
    skips the physics check of their unit, which needs the calibrated prior
    (and scipy).

    Examples
    --------
    >>> meta = TableMeta("t", "b", "B512", None, 1, "tc", "m", "d", "s", "l", False)
    >>> text = format_table(LatencyTable.from_entries(meta, [Entry("Logits-input:1x1x8-output:4", 3, 0.5)]))
    >>> print(text.splitlines()[-2:])
    ['key,count,mean_ms,std_ms,min_ms,max_ms', 'Logits-input:1x1x8-output:4,3,0.5,,,']
    """
    meta = table.meta.to_dict()
    lines = [f"# format: {FORMAT_ID}"]
    lines += [f"# {name}: {_meta_value(name, meta[name])}" for name in _META_FIELDS
              if not (name in _OPTIONAL_META and not meta[name])]
    if declare_unit:
        lines.append("# unit: ms")
    lines.append(f"# entries: {len(table)}")
    extras = sorted({name for entry in table.entries.values() for name in entry.extra})
    bad = [name for name in extras if not _EXTRA_NAME.fullmatch(name) or name in STANDARD_COLUMNS]
    if bad:
        raise ValueError(f"extra column name(s) {bad} cannot be written; use [a-z][a-z0-9_]* other than "
                         f"{', '.join(STANDARD_COLUMNS)}")
    lines.append(",".join(STANDARD_COLUMNS + tuple(extras)))
    for entry in table.entries.values():
        cells = [entry.key, str(entry.count), _cell(entry.mean_ms), _cell(entry.std_ms), _cell(entry.min_ms),
                 _cell(entry.max_ms)]
        cells += [_cell(entry.extra.get(name)) for name in extras]
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


def write_table(table: LatencyTable, path: str | os.PathLike, *, declare_unit: bool = False) -> Path:
    """Write ``table`` to ``path`` atomically (temporary file in the same folder, then rename).

    ``declare_unit``: see :func:`format_table`.
    """
    path = Path(path)
    if path.suffix.lower() != ".csv":
        raise ValueError(f"{path}: latency tables are written as .csv files, got suffix {path.suffix!r}")
    atomic_write_text(path, format_table(table, declare_unit=declare_unit))
    return path


# ---------------------------------------------------------------------- read
def read_table(path: str | os.PathLike, *, meta: TableMeta | Mapping | None = None,
               check_units: bool = True) -> LatencyTable:
    """Read a table file: our CSV format, or OFA's YAML (``.yaml`` / ``.yml``).

    For OFA YAML the metadata is ``meta`` or else the sidecar
    ``<file stem>.meta.yaml``; for CSV it is the file's header (``meta`` must
    then be None).  ``check_units``: a DPU table whose header declares no
    ``unit`` is checked against the calibrated prior
    (:func:`latency_tables.units.check_units`: no entry 1000x off).
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"latency table {str(path)!r} is a folder; give a .csv or .yaml file")
    if not path.is_file():
        raise FileNotFoundError(f"latency table {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".csv"):
        raise TableFormatError(path, 0, f"unknown table file type {path.suffix!r}; use .csv (ours) or .yaml (OFA's)")
    text = _decode(path)
    if suffix in (".yaml", ".yml"):
        return parse_ofa_yaml(text, _yaml_meta(path, meta), source=path)
    if meta is not None:
        raise ValueError(f"{path}: a .csv table carries its own metadata header; do not pass meta=")
    table = parse_table(text, source=path)
    if check_units and _UNIT_LINE.search(text) is None:
        from .units import check_units as check

        first_row = next(n for n, line in enumerate(text.split("\n"), start=1) if not line.startswith("#")) + 1
        check(table, path, range(first_row, first_row + len(table)))
    return table


def _decode(path: Path) -> str:
    """The file's text (UTF-8, a leading BOM dropped); other encodings are an error naming the line."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise TableFormatError(path, line, f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                                           "save the table as UTF-8") from None


def _yaml_meta(path: Path, meta: TableMeta | Mapping | None) -> TableMeta:
    if isinstance(meta, TableMeta):
        return meta
    if meta is not None:
        try:
            return TableMeta.from_dict(meta)
        except (TypeError, ValueError) as exc:
            raise TableFormatError(path, 0, f"bad metadata passed as meta=: {exc}") from None
    sidecar = path.with_name(path.name[: -len(path.suffix)] + ".meta.yaml")
    if not sidecar.is_file():
        raise TableFormatError(
            path, 0, f"metadata missing: an OFA YAML table needs meta=TableMeta(...) or a sidecar file {sidecar.name}")
    try:
        data = yaml.safe_load(sidecar.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise ValueError(f"expected a mapping of metadata fields, got {type(data).__name__}")
        return TableMeta.from_dict(data)
    except (yaml.YAMLError, TypeError, ValueError) as exc:
        raise TableFormatError(sidecar, 0, f"bad metadata sidecar: {exc}") from None


def _parse_meta_value(name: str, raw: str):
    if name == "per_entry_invocation":
        if raw not in ("true", "false"):
            raise ValueError(f"per_entry_invocation must be 'true' or 'false', got {raw!r}")
        return raw == "true"
    if name == "clock_mhz":
        return None if raw.lower() == "none" else _number(raw, "clock_mhz")
    if name == "unit":
        if raw not in UNITS:
            raise ValueError(f"unit must be one of {', '.join(UNITS)}, got {raw!r}")
        return UNITS[raw]
    if name in ("cores", "entries"):
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{name} must be an integer, got {raw!r}") from None
    return raw


def _number(raw: str, column: str) -> float:
    try:
        value = float(_YAML_SPECIAL.get(raw.lower(), raw))
    except ValueError:
        raise ValueError(f"column {column!r}: {raw!r} is not a number") from None
    if math.isnan(value) or math.isinf(value):
        raise ValueError(f"column {column!r}: {raw!r} is not a finite number")
    return value


def parse_table(text: str, *, source: str | os.PathLike = "<string>") -> LatencyTable:
    """Parse the text of a CSV table file (see the module docstring)."""
    if not text:
        raise TableFormatError(source, 0, "file is empty")
    if not text.endswith("\n"):
        raise TableFormatError(source, text.count("\n") + 1, "truncated: the last line has no line end")
    lines = text.split("\n")[:-1]
    header: dict[str, Any] = {}
    n = 0
    for n, line in enumerate(lines, start=1):
        if not line.startswith("#"):
            break
        match = _META_LINE.fullmatch(line.rstrip("\r"))
        if match is None:
            raise TableFormatError(source, n, f"header line must read '# field: value', got {line!r}")
        name, raw = match.group(1), match.group(2).strip()
        if "\r" in raw:
            raise TableFormatError(source, n, f"header field {name!r}: a carriage return inside the value {raw!r}")
        if name not in _HEADER_FIELDS:
            raise TableFormatError(source, n, f"unknown header field {name!r}; allowed: {', '.join(_HEADER_FIELDS)}")
        if name in header:
            raise TableFormatError(source, n, f"header field {name!r} given twice")
        try:
            header[name] = _parse_meta_value(name, raw)
        except ValueError as exc:
            raise TableFormatError(source, n, str(exc)) from None
    else:
        raise TableFormatError(source, len(lines), "no column line after the header")
    if next(iter(header), None) != "format" or header["format"] != FORMAT_ID:
        raise TableFormatError(source, 1, f"first header line must be '# format: {FORMAT_ID}', "
                                          f"got format {header.get('format')!r}")
    columns = lines[n - 1].rstrip("\r").split(",")
    column_line = n
    if tuple(columns[: len(STANDARD_COLUMNS)]) != STANDARD_COLUMNS:
        raise TableFormatError(source, column_line, f"columns must start with {','.join(STANDARD_COLUMNS)}, "
                                                    f"got {','.join(columns)}")
    if "entries" not in header:
        raise TableFormatError(source, n, "header field 'entries' (the number of rows) is missing")
    meta_fields = {k: v for k, v in header.items() if k in _META_FIELDS}
    missing = [f for f in _META_FIELDS if f not in meta_fields and f not in _OPTIONAL_META]
    if missing:
        raise TableFormatError(source, n, f"metadata missing: header field(s) {missing}")
    try:
        meta = TableMeta(**meta_fields)
    except ValueError as exc:
        raise TableFormatError(source, n, str(exc)) from None
    extras = columns[len(STANDARD_COLUMNS):]
    for name in extras:
        if not _EXTRA_NAME.fullmatch(name) or name in STANDARD_COLUMNS or extras.count(name) > 1:
            raise TableFormatError(source, column_line, f"bad extra column name {name!r}: names are "
                                                        "[a-z][a-z0-9_]*, distinct, not a standard column")
    rows = lines[column_line:]
    scale = float(header.get("unit", 1.0))
    entries = (_parse_row(row, columns, source, line, scale) for line, row in enumerate(rows, start=column_line + 1))
    table = _collect(meta, entries, source)
    if len(rows) != header["entries"]:
        raise TableFormatError(source, len(lines), f"truncated or padded: header says {header['entries']} "
                                                   f"entries, the file has {len(rows)} rows")
    return table


def _parse_row(row: str, columns: list[str], source, line: int, scale: float = 1.0) -> tuple[int, Entry]:
    cells = row.rstrip("\r").split(",")
    if len(cells) != len(columns):
        raise TableFormatError(source, line, f"expected {len(columns)} cells ({','.join(columns)}), got {len(cells)}")
    key = cells[0]
    try:
        if not key:
            raise ValueError("empty key")
        BlockSpec.from_key(key)
        if not cells[1] or not cells[2]:
            raise ValueError("count and mean_ms are required")
        try:
            count = int(cells[1])
        except ValueError:
            raise ValueError(f"column 'count': {cells[1]!r} is not an integer") from None
        values = {name: (_number(cell, name) if cell else None) for name, cell in zip(columns[2:], cells[2:],
                                                                                      strict=True)}
        scaled = {name: _scaled(values[name], scale) for name in _LATENCY_COLUMNS}
        mean = scaled["mean_ms"]
        assert mean is not None  # required above
        entry = Entry(key, count, mean, scaled["std_ms"], scaled["min_ms"], scaled["max_ms"],
                      {k: v for k, v in values.items() if v is not None and k not in _LATENCY_COLUMNS})
    except ValueError as exc:
        raise TableFormatError(source, line, str(exc)) from None
    return line, entry


def _scaled(value: float | None, scale: float) -> float | None:
    return None if value is None else value * scale


def _collect(meta: TableMeta, entries: Iterable[tuple[int, Entry]], source) -> LatencyTable:
    collected: dict[str, Entry] = {}
    first_line: dict[str, int] = {}
    for line, entry in entries:
        if entry.key in collected and collected[entry.key] != entry:
            raise TableFormatError(source, line, f"key {entry.key!r} repeats line {first_line[entry.key]} "
                                                 "with different values")
        collected.setdefault(entry.key, entry)
        first_line.setdefault(entry.key, line)
    return LatencyTable(meta, collected)


# ------------------------------------------------------------------ OFA YAML
def parse_ofa_yaml(text: str, meta: TableMeta, *, source: str | os.PathLike = "<string>") -> LatencyTable:
    r"""Parse OFA's YAML lookup table (``key: {count: n, mean: ms, std: ms}`` per unit).

    Examples
    --------
    >>> meta = TableMeta("t", "phone", "cpu", None, 1, "tc", "m", "d", "s", "l", False)
    >>> table = parse_ofa_yaml("Logits-input:1x1x8-output:4:\n  count: 3\n  mean: 0.5\n  std: 0.1\n", meta)
    >>> table.entries["Logits-input:1x1x8-output:4"].std_ms
    0.1
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise TableFormatError(source, mark.line + 1 if mark else 0, f"not valid YAML: {exc}") from None
    if root is None:
        raise TableFormatError(source, 0, "file is empty")
    if not isinstance(root, yaml.MappingNode):
        raise TableFormatError(source, root.start_mark.line + 1, "expected a mapping of unit key -> {count, mean, std}")
    return _collect(meta, (_ofa_entry(k, v, source) for k, v in root.value), source)


def _ofa_entry(key_node, value_node, source) -> tuple[int, Entry]:
    line = key_node.start_mark.line + 1
    if not isinstance(key_node, yaml.ScalarNode) or not isinstance(value_node, yaml.MappingNode):
        raise TableFormatError(source, line, "each entry must be 'key:' followed by a mapping {count, mean, std}")
    key = key_node.value
    fields: dict[str, str] = {}
    for name_node, field_node in value_node.value:
        name = name_node.value
        if name not in _OFA_FIELDS or not isinstance(field_node, yaml.ScalarNode):
            raise TableFormatError(source, name_node.start_mark.line + 1,
                                   f"entry {key!r}: unknown field {name!r}; allowed: {', '.join(_OFA_FIELDS)}")
        fields[name] = field_node.value
    try:
        BlockSpec.from_key(key)
        missing = [name for name in ("count", "mean") if name not in fields]
        if missing:
            raise ValueError(f"entry {key!r}: field(s) {missing} missing")
        try:
            count = int(fields["count"])
        except ValueError:
            raise ValueError(f"entry {key!r}: count {fields['count']!r} is not an integer") from None
        std = _number(fields["std"], "std") if "std" in fields else None
        entry = Entry(key, count, _number(fields["mean"], "mean"), std)
    except ValueError as exc:
        raise TableFormatError(source, line, str(exc)) from None
    return line, entry
