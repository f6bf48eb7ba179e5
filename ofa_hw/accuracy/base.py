"""What every accuracy predictor offers: ``predict`` on populations, in percent top-1."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from ..space import SubnetBatch, SubnetConfig, get_space
from .encoding import as_batch

if TYPE_CHECKING:  # pragma: no cover
    from .scale import AccuracyScale

__all__ = ["AccuracyPredictor"]


class AccuracyPredictor:
    """Base of the accuracy predictors: input checks shared by all of them.

    Subclasses set :attr:`name`, :attr:`space`, :attr:`valid_resolutions`,
    :attr:`kind` and implement ``_predict_batch(batch) -> (N,) float64``.

    Attributes
    ----------
    name : str
        Registry name (see :func:`~ofa_hw.accuracy.list_predictors`).
    space : str
        The search space whose sub-networks it accepts, e.g. ``"ofa-mbv3-w1.2"``.
    valid_resolutions : tuple of int
        Input resolutions it can encode; others raise ``ValueError``.
    kind : str
        What the number is, a short label: ``"float top-1"`` or ``"int8-pow2 top-1"``.
    derivation : str
        How it is obtained, e.g. ``"modelled: float prediction minus 1.97 +/- 0.46 pp"``.
    quantization : str or None
        ``None`` for float accuracy, else the deployment scheme modelled (``"int8-pow2"``).
    scale : AccuracyScale
        What the numbers are measured on (:mod:`ofa_hw.accuracy.scale`).
    resolution_reason : str
        Why resolutions outside ``valid_resolutions`` are refused (part of the error).
    """

    name: str
    space: str
    valid_resolutions: tuple[int, ...]
    kind: str = "float top-1"
    derivation: str = "the predictor's output as it is"
    quantization: str | None = None
    scale: AccuracyScale
    resolution_reason: str = ""

    def predict(self, configs_or_batch: SubnetBatch | SubnetConfig | Iterable[SubnetConfig]) -> np.ndarray:
        """Predicted top-1 in percent on :attr:`scale`, float64 of shape (N,)."""
        batch = self.check(configs_or_batch)
        return np.asarray(self._predict_batch(batch), dtype=np.float64).reshape(len(batch))

    def check(self, configs_or_batch) -> SubnetBatch:
        """The input as a batch, after checking its width and resolutions against this predictor."""
        batch = as_batch(configs_or_batch)
        if batch.space.name != self.space:
            raise ValueError(
                f"predictor {self.name!r} accepts sub-networks of {self.space} (width_mult "
                f"{get_space(self.space).width_mult}), got width_mult {batch.width_mult} ({batch.space.name})"
            )
        bad = ~_resolution_lookup(tuple(self.valid_resolutions)).take(batch.r, mode="clip")
        if bad.any():
            raise ValueError(
                f"predictor {self.name!r} cannot encode resolution {int(batch.r[bad][0])}; "
                f"valid resolutions: {_ranges(self.valid_resolutions)}"
                + (f" ({self.resolution_reason})" if self.resolution_reason else "")
            )
        return batch

    def _predict_batch(self, batch: SubnetBatch) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}: {self.kind} of {self.space}, {self.scale.label} scale>"


@lru_cache(maxsize=32)
def _resolution_lookup(valid_resolutions: tuple[int, ...]) -> np.ndarray:
    """``lookup[r]`` is True for the valid resolutions; its last entry is False (``take(mode="clip")``).

    One gather per call instead of ``np.isin``'s sort: the check runs on every population.
    """
    lookup = np.zeros(max(valid_resolutions) + 2, dtype=bool)
    lookup[list(valid_resolutions)] = True
    lookup.setflags(write=False)
    return lookup


def _ranges(values: tuple[int, ...]) -> str:
    """``112..236 step 4`` for an arithmetic run, else the list."""
    if len(values) > 2 and len(set(np.diff(values).tolist())) == 1:
        return f"{values[0]}..{values[-1]} step {values[1] - values[0]}"
    return ", ".join(str(v) for v in values)
