"""The project's own predictor: kernel ridge regression, stored as plain arrays.

Model: ``f(x) = y_mean + sum_i alpha_i k(x, x_i)`` over the standardised
training features ``x_i`` with the kernel

    k(a, b) = exp(-gamma * |a - b|^2 / F) + a.b / F        (F = number of features)

an RBF term for interactions plus a linear term for the near-additive effect
of each block choice (the posterior mean of a Gaussian process with that
covariance and noise variance ``lam``).  Fitting is one linear solve;
prediction is one matrix product per population, so the search evaluates
thousands of networks in milliseconds.  :func:`fit_ridge` is the linear
baseline the benchmark compares against.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from ..space import SubnetBatch
from ._io import atomic_savez
from .base import AccuracyPredictor
from .encoding import engineered_feature_names, engineered_features
from .scale import SCALES

__all__ = ["KernelRidgeModel", "TrainedPredictor", "fit_kernel_ridge", "fit_ridge"]

_ARRAYS = ("x_train", "alpha", "mean", "scale")
#: Rows of a population evaluated at once against the training set: two (128, 1851) float64
#: buffers fit a 2 MiB L2 cache.
_CHUNK = 128


@dataclass(frozen=True, eq=False)
class KernelRidgeModel:
    """A fitted kernel ridge regression (see the module docstring).

    Attributes
    ----------
    x_train : numpy.ndarray
        (M, F) standardised training features.
    alpha : numpy.ndarray
        (M,) dual coefficients.
    mean, scale : numpy.ndarray
        (F,) standardisation of raw features: ``(x - mean) / scale``.
    y_mean : float
        Mean training target.
    gamma : float
        RBF width (per feature).
    lam : float
        Ridge / noise variance used in the fit.
    meta : dict
        Free-form provenance (seed, cross-validation figures, ...), JSON-serialisable.
    """

    x_train: np.ndarray
    alpha: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    y_mean: float
    gamma: float
    lam: float
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        m, f = np.shape(self.x_train)
        for name, shape in (("alpha", (m,)), ("mean", (f,)), ("scale", (f,))):
            if np.shape(getattr(self, name)) != shape:
                raise ValueError(f"{name} has shape {np.shape(getattr(self, name))}, expected {shape}")
        if not (np.asarray(self.scale) > 0).all():
            raise ValueError("scale must be positive for every feature")
        if self.gamma <= 0 or self.lam <= 0:
            raise ValueError(f"gamma and lam must be positive, got gamma={self.gamma}, lam={self.lam}")

    @property
    def n_features(self) -> int:
        """Number of input features the model was fitted on."""
        return int(self.x_train.shape[1])

    @cached_property
    def _linear_weights(self) -> np.ndarray:
        """(F,) the linear kernel term collapsed to one weight vector."""
        return self.x_train.T @ self.alpha / self.n_features

    @cached_property
    def _train_sq(self) -> np.ndarray:
        """(M,) squared norms of the training features."""
        return (self.x_train * self.x_train).sum(axis=1)

    @cached_property
    def _minus_twice_train_t(self) -> np.ndarray:
        """(F, M) ``-2 x_train.T``, contiguous: ``x @ it`` is exactly ``-2 (x @ x_train.T)`` (a power of 2)."""
        return np.ascontiguousarray(-2.0 * self.x_train.T)

    def predict(self, features: np.ndarray) -> np.ndarray:
        """(N,) predictions for (N, F) raw features."""
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or features.shape[1] != self.n_features:
            raise ValueError(f"expected features of shape (N, {self.n_features}), got {features.shape}")
        x = (features - self.mean) / self.scale
        out = self.y_mean + x @ self._linear_weights
        # The RBF term in row chunks through two preallocated (chunk, M) buffers that stay in
        # the L2 cache, with the same operations in the same order as the expression
        # exp(-gamma / F * max((|x|^2 + |t|^2) - 2 x.t, 0)).
        rows = min(_CHUNK, len(x))
        cross, arg = np.empty((2, rows, len(self.alpha)))
        factor = -self.gamma / self.n_features
        for start in range(0, len(x), _CHUNK):
            block = x[start:start + _CHUNK]
            c, a = cross[:len(block)], arg[:len(block)]
            np.matmul(block, self._minus_twice_train_t, out=c)
            np.add((block * block).sum(axis=1)[:, None], self._train_sq[None, :], out=a)
            a += c
            np.maximum(a, 0.0, out=a)
            a *= factor
            out[start:start + len(block)] += np.exp(a, out=a) @ self.alpha
        return out

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model as one ``.npz`` of plain arrays (atomically)."""
        scalars = {"y_mean": self.y_mean, "gamma": self.gamma, "lam": self.lam}
        arrays = {name: np.asarray(getattr(self, name)) for name in _ARRAYS}
        arrays["json"] = np.array(json.dumps({"scalars": scalars, "meta": self.meta}, sort_keys=True))
        return atomic_savez(path, arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> KernelRidgeModel:
        """A model written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no trained predictor file at {path}")
        with np.load(path, allow_pickle=False) as data:
            expected = set(_ARRAYS) | {"json"}
            if set(data.files) != expected:
                raise ValueError(f"{path}: expected arrays {sorted(expected)}, found {sorted(data.files)}")
            header = json.loads(str(data["json"]))
            return cls(**{name: data[name] for name in _ARRAYS}, **header["scalars"], meta=header["meta"])


def _kernel(a: np.ndarray, b: np.ndarray, gamma: float) -> np.ndarray:
    n_features = a.shape[1]
    cross = a @ b.T
    sq_dist = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * cross
    return np.exp(-gamma / n_features * np.maximum(sq_dist, 0.0)) + cross / n_features


def _standardise(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = features.mean(axis=0)
    scale = features.std(axis=0)
    # Constant columns (e.g. a depth never drawn) carry no information; keep them at 0.
    return mean, np.where(scale > 1e-12, scale, 1.0)


def fit_kernel_ridge(features: np.ndarray, targets: np.ndarray, lam: float, gamma: float,
                     meta: dict | None = None) -> KernelRidgeModel:
    """Fit :class:`KernelRidgeModel` to (M, F) raw features and (M,) targets.

    Examples
    --------
    >>> x = np.linspace(0, 1, 20)[:, None]
    >>> model = fit_kernel_ridge(x, 3 * x[:, 0] + 1, lam=1e-6, gamma=1.0)
    >>> bool(abs(model.predict(np.array([[0.5]]))[0] - 2.5) < 1e-3)
    True
    """
    features = np.asarray(features, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    if features.ndim != 2 or targets.shape != (features.shape[0],):
        raise ValueError(f"expected (M, F) features and (M,) targets, got {features.shape} and {targets.shape}")
    mean, scale = _standardise(features)
    x = (features - mean) / scale
    y_mean = float(targets.mean())
    gram = _kernel(x, x, gamma)
    gram[np.diag_indices_from(gram)] += lam
    from scipy import linalg  # fitting is host work; predicting needs numpy only

    alpha = linalg.solve(gram, targets - y_mean, assume_a="pos")
    return KernelRidgeModel(x, alpha, mean, scale, y_mean, float(gamma), float(lam), dict(meta or {}))


def fit_ridge(features: np.ndarray, targets: np.ndarray, lam: float):
    """Linear ridge regression on standardised features; returns ``predict(features)``."""
    features = np.asarray(features, dtype=np.float64)
    mean, scale = _standardise(features)
    x = (features - mean) / scale
    y_mean = float(np.mean(targets))
    from scipy import linalg

    weights = linalg.solve(x.T @ x + lam * np.eye(x.shape[1]), x.T @ (np.asarray(targets) - y_mean), assume_a="pos")
    return lambda new: y_mean + ((np.asarray(new, dtype=np.float64) - mean) / scale) @ weights


class TrainedPredictor(AccuracyPredictor):
    """A :class:`KernelRidgeModel` over :func:`engineered_features` of one space and resolution set."""

    kind = "float top-1"
    scale = SCALES["imagenet-val-inherited"]
    resolution_reason = "every measured network it was trained on ran at r=224"

    def __init__(self, model: KernelRidgeModel, name: str, space: str, valid_resolutions: tuple[int, ...]) -> None:
        if model.n_features != len(engineered_feature_names()):
            raise ValueError(
                f"model {name!r} expects {model.n_features} features, "
                f"the encoder makes {len(engineered_feature_names())}"
            )
        self.model = model
        self.name = name
        self.space = space
        self.valid_resolutions = tuple(int(r) for r in valid_resolutions)

    def _predict_batch(self, batch: SubnetBatch) -> np.ndarray:
        return self.model.predict(engineered_features(batch))
