"""FPGA boards: programmable-logic budget, DDR bandwidth and the DPU PYNQ-DPU ships.

The figures live in ``accel_models/data/boards.yaml`` with one citation per
figure; citations starting with ``UNVERIFIED`` were not checked against a
fetched copy of the vendor document (see ``accel_models/data/PROVENANCE.md``).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import lru_cache
from importlib import resources
from types import MappingProxyType

from .accelerator import Accelerator
from .validation import whole_number

__all__ = ["RESOURCE_NAMES", "Board", "get_board", "list_boards"]

#: The five FPGA resources a board has and every estimate and fit check counts.
RESOURCE_NAMES = ("dsp", "lut", "ff", "bram36", "uram")


@dataclass(frozen=True)
class Board:
    """An FPGA board: what an accelerator may use of it.

    ``sources`` maps each figure (``dsp``, ``lut``, ..., ``default_dpu``) to
    its citation.

    Examples
    --------
    >>> board = get_board("ultra96v2")
    >>> board.dsp, board.default_dpu_arch
    (360, 'B1600')
    >>> board.default_accelerator().name
    'B1600'
    """

    name: str
    part: str
    dsp: int
    lut: int
    ff: int
    bram36: int
    uram: int
    ddr_bw_gbps: float
    default_dpu_arch: str
    default_dpu_cores: int
    default_dpu_clock_mhz: float
    sources: Mapping[str, str]

    def __post_init__(self) -> None:
        for name in ("name", "part"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"board {self.name!r}: {name} must be a non-empty string, got {value!r}")
        for name in (*RESOURCE_NAMES, "default_dpu_cores"):
            value = getattr(self, name)
            count = whole_number(value)
            smallest, what = (0, "non-negative integer") if name == "uram" else (1, "positive integer")  # no URAM: 0
            if count is None or count < smallest:
                raise ValueError(f"board {self.name!r}: {name} must be a {what}, got {value!r}")
            object.__setattr__(self, name, count)  # numpy's and YAML's whole numbers stored as Python's
        for name in ("ddr_bw_gbps", "default_dpu_clock_mhz"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise ValueError(f"board {self.name!r}: {name} must be positive, got {value!r}")
        object.__setattr__(self, "sources", MappingProxyType(dict(self.sources)))

    def resources(self) -> dict[str, float]:
        """The budget as ``{"dsp": ..., "lut": ..., "ff": ..., "bram36": ..., "uram": ...}``."""
        return {name: getattr(self, name) for name in RESOURCE_NAMES}

    def unverified(self) -> list[str]:
        """Figures whose citation is marked UNVERIFIED."""
        return sorted(k for k, v in self.sources.items() if v.startswith("UNVERIFIED"))

    def default_accelerator(self) -> Accelerator:
        """The DPU configuration PYNQ-DPU ships for this board, with the board's DDR bandwidth.

        With as many UltraRAM blocks per core as its buffers need to fit the
        board's BRAM (DPU-PYNQ's KV260 and ZCU104 builds enable UltraRAM).
        """
        from .resources import uram_to_fit

        acc = Accelerator.from_dpu(self.default_dpu_arch, clock_mhz=self.default_dpu_clock_mhz,
                                   cores=self.default_dpu_cores, ddr_bw_gbps=self.ddr_bw_gbps)
        uram = uram_to_fit(acc, self)
        return acc.replace(options=acc.options.replace(uram_per_core=uram)) if uram else acc

    def to_dict(self) -> dict:
        """Plain-JSON form (``sources`` as a plain dict)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["sources"] = dict(self.sources)
        return out

    def __reduce__(self):
        # the read-only ``sources`` view cannot be pickled; rebuild from a plain dict (process pools, dask)
        return (_board_from_dict, (self.to_dict(),))


def _board_from_dict(data: dict) -> Board:
    return Board(**data)


@lru_cache(maxsize=1)
def _boards() -> Mapping[str, Board]:
    import yaml  # only when the registry is first used

    text = resources.files("accel_models").joinpath("data/boards.yaml").read_text()
    allowed = {f.name for f in fields(Board)} - {"name"}
    boards = {}
    for name, data in yaml.safe_load(text).items():
        unknown = set(data) - allowed
        missing = allowed - set(data)
        if unknown or missing:
            raise ValueError(f"boards.yaml entry {name!r}: unknown fields {sorted(unknown)}, "
                             f"missing fields {sorted(missing)}; allowed: {sorted(allowed)}")
        boards[name] = Board(name=name, **data)
    return MappingProxyType(boards)


def list_boards(pattern: str = "*") -> list[str]:
    """Known board names matching ``pattern``.

    >>> list_boards()
    ['kv260', 'ultra96v2', 'zcu102', 'zcu104']
    """
    return sorted(name for name in _boards() if fnmatch.fnmatchcase(name, pattern))


def get_board(name: str) -> Board:
    """The board called ``name`` (see :func:`list_boards`)."""
    boards = _boards()
    if name not in boards:
        raise KeyError(f"unknown board {name!r}; known: {', '.join(list_boards())}")
    return boards[name]
