"""Fixed-point coefficients ``c_mn = alpha_m * beta_n`` and the accumulator's overflow proof.

Format: per stage, every coefficient is ``q * 2**-f`` with ``q`` a signed integer of
``coef_bits`` bits in the symmetric range ``|q| <= 2**(coef_bits-1) - 1`` and ``f`` (the
fraction bits, possibly negative) shared by the whole stage. ``f`` is the largest value for
which the largest ``|c|`` still fits, so the largest coefficient uses the full width.
Rounding is to nearest, ties to even (``numpy.rint``).

The accumulator holds ``y = sum_mn q_mn * (2 p_mn - K)``; ``y * 2**-f`` approximates the float
model's accumulator. Why it cannot overflow:

* a popcount satisfies ``0 <= p_mn <= K``, so ``|2 p_mn - K| <= K``;
* hence ``|y| <= K * sum_mn |q_mn|`` (:func:`accumulator_bound`), and so is every partial sum
  taken in any order, because it sums a subset of the same terms;
* ``sum_mn |q_mn| <= M * N * (2**(coef_bits-1) - 1)``, so for a build that accepts up to
  ``M, N, K_max`` the bound is ``M * N * (2**(coef_bits-1) - 1) * K_max``
  (:func:`worst_case_bound`), attained when every popcount sits at 0 or K with the sign of its
  coefficient;
* :func:`accumulator_bits` gives the narrowest signed width holding ``[-(bound+1), bound+1]``:
  the values plus one on each side, which thresholds use to mean "always" and "never".

``tests/test_fixed_point.py`` checks each step: the bound is attained and not exceeded, and the
width is the narrowest that holds it.
"""

import numpy as np

__all__ = ["COEF_BITS", "coefficient_limit", "quantize_coefficients", "is_exact",
           "accumulator_bound", "worst_case_bound", "accumulator_bits"]

#: Default coefficient width: one operand of an iCE40 SB_MAC16.
COEF_BITS = 16


def coefficient_limit(coef_bits):
    """Largest ``|q|`` of a ``coef_bits``-bit coefficient (symmetric range)."""
    if isinstance(coef_bits, bool) or not isinstance(coef_bits, (int, np.integer)) \
            or not 2 <= coef_bits <= 32:
        raise ValueError(f"coef_bits must be an integer in 2..32, not {coef_bits!r}")
    return 2 ** (coef_bits - 1) - 1


def _fits(c, f, limit):
    return np.abs(np.rint(np.ldexp(c, f))).max() <= limit


def quantize_coefficients(c, *, coef_bits=COEF_BITS):
    """Quantize float coefficients ``c`` to ``(q, f)`` with ``c ~ q * 2**-f`` (see module doc).

    ``q`` is int64 with the shape of ``c``. All-zero ``c`` gives ``q = 0, f = 0``.
    """
    c = np.asarray(c, dtype=np.float64)
    limit = coefficient_limit(coef_bits)
    largest = np.abs(c).max() if c.size else 0.0
    if largest == 0:
        return np.zeros(c.shape, dtype=np.int64), 0
    # A difference of logs: limit / largest overflows to inf for a subnormal largest |c|.
    f = int(np.floor(np.log2(limit) - np.log2(largest)))
    while not _fits(c, f, limit):  # rounding up can push the largest value past the limit
        f -= 1
    while _fits(c, f + 1, limit):
        f += 1
    return np.rint(np.ldexp(c, f)).astype(np.int64), f


def is_exact(c, q, f):
    """Whether ``q * 2**-f`` equals ``c`` exactly (the float and integer models then agree)."""
    return bool(np.array_equal(np.ldexp(q.astype(np.float64), -f), np.asarray(c, np.float64)))


def accumulator_bound(q, k):
    """Largest ``|y|`` a stage with coefficients ``q`` ``(C_out, M, N)`` and length K can reach."""
    return int(k) * int(np.abs(q).reshape(q.shape[0], -1).sum(axis=1).max())


def worst_case_bound(*, m, n, k, coef_bits=COEF_BITS):
    """Largest ``|y|`` over every stage a build for M, N, K and coef_bits can run."""
    return m * n * coefficient_limit(coef_bits) * k


def accumulator_bits(bound):
    """Narrowest two's-complement width holding ``[-(bound+1), bound+1]``."""
    return (int(bound) + 1).bit_length() + 1
