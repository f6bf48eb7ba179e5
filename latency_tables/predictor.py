"""Whole-network latency from measured tables, with the calibrated model filling the gaps.

Measurement context rule (one rule for every table, driven by
``table.meta.per_entry_invocation``):

* A table whose entries were each timed as their own compiled program (one
  xmodel per unit) includes one program launch in every entry.  Calling that
  cost ``inv`` (``CalibratedModel.invocation_ms``, fitted on the table; 0 for
  tables measured otherwise), a unit's latency *inside* a network compiled as
  one program is ``measured - inv`` for a measured unit and the calibrated
  model's in-network latency for any other unit.
* A network's latency is the sum of its units' in-network latencies plus one
  launch, ``inv``.
* :meth:`HybridPredictor.predict_key_ms` answers in the table's own context
  (what the table would say for the key: the measured mean, or the model's
  standalone prediction ``model + inv``), so it is directly comparable with
  table entries.

Everything is vectorised over distinct units: a population of N networks
built from K distinct units costs K lookups or model evaluations (once, then
cached) and one numpy gather-and-sum (:meth:`accel_models.network.BlockCatalog.total`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache, partial
from typing import TYPE_CHECKING

import numpy as np

from accel_models.accelerator import Accelerator
from accel_models.blocks import BlockSpec
from accel_models.layer import Layer
from accel_models.network import BlockCatalog
from accel_models.predictor_protocol import AcceleratorChoice, accelerator_list, as_layers
from accel_models.roofline import RooflineModel
from accel_models.schedule import group_by_block
from accel_models.tiling import augmentation_applies

from .by_build import BY_BUILD_DEVICE, STOCK_DEVICE, BuildPredictor
from .calibration import CalibratedModel, calibrate
from .engine import ENGINE_DEVICE, EnginePredictor
from .joint import calibrate_joint
from .registry import load_table
from .sources import CalibrationSource, get_source
from .table import LatencyTable
from .validity import sizes_checked

if TYPE_CHECKING:  # pragma: no cover
    from .per_resolution import PerResolutionPredictor

__all__ = [
    "DEVICES",
    "HybridPredictor",
    "NetworkBreakdown",
    "TablePredictor",
    "get_predictor",
    "list_devices",
]


def _catalog(batch_or_config) -> BlockCatalog:
    if isinstance(batch_or_config, BlockCatalog):
        return batch_or_config
    make = getattr(batch_or_config, "block_catalog", None)
    if make is None:
        raise TypeError(f"expected a SubnetBatch, SubnetConfig or BlockCatalog (anything with .block_catalog()), "
                        f"got {type(batch_or_config).__name__}")
    return make()


def _network_sums(batch_or_config, unit_values: Callable) -> np.ndarray:
    """(N,) sum of ``unit_values(keys, layers)`` over each network's units (the same function at every resolution).

    A sub-network batch or config sums by its space's dense gather
    (``unit_totals``, :mod:`ofa_hw.unit_gather`); anything else through its
    block catalogue.
    """
    if hasattr(batch_or_config, "unit_totals"):
        return batch_or_config.unit_totals(lambda r: unit_values)
    catalog = _catalog(batch_or_config)
    return catalog.total(unit_values(catalog.keys, catalog.layers))


def _check_keys(keys: Sequence[str]) -> None:
    for key in keys:
        BlockSpec.from_key(key)  # a malformed key is an error, never a silent model prediction


# --------------------------------------------------------------------- table
def _unit_key(unit: Sequence[Layer]) -> str:
    """The canonical key a table looks a unit up by: its layers' ``block``."""
    if not unit:
        raise ValueError("a unit has no layers")
    return unit[0].block


