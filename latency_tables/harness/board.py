"""What a PYNQ board must already have for the DPU runner, checked once and said plainly.

``pynq`` and ``pynq_dpu`` come with the board image (PYNQ 3.x with DPU-PYNQ), installed as
root with ``--no-build-isolation``; they are never installed from PyPI by ``ofa-hw``
(building ``pynq-dpu`` off the image fails), so the harness looks for them and says what is
missing and how to get it.
"""

from __future__ import annotations

import importlib.util
import sys

__all__ = ["BoardSetupError", "missing_board_modules", "require_pynq_dpu"]

_HOW_TO = (
    "pynq and pynq_dpu come with the PYNQ image (PYNQ 3.x, Python 3.10) and DPU-PYNQ; on the board, as root: "
    "`sudo pip3 install pynq-dpu --no-build-isolation` (DPU-PYNQ's own instructions; it also rewrites "
    "/etc/vart.conf, which needs root). Off the board, time the int8 numpy stand-ins instead: "
    "`ofa-hw lut compile-numpy` then `ofa-hw lut measure --runner numpy`."
)


class BoardSetupError(ImportError):
    """The board lacks what the DPU runner needs (the message says what and how to get it)."""


def _importable(name: str) -> bool:
    if name in sys.modules:  # already imported (or blocked with None)
        return sys.modules[name] is not None
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def missing_board_modules() -> list[str]:
    """``["pynq_dpu"]`` where DPU-PYNQ cannot be imported, else ``[]`` (it brings ``pynq`` with it)."""
    return [] if _importable("pynq_dpu") else ["pynq_dpu"]


def require_pynq_dpu() -> None:
    """Raise :class:`BoardSetupError` once, naming what is missing and how to get it, unless the board is ready."""
    missing = missing_board_modules()
    if missing:
        raise BoardSetupError(f"the DPU runner needs {', '.join(missing)}, which is not importable here. {_HOW_TO}")
