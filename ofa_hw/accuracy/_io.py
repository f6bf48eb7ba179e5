"""Atomic writes of the package's array files."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Mapping

import numpy as np

__all__ = ["atomic_savez"]


def atomic_savez(path: "str | os.PathLike", arrays: Mapping[str, np.ndarray], compressed: bool = True) -> Path:
    """Save ``arrays`` to ``path`` via a temporary file in the same folder and ``os.replace``.

    A reader never sees a half-written file, and an interrupted write leaves the old one.
    """
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"array files are written as .npz, got {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".npz", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            (np.savez_compressed if compressed else np.savez)(handle, **arrays)
        # mkstemp creates the file 0600; shipped data must be world-readable.
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