class TablePredictor:
    """Latency from measured entries only; a unit the table lacks is an error.

    ``invocation_ms`` applies the measurement-context rule of this module
    (0 by default: sum the entries as they are, as OFA's ``LatencyTable`` does).
    ``accelerator`` is the one the table was measured on (None: unknown); a
    table predicts for no other.

    Examples
    --------
    >>> p = TablePredictor(load_table("ultra96v2-b2304"))
    >>> p.predict_key_ms("Logits-input:1x1x1536-output:1000")
    0.822
    """

    def __init__(self, table: LatencyTable, invocation_ms: float = 0.0, accelerator: Accelerator | None = None):
        if not invocation_ms >= 0:
            raise ValueError(f"invocation_ms must be >= 0, got {invocation_ms!r}")
        if accelerator is not None and not isinstance(accelerator, Accelerator):
            raise ValueError(f"accelerator must be an Accelerator or None, got {type(accelerator).__name__}")
        self.table = table
        self.accelerator = accelerator
        self.invocation_ms = float(invocation_ms) if table.meta.per_entry_invocation else 0.0
        keys = table.keys()
        self._index = {key: i for i, key in enumerate(keys)}
        self._measured = table.mean_ms(keys)

    def predict_key_ms(self, key: str) -> float:
        """The measured mean of ``key``."""
        if key not in self._index:
            _check_keys([key])
            raise KeyError(f"{key!r} is not in table {self.table.meta.name!r}; use a HybridPredictor to model it")
        return float(self._measured[self._index[key]])

    def key_latency_ms(self, keys: Sequence[str]) -> np.ndarray:
        """In-network latency of each key (measured minus the per-entry launch cost)."""
        missing = [k for k in keys if k not in self._index]
        if missing:
            raise KeyError(f"{len(missing)} unit(s) not in table {self.table.meta.name!r}, e.g. {missing[0]!r}; "
                           "use a HybridPredictor to model them")
        rows = np.fromiter((self._index[k] for k in keys), dtype=np.int64, count=len(keys))
        return self._measured[rows] - self.invocation_ms

    def subnet_latency_ms(self, batch_or_config) -> np.ndarray:
        """(N,) network latencies: sum of in-network unit latencies plus one launch."""
        def measured_or_nan(keys: Sequence[str], layers) -> np.ndarray:
            rows = np.fromiter((self._index.get(k, -1) for k in keys), dtype=np.int64, count=len(keys))
            return np.where(rows >= 0, self._measured[rows] - self.invocation_ms, np.nan)

        totals = _network_sums(batch_or_config, measured_or_nan)
        if np.isnan(totals).any():  # some network uses a unit the table lacks: name it
            catalog = _catalog(batch_or_config)
            used = np.unique(catalog.index[catalog.index >= 0])
            self.key_latency_ms([catalog.keys[i] for i in used])  # raises a KeyError naming the unit
        return totals + self.invocation_ms

    # -------------------------------------------- the predictor protocol
    def _count(self, accelerator: AcceleratorChoice) -> int | None:
        """None for one accelerator, M for a sequence; only the table's own accelerator is allowed."""
        if accelerator is None:
            return None
        accelerators, single = accelerator_list(accelerator)
        foreign = [a for a in accelerators if self.accelerator is None or a.timing_key != self.accelerator.timing_key]
        if foreign:
            own = "an unknown accelerator" if self.accelerator is None else self.accelerator.label
            raise ValueError(f"table {self.table.meta.name!r} was measured on {own}, not on "
                             f"{foreign[0].label}; use a HybridPredictor to transfer it")
        return None if single else len(accelerators)

    @staticmethod
    def _stack(values: np.ndarray, count: int | None) -> np.ndarray:
        return values if count is None else np.tile(values, (count,) + (1,) * values.ndim)

    def unit_latency_ms(self, units: Sequence[Sequence[Layer]], accelerator: AcceleratorChoice = None) -> np.ndarray:
        """In-network latency of each unit, looked up by its layers' ``block`` key: (K,) or (M, K)."""
        count = self._count(accelerator)
        return self._stack(self.key_latency_ms([_unit_key(u) for u in units]), count)

    def layer_latency_ms(self, layers: Sequence[Layer], accelerator: AcceleratorChoice = None) -> np.ndarray:
        """Each layer's share of its unit's measurement, in proportion to MACs: (L,) or (M, L).

        A table measures units, not layers: the per-layer split is an
        attribution (equal shares in a unit without MACs); per unit it adds
        up to the measurement exactly.
        """
        count = self._count(accelerator)
        units = group_by_block(list(layers))
        measured = self.key_latency_ms([_unit_key(u) for u in units])
        shares = []
        for unit, value in zip(units, measured.tolist(), strict=True):
            macs = np.array([layer.macs for layer in unit], dtype=float)
            weights = macs / macs.sum() if macs.sum() > 0 else np.full(len(unit), 1 / len(unit))
            shares.append(value * weights)
        return self._stack(np.concatenate(shares), count)

    def network_latency_ms(self, layers: Sequence[Layer], accelerator: AcceleratorChoice = None) -> float | np.ndarray:
        """Sum of the network's measured units plus one launch: a float, or (M,)."""
        units = group_by_block(list(as_layers(layers)))
        total = self.unit_latency_ms(units, accelerator).sum(axis=-1) + self.invocation_ms
        return float(total) if np.ndim(total) == 0 else total

    def unit_sources(self, units: Sequence[Sequence[Layer]], accelerator: AcceleratorChoice = None) -> np.ndarray:
        """``"measured"`` for every unit (a unit the table lacks is a KeyError)."""
        count = self._count(accelerator)
        self.key_latency_ms([_unit_key(u) for u in units])
        return self._stack(np.full(len(units), "measured"), count)


