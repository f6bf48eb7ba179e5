"""Vectorised evaluation of (sub-network, accelerator) candidates.

The :class:`Evaluator` precomputes, once per search, the in-network latency of
every unit the space can use on every accelerator of the search (a (A, K)
matrix; measured entries where the table was measured on that accelerator,
the calibrated model elsewhere).  Evaluating a population is then a gather and
a row sum, plus the accuracy predictor's numpy inference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from accel_models import Accelerator, LatencyPredictor
from accel_models.network import BlockCatalog
from latency_tables import as_predictor

from ..accuracy import QuantizedPredictor
from ..space import N_SLOTS, N_STAGES, OFASpace, SubnetBatch, crossover, mutate, sample_subnets
from .accelerators import AcceleratorSpace

__all__ = ["Candidates", "Evaluator", "Scores", "latency_matrix"]


@dataclass(frozen=True)
class Candidates:
    """N candidates: sub-networks and an index into an :class:`AcceleratorSpace`."""

    subnets: SubnetBatch
    accelerator: np.ndarray

    def __len__(self) -> int:
        return len(self.subnets)

    def take(self, indices) -> Candidates:
        return Candidates(self.subnets.take(indices), self.accelerator[indices])

    @classmethod
    def concat(cls, parts: Sequence[Candidates]) -> Candidates:
        return cls(SubnetBatch.concat([p.subnets for p in parts]), np.concatenate([p.accelerator for p in parts]))

    # genome as one integer matrix (choice indices), for pymoo and checkpoints
    def to_genes(self, resolutions: Sequence[int]) -> np.ndarray:
        space = self.subnets.space
        ks = np.searchsorted(space.kernel_choices, self.subnets.ks)
        e = np.searchsorted(space.expand_choices, self.subnets.e)
        inactive = ~self.subnets.active()
        ks[inactive] = 0  # inactive slots carry the first choice, which the depth switches off
        e[inactive] = 0
        d = np.searchsorted(space.depth_choices, self.subnets.d)
        r = np.searchsorted(resolutions, self.subnets.r)
        return np.concatenate([ks, e, d, r[:, None], self.accelerator[:, None]], axis=1)

    @classmethod
    def from_genes(cls, genes: np.ndarray, space: OFASpace, resolutions: Sequence[int]) -> Candidates:
        genes = np.asarray(genes, dtype=np.int64)
        k, e, d = (np.asarray(c) for c in (space.kernel_choices, space.expand_choices, space.depth_choices))
        subnets = SubnetBatch(k[genes[:, :N_SLOTS]], e[genes[:, N_SLOTS:2 * N_SLOTS]],
                              d[genes[:, 2 * N_SLOTS:2 * N_SLOTS + N_STAGES]],
                              np.asarray(resolutions)[genes[:, -2]], space.width_mult)
        return cls(subnets, genes[:, -1].copy())


@dataclass(frozen=True)
class Scores:
    """Predicted figures of N candidates (see :class:`ofa_hw.search.Design`)."""

    latency_ms: np.ndarray
    fps: np.ndarray
    accuracy_top1: np.ndarray
    accuracy_float_top1: np.ndarray
    measured_fraction: np.ndarray

    def take(self, indices) -> Scores:
        return Scores(*(getattr(self, f)[indices] for f in self.__dataclass_fields__))

    @classmethod
    def concat(cls, parts: Sequence[Scores]) -> Scores:
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in cls.__dataclass_fields__))


def latency_matrix(predictor: LatencyPredictor, catalog: BlockCatalog,
                   accelerators: Sequence[Accelerator]) -> tuple[np.ndarray, np.ndarray, float]:
    """(latency_ms (A, K), measured (A, K), per-network launch ms) of the catalog's units on every accelerator."""
    accelerators = list(accelerators)
    units = list(catalog.layers)
    latency = np.asarray(predictor.unit_latency_ms(units, accelerators), dtype=float)
    measured = np.asarray(predictor.unit_sources(units, accelerators)) == "measured"
    return latency, measured, float(predictor.invocation_ms)


