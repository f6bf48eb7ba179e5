"""Which ofa-hw file a JSON document is: a file given in the wrong place is named as what it is."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["SEARCH_RESULT", "SUBNET", "kind_of", "read_result", "refuse_other_kind"]

SEARCH_RESULT = "a search result (result.json from 'ofa-hw search')"
SUBNET = "a sub-network file ({'ks', 'e', 'd', 'r'}, an OFA net.config or a specialized-net entry)"

#: The files ofa-hw writes or reads as JSON, each recognised by the keys only it has.
_KINDS: tuple[tuple[str, Callable[[dict], bool]], ...] = (
    (SEARCH_RESULT, lambda d: "pareto" in d and "settings" in d),
    ("a latency predictor record (from 'ofa-hw lut fit')",
     lambda d: str(d.get("format", "")).startswith("ofa-hw-latency-predictor/")),
    ("an HLS export manifest (manifest.json of 'ofa-hw export')", lambda d: "engine" in d and "testbench" in d),
    ("a roofline report (roofline.json of 'ofa-hw roofline')", lambda d: "ridge_ops_per_byte" in d),
    (SUBNET, lambda d: "ks" in d and "e" in d),
)


def kind_of(document: Any) -> str | None:
    """What ``document`` is, of the files above; None when it is none of them."""
    if not isinstance(document, dict):
        return None
    return next((kind for kind, matches in _KINDS if matches(document)), None)


def refuse_other_kind(path: Path, document: Any, expected: str) -> None:
    """Raise ``ValueError`` when ``document`` (read from ``path``) is a known file of another kind than ``expected``."""
    kind = kind_of(document)
    if kind is not None and kind != expected:
        raise ValueError(f"{path} is {kind}, not {expected}")


def read_result(path: Path):
    """The :class:`ofa_hw.search.CodesignResult` in ``path``; another ofa-hw file there is named as what it is."""
    from accel_models.validation import read_json
    from ofa_hw.search import CodesignResult

    try:
        return CodesignResult.from_json(path)
    except ValueError:
        try:
            document = read_json(path, what="search result")
        except (OSError, ValueError):
            document = None
        refuse_other_kind(path, document, SEARCH_RESULT)
        raise