# ------------------------------------------------------------------- results
@dataclass(frozen=True)
class NetworkBreakdown:
    """Where one network's predicted latency comes from.

    ``units`` has one record per unit in execution order: ``key``,
    ``source`` (``"measured"`` / ``"model"``), ``latency_ms`` (in-network),
    ``measured_ms`` (the table entry, or None) and, for modelled units,
    ``layers``: ``[{"name", "op", "latency_ms"}, ...]``.
    """

    units: tuple[dict, ...]
    invocation_ms: float
    total_ms: float
    device: str = ""

    def to_records(self) -> list[dict]:
        """One plain dict per unit."""
        return [dict(u) for u in self.units]

    def format(self) -> str:
        """A readable table."""
        width = max(len(u["key"]) for u in self.units)
        lines = [f"{'unit':<{width}}  {'source':<8} {'ms':>8}"]
        for unit in self.units:
            lines.append(f"{unit['key']:<{width}}  {unit['source']:<8} {unit['latency_ms']:>8.4f}")
            for layer in unit.get("layers", ()):
                lines.append(f"    {layer['name']:<{width - 4}}  {layer['op']:<8} {layer['latency_ms']:>8.4f}")
        lines.append(f"{'one program launch':<{width}}  {'model':<8} {self.invocation_ms:>8.4f}")
        lines.append(f"{'total':<{width}}  {'':<8} {self.total_ms:>8.4f}")
        return "\n".join(lines)


