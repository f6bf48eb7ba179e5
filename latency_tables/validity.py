"""What each shipped latency device was checked on, its held-out error, and warnings outside of it.

A device is as good as the measurements behind it.  :func:`device_validity`
says, for a shipped device, which layer types, kernel sizes, channel counts,
feature-map sizes and DPU configurations its calibration saw, and its
held-out error there; :meth:`DeviceValidity.outside` lists what a request
asks beyond that, and :func:`warn_outside` turns it into one
:class:`ValidityWarning`; :func:`sizes_checked` does the same, once per call, for the
feature-map sizes of the network a predictor's network-level call prices (a resolution beyond
the measured ones).  (A fit on a user's measurements that does not beat the shipped prior out
of sample keeps the prior and warns: :func:`latency_tables.fit_device`.)

``zcu102-b4096`` (calibrated on the ZCU102 MobileNetV2 block table alone) is
withdrawn: that table ranks against block MACs with Spearman 0.25 and the fit
predicted the 26 measured ZCU102 B4096 per-layer profiles at 525 % MAPE; ``dpuczdx8g-joint`` with a
B4096 accelerator predicts them at 11.1 % with the ZCU102 held out
(``benchmarks/bench_transfer.py``).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache

from accel_models import Accelerator, Layer

__all__ = [
    "WITHDRAWN_DEVICES",
    "DeviceValidity",
    "ValidityWarning",
    "device_validity",
    "sizes_checked",
    "warn_outside",
    "warn_reasons",
]

#: Devices no longer offered, and why.
WITHDRAWN_DEVICES = {
    "zcu102-b4096": "withdrawn: calibrated on the ZCU102 MobileNetV2 block table alone (noisy: Spearman 0.25 "
                    "against block MACs) it predicted the 26 measured ZCU102 B4096 per-layer profiles at 525% MAPE; "
                    "use "
                    "'dpuczdx8g-joint' with accelerators=Accelerator.from_dpu('B4096', clock_mhz=300.0) (11.1% MAPE "
                    "on the ZCU102 layers with the ZCU102 held out, benchmarks/bench_transfer.py)",
}


class ValidityWarning(UserWarning):
    """A prediction was asked outside what the device's calibration was checked on."""


