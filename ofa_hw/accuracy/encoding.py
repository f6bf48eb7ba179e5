"""Feature vectors of sub-network populations, vectorised over a :class:`~ofa_hw.SubnetBatch`.

Two encodings:

* :func:`ofa_onehot` is the 128-value input of OFA's released accuracy MLP
  (``ofa/tutorial/accuracy_predictor.py``, ``spec2feats``, mit-han-lab/once-for-all
  @698a5c1): for each of the 20 slots a one-hot of the kernel (3, 5, 7), then
  for each slot a one-hot of the expand ratio (3, 4, 6) -- all 60 kernel values
  first, then the 60 expand values -- with slots that the depths switch off
  left all zero, then a one-hot of ``(r - 112) // 16`` (8 values).
* :func:`engineered_features` adds what a size-aware regression needs to that
  one-hot: stage depths, the MACs of every slot and stage, log MACs and log
  parameter count of the whole network.  MACs and parameters come from one
  gather over the batch's block catalogue, not from a loop per network.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from ..layers import FIRST_SLOT, HEAD, block_catalog, catalog_lookup
from ..space import N_SLOTS, N_STAGES, SLOTS_PER_STAGE, OFASpace, SubnetBatch, SubnetConfig

__all__ = [
    "OFA_MLP_RESOLUTIONS",
    "as_batch",
    "engineered_feature_names",
    "engineered_features",
    "ofa_onehot",
    "unit_macs_params",
]

#: Resolutions the 8-bin one-hot ``(r - 112) // 16`` of OFA's MLP can hold (multiples of 4).
OFA_MLP_RESOLUTIONS = tuple(range(112, 240, 4))


def as_batch(configs_or_batch: SubnetBatch | SubnetConfig | Iterable[SubnetConfig]) -> SubnetBatch:
    """A :class:`SubnetBatch` from one config, a sequence of configs, or a batch.

    Examples
    --------
    >>> len(as_batch([SubnetConfig.smallest(), SubnetConfig.largest()]))
    2
    """
    if isinstance(configs_or_batch, SubnetBatch):
        return configs_or_batch
    if isinstance(configs_or_batch, SubnetConfig):
        return configs_or_batch.as_batch()
    if isinstance(configs_or_batch, (str, bytes, dict)) or not hasattr(configs_or_batch, "__iter__"):
        raise ValueError(
            f"expected a SubnetConfig, a list of SubnetConfig or a SubnetBatch, got {type(configs_or_batch).__name__}"
        )
    configs = list(configs_or_batch)
    bad = [type(c).__name__ for c in configs if not isinstance(c, SubnetConfig)]
    if bad:
        raise ValueError(f"expected SubnetConfig items, got {sorted(set(bad))}; "
                         "build configs with SubnetConfig.from_dict")
    return SubnetBatch.from_configs(configs)


def _one_hot(values: np.ndarray, choices: Sequence[int]) -> np.ndarray:
    """(..., len(choices)) one-hot of ``values``; a value of 0 (inactive slot) gives all zeros."""
    return (values[..., None] == np.asarray(choices)).astype(np.float64)


@lru_cache(maxsize=8)
def _onehot_layout(space: OFASpace) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Where :func:`ofa_onehot` writes, per space.

    Value -> index in the kernel choices and in the expand choices, each slot's first kernel
    and first expand column, and the row width (kernel block, expand block, 8 resolution bins).
    """
    slots, n_kernels, n_expands = space.n_slots, len(space.kernel_choices), len(space.expand_choices)
    layout = []
    for choices in (space.kernel_choices, space.expand_choices):
        index = np.zeros(max(choices) + 1, dtype=np.intp)  # the inactive value 0 -> the slot's first column
        index[list(choices)] = np.arange(len(choices))
        layout.append(index)
    layout += [n_kernels * np.arange(slots), n_kernels * slots + n_expands * np.arange(slots)]
    for array in layout:
        array.setflags(write=False)
    return layout[0], layout[1], layout[2], layout[3], (n_kernels + n_expands) * slots + 8