# -------------------------------------------------------------------- hybrid
class HybridPredictor:
    """Measured latency where the table has it, the calibrated model everywhere else.

    Parameters
    ----------
    table : LatencyTable
        The measurements.
    calibrated : CalibratedModel
        The analytical model calibrated on ``table`` (see
        :func:`latency_tables.calibrate`); its ``accelerator`` is the one the
        table was measured on and its ``invocation_ms`` the per-entry launch
        cost.
    name : str, optional
        Device name for reports.
    few_shot : FewShotReport, optional
        What :func:`latency_tables.fit_device` chose and why, for a
        predictor it made.
    origin : mapping, optional
        Where the table came from: ``{"path", "sha256"}`` of its file
        (see :func:`latency_tables.predictor_record`).
    """

    def __init__(self, table: LatencyTable, calibrated: CalibratedModel, name: str = "", few_shot=None,
                 origin: Mapping[str, str | None] | None = None):
        self.table = table
        self.few_shot = few_shot
        self.origin = dict(origin) if origin else None
        self.calibrated = calibrated
        self.accelerator = calibrated.accelerator
        self.name = name or table.meta.name
        inv = float(calibrated.invocation_ms) if table.meta.per_entry_invocation else 0.0
        self.invocation_ms = inv
        self._table = TablePredictor(table, inv, calibrated.accelerator)
        below = [k for k in table.keys() if table.entries[k].mean_ms <= inv]
        if below:
            warnings.warn(f"{len(below)} entries of {table.meta.name!r} are not above the calibrated launch cost "
                          f"{inv:.4f} ms (e.g. {below[0]!r}); their in-network latency is clipped to 0", stacklevel=2)
        self._unit_cache: dict[str, float] = {}
        self._standalone_cache: dict[str, float] = {}

    # ------------------------------------------------------------ per key
    def source(self, key: str) -> str:
        """``"measured"`` if the table has ``key``, else ``"model"``."""
        if key in self.table:
            return "measured"
        _check_keys([key])
        return "model"

    def predict_key_ms(self, key: str) -> float:
        """Latency of ``key`` in the table's context: the measured mean, else the model's standalone prediction."""
        if key in self.table:
            return self._table.predict_key_ms(key)
        if key not in self._standalone_cache:
            _check_keys([key])
            value = self.calibrated.entry_latency_ms([BlockSpec.from_key(key).layers()])
            self._standalone_cache[key] = float(np.asarray(value).reshape(-1)[0])
        return self._standalone_cache[key]

    def key_latency_ms(self, keys: Sequence[str], layers: Sequence[Sequence[Layer]] | None = None) -> np.ndarray:
        """In-network latency of each key on the table's accelerator: measured minus the launch cost, else the model.

        ``layers`` (the layers of each key, e.g. ``catalog.layers``) saves
        rebuilding them from the keys.  Results are cached per key.
        """
        todo = [i for i, key in enumerate(keys) if key not in self._unit_cache]
        if todo:
            hits = [i for i in todo if keys[i] in self.table]
            misses = [i for i in todo if keys[i] not in self.table]
            if hits:
                values = np.maximum(self._table.key_latency_ms([keys[i] for i in hits]), 0.0)
                self._unit_cache.update(zip((keys[i] for i in hits), values.tolist(), strict=True))
            if misses:
                _check_keys([keys[i] for i in misses])
                units = [layers[i] if layers is not None else BlockSpec.from_key(keys[i]).layers() for i in misses]
                values = np.asarray(self.calibrated.unit_latency_ms(units), dtype=float).reshape(-1)
                self._unit_cache.update(zip((keys[i] for i in misses), values.tolist(), strict=True))
        cache = self._unit_cache
        return np.fromiter((cache[k] for k in keys), dtype=float, count=len(keys))

    # --------------------------------------------------------- networks
    def subnet_latency_ms(self, batch_or_config) -> np.ndarray:
        """(N,) whole-network latency of a ``SubnetBatch`` / ``SubnetConfig`` / ``BlockCatalog``.

        Sum of the units' in-network latencies plus one program launch.
        """
        return _network_sums(batch_or_config, self.key_latency_ms) + self.invocation_ms

    def breakdown(self, config) -> NetworkBreakdown:
        """Per-unit sources and latencies of one network (per layer for modelled units)."""
        catalog = _catalog(config)
        if catalog.n_networks != 1:
            raise ValueError(f"breakdown takes one network, got {catalog.n_networks}")
        rows = [int(i) for i in catalog.index[0] if i >= 0]
        keys = [catalog.keys[i] for i in rows]
        latency = self.key_latency_ms(keys, [catalog.layers[i] for i in rows])
        model = self.calibrated.model
        units = []
        for key, row, value in zip(keys, rows, latency.tolist(), strict=True):
            record = {"key": key, "source": self.source(key), "latency_ms": value,
                      "measured_ms": self.table.entries[key].mean_ms if key in self.table else None}
            if record["source"] == "model":
                layers = catalog.layers[row]
                per_layer = np.asarray(model.layer_latency_ms(layers, self.accelerator), dtype=float)
                record["layers"] = [{"name": layer.name, "op": layer.op, "latency_ms": float(ms)}
                                    for layer, ms in zip(layers, per_layer, strict=True)]
            units.append(record)
        total = float(latency.sum()) + self.invocation_ms
        return NetworkBreakdown(tuple(units), self.invocation_ms, total, self.name)

    # -------------------------------------------- the predictor protocol
    def _measured_mask(self, units: Sequence[Sequence[Layer]], accelerators: Sequence[Accelerator]) -> np.ndarray:
        """(M, K): where a measured entry applies (the unit is in the table, on the table's accelerator)."""
        in_table = np.array([bool(u) and _unit_key(u) in self.table for u in units], dtype=bool)
        # DSP usage / UltraRAM change resources, not the program: timing_key, not equality
        own = np.array([acc.timing_key == self.accelerator.timing_key for acc in accelerators], dtype=bool)
        mask = own[:, None] & in_table[None, :]
        # channel augmentation changes the program of a unit with a dense conv on few input channels only
        built = self.accelerator.options.channel_augmentation
        other_augmentation = np.array([acc.options.channel_augmentation != built for acc in accelerators])
        if other_augmentation.any():
            changed = np.array([augmentation_applies(u, self.accelerator) for u in units], dtype=bool)
            mask &= ~(other_augmentation[:, None] & changed[None, :])
        return mask

    def unit_latency_ms(self, units: Sequence[Sequence[Layer]], accelerator: AcceleratorChoice = None) -> np.ndarray:
        """In-network latency of each unit: (K,) or (M, K).

        A unit the table measured (looked up by its layers' ``block`` key)
        gets its measurement, minus the per-entry launch cost, on the
        accelerator the table was measured on; every other (accelerator,
        unit) pair gets the calibrated model with its fitted parameters
        transferred to that accelerator.
        """
        accelerators, single = accelerator_list(accelerator, self.accelerator)
        units = [tuple(u) for u in units]
        if not units:  # else numpy's "zero-size array to reduction operation" from deep in the model
            raise ValueError("units must be a non-empty sequence of Layer sequences")
        latency = np.asarray(self.calibrated.unit_latency_ms(units, accelerators), dtype=float)
        latency = latency.reshape(len(accelerators), len(units))
        measured = self._measured_mask(units, accelerators)
        if measured.any():
            columns = np.flatnonzero(measured.any(axis=0))
            values = self.key_latency_ms([_unit_key(units[i]) for i in columns], [units[i] for i in columns])
            block = latency[:, columns]  # a measured column is measured on some rows only (channel augmentation)
            latency[:, columns] = np.where(measured[:, columns], values[None, :], block)
        return latency[0] if single else latency

    def unit_sources(self, units: Sequence[Sequence[Layer]], accelerator: AcceleratorChoice = None) -> np.ndarray:
        """``"measured"`` where a table entry applies, ``"model"`` elsewhere: (K,) or (M, K)."""
        accelerators, single = accelerator_list(accelerator, self.accelerator)
        sources = np.where(self._measured_mask([tuple(u) for u in units], accelerators), "measured", "model")
        return sources[0] if single else sources

    def layer_latency_ms(self, layers: Sequence[Layer], accelerator: AcceleratorChoice = None) -> np.ndarray:
        """Latency of each layer in a network, no launch cost: (L,) or (M, L).

        Layers are grouped into units by their ``block`` key.  A unit the
        table measured gets, on the table's accelerator, its in-network
        measured latency, attributed to its layers in proportion to the
        calibrated model's per-layer latencies; every other unit gets the
        model's per-layer latencies.
        """
        layers = list(layers)
        with sizes_checked(self.name, layers):
            return self._layer_latency_ms(layers, accelerator)

    def _layer_latency_ms(self, layers: list[Layer], accelerator: AcceleratorChoice) -> np.ndarray:
        accelerators, single = accelerator_list(accelerator, self.accelerator)
        modelled = np.asarray(self.calibrated.model.layer_latency_ms(layers, accelerators), dtype=float)
        modelled = modelled.reshape(len(accelerators), len(layers))
        units = group_by_block(layers)
        measured = self._measured_mask(units, accelerators)
        if measured.any():
            starts = np.cumsum([0] + [len(u) for u in units[:-1]])
            for i in np.flatnonzero(measured.any(axis=0)):
                value = self.key_latency_ms([_unit_key(units[i])], [units[i]])[0]
                part = slice(starts[i], starts[i] + len(units[i]))
                for row in np.flatnonzero(measured[:, i]):
                    share = modelled[row, part]
                    # a unit the model thinks free gets the measurement split evenly over its layers
                    weights = share / share.sum() if share.sum() > 0 else np.full(len(units[i]), 1 / len(units[i]))
                    modelled[row, part] = value * weights
        return modelled[0] if single else modelled

    def network_latency_ms(self, layers: Sequence[Layer], accelerator: AcceleratorChoice = None) -> float | np.ndarray:
        """Latency of one network: its units plus one program launch; a float, or (M,).

        Warns (:class:`~latency_tables.validity.ValidityWarning`) when its resolution is beyond the measured ones.
        """
        layers = list(as_layers(layers))
        with sizes_checked(self.name, layers):
            total = self.unit_latency_ms(group_by_block(layers), accelerator).sum(axis=-1) + self.invocation_ms
        return float(total) if np.ndim(total) == 0 else total


