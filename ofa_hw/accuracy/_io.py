"""Atomic writes of the package's array files."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from accel_models.atomic import atomic_open

__all__ = ["atomic_savez"]


def atomic_savez(path: str | os.PathLike, arrays: Mapping[str, np.ndarray], compressed: bool = True) -> Path:
    """Save ``arrays`` to ``path`` via a temporary file in the same folder and ``os.replace``.

    A reader never sees a half-written file, and an interrupted write leaves the old one.
    """
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"array files are written as .npz, got {path}")
    with atomic_open(path, "wb") as handle:
        named: dict[str, Any] = dict(arrays)  # numpy's stubs type **kwds as its own keyword arguments
        (np.savez_compressed if compressed else np.savez)(handle, **named)
    return path
