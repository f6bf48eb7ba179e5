"""The latency figures of an exported design, labelled with their source: one record, printed alike everywhere.

An export knows two latencies of a design from a search: the engine's own
cycle count (C-simulation counter, at the accelerator's clock) and the
search's prediction.  For a custom accelerator the search's default
predictor (``"by-build"``) prices the engine itself (``"hls-engine"``: its
cycle model, whose interval holds the C-sim count); a DPU predictor asked for
explicitly is labelled as a DPUCZDX8G model applied to a custom accelerator
(:func:`latency_tables.by_build.latency_basis`).  The export writes both into
``manifest.json`` (``totals.latencies``); ``ofa-hw export`` prints them and
the report of the design (``ofa-hw report RESULT --export DIR``) shows them,
all three through :meth:`LatencyFigure.line`, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from .errors import ManifestError

__all__ = ["ENGINE_LABEL", "SEARCH_LABEL", "LatencyFigure", "engine_figure", "manifest_figures", "search_figure"]

ENGINE_LABEL = "HLS engine (this export)"
SEARCH_LABEL = "search prediction"


@dataclass(frozen=True)
class LatencyFigure:
    """One latency of one design: what it is, how much, from where, and its interval when the source has one.

    Examples
    --------
    >>> LatencyFigure("search prediction", 9.959, "calibrated model", 9.1, 10.8).line()
    'search prediction: 9.959 ms (interval 9.100-10.800 ms; calibrated model)'
    """

    label: str
    latency_ms: float
    source: str
    low_ms: float | None = None
    high_ms: float | None = None

    def line(self) -> str:
        """The figure as every output prints it."""
        interval = "" if self.low_ms is None or self.high_ms is None else \
            f"interval {self.low_ms:.3f}-{self.high_ms:.3f} ms; "
        return f"{self.label}: {self.latency_ms:.3f} ms ({interval}{self.source})"

    def to_dict(self) -> dict:
        """Plain-JSON form."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LatencyFigure:
        """Inverse of :meth:`to_dict`; unknown or missing keys are a :class:`ManifestError`."""
        expected = {"label", "latency_ms", "source", "low_ms", "high_ms"}
        if not isinstance(data, Mapping) or set(data) != expected:
            raise ManifestError(f"a latency figure has the keys {sorted(expected)}, got {data!r}")
        return cls(**data)


def engine_figure(engine_cycles: int, clock_mhz: float) -> LatencyFigure:
    """The engine's cycle count as a latency (no interval: the count is exact for the program it runs)."""
    return LatencyFigure(ENGINE_LABEL, engine_cycles / (clock_mhz * 1e3),
                         f"{engine_cycles:,} engine cycles at {clock_mhz:g} MHz, counted in C-simulation "
                         "(hls.program.engine_cycles)")


def search_figure(design: Any, predictor: str | None = None) -> LatencyFigure | None:
    """The search's prediction for ``design`` (a :class:`ofa_hw.search.Design`), None if it has none."""
    latency_ms = getattr(design, "latency_ms", None)
    if latency_ms is None:
        return None
    from latency_tables.by_build import latency_basis

    source = latency_basis(predictor, design.accelerator, getattr(design, "latency_source", "model"))
    low, high = getattr(design, "latency_low_ms", None), getattr(design, "latency_high_ms", None)
    return LatencyFigure(SEARCH_LABEL, float(latency_ms), source, None if low is None else float(low),
                         None if high is None else float(high))


def manifest_figures(manifest: Mapping[str, Any]) -> list[LatencyFigure]:
    """The figures an export recorded (its engine's, then the search's when it came from one)."""
    totals = manifest.get("totals", {})
    recorded: Sequence = totals.get("latencies") or []
    if recorded:
        return [LatencyFigure.from_dict(item) for item in recorded]
    # a 2.0 manifest: the engine's count only
    return [engine_figure(int(totals["engine_cycles"]), float(totals["clock_mhz"]))]