# ------------------------------------------------------------------ devices
def phone_cpu(meta=None) -> Accelerator:
    """The abstract accelerator the Note10 CPU tables are calibrated on."""
    # An abstract stand-in for the Note10's big CPU cores (4-wide int8 dot products on 4 lanes at
    # 2 GHz, about 10 GB/s of LPDDR4X, 2 MiB of cache as "activation buffer").  The roofline model
    # has no physical meaning here: calibration turns it into a curve fit over MACs, bytes and
    # layer counts, which is what it is used for (filling keys the tables lack).
    return Accelerator(pp=1, icp=4, ocp=4, clock_mhz=2000.0, cores=1, ddr_bw_gbps=10.0,
                       weight_buffer_kib=2048.0, act_buffer_kib=2048.0, dw_pp=1, name="note10-cpu")


def _note10() -> CalibrationSource:
    # one table per resolution; the model is calibrated on their entries pooled per key
    from .per_resolution import pooled_table
    from .registry import list_tables

    return CalibrationSource(pooled_table([load_table(n) for n in list_tables("note10-r*")], "note10"), phone_cpu())


@dataclass(frozen=True)
class _Device:
    source: Callable[[], CalibrationSource]  # the measured table, the accelerator it ran on, its units
    description: str
    model_note: str = "analytical DPU model calibrated on the table"
    joint: bool = False  # calibrated together with the ZCU102 B4096 per-layer profiles (latency_tables.joint)
    per_resolution: bool = False  # one table per input resolution (latency_tables.per_resolution)


