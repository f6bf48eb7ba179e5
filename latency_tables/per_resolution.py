"""A device measured with one table per input resolution (OFA's Note10 tables).

OFA times every block once per network resolution: the Note10 CPU has 17
tables, ``note10-r160`` ... ``note10-r224``.  A key occurs in several of them
when the feature maps coincide (the 1x1 head at every resolution, blocks of
networks at 164 and 168 that both reach 21x21), with a different measured mean
in each (up to 2.1% apart).  OFA sums a network over the table of *its*
resolution; :class:`PerResolutionPredictor` does the same, so whole-network
sums equal OFA's per-resolution lookup exactly.  A network at a resolution
no table measured is summed over the pooled entries (:meth:`for_resolution`).

It implements :class:`accel_models.LatencyPredictor`.  A whole network
(``network_latency_ms`` / ``layer_latency_ms``: its first layer's input
gives the resolution) is summed over its own table.  A list of units carries
no resolution, so ``unit_latency_ms`` / ``unit_sources`` answer with one
value per key across all resolutions: a key measured at several resolutions
gets the run-count-weighted mean of its measurements (within 2.1% of each).
The search does not use those: its latency matrix takes each resolution's
units from :meth:`for_resolution` (``Evaluator.per_resolution``), so every
network it scores is priced as OFA's per-resolution lookup prices it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from functools import cached_property

import numpy as np

from accel_models.accelerator import Accelerator
from accel_models.layer import Layer
from accel_models.predictor_protocol import AcceleratorChoice, as_layers

from .predictor import HybridPredictor, NetworkBreakdown
from .table import Entry, LatencyTable, pool_entries
from .validity import sizes_checked

__all__ = ["PerResolutionPredictor", "note10_predictor", "pooled_table"]


def note10_predictor() -> PerResolutionPredictor:
    """OFA's Note10 CPU tables, one per resolution (``latency_tables.get_predictor("note10")``)."""
    from .predictor import phone_cpu
    from .registry import list_tables, load_table

    tables = {int(name.removeprefix("note10-r")): load_table(name) for name in list_tables("note10-r*")}
    return PerResolutionPredictor(tables, phone_cpu(), "note10")


def pooled_table(tables: Sequence[LatencyTable], name: str) -> LatencyTable:
    """One table of every key of ``tables``, a key measured in several pooled over all its runs.

    The pooled table is what a single calibration is fitted on and what the
    search matrix uses; it is never shipped.
    """
    by_key = defaultdict(list)
    for table in tables:
        for entry in table.entries.values():
            by_key[entry.key].append(entry)
    meta = tables[0].meta
    pooled_meta = type(meta).from_dict({**meta.to_dict(), "name": name,
                                        "method": f"the {len(tables)} per-resolution tables pooled per key"})
    entries = [pool_entries(found) for found in by_key.values()]
    return LatencyTable.from_entries(pooled_meta, [Entry(e.key, e.count, e.mean_ms, e.std_ms) for e in entries])


