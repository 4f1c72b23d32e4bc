"""abchw.golden.approximation: weight bases and coefficients (eq. 1-3), activations (eq. 8-11).

Measured before writing these tests (Gaussian and Laplacian weights, zero-mean, with or without
per-channel scales and a common offset, thousands of draws):

* The relative error falls strictly from M=1 to M=5 (and on to M=8) in every draw once the
  tensor has at least 576 weights (8x8x3x3; smallest step, M=4 -> 5, 0.0024 in 6000 draws);
  below that it does not always (36 weights: 4-6% of draws break it, 144 weights: ~0.2%,
  288 weights: ~0.05%). Only the nested shift sets are guaranteed:
  M=1 {0} < M=3 {-1,0,1} < M=5 {-1,-.5,0,.5,1}, and M=2 {-1,1} < M=3, M=4, M=5. For those the
  ridge objective cannot rise, whatever the data.
* Channel-wise is NOT always better than whole-tensor: on i.i.d. weights it is worse in most
  draws for M=1 (per-channel means are noisy thresholds), and with per-channel scales it is worse
  for M=2 in a sizeable share of draws. It is guaranteed when each channel has the tensor's mean
  and standard deviation (the bases coincide and per-channel alpha only adds freedom), and with
  one output channel the two are identical.
"""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from abchw.golden.approximation import (DEFAULT_RIDGE, activation_predicate, approximate_weights,
                                        binarize_activations, default_shifts)

SEEDS = st.integers(0, 2 ** 32 - 1)
CONV_SHAPES = st.tuples(st.integers(1, 6), st.integers(1, 6), st.sampled_from([1, 3]),
                        st.sampled_from([1, 3]))


def _weights(rng, shape, kind):
    w = rng.standard_normal(shape) if kind == "gauss" else rng.laplace(size=shape)
    return w * rng.uniform(1e-3, 1e2)


def _reconstruct(B, alpha):
    if alpha.ndim == 2:  # channel-wise: alpha (C_out, M), B (M, C_out, ...)
        return np.einsum("om,mo...->o...", alpha, B)
    return np.tensordot(alpha, B, axes=1)


def _relative_error(W, M, **kwargs):
    B, alpha = approximate_weights(W, M, **kwargs)
    return np.linalg.norm(W - _reconstruct(B, alpha)) / np.linalg.norm(W)


def _objective(W, M, **kwargs):
    """Ridge objective ||w - B alpha||^2 + lam ||alpha||^2 that the fit minimises."""
    B, alpha = approximate_weights(W, M, **kwargs)
    lam = DEFAULT_RIDGE * (W[0].size if alpha.ndim == 2 else W.size)
    return (np.sum((W - _reconstruct(B, alpha)) ** 2) + lam * np.sum(alpha ** 2),
            lam * np.sum(alpha ** 2))


# ---- default shifts -------------------------------------------------------------------------

def test_default_shifts_paper_values():
    np.testing.assert_array_equal(default_shifts(1), [0.0])
    np.testing.assert_array_equal(default_shifts(2), [-1.0, 1.0])
    np.testing.assert_array_equal(default_shifts(3), [-1.0, 0.0, 1.0])
    np.testing.assert_array_equal(default_shifts(5), [-1.0, -0.5, 0.0, 0.5, 1.0])
    for m in range(2, 9):
        u = default_shifts(m)
        assert u.shape == (m,)
        assert u[0] == -1.0 and u[-1] == 1.0
        np.testing.assert_allclose(np.diff(u), 2.0 / (m - 1), rtol=1e-12)


@pytest.mark.parametrize("m", [0, 9, -1, True, 2.0, "3"])
def test_default_shifts_rejects_bad_m(m):
    with pytest.raises(ValueError) as info:
        default_shifts(m)
    assert str(info.value) == f"M must be an integer in 1..8, not {m!r}"


# ---- bases ----------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(seed=SEEDS, shape=CONV_SHAPES, m=st.integers(1, 8), channelwise=st.booleans(),
       kind=st.sampled_from(["gauss", "laplace"]))