#: The shipped devices: the source they serve and calibrate on, description.
DEVICES = {
    "ultra96v2-b2304": _Device(partial(get_source, "ultra96v2-b2304"),
                               "Ultra96-V2, DPUCZDX8G B2304 @ 200 MHz (Vitis AI 3.0)"),
    "dpuczdx8g-joint": _Device(partial(get_source, "ultra96v2-b2304"),
                               "any DPUCZDX8G configuration: the Ultra96-V2 B2304 table where it applies",
                               "analytical DPU model calibrated jointly on the Ultra96-V2 B2304 blocks and the "
                               "ZCU102 B4096 per-layer profiles (transfers across devices; "
                               "benchmarks/bench_transfer.py)", joint=True),
    "note10": _Device(_note10, "Samsung Note10 CPU (OFA's tables, one per resolution 160..224)",
                      "curve fit: the roofline model calibrated on a phone CPU, not a DPU model", per_resolution=True),
}


def calibrate_device(device: str) -> CalibratedModel:
    """The calibration of a shipped device's model (uncached; :func:`get_predictor` caches it)."""
    spec = DEVICES[device]
    source = spec.source()
    if spec.joint:
        joint = calibrate_joint(RooflineModel(), [source, get_source("zcu102-b4096-layer-profiles")], folds=0)
        return joint.calibrated(source.name)
    return calibrate(RooflineModel(), source.table, source.accelerator, units=source.units, folds=0)


