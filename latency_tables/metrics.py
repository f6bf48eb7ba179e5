"""Error figures of a latency predictor against measurements."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np

from accel_models.validation import reject_unknown_keys

__all__ = ["ErrorReport", "error_report"]


@dataclass(frozen=True)
class ErrorReport:
    """How far predictions are from measurements.

    ``mape_pct``: mean absolute percentage error; ``max_abs_pct_error``: the
    worst entry; ``spearman``: rank correlation (does the predictor order
    the entries as the hardware does?); ``n``: entries compared;
    ``median_abs_pct_error`` and ``worst_key`` help reading a report.
    """

    mape_pct: float
    max_abs_pct_error: float
    spearman: float
    n: int
    median_abs_pct_error: float = float("nan")
    worst_key: str = ""

    def to_dict(self) -> dict:
        """JSON-able form (see :meth:`from_dict`)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> ErrorReport:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        reject_unknown_keys(data, list(cls.__dataclass_fields__), "ErrorReport")
        return cls(**data)

    def __str__(self) -> str:
        return (f"MAPE {self.mape_pct:.1f}%, worst {self.max_abs_pct_error:.1f}%, "
                f"Spearman {self.spearman:.3f} (n={self.n})")


def _ranks(x: np.ndarray) -> np.ndarray:
    # average ranks of ties, as Spearman's definition asks
    from scipy.stats import rankdata

    return rankdata(x)


def error_report(predicted, measured, keys=None) -> ErrorReport:
    """Compare ``predicted`` with ``measured`` (same length, measured > 0).

    Examples
    --------
    >>> r = error_report([1.1, 1.8, 3.0], [1.0, 2.0, 3.0])
    >>> round(r.mape_pct, 3), round(r.max_abs_pct_error, 3), r.spearman
    (6.667, 10.0, 1.0)
    """
    predicted = np.asarray(predicted, dtype=float)
    measured = np.asarray(measured, dtype=float)
    if predicted.shape != measured.shape or predicted.ndim != 1:
        raise ValueError(f"predicted and measured must be 1-D of equal length, "
                         f"got {predicted.shape} and {measured.shape}")
    if not len(measured):
        raise ValueError("no entries to compare")
    if not np.all(np.isfinite(predicted)) or not np.all(np.isfinite(measured)) or np.any(measured <= 0):
        raise ValueError("predicted must be finite and measured finite and positive")
    pct = 100 * np.abs(predicted - measured) / measured
    worst = int(np.argmax(pct))
    if len(measured) > 1 and np.ptp(predicted) > 0 and np.ptp(measured) > 0:
        spearman = float(np.corrcoef(_ranks(predicted), _ranks(measured))[0, 1])
    else:
        spearman = float("nan")
    return ErrorReport(mape_pct=float(pct.mean()), max_abs_pct_error=float(pct[worst]), spearman=spearman,
                       n=len(measured), median_abs_pct_error=float(np.median(pct)),
                       worst_key=str(keys[worst]) if keys is not None else "")
