"""The accelerator half of the joint search space: two named spaces.

* ``"dpu"`` (the default): stock DPUCZDX8G configurations only, the eight
  PG338 sizes x clock x cores x RAM usage x DSP usage (:class:`DpuGrid`),
  each with the UltraRAM it needs to fit the board.  Every design can be
  built with the vendor IP (``ofa-hw build-config`` writes its files).
* ``"dpu-like"``: the NAAS-style grid of PE arrays (:class:`AcceleratorGrid`,
  ICP and OCP independent).  An array that is not a PG338 size is a *custom
  accelerator, not a DPUCZDX8G configuration*, realised only through the HLS
  export, so its fit is that of its HLS engine.  The grid's PG338 sizes are
  left out: they are the ``"dpu"`` space's, built with the vendor IP, and
  every design of this space is an HLS engine that fits the board.

An :class:`AcceleratorSpace` is the finite set a search may pick, each member
checked with :func:`accel_models.fits` up front: the same check a user makes
on the design afterwards, so the two always agree.  Candidates carry an index
into that set; mutation changes one gene at a time and keeps the parent's
value when the mutated combination does not fit, so every candidate fits.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from accel_models import Accelerator, Board, fits
from accel_models.accelerator import MAX_CORES, check_dpu_clock, list_dpu_archs
from accel_models.dpu_options import DpuOptions
from accel_models.resources import FitResult, buildable_on, uram_to_fit
from accel_models.wording import WordedError

__all__ = ["ACCELERATOR_SPACES", "AcceleratorGrid", "AcceleratorSpace", "DpuGrid", "DroppedAcceleratorsWarning",
           "InfeasibleConstraintError", "fitting_options"]

#: Named accelerator spaces of :func:`ofa_hw.search_codesign` and ``ofa-hw search --accelerators``.
ACCELERATOR_SPACES = ("dpu", "dpu-like")


class InfeasibleConstraintError(WordedError):
    """No design can meet the request; the message gives the closest achievable value (a ValueError)."""


class DroppedAcceleratorsWarning(UserWarning):
    """Configurations of a grid the user gave do not fit the board; the message lists each with its resource."""


def _misfit(acc: Accelerator, check: FitResult, max_utilization: float) -> str:
    """Why ``acc`` does not fit: its binding resource and by how much ("needs 171% of the dsp, 71 points over")."""
    share = check.binding_utilization
    over = "none on the board" if share == float("inf") else f"{100 * (share - max_utilization):.0f} points over"
    return f"{_family(acc)} @{acc.clock_mhz:g} MHz x{acc.cores} needs {100 * share:.0f}% of the " \
           f"{check.binding_resource} ({over})"


def _family(acc: Accelerator) -> str:
    """The hardware without clock and cores, a stock DPU with its PG338 build options ("B4096 (RAM usage low, ...)")."""
    if not acc.is_dpuczdx8g:  # a custom engine's resources follow its HLS structure, not PG338's options
        return acc.hardware_label
    o = acc.options
    return f"{acc.hardware_label} (RAM usage {o.ram_usage}, DSP usage {o.dsp_usage})"


def _grouped_misfits(misfits: Sequence[tuple[Accelerator, FitResult]]) -> str:
    """Every configuration that does not fit, grouped by hardware: cores with their clocks, the worst overuse."""
    groups: dict[str, list[tuple[Accelerator, FitResult]]] = {}
    for acc, check in misfits:
        groups.setdefault(_family(acc), []).append((acc, check))
    parts = []
    for family, members in groups.items():
        clocks: dict[int, set[float]] = {}
        for acc, _ in members:
            clocks.setdefault(acc.cores, set()).add(acc.clock_mhz)
        where = ", ".join(f"x{cores} at {'/'.join(f'{mhz:g}' for mhz in sorted(mhz_set))} MHz"
                          for cores, mhz_set in sorted(clocks.items()))
        resources = "/".join(sorted({check.binding_resource for _, check in members}))
        worst = max(check.binding_utilization for _, check in members)
        parts.append(f"{family} {where} ({resources} up to {100 * worst:.0f}% of the board)")
    return "; ".join(parts)


def _distinct(name: str, values, positive: bool = False) -> tuple:
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise ValueError(f"{name} must be a tuple of values (one per choice), got {type(values).__name__} {values!r}")
    values = tuple(values)
    if not values or len(set(values)) != len(values) or (positive and any(v <= 0 for v in values)):
        raise ValueError(f"{name} must be distinct {'positive ' if positive else ''}values, got {values!r}")
    return values


@dataclass(frozen=True)
class DpuGrid:
    """Gene values of stock DPUCZDX8G configurations (the ``"dpu"`` space).

    Clocks up to 300 MHz: PYNQ-DPU and the Vitis AI model zoo run their DPUs
    at 200-300 MHz; up to four cores per device, as PG338 allows.
    """

    arch: tuple[str, ...] = tuple(list_dpu_archs())
    clock_mhz: tuple[float, ...] = (150.0, 200.0, 250.0, 300.0)
    cores: tuple[int, ...] = (1, 2, 3, 4)
    ram_usage: tuple[str, ...] = ("low", "high")
    dsp_usage: tuple[str, ...] = ("high", "low")
    ip_version: str = "4.1"

    def __post_init__(self) -> None:
        known = list_dpu_archs()
        for name in ("arch", "clock_mhz", "cores", "ram_usage", "dsp_usage"):
            object.__setattr__(self, name, _distinct(f"DpuGrid.{name}", getattr(self, name)))
        unknown = [a for a in self.arch if a not in known]
        if unknown:
            raise ValueError(f"DpuGrid.arch: unknown DPU architecture(s) {unknown}; known: {known}")
        if any(c > MAX_CORES or c < 1 for c in self.cores):
            raise ValueError(f"DpuGrid.cores: a DPUCZDX8G IP has 1-{MAX_CORES} cores, got {self.cores!r}")
        for name in ("ram_usage", "dsp_usage"):
            if not set(getattr(self, name)) <= {"low", "high"}:
                raise ValueError(f"DpuGrid.{name} must hold 'low' and/or 'high' (PG338), got {getattr(self, name)!r}")
        DpuOptions(ip_version=self.ip_version)  # validates
        for clock in self.clock_mhz:
            check_dpu_clock(clock)

    @property
    def genes(self) -> tuple[tuple, ...]:
        """Value tuples of the genes, in the order of ``names``."""
        return (self.arch, self.clock_mhz, self.cores, self.ram_usage, self.dsp_usage)

    names = ("arch", "clock_mhz", "cores", "ram_usage", "dsp_usage")

    def accelerator(self, genes: Sequence[int], board: Board) -> Accelerator:
        """The stock DPU at gene indices ``genes``, with the UltraRAM it needs on ``board``."""
        arch, clock, cores, ram, dsp = (values[g] for values, g in zip(self.genes, genes, strict=True))
        acc = Accelerator.from_dpu(arch, clock_mhz=clock, cores=cores, ddr_bw_gbps=board.ddr_bw_gbps,
                                   options=DpuOptions(ip_version=self.ip_version, ram_usage=ram, dsp_usage=dsp))
        return _with_uram(acc, board)


@dataclass(frozen=True)
class AcceleratorGrid:
    """Gene values of DPU-like accelerators (the ``"dpu-like"`` space).

    ICP and OCP span PG338's DPUCZDX8G table (8-16) and vary independently,
    as in NAAS; PP adds 2 to the table's 4 and 8: a custom array is priced by
    its HLS engine's structure (:mod:`accel_models.hls_engine`), not by the
    PG338 fit, and at one DSP clock only such narrow arrays fit the smallest
    board's engine.  Clocks up to 300 MHz: PYNQ-DPU runs its DPUs at 200-300 MHz.
    """

    pp: tuple[int, ...] = (2, 4, 8)
    icp: tuple[int, ...] = (8, 10, 12, 14, 16)
    ocp: tuple[int, ...] = (8, 10, 12, 14, 16)
    clock_mhz: tuple[float, ...] = (150.0, 200.0, 250.0, 300.0)
    cores: tuple[int, ...] = (1, 2, 3, 4)

    def __post_init__(self) -> None:
        for name in ("pp", "icp", "ocp", "clock_mhz", "cores"):
            values = _distinct(f"AcceleratorGrid.{name}", getattr(self, name), positive=True)
            if name != "clock_mhz" and not all(isinstance(v, int | np.integer) and not isinstance(v, bool)
                                               for v in values):
                raise ValueError(f"AcceleratorGrid.{name} must be integers, got {values!r}")
            object.__setattr__(self, name, tuple(sorted(values)))
        if max(self.cores) > MAX_CORES:
            raise ValueError(f"AcceleratorGrid.cores must be 1-{MAX_CORES} cores per device, got {self.cores!r}")
        for clock in self.clock_mhz:
            check_dpu_clock(clock)

    @property
    def genes(self) -> tuple[tuple, ...]:
        """Value tuples of the genes, in the order of ``names``."""
        return (self.pp, self.icp, self.ocp, self.clock_mhz, self.cores)

    names = ("pp", "icp", "ocp", "clock_mhz", "cores")

    def accelerator(self, genes: Sequence[int], board: Board) -> Accelerator:
        """The accelerator at gene indices ``genes``, with the options that make it fit ``board``."""
        pp, icp, ocp, clock, cores = (values[g] for values, g in zip(self.genes, genes, strict=True))
        acc = Accelerator(pp, icp, ocp, clock_mhz=clock, cores=cores, ddr_bw_gbps=board.ddr_bw_gbps)
        return fitting_options(acc.replace(name=acc.arch or f"P{pp}I{icp}O{ocp}"), board)


def fitting_options(acc: Accelerator, board: Board) -> Accelerator:
    """``acc`` with the UltraRAM and DSP-usage options that fit ``board``.

    See :func:`accel_models.resources.buildable_on`.
    """
    return buildable_on(acc, board)


def _with_uram(acc: Accelerator, board: Board) -> Accelerator:
    """The accelerator with as many UltraRAM blocks per core as it needs to fit the board's BRAM."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        uram = uram_to_fit(acc, board)
    return acc if uram == acc.options.uram_per_core else acc.replace(options=acc.options.replace(uram_per_core=uram))


