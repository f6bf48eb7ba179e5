"""Latency predictors by name, by table file, and as JSON records a result can rebuild them from.

:func:`as_predictor` is the one entry point of search, report and CLI: a
shipped device name, a measured table file (fitted with
:func:`latency_tables.fit_device` on the shipped prior), a predictor record
written by ``ofa-hw lut fit``, or any :class:`accel_models.LatencyPredictor`.

:func:`predictor_record` describes a predictor as plain JSON (a device by
name; a table predictor by its table, the table file's path and sha256, and
its calibration parameters); :func:`predictor_from_record` rebuilds it
exactly, without refitting, so ``result.json`` is enough to report a search
run on a user's own board.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from accel_models import Accelerator, LatencyPredictor, RooflineModel
from accel_models.validation import read_json, reject_unknown_keys
from accel_models.wording import COMMAND_LINE, PYTHON, WordedError, literal

from .by_build import BuildPredictor
from .calibration import CalibratedModel
from .engine import EnginePredictor
from .few_shot import NETWORK_SPACE, FewShotReport, NetworkMeasurement, fit_device
from .format import format_table, parse_table
from .harness.measure import HOST_TIMED
from .per_resolution import PerResolutionPredictor
from .predictor import HybridPredictor, get_predictor, list_devices
from .registry import load_table
from .sources import table_accelerator
from .table import Entry, LatencyTable, TableMeta

__all__ = ["GIVE_PREDICTOR_AGAIN", "NETWORK_FILE_KEYS", "RECORD_FORMAT", "as_predictor", "fit_networks_file",
           "fit_table_file", "predictor_from_record", "predictor_record", "recorded_board", "recorded_timing",
           "timing_basis"]

#: ``format`` field of a predictor record.
RECORD_FORMAT = "ofa-hw-latency-predictor/1"
_TABLE_SUFFIXES = (".csv", ".yaml", ".yml")
#: How each caller names a latency predictor again when a record cannot rebuild one (a :class:`WordedError` hint).
GIVE_PREDICTOR_AGAIN = {PYTHON: "predictor=...", COMMAND_LINE: "--predictor DEVICE or TABLE.csv"}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fit_table_file(path: str | os.PathLike, accelerator: Accelerator | None = None,
                   prior: str = "dpuczdx8g-joint") -> HybridPredictor:
    """:func:`latency_tables.fit_device` on a table file, on ``accelerator`` or the one its metadata names.

    The predictor remembers the file (``origin``: path and sha256) so that
    :func:`predictor_record` can say where its measurements came from.
    """
    path = Path(path)
    table = load_table(path)
    if accelerator is None:
        try:
            accelerator = table_accelerator(table.meta)
        except ValueError as exc:
            told = exc if isinstance(exc, WordedError) else WordedError(literal(exc))
            hints = {name: {audience: text.replace("TABLE.csv", str(path)) for audience, text in texts.items()}
                     for name, texts in told.hints.items()}  # the command to run, on this file
            raise WordedError(literal(f"{path}: ") + told.template + "; or give the table's dpu_arch (e.g. 'DPUCZDX8G "
                              "B1600') and clock_mhz in its header, as 'ofa-hw lut measure --dpu-arch ... --clock-mhz "
                              "...' writes them", arguments=told.arguments, hints=hints) from None
    return _from_file(fit_device(table, accelerator, prior), path)


#: Keys of one whole network in a networks file (:func:`fit_networks_file`): required, then optional.
NETWORK_FILE_KEYS = ("name", "subnet", "latency_ms", "count", "std_ms")
_REQUIRED_NETWORK_KEYS = NETWORK_FILE_KEYS[:3]


def fit_networks_file(path: str | os.PathLike, accelerator: Accelerator,
                      prior: str = "dpuczdx8g-joint") -> HybridPredictor:
    """:func:`latency_tables.fit_device` on whole networks timed on the board, listed in a JSON file.

    The file is a list of ``{"name", "subnet", "latency_ms"}`` (optional
    ``"count"``, ``"std_ms"``): ``subnet`` a sub-network in any form
    :meth:`ofa_hw.SubnetConfig.from_dict` reads (as ``ofa-hw info`` does),
    ``latency_ms`` one inference as measured (``xdputil benchmark``,
    vaitrace). The predictor remembers the file like :func:`fit_table_file`.
    """
    from ofa_hw import SubnetConfig

    path = Path(path)
    rows = read_json(path, what="network measurements file")
    if not isinstance(rows, list) or not rows:
        got = "an empty list" if isinstance(rows, list) else f"a JSON {type(rows).__name__}"
        raise ValueError(f"{path}: expected a non-empty JSON list of {{\"name\", \"subnet\", \"latency_ms\"}} objects, "
                         f"got {got}")
    measurements = []
    for i, row in enumerate(rows):
        where = f"{path}: network {i}"
        try:
            if not isinstance(row, Mapping):
                raise ValueError(f"expected an object with {', '.join(_REQUIRED_NETWORK_KEYS)}, "
                                 f"got {type(row).__name__}")
            reject_unknown_keys(row, NETWORK_FILE_KEYS, "a network measurement")
            missing = [k for k in _REQUIRED_NETWORK_KEYS if k not in row]
            if missing:
                raise ValueError(f"missing {', '.join(missing)} (each network needs "
                                 f"{', '.join(_REQUIRED_NETWORK_KEYS)})")
            if not isinstance(row["subnet"], Mapping):
                raise ValueError(f"subnet must be an object (ks, e, d, r), got {type(row['subnet']).__name__}")
            measurements.append(NetworkMeasurement(row["name"], tuple(SubnetConfig.from_dict(row["subnet"]).layers()),
                                                   row["latency_ms"], row.get("count", 1), row.get("std_ms")))
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"{where}: {exc}") from None
    return _from_file(fit_device(measurements, accelerator, prior, name=path.stem), path)


def _from_file(fitted: HybridPredictor, path: Path) -> HybridPredictor:
    """``fitted``, remembering the file its measurements came from (path and sha256)."""
    return HybridPredictor(fitted.table, fitted.calibrated, fitted.name, fitted.few_shot,
                           origin={"path": str(path.resolve()), "sha256": _sha256(path)})


def as_predictor(predictor: str | os.PathLike | LatencyPredictor) -> LatencyPredictor:
    """The latency predictor ``predictor`` names or is.

    Parameters
    ----------
    predictor : str, path or LatencyPredictor
        A shipped device name (:func:`latency_tables.list_devices`); a path
        to a measured table (``.csv``, or OFA's ``.yaml``), fitted on the
        shipped prior (:func:`fit_table_file`); a path to a predictor record
        (``.json``, written by ``ofa-hw lut fit``); or any object
        implementing :class:`accel_models.LatencyPredictor`, returned as it is.

    Raises
    ------
    KeyError
        For a name that is neither a shipped device nor a file.
    TypeError
        For an object that is not a latency predictor.

    Examples
    --------
    >>> as_predictor("ultra96v2-b2304") is get_predictor("ultra96v2-b2304")
    True
    """
    if isinstance(predictor, str) and predictor in list_devices():
        return get_predictor(predictor)
    if isinstance(predictor, (str, os.PathLike)):
        path = Path(predictor)
        if path.suffix.lower() == ".json" and path.is_file():
            return _predictor_from_file(path)
        if path.suffix.lower() in _TABLE_SUFFIXES and path.is_file():
            return fit_table_file(path)
        raise KeyError(f"unknown device {str(predictor)!r}; known: {', '.join(list_devices())}, or a measured "
                       "table file (.csv) or a predictor record (.json, from 'ofa-hw lut fit')"
                       + ("" if not path.suffix else f" ({path} is not a file)"))
    if isinstance(predictor, LatencyPredictor):
        return predictor
    raise TypeError(f"{type(predictor).__name__} is not a latency predictor: expected a device name "
                    f"({', '.join(list_devices())}), a table file, or an object with the accel_models.LatencyPredictor "
                    "methods (a HybridPredictor, TablePredictor, CalibratedModel or RooflineModel)")


def _predictor_from_file(path: Path) -> LatencyPredictor:
    """:func:`predictor_from_record` of a record file; a record cut short or edited is refused naming the file."""
    record = read_json(path, what="latency predictor record")
    if not isinstance(record, Mapping) or record.get("format") != RECORD_FORMAT:  # another file: say only that
        raise ValueError(f"{path} is not a latency predictor record (format {RECORD_FORMAT}, written by "
                         "'ofa-hw lut fit ... --out FIT.json')")
    try:
        return predictor_from_record(record)
    except (KeyError, TypeError, ValueError) as exc:
        detail = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
        if isinstance(exc, KeyError) and detail.isidentifier():
            detail = f"field {detail!r} is missing"
        raise ValueError(f"{path}: {detail}; a predictor record is written whole by 'ofa-hw lut fit ... --out "
                         f"{path.name}' (was it edited or cut short?)") from None


def predictor_record(predictor: LatencyPredictor) -> dict[str, Any]:
    """A JSON-able description of ``predictor`` that :func:`predictor_from_record` rebuilds it from.

    ``kind`` is ``"device"`` (a shipped device, by name), ``"table"`` (a
    hybrid predictor: its table's text (whole-network measurements, whose
    keys are network names, as JSON rows), the table file's path and sha256
    where it came from a file, its calibration parameters and, for a
    ``fit_device`` result, what the few-shot fit chose), ``"calibrated"``,
    ``"roofline"``, or ``"object"`` (not rebuildable: its type only).
    """
    record: dict[str, Any] = {"format": RECORD_FORMAT}
    if isinstance(predictor, (HybridPredictor, PerResolutionPredictor, EnginePredictor, BuildPredictor)) \
            and predictor.name in list_devices() and predictor is get_predictor(predictor.name):
        return {**record, "kind": "device", "device": predictor.name}
    if isinstance(predictor, HybridPredictor):
        origin = dict(predictor.origin or {})
        return {**record, "kind": "table", "name": predictor.name, "path": origin.get("path"),
                "sha256": origin.get("sha256"), **_recorded_table(predictor.table),
                "calibration": predictor.calibrated.to_dict(),
                "few_shot": None if predictor.few_shot is None else predictor.few_shot.to_dict()}
    if isinstance(predictor, CalibratedModel):
        return {**record, "kind": "calibrated", "calibration": predictor.to_dict()}
    if isinstance(predictor, RooflineModel):
        return {**record, "kind": "roofline", "model": predictor.to_dict()}
    return {**record, "kind": "object", "type": type(predictor).__name__}


def _recorded_table(table: LatencyTable) -> dict[str, Any]:
    """The table as the record keeps it: its CSV text; whole networks (keys are names, not units) as JSON rows."""
    if table.meta.space != NETWORK_SPACE:
        return {"table_csv": format_table(table)}
    rows = [{"key": e.key, "count": e.count, "mean_ms": e.mean_ms, "std_ms": e.std_ms, "min_ms": e.min_ms,
             "max_ms": e.max_ms, "extra": dict(e.extra)} for e in table.entries.values()]
    return {"table_networks": {"meta": table.meta.to_dict(), "entries": rows}}


def _table_of_record(record: Mapping[str, Any]) -> LatencyTable:
    if "table_networks" in record:
        networks = record["table_networks"]
        return LatencyTable.from_entries(TableMeta.from_dict(networks["meta"]),
                                         [Entry(**row) for row in networks["entries"]])
    return parse_table(record["table_csv"], source=record.get("path") or "<recorded table>")


def _recorded_meta(record: Mapping[str, Any] | None) -> TableMeta | None:
    """The metadata of the table a predictor record holds (None for a device or any other kind)."""
    if not isinstance(record, Mapping) or record.get("kind") != "table":
        return None
    return _table_of_record(record).meta


def recorded_timing(record: Mapping[str, Any] | None) -> str | None:
    """``"host wall time"`` when the recorded predictor's table says its ``mean_ms`` is (``lut measure``'s default).

    None otherwise (a shipped device, or a table of DPU time: profiler, ``xdputil``, or a method that does not say).
    """
    meta = _recorded_meta(record)
    return "host wall time" if meta is not None and HOST_TIMED in meta.method else None


def timing_basis(record: Mapping[str, Any] | None, dpu: str = "DPU time only") -> str:
    """What a DPU design's latency or fps (without a deployment model) counts: ``dpu``, or the table's host wall time.

    >>> timing_basis(None), timing_basis(None, dpu="DPU time")
    ('DPU time only', 'DPU time')
    """
    timing = recorded_timing(record)
    return dpu if timing is None else f"{timing}, as the predictor's table was timed"


def recorded_board(record: Mapping[str, Any] | None) -> str | None:
    """The board the recorded predictor's table was measured on, or None (a device, or a table naming none)."""
    meta = _recorded_meta(record)
    return meta.board if meta is not None and meta.board else None