class PerResolutionPredictor:
    """Latency of a network from the table of its own input resolution.

    Parameters
    ----------
    tables : mapping of int to LatencyTable
        ``resolution -> table`` measured for networks at that resolution.
    accelerator : Accelerator
        The (abstract) accelerator the calibrated model fills gaps with.
    name : str
        Device name for reports.

    Examples
    --------
    >>> from latency_tables import get_predictor
    >>> p = get_predictor("note10")
    >>> p.resolutions[0], p.resolutions[-1]
    (160, 224)
    >>> round(p.for_resolution(160).predict_key_ms("Conv_2-input:1x1x1152-output:1x1x1536"), 4)
    0.7474
    """

    def __init__(self, tables: Mapping[int, LatencyTable], accelerator: Accelerator, name: str):
        if not tables:
            raise ValueError("PerResolutionPredictor needs at least one table")
        self.name = name
        self.resolutions = tuple(sorted(int(r) for r in tables))
        self.accelerator = accelerator
        self.tables = {int(r): tables[r] for r in sorted(tables)}

    @cached_property
    def pooled(self) -> HybridPredictor:
        """A predictor on every resolution's entries pooled per key (one calibration shared by all)."""
        from accel_models import RooflineModel

        from .calibration import calibrate

        table = pooled_table(list(self.tables.values()), self.name)
        return HybridPredictor(table, calibrate(RooflineModel(), table, self.accelerator, folds=0), name=self.name)

    @cached_property
    def _by_resolution(self) -> dict[int, HybridPredictor]:
        calibrated = self.pooled.calibrated
        return {r: HybridPredictor(table, calibrated, name=f"{self.name}@r{r}") for r, table in self.tables.items()}

    # the attributes reports and the search read from a device predictor
    @property
    def calibrated(self):
        """The calibrated model that fills keys no table has (fitted on all resolutions' entries)."""
        return self.pooled.calibrated

    @property
    def table(self) -> LatencyTable:
        """All resolutions' entries pooled per key (see :func:`pooled_table`)."""
        return self.pooled.table

    @property
    def invocation_ms(self) -> float:
        """Per-network launch cost (0: the tables were not measured one program per entry)."""
        return self.pooled.invocation_ms

    def for_resolution(self, r: int) -> HybridPredictor:
        """The predictor over the table measured at resolution ``r``.

        At a resolution no table was measured at, the pooled predictor: its
        units there are modelled, except the resolution-independent head
        (1x1 feature maps), which every table measured.
        """
        return self._by_resolution.get(int(r), self.pooled)

    def source(self, key: str) -> str:
        """``"measured"`` if any resolution's table has ``key``, else ``"model"``."""
        return self.pooled.source(key)

    def predict_key_ms(self, key: str, r: int | None = None) -> float:
        """The key's latency at resolution ``r`` (default: pooled over the resolutions that measured it)."""
        return (self.pooled if r is None else self.for_resolution(r)).predict_key_ms(key)

    def subnet_latency_ms(self, batch) -> np.ndarray:
        """(N,) latency of each network summed over the table of its own resolution."""
        if not hasattr(batch, "r"):
            raise TypeError(f"{self.name!r} needs networks with a resolution (a SubnetBatch or SubnetConfig), "
                            f"got {type(batch).__name__}")
        if np.ndim(batch.r) == 0:  # one SubnetConfig
            return self.for_resolution(int(batch.r)).subnet_latency_ms(batch)
        if hasattr(batch, "unit_totals"):  # a SubnetBatch: one dense gather with each resolution's own values
            return batch.unit_totals(lambda r: self.for_resolution(r).key_latency_ms) + self.invocation_ms
        resolutions = np.asarray(batch.r)
        out = np.empty(len(resolutions))
        for r in np.unique(resolutions):
            rows = np.flatnonzero(resolutions == r)
            out[rows] = self.for_resolution(int(r)).subnet_latency_ms(batch.take(rows))
        return out

    def breakdown(self, config) -> NetworkBreakdown:
        """Per-unit sources and latencies of one network, from the table of its resolution."""
        return self.for_resolution(int(config.r)).breakdown(config)

    # ------------------------------------------------ the predictor protocol
    def _network_predictor(self, layers: Sequence[Layer]) -> HybridPredictor:
        """The predictor of the resolution a network's first layer reads (the input image)."""
        return self.for_resolution(int(layers[0].in_shape[1])) if layers else self.pooled

    def layer_latency_ms(self, layers: Sequence[Layer], accelerator: AcceleratorChoice = None) -> np.ndarray:
        """Per-layer latency of a network, from the table of its input resolution."""
        layers = list(layers)
        with sizes_checked(self.name, layers):
            return self._network_predictor(layers).layer_latency_ms(layers, accelerator)

    def network_latency_ms(self, layers: Sequence[Layer], accelerator: AcceleratorChoice = None) -> float | np.ndarray:
        """Latency of one network, from the table of its input resolution."""
        layers = list(as_layers(layers))
        with sizes_checked(self.name, layers):
            return self._network_predictor(layers).network_latency_ms(layers, accelerator)

    def unit_latency_ms(self, units: Sequence[Sequence[Layer]], accelerator: AcceleratorChoice = None) -> np.ndarray:
        """In-network latency of each unit, one value per key across resolutions (the pooled entries)."""
        return self.pooled.unit_latency_ms(units, accelerator)

    def unit_sources(self, units: Sequence[Sequence[Layer]], accelerator: AcceleratorChoice = None) -> np.ndarray:
        """``"measured"`` where some resolution's table has the unit, else ``"model"``."""
        return self.pooled.unit_sources(units, accelerator)
