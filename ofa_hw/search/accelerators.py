"""The accelerator half of the joint search space (NAAS-style genes).

An :class:`AcceleratorSpace` is the finite set of accelerators a search may
pick, each one checked against the board's resources up front: either every
combination of the genes of an :class:`AcceleratorGrid` (pixel, input- and
output-channel parallelism, clock, cores) that fits the board, a user's list,
or one fixed accelerator.  Candidates carry an index into that set; mutation
changes one gene at a time and keeps the parent's value when the mutated
combination does not fit, so every candidate always fits.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from accel_models import Accelerator, Board, fits
from accel_models.accelerator import check_dpu_clock, dpu_config, list_dpu_archs

__all__ = ["AcceleratorGrid", "AcceleratorSpace", "InfeasibleConstraintError"]


class InfeasibleConstraintError(ValueError):
    """No design can meet the request; the message gives the closest achievable value."""


@dataclass(frozen=True)
class AcceleratorGrid:
    """Gene values of DPU-like accelerators.

    The defaults stay inside the parallelism range of PG338's DPUCZDX8G table
    (PP 4-8, ICP/OCP 8-16), where the resource model is a fit and not an
    extrapolation; ICP and OCP vary independently, as in NAAS.  Clocks up to
    300 MHz: PYNQ-DPU runs its DPUs at 200-300 MHz.
    """

    pp: tuple[int, ...] = (4, 8)
    icp: tuple[int, ...] = (8, 10, 12, 14, 16)
    ocp: tuple[int, ...] = (8, 10, 12, 14, 16)
    clock_mhz: tuple[float, ...] = (150.0, 200.0, 250.0, 300.0)
    cores: tuple[int, ...] = (1, 2, 3, 4)

    def __post_init__(self) -> None:
        for name in ("pp", "icp", "ocp", "clock_mhz", "cores"):
            values = tuple(getattr(self, name))
            if not values or len(set(values)) != len(values) or any(v <= 0 for v in values):
                raise ValueError(f"AcceleratorGrid.{name} must be distinct positive values, got {values!r}")
            object.__setattr__(self, name, tuple(sorted(values)))
        for clock in self.clock_mhz:
            check_dpu_clock(clock)

    @property
    def genes(self) -> tuple[tuple, ...]:
        return (self.pp, self.icp, self.ocp, self.clock_mhz, self.cores)


def _named(pp: int, icp: int, ocp: int, clock_mhz: float, cores: int, board: Board) -> Accelerator:
    """A PG338 configuration keeps its name (so it equals the accelerator a table was measured on)."""
    for arch in list_dpu_archs():
        config = dpu_config(arch)
        if (config.pp, config.icp, config.ocp) == (pp, icp, ocp):
            return Accelerator.from_dpu(arch, clock_mhz=clock_mhz, cores=cores, ddr_bw_gbps=board.ddr_bw_gbps)
    return Accelerator(pp, icp, ocp, clock_mhz=clock_mhz, cores=cores, ddr_bw_gbps=board.ddr_bw_gbps,
                       name=f"P{pp}I{icp}O{ocp}")


class AcceleratorSpace:
    """Accelerators that fit ``board``, as indices a population can carry.

    Use the constructors :meth:`from_grid`, :meth:`from_list` or
    :meth:`fixed`.  ``accelerators[i]`` is candidate ``i``; ``utilization[i]``
    its highest resource utilisation and ``resources[i]`` its estimate.
    """

    def __init__(self, board: Board, accelerators: Sequence[Accelerator], genes: np.ndarray | None,
                 grid: AcceleratorGrid | None, max_utilization: float):
        self.board = board
        self.max_utilization = max_utilization
        self.grid = grid
        checks, dsp_usage = [], []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # extrapolation is recorded per design instead
            for acc in accelerators:
                # PG338's "low DSP usage" option builds accumulators in LUTs: take it when "high" does not fit
                for usage in ("high", "low"):
                    check = fits(acc, board, max_utilization=max_utilization, dsp_usage=usage)
                    if check.ok:
                        break
                checks.append(check)
                dsp_usage.append(usage)
        ok = np.array([c.ok for c in checks], dtype=bool)
        if grid is None and not ok.all():  # a list names what the user wants: dropping any silently would mislead
            misfits = "; ".join(
                f"{acc.name} @{acc.clock_mhz:g} MHz x{acc.cores} needs {100 * c.utilization[c.binding_resource]:.0f}% "
                f"of the {c.binding_resource}" for acc, c in zip(accelerators, checks, strict=True) if not c.ok)
            raise InfeasibleConstraintError(
                f"{int((~ok).sum())} of the {len(checks)} listed accelerator(s) do not fit {board.name} within "
                f"{100 * max_utilization:.0f}% of its resources: {misfits}; remove them or use 'dpu' for every "
                "configuration that fits")
        if not ok.any():
            closest = min(range(len(checks)), key=lambda i: max(checks[i].utilization.values()))
            check = checks[closest]
            raise InfeasibleConstraintError(
                f"no accelerator of the {len(checks)} considered fits {board.name} within "
                f"{100 * max_utilization:.0f}% of its resources; the closest, {accelerators[closest].label}, needs "
                f"{100 * check.utilization[check.binding_resource]:.0f}% of its {check.binding_resource}"
            )
        keep = np.flatnonzero(ok)
        self.accelerators: tuple[Accelerator, ...] = tuple(accelerators[i] for i in keep)
        self.resources: tuple[dict, ...] = tuple(
            {**{k: float(v) for k, v in checks[i].resources.as_dict().items()},
             "extrapolated": bool(checks[i].resources.extrapolated),
             "dsp_usage": dsp_usage[i],
             "binding_resource": checks[i].binding_resource,
             "binding_utilization": float(checks[i].utilization[checks[i].binding_resource])}
            for i in keep)
        self.dsp = np.array([r["dsp"] for r in self.resources])
        self.genes = None if genes is None else genes[keep]
        if self.genes is not None:
            radix = np.array([len(g) for g in grid.genes])
            self._radix = radix
            self._lookup = np.full(int(np.prod(radix)), -1, dtype=np.int64)
            self._lookup[self._code(self.genes)] = np.arange(len(keep))

    # ---------------------------------------------------------- constructors
    @classmethod
    def from_grid(cls, board: Board, grid: AcceleratorGrid | None = None,
                  max_utilization: float = 1.0) -> AcceleratorSpace:
        """Every gene combination of ``grid`` that fits ``board``."""
        grid = grid or AcceleratorGrid()
        combos = list(itertools.product(*(range(len(g)) for g in grid.genes)))
        genes = np.array(combos, dtype=np.int64)
        accelerators = [_named(grid.pp[a], grid.icp[b], grid.ocp[c], grid.clock_mhz[d], grid.cores[e], board)
                        for a, b, c, d, e in combos]
        return cls(board, accelerators, genes, grid, max_utilization)

    @classmethod
    def from_list(cls, board: Board, accelerators: Sequence[Accelerator],
                  max_utilization: float = 1.0) -> AcceleratorSpace:
        """The given accelerators; an error naming every one that does not fit ``board``."""
        accelerators = list(accelerators)
        if not accelerators or not all(isinstance(a, Accelerator) for a in accelerators):
            raise ValueError("accelerators must be a non-empty list of accel_models.Accelerator")
        if len(set(accelerators)) != len(accelerators):
            raise ValueError("the accelerator list contains duplicates")
        return cls(board, accelerators, None, None, max_utilization)

    @classmethod
    def fixed(cls, board: Board, accelerator: Accelerator, max_utilization: float = 1.0) -> AcceleratorSpace:
        return cls.from_list(board, [accelerator], max_utilization)

    @classmethod
    def device(cls, accelerator: Accelerator) -> AcceleratorSpace:
        """One device with no FPGA board to fit: the device a latency table was measured on (a phone CPU)."""
        space = cls.__new__(cls)
        space.board, space.max_utilization, space.grid, space.genes = None, 1.0, None, None
        space.accelerators = (accelerator,)
        space.resources = ({},)
        space.dsp = np.zeros(1)
        return space

    # ------------------------------------------------------------- genetics
    def __len__(self) -> int:
        return len(self.accelerators)

    def _code(self, genes: np.ndarray) -> np.ndarray:
        code = np.zeros(genes.shape[0], dtype=np.int64)
        for column, radix in enumerate(self._radix):
            code = code * radix + genes[:, column]
        return code

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.integers(0, len(self), size=n)

    def mutate(self, index: np.ndarray, rng: np.random.Generator, prob: float) -> np.ndarray:
        """Resample each gene with probability ``prob``; an unfit result keeps the parent's accelerator."""
        if len(self) == 1:
            return index.copy()
        if self.genes is None:  # a plain list: jump to another member
            jump = rng.random(index.shape[0]) < prob
            return np.where(jump, rng.integers(0, len(self), size=index.shape[0]), index)
        genes = self.genes[index].copy()
        for column, radix in enumerate(self._radix):
            change = rng.random(genes.shape[0]) < prob
            genes[change, column] = rng.integers(0, radix, size=int(change.sum()))
        candidate = self._lookup[self._code(genes)]
        return np.where(candidate >= 0, candidate, index)

    def crossover(self, a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Uniform crossover of genes; an unfit child takes parent ``a``'s accelerator."""
        if self.genes is None:
            return np.where(rng.random(a.shape[0]) < 0.5, a, b)
        pick = rng.random(self.genes[a].shape) < 0.5
        genes = np.where(pick, self.genes[a], self.genes[b])
        candidate = self._lookup[self._code(genes)]
        return np.where(candidate >= 0, candidate, a)

    def describe(self) -> dict:
        """JSON-able summary for a result's settings."""
        out = {"board": self.board.name if self.board is not None else None, "count": len(self), "max_utilization": self.max_utilization}
        if self.grid is not None:
            out["grid"] = {name: list(values) for name, values in
                           zip(("pp", "icp", "ocp", "clock_mhz", "cores"), self.grid.genes)}
        else:
            out["accelerators"] = [a.to_dict() for a in self.accelerators]
        return out
