"""The bit-exact integer model: what the hardware computes, and the specification of every RTL test.

:func:`lower` turns a :class:`~abchw.network.Network` into :class:`IntegerStage` s holding only
what the hardware holds: packed weight bits, integer coefficients, integer thresholds.
:func:`integer_forward` runs them with XNOR-popcount on packed bits and integer arithmetic:

1. input: the 8-bit pixels are 8 binary planes (bit b of each pixel, coefficient ``2**b``);
2. conv: each output position gathers a K-bit window per input plane, K ordered
   ``(ky, kx, c_in)``; out-of-image taps hold bit 0 (the value -1); dense flattens C-major;
3. ``p_mn = popcount(XNOR(window_n, base_m))`` and ``y = sum_mn q_mn (2 p_mn - K)`` in int64;
4. max-pool on ``y``;
5. comparators: ``bit_n = (y >= T_n) XOR invert``, or ``y`` itself as scores for the last stage.

The arithmetic choices and the float-vs-integer error bound are in ``docs/arithmetic.md``.
"""

from dataclasses import dataclass

import numpy as np

from ..network import INPUT_BITS, Conv, Network
from .bits import pack_bits, xnor_popcount
from .fixed_point import COEF_BITS, accumulator_bits, accumulator_bound, quantize_coefficients
from .float_model import max_pool2d
from .thresholds import compare, fold_thresholds

__all__ = ["IntegerStage", "IntegerNetwork", "IntegerStageResult", "lower", "input_bits",
           "conv_windows", "integer_stage", "integer_forward"]

# Largest number of uint64 words one vectorised XNOR-popcount step holds in memory (~32 MiB).
_CHUNK_WORDS = 1 << 22


@dataclass(frozen=True, eq=False)
class IntegerStage:
    """One stage in hardware terms.

    ``weight_bits``: ``(M, C_out, K)`` bool (K in ``(ky, kx, c_in)`` order for conv);
    ``coefficients``: ``(C_out, M, N_in)`` int64, each ``q * 2**-frac_bits``;
    ``bound``: the largest ``|y|`` (see :mod:`abchw.golden.fixed_point`);
    ``thresholds``: ``(C_out, N_out)`` int64 and ``invert`` ``(C_out,)``, None on the last stage.
    """
    kind: str
    in_shape: tuple
    out_shape: tuple
    kernel: int
    stride: int
    padding: int
    weight_bits: np.ndarray
    coefficients: np.ndarray
    frac_bits: int
    bound: int
    pool: tuple | None
    thresholds: np.ndarray | None
    invert: np.ndarray | None

    @property
    def k(self):
        return self.weight_bits.shape[2]

    @property
    def m(self):
        return self.weight_bits.shape[0]

    @property
    def n_in(self):
        return self.coefficients.shape[2]

    @property
    def n_out(self):
        return None if self.thresholds is None else self.thresholds.shape[1]

    @property
    def acc_bits(self):
        """Width of the accumulator this stage needs."""
        return accumulator_bits(self.bound)


@dataclass(frozen=True, eq=False)
class IntegerNetwork:
    input_shape: tuple
    stages: tuple
    coef_bits: int

    @property
    def score_frac_bits(self):
        """Scores are ``y * 2**-score_frac_bits`` in the float model's units."""
        return self.stages[-1].frac_bits


def _weight_bits(linear):
    bases = linear.bases
    if isinstance(linear, Conv):
        bases = bases.transpose(0, 1, 3, 4, 2)                       # (M, C_out, ky, kx, C_in)
    return (bases > 0).reshape(bases.shape[0], bases.shape[1], -1)


def lower(network: Network, *, coef_bits=COEF_BITS):
    """Quantize ``network`` for hardware with ``coef_bits``-bit coefficients."""
    stages = []
    in_scales = 2.0 ** np.arange(INPUT_BITS)
    for stage in network.stages:
        linear = stage.linear
        coefficients = linear.alpha_per_channel()[:, :, None] * in_scales[None, None, :]
        q, f = quantize_coefficients(coefficients, coef_bits=coef_bits)
        bound = accumulator_bound(q, stage.k)
        thresholds = invert = None
        if stage.activation is not None:
            thresholds, invert = fold_thresholds(stage, f, bound)
            in_scales = stage.activation.scales
        conv = isinstance(linear, Conv)
        stages.append(IntegerStage(
            kind=linear.kind, in_shape=stage.in_shape, out_shape=stage.out_shape,
            kernel=linear.kernel if conv else 1, stride=linear.stride if conv else 1,
            padding=linear.padding if conv else 0,
            weight_bits=_weight_bits(linear), coefficients=q, frac_bits=f, bound=bound,
            pool=None if stage.pool is None else (stage.pool.size, stage.pool.stride),
            thresholds=thresholds, invert=invert))
    return IntegerNetwork(network.input_shape, tuple(stages), coef_bits)


