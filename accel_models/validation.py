"""The one check every ``from_dict`` of the project makes: no key it does not know."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["reject_unknown_keys"]


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
    unknown = sorted(set(data) - set(listed))
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in {what}; allowed keys: {listed}")