def test_bases_shape_values_and_alpha_shape(seed, shape, m, channelwise, kind):
    W = _weights(np.random.default_rng(seed), shape, kind)
    B, alpha = approximate_weights(W, m, channelwise=channelwise)
    assert B.shape == (m,) + shape
    assert B.dtype == np.int8
    assert set(np.unique(B)) <= {-1, 1}
    assert alpha.shape == ((shape[0], m) if channelwise else (m,))
    assert np.isfinite(alpha).all()


def test_sign_of_zero_is_plus_one():
    # mean 0, std 1: u = -1 gives W - 1 = [-2, 0, -2, 0], u = +1 gives W + 1 = [0, 2, 0, 2].
    W = np.array([-1.0, 1.0, -1.0, 1.0])
    B, _ = approximate_weights(W, 3)
    np.testing.assert_array_equal(B[0], [-1, 1, -1, 1])
    np.testing.assert_array_equal(B[1], [-1, 1, -1, 1])
    np.testing.assert_array_equal(B[2], [1, 1, 1, 1])
    # M = 1: the element equal to the mean shifts to exactly 0 and becomes +1.
    B, _ = approximate_weights(np.array([[-2.0, 0.0, 2.0]]), 1)
    np.testing.assert_array_equal(B[0], [[-1, 1, 1]])
    # A constant tensor: every shifted value is 0, every base is all +1.
    B, alpha = approximate_weights(np.full((2, 3), 0.25), 4)
    assert (B == 1).all()
    np.testing.assert_allclose(alpha.sum(), 0.25, rtol=1e-4)


@settings(max_examples=60, deadline=None)
@given(seed=SEEDS, shape=CONV_SHAPES, m=st.integers(1, 8), channelwise=st.booleans())
def test_explicit_shifts_are_honoured(seed, shape, m, channelwise):
    rng = np.random.default_rng(seed)
    W = _weights(rng, shape, "gauss")
    u = np.sort(rng.uniform(-2.5, 2.5, size=m))
    B, _ = approximate_weights(W, m, u=u, channelwise=channelwise)
    rows = W.reshape(shape[0], -1) if channelwise else W.reshape(1, -1)
    mean = rows.mean(axis=1, keepdims=True)
    std = rows.std(axis=1, keepdims=True)
    for i in range(m):
        shifted = rows - mean + u[i] * std
        expected = np.where(shifted >= 0, 1, -1).reshape(shape)
        np.testing.assert_array_equal(B[i], expected)
    # The default is the paper's u.
    B_default, _ = approximate_weights(W, m, channelwise=channelwise)
    B_explicit, _ = approximate_weights(W, m, u=default_shifts(m), channelwise=channelwise)
    np.testing.assert_array_equal(B_default, B_explicit)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match=r"u must have shape \(3,\)"):
        approximate_weights(np.ones(4), 3, u=[0.0, 1.0])
    with pytest.raises(ValueError, match="non-empty finite"):
        approximate_weights(np.array([1.0, np.nan]), 1)
    with pytest.raises(ValueError, match="non-empty finite"):
        approximate_weights(np.zeros((0, 3)), 1)
    with pytest.raises(ValueError, match="ridge"):
        approximate_weights(np.ones(4), 1, ridge=-1.0)


# ---- alpha: ridge least squares ---------------------------------------------------------------

def _check_ridge_optimum(rows, bases, alpha, ridge):
    """B^T (w - B alpha) == lam alpha for each row, lam = ridge * n."""
    n = rows.shape[1]
    lam = ridge * n
    for w, b, a in zip(rows, bases, alpha):
        b = b.astype(np.float64)                  # (M, n)
        lhs = b @ (w - a @ b)
        scale = n * np.abs(w).max()
        np.testing.assert_allclose(lhs, lam * a, rtol=0, atol=1e-9 * scale)


@settings(max_examples=80, deadline=None)
@given(seed=SEEDS, shape=CONV_SHAPES, m=st.integers(1, 8), channelwise=st.booleans(),
       kind=st.sampled_from(["gauss", "laplace"]))
def test_alpha_is_ridge_least_squares_optimum(seed, shape, m, channelwise, kind):
    W = _weights(np.random.default_rng(seed), shape, kind)
    B, alpha = approximate_weights(W, m, channelwise=channelwise)
    if channelwise:
        rows = W.reshape(shape[0], -1)
        bases = B.reshape(m, shape[0], -1).transpose(1, 0, 2)
        _check_ridge_optimum(rows, bases, alpha, DEFAULT_RIDGE)
    else:
        _check_ridge_optimum(W.reshape(1, -1), B.reshape(1, m, -1), alpha[None], DEFAULT_RIDGE)