@dataclass(frozen=True)
class DeviceValidity:
    """What a device's calibration was checked on, and its held-out error there.

    Attributes
    ----------
    device : str
    held_out_error : str
        The held-out (cross-validated or leave-one-device-out) error, in words.
    ops : mapping of str to tuple of int
        Layer op -> kernel sizes measured.
    channels, spatial : tuple of int
        Smallest and largest channel count / feature-map side measured.
    accelerators : tuple of str
        The DPU configurations measured (label, PP, ICP, OCP, clock).
    pp, icp, ocp, clock_mhz : tuple of float
        Ranges spanned by those configurations.
    """

    device: str
    held_out_error: str
    ops: Mapping[str, tuple[int, ...]]
    channels: tuple[int, int]
    spatial: tuple[int, int]
    accelerators: tuple[str, ...]
    pp: tuple[float, float]
    icp: tuple[float, float]
    ocp: tuple[float, float]
    clock_mhz: tuple[float, float]

    @classmethod
    def from_measurements(cls, device: str, held_out_error: str, units: Iterable[Sequence[Layer]],
                          accelerators: Sequence[Accelerator]) -> DeviceValidity:
        """The ranges spanned by measured units on measured accelerators."""
        layers = [layer for unit in units for layer in unit]
        ops: dict[str, set[int]] = {}
        for layer in layers:
            ops.setdefault(layer.op, set()).add(int(layer.kernel))
        channels = [c for layer in layers for c in (layer.in_shape[0], layer.out_shape[0])]
        spatial = [layer.in_shape[1] for layer in layers]
        span = {name: (float(min(getattr(a, name) for a in accelerators)),
                       float(max(getattr(a, name) for a in accelerators)))
                for name in ("pp", "icp", "ocp", "clock_mhz")}
        return cls(device, held_out_error, {op: tuple(sorted(k)) for op, k in sorted(ops.items())},
                   (min(channels), max(channels)), (min(spatial), max(spatial)),
                   tuple(f"{a.name} (PP {a.pp}, ICP {a.icp}, OCP {a.ocp}) @ {a.clock_mhz:g} MHz" for a in accelerators),
                   **span)

    def outside(self, layers: Iterable[Layer], accelerators: Sequence[Accelerator] = ()) -> list[str]:
        """Everything in ``layers`` / ``accelerators`` beyond what was measured, one line per reason."""
        reasons = []
        layers = list(layers)
        unseen = sorted({layer.op for layer in layers} - set(self.ops))
        if unseen:
            reasons.append(f"layer types never measured: {', '.join(unseen)}")
        # a pool's kernel is its whole feature map (global pooling): its size is checked below, not its kernel
        kernels = sorted({(layer.op, int(layer.kernel)) for layer in layers if layer.op in self.ops
                          and layer.op not in ("pool", "maxpool") and int(layer.kernel) not in self.ops[layer.op]})
        if kernels:
            reasons.append("kernel sizes never measured: " + ", ".join(f"{op} k{k}" for op, k in kernels))
        channels = [c for layer in layers for c in (layer.in_shape[0], layer.out_shape[0])]
        if channels and (min(channels) < self.channels[0] or max(channels) > self.channels[1]):
            reasons.append(f"channels {min(channels)}-{max(channels)} beyond the measured "
                           f"{self.channels[0]}-{self.channels[1]}")
        reasons.extend(self.beyond_sizes(layers))
        beyond = [a for a in accelerators
                  if any(not low <= getattr(a, name) <= high for name, (low, high) in self._ranges().items())]
        if beyond:
            reasons.append(f"{len(beyond)} of {len(accelerators)} accelerators beyond the measured DPU range "
                           + ", ".join(f"{name} {low:g}-{high:g}" for name, (low, high) in self._ranges().items())
                           + f" (e.g. {beyond[0].name} @ {beyond[0].clock_mhz:g} MHz)")
        return reasons

    def beyond_sizes(self, layers: Sequence[Layer]) -> list[str]:
        """The feature maps of ``layers`` beyond the measured sides (a network's resolution): one reason, or none."""
        sides = [layer.in_shape[1] for layer in layers]
        if sides and (min(sides) < self.spatial[0] or max(sides) > self.spatial[1]):
            return [f"feature maps {min(sides)}-{max(sides)} px beyond the measured "
                    f"{self.spatial[0]}-{self.spatial[1]} px"]
        return []

    def _ranges(self) -> dict[str, tuple[float, float]]:
        return {"pp": self.pp, "icp": self.icp, "ocp": self.ocp, "clock_mhz": self.clock_mhz}

    def to_dict(self) -> dict:
        """JSON-able form (for reports and results)."""
        return {"device": self.device, "held_out_error": self.held_out_error,
                "ops": {op: list(k) for op, k in self.ops.items()}, "channels": list(self.channels),
                "spatial_px": list(self.spatial), "accelerators": list(self.accelerators),
                "ranges": {name: list(v) for name, v in self._ranges().items()}}


