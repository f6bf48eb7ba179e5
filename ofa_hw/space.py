"""OFA's MobileNet search spaces: single sub-networks and vectorised batches.

Three OFA super-networks are modelled:

* ``ofa-mbv3-w1.0`` / ``ofa-mbv3-w1.2``: ``ofa_mbv3_d234_e346_k357_w{1.0,1.2}``
  (MobileNetV3: h-swish in the last three stages, squeeze-and-excitation in
  stages 2, 4, 5), 5 elastic stages;
* ``ofa-proxyless-w1.3``: ``ofa_proxyless_d234_e346_k357_w1.3`` (ProxylessNAS:
  ReLU6 everywhere, no squeeze-and-excitation, the DPU-friendly space), 5
  elastic stages plus a sixth stage of exactly one (elastic kernel and
  expand) block, and a 1x1 feature-mix conv before the global pool.

A sub-network is described, as in OFA, by a kernel size and an expand ratio
for each block slot (4 per stage: 20 slots, 24 for the ProxylessNAS space
whose last stage uses only its first slot), a depth for each stage (stage
``s`` uses slots ``4s .. 4s + d[s] - 1``) and an input resolution.
:class:`SubnetConfig` is one such network (hashable, slots that its depths
switch off are normalised to 0); :class:`SubnetBatch` holds N of them as
integer arrays, the form every hot path uses.  The space is selected by the
width multiplier, which is distinct for the three spaces (1.0, 1.2, 1.3).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from accel_models.validation import is_real_number

__all__ = [
    "N_SLOTS",
    "N_STAGES",
    "OFASpace",
    "SubnetBatch",
    "SubnetConfig",
    "crossover",
    "get_space",
    "list_spaces",
    "mutate",
    "sample_subnets",
    "space_of_width",
]

#: Stages and slots of the OFA-MobileNetV3 spaces (a space's own counts: ``OFASpace.n_stages`` / ``n_slots``).
N_STAGES = 5
SLOTS_PER_STAGE = 4
N_SLOTS = N_STAGES * SLOTS_PER_STAGE
KERNEL_CHOICES = (3, 5, 7)
EXPAND_CHOICES = (3, 4, 6)
DEPTH_CHOICES = (2, 3, 4)
TRAINED_RESOLUTIONS = tuple(range(128, 225, 4))
#: Smallest input that keeps the 7x7 head at least 1x1 after five stride-2 layers.
MIN_RESOLUTION = 32
#: Largest input resolution accepted anywhere (search, export, latency): 2x OFA's largest trained
#: resolution.  Above it the work grows as (r / 224)^2 (r = 1024: 21x, r = 100000: 200,000x the
#: MACs and activation memory of r = 224) for accuracy predictions that are pure extrapolation.
MAX_RESOLUTION = 448


@dataclass(frozen=True)
class OFASpace:
    """Architecture constants of one OFA super-network.

    ``widths`` are the channel counts of: stem, first block, each stage, then
    the head: final expand and feature-mix layer for MobileNetV3
    (``make_divisible(w * mult, 8)`` of OFA's base widths
    16/16,24,40,80,112,160/960/1280), the feature-mix layer alone for
    ProxylessNAS (base widths 32/16,24,40,80,96,192,320/1280).
    ``single_block_stages`` are stages of exactly one block (depth 1).
    """

    name: str
    width_mult: float
    widths: tuple[int, ...]
    family: str = "mbv3"
    stage_strides: tuple[int, ...] = (2, 2, 2, 1, 2)
    stage_activations: tuple[str, ...] = ("relu", "relu", "h_swish", "h_swish", "h_swish")
    stage_se: tuple[bool, ...] = (False, True, False, True, True)
    stem_activation: str = "h_swish"
    first_block_activation: str = "relu"
    single_block_stages: tuple[int, ...] = ()
    kernel_choices: tuple[int, ...] = KERNEL_CHOICES
    expand_choices: tuple[int, ...] = EXPAND_CHOICES
    depth_choices: tuple[int, ...] = DEPTH_CHOICES
    resolutions: tuple[int, ...] = TRAINED_RESOLUTIONS
    n_classes: int = 1000

    def __post_init__(self) -> None:
        if self.family not in _FAMILIES:
            raise ValueError(f"OFASpace.family must be one of {sorted(_FAMILIES)}, got {self.family!r}")
        n = len(self.stage_strides)
        head = _FAMILIES[self.family]
        if len(self.widths) != 2 + n + head or len(self.stage_activations) != n or len(self.stage_se) != n:
            raise ValueError(f"OFASpace {self.name!r}: {n} stages need {2 + n + head} widths and {n} activations "
                             f"and SE flags, got {len(self.widths)}, {len(self.stage_activations)}, "
                             f"{len(self.stage_se)}")

    @property
    def n_stages(self) -> int:
        """Number of stages (5; 6 in the ProxylessNAS space)."""
        return len(self.stage_strides)

    @property
    def n_slots(self) -> int:
        """Block slots, 4 per stage."""
        return self.n_stages * SLOTS_PER_STAGE

    @property
    def stage_depth_choices(self) -> tuple[tuple[int, ...], ...]:
        """Allowed depths of each stage."""
        return tuple((1,) if s in self.single_block_stages else self.depth_choices for s in range(self.n_stages))

    @property
    def stem_width(self) -> int:
        """Output channels of the first conv."""
        return self.widths[0]

    @property
    def first_block_width(self) -> int:
        """Output channels of the fixed first block."""
        return self.widths[1]

    @property
    def stage_widths(self) -> tuple[int, ...]:
        """Output channels of each stage."""
        return self.widths[2:2 + self.n_stages]

    @property
    def final_expand_width(self) -> int | None:
        """Width of the 1x1 conv between the last block and the pool (MobileNetV3); None for ProxylessNAS."""
        return self.widths[-2] if self.family == "mbv3" else None

    @property
    def feature_mix_width(self) -> int:
        """Output channels of the feature-mix layer (the classifier's input)."""
        return self.widths[-1]

    @property
    def supernet(self) -> str:
        """OFA's model-zoo name of the super-network."""
        return f"ofa_{self.family}_d234_e346_k357_w{self.width_mult}"

    @property
    def title(self) -> str:
        """Human-readable name: ``OFA-MobileNetV3 w1.2``, ``OFA-ProxylessNAS w1.3``."""
        return f"OFA-{_FAMILY_TITLES[self.family]} w{self.width_mult}"

    @property
    def net_name(self) -> str:
        """The class name OFA gives its sub-networks (``net.config["name"]``)."""
        return {"mbv3": "MobileNetV3", "proxyless": "ProxylessNASNets"}[self.family]


#: Head widths after the stages, per family: final expand + feature mix, or feature mix alone.
_FAMILIES = {"mbv3": 2, "proxyless": 1}
_FAMILY_TITLES = {"mbv3": "MobileNetV3", "proxyless": "ProxylessNAS"}

_SPACES = {
    space.name: space
    for space in (
        OFASpace("ofa-mbv3-w1.0", 1.0, (16, 16, 24, 40, 80, 112, 160, 960, 1280)),
        OFASpace("ofa-mbv3-w1.2", 1.2, (24, 24, 32, 48, 96, 136, 192, 1152, 1536)),
        OFASpace("ofa-proxyless-w1.3", 1.3, (40, 24, 32, 56, 104, 128, 248, 416, 1664), family="proxyless",
                 stage_strides=(2, 2, 2, 1, 2, 1), stage_activations=("relu6",) * 6, stage_se=(False,) * 6,
                 stem_activation="relu6", first_block_activation="relu6", single_block_stages=(5,)),
    )
}


def list_spaces() -> list[str]:
    """Names of the registered search spaces.

    >>> list_spaces()
    ['ofa-mbv3-w1.0', 'ofa-mbv3-w1.2', 'ofa-proxyless-w1.3']
    """
    return sorted(_SPACES)


def get_space(name_or_width: str | float | OFASpace) -> OFASpace:
    """Look a space up by name (``"ofa-mbv3-w1.2"``) or width multiplier (1.2; 1.3 is ``"ofa-proxyless-w1.3"``)."""
    if isinstance(name_or_width, OFASpace):
        return name_or_width
    if isinstance(name_or_width, str):
        if name_or_width in _SPACES:
            return _SPACES[name_or_width]
        raise KeyError(f"unknown search space {name_or_width!r}; known: {', '.join(list_spaces())}")
    if not is_real_number(name_or_width):
        raise TypeError(f"a search space is a name ({', '.join(list_spaces())}), a width multiplier or an OFASpace, "
                        f"got {type(name_or_width).__name__} {name_or_width!r}")
    for space in _SPACES.values():
        if float(name_or_width) == space.width_mult:
            return space
    widths = sorted(s.width_mult for s in _SPACES.values())
    raise ValueError(f"width_mult must be one of {widths}, got {name_or_width!r}")


def space_of_width(width_mult) -> OFASpace:
    """The space of a sub-network's ``width_mult``: a number (1.0, 1.2, 1.3), not a name or text."""
    if not is_real_number(width_mult):
        widths = sorted(s.width_mult for s in _SPACES.values())
        raise ValueError(f"width_mult must be a number, one of {widths} (the spaces of {', '.join(list_spaces())}), "
                         f"got {type(width_mult).__name__} {width_mult!r}")
    return get_space(float(width_mult))


# --------------------------------------------------------------------- checks
def _check_choices(field: str, values: np.ndarray, allowed: Sequence[int], where: np.ndarray,
                   unit: str = "slot") -> None:
    bad = where & ~np.isin(values, allowed)
    if bad.any():
        net, pos = (int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{field}: value {int(values[net, pos])} in {unit} {pos} (network {net}) "
            f"is not allowed; choose from {list(allowed)}"
        )


def _check_depths(d: np.ndarray, space: OFASpace) -> None:
    for stage, allowed in enumerate(space.stage_depth_choices):
        column = np.zeros_like(d, dtype=bool)
        column[:, stage] = True
        _check_choices("d", d, allowed, column, unit="stage")


def _check_resolution(r: np.ndarray, space: OFASpace) -> None:
    too_large = r > MAX_RESOLUTION
    if too_large.any():
        big = int(r[too_large].max())
        raise ValueError(
            f"r: resolution {big} is above the maximum {MAX_RESOLUTION}: it would need {(big / 224) ** 2:,.0f}x "
            f"the MACs and activation memory of r=224 (trained range {space.resolutions[0]}..{space.resolutions[-1]})"
        )
    bad = (r % 4 != 0) | (r < MIN_RESOLUTION)
    if bad.any():
        raise ValueError(
            f"r: resolution {int(r[bad][0])} is not allowed; use a multiple of 4 from "
            f"{MIN_RESOLUTION} to {MAX_RESOLUTION} "
            f"(trained range {space.resolutions[0]}..{space.resolutions[-1]} step 4)"
        )
    outside = np.unique(r[(r < space.resolutions[0]) | (r > space.resolutions[-1])])
    if outside.size:
        warnings.warn(
            f"resolution(s) {outside.tolist()} lie outside the range OFA was trained on "
            f"({space.resolutions[0]}..{space.resolutions[-1]}); accuracy predictions there are extrapolations",
            stacklevel=3,
        )


#: ``_DEPTH_MASKS[d]``: the slots of a stage that depth ``d`` (0..4) switches on.
_DEPTH_MASKS = np.arange(SLOTS_PER_STAGE) < np.arange(SLOTS_PER_STAGE + 1)[:, None]
_DEPTH_MASKS.setflags(write=False)


def active_mask(d: np.ndarray) -> np.ndarray:
    """(N, 4 S) boolean mask of the slots that depths ``d`` (N, S stages) switch on.

    One gather from the per-depth masks (depths above 4 switch on all four slots, below 1 none).

    >>> active_mask(np.array([[2, 4]])).astype(int)
    array([[1, 1, 0, 0, 1, 1, 1, 1]])
    """
    d = np.asarray(d)
    return _DEPTH_MASKS.take(d, axis=0, mode="clip").reshape(d.shape[0], d.shape[1] * SLOTS_PER_STAGE)


def _as_int_array(field: str, value, shape: tuple[int, ...]) -> np.ndarray:
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged nested lists
        raise ValueError(f"{field}: expected an integer array of shape {shape}: {exc}") from None
    if arr.shape != shape:
        raise ValueError(f"{field}: expected shape {shape}, got {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        as_int = arr.astype(np.int64) if np.issubdtype(arr.dtype, np.number) else None
        if as_int is None or not np.array_equal(as_int, arr):
            raise ValueError(f"{field}: values must be integers, got {arr.ravel()[:5].tolist()}")
        arr = as_int
    return arr.astype(np.int64)


# --------------------------------------------------------------------- batch
@dataclass(frozen=True, eq=False)
class SubnetBatch:
    """N sub-networks as integer arrays: the search's population format.

    Attributes
    ----------
    ks, e : numpy.ndarray
        (N, slots) kernel sizes and expand ratios, 0 in inactive slots
        (20 slots; 24 in ``ofa-proxyless-w1.3``).
    d : numpy.ndarray
        (N, stages) stage depths (5; 6 in ``ofa-proxyless-w1.3``).
    r : numpy.ndarray
        (N,) input resolutions.
    width_mult : float
        1.0, 1.2 (OFA-MobileNetV3) or 1.3 (ProxylessNAS); selects the :class:`OFASpace`.

    Construction validates every value and normalises inactive slots to 0.
    """

    ks: np.ndarray
    e: np.ndarray
    d: np.ndarray
    r: np.ndarray
    width_mult: float = 1.2

    def __post_init__(self) -> None:
        space = space_of_width(self.width_mult)
        object.__setattr__(self, "width_mult", space.width_mult)
        r = np.asarray(self.r)
        n = r.shape[0] if r.ndim == 1 else -1
        if n < 0:
            raise ValueError(f"r: expected a 1-D array of resolutions, got shape {r.shape}")
        r = _as_int_array("r", r, (n,))
        d = _as_int_array("d", self.d, (n, space.n_stages))
        _check_depths(d, space)
        active = active_mask(d)
        ks = _as_int_array("ks", self.ks, (n, space.n_slots))
        e = _as_int_array("e", self.e, (n, space.n_slots))
        _check_choices("ks", ks, space.kernel_choices, active)
        _check_choices("e", e, space.expand_choices, active)
        _check_choices("ks", ks, (0, *space.kernel_choices), ~active)
        _check_choices("e", e, (0, *space.expand_choices), ~active)
        _check_resolution(r, space)
        for name, arr in (("ks", np.where(active, ks, 0)), ("e", np.where(active, e, 0)), ("d", d), ("r", r)):
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    @classmethod
    def _unchecked(cls, ks: np.ndarray, e: np.ndarray, d: np.ndarray, r: np.ndarray, width_mult: float) -> SubnetBatch:
        """Build from arrays known to be valid (drawn from the choices), skipping validation.

        The hot path of the search; inactive slots are still normalised.
        """
        batch = object.__new__(cls)
        active = active_mask(d)
        for name, arr in (("ks", np.where(active, ks, 0)), ("e", np.where(active, e, 0)), ("d", np.asarray(d)),
                          ("r", np.asarray(r))):
            arr = arr.astype(np.int64, copy=False)
            arr.setflags(write=False)
            object.__setattr__(batch, name, arr)
        object.__setattr__(batch, "width_mult", width_mult)
        return batch

    @classmethod
    def _normalised(cls, ks: np.ndarray, e: np.ndarray, d: np.ndarray, r: np.ndarray,
                    width_mult: float) -> SubnetBatch:
        """Wrap rows of batches (already valid and normalised): no checks, no copies beyond the arguments."""
        batch = object.__new__(cls)
        for name, arr in (("ks", ks), ("e", e), ("d", d), ("r", r)):
            arr.setflags(write=False)
            object.__setattr__(batch, name, arr)
        object.__setattr__(batch, "width_mult", width_mult)
        return batch

    @property
    def space(self) -> OFASpace:
        """The :class:`OFASpace` of these networks."""
        return get_space(self.width_mult)

    def __len__(self) -> int:
        return int(self.r.shape[0])

    def __getitem__(self, i: int) -> SubnetConfig:
        if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
            raise TypeError(f"a SubnetBatch is indexed by one integer, got {type(i).__name__}; "
                            "use batch.take(indices) for several networks")
        return SubnetConfig._of_valid_row(tuple(self.ks[i].tolist()), tuple(self.e[i].tolist()),
                                          tuple(self.d[i].tolist()), int(self.r[i]), self.width_mult)

    def __iter__(self):
        return iter(self.configs())

    def configs(self) -> list[SubnetConfig]:
        """Every network as a :class:`SubnetConfig`, in order (one conversion of the arrays, no re-validation).

        >>> [cfg.r for cfg in sample_subnets(3, seed=0, resolutions=[160, 224]).configs()]
        [224, 160, 160]
        """
        return [SubnetConfig._of_valid_row(tuple(ks), tuple(e), tuple(d), r, self.width_mult)
                for ks, e, d, r in zip(self.ks.tolist(), self.e.tolist(), self.d.tolist(), self.r.tolist(),
                                       strict=True)]

    def take(self, indices) -> SubnetBatch:
        """The sub-batch at ``indices`` (an index array or boolean mask)."""
        return SubnetBatch._normalised(self.ks[indices], self.e[indices], self.d[indices], self.r[indices],
                                       self.width_mult)

    def active(self) -> np.ndarray:
        """(N, 20) mask of the slots in use."""
        return active_mask(self.d)

    def block_catalog(self, resolutions: Sequence[int] | None = None):
        """Distinct units of this batch and each network's use of them (see :func:`ofa_hw.layers.block_catalog`)."""
        from .layers import block_catalog

        return block_catalog(self, resolutions)

    def unit_totals(self, values_at) -> np.ndarray:
        """(N,) sum over each network's units of ``values_at(r)(keys, layers)``.

        See :func:`ofa_hw.unit_gather.unit_totals`.
        """
        from .unit_gather import unit_totals

        return unit_totals(self, values_at)

    @classmethod
    def from_configs(cls, configs: Iterable[SubnetConfig]) -> SubnetBatch:
        """A batch of ``configs`` (all of one space)."""
        configs = list(configs)
        if not configs:
            raise ValueError("cannot build a SubnetBatch from zero configs")
        widths = {c.width_mult for c in configs}
        if len(widths) != 1:
            raise ValueError(f"all configs of a batch must share one width_mult, got {sorted(widths)}")
        ks, e, d, r = (np.array([getattr(c, name) for c in configs]) for name in ("ks", "e", "d", "r"))
        if all(type(c) is SubnetConfig for c in configs):  # each validated and normalised when it was built
            return cls._normalised(ks.astype(np.int64, copy=False), e.astype(np.int64, copy=False),
                                   d.astype(np.int64, copy=False), r.astype(np.int64, copy=False), widths.pop())
        return cls(ks, e, d, r, width_mult=widths.pop())

    @classmethod
    def concat(cls, batches: Sequence[SubnetBatch]) -> SubnetBatch:
        """One batch of the networks of ``batches`` (all of one space), in order."""
        widths = {b.width_mult for b in batches}
        if len(widths) != 1:
            raise ValueError(f"cannot concatenate batches of different widths {sorted(widths)}")
        ks, e, d, r = (np.concatenate([getattr(b, f) for b in batches]) for f in ("ks", "e", "d", "r"))
        return cls._normalised(ks, e, d, r, widths.pop())

    def unique(self) -> tuple[SubnetBatch, np.ndarray]:
        """Distinct networks and, for each row of ``self``, its row in the result."""
        rows = np.concatenate([self.ks, self.e, self.d, self.r[:, None]], axis=1)
        _, first, inverse = np.unique(rows, axis=0, return_index=True, return_inverse=True)
        return self.take(first), inverse.ravel()


# -------------------------------------------------------------------- single
@dataclass(frozen=True)
class SubnetConfig:
    """One OFA-MobileNetV3 sub-network.

    Parameters
    ----------
    ks, e : sequence of int
        Kernel size (3, 5, 7) and expand ratio (3, 4, 6) of every block slot
        (20; 24 in ``ofa-proxyless-w1.3``, whose last stage uses slot 20 only).
        Values in slots that ``d`` switches off are ignored and stored as 0.
    d : sequence of int
        Number of blocks (2, 3, 4) of each stage (5 stages; 6 in
        ``ofa-proxyless-w1.3``, the last of depth 1).
    r : int
        Input resolution (multiple of 4; 128..224 is the trained range).
    width_mult : float
        1.0 (``ofa_mbv3_d234_e346_k357_w1.0``), 1.2 (``..._w1.2``) or 1.3
        (``ofa_proxyless_d234_e346_k357_w1.3``).

    Examples
    --------
    >>> cfg = SubnetConfig.smallest(r=160)
    >>> cfg.d, cfg.ks[:6]
    ((2, 2, 2, 2, 2), (3, 3, 0, 0, 3, 3))
    >>> SubnetConfig.from_dict(cfg.to_dict()) == cfg
    True
    """

    ks: tuple[int, ...]
    e: tuple[int, ...]
    d: tuple[int, ...]
    r: int = 224
    width_mult: float = 1.2

    def __post_init__(self) -> None:
        space = space_of_width(self.width_mult)
        for name, length in (("ks", space.n_slots), ("e", space.n_slots), ("d", space.n_stages)):
            value = getattr(self, name)
            if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__len__") or len(value) != length:
                raise ValueError(f"{name}: expected {length} integers, got {value!r}")
        if isinstance(self.r, bool) or not isinstance(self.r, (int, np.integer)):
            raise ValueError(f"r: expected one integer resolution, got {self.r!r}")
        batch = SubnetBatch(np.asarray([self.ks]), np.asarray([self.e]), np.asarray([self.d]),
                            np.asarray([self.r]), self.width_mult)
        object.__setattr__(self, "ks", tuple(int(v) for v in batch.ks[0]))
        object.__setattr__(self, "e", tuple(int(v) for v in batch.e[0]))
        object.__setattr__(self, "d", tuple(int(v) for v in batch.d[0]))
        object.__setattr__(self, "r", int(batch.r[0]))
        object.__setattr__(self, "width_mult", batch.width_mult)

    @classmethod
    def _of_valid_row(cls, ks: tuple[int, ...], e: tuple[int, ...], d: tuple[int, ...], r: int,
                      width_mult: float) -> SubnetConfig:
        """A config from a row of a :class:`SubnetBatch`: valid and normalised already, so not checked again.

        Every batch holds valid networks (validated, or drawn from the choices); validating a
        row again would cost a one-row batch (~0.2 ms) per config.
        """
        config = object.__new__(cls)
        config.__dict__.update(ks=ks, e=e, d=d, r=r, width_mult=width_mult)
        return config

    @property
    def space(self) -> OFASpace:
        """The :class:`OFASpace` of this network."""
        return get_space(self.width_mult)

    @property
    def n_blocks(self) -> int:
        """Blocks in the network, the fixed first block included."""
        return 1 + sum(self.d)

    def as_batch(self) -> SubnetBatch:
        """A batch of this one network."""
        return SubnetBatch.from_configs([self])

    def block_catalog(self, resolutions: Sequence[int] | None = None):
        """The units of this network (see :func:`ofa_hw.layers.block_catalog`)."""
        return self.as_batch().block_catalog(resolutions)

    def unit_totals(self, values_at) -> np.ndarray:
        """(1,) sum of ``values_at(r)(keys, layers)`` over this network's units."""
        return self.as_batch().unit_totals(values_at)

    def layers(self):
        """Every layer of this network (see :func:`ofa_hw.subnet_layers`)."""
        from .layers import subnet_layers

        return subnet_layers(self)

    def torch_model(self, seed: int | None = 0):
        """Build this network as a torch module with seeded random weights (see :func:`ofa_hw.build_torch_model`).

        With :meth:`layers` it makes a config an ``hls.NetworkSource``; load
        trained OFA weights with ``load_ofa_state_dict`` on the result.
        """
        from .torch_model import build_torch_model

        return build_torch_model(self, seed=seed)

    def active_blocks(self) -> list[tuple[int, int, int, int]]:
        """(stage, slot, kernel, expand) of every active block, in order."""
        return [
            (s, SLOTS_PER_STAGE * s + i, self.ks[SLOTS_PER_STAGE * s + i], self.e[SLOTS_PER_STAGE * s + i])
            for s in range(len(self.d))
            for i in range(self.d[s])
        ]

    # ------------------------------------------------------------- presets
    @classmethod
    def uniform(cls, k: int, e: int, d: int, r: int = 224, width_mult: float = 1.2) -> SubnetConfig:
        """Every slot with kernel ``k`` and expand ``e``, every elastic stage ``d`` deep."""
        space = get_space(width_mult)
        depths = tuple(1 if choices == (1,) else d for choices in space.stage_depth_choices)
        return cls((k,) * space.n_slots, (e,) * space.n_slots, depths, r, width_mult)

    @classmethod
    def largest(cls, r: int = 224, width_mult: float = 1.2) -> SubnetConfig:
        """The max net: k7, e6, depth 4 everywhere."""
        return cls.uniform(7, 6, 4, r, width_mult)

    @classmethod
    def smallest(cls, r: int = 160, width_mult: float = 1.2) -> SubnetConfig:
        """The min net: k3, e3, depth 2 everywhere."""
        return cls.uniform(3, 3, 2, r, width_mult)

    # ------------------------------------------------------------ dict I/O
    def to_dict(self) -> dict:
        """``{'ks', 'e', 'd', 'r', 'width_mult'}`` with plain lists and ints."""
        return {"ks": list(self.ks), "e": list(self.e), "d": list(self.d), "r": self.r, "width_mult": self.width_mult}

    @classmethod
    def from_dict(cls, data: Mapping, *, width_mult: float | None = None, r: int | None = None) -> SubnetConfig:
        """Read any of OFA's sub-network dict forms.

        Accepted: ``{'ks', 'e', 'd', 'r'}`` (``r`` an int or ``[int]``, optional
        ``'wid': None``, ``'image_size'`` for ``r``, ``'width_mult'``); the entries of
        OFA's specialized-net list (``supernet``, ``stage_out_channels``,
        ``blocks`` ...); and an OFA ``net.config`` (``first_conv``, ``blocks``
        ...) with the resolution passed as ``r=``.  Unknown keys and
        inconsistent values raise ``ValueError``.
        """
        from .ofa_dicts import parse_subnet_dict

        return cls(**parse_subnet_dict(data, width_mult=width_mult, r=r))


# ----------------------------------------------------------- random & search
def _resolution_choices(space: OFASpace, resolutions: Sequence[int] | None) -> np.ndarray:
    if resolutions is None or isinstance(resolutions, tuple):  # the search's tuple: validated once
        return _checked_choices(space, resolutions)
    return _check_choices_array(space, resolutions)


@lru_cache(maxsize=64)
def _checked_choices(space: OFASpace, resolutions: tuple[int, ...] | None) -> np.ndarray:
    choices = _check_choices_array(space, resolutions)
    choices.setflags(write=False)
    return choices


def _check_choices_array(space: OFASpace, resolutions) -> np.ndarray:
    choices = np.asarray(space.resolutions if resolutions is None else resolutions, dtype=np.int64)
    if choices.ndim != 1 or choices.size == 0:
        raise ValueError(f"resolutions must be a non-empty list of integers, got {resolutions!r}")
    _check_resolution(choices, space)
    return choices


def sample_subnets(
    n: int,
    seed: int | np.random.Generator | None = None,
    width_mult: float = 1.2,
    resolutions: Sequence[int] | None = None,
) -> SubnetBatch:
    """Draw ``n`` sub-networks uniformly from the space.

    Examples
    --------
    >>> batch = sample_subnets(1000, seed=0, resolutions=[160, 224])
    >>> batch.ks.shape, sorted(set(batch.r.tolist()))
    ((1000, 20), [160, 224])
    """
    if int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if isinstance(seed, int | np.integer) and seed < 0:  # numpy would say "expected non-negative integer"
        raise ValueError(f"seed must be a non-negative integer, a numpy Generator or None, got {seed!r}")
    rng = np.random.default_rng(seed)
    space = get_space(width_mult)
    choices = _resolution_choices(space, resolutions)
    return SubnetBatch(
        ks=rng.choice(space.kernel_choices, size=(n, space.n_slots)),
        e=rng.choice(space.expand_choices, size=(n, space.n_slots)),
        d=_fix_single_block_stages(rng.choice(space.depth_choices, size=(n, space.n_stages)), space),
        r=rng.choice(choices, size=n),
        width_mult=space.width_mult,
    )


def _draw(choices: Sequence[int] | np.ndarray, shape, rng: np.random.Generator) -> np.ndarray:
    """Uniform draws from ``choices`` (an index gather: several times faster than ``rng.choice`` on small arrays)."""
    choices = np.asarray(choices)
    return choices[rng.integers(0, len(choices), size=shape)]


def _fix_single_block_stages(d: np.ndarray, space: OFASpace) -> np.ndarray:
    """``d`` with the stages of exactly one block set to 1 (OFA's ``depth_setting[-1] = 1``)."""
    if space.single_block_stages:
        d = d.copy()
        d[:, list(space.single_block_stages)] = 1
    return d


def _fill_inactive(batch: SubnetBatch, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """ks, e with inactive slots filled by random choices, so depth mutations have genes to use."""
    space = batch.space
    inactive = batch.ks == 0  # the batch stores 0 in exactly the slots its depths switch off
    ks = np.where(inactive, _draw(space.kernel_choices, batch.ks.shape, rng), batch.ks)
    e = np.where(inactive, _draw(space.expand_choices, batch.e.shape, rng), batch.e)
    return ks, e


def mutate(
    batch: SubnetBatch,
    rng: np.random.Generator,
    prob: float = 0.1,
    resolutions: Sequence[int] | None = None,
    resolution_prob: float | None = None,
) -> SubnetBatch:
    """Resample each gene (kernel, expand, depth) with probability ``prob``.

    The resolution is resampled with ``resolution_prob`` (default ``prob``;
    OFA's evolution uses 0.5).  Vectorised over the batch; returns a new batch
    of the same size.
    """
    resolution_prob = prob if resolution_prob is None else resolution_prob
    for name, value in (("prob", prob), ("resolution_prob", resolution_prob)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must lie in [0, 1], got {value!r}")
    space = batch.space
    n = len(batch)
    ks, e = _fill_inactive(batch, rng)
    ks = np.where(rng.random(ks.shape) < prob, _draw(space.kernel_choices, ks.shape, rng), ks)
    e = np.where(rng.random(e.shape) < prob, _draw(space.expand_choices, e.shape, rng), e)
    d = np.where(rng.random(batch.d.shape) < prob, _draw(space.depth_choices, batch.d.shape, rng), batch.d)
    d = _fix_single_block_stages(d, space)
    choices = _resolution_choices(space, resolutions)
    r = np.where(rng.random(n) < resolution_prob, _draw(choices, n, rng), batch.r)
    return SubnetBatch._unchecked(ks, e, d, r, space.width_mult)


def crossover(a: SubnetBatch, b: SubnetBatch, rng: np.random.Generator) -> SubnetBatch:
    """Uniform crossover: every gene of child ``i`` comes from ``a[i]`` or ``b[i]``."""
    if len(a) != len(b) or a.width_mult != b.width_mult:
        raise ValueError(
            f"crossover needs parents of equal count and width, got {len(a)}/{a.width_mult} and {len(b)}/{b.width_mult}"
        )
    ks_a, e_a = _fill_inactive(a, rng)
    ks_b, e_b = _fill_inactive(b, rng)
    pick_slot = rng.random(ks_a.shape) < 0.5
    pick_stage = rng.random(a.d.shape) < 0.5
    pick_r = rng.random(len(a)) < 0.5
    return SubnetBatch._unchecked(
        np.where(pick_slot, ks_a, ks_b),
        np.where(pick_slot, e_a, e_b),
        np.where(pick_stage, a.d, b.d),
        np.where(pick_r, a.r, b.r),
        a.width_mult,
    )