class AcceleratorSpace:
    """Accelerators that fit ``board``, as indices a population can carry.

    Use the constructors :meth:`named`, :meth:`stock`, :meth:`from_grid`,
    :meth:`from_list` or :meth:`fixed`.  ``accelerators[i]`` is candidate
    ``i``; ``fit[i]`` its :class:`accel_models.FitResult` (resources as placed).
    """

    board: Board | None  # None only for a board-less device space (:meth:`device`)
    fit: tuple[FitResult | None, ...]

    def __init__(self, board: Board, accelerators: Sequence[Accelerator], genes: np.ndarray | None,
                 grid: AcceleratorGrid | DpuGrid | None, max_utilization: float, name: str = "list",
                 warn_dropped: bool = False):
        self.board = board
        self.max_utilization = max_utilization
        self.grid = grid
        self.name = name
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # extrapolation is recorded per design instead
            checks = [fits(acc, board, max_utilization=max_utilization) for acc in accelerators]
        ok = np.array([c.ok for c in checks], dtype=bool)
        within = f"within {100 * max_utilization:.0f}% of its resources"
        #: Why each configuration that does not fit was left out ("B4096@300x4: DSP 171% of the board").
        self.dropped: tuple[str, ...] = tuple(_misfit(acc, c, max_utilization)
                                              for acc, c in zip(accelerators, checks, strict=True) if not c.ok)
        if grid is None and self.dropped:  # a list names what the user wants: dropping any silently would mislead
            raise InfeasibleConstraintError(
                f"{len(self.dropped)} of the {len(checks)} listed accelerator(s) do not fit {board.name} {within}: "
                f"{'; '.join(self.dropped)}; remove them or use 'dpu' for every configuration that fits")
        if warn_dropped and self.dropped and ok.any():  # a grid the user gave: say what it lost, once
            misfits = [(acc, c) for acc, c in zip(accelerators, checks, strict=True) if not c.ok]
            warnings.warn(DroppedAcceleratorsWarning(
                f"{len(self.dropped)} of the {len(checks)} configurations of the grid do not fit {board.name} "
                f"{within} and are left out: {_grouped_misfits(misfits)} (AcceleratorSpace.dropped lists each "
                "with its overuse)"), stacklevel=4)
        if not ok.any():
            closest = min(range(len(checks)), key=lambda i: max(checks[i].utilization.values()))
            check = checks[closest]
            raise InfeasibleConstraintError(
                f"no accelerator of the {len(checks)} considered fits {board.name} within "
                f"{100 * max_utilization:.0f}% of its resources; the closest, {accelerators[closest].label}, needs "
                f"{100 * check.binding_utilization:.0f}% of its {check.binding_resource}"
            )
        keep = np.flatnonzero(ok)
        self.accelerators: tuple[Accelerator, ...] = tuple(accelerators[int(i)] for i in keep)
        self.fit = tuple(checks[int(i)] for i in keep)
        self.dsp = np.array([checks[int(i)].placed.dsp for i in keep])
        self.genes = None if genes is None else genes[keep]
        if self.genes is not None and grid is not None:
            radix = np.array([len(g) for g in grid.genes])
            self._radix = radix
            self._lookup = np.full(int(np.prod(radix)), -1, dtype=np.int64)
            self._lookup[self._code(self.genes)] = np.arange(len(keep))

    # ---------------------------------------------------------- constructors
    @classmethod
    def named(cls, board: Board, name: str, max_utilization: float = 1.0) -> AcceleratorSpace:
        """The space called ``name``: ``"dpu"`` (stock DPUCZDX8G) or ``"dpu-like"`` (custom PE arrays)."""
        if name == "dpu":
            return cls.stock(board, max_utilization=max_utilization)
        if name == "dpu-like":
            return cls.from_grid(board, max_utilization=max_utilization)
        raise ValueError(f"unknown accelerator space {name!r}; known: {', '.join(ACCELERATOR_SPACES)}")

    @classmethod
    def _from_genes(cls, board: Board, grid: AcceleratorGrid | DpuGrid | None, default: AcceleratorGrid | DpuGrid,
                    max_utilization: float, name: str) -> AcceleratorSpace:
        chosen = default if grid is None else grid
        genes = np.array(list(itertools.product(*(range(len(g)) for g in chosen.genes))), dtype=np.int64)
        accelerators = [chosen.accelerator(row, board) for row in genes]
        if isinstance(chosen, AcceleratorGrid):  # custom arrays only: a PG338 size is the "dpu" space's
            custom = np.array([not a.is_dpuczdx8g for a in accelerators])
            if not custom.any():
                sizes = sorted({a.arch for a in accelerators if a.arch})
                raise ValueError(f"every PP/ICP/OCP combination of the grid is a PG338 size ({', '.join(sizes)}), so "
                                 "it holds no custom accelerator: use the 'dpu' space or a DpuGrid for stock sizes")
            genes, accelerators = genes[custom], [a for a, c in zip(accelerators, custom, strict=True) if c]
        return cls(board, accelerators, genes, chosen, max_utilization, name, warn_dropped=grid is not None)

    @classmethod
    def stock(cls, board: Board, grid: DpuGrid | None = None, max_utilization: float = 1.0) -> AcceleratorSpace:
        """Every stock DPUCZDX8G configuration of ``grid`` that fits ``board`` (the ``"dpu"`` space).

        A ``grid`` given here is the user's filter: one :class:`DroppedAcceleratorsWarning` lists every
        configuration of it that does not fit, with its binding resource (:attr:`dropped` holds them always).
        """
        return cls._from_genes(board, grid, DpuGrid(), max_utilization, "dpu")

    @classmethod
    def from_grid(cls, board: Board, grid: AcceleratorGrid | None = None,
                  max_utilization: float = 1.0) -> AcceleratorSpace:
        """Every gene combination of ``grid`` that fits ``board`` (the ``"dpu-like"`` space).

        A given ``grid`` warns about the configurations it loses, as in :meth:`stock`.
        """
        return cls._from_genes(board, grid, AcceleratorGrid(), max_utilization, "dpu-like")

    @classmethod
    def from_list(cls, board: Board, accelerators: Sequence[Accelerator],
                  max_utilization: float = 1.0) -> AcceleratorSpace:
        """The given accelerators; an error naming every one that does not fit ``board``.

        An accelerator that fits only with PG338's "low DSP usage" or with
        UltraRAM takes those options, with a warning naming it: they change
        resources, not the program or its timing (:attr:`Accelerator.timing_key`).
        """
        accelerators = list(accelerators)
        if not accelerators or not all(isinstance(a, Accelerator) for a in accelerators):
            raise ValueError("accelerators must be a non-empty list of accel_models.Accelerator")
        built = [buildable_on(a, board) for a in accelerators]
        changed = [f"{a.label} (DSP usage {b.options.dsp_usage}, UltraRAM {b.options.uram_per_core}/core)"
                   for a, b in zip(accelerators, built, strict=True) if a != b]
        if changed:
            warnings.warn(f"to fit {board.name}, {'; '.join(changed)}: PG338 build options that change resources, "
                          "not latency", UserWarning, stacklevel=3)
        accelerators = built
        if len(set(accelerators)) != len(accelerators):
            raise ValueError("the accelerator list contains duplicates (the same hardware twice)")
        return cls(board, accelerators, None, None, max_utilization)

    @classmethod
    def fixed(cls, board: Board, accelerator: Accelerator, max_utilization: float = 1.0) -> AcceleratorSpace:
        """A one-accelerator space (an error if it does not fit)."""
        return cls.from_list(board, [accelerator], max_utilization)

    @classmethod
    def device(cls, accelerator: Accelerator) -> AcceleratorSpace:
        """One device with no FPGA board to fit: the device a latency table was measured on (a phone CPU)."""
        space = cls.__new__(cls)
        space.board, space.max_utilization, space.grid, space.genes = None, 1.0, None, None
        space.name = "device"
        space.accelerators, space.dropped = (accelerator,), ()
        space.fit = (None,)  # no board: nothing to fit
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
        """``n`` random member indices."""
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
        out: dict[str, object] = {
               "board": self.board.name if self.board is not None else None, "space": self.name, "count": len(self),
               "custom": sum(not a.is_dpuczdx8g for a in self.accelerators), "max_utilization": self.max_utilization}
        if self.dropped:
            out["dropped"] = len(self.dropped)  # configurations that do not fit the board (self.dropped says why)
        if self.grid is not None:
            out["grid"] = {name: list(values) for name, values in zip(self.grid.names, self.grid.genes, strict=True)}
        else:
            out["accelerators"] = [a.to_dict() for a in self.accelerators]
        return out
