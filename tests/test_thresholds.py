"""abchw.golden.thresholds: batch norm + H_v folded into integer comparators, exactly.

The reference is the float model itself: ``float_model.batch_norm`` then
``approximation.binarize_activations`` on ``y * 2**-f`` (or ``float_model.threshold_bits`` for a
folded Threshold layer). The folded comparator must give the same bit for every integer ``y`` the
accumulator can hold, ``-(bound+1) .. bound``: small bounds are enumerated completely, large ones
are sampled at random and at every threshold and its neighbours. (``y = bound + 1`` is not
reachable: there the "never" threshold value ``bound + 1`` is, by construction, not "never".)
"""

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abchw.golden.approximation import binarize_activations
from abchw.golden.bits import to_bits
from abchw.golden.float_model import batch_norm, threshold_bits
from abchw.golden.integer_model import lower
from abchw.golden.thresholds import compare, fold_thresholds
from abchw.network import Activation, BatchNorm, Conv, Dense, Network, Threshold

SEEDS = st.integers(0, 2 ** 32 - 1)


# ---- references --------------------------------------------------------------------------------

def _float_batchnorm_bits(y, norm, activation, frac_bits):
    """Bits ``(N, len(y), C)`` of the float model for integer accumulator values ``y``."""
    y_float = np.ldexp(y.astype(np.float64), -frac_bits)
    per_channel = np.broadcast_to(y_float[:, None], (y.shape[0], norm.channels))
    return to_bits(binarize_activations(batch_norm(per_channel, norm), activation.shifts))


def _float_threshold_bits(y, threshold, frac_bits):
    y_float = np.ldexp(y.astype(np.float64), -frac_bits)
    per_channel = np.broadcast_to(y_float[:, None], (y.shape[0], threshold.channels))
    return to_bits(threshold_bits(per_channel, threshold))


def _integer_bits(y, thresholds, invert):
    per_channel = np.broadcast_to(y[:, None], (y.shape[0], thresholds.shape[0]))
    return compare(per_channel, thresholds, invert)


def _test_values(rng, thresholds, bound, enumerate_limit=5000):
    """Every integer in [-(bound+1), bound] for small bounds; else random values, the ends and
    every threshold with its neighbours."""
    if bound <= enumerate_limit:
        return np.arange(-(bound + 1), bound + 1, dtype=np.int64)
    t = thresholds.ravel()
    y = np.concatenate([rng.integers(-(bound + 1), bound + 1, size=3000), t - 1, t, t + 1,
                        [-(bound + 1), -bound, -1, 0, 1, bound - 1, bound]])
    return np.unique(np.clip(y, -(bound + 1), bound)).astype(np.int64)


def _check_threshold_array(thresholds, invert, channels, n, bound):
    assert thresholds.dtype == np.int64 and thresholds.shape == (channels, n)
    assert invert.dtype == np.bool_ and invert.shape == (channels,)
    assert thresholds.min() >= -(bound + 1) and thresholds.max() <= bound + 1


# ---- strategies --------------------------------------------------------------------------------

BOUNDS = st.one_of(st.integers(0, 3000), st.integers(3001, 2 ** 37),
                   st.sampled_from([0, 1, 2, 2 ** 36, 68_715_282_496]))
FRAC_BITS = st.integers(-12, 45)


@st.composite
def batchnorm_cases(draw):
    """(norm, activation, frac_bits, bound) with parameters scaled to the range of y * 2**-f."""
    bound = draw(BOUNDS)
    frac_bits = draw(FRAC_BITS)
    channels = draw(st.integers(1, 4))
    n = draw(st.integers(1, 8))
    span = np.ldexp(float(bound + 1), -frac_bits)          # |y * 2**-f| <= span
    exact = draw(st.booleans())  # parameters on a dyadic grid: exact ties happen
    gamma, beta, mean, var = [], [], [], []
    if exact:
        eps = 1.0
        for _ in range(channels):
            # var + eps = 4**e, so scale = gamma / 2**e exactly.
            var.append(4.0 ** draw(st.integers(0, 8)) - 1.0)
            gamma.append(draw(st.sampled_from([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0])))
            mean.append(np.ldexp(float(draw(st.integers(-(bound + 2), bound + 2))), -frac_bits))
            beta.append(draw(st.integers(-8, 8)) / 4.0)
        shifts = [draw(st.integers(-12, 12)) / 8.0 for _ in range(n)]
    else:
        eps = draw(st.sampled_from([1e-5, 1e-3, 1.0, 1e-12]))
        for _ in range(channels):
            gamma.append(draw(st.one_of(
                st.floats(-5.0, 5.0), st.just(0.0),
                st.sampled_from([1e-30, -1e-30, 1e6, -1e6]))))
            beta.append(draw(st.floats(-3.0, 3.0)))
            where = draw(st.one_of(st.floats(-1.5, 1.5), st.sampled_from([-1e6, 1e6, -3.0, 3.0])))
            mean.append(where * span)
            spread = draw(st.one_of(st.floats(1e-3, 10.0), st.sampled_from([0.0, 1e-30, 1e6])))
            var.append((spread * span) ** 2)
        shifts = draw(st.lists(st.floats(-3.0, 3.0), min_size=n, max_size=n))
    norm = BatchNorm(gamma=gamma, beta=beta, mean=mean, var=var, eps=eps)
    activation = Activation(shifts=shifts, scales=np.ones(n))
    return norm, activation, frac_bits, bound