#: Devices priced by what builds the accelerator, not by one measured table: the HLS engine's model
#: (:mod:`latency_tables.engine`) and the dispatch of stock / custom accelerators (:mod:`latency_tables.by_build`).
BUILD_DEVICES = {
    ENGINE_DEVICE: "a custom accelerator's HLS engine (hls.export): the engine's cycle model, checked against its "
                  "C-sim count",
    BY_BUILD_DEVICE: "each accelerator by what builds it: a stock DPUCZDX8G configuration by dpuczdx8g-joint, a custom "
                "accelerator by hls-engine",
}


def list_devices() -> list[str]:
    """Names accepted by :func:`get_predictor`.

    >>> list_devices()
    ['by-build', 'dpuczdx8g-joint', 'hls-engine', 'note10', 'ultra96v2-b2304']
    """
    return sorted([*DEVICES, *BUILD_DEVICES])


def calibrated_device(device: str) -> CalibratedModel:
    """The calibrated analytical model of a measured shipped device (one of :data:`DEVICES`).

    ``"hls-engine"`` and ``"by-build"`` price by what builds an accelerator and carry no
    calibration of their own: asking for theirs is an error naming the devices that have one.
    """
    if device in BUILD_DEVICES:
        raise ValueError(f"latency device {device!r} has no calibration of its own (it prices "
                         f"{BUILD_DEVICES[device]}); calibrated devices: {', '.join(sorted(DEVICES))}")
    from .per_resolution import PerResolutionPredictor

    predictor = get_predictor(device)
    assert isinstance(predictor, (HybridPredictor, PerResolutionPredictor))  # every entry of DEVICES is one
    return predictor.calibrated

@cache
def get_predictor(device: str) -> HybridPredictor | PerResolutionPredictor | EnginePredictor | BuildPredictor:
    """The hybrid predictor of a shipped device (calibrated on first use, then cached).

    The first call calibrates the analytical model on the device's table
    (:func:`calibrate_device`)
    without cross-validation (``folds=0``, well under a second); the
    held-out errors of that calibration are what
    ``benchmarks/bench_calibration.py`` reports.  ``"dpuczdx8g-joint"``
    serves the Ultra96-V2 table's measurements but calibrates the model on
    that table and the ZCU102 per-layer profiles together: the predictor for
    accelerators nobody measured (``benchmarks/bench_transfer.py``).
    ``"hls-engine"`` prices the HLS engine that builds a custom accelerator
    (:mod:`latency_tables.engine`); ``"by-build"`` dispatches each accelerator
    to the one that builds it (:mod:`latency_tables.by_build`).

    Parameters
    ----------
    device : str
        One of :func:`list_devices`.

    Examples
    --------
    >>> p = get_predictor("ultra96v2-b2304")
    >>> k7 = "expanded_conv-input:14x14x96-output:14x14x96-expand:288-kernel:7-stride:1-idskip:1-se:0-hs:1"
    >>> p.source("Logits-input:1x1x1536-output:1000"), p.source(k7)
    ('measured', 'model')
    >>> p.predict_key_ms("Logits-input:1x1x1536-output:1000")
    0.822
    """
    from .validity import WITHDRAWN_DEVICES

    if device in WITHDRAWN_DEVICES:
        raise KeyError(f"latency device {device!r} is {WITHDRAWN_DEVICES[device]}")
    if device == ENGINE_DEVICE:
        return EnginePredictor()
    if device == BY_BUILD_DEVICE:
        return BuildPredictor(get_predictor(STOCK_DEVICE))
    if device not in DEVICES:
        raise KeyError(f"unknown device {device!r}; known: {', '.join(list_devices())}")
    if DEVICES[device].per_resolution:  # one table per resolution: summed over the network's own
        from .per_resolution import note10_predictor

        return note10_predictor()
    return HybridPredictor(DEVICES[device].source().table, calibrate_device(device), name=device)
