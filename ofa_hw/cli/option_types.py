"""Argument types shared by sub-commands: a bad value is a usage error naming the option and what it takes.

The library checks the same values again (its messages name Python
parameters, ``latency_ms=``); checked here, the user reads ``--latency-ms``.
"""

from __future__ import annotations

import argparse
import math
import re
from pathlib import Path

__all__ = ["net_name", "open_fraction", "output_folder", "positive_float", "positive_int", "seed", "top1_percent"]


def _integer(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None


def _number(text: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def seed(text: str) -> int:
    """A random seed: a non-negative integer (what ``numpy.random.default_rng`` takes)."""
    value = _integer(text, "a non-negative integer")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {value}")
    return value


def positive_int(text: str) -> int:
    """A count of at least one (cores, threads, restarts, evaluations)."""
    value = _integer(text, "a positive integer")
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def positive_float(text: str) -> float:
    """A finite number above zero (a latency, a rate, a clock: the unit is in the option's name)."""
    value = _number(text, "a positive number")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _strictly_between(text: str, low: float, high: float, what: str) -> float:
    """``text`` as a number in the open interval (``low``, ``high``); ``what`` names it in the error."""
    value = _number(text, what)
    if not low < value < high:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def open_fraction(text: str) -> float:
    """A probability strictly between 0 and 1 (a confidence level)."""
    return _strictly_between(text, 0, 1, "a number strictly between 0 and 1, e.g. 0.9")


def top1_percent(text: str) -> float:
    """A top-1 accuracy in percent, strictly between 0 and 100."""
    what = "a top-1 percentage strictly between 0 and 100, e.g. 75"
    value = _strictly_between(text, 0, 100, what)
    if value < 1:  # every sub-network clears a floor under 1%: the user meant a fraction
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}, a fraction? (top-1 in percent: "
                                         f"{100 * value:g} for {100 * value:g}%)")
    return value


def net_name(text: str) -> str:
    """A name for ``vai_c_xir --net_name``: it names the compiled ``<name>.xmodel``, one word on a shell line."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a network name: letters, digits, '_', '-' and '.', "
                                         "starting with a letter or '_' (it names the compiled .xmodel)")
    return text


def output_folder(text: str) -> Path:
    """A folder output, written as a unit and swapped into place: never the current folder or one above it."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a folder, got an empty path")
    path, here = Path(text), Path.cwd().resolve()
    if path.resolve() == here or path.resolve() in here.parents:
        where = "the current folder" if path.resolve() == here else "above the current folder"
        raise argparse.ArgumentTypeError(f"{text!r} is {where}: the output folder is replaced as a whole, so give "
                                         "a new folder inside it, e.g. results/run1")
    return path