@st.composite
def threshold_cases(draw):
    bound = draw(BOUNDS)
    frac_bits = draw(FRAC_BITS)
    channels = draw(st.integers(1, 4))
    n = draw(st.integers(1, 8))
    span = np.ldexp(float(bound + 1), -frac_bits)
    values = st.one_of(
        st.floats(-1.5, 1.5).map(lambda x: x * span),                     # anywhere in range
        st.integers(-(bound + 2), bound + 2).map(lambda k: np.ldexp(float(k), -frac_bits)),
        st.integers(-(bound + 2), bound + 2).map(                           # half-way points
            lambda k: np.ldexp(float(k) + 0.5, -frac_bits)),
        st.sampled_from([np.inf, -np.inf, 0.0, -0.0, 1e300, -1e300]))
    thresholds = np.array(draw(st.lists(st.lists(values, min_size=n, max_size=n),
                                        min_size=channels, max_size=channels)))
    invert = np.array(draw(st.lists(st.booleans(), min_size=channels, max_size=channels)))
    return Threshold(thresholds=thresholds, invert=invert, scales=np.ones(n)), frac_bits, bound


# ---- batch norm + activation -------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(case=batchnorm_cases(), seed=SEEDS)
def test_batchnorm_fold_matches_float_model_for_every_y(case, seed):
    norm, activation, frac_bits, bound = case
    stage = SimpleNamespace(norm=norm, activation=activation)
    thresholds, invert = fold_thresholds(stage, frac_bits, bound)
    _check_threshold_array(thresholds, invert, norm.channels, activation.n, bound)
    np.testing.assert_array_equal(invert, norm.scale() < 0)
    y = _test_values(np.random.default_rng(seed), thresholds, bound)
    expected = _float_batchnorm_bits(y, norm, activation, frac_bits)
    np.testing.assert_array_equal(_integer_bits(y, thresholds, invert), expected)


def test_batchnorm_fold_always_never_and_constant():
    bound, frac_bits = 1000, 4
    span = np.ldexp(bound + 1.0, -frac_bits)
    norm = BatchNorm(gamma=[1.0, 1.0, -1.0, 0.0, 0.0, 2.0],
                     beta=[0.0, 0.0, 0.0, 0.7, 0.2, 0.0],
                     mean=[-1e6 * span, 1e6 * span, -1e6 * span, 0.0, 0.0, 0.0],
                     var=[1.0, 1.0, 1.0, 1.0, 1.0, 3.0], eps=1.0)
    activation = Activation(shifts=[0.0], scales=[1.0])
    stage = SimpleNamespace(norm=norm, activation=activation)
    thresholds, invert = fold_thresholds(stage, frac_bits, bound)
    # channel 0: R huge -> always; 1: R very negative -> never; 2: gamma < 0 with y far above the
    # mean -> R very negative -> never (inverted comparator); 3: gamma = 0, beta + v = 0.7 ->
    # always; 4: gamma = 0, 0.2 -> never; 5: R = (y/16) * 2/2 >= 0.5 <=> y >= 8.
    np.testing.assert_array_equal(thresholds[:, 0],
                                  [-(bound + 1), bound + 1, -(bound + 1), -(bound + 1),
                                   bound + 1, 8])
    np.testing.assert_array_equal(invert, [False, False, True, False, False, False])
    y = np.arange(-(bound + 1), bound + 1)
    bits = _integer_bits(y, thresholds, invert)[0]
    assert bits[:, 0].all() and not bits[:, 1].any() and not bits[:, 2].any()
    assert bits[:, 3].all() and not bits[:, 4].any()
    np.testing.assert_array_equal(bits[:, 5], y >= 8)


def test_batchnorm_fold_exact_tie_and_negative_gamma():
    # R = (y * 2**-2 - 1) * (-1) + 0 with v = 0.5: fires when R >= 0, i.e. y * 2**-2 <= 1, y <= 4.
    norm = BatchNorm(gamma=[-2.0], beta=[0.0], mean=[1.0], var=[3.0], eps=1.0)
    activation = Activation(shifts=[0.5], scales=[1.0])
    thresholds, invert = fold_thresholds(SimpleNamespace(norm=norm, activation=activation), 2, 100)
    assert thresholds.tolist() == [[5]] and invert.tolist() == [True]
    y = np.arange(-101, 101)
    np.testing.assert_array_equal(_integer_bits(y, thresholds, invert)[0, :, 0], y <= 4)


