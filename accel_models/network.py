"""Networks as gathers over a catalogue of distinct blocks.

Search evaluates populations of many networks that are built from few distinct
blocks.  A :class:`BlockCatalog` lists each distinct block once (its canonical
key and its layers) and describes every network as a row of indices into that
list, so a per-block quantity (latency, MACs, bytes) is computed once per block
and summed per network with one numpy gather.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .layer import Layer

__all__ = ["BlockCatalog"]


@dataclass(frozen=True)
class BlockCatalog:
    """Distinct blocks of a population of networks and how each network uses them.

    Parameters
    ----------
    keys : tuple of str
        Canonical key of each distinct block (OFA's latency-table key format).
    layers : tuple of tuple of Layer
        The layers of each block, in execution order.
    index : numpy.ndarray
        (N, P) integer array: ``index[n, p]`` is the catalogue row of the
        block at position ``p`` of network ``n``, or -1 where network ``n``
        has no block at that position.

    Examples
    --------
    >>> fc = Layer("fc", "fc", (8, 1, 1), (4, 1, 1))
    >>> cat = BlockCatalog(("a", "b"), ((fc,), (fc, fc)), np.array([[0, 1], [0, -1]]))
    >>> cat.total(np.array([1.0, 10.0]))
    array([11.,  1.])
    """

    keys: tuple[str, ...]
    layers: tuple[tuple[Layer, ...], ...]
    index: np.ndarray

    def __post_init__(self) -> None:
        index = np.asarray(self.index)
        if index.ndim != 2:
            raise ValueError(f"BlockCatalog.index must be 2-D (networks x positions), got shape {index.shape}")
        if len(self.keys) != len(self.layers):
            raise ValueError(f"BlockCatalog has {len(self.keys)} keys but {len(self.layers)} layer lists")
        if len(set(self.keys)) != len(self.keys):
            raise ValueError("BlockCatalog keys must be distinct")
        if index.size and (index.min() < -1 or index.max() >= len(self.keys)):
            raise ValueError(f"BlockCatalog.index entries must lie in [-1, {len(self.keys) - 1}]")

    @property
    def n_networks(self) -> int:
        return int(self.index.shape[0])

    def total(self, per_block: np.ndarray) -> np.ndarray:
        """Sum a per-block quantity over the blocks of each network.

        ``per_block`` has one value per key (shape (K,)), or one row of K
        values per accelerator (shape (M, K)); the result has shape (N,) or
        (M, N).
        """
        per_block = np.asarray(per_block, dtype=float)
        if per_block.shape[-1] != len(self.keys):
            raise ValueError(f"expected {len(self.keys)} per-block values, got trailing dimension {per_block.shape[-1]}")
        padded = np.concatenate([per_block, np.zeros(per_block.shape[:-1] + (1,))], axis=-1)
        return padded[..., self.index].sum(axis=-1)  # -1 picks the padding zero

    def counts(self) -> np.ndarray:
        """(N,) number of blocks in each network."""
        return (self.index >= 0).sum(axis=1)

    def network_keys(self, n: int) -> list[str]:
        """Keys of the blocks of network ``n``, in execution order."""
        return [self.keys[i] for i in self.index[n] if i >= 0]