def input_bits(images):
    """uint8 images ``(B, C, H, W)`` -> ``(8, B, C, H, W)`` bool, plane b holding bit b."""
    images = np.asarray(images, dtype=np.uint8)
    return ((images[None] >> np.arange(INPUT_BITS, dtype=np.uint8)
             .reshape((-1,) + (1,) * images.ndim)) & 1).astype(bool)


def conv_windows(planes, kernel, stride, padding):
    """``(N, B, C, H, W)`` bits -> ``(N, B, Ho, Wo, K)`` windows, K ordered ``(ky, kx, c)``.

    Padding inserts bit 0 (the value -1).
    """
    pad = [(0, 0)] * 3 + [(padding, padding)] * 2
    padded = np.pad(planes, pad, constant_values=False)
    windows = np.lib.stride_tricks.sliding_window_view(padded, (kernel, kernel), axis=(3, 4))
    windows = windows[:, :, :, ::stride, ::stride]                # (N, B, C, Ho, Wo, ky, kx)
    n, b, c, ho, wo = windows.shape[:5]
    return windows.transpose(0, 1, 3, 4, 5, 6, 2).reshape(n, b, ho, wo, kernel * kernel * c)


def _accumulate(vectors, stage):
    """``vectors`` ``(N, B, P, K)`` bits -> ``y`` ``(B, C_out, P)`` int64."""
    n, b, positions, k = vectors.shape
    m, c_out = stage.weight_bits.shape[:2]
    weights = pack_bits(stage.weight_bits).reshape(m * c_out, -1)
    activations = pack_bits(vectors).reshape(n * b * positions, 1, -1)
    rows = max(1, _CHUNK_WORDS // weights.size)
    popcounts = np.concatenate([xnor_popcount(activations[i:i + rows], weights, k)
                                for i in range(0, activations.shape[0], rows)])
    dots = (2 * popcounts - k).reshape(n, b, positions, m, c_out)
    # y[b, o, p] = sum_mn q[o, m, n] * dots[n, b, p, m, o]
    return np.einsum("omn,nbpmo->bop", stage.coefficients, dots)


@dataclass(frozen=True)
class IntegerStageResult:
    """``y``: int64 accumulator values after max-pool, ``(B, C, H, W)`` or ``(B, C)``;
    ``bits``: the stage's binary output ``(N, *y.shape)`` bool (None for the last stage)."""
    y: np.ndarray
    bits: np.ndarray | None


def integer_stage(stage: IntegerStage, bits):
    """Run one stage on its binary input planes ``(N_in, B, ...)`` (bool)."""
    n, batch = bits.shape[:2]
    if stage.kind == "conv":
        windows = conv_windows(bits, stage.kernel, stage.stride, stage.padding)
        ho, wo = windows.shape[2:4]
        y = _accumulate(windows.reshape(n, batch, ho * wo, -1), stage)
        y = y.reshape(batch, -1, ho, wo)
        if stage.pool is not None:
            y = max_pool2d(y, *stage.pool)
    else:
        y = _accumulate(bits.reshape(n, batch, 1, -1), stage)[:, :, 0]
    assert np.abs(y).max(initial=0) <= stage.bound, "accumulator exceeded its proven bound"
    if stage.thresholds is None:
        return IntegerStageResult(y, None)
    return IntegerStageResult(y, compare(y, stage.thresholds, stage.invert))


def integer_forward(inet: IntegerNetwork, images):
    """Run uint8 ``images`` ``(B, C, H, W)`` through the lowered network.

    Returns the list of :class:`IntegerStageResult`; the last ``y`` holds the integer scores.
    """
    bits = input_bits(images)
    results = []
    for stage in inet.stages:
        result = integer_stage(stage, bits)
        results.append(result)
        bits = result.bits
    return results