def test_fold_on_a_real_network_stage_matches_lower():
    rng = np.random.default_rng(7)
    conv = Conv(bases=rng.choice(np.array([-1, 1], dtype=np.int8), size=(2, 3, 1, 3, 3)),
                alpha=[0.6, 0.2], padding=1)
    norm = BatchNorm(gamma=[1.5, -0.5, 0.0], beta=[0.1, -0.2, 0.3], mean=[10.0, -5.0, 0.0],
                     var=[400.0, 900.0, 1.0])
    activation = Activation(shifts=[-0.5, 0.0, 0.5], scales=[1.0, 0.5, 0.25])
    dense = Dense(bases=rng.choice(np.array([-1, 1], dtype=np.int8), size=(1, 2, 3 * 5 * 5)),
                  alpha=[0.1])
    network = Network(input_shape=(1, 5, 5), layers=[conv, norm, activation, dense])
    stage = network.stages[0]
    lowered = lower(network).stages[0]
    thresholds, invert = fold_thresholds(stage, lowered.frac_bits, lowered.bound)
    np.testing.assert_array_equal(thresholds, lowered.thresholds)
    np.testing.assert_array_equal(invert, lowered.invert)
    y = np.arange(-(lowered.bound + 1), lowered.bound + 1)
    np.testing.assert_array_equal(_integer_bits(y, thresholds, invert),
                                  _float_batchnorm_bits(y, norm, activation, lowered.frac_bits))


# ---- folded Threshold layers -------------------------------------------------------------------

@settings(max_examples=300, deadline=None)
@given(case=threshold_cases(), seed=SEEDS)
def test_threshold_fold_matches_float_model_for_every_y(case, seed):
    threshold, frac_bits, bound = case
    stage = SimpleNamespace(norm=None, activation=threshold)
    thresholds, invert = fold_thresholds(stage, frac_bits, bound)
    _check_threshold_array(thresholds, invert, threshold.channels, threshold.n, bound)
    np.testing.assert_array_equal(invert, threshold.invert)
    y = _test_values(np.random.default_rng(seed), thresholds, bound)
    np.testing.assert_array_equal(_integer_bits(y, thresholds, invert),
                                  _float_threshold_bits(y, threshold, frac_bits))


def test_threshold_fold_hand_values():
    threshold = Threshold(thresholds=[[1.0, 1.1, np.inf, -np.inf],
                                      [1.0, 1.1, np.inf, -np.inf]],
                          invert=[False, True], scales=np.ones(4))
    thresholds, invert = fold_thresholds(SimpleNamespace(norm=None, activation=threshold), 3, 50)
    # t * 8 = 8 and 8.8: y >= 8, y >= 9; inverted: y <= 8 is y < 9, y <= 8.8 is y < 9.
    np.testing.assert_array_equal(thresholds, [[8, 9, 51, -51], [9, 9, 51, -51]])
    np.testing.assert_array_equal(invert, [False, True])


@pytest.mark.parametrize("frac_bits", [-1, -2, -30])
@pytest.mark.parametrize("invert", [False, True])
def test_threshold_fold_with_subnormal_thresholds(frac_bits, invert):
    # Found by these tests: t * 2**f underflows to +-0 for a tiny t and a negative f, and
    # ceil(0) = 0 made y = 0 fire although 0 >= 5e-324 is false.
    tiny = [5e-324, -5e-324, 1e-310, -1e-310, 2.2250738585072014e-308, -2.2250738585072014e-308]
    threshold = Threshold(thresholds=[tiny], invert=[invert], scales=np.ones(len(tiny)))
    thresholds, flags = fold_thresholds(SimpleNamespace(norm=None, activation=threshold),
                                        frac_bits, 10)
    y = np.arange(-11, 11)
    np.testing.assert_array_equal(_integer_bits(y, thresholds, flags),
                                  _float_threshold_bits(y, threshold, frac_bits))


# ---- the comparator bank -----------------------------------------------------------------------

def test_compare_shapes_and_semantics():
    thresholds = np.array([[0, 5], [-3, 3]])
    invert = np.array([False, True])
    y = np.arange(2 * 2 * 3 * 4).reshape(2, 2, 3, 4) - 10          # (B, C, H, W)
    bits = compare(y, thresholds, invert)
    assert bits.shape == (2, 2, 2, 3, 4) and bits.dtype == np.bool_
    for n in range(2):
        np.testing.assert_array_equal(bits[n, :, 0], y[:, 0] >= thresholds[0, n])
        np.testing.assert_array_equal(bits[n, :, 1], y[:, 1] < thresholds[1, n])
    dense = compare(y[:, :, 0, 0], thresholds, invert)
    np.testing.assert_array_equal(dense, bits[:, :, :, 0, 0])