def ofa_onehot(batch: SubnetBatch, dtype: npt.DTypeLike = np.float64) -> np.ndarray:
    """(N, 128) input of OFA's accuracy MLP, as ``dtype`` (float64 by default).

    Raises ``ValueError`` for resolutions outside 112..239, which the 8-bin
    resolution one-hot cannot hold.  Built in one scatter of the 41 entries of
    each row: every slot writes one cell among its own columns, the chosen
    value's (1) or, when the depths switch the slot off, its first column (0),
    so no two writes of a row meet.

    Examples
    --------
    >>> x = ofa_onehot(SubnetConfig.smallest(r=160).as_batch())
    >>> x.shape, int(x[0, :60].sum()), int(x[0, 60:120].sum()), int(np.argmax(x[0, 120:]))
    ((1, 128), 10, 10, 3)
    """
    if batch.space.n_slots != N_SLOTS:
        raise ValueError(f"OFA's accuracy-MLP encoding covers the {N_SLOTS} block slots of the OFA-MobileNetV3 "
                         f"spaces; {batch.space.name} has {batch.space.n_slots}")
    bad = (batch.r < OFA_MLP_RESOLUTIONS[0]) | (batch.r > OFA_MLP_RESOLUTIONS[-1])
    if bad.any():
        raise ValueError(
            f"resolution {int(batch.r[bad][0])} cannot be encoded by OFA's accuracy MLP: its one-hot "
            f"(r - 112) // 16 holds {OFA_MLP_RESOLUTIONS[0]}..{OFA_MLP_RESOLUTIONS[-1]} (multiples of 4)"
        )
    kernel_index, expand_index, kernel_first, expand_first, width = _onehot_layout(batch.space)
    n, slots = batch.ks.shape
    columns = np.empty((n, 2 * slots + 1), dtype=np.intp)
    np.add(kernel_index[batch.ks], kernel_first, out=columns[:, :slots])
    np.add(expand_index[batch.e], expand_first, out=columns[:, slots:-1])
    np.floor_divide(batch.r - OFA_MLP_RESOLUTIONS[0], 16, out=columns[:, -1])
    columns[:, -1] += width - 8
    columns += width * np.arange(n)[:, None]
    values = np.ones((n, 2 * slots + 1), dtype=dtype)
    np.not_equal(batch.ks, 0, out=values[:, :slots], casting="unsafe")
    values[:, slots:-1] = values[:, :slots]
    out = np.zeros((n, width), dtype=dtype)
    out.reshape(-1)[columns] = values
    return out


@lru_cache(maxsize=64)
def unit_macs_params(space: OFASpace, resolutions: tuple[int, ...]) -> np.ndarray:
    """(units + 1, 2) MACs and parameters of every catalogue unit at ``resolutions``, then a zero row.

    In the order of :func:`ofa_hw.layers.block_catalog` for those resolutions; summed over
    the units' layers once per space and resolution set, not per population.
    """
    _, units, _ = catalog_lookup(space, resolutions)
    costs = np.array([[sum(layer.macs for layer in unit), sum(layer.params for layer in unit)] for unit in units]
                     + [[0, 0]], dtype=np.float64)
    costs.setflags(write=False)
    return costs


def engineered_feature_names() -> tuple[str, ...]:
    """Names of the columns of :func:`engineered_features`, in order."""
    names = [f"k{k}@slot{s}" for s in range(N_SLOTS) for k in (3, 5, 7)]
    names += [f"e{e}@slot{s}" for s in range(N_SLOTS) for e in (3, 4, 6)]
    names += [f"d{d}@stage{s}" for s in range(N_STAGES) for d in (2, 3, 4)]
    names += [f"mmacs@slot{s}" for s in range(N_SLOTS)]
    names += [f"log_macs@stage{s}" for s in range(N_STAGES)]
    names += ["log_macs", "log_macs^2", "log_params"]
    return tuple(names)


def engineered_features(batch: SubnetBatch) -> np.ndarray:
    """(N, 163) features of the project's trained predictor.

    Columns (see :func:`engineered_feature_names`): kernel and expand one-hot
    per slot (OFA's 120), stage-depth one-hot (15), MACs of every slot in
    millions (20), log MACs of every stage (5), log MACs, its square and log
    parameters of the network (3).

    Examples
    --------
    >>> x = engineered_features(SubnetConfig.largest(width_mult=1.0).as_batch())
    >>> x.shape == (1, len(engineered_feature_names()))
    True
    """
    space = batch.space
    n = len(batch)
    resolutions = tuple(np.unique(batch.r).tolist())
    catalog = block_catalog(batch, resolutions)
    per_position = unit_macs_params(space, resolutions)[catalog.index]  # (N, positions, 2); -1: the zero row
    slot_macs = per_position[:, FIRST_SLOT:HEAD, 0]
    stage_macs = slot_macs.reshape(n, N_STAGES, SLOTS_PER_STAGE).sum(axis=2)
    log_macs = np.log(per_position[..., 0].sum(axis=1))
    log_params = np.log(per_position[..., 1].sum(axis=1))
    return np.concatenate([
        _one_hot(batch.ks, space.kernel_choices).reshape(n, -1),
        _one_hot(batch.e, space.expand_choices).reshape(n, -1),
        _one_hot(batch.d, space.depth_choices).reshape(n, -1),
        slot_macs / 1e6,
        np.log(stage_macs),
        log_macs[:, None],
        log_macs[:, None] ** 2,
        log_params[:, None],
    ], axis=1)
