"""Argument types shared by sub-commands: a bad value is an argparse usage error naming the option."""

from __future__ import annotations

import argparse
import re

__all__ = ["net_name", "seed"]


def seed(text: str) -> int:
    """A random seed: a non-negative integer (what ``numpy.random.default_rng`` takes)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a non-negative integer, got {value}")
    return value


def net_name(text: str) -> str:
    """A name for ``vai_c_xir --net_name``: it names the compiled ``<name>.xmodel``, one word on a shell line."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a network name: letters, digits, '_', '-' and '.', "
                                         "starting with a letter or '_' (it names the compiled .xmodel)")
    return text
