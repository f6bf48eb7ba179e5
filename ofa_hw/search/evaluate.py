"""Vectorised evaluation of (sub-network, accelerator) candidates.

The :class:`Evaluator` precomputes, once per search, the in-network latency of
every unit the space can use on every accelerator of the search (a (A, K)
matrix; measured entries where the table was measured on that accelerator,
the calibrated model elsewhere).  Evaluating a population is then a gather and
a row sum, plus the accuracy predictor's numpy inference.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from accel_models import Accelerator, LatencyPredictor
from accel_models.cpu_fallback import fallback_latency_ms
from latency_tables import as_predictor

from ..accuracy import QuantizedPredictor
from ..space import OFASpace, SubnetBatch, crossover, mutate, sample_subnets
from ..unit_gather import UnitGather, catalog_units, resolution_spans
from .accelerators import AcceleratorSpace

__all__ = ["CandidateParts", "Candidates", "Evaluator", "Scores", "latency_matrix"]


@dataclass(frozen=True)
class Candidates:
    """N candidates: sub-networks and an index into an :class:`AcceleratorSpace`."""

    subnets: SubnetBatch
    accelerator: np.ndarray

    def __len__(self) -> int:
        return len(self.subnets)

    def take(self, indices) -> Candidates:
        """The candidates at ``indices``."""
        return Candidates(self.subnets.take(indices), self.accelerator[indices])

    @classmethod
    def concat(cls, parts: Sequence[Candidates]) -> Candidates:
        """All candidates of ``parts``, in order (one part: itself, its arrays are not copied)."""
        if len(parts) == 1:
            return parts[0]
        return cls(SubnetBatch.concat([p.subnets for p in parts]), np.concatenate([p.accelerator for p in parts]))


@dataclass(frozen=True, eq=False)
class CandidateParts:
    """Candidates kept as the parts they were evaluated in, in order: rows are read by index, never all joined.

    A search's ~10^5 candidates come in a few hundred parts and its result reads a few dozen of them; joining
    them all (37 MB of fresh memory) cost a 100,000-evaluation search 0.05 s, mostly in page faults.
    """

    parts: tuple[Candidates, ...]

    def __len__(self) -> int:
        return int(self._starts[-1])

    @cached_property
    def _starts(self) -> np.ndarray:
        """The first row of each part, then the row count."""
        return np.cumsum([0, *(len(p) for p in self.parts)])

    @cached_property
    def accelerator(self) -> np.ndarray:
        """(N,) accelerator index of every candidate (read-only)."""
        accelerator = np.concatenate([p.accelerator for p in self.parts])
        accelerator.setflags(write=False)
        return accelerator

    def take(self, indices) -> Candidates:
        """The candidates at ``indices`` (an index array), in that order."""
        indices = np.asarray(indices, dtype=np.int64).reshape(-1)
        if not len(indices):
            return self.parts[0].take(indices)
        part = np.searchsorted(self._starts, indices, side="right") - 1
        order = np.argsort(part, kind="stable")
        present, first = np.unique(part[order], return_index=True)
        groups = np.split(order, first[1:])
        joined = Candidates.concat([self.parts[p].take(indices[rows] - self._starts[p])
                                    for p, rows in zip(present.tolist(), groups, strict=True)])
        return joined.take(np.argsort(order, kind="stable"))

    def joined(self) -> Candidates:
        """All candidates as one :class:`Candidates`."""
        return Candidates.concat(self.parts)


@dataclass(frozen=True)
class Scores:
    """Predicted figures of N candidates (see :class:`ofa_hw.search.Design`)."""

    latency_ms: np.ndarray
    fps: np.ndarray
    accuracy_top1: np.ndarray
    accuracy_float_top1: np.ndarray
    measured_fraction: np.ndarray

    def take(self, indices) -> Scores:
        """The scores at ``indices``."""
        return Scores(*(getattr(self, f)[indices] for f in self.__dataclass_fields__))

    @classmethod
    def concat(cls, parts: Sequence[Scores]) -> Scores:
        """All scores of ``parts``, in order (one part: itself, its arrays are not copied)."""
        if len(parts) == 1:
            return parts[0]
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in cls.__dataclass_fields__))


class EvaluationArchive:
    """A search's evaluations: candidates in parts (one per evaluation), scores also in one table by row.

    ``keep_parts=False``: the score table only (no :attr:`parts`, no :meth:`candidate`), for a reader of
    scores by row.
    """

    def __init__(self, keep_parts: bool = True) -> None:
        self._keep_parts = keep_parts
        self.parts: list[tuple[Candidates, Scores]] = []
        self._starts = [0]  # the first row of each part, then the row count
        self._table = np.empty((1024, len(_SCORE_FIELDS)))  # (rows, score fields), grown by doubling

    def __len__(self) -> int:
        """Rows so far."""
        return self._starts[-1]

    def append(self, candidates: Candidates, scores: Scores) -> int:
        """Add an evaluation; its first row."""
        start = self._starts[-1]
        end = start + len(candidates)
        if end > len(self._table):
            grown = np.empty((max(end, 2 * len(self._table)), len(_SCORE_FIELDS)))
            grown[:start] = self._table[:start]
            self._table = grown
        self._table[start:end] = np.column_stack([getattr(scores, f) for f in _SCORE_FIELDS])
        if self._keep_parts:
            self.parts.append((candidates, scores))
        self._starts.append(end)
        return start

    def scores(self, rows) -> Scores:
        """The scores at archive ``rows``, in that order (one gather)."""
        return Scores(*self._table[rows].T.copy())

    def candidate(self, row: int) -> Candidates:
        """The one candidate at archive ``row``."""
        if not self._keep_parts:
            raise ValueError("this archive keeps scores only (keep_parts=False): it has no candidates")
        part = bisect_right(self._starts, row) - 1
        return self.parts[part][0].take([row - self._starts[part]])


_SCORE_FIELDS = tuple(Scores.__dataclass_fields__)


def latency_matrix(predictor: LatencyPredictor, units: Sequence,
                   accelerators: Sequence[Accelerator]) -> tuple[np.ndarray, np.ndarray, float]:
    """(latency_ms (A, K), measured (A, K), per-network launch ms) of K units (layer lists) on every accelerator."""
    accelerators = list(accelerators)
    units = list(units)
    latency = np.asarray(predictor.unit_latency_ms(units, accelerators), dtype=float)
    measured = np.asarray(predictor.unit_sources(units, accelerators)) == "measured"
    return latency, measured, float(predictor.invocation_ms)


def _resolution_latency_matrix(predictor, space: OFASpace, resolutions: tuple[int, ...], units: Sequence,
                               accelerators: Sequence[Accelerator]) -> tuple[np.ndarray, np.ndarray, float]:
    """:func:`latency_matrix` over ``catalog_units(..., per_resolution=True)``, resolution by resolution.

    Each resolution's units from ``predictor.for_resolution(r)``: a device measured once per network
    resolution (OFA's Note10 tables).
    """
    blocks = [latency_matrix(predictor.for_resolution(r), units[at], accelerators)
              for r, at in zip(resolutions, resolution_spans(space, resolutions), strict=True)]
    return (np.concatenate([b[0] for b in blocks], axis=1), np.concatenate([b[1] for b in blocks], axis=1),
            float(predictor.invocation_ms))


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
        latency_predictor = as_predictor(latency_predictor)
        #: whether a unit's value depends on the network's resolution (a device with one table per resolution,
        #: ``for_resolution(r)``): then every resolution's units are columns of their own, so a network's latency
        #: is summed over the table of its own resolution, as the device's ``subnet_latency_ms`` sums it
        self.per_resolution = hasattr(latency_predictor, "for_resolution")
        self.keys, self.units = catalog_units(space, self.resolutions, self.per_resolution)
        accs = accelerators.accelerators

        def unit_latency(accelerators: Sequence[Accelerator]) -> tuple[np.ndarray, np.ndarray, float]:
            if self.per_resolution:
                return _resolution_latency_matrix(latency_predictor, space, self.resolutions, self.units,
                                                  accelerators)
            return latency_matrix(latency_predictor, self.units, accelerators)

        latency, measured, self.invocation_ms = unit_latency(accs)
        # layers the configuration cannot run go to the CPU: a subgraph split priced on top of the DPU estimate
        fallback = fallback_latency_ms(self.units, accs, launch_ms=self.invocation_ms)
        #: (A,) whether any unit (so any sub-network) has a layer the accelerator runs on the CPU
        self.falls_back: np.ndarray = np.asarray((fallback > 0).any(axis=1))
        measured_ms = np.where(measured, latency, 0.0)
        latency = latency + fallback
        self.latency_ms = latency
        self.deployment = deployment
        self.cores = np.array([a.cores for a in accs], dtype=float)
        shared_latency = latency
        if deployment is None:  # throughput with every core busy: each core sees 1/cores of the DDR bandwidth
            # (the deployed model has its own DDR contention, fitted on the zoo)
            shared = [a.replace(ddr_bw_gbps=a.ddr_bw_gbps / a.cores) if a.cores > 1 else a for a in accs]
            multi = [i for i, a in enumerate(accs) if a.cores > 1]
            shared_latency = latency.copy()
            if multi:
                model_latency, _, _ = unit_latency([shared[i] for i in multi])
                shared_latency[multi] = model_latency + fallback[multi]
        # per accelerator: latency, its measured part, latency with the DDR bandwidth shared by all cores
        per_unit = np.stack([latency, measured_ms, shared_latency], axis=1)
        self._gather = self._laid_out(per_unit)
        self._shared_latency_ms = shared_latency
        self._fastest: dict[bool, tuple[np.ndarray, UnitGather]] = {}
        self._screens: dict[bool, UnitGather] = {}
        self._derived: dict[object, UnitGather] = {}
        from .genome import Genome

        self.genome = Genome(space, self.resolutions, len(accs))

    def speed(self, candidates: Candidates) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(latency_ms, fps, measured_fraction): the cheap part of an evaluation, one gather."""
        sums = self._gather.total(candidates.subnets, candidates.accelerator)
        latency, fps = self._latency_fps(sums[:, 0], sums[:, 2], candidates.subnets.r,
                                         self.cores[candidates.accelerator])
        return latency, fps, sums[:, 1] / (sums[:, 0] + self.invocation_ms)

    def on_best_accelerators(self, candidates: Candidates, constraint) -> Candidates:
        """The candidates, each moved to the accelerator that best meets ``constraint`` for its sub-network.

        Accuracy depends on the sub-network only, so under a latency or
        throughput constraint the best accelerator of a sub-network is the one
        with the smallest violation, then the lowest latency.  It is always
        among the accelerators no other one beats on every unit (latency, and
        the throughput terms when ``constraint`` has an fps floor), found once
        per search; one gather over those picks it for every candidate.  The
        joint search's feasible set so contains that of a search on any one
        accelerator of its space.
        """
        return self.screen(candidates, constraint, place=True)[0]

    def screen(self, candidates: Candidates, constraint, place: bool) -> tuple[Candidates, np.ndarray]:
        """(candidates, their constraint violation) from the latency gather alone: what screening a draw needs.

        ``place``: each candidate moved to its best accelerator first
        (:meth:`on_best_accelerators`); else on its own accelerator.  The
        violation is that of :meth:`speed` (the cheap half of :meth:`evaluate`).
        """
        with_fps = constraint.fps is not None
        if place and len(self.accelerators) > 1:
            members, gather = self._undominated(with_fps)
            sums = gather.total(candidates.subnets).reshape(len(candidates), -1, len(members))
            latency, fps = self._latency_fps(sums[:, 0], sums[:, 1] if with_fps else None,
                                             candidates.subnets.r[:, None], self.cores[members])
            violation = constraint.violation_of(latency, fps)
            least = violation.min(axis=1)
            best = np.where(violation == least[:, None], latency, np.inf).argmin(axis=1)
            return Candidates(candidates.subnets, members[best]), least
        if with_fps not in self._screens:  # latency (and shared latency) only: a third of speed()'s gather
            tables = [self.latency_ms, self._shared_latency_ms] if with_fps else [self.latency_ms]
            self._screens[with_fps] = self._laid_out(np.stack(tables, 1))
        sums = self._screens[with_fps].total(candidates.subnets, candidates.accelerator)
        latency, fps = self._latency_fps(sums[:, 0], sums[:, 1] if with_fps else None, candidates.subnets.r,
                                         self.cores[candidates.accelerator])
        return candidates, constraint.violation_of(latency, fps)

    def _latency_fps(self, unit_ms: np.ndarray, shared_ms: np.ndarray | None, r: np.ndarray,
                     cores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(latency_ms, fps) from unit sums of latency and shared-bandwidth latency (``None``: fps not needed)."""
        dpu = unit_ms + self.invocation_ms
        latency = dpu if self.deployment is None else self.deployment.latency_ms(dpu, r)
        if shared_ms is None:  # no fps floor: the violation does not read it
            return latency, latency
        if self.deployment is not None:
            return latency, self.deployment.fps(dpu, cores, r)
        return latency, 1e3 * cores / (shared_ms + self.invocation_ms)

    def _undominated(self, with_throughput: bool) -> tuple[np.ndarray, UnitGather]:
        if with_throughput not in self._fastest:
            quantities = [self.latency_ms]
            per_core = 1.0 / self.cores[:, None]
            if with_throughput and self.deployment is not None:  # deployed fps falls with DPU time, rises with cores
                quantities.append(per_core)
            elif with_throughput:  # fps = 1e3 / (sum(shared) / cores + launch / cores): compare those terms
                quantities += [self._shared_latency_ms * per_core, self.invocation_ms * per_core]
            members = undominated_rows(np.concatenate(quantities, axis=1))
            # one group of M tables (2 x M with the shared-bandwidth latency fps needs): every candidate reads all
            tables = [self.latency_ms[members], self._shared_latency_ms[members]] if with_throughput else [
                self.latency_ms[members]]
            values = np.concatenate(tables)[None]
            self._fastest[with_throughput] = members, self._laid_out(values)
        return self._fastest[with_throughput]

    def unit_gather(self, name: object, values: Callable[[Sequence, list[Accelerator]], np.ndarray]) -> UnitGather:
        """A gather of per-unit values over this search's units and accelerators, built once per ``name``.

        ``values(units, accelerators)`` returns (A, Q, K): Q quantities of each
        of the K catalogue units on each accelerator; ``gather.total(subnets,
        candidates.accelerator)`` then sums them over each candidate's units.
        """
        if name not in self._derived:
            self._derived[name] = self._laid_out(values(self.units, list(self.accelerators.accelerators)))
        return self._derived[name]

    def _laid_out(self, values: np.ndarray) -> UnitGather:
        """A gather of (A, Q, K) values over this search's units (:attr:`units`, in their layout)."""
        return UnitGather.from_unit_values(self.space, self.resolutions, values, per_resolution=self.per_resolution)

    def dpu_ms(self, candidates: Candidates) -> np.ndarray:
        """DPU time of one image on one core: the units plus one program launch."""
        return self._gather.total(candidates.subnets, candidates.accelerator)[:, 0] + self.invocation_ms

    def accuracy(self, subnets: SubnetBatch) -> tuple[np.ndarray, np.ndarray]:
        """(deployed top-1, float top-1) in percent."""
        predictor = self.accuracy_predictor
        if isinstance(predictor, QuantizedPredictor):
            float_top1 = np.asarray(predictor.base.predict(subnets), float)
            return float_top1 - predictor.drop_model.predict_drop_pp(subnets), float_top1
        top1 = np.asarray(predictor.predict(subnets), float)
        return top1, top1

    def evaluate(self, candidates: Candidates) -> Scores:
        """Latency, throughput and accuracy of every candidate."""
        latency, fps, measured_fraction = self.speed(candidates)
        deployed, float_top1 = self.accuracy(candidates.subnets)
        return Scores(latency_ms=latency, fps=fps, accuracy_top1=deployed, accuracy_float_top1=float_top1,
                      measured_fraction=measured_fraction)

    # ------------------------------------------------------------ variation
    # ``accelerator_genes=False``: the accelerators are not drawn (every candidate gets index 0 and no random
    # numbers go to them), for a search that places each candidate itself (:meth:`screen`); its sub-network
    # draws are then those of the same search on any single accelerator, seed for seed.
    def sample(self, n: int, rng: np.random.Generator, accelerator_genes: bool = True) -> Candidates:
        """``n`` uniform random candidates."""
        subnets = sample_subnets(n, seed=rng, width_mult=self.space.width_mult, resolutions=self.resolutions)
        return Candidates(subnets, self.accelerators.sample(n, rng) if accelerator_genes else np.zeros(n, np.int64))

    def mutate(self, parents: Candidates, rng: np.random.Generator, prob: float,
               resolution_prob: float | None = None, accelerator_genes: bool = True) -> Candidates:
        """Gene-wise mutants of ``parents`` (see :func:`ofa_hw.space.mutate`; accelerator genes with ``prob``)."""
        subnets = mutate(parents.subnets, rng, prob=prob, resolutions=self.resolutions,
                         resolution_prob=resolution_prob)
        accelerators = (self.accelerators.mutate(parents.accelerator, rng, prob) if accelerator_genes
                        else np.zeros(len(parents), np.int64))
        return Candidates(subnets, accelerators)

    def crossover(self, a: Candidates, b: Candidates, rng: np.random.Generator,
                  accelerator_genes: bool = True) -> Candidates:
        """Uniform crossover of ``a[i]`` and ``b[i]``."""
        subnets = crossover(a.subnets, b.subnets, rng)
        accelerators = (self.accelerators.crossover(a.accelerator, b.accelerator, rng) if accelerator_genes
                        else np.zeros(len(a), np.int64))
        return Candidates(subnets, accelerators)


def undominated_rows(values: np.ndarray) -> np.ndarray:
    """Sorted indices of the rows of ``values`` (A, K) that no other row is <= everywhere and < somewhere.

    Of identical rows the first is kept.  Rows are visited by increasing sum,
    so each is compared only with the rows kept so far (a dominator of a
    dominated row is itself dominated by a kept one).
    """
    kept: list[int] = []
    for i in np.argsort(values.sum(axis=1), kind="stable"):
        row = values[i]
        if kept and (values[kept] <= row).all(axis=1).any():
            continue
        kept.append(int(i))
    return np.sort(np.array(kept, dtype=np.int64))
