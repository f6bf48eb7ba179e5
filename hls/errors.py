"""Exceptions of the :mod:`hls` package.

Each subclasses the built-in a caller would expect (``ValueError`` for bad
input, ``FileNotFoundError`` for a missing compiler ...), so generic handlers
such as the CLI's still catch them.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "CompilerNotFoundError",
    "CsimError",
    "HLSError",
    "IntegrityError",
    "ManifestError",
    "QuantizationError",
    "UnsupportedLayerError",
]


class HLSError(Exception):
    """Base class of every error raised by :mod:`hls`."""


class UnsupportedLayerError(HLSError, ValueError):
    """Layers the target or the kernel library cannot run, one problem per line.

    ``problems`` holds ``(layer name, reason)`` pairs so callers can report
    them individually.
    """

    def __init__(self, problems: Sequence[tuple[str, str]], target: str):
        self.problems = tuple(problems)
        self.target = target
        lines = "\n".join(f"  {name}: {reason}" for name, reason in self.problems)
        super().__init__(f"{len(self.problems)} layer(s) cannot run on target {target!r}:\n{lines}")


class QuantizationError(HLSError, ValueError):
    """A network that cannot be represented in the integer scheme (overflow, bad weights ...)."""


class ManifestError(HLSError, ValueError):
    """An export directory whose manifest is missing, malformed or not of a supported version."""


class IntegrityError(ManifestError):
    """A file of an export that is missing, truncated or differs from its recorded sha256."""


class CompilerNotFoundError(HLSError, FileNotFoundError):
    """The C++ compiler for the C-simulation is not installed or not at the given path."""


class CsimError(HLSError, RuntimeError):
    """The C-simulation did not compile or did not run to completion."""
