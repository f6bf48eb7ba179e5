"""Integer arithmetic shared by the quantizer, the numpy reference and the C++ kernels.

Every number that reaches hardware is an integer.  A tensor's real value is
``q * 2**-f`` with ``q`` int8 and ``f`` its *fix position* (Vitis AI's name for
a power-of-two scale).  Accumulators are int32; moving one to another scale
(*requantizing*) is ``rshift_round(acc * mult, shift)`` with ``mult == 1`` for
power-of-two scales and a 15-bit multiplier otherwise.  Rounding is "half up"
(add half an LSB, then an arithmetic right shift), which is what a shifter
with a rounding bit does and what the DPU's ``DPU_ROUND`` mode specifies.

The C++ in ``hls/templates/ofa_hw/requant.h`` implements the same formulas
line for line; :class:`Requant` is their single Python form.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from accel_models.int8 import round_half_up, rshift_round

from .errors import QuantizationError

__all__ = [
    "ACT_CODES",
    "FIX_RANGE",
    "HSIG_MULT",
    "HSIG_SHIFT",
    "INTEGER_IMPL",
    "MULT_BITS",
    "Requant",
    "fix_position",
    "fix_position_mse",
    "make_requant",
    "quantize_pow2",
    "requant_from_ratio",
    "round_half_up",
    "rshift_round",
]

#: 1/6 of h-sigmoid / h-swish as ``HSIG_MULT / 2**HSIG_SHIFT`` (0.16669), the DPU's approximation.
HSIG_MULT, HSIG_SHIFT = 2731, 14
#: Bits of a requantization multiplier that is not a power of two: ``2**14 <= mult < 2**15``.
MULT_BITS = 15
#: Fix positions are clamped to this range so every shift stays well inside int64.
FIX_RANGE = (-16, 24)
#: Extra fractional bits of the intermediate that h-swish / h-sigmoid work on.
_ACT_GUARD_BITS = 4
#: Largest intermediate fix position: keeps h-swish's t * r * HSIG_MULT below 2**62.
_ACT_FIX_MAX = 22
#: C++ enum values of the activations (``ofa_hw::Activation``).
ACT_CODES = {"none": 0, "relu": 1, "relu6": 2, "h_swish": 3, "h_sigmoid": 4}

_REQUANT = "t = rshift_round(acc * mult[c], shift[c])"
#: How each activation is computed in the integer domain (written into the manifest).
INTEGER_IMPL = {
    "none": f"{_REQUANT}; y = clip(t, lo, hi)",
    "relu": f"{_REQUANT}; y = clip(t, 0, hi)",
    "relu6": f"{_REQUANT}; y = clip(t, 0, hi) with hi = min(127, round(6 * 2^fo))",
    "h_sigmoid": (f"{_REQUANT} (t at fix position fi); t = clip(t, t_lo, t_hi); "
                  f"r = clip(t + (3 << fi), 0, 6 << fi); y = clip(rshift_round(r * {HSIG_MULT}, post_shift), lo, hi) "
                  f"with post_shift = fi + {HSIG_SHIFT} - fo"),
    "h_swish": (f"{_REQUANT} (t at fix position fi); t = clip(t, t_lo, t_hi); "
                f"r = clip(t + (3 << fi), 0, 6 << fi); y = clip(rshift_round(t * r * {HSIG_MULT}, post_shift), lo, hi) "
                f"with post_shift = 2 * fi + {HSIG_SHIFT} - fo"),
}
_INT64_LIMIT = 2**62  # headroom below 2**63 for the rounding bias


def _clamp_fix(f: int, what: str) -> int:
    lo, hi = FIX_RANGE
    if f < lo or f > hi:
        import warnings

        warnings.warn(f"{what}: fix position {f} clamped to {min(max(f, lo), hi)} (allowed {lo}..{hi})",
                      stacklevel=3)
    return int(min(max(f, lo), hi))


def fix_position(amax: float, bits: int = 8, what: str = "tensor") -> int:
    """Largest fix position ``f`` at which ``amax`` still rounds into the signed range.

    ``round(amax * 2**f) <= 2**(bits-1) - 1``.  An all-zero tensor gets
    ``bits - 1`` (range +-1).

    >>> fix_position(1.0), fix_position(0.99), fix_position(127.0), fix_position(200.0)
    (6, 7, 0, -1)
    """
    amax = float(amax)
    if not np.isfinite(amax) or amax < 0:
        raise QuantizationError(f"{what}: cannot quantize a tensor whose largest magnitude is {amax!r}")
    if amax == 0.0:
        return bits - 1
    limit = 2 ** (bits - 1) - 0.5
    f = int(np.floor(np.log2(limit / amax)))
    while amax * 2.0**f >= limit:  # log2 rounding at exact powers of two
        f -= 1
    while amax * 2.0 ** (f + 1) < limit:
        f += 1
    return _clamp_fix(f, what)


def quantize_pow2(x: np.ndarray, f: int, bits: int = 8) -> np.ndarray:
    """``clip(round_half_up(x * 2**f))`` as int64.

    >>> quantize_pow2(np.array([0.5, -0.26, 3.0]), 2).tolist()
    [2, -1, 12]
    """
    q = round_half_up(np.asarray(x, dtype=np.float64) * 2.0**f)
    return np.clip(q, -(2 ** (bits - 1)), 2 ** (bits - 1) - 1)


def fix_position_mse(x: np.ndarray, bits: int = 8, what: str = "tensor") -> int:
    """Fix position minimising the squared quantization error over ``x``.

    Candidates are the no-clipping position and the two finer ones (which
    clip the largest values but resolve the bulk better), as Vitis AI's
    calibration does.
    """
    x = np.asarray(x, dtype=np.float64)
    f0 = fix_position(float(np.max(np.abs(x))) if x.size else 0.0, bits, what)
    best, best_err = f0, np.inf
    for f in range(f0, min(f0 + 3, FIX_RANGE[1] + 1)):
        err = float(np.mean((quantize_pow2(x, f, bits) * 2.0**-f - x) ** 2)) if x.size else 0.0
        if err < best_err:
            best, best_err = f, err
    return best


def requant_from_ratio(ratio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer ``(mult, shift)`` with ``mult * 2**-shift`` ~= ``ratio``, elementwise.

    Exact powers of two give ``mult == 1`` (a pure shift); other ratios a
    15-bit multiplier ``2**14 <= mult < 2**15``; zero gives ``(0, 0)``.

    >>> m, s = requant_from_ratio(np.array([0.25, 1 / 3, 0.0]))
    >>> m.tolist(), s.tolist()
    ([1, 21845, 0], [2, 16, 0])
    """
    ratio = np.asarray(ratio, dtype=np.float64)
    if np.any(ratio < 0) or not np.all(np.isfinite(ratio)):
        raise QuantizationError(f"requantization ratios must be finite and non-negative, got {ratio!r}")
    mantissa, exponent = np.frexp(ratio)  # ratio = mantissa * 2**exponent, 0.5 <= mantissa < 1
    pow2 = mantissa == 0.5
    mult = round_half_up(mantissa * 2.0**MULT_BITS)
    shift = MULT_BITS - exponent.astype(np.int64)
    carry = mult == 2**MULT_BITS
    mult = np.where(carry, mult // 2, mult)
    shift = np.where(carry, shift - 1, shift)
    mult = np.where(pow2, 1, mult)
    shift = np.where(pow2, 1 - exponent.astype(np.int64), shift)
    zero = ratio == 0.0
    return np.where(zero, 0, mult).astype(np.int64), np.where(zero, 0, shift).astype(np.int64)


@dataclass(frozen=True, eq=False)
class Requant:
    """Accumulator (int32) -> int8 output, with the activation fused.

    Parameters
    ----------
    mult, shift : ndarray of int64, shape (C,)
        Per output channel (all equal for per-tensor scales).
    activation : str
        One of :data:`INTEGER_IMPL`.
    lo, hi : int
        Output clip bounds (ReLU / ReLU6 are clip bounds).
    fi, t_lo, t_hi, post_shift : int
        h-swish / h-sigmoid only: fix position and clip range of the
        intermediate, and the final shift (see :data:`INTEGER_IMPL`).
    """

    mult: np.ndarray
    shift: np.ndarray
    activation: str = "none"
    lo: int = -128
    hi: int = 127
    fi: int = 0
    t_lo: int = 0
    t_hi: int = 0
    post_shift: int = 0

    def __post_init__(self) -> None:
        mult = np.asarray(self.mult, dtype=np.int64).reshape(-1)
        shift = np.asarray(self.shift, dtype=np.int64).reshape(-1)
        if mult.shape != shift.shape or mult.size == 0:
            raise ValueError(f"mult and shift must be non-empty and of one length, got {mult.shape} and {shift.shape}")
        if self.activation not in ACT_CODES:
            raise ValueError(f"unknown activation {self.activation!r}; allowed: {', '.join(ACT_CODES)}")
        if not -128 <= self.lo <= self.hi <= 127:
            raise ValueError(f"output clip bounds must satisfy -128 <= lo <= hi <= 127, got {self.lo}, {self.hi}")
        object.__setattr__(self, "mult", mult)
        object.__setattr__(self, "shift", shift)

    @property
    def per_tensor(self) -> bool:
        """True when every channel shares one multiplier and shift."""
        return bool(np.all(self.mult == self.mult[0]) and np.all(self.shift == self.shift[0]))

    def apply(self, acc: np.ndarray, axis: int = 1) -> np.ndarray:
        """Requantize int64 accumulators whose channel axis is ``axis``; returns int8."""
        shape = [1] * np.ndim(acc)
        shape[axis] = -1
        t = rshift_round(np.asarray(acc, dtype=np.int64) * self.mult.reshape(shape), self.shift.reshape(shape))
        if self.activation in ("h_swish", "h_sigmoid"):
            t = np.clip(t, self.t_lo, self.t_hi)
            three = np.int64(3) << self.fi
            r = np.clip(t + three, 0, 2 * three)
            product = (t * r if self.activation == "h_swish" else r) * HSIG_MULT
            t = rshift_round(product, self.post_shift)
        return np.clip(t, self.lo, self.hi).astype(np.int8)

    def to_dict(self) -> dict:
        """Manifest form: scalars when per tensor, else ``"per_channel"`` (the arrays ship as files)."""
        out = {"activation": self.activation, "lo": self.lo, "hi": self.hi}
        if self.per_tensor:
            out.update(mult=int(self.mult[0]), shift=int(self.shift[0]))
        else:
            out.update(mult="per_channel", shift="per_channel")
        if self.activation in ("h_swish", "h_sigmoid"):
            out.update(fi=self.fi, t_lo=self.t_lo, t_hi=self.t_hi, post_shift=self.post_shift)
        return out


def make_requant(acc_scale: np.ndarray, out_fix: int, activation: str, what: str = "layer") -> Requant:
    """The :class:`Requant` taking accumulators worth ``acc_scale`` (per channel) to fix position ``out_fix``.

    Examples
    --------
    >>> rq = make_requant(np.array([2.0**-9]), out_fix=4, activation="relu6")
    >>> int(rq.mult[0]), int(rq.shift[0]), rq.hi
    (1, 5, 96)
    >>> rq.apply(np.array([[-40, 40, 4000]])).tolist()
    [[0, 1, 96]]
    """
    if activation not in ACT_CODES:
        raise QuantizationError(f"{what}: no integer implementation for activation {activation!r}; "
                                f"allowed: {', '.join(ACT_CODES)}")
    acc_scale = np.asarray(acc_scale, dtype=np.float64).reshape(-1)
    if activation in ("h_swish", "h_sigmoid"):
        fi = min(max(out_fix + _ACT_GUARD_BITS, 0), _ACT_FIX_MAX)
        mult, shift = requant_from_ratio(acc_scale * 2.0**fi)
        three = 3 << fi
        if activation == "h_swish":
            # Beyond t_hi the output saturates at 127 anyway (h_swish(x) >= x there), so
            # clipping changes no result and bounds the product below.
            saturating = 128 << (fi - out_fix) if fi >= out_fix else -((-128 << fi) >> out_fix)  # ceil
            t_lo, t_hi = -three, max(three, saturating)
            post_shift = 2 * fi + HSIG_SHIFT - out_fix
            bound = max(-t_lo, t_hi) * 2 * three * HSIG_MULT
        else:
            t_lo, t_hi = -three, three
            post_shift = fi + HSIG_SHIFT - out_fix
            bound = 2 * three * HSIG_MULT
        if bound >= _INT64_LIMIT:
            raise QuantizationError(f"{what}: {activation} at fix position {out_fix} needs products of "
                                    f"{int(bound).bit_length()} bits, more than int64 holds")
        return Requant(mult, shift, activation, lo=-128, hi=127, fi=fi, t_lo=t_lo, t_hi=t_hi,
                       post_shift=post_shift)
    mult, shift = requant_from_ratio(acc_scale * 2.0**out_fix)
    lo = 0 if activation in ("relu", "relu6") else -128
    hi = min(127, int(np.floor(6 * 2.0**out_fix + 0.5))) if activation == "relu6" else 127
    return Requant(mult, shift, activation, lo=lo, hi=hi)