def predictor_from_record(record: Mapping[str, Any]) -> LatencyPredictor:
    """Rebuild the predictor :func:`predictor_record` described (no refit: the recorded parameters).

    A table file that changed or is gone since the record was written is
    reported (a warning); the recorded copy of the table is used.
    """
    if not isinstance(record, Mapping) or record.get("format") != RECORD_FORMAT:
        raise ValueError(f"not a latency predictor record (expected format {RECORD_FORMAT!r}, "
                         f"got {record.get('format') if isinstance(record, Mapping) else type(record).__name__!r})")
    kind = record.get("kind")
    if kind == "device":
        return get_predictor(record["device"])
    if kind == "table":
        table = _table_of_record(record)
        path = record.get("path")
        if path and not Path(path).is_file():
            warnings.warn(f"{path}, the table this predictor was fitted on, is no longer there (moved or deleted); "
                          "the recorded copy of its table and calibration is used", stacklevel=2)
        elif path and record.get("sha256") and _sha256(Path(path)) != record["sha256"]:
            warnings.warn(f"{path} changed since this predictor was recorded (sha256 differs); the recorded copy "
                          "of its table and calibration is used", stacklevel=2)
        few_shot = record.get("few_shot")
        return HybridPredictor(table, CalibratedModel.from_dict(record["calibration"]), name=record["name"],
                               few_shot=None if few_shot is None else FewShotReport.from_dict(few_shot),
                               origin={"path": path, "sha256": record.get("sha256")})
    if kind == "calibrated":
        return CalibratedModel.from_dict(record["calibration"])
    if kind == "roofline":
        return RooflineModel.from_dict(record["model"])
    raise WordedError(literal(f"a {record.get('type', kind)!r} latency predictor is not recorded in enough detail "
                              "to rebuild it: ") + "give it again ({how})", hints={"how": GIVE_PREDICTOR_AGAIN})
