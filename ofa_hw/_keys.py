"""The one check every ``from_dict`` of ofa_hw makes: no key it does not know."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def reject_unknown_keys(data: Mapping, allowed: Iterable[str], what: str) -> None:
    """Raise ``ValueError`` naming the unknown keys of ``data`` and the allowed ones.

    >>> reject_unknown_keys({"ks": 1, "depth": 2}, {"ks"}, "a sub-network dict")
    Traceback (most recent call last):
    ...
    ValueError: unknown key(s) ['depth'] in a sub-network dict; allowed keys: ['ks']
    """
    allowed = set(allowed)
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in {what}; allowed keys: {sorted(allowed)}")
