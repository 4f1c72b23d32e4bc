"""abchw.golden.fixed_point: coefficient quantization and the accumulator overflow proof."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abchw.golden.fixed_point import (COEF_BITS, accumulator_bits, accumulator_bound,
                                      coefficient_limit, is_exact, quantize_coefficients,
                                      worst_case_bound)
from abchw.network import K_MAX, M_MAX, N_MAX

SEEDS = st.integers(0, 2 ** 32 - 1)
COEF_WIDTHS = st.one_of(st.just(COEF_BITS), st.integers(2, 32))
SHAPES = st.tuples(st.integers(1, 4), st.integers(1, M_MAX), st.integers(1, N_MAX))
# K up to the network limit K_MAX, plus 65535 (the largest 16-bit popcount) for the bare arithmetic.
KS = st.one_of(st.sampled_from([1, 2, 63, 64, 65, K_MAX - 1, K_MAX, 65535]), st.integers(1, K_MAX))


def _coefficients(rng, shape):
    """Coefficients like alpha_m * beta_n: mixed signs, magnitudes over a few decades, some 0."""
    c = rng.choice([-1.0, 1.0], size=shape) * np.exp(rng.uniform(-6, 6, size=shape))
    c *= np.exp(rng.uniform(-20, 20))
    c[rng.random(shape) < 0.1] = 0.0
    return c


def _rint_abs_max(c, f):
    return int(np.abs(np.rint(np.ldexp(c, f))).max())


# ---- quantization -----------------------------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(seed=SEEDS, shape=SHAPES, coef_bits=COEF_WIDTHS)
def test_quantization_uses_full_width_and_rounds_to_nearest(seed, shape, coef_bits):
    rng = np.random.default_rng(seed)
    c = _coefficients(rng, shape)
    if not c.any():
        c[0, 0, 0] = rng.uniform(0.1, 10)
    limit = 2 ** (coef_bits - 1) - 1
    q, f = quantize_coefficients(c, coef_bits=coef_bits)
    assert q.dtype == np.int64 and q.shape == c.shape
    assert isinstance(f, int)
    assert int(np.abs(q).max()) <= limit
    assert _rint_abs_max(c, f + 1) > limit        # one more fraction bit would not fit
    np.testing.assert_array_equal(q, np.rint(np.ldexp(c, f)))
    error = np.abs(c - np.ldexp(q.astype(np.float64), -f))
    assert (error <= np.ldexp(1.0, -f - 1)).all()
    assert is_exact(c, q, f) == bool((error == 0).all())


@settings(max_examples=200, deadline=None)
@given(seed=SEEDS, shape=SHAPES, coef_bits=COEF_WIDTHS, exponent=st.integers(-40, 40))
def test_dyadic_coefficients_are_exact(seed, shape, coef_bits, exponent):
    rng = np.random.default_rng(seed)
    limit = 2 ** (coef_bits - 1) - 1
    numerators = rng.integers(-limit, limit + 1, size=shape)
    numerators.flat[0] = limit * rng.choice([-1, 1]) if rng.random() < 0.3 else numerators.flat[0]
    c = np.ldexp(numerators.astype(np.float64), exponent)
    q, f = quantize_coefficients(c, coef_bits=coef_bits)
    assert is_exact(c, q, f)
    np.testing.assert_array_equal(np.ldexp(q.astype(np.float64), -f), c)
    if numerators.any():
        assert f >= -exponent                       # at least as many fraction bits as needed
        assert _rint_abs_max(c, f + 1) > limit


def test_quantization_hand_examples():
    # 1.5 and -0.25 in 4 bits (|q| <= 7): f = 2 gives 6 and -1; f = 3 would need 12.
    q, f = quantize_coefficients(np.array([1.5, -0.25]), coef_bits=4)
    assert f == 2
    np.testing.assert_array_equal(q, [6, -1])
    # Rounding up can cross the limit: 7.75 * 2**0 -> 8 > 7, so f drops to -1 (q = 4 -> 8).
    q, f = quantize_coefficients(np.array([7.75]), coef_bits=4)
    assert (q.tolist(), f) == ([4], -1)
    # Ties to even: 2.5 in 3 bits (|q| <= 3): f = 0, rint(2.5) = 2.
    q, f = quantize_coefficients(np.array([2.5, 0.5]), coef_bits=3)
    assert (q.tolist(), f) == ([2, 0], 0)
    # Large and tiny coefficients: f is negative or large.
    q, f = quantize_coefficients(np.array([1e6]), coef_bits=16)
    assert f < 0 and 16384 <= q[0] <= 32767
    q, f = quantize_coefficients(np.array([1e-300]), coef_bits=16)
    assert f > 1000 and 16384 <= q[0] <= 32767


def test_quantization_of_subnormal_coefficients():
    # Found by these tests: a subnormal largest coefficient overflowed limit / largest to inf.
    for value in (5e-324, 1e-310, 2.2250738585072014e-308 / 3):
        c = np.array([value, -value / 2])
        q, f = quantize_coefficients(c)
        assert 0 < np.abs(q).max() <= 32767
        assert _rint_abs_max(c, f + 1) > 32767
        assert is_exact(np.array([5e-324]), *quantize_coefficients(np.array([5e-324])))


@pytest.mark.parametrize("shape", [(3,), (2, 4, 8), (0,)])
def test_all_zero_coefficients(shape):
    q, f = quantize_coefficients(np.zeros(shape))
    assert f == 0
    assert q.dtype == np.int64 and q.shape == shape
    assert not q.any()
    assert is_exact(np.zeros(shape), q, f)


def test_is_exact_detects_rounding():
    c = np.array([1.0, 1.0 / 3.0])
    q, f = quantize_coefficients(c)
    assert not is_exact(c, q, f)
    assert is_exact(np.array([1.0, 0.5]), *quantize_coefficients(np.array([1.0, 0.5])))


@pytest.mark.parametrize("coef_bits", [1, 0, 33, -4, True, 16.0, "16", None])
def test_coefficient_limit_rejects_bad_widths(coef_bits):
    with pytest.raises(ValueError) as info:
        coefficient_limit(coef_bits)
    assert str(info.value) == f"coef_bits must be an integer in 2..32, not {coef_bits!r}"
    with pytest.raises(ValueError):
        quantize_coefficients(np.ones(2), coef_bits=coef_bits)


def test_coefficient_limit_values():
    assert coefficient_limit(2) == 1
    assert coefficient_limit(16) == 32767
    assert coefficient_limit(np.int64(18)) == 131071
    assert coefficient_limit(32) == 2 ** 31 - 1


# ---- accumulator bound ------------------------------------------------------------------------

def _accumulate(q, p, k):
    """y[o] = sum_mn q[o,m,n] * (2 p[o,m,n] - K) in Python integers (no overflow possible)."""
    return [sum(int(a) * (2 * int(b) - k) for a, b in zip(qo.ravel(), po.ravel()))
            for qo, po in zip(q, p)]


@settings(max_examples=200, deadline=None)
@given(seed=SEEDS, shape=SHAPES, k=KS, coef_bits=COEF_WIDTHS)
def test_accumulator_bound_is_attained_and_never_exceeded(seed, shape, k, coef_bits):
    rng = np.random.default_rng(seed)
    limit = coefficient_limit(coef_bits)
    q = rng.integers(-limit, limit + 1, size=shape)
    q[rng.random(shape) < 0.1] = 0
    bound = accumulator_bound(q, k)
    assert bound == k * max(int(np.abs(row).sum()) for row in q)
    # The extreme pattern: every popcount at K where q > 0 and at 0 where q < 0.
    extreme = np.where(q > 0, k, 0)
    y = _accumulate(q, extreme, k)
    assert max(y) == bound
    assert max(abs(v) for v in _accumulate(q, np.where(q > 0, 0, k), k)) == bound
    # Random popcounts, including every partial sum in a random order, stay within the bound.
    for _ in range(5):
        p = rng.integers(0, k + 1, size=shape)
        for qo, po in zip(q, p):
            terms = [int(a) * (2 * int(b) - k) for a, b in zip(qo.ravel(), po.ravel())]
            order = rng.permutation(len(terms))
            partial = np.cumsum([terms[i] for i in order], dtype=object)
            assert max(abs(int(s)) for s in partial) <= bound
    assert bound <= worst_case_bound(m=shape[1], n=shape[2], k=k, coef_bits=coef_bits)


@settings(max_examples=100, deadline=None)
@given(m=st.integers(1, M_MAX), n=st.integers(1, N_MAX), k=KS, coef_bits=COEF_WIDTHS,
       seed=SEEDS)
def test_worst_case_bound_equals_bound_at_the_coefficient_limit(m, n, k, coef_bits, seed):
    limit = coefficient_limit(coef_bits)
    signs = np.random.default_rng(seed).choice([-1, 1], size=(2, m, n))
    q = signs * limit
    worst = worst_case_bound(m=m, n=n, k=k, coef_bits=coef_bits)
    assert worst == accumulator_bound(q, k) == m * n * limit * k
    assert max(_accumulate(q, np.where(q > 0, k, 0), k)) == worst


def test_worst_case_bound_of_the_largest_build_fits_64_bits():
    worst = worst_case_bound(m=M_MAX, n=N_MAX, k=K_MAX)
    assert worst == M_MAX * N_MAX * 32767 * K_MAX
    assert accumulator_bits(worst) == (worst + 1).bit_length() + 1 <= 64
    if K_MAX == 32767:                              # docs/arithmetic.md: a 37-bit accumulator
        assert (worst, accumulator_bits(worst)) == (68_715_282_496, 37)
    assert accumulator_bits(worst_case_bound(m=8, n=8, k=65535)) == 38


def _holds(bits, low, high):
    return -(2 ** (bits - 1)) <= low and high <= 2 ** (bits - 1) - 1


@settings(max_examples=300, deadline=None)
@given(bound=st.one_of(st.integers(0, 4096), st.integers(0, 2 ** 62 - 2),
                       st.sampled_from([0, 1, 2, 3, 6, 7, 8, 2 ** 20 - 2, 2 ** 20 - 1, 2 ** 20])))
def test_accumulator_bits_is_the_narrowest_width(bound):
    bits = accumulator_bits(bound)
    assert _holds(bits, -(bound + 1), bound + 1)
    assert not _holds(bits - 1, -(bound + 1), bound + 1)


def test_accumulator_bits_hand_values():
    # bound 0: values -1..1 need 2 bits; bound 126: -127..127 need 8; bound 127: -128..128 need 9.
    assert accumulator_bits(0) == 2
    assert accumulator_bits(126) == 8
    assert accumulator_bits(127) == 9
    assert accumulator_bits(np.int64(126)) == 8
