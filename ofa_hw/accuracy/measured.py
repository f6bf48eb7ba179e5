"""Measured ImageNet top-1 of OFA-MobileNetV3 w1.0 sub-networks (DyNAS-T), deduplicated.

The four CSVs in ``data/mbnv3w10_*.csv`` come from IntelLabs/DyNAS-T @251cb5e,
``notebooks/data/`` (Apache-2.0): every row is one sub-network (an OFA
``{'ks', 'e', 'd', 'r'}`` dict string) evaluated with inherited super-network
weights on ImageNet val at 224x224.  The four search runs share networks, so
the same configuration appears up to four times; repeats agree within 0.1 pp
and are averaged here.  Configurations are compared after the slots their
depths switch off are cleared (OFA ignores those genes).
"""

from __future__ import annotations

import ast
import csv
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..space import SubnetBatch, SubnetConfig

__all__ = ["MeasuredAccuracy", "load_measured_accuracy"]

_COLUMNS = ("Sub-network", "Date", "Model Parameters", "Latency (ms)", "MACs", "Top-1 Acc (%)")


@dataclass(frozen=True, eq=False)
class MeasuredAccuracy:
    """Distinct measured sub-networks and their mean top-1.

    Attributes
    ----------
    batch : SubnetBatch
        The distinct networks, sorted by (d, ks, e).
    top1_pct : numpy.ndarray
        (N,) mean measured top-1 in percent.
    n_repeats : numpy.ndarray
        (N,) how many rows measured each network.
    macs : numpy.ndarray
        (N,) MACs as the source files state them.
    sources : tuple of frozenset of str
        For each network, the files (stems) that measured it.
    repeat_sd_pp : float
        Pooled standard deviation of repeated measurements of one network:
        the noise floor of the data, in percentage points.
    """

    batch: SubnetBatch
    top1_pct: np.ndarray
    n_repeats: np.ndarray
    macs: np.ndarray
    sources: tuple[frozenset, ...]
    repeat_sd_pp: float

    def __len__(self) -> int:
        return len(self.batch)

    def take(self, indices) -> MeasuredAccuracy:
        """The subset at ``indices``; the noise floor stays that of the whole measurement."""
        indices = np.asarray(indices)
        return MeasuredAccuracy(self.batch.take(indices), self.top1_pct[indices], self.n_repeats[indices],
                                self.macs[indices], tuple(self.sources[i] for i in np.arange(len(self))[indices]),
                                self.repeat_sd_pp)


def load_measured_accuracy(paths: Sequence[str | os.PathLike] | None = None) -> MeasuredAccuracy:
    """Read, validate and deduplicate DyNAS-T's measured OFA-MobileNetV3 w1.0 files.

    Parameters
    ----------
    paths : list of path, optional
        CSV files in DyNAS-T's format; default: the four shipped files.

    Examples
    --------
    >>> data = load_measured_accuracy()
    >>> len(data), int(data.n_repeats.sum()), bool(data.repeat_sd_pp < 0.05)
    (1851, 2012, True)
    """
    from .registry import DATA_DIR

    paths = sorted(DATA_DIR.glob("mbnv3w10_*.csv")) if paths is None else [Path(p) for p in paths]
    if not paths:
        raise FileNotFoundError(f"no measured accuracy files given (the shipped ones are {DATA_DIR}/mbnv3w10_*.csv)")
    values: dict[SubnetConfig, list[float]] = defaultdict(list)
    macs: dict[SubnetConfig, int] = {}
    sources: dict[SubnetConfig, set] = defaultdict(set)
    for path in paths:
        for line, row in enumerate(_rows(path), start=2):
            where = f"{path.name}:{line}"
            try:
                config = SubnetConfig.from_dict(ast.literal_eval(row["Sub-network"]), width_mult=1.0)
                top1, n_macs = float(row["Top-1 Acc (%)"]), int(row["MACs"])
            except (ValueError, SyntaxError) as exc:
                raise ValueError(f"{where}: {exc}") from None
            if not 0.0 < top1 <= 100.0:
                raise ValueError(f"{where}: top-1 {top1} is not a percentage in (0, 100]")
            if config in macs and macs[config] != n_macs:
                raise ValueError(f"{where}: MACs {n_macs} disagree with an earlier row of the same network "
                                 f"({macs[config]})")
            values[config].append(top1)
            macs[config] = n_macs
            sources[config].add(path.stem)
    configs = sorted(values, key=lambda c: (c.d, c.ks, c.e))
    repeats = [np.asarray(values[c]) for c in configs]
    dof = sum(len(v) - 1 for v in repeats)
    if dof == 0:
        raise ValueError(f"no network was measured twice in {[p.name for p in paths]}; the noise floor is unknown")
    return MeasuredAccuracy(
        batch=SubnetBatch.from_configs(configs),
        top1_pct=np.array([v.mean() for v in repeats]),
        n_repeats=np.array([len(v) for v in repeats]),
        macs=np.array([macs[c] for c in configs], dtype=np.int64),
        sources=tuple(frozenset(sources[c]) for c in configs),
        repeat_sd_pp=float(np.sqrt(sum(((v - v.mean()) ** 2).sum() for v in repeats) / dof)),
    )


def _rows(path: Path):
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != _COLUMNS:
            raise ValueError(f"{path}: expected DyNAS-T columns {list(_COLUMNS)}, got {reader.fieldnames}")
        yield from reader