@settings(max_examples=50, deadline=None)
@given(seed=SEEDS, m=st.integers(1, 5), channelwise=st.booleans())
def test_unregularised_residual_is_orthogonal_to_bases(seed, m, channelwise):
    # 16x8x3x3 Gaussian weights with M <= 5 distinct shifts: B^T B is well conditioned.
    rng = np.random.default_rng(seed)
    W = _weights(rng, (16, 8, 3, 3), "gauss")
    B, alpha = approximate_weights(W, m, channelwise=channelwise, ridge=0.0)
    rows = W.reshape(16, -1) if channelwise else W.reshape(1, -1)
    bases = (B.reshape(m, 16, -1).transpose(1, 0, 2) if channelwise else B.reshape(1, m, -1))
    coefficients = alpha if channelwise else alpha[None]
    for w, b, a in zip(rows, bases, coefficients):
        b = b.astype(np.float64)
        assert np.linalg.cond(b @ b.T) < 1e6
        residual = w - a @ b
        np.testing.assert_allclose(b @ residual, 0.0, atol=1e-10 * w.size * np.abs(w).max())
        # ... and alpha is the plain least-squares solution.
        lstsq = np.linalg.lstsq(b.T, w, rcond=None)[0]
        np.testing.assert_allclose(a, lstsq, rtol=1e-8, atol=1e-12 * np.abs(w).max())


# ---- approximation error as M grows -----------------------------------------------------------

@settings(max_examples=40, deadline=None, derandomize=True)
@given(seed=SEEDS, c_out=st.integers(8, 24), c_in=st.integers(8, 24),
       kind=st.sampled_from(["gauss", "laplace"]), per_channel_scale=st.booleans())
def test_error_falls_strictly_from_m1_to_m5_on_conv_sized_weights(seed, c_out, c_in, kind,
                                                                   per_channel_scale):
    rng = np.random.default_rng(seed)
    W = _weights(rng, (c_out, c_in, 3, 3), kind)
    if per_channel_scale:
        W = W * rng.uniform(0.1, 3.0, size=(c_out, 1, 1, 1))
    errors = [_relative_error(W, m) for m in range(1, 6)]
    assert all(0 < e < 1 for e in errors)
    for m in range(1, 5):
        assert errors[m] < errors[m - 1], (m, errors)


NESTED = [(1, 3), (3, 5), (1, 5), (2, 3), (2, 4), (2, 5)]


@settings(max_examples=60, deadline=None)
@given(seed=SEEDS, shape=CONV_SHAPES, kind=st.sampled_from(["gauss", "laplace"]),
       channelwise=st.booleans(), offset=st.floats(-1.0, 1.0))
def test_nested_shift_sets_never_increase_the_fit_objective(seed, shape, kind, channelwise,
                                                             offset):
    # Any shape, however small: when the shifts of M are a subset of those of M', the bases of M
    # are columns of those of M', so the ridge objective of M' cannot be larger, and the
    # residual can exceed that of M by no more than M's ridge term.
    rng = np.random.default_rng(seed)
    W = _weights(rng, shape, kind)
    W = W + offset * W.std()
    for small, large in NESTED:
        assert set(default_shifts(small)) <= set(default_shifts(large))
        j_small, ridge_small = _objective(W, small, channelwise=channelwise)
        j_large, _ = _objective(W, large, channelwise=channelwise)
        assert j_large <= j_small * (1 + 1e-9) + 1e-300
        e_small = np.sum((W - _reconstruct(*approximate_weights(W, small,
                                                                channelwise=channelwise))) ** 2)
        e_large = np.sum((W - _reconstruct(*approximate_weights(W, large,
                                                                channelwise=channelwise))) ** 2)
        assert e_large <= e_small + ridge_small + 1e-9 * np.sum(W ** 2)


