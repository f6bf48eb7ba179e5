"""A MACs proxy for spaces without an accuracy predictor: the most MACs reachable under each latency.

OFA published no accuracy predictor for ``ofa-proxyless-w1.3`` and no measured
top-1 data set of its sub-networks exists, so the search refuses that space
(nothing invented).  What can honestly be offered is a ranking by
multiply-accumulates, which correlates with accuracy within one space but
**is not an accuracy**: :func:`macs_proxy_front` samples sub-networks,
predicts their latency like the search does, and returns the front of
(latency, MACs).  Every result says what it is in ``objective``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from accel_models.accelerator import Accelerator

from .accuracy.encoding import unit_macs_params
from .space import SubnetConfig, get_space, sample_subnets

__all__ = ["MACS_PROXY", "MacsProxyDesign", "macs_proxy_front"]

#: What a :class:`MacsProxyDesign` optimises, in words.
MACS_PROXY = "MACs proxy: most multiply-accumulates at the latency, NOT a predicted accuracy"


@dataclass(frozen=True)
class MacsProxyDesign:
    """One sub-network of the (latency, MACs) front; ``objective`` says it is a proxy, not an accuracy."""

    subnet: SubnetConfig
    latency_ms: float
    macs: int
    objective: str = MACS_PROXY


def macs_proxy_front(space: str, predictor, accelerator: Accelerator, *, n: int = 20_000, seed: int = 0,
                     resolutions: Sequence[int] | None = None) -> list[MacsProxyDesign]:
    """The sampled sub-networks with the most MACs for their latency, fastest first.

    Parameters
    ----------
    space : str
        A space name (any; meant for those without an accuracy predictor).
    predictor : accel_models.LatencyPredictor
        Unit latencies on ``accelerator`` (e.g. ``latency_tables.get_predictor("dpuczdx8g-joint")``),
        plus its launch cost once per network.
    accelerator : Accelerator
    n, seed : int
        Sub-networks sampled uniformly from the space, and the seed.
    resolutions : sequence of int, optional
        Resolutions to sample (default: the space's trained range).

    Examples
    --------
    >>> from accel_models import RooflineModel
    >>> front = macs_proxy_front("ofa-proxyless-w1.3", RooflineModel(), Accelerator.from_dpu("B1600"), n=500)
    >>> front[0].objective == MACS_PROXY, all(a.macs < b.macs for a, b in zip(front, front[1:]))
    (True, True)
    """
    if int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    batch = sample_subnets(int(n), seed=seed, width_mult=get_space(space).width_mult, resolutions=resolutions)
    sampled = tuple(np.unique(batch.r).tolist())
    catalog = batch.block_catalog(sampled)
    unit_ms = np.asarray(predictor.unit_latency_ms([list(u) for u in catalog.layers], accelerator), dtype=float)
    latency = catalog.total(unit_ms) + float(predictor.invocation_ms)
    macs = catalog.total(unit_macs_params(batch.space, sampled)[:-1, 0])  # per unit, summed once per space
    front, best = [], -1.0
    for i in np.lexsort((-macs, latency)):
        if macs[i] > best:
            front.append(MacsProxyDesign(batch[int(i)], float(latency[i]), int(macs[i])))
            best = macs[i]
    return front
