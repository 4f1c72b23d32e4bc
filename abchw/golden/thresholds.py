"""Batch norm and the N activations folded into integer comparator thresholds.

The hardware compares the integer accumulator ``y`` of a channel with N thresholds ``T_n`` and
emits ``bit_n = (y >= T_n) XOR invert`` (one ``invert`` flag per channel). Thresholds lie in
``[-(bound+1), bound+1]``: ``-(bound+1)`` always fires and ``bound+1`` never does.

For batch norm followed by ``H_v`` the fold is exact, not approximate: the float model's
predicate ``P(y) = (((y * 2**-f) - mean) * scale + beta) + v >= 0.5`` is a composition of
correctly rounded float operations, each monotone, so ``P`` is monotone in ``y`` (rising for
``scale > 0``, falling for ``scale < 0``, constant for ``scale == 0``, which covers
``gamma = 0``). A vectorised binary search over the integers finds where ``P`` changes, so the
folded comparator gives the float model's bit for *every* integer ``y``, ties and rounding
included. For an already folded :class:`~abchw.network.Threshold` the float comparison
``y * 2**-f >= t`` is exactly ``y >= ceil(t * 2**f)`` (and ``y <= t`` is ``y < floor(t*2**f)+1``).
"""

import numpy as np

from ..network import Threshold
from .approximation import activation_predicate

__all__ = ["fold_thresholds", "compare"]


def _batchnorm_predicate(y, norm, activation, frac_bits):
    """``P(y)`` for integer ``y`` of shape ``(C, N)``, evaluated exactly as the float model does."""
    y_float = np.ldexp(y.astype(np.float64), -frac_bits)
    r = (y_float - norm.mean[:, None]) * norm.scale()[:, None] + norm.beta[:, None]
    return activation_predicate(r, activation.shifts[None, :])


def _fold_batchnorm(norm, activation, frac_bits, bound):
    falling = norm.scale() < 0                                   # (C,)
    shape = (norm.channels, activation.n)
    lo = np.full(shape, -(bound + 1), dtype=np.int64)
    hi = np.full(shape, bound + 1, dtype=np.int64)
    # Smallest y in [lo, hi] where Q(y) = P(y) XOR falling holds, hi standing for "never".
    while (lo < hi).any():
        mid = lo + (hi - lo) // 2
        q = _batchnorm_predicate(mid, norm, activation, frac_bits) ^ falling[:, None]
        hi = np.where(q, mid, hi)
        # min: an entry already converged on the "never" value must not step past it.
        lo = np.where(q, lo, np.minimum(mid + 1, hi))
    return lo, falling.copy()


def _fold_threshold(threshold, frac_bits, bound):
    with np.errstate(over="ignore"):     # a huge t overflows to +-inf, which the clip handles
        scaled = np.ldexp(threshold.thresholds, frac_bits)        # exact: a power-of-two scale
    # ... unless it underflows to +-0: t * 2**f then lies strictly between 0 and +-1, and +-0.5
    # has the same ceil and floor.
    scaled = np.where((scaled == 0) & (threshold.thresholds != 0),
                      np.copysign(0.5, threshold.thresholds), scaled)
    invert = threshold.invert
    t = np.where(invert[:, None], np.floor(scaled) + 1, np.ceil(scaled))
    return np.clip(t, -(bound + 1), bound + 1).astype(np.int64), invert.copy()


def fold_thresholds(stage, frac_bits, bound):
    """Integer thresholds ``(C, N)`` and ``invert`` ``(C,)`` for a stage with an activation."""
    if isinstance(stage.activation, Threshold):
        return _fold_threshold(stage.activation, frac_bits, bound)
    return _fold_batchnorm(stage.norm, stage.activation, frac_bits, bound)


def compare(y, thresholds, invert):
    """Comparator bank: ``y`` ``(B, C, ...)`` -> bits ``(N, B, C, ...)``, ``(y >= T) ^ invert``."""
    shape = (1, -1) + (1,) * (y.ndim - 2)
    t = thresholds.T.reshape((thresholds.shape[1],) + shape)
    return (y[None] >= t) ^ invert.reshape(shape)