# ---- channel-wise versus whole-tensor ---------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(seed=SEEDS, c_in=st.integers(1, 6), k=st.sampled_from([1, 3]), m=st.integers(1, 8))
def test_channelwise_equals_whole_tensor_for_one_output_channel(seed, c_in, k, m):
    W = _weights(np.random.default_rng(seed), (1, c_in, k, k), "laplace")
    B_whole, alpha_whole = approximate_weights(W, m)
    B_cw, alpha_cw = approximate_weights(W, m, channelwise=True)
    np.testing.assert_array_equal(B_cw, B_whole)
    np.testing.assert_array_equal(alpha_cw[0], alpha_whole)


@settings(max_examples=60, deadline=None)
@given(seed=SEEDS, shape=CONV_SHAPES, m=st.integers(1, 8), exponent=st.integers(-20, 20))
def test_channelwise_no_worse_when_channels_share_mean_and_std(seed, shape, m, exponent):
    # Every output channel is a permutation of one multiset of small integers that is symmetric
    # about 0 (times a power of two), so every mean is exactly 0 and every std is computed from the
    # same exact ratio: the per-channel statistics equal the tensor's bit for bit, the bases
    # coincide, and per-channel alpha can only fit better.
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape[1:]))
    half = rng.integers(1, 9, size=size // 2).astype(np.float64)
    values = np.concatenate([half, -half, np.zeros(size % 2)])
    assume(values.any())
    W = np.ldexp(np.stack([rng.permutation(values) for _ in range(shape[0])]), exponent)
    W = W.reshape(shape)
    B_whole, _ = approximate_weights(W, m)
    B_cw, _ = approximate_weights(W, m, channelwise=True)
    np.testing.assert_array_equal(B_cw, B_whole)   # premise: identical bases
    j_whole, ridge_whole = _objective(W, m)
    j_cw, _ = _objective(W, m, channelwise=True)
    assert j_cw <= j_whole * (1 + 1e-9)
    e_whole = _relative_error(W, m)
    e_cw = _relative_error(W, m, channelwise=True)
    assert e_cw ** 2 <= e_whole ** 2 + ridge_whole / np.sum(W ** 2) + 1e-9


# ---- activations -----------------------------------------------------------------------------

@settings(max_examples=100, deadline=None)
@given(seed=SEEDS, n=st.integers(1, 8), shape=st.lists(st.integers(1, 4), min_size=0, max_size=3))
def test_binarize_activations_matches_equation_9(seed, n, shape):
    rng = np.random.default_rng(seed)
    R = rng.normal(0.0, 2.0, size=shape)
    v = rng.uniform(-3.0, 3.0, size=n)
    A = binarize_activations(R, v)
    assert A.shape == (n,) + tuple(shape)
    assert A.dtype == np.float64
    assert set(np.unique(A)) <= {-1.0, 1.0}
    for i in range(n):
        h = np.clip(R + v[i], 0.0, 1.0)                 # equation 8
        np.testing.assert_array_equal(A[i], np.where(h >= 0.5, 1.0, -1.0))
        np.testing.assert_array_equal(A[i] == 1.0, activation_predicate(R, v[i]))


@settings(max_examples=100, deadline=None)
@given(seed=SEEDS, n=st.integers(1, 8))
def test_binarize_fires_exactly_at_half_minus_v_on_exact_grid(seed, n):
    # On a dyadic grid all sums are exact, so R + v >= 0.5 is exactly R >= 0.5 - v; the grid puts
    # R exactly on 0.5 - v_n (fires) and one step below it (does not).
    rng = np.random.default_rng(seed)
    v = rng.integers(-64, 65, size=n) / 16.0
    R = np.concatenate([0.5 - v, 0.5 - v - 1 / 16, 0.5 - v + 1 / 16,
                        rng.integers(-128, 129, size=20) / 16.0])
    A = binarize_activations(R, v)
    for i in range(n):
        np.testing.assert_array_equal(A[i] == 1.0, R >= 0.5 - v[i])
        assert A[i][i] == 1.0 and A[i][n + i] == -1.0 and A[i][2 * n + i] == 1.0


def test_binarize_activations_rejects_bad_v():
    with pytest.raises(ValueError, match="N in 1..8"):
        binarize_activations(np.zeros(3), np.zeros(9))
    with pytest.raises(ValueError, match="N in 1..8"):
        binarize_activations(np.zeros(3), np.zeros((2, 2)))