@cache
def device_validity(device: str) -> DeviceValidity:
    """The validity of a shipped device (see :func:`latency_tables.list_devices`).

    >>> v = device_validity("ultra96v2-b2304")
    >>> v.ops["dwconv"], v.accelerators[0]
    ((3, 5), 'B2304 (PP 8, ICP 12, OCP 12) @ 200 MHz')
    """
    from .predictor import DEVICES, get_predictor
    from .sources import get_source, table_units

    if device in WITHDRAWN_DEVICES:
        raise KeyError(f"device {device!r} is {WITHDRAWN_DEVICES[device]}")
    if device == "hls-engine":
        from .engine import engine_validity

        return engine_validity()
    if device == "by-build":  # the DPU device's for stock configurations; custom ones are the engine's
        stock = device_validity("dpuczdx8g-joint")
        return dataclasses.replace(stock, device=device, held_out_error=(
            f"stock DPUCZDX8G: {stock.held_out_error}; custom: {device_validity('hls-engine').held_out_error}"))
    if device not in DEVICES:
        raise KeyError(f"unknown device {device!r}; known: {', '.join(sorted(DEVICES))}")
    if device == "note10":
        from .per_resolution import PerResolutionPredictor

        predictor = get_predictor(device)
        assert isinstance(predictor, PerResolutionPredictor)
        return DeviceValidity.from_measurements(device, "curve fit on a phone CPU; only the 17 measured tables "
                                                "are exact", table_units(predictor.table).values(),
                                                [predictor.accelerator])
    ultra96 = get_source("ultra96v2-b2304")
    if device == "ultra96v2-b2304":
        return DeviceValidity.from_measurements(
            device, "5-fold cross-validated MAPE 8.9% (worst 68.5%) on the 66 Ultra96-V2 B2304 blocks "
            "(benchmarks/bench_calibration.py)", table_units(ultra96.table, ultra96.units).values(),
            [ultra96.accelerator])
    profiles = get_source("zcu102-b4096-layer-profiles")
    joint_units = [*table_units(ultra96.table, ultra96.units).values(),
                   *table_units(profiles.table, profiles.units).values()]
    return DeviceValidity.from_measurements(
        device, "leave-one-device-out MAPE 16.8% on the Ultra96-V2 blocks, 11.1% on the ZCU102 layers "
        "(benchmarks/bench_transfer.py)", joint_units, [ultra96.accelerator, profiles.accelerator])


def warn_outside(device: str, layers: Iterable[Layer], accelerators: Sequence[Accelerator] = (),
                 stacklevel: int = 2) -> list[str]:
    """Warn once (:class:`ValidityWarning`) if ``layers`` / ``accelerators`` leave ``device``'s validity."""
    reasons = device_validity(device).outside(layers, accelerators)
    warn_reasons(device, reasons, stacklevel=stacklevel + 1)
    return reasons


_CHECKING_SIZES: ContextVar[bool] = ContextVar("latency_tables_checking_sizes", default=False)


@contextmanager
def sizes_checked(device: str, layers: Sequence[Layer]) -> Iterator[None]:
    """Warn once (:class:`ValidityWarning`) if a network's feature maps leave the sizes ``device`` was checked on.

    A predictor's network-level calls (``network_latency_ms``, ``layer_latency_ms``, ``network_interval``)
    run inside it, so a resolution beyond the measured ones (r = 448 where nothing above 224 was
    measured) says so once per call; the calls they make to other predictors inside (``"by-build"``'s
    halves, ``"note10"``'s tables) do not warn again.  ``unit_latency_ms``, the bulk path of the search,
    does not check: a search decides its warning once for all its candidates
    (``ofa_hw.search.intervals.warn_outside_validity``).  A device that is not shipped (a user's own
    fit) has no validity record and is not checked.  Nothing it wraps is changed.
    """
    if _CHECKING_SIZES.get():
        yield
        return
    try:
        validity = device_validity(device)
    except KeyError:  # a user's device: no validity record
        validity = None
    if validity is not None:
        # the caller of the predictor's method: warn_reasons, this generator, contextlib's __enter__, the method
        warn_reasons(device, validity.beyond_sizes(layers), stacklevel=4)
    token = _CHECKING_SIZES.set(True)
    try:
        yield
    finally:
        _CHECKING_SIZES.reset(token)


def warn_reasons(device: str, reasons: Sequence[str], stacklevel: int = 2) -> None:
    """The :class:`ValidityWarning` of :func:`warn_outside` for reasons already found (none: no warning).

    Callers that check the same request repeatedly (a search's units and
    accelerators, seed after seed) keep the reasons and warn with this.
    """
    if reasons:
        validity = device_validity(device)
        warnings.warn(f"latency device {device!r} was not checked on: " + "; ".join(reasons)
                      + f". Its predictions there are extrapolations (held-out error where checked: "
                      f"{validity.held_out_error}); the latency interval of such units is the transfer error.",
                      ValidityWarning, stacklevel=stacklevel + 1)
