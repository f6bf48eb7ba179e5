"""The checks every reader of the project makes: JSON files, unknown keys, lists of distinct named things, numbers.

:func:`read_json` names a file's problems (and line), :func:`reject_unknown_keys`
the keys it does not know, :func:`distinct_named` a list that is empty, holds
the wrong kind of thing or names one twice; :func:`is_real_number` and
:func:`whole_number` what a numeric argument may be (Python's or numpy's numbers, never a bool or text).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeGuard, TypeVar

import numpy as np

__all__ = ["MAX_JSON_DEPTH", "distinct_named", "is_real_number", "python_number", "read_json", "reject_unknown_keys",
           "whole_number"]

#: Deepest JSON nesting accepted (sub-networks, results and manifests nest a few levels).
MAX_JSON_DEPTH = 64
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_OPEN, _CLOSE = np.frombuffer(b"[{", dtype=np.uint8), np.frombuffer(b"]}", dtype=np.uint8)
_T = TypeVar("_T")


def read_json(path: str | Path, *, what: str) -> Any:
    """The JSON document in ``path``; every problem is an error naming the file (and line).

    ``FileNotFoundError`` / ``IsADirectoryError`` for a wrong path, ``ValueError``
    for text that is not UTF-8 (a BOM is accepted), not JSON, or nested
    deeper than :data:`MAX_JSON_DEPTH`.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{what} {path} is a folder; give a .json file")
    if not path.is_file():
        raise FileNotFoundError(f"{what} {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text (byte {exc.start}); save the {what} as UTF-8 JSON") from None
    depth = _max_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"{path}: JSON nested {depth} levels deep; a {what} nests at most {MAX_JSON_DEPTH}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg}, column {exc.colno})") from None


def _max_depth(text: str) -> int:
    """Bracket nesting depth of JSON text, counted without recursion (string contents ignored)."""
    brackets = _STRING.sub("", text).encode("utf-8", "replace")
    codes = np.frombuffer(brackets, dtype=np.uint8)
    steps = np.isin(codes, _OPEN).astype(np.int64) - np.isin(codes, _CLOSE)
    return int(np.cumsum(steps).max(initial=0))


def reject_unknown_keys(data: Mapping, allowed: Iterable[str], what: str) -> None:
    """Raise ``ValueError`` naming the unknown keys of ``data`` and the allowed ones.

    ``allowed`` is listed in its own order when it is a list or tuple (e.g.
    dataclass fields), sorted otherwise.

    >>> reject_unknown_keys({"ks": 1, "depth": 2}, {"ks"}, "a sub-network dict")
    Traceback (most recent call last):
    ...
    ValueError: unknown key(s) ['depth'] in a sub-network dict; allowed keys: ['ks']
    """
    listed = list(allowed) if isinstance(allowed, (list, tuple)) else sorted(allowed)
    if not isinstance(data, Mapping):  # set(None) would say "'NoneType' object is not iterable"
        raise ValueError(f"{what} must be a mapping (a dict) with keys from {listed}, got {type(data).__name__}")
    unknown = sorted(set(data) - set(listed))
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in {what}; allowed keys: {listed}")


def distinct_named(items: Iterable[_T], kind: type, name_of: Callable[[_T], str], what: str, *,
                   label: str = "name") -> tuple[_T, ...]:
    """``items`` as a tuple, checked to be a non-empty sequence of ``kind`` whose names are distinct.

    ``name_of`` gives an item's name (called ``label`` in messages); ``what``
    names the list in the ``ValueError`` raised otherwise.

    >>> distinct_named(["a", "b"], str, str.upper, "letters")
    ('a', 'b')
    >>> distinct_named(["a", "A"], str, str.upper, "letters")
    Traceback (most recent call last):
    ...
    ValueError: letters must have distinct names, got ['A', 'A'] (repeated: ['A'])
    """
    found: Sequence[_T] = tuple(items) if not isinstance(items, (str, bytes, Mapping)) else ()
    if not found or not all(isinstance(item, kind) for item in found):
        got = type(items).__name__ if not found else \
            sorted({type(item).__name__ for item in found if not isinstance(item, kind)})
        raise ValueError(f"{what} must be a non-empty sequence of {kind.__name__}, got {got}")
    names = [name_of(item) for item in found]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"{what} must have distinct {label}s, got {names} (repeated: {repeated})")
    return tuple(found)


def is_real_number(value: object) -> TypeGuard[int | float | np.integer | np.floating]:
    """True for a real number, Python's or numpy's (3, 2.5, ``np.float32(2.5)``); False for a bool, text or None."""
    return not isinstance(value, bool) and isinstance(value, int | float | np.integer | np.floating)


def whole_number(value: object) -> int | None:
    """``value`` as an int when it is a whole number (3, 3.0, numpy's int64), else None (3.5, "3", None, True)."""
    if type(value) is int:  # the common case, first: a network builds thousands of layers
        return value
    if is_real_number(value) and math.isfinite(value):
        whole = int(value)
        return whole if whole == value else None
    return None


def python_number(value: Any) -> Any:
    """A numpy scalar as the Python number it holds (``np.float32(2.5)`` -> 2.5); anything else as it is."""
    return value.item() if isinstance(value, np.integer | np.floating) else value
