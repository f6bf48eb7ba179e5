"""The joint search's genome: one integer vector of choice indices per candidate.

Layout (``Genome.fields``): 20 kernel-size indices, 20 expand-ratio indices,
5 depth indices, the resolution index and the accelerator index.  Kernel and
expand genes of slots a depth switches off are 0 (the first choice), so one
network has one genome.  The evolutionary search (de-duplication), NSGA-II
(pymoo's integer variables and bounds) and checkpoints all go through this
one type.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..space import OFASpace, SubnetBatch, active_mask
from .evaluate import Candidates

__all__ = ["Genome"]


@dataclass(frozen=True)
class Genome:
    """Encoding of (sub-network, accelerator) candidates as integer gene vectors.

    Parameters
    ----------
    space : OFASpace
    resolutions : sequence of int
        The resolutions the search may pick (gene value = position in this sorted tuple).
    n_accelerators : int
        Size of the search's :class:`AcceleratorSpace` (gene value = index into it).

    Examples
    --------
    >>> from ofa_hw.space import get_space, sample_subnets
    >>> genome = Genome(get_space("ofa-mbv3-w1.2"), (160, 224), n_accelerators=3)
    >>> genome.n_genes, genome.upper[-2:].tolist()
    (47, [1, 2])
    >>> c = Candidates(sample_subnets(5, seed=0, resolutions=[160, 224]), np.array([0, 1, 2, 0, 1]))
    >>> bool((genome.decode(genome.encode(c)).subnets.ks == c.subnets.ks).all())
    True
    """

    space: OFASpace
    resolutions: tuple[int, ...]
    n_accelerators: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "resolutions", tuple(sorted(int(r) for r in self.resolutions)))
        if not self.resolutions or int(self.n_accelerators) != self.n_accelerators or self.n_accelerators < 1:
            raise ValueError(f"a genome needs at least one resolution and one accelerator, got "
                             f"{self.resolutions} and {self.n_accelerators!r}")

    @property
    def fields(self) -> tuple[tuple[str, int], ...]:
        """(name, count) of each gene group, in order."""
        slots, stages = self.space.n_slots, self.space.n_stages
        return (("ks", slots), ("e", slots), ("d", stages), ("r", 1), ("accelerator", 1))

    @property
    def n_genes(self) -> int:
        """Genes per candidate."""
        return sum(count for _, count in self.fields)

    @cached_property
    def upper(self) -> np.ndarray:
        """(n_genes,) largest value of each gene (the lower bound is 0; read-only)."""
        space = self.space
        depths = [len(choices) - 1 for choices in space.stage_depth_choices]  # a one-block stage has one choice
        slots = space.n_slots
        upper = np.array([len(space.kernel_choices) - 1] * slots + [len(space.expand_choices) - 1] * slots
                         + depths + [len(self.resolutions) - 1, self.n_accelerators - 1], dtype=np.int64)
        upper.setflags(write=False)
        return upper

    def encode(self, candidates: Candidates) -> np.ndarray:
        """(N, n_genes) int64 genes of ``candidates``."""
        subnets = candidates.subnets
        kernel, expand, depth, resolution = self._index_of_value
        # a switched-off slot stores kernel and expand 0, which map to the first choice
        return np.concatenate([kernel[subnets.ks], expand[subnets.e], depth[subnets.d],
                               resolution[subnets.r // 4][:, None], np.asarray(candidates.accelerator)[:, None]],
                              axis=1)

    @cached_property
    def _index_of_value(self) -> tuple[np.ndarray, ...]:
        """Lookup arrays value -> choice index for kernel, expand, depth and resolution / 4."""
        space = self.space
        tables = []
        for choices in (space.kernel_choices, space.expand_choices, space.depth_choices):
            table = np.zeros(max(choices) + 1, dtype=np.int64)
            table[list(choices)] = np.arange(len(choices))
            tables.append(table)
        resolution = np.zeros(max(self.resolutions) // 4 + 1, dtype=np.int64)
        resolution[np.asarray(self.resolutions) // 4] = np.arange(len(self.resolutions))
        return (*tables, resolution)

    def decode(self, genes: np.ndarray, *, validate: bool = True) -> Candidates:
        """Candidates of ``genes`` (N, n_genes); values outside ``[0, upper]`` raise ``ValueError``.

        ``validate=False`` skips the range check and the value checks of
        :class:`SubnetBatch` for genes known to be in range (the search's own variation operators).
        """
        genes = np.asarray(genes)
        if genes.ndim != 2 or genes.shape[1] != self.n_genes:
            raise ValueError(f"expected genes of shape (N, {self.n_genes}), got {genes.shape}")
        genes = genes.astype(np.int64, copy=False)
        if validate and genes.size and ((genes < 0) | (genes > self.upper)).any():
            row, column = (int(i) for i in np.argwhere((genes < 0) | (genes > self.upper))[0])
            raise ValueError(f"gene {column} of genome {row} is {genes[row, column]}, "
                             f"outside [0, {self.upper[column]}]")
        values, offsets = self._value_table
        subnet = values[genes[:, :-1] + offsets]  # one gather for every gene but the accelerator
        slots = self.space.n_slots
        parts = (subnet[:, :slots], subnet[:, slots:2 * slots], np.ascontiguousarray(subnet[:, 2 * slots:-1]),
                 np.ascontiguousarray(subnet[:, -1]))
        subnets = (SubnetBatch(*parts, self.space.width_mult) if validate
                   else SubnetBatch._unchecked(*parts, self.space.width_mult))
        return Candidates(subnets, genes[:, -1].copy())

    @cached_property
    def _value_of_index(self) -> tuple[np.ndarray, ...]:
        """Lookup arrays choice index -> value for kernel, expand, (stage, depth index) and resolution."""
        space = self.space
        widest = max(len(choices) for choices in space.stage_depth_choices)
        depth = np.array([list(choices) + [choices[-1]] * (widest - len(choices))  # padding is never indexed
                          for choices in space.stage_depth_choices], dtype=np.int64)
        return (np.asarray(space.kernel_choices, np.int64), np.asarray(space.expand_choices, np.int64), depth,
                np.asarray(self.resolutions, np.int64))

    @cached_property
    def _value_table(self) -> tuple[np.ndarray, np.ndarray]:
        """(values, offsets): value ``v`` of gene column ``c`` (not the accelerator) is ``values[offsets[c] + v]``.

        The choices of every column end to end, so decoding is one gather (a column read past its choices
        would read the next column's: :meth:`decode` checks the range first unless told the genes are in it).
        """
        kernel, expand, _, resolution = self._value_of_index
        slots = self.space.n_slots
        depths = [np.asarray(choices, np.int64) for choices in self.space.stage_depth_choices]
        columns = [kernel] * slots + [expand] * slots + depths + [resolution]
        offsets = np.cumsum([0] + [len(column) for column in columns[:-1]]).astype(np.int64)
        values = np.concatenate(columns)
        for array in (values, offsets):
            array.setflags(write=False)
        return values, offsets

    def normalised(self, genes: np.ndarray) -> np.ndarray:
        """``genes`` with the kernel and expand genes of the slots their depths switch off set to 0.

        What ``encode(decode(genes))`` gives, without building the sub-networks:
        one product with the 0/1 gene mask of the genes' depths.
        """
        masks, place_values = self._depth_masks
        return genes * masks[genes[:, 2 * self.space.n_slots:-2] @ place_values]

    @cached_property
    def _depth_masks(self) -> tuple[np.ndarray, np.ndarray]:
        """(masks (depth combinations, n_genes) 0/1, place values of the depth genes): the gene mask of each depth.

        A depth combination's index is its depth genes in mixed radix (a few
        hundred combinations: 3^5 in the MobileNetV3 spaces).
        """
        slots = self.space.n_slots
        radices = self.upper[2 * slots:-2] + 1
        place_values = np.cumprod(np.r_[radices[1:], 1][::-1])[::-1].astype(np.int64)
        depths = np.indices(tuple(radices.tolist())).reshape(len(radices), -1).T  # every combination, in index order
        table = self.slots_on
        on = table[np.arange(table.shape[0]), depths].reshape(len(depths), slots)
        masks = np.ones((len(depths), self.n_genes), dtype=np.int64)
        masks[:, :slots] = masks[:, slots:2 * slots] = on
        masks.setflags(write=False)
        return masks, place_values

    @cached_property
    def slots_on(self) -> np.ndarray:
        """(stages, depth indices, slots per stage) int64: 1 for the slots a stage's depth switches on."""
        depth = self._value_of_index[2]  # (stage, depth index) -> depth
        return active_mask(depth).reshape(*depth.shape, -1).astype(np.int64)  # each entry's depth as one stage's

    def first_of_each(self, candidates: Candidates) -> np.ndarray:
        """Sorted indices of the first occurrence of every distinct candidate.

        The genes are packed into a few int64 words (mixed radix), so this is
        a lexsort of two or three keys instead of ``np.unique(axis=0)`` over
        47 columns.
        """
        keys = self._packed(self.encode(candidates))
        if len(candidates) == 0:
            return np.zeros(0, dtype=np.int64)
        order = np.lexsort(keys[::-1])  # stable: the first occurrence leads each run of equal genomes
        packed = np.stack(keys)[:, order]
        new = np.ones(len(order), dtype=bool)
        new[1:] = (packed[:, 1:] != packed[:, :-1]).any(axis=0)
        return np.sort(order[new])

    def keys(self, candidates: Candidates) -> list[tuple[int, ...]]:
        """An exact hashable key of each candidate: its genes packed into a few ints (equal keys, equal genomes)."""
        return list(zip(*(word.tolist() for word in self._packed(self.encode(candidates))), strict=True))

    def _packed(self, genes: np.ndarray) -> list[np.ndarray]:
        return [genes[:, columns] @ weights for columns, weights in self._words]

    @cached_property
    def _words(self) -> list[tuple[slice, np.ndarray]]:
        """(columns, place values) of each int64 word of the mixed-radix packing (each word below 2^62)."""
        words: list[tuple[slice, np.ndarray]] = []
        values: list[int] = []
        start, capacity = 0, 1
        for column, top in enumerate(self.upper.tolist()):
            radix = top + 1
            if capacity * radix >= 2 ** 62:
                words.append((slice(start, column), np.array(values, dtype=np.int64)))
                start, values, capacity = column, [], 1
            values = [v * radix for v in values] + [1]
            capacity *= radix
        return [*words, (slice(start, len(self.upper)), np.array(values, dtype=np.int64))]