class Evaluator:
    """Scores candidates of one search: latency, throughput, accuracy.

    Parameters
    ----------
    space : OFASpace
    resolutions : sequence of int
        Resolutions the search may pick.
    accelerators : AcceleratorSpace
    latency_predictor
        A device name or any :class:`accel_models.LatencyPredictor`
        (see :func:`latency_tables.as_predictor`).
    accuracy_predictor
        Predicts the deployed top-1 (%) from a :class:`SubnetBatch`; a
        :class:`ofa_hw.accuracy.QuantizedPredictor` also yields the float
        top-1 it derives from, at the cost of one evaluation.
    deployment : accel_models.deployed.Deployment, optional
        How the network runs on the board: ``fps`` is then the deployed throughput (threads, ARM
        pre/post-processing, DDR contention) and ``latency_ms`` what the deployment's latency mode
        says; without it ``fps`` is all cores busy on DPU time alone.
    """

    def __init__(self, space: OFASpace, resolutions: Sequence[int], accelerators: AcceleratorSpace,
                 latency_predictor, accuracy_predictor, deployment=None):
        self.space = space
        self.resolutions = tuple(sorted(int(r) for r in resolutions))
        self.accelerators = accelerators
        self.accuracy_predictor = accuracy_predictor
        covering = SubnetBatch.from_configs(
            [_smallest(space, r) for r in self.resolutions])  # any batch: the catalogue covers all choices
        catalog = covering.block_catalog(self.resolutions)
        self.keys = catalog.keys
        accs = accelerators.accelerators
        latency_predictor = as_predictor(latency_predictor)
        latency, measured, self.invocation_ms = latency_matrix(latency_predictor, catalog, accs)
        self.latency_ms = _pad(latency)
        self.measured_ms = _pad(np.where(measured, latency, 0.0))
        self.deployment = deployment
        self.cores = np.array([a.cores for a in accs], dtype=float)
        if deployment is not None:  # the deployed model has its own DDR contention, fitted on the zoo
            return
        # throughput with every core busy: each core sees 1/cores of the DDR bandwidth
        shared = [a.replace(ddr_bw_gbps=a.ddr_bw_gbps / a.cores) if a.cores > 1 else a for a in accs]
        multi = [i for i, a in enumerate(accs) if a.cores > 1]
        shared_latency = latency.copy()
        if multi:
            model_latency, _, _ = latency_matrix(latency_predictor, catalog, [shared[i] for i in multi])
            shared_latency[multi] = model_latency
        self.shared_latency_ms = _pad(shared_latency)

    def speed(self, candidates: Candidates) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(latency_ms, fps, measured_fraction): the cheap part of an evaluation, one gather."""
        index = candidates.subnets.block_catalog(self.resolutions).index
        rows = candidates.accelerator[:, None]
        latency = self.latency_ms[rows, index].sum(axis=1) + self.invocation_ms
        measured = self.measured_ms[rows, index].sum(axis=1)
        if self.deployment is not None:
            r, cores = candidates.subnets.r, self.cores[candidates.accelerator]
            return (self.deployment.latency_ms(latency, r), self.deployment.fps(latency, cores, r),
                    measured / latency)
        shared = self.shared_latency_ms[rows, index].sum(axis=1) + self.invocation_ms
        return latency, 1e3 * self.cores[candidates.accelerator] / shared, measured / latency

    def dpu_ms(self, candidates: Candidates) -> np.ndarray:
        """DPU time of one image on one core: the units plus one program launch."""
        index = candidates.subnets.block_catalog(self.resolutions).index
        return self.latency_ms[candidates.accelerator[:, None], index].sum(axis=1) + self.invocation_ms

    def accuracy(self, subnets: SubnetBatch) -> tuple[np.ndarray, np.ndarray]:
        """(deployed top-1, float top-1) in percent."""
        predictor = self.accuracy_predictor
        if isinstance(predictor, QuantizedPredictor):
            float_top1 = np.asarray(predictor.base.predict(subnets), float)
            return float_top1 - predictor.drop_model.predict_drop_pp(subnets), float_top1
        top1 = np.asarray(predictor.predict(subnets), float)
        return top1, top1

    def evaluate(self, candidates: Candidates) -> Scores:
        latency, fps, measured_fraction = self.speed(candidates)
        deployed, float_top1 = self.accuracy(candidates.subnets)
        return Scores(latency_ms=latency, fps=fps, accuracy_top1=deployed, accuracy_float_top1=float_top1,
                      measured_fraction=measured_fraction)

    # ------------------------------------------------------------ variation
    def sample(self, n: int, rng: np.random.Generator) -> Candidates:
        subnets = sample_subnets(n, seed=rng, width_mult=self.space.width_mult, resolutions=self.resolutions)
        return Candidates(subnets, self.accelerators.sample(n, rng))

    def mutate(self, parents: Candidates, rng: np.random.Generator, prob: float,
               resolution_prob: float | None = None) -> Candidates:
        subnets = mutate(parents.subnets, rng, prob=prob, resolutions=self.resolutions,
                         resolution_prob=resolution_prob)
        return Candidates(subnets, self.accelerators.mutate(parents.accelerator, rng, prob))

    def crossover(self, a: Candidates, b: Candidates, rng: np.random.Generator) -> Candidates:
        return Candidates(crossover(a.subnets, b.subnets, rng), self.accelerators.crossover(a.accelerator, b.accelerator, rng))


def _pad(matrix: np.ndarray) -> np.ndarray:
    """Append a zero column so that index -1 (no unit at a position) adds nothing."""
    return np.concatenate([matrix, np.zeros((matrix.shape[0], 1))], axis=1)


def _smallest(space: OFASpace, r: int):
    from ..space import SubnetConfig

    return SubnetConfig.smallest(r=r, width_mult=space.width_mult)
