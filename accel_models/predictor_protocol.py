"""The one latency-predictor interface of the project.

Every latency predictor, analytical (:class:`accel_models.RooflineModel`),
calibrated (``latency_tables.CalibratedModel``), measured
(``latency_tables.TablePredictor``) or both (``latency_tables.HybridPredictor``),
answers the same four questions with the same signatures:

========================================  ============================================
``layer_latency_ms(layers, accelerator)``  each layer of a network (no launch cost)
``unit_latency_ms(units, accelerator)``    each unit (a block of layers, no launch cost)
``network_latency_ms(layers, accelerator)`` a whole network: its units plus one launch
``unit_sources(units, accelerator)``       where each unit's figure comes from
========================================  ============================================

and carries ``invocation_ms``, the cost of launching one compiled program
(paid once per network; 0 for a predictor that has none).

Accelerators
    ``accelerator`` is one :class:`~accel_models.Accelerator`, a sequence of
    them, or None for the predictor's own (the one its measurements or
    calibration come from; a predictor without one raises ``ValueError``).
    One accelerator gives arrays over layers / units, ``(L,)`` / ``(K,)``
    and a float network latency; M accelerators give ``(M, L)`` / ``(M, K)``
    / ``(M,)``.

Units
    A unit is the layers of one block in execution order; its key (the
    layers' ``block``, OFA's canonical key) is what measured tables look up.
    ``layer_latency_ms`` groups a network's layers into units by that key
    (:func:`accel_models.group_by_block`), so a unit's hand-off tensors may
    stay on chip.

Sources
    ``unit_sources`` returns one of :data:`LATENCY_SOURCES` per unit (same
    shape as ``unit_latency_ms``): ``"measured"`` for a table entry used on
    the accelerator it was measured on, ``"model"`` for everything else.

Per-resolution devices
    A predictor whose unit figures depend on the network's input resolution
    (one measured table per resolution, ``latency_tables.PerResolutionPredictor``)
    also has ``for_resolution(r)``, the predictor of networks at ``r``: the
    search prices each resolution's units with it, so a unit key that two
    resolutions share takes each one's own figure.

The protocol is checked structurally (``isinstance(obj, LatencyPredictor)``);
``latency_tables.as_predictor`` turns a device name or a table file into one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from .accelerator import Accelerator
from .layer import Layer

__all__ = ["LATENCY_SOURCES", "AcceleratorChoice", "HasLayers", "LatencyPredictor", "accelerator_list", "as_layers"]

#: Values of :meth:`LatencyPredictor.unit_sources`.
LATENCY_SOURCES = ("measured", "model")

#: What the ``accelerator`` argument of every predictor method takes.
AcceleratorChoice = Accelerator | Sequence[Accelerator] | None


@runtime_checkable
class LatencyPredictor(Protocol):
    """Latency of layers, units and whole networks on DPU-like accelerators (see the module docstring)."""

    @property
    def invocation_ms(self) -> float:
        """Launch cost of one compiled program, added once per network (ms)."""
        ...

    def layer_latency_ms(self, layers: Sequence[Layer], accelerator: AcceleratorChoice = None) -> np.ndarray:
        """Latency of each layer of a network, no launch cost: (L,) or (M, L)."""
        ...

    def unit_latency_ms(self, units: Sequence[Sequence[Layer]], accelerator: AcceleratorChoice = None) -> np.ndarray:
        """In-network latency of each unit (sum over its layers), no launch cost: (K,) or (M, K)."""
        ...

    def network_latency_ms(self, layers: Sequence[Layer], accelerator: AcceleratorChoice = None) -> float | np.ndarray:
        """Latency of one network: its units' latencies plus one launch; a float, or (M,)."""
        ...

    def unit_sources(self, units: Sequence[Sequence[Layer]], accelerator: AcceleratorChoice = None) -> np.ndarray:
        """Source of each unit's latency, one of :data:`LATENCY_SOURCES`: (K,) or (M, K) strings."""
        ...


@runtime_checkable
class HasLayers(Protocol):
    """A network that can list its layers (an ``ofa_hw.SubnetConfig``, a ``Design``)."""

    def layers(self) -> Sequence[Layer]:
        """The network's layers in execution order."""
        ...


def as_layers(network: Iterable[Layer] | HasLayers) -> tuple[Layer, ...]:
    """The layers of ``network``: layers (any iterable of them), or an object with ``layers()``.

    >>> as_layers([Layer("fc", "fc", (8, 1, 1), (4, 1, 1))])[0].name
    'fc'
    >>> as_layers(42)
    Traceback (most recent call last):
    ...
    TypeError: expected a sequence of Layer or an object with a layers() method (a SubnetConfig), got int
    """
    source = network.layers() if isinstance(network, HasLayers) else network
    layers = tuple(source) if isinstance(source, Iterable) and not isinstance(source, (str, bytes)) else ()
    if not layers or not all(isinstance(layer, Layer) for layer in layers):
        empty = " with no layers" if isinstance(source, Iterable) and not layers else ""
        raise TypeError("expected a sequence of Layer or an object with a layers() method (a SubnetConfig), "
                        f"got {type(network).__name__}{empty}")
    return layers


def accelerator_list(accelerator: AcceleratorChoice, default: Accelerator | None = None,
                     ) -> tuple[list[Accelerator], bool]:
    """``(accelerators, single)`` from a predictor method's ``accelerator`` argument.

    ``single`` says whether one accelerator was asked for (results drop the
    accelerator axis).  None means ``default``, the predictor's own.

    >>> acc = Accelerator.from_dpu("B1600")
    >>> accelerator_list(acc)[1], len(accelerator_list([acc, acc])[0])
    (True, 2)
    >>> accelerator_list(None)
    Traceback (most recent call last):
    ...
    ValueError: this predictor has no accelerator of its own: pass accelerator= (an Accelerator or a sequence of them)
    """
    if accelerator is None:
        if default is None:
            raise ValueError("this predictor has no accelerator of its own: pass accelerator= "
                             "(an Accelerator or a sequence of them)")
        return [default], True
    if isinstance(accelerator, Accelerator):
        return [accelerator], True
    if isinstance(accelerator, (str, bytes)) or not isinstance(accelerator, Sequence):
        raise ValueError(f"expected an Accelerator or a sequence of them, got {type(accelerator).__name__}")
    accelerators = list(accelerator)
    if not accelerators or not all(isinstance(a, Accelerator) for a in accelerators):
        raise ValueError("accelerators must be a non-empty sequence of accel_models.Accelerator")
    return accelerators, False
