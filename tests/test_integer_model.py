"""abchw.golden.integer_model against the float model, naive loop references and hand values.

(a) exactly representable (dyadic) coefficients: every bit of every stage and every score agree;
(b) otherwise, stage by stage on the same input bits: the accumulators differ by at most
    ``K * sum_mn |c_mn - q_mn 2**-f|`` per output channel, and a bit differs only where the float
    accumulator lies within that distance of the point where its bit changes;
(c) padding inserts -1 taps; (d) batching changes nothing; (e) the K order ``(ky, kx, c_in)`` of
    ``weight_bits`` and ``conv_windows`` matches explicit loops.
"""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from networks import networks, random_images, random_network, stage_coefficients

from abchw.golden.approximation import binarize_activations
from abchw.golden.bits import from_bits, to_bits
from abchw.golden.fixed_point import accumulator_bound, is_exact, quantize_coefficients
from abchw.golden.float_model import (batch_norm, float_forward, float_stage, input_planes,
                                      threshold_bits)
from abchw.golden.integer_model import (conv_windows, input_bits, integer_forward, integer_stage,
                                        lower)
from abchw.network import INPUT_BITS, Activation, BatchNorm, Conv, Dense, Network, Threshold

SEEDS = st.integers(0, 2 ** 32 - 1)


def _in_scales(network, index):
    if index == 0:
        return 2.0 ** np.arange(INPUT_BITS)
    return network.stages[index - 1].activation.scales


def _channel_shape(y):
    return (1, -1) + (1,) * (y.ndim - 2)


# ---- lowering ------------------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(case=networks())
def test_lower_quantizes_each_stage(case):
    network, _, _ = case
    inet = lower(network)
    assert inet.input_shape == network.input_shape and inet.coef_bits == 16
    for index, (stage, lowered) in enumerate(zip(network.stages, inet.stages)):
        c = stage_coefficients(stage.linear.alpha, stage.linear.out_channels,
                               _in_scales(network, index))
        q, f = quantize_coefficients(c)
        np.testing.assert_array_equal(lowered.coefficients, q)
        assert lowered.frac_bits == f
        assert lowered.bound == accumulator_bound(q, stage.k)
        assert lowered.k == stage.k and lowered.m == stage.linear.m
        assert lowered.n_in == stage.n_in and lowered.n_out == stage.n_out
        assert lowered.weight_bits.shape == (stage.linear.m, stage.linear.out_channels, stage.k)
        assert (lowered.thresholds is None) == (stage.activation is None)
    assert inet.score_frac_bits == inet.stages[-1].frac_bits


def test_input_bits_are_the_float_models_planes():
    images = np.arange(256, dtype=np.uint8).reshape(1, 1, 16, 16)
    bits = input_bits(images)
    planes, scales = input_planes(images)
    assert bits.shape == (8, 1, 1, 16, 16) and bits.dtype == np.bool_
    np.testing.assert_array_equal(bits, to_bits(planes))
    np.testing.assert_array_equal(np.tensordot(scales, planes, axes=1),
                                  2.0 * images - 255.0)


# ---- (a) exact coefficients: bit-exact agreement ------------------------------------------------

def _assert_exact_agreement(network, images):
    inet = lower(network)
    for index, stage in enumerate(network.stages):     # premise: every coefficient is exact
        c = stage_coefficients(stage.linear.alpha, stage.linear.out_channels,
                               _in_scales(network, index))
        assert is_exact(c, inet.stages[index].coefficients, inet.stages[index].frac_bits)
    floats = float_forward(network, images)
    integers = integer_forward(inet, images)
    assert len(floats) == len(integers) == len(network.stages)
    for lowered, fl, it in zip(inet.stages, floats, integers):
        np.testing.assert_array_equal(np.ldexp(it.y.astype(np.float64), -lowered.frac_bits), fl.y)
        if lowered.thresholds is None:
            assert fl.planes is None and it.bits is None
        else:
            np.testing.assert_array_equal(it.bits, to_bits(fl.planes))
    scores = np.ldexp(integers[-1].y.astype(np.float64), -inet.score_frac_bits)
    np.testing.assert_array_equal(scores, floats[-1].y)


@settings(max_examples=300, deadline=None)
@given(case=networks(dyadic=True))
def test_dyadic_networks_agree_bit_for_bit(case):
    network, images, _ = case
    _assert_exact_agreement(network, images)


@pytest.mark.parametrize("kernel,padding,stride",
                         list(itertools.product([1, 3], [0, 1, 2], [1, 2])))
def test_dyadic_networks_agree_for_every_conv_geometry(kernel, padding, stride):
    for seed in range(4):
        rng = np.random.default_rng(1000 * kernel + 100 * padding + 10 * stride + seed)
        network = random_network(rng, dyadic=True, first_conv=(kernel, padding, stride))
        linear = network.stages[0].linear
        assert (linear.kernel, linear.padding, linear.stride) == (kernel, padding, stride)
        _assert_exact_agreement(network, random_images(rng, network, batch=2))


# ---- (b) non-dyadic coefficients: the error bound -----------------------------------------------

def _bits_of(stage, y):
    """The float model's output bits for accumulator values ``y`` of ``stage``."""
    if isinstance(stage.activation, Threshold):
        return to_bits(threshold_bits(y, stage.activation))
    return to_bits(binarize_activations(batch_norm(y, stage.norm), stage.activation.shifts))


def _stage_by_stage(network, images, coef_bits=16):
    """Yield (stage, lowered, float result, integer result, per-channel error bound, slack)."""
    inet = lower(network, coef_bits=coef_bits)
    bits = input_bits(images)
    for index, (stage, lowered) in enumerate(zip(network.stages, inet.stages)):
        scales = _in_scales(network, index)
        fl = float_stage(stage, from_bits(bits).astype(np.float64), scales)
        it = integer_stage(lowered, bits)
        c = stage_coefficients(stage.linear.alpha, stage.linear.out_channels, scales)
        error = np.abs(c - np.ldexp(lowered.coefficients.astype(np.float64), -lowered.frac_bits))
        bound = stage.k * error.sum(axis=(1, 2))                            # (C_out,)
        slack = 1e-9 * stage.k * np.abs(c).sum(axis=(1, 2))                # float64 rounding
        yield stage, lowered, fl, it, bound, slack
        bits = it.bits


@settings(max_examples=300, deadline=None)
@given(case=networks(), coef_bits=st.sampled_from([16, 16, 8, 4]))
def test_float_and_integer_accumulators_within_documented_bound(case, coef_bits):
    network, images, _ = case
    for stage, lowered, fl, it, bound, slack in _stage_by_stage(network, images, coef_bits):
        shape = _channel_shape(fl.y)
        y_int = np.ldexp(it.y.astype(np.float64), -lowered.frac_bits)
        limit = (bound + slack).reshape(shape)
        assert (np.abs(fl.y - y_int) <= limit).all()
        # The coarser form of the bound in docs/arithmetic.md: K * M * N * 2**-(f+1).
        m, n = lowered.coefficients.shape[1:]
        assert (bound <= stage.k * m * n * np.ldexp(1.0, -lowered.frac_bits - 1)).all()
        if stage.activation is None:
            continue
        # A bit may differ only where the float bit changes within the error bound of y_float.
        float_bits = to_bits(fl.planes)
        differ = float_bits != it.bits
        if differ.any():
            low, high = _bits_of(stage, fl.y - limit), _bits_of(stage, fl.y + limit)
            assert (low != high)[differ].all()
        # The integer bit is exactly the float model's bit at y_int * 2**-f (the exact fold).
        np.testing.assert_array_equal(it.bits, _bits_of(stage, y_int))


# ---- (c) padding ---------------------------------------------------------------------------------

def _first_layer_hand_y(conv, q, pixels, pad=-1):
    """y for a single conv stage on one image, by hand: taps outside the image are ``pad`` in
    every bit-plane, taps inside are the pixel's bits."""
    m, c_out, c_in, k, _ = conv.bases.shape
    _, h, w = pixels.shape
    p, s = conv.padding, conv.stride
    ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    y = np.zeros((c_out, ho, wo), dtype=np.int64)
    for o, i, j in itertools.product(range(c_out), range(ho), range(wo)):
        total = 0
        for mm, b in itertools.product(range(m), range(INPUT_BITS)):
            dot = 0
            for c, ky, kx in itertools.product(range(c_in), range(k), range(k)):
                yy, xx = i * s + ky - p, j * s + kx - p
                inside = 0 <= yy < h and 0 <= xx < w
                a = (1 if (int(pixels[c, yy, xx]) >> b) & 1 else -1) if inside else pad
                dot += int(conv.bases[mm, o, c, ky, kx]) * a
            total += int(q[o, mm, b]) * dot
        y[o, i, j] = total
    return y


@pytest.mark.parametrize("padding,stride,kernel", [(1, 1, 3), (2, 1, 3), (1, 2, 3), (2, 2, 3),
                                                   (2, 1, 1), (1, 2, 1)])
def test_padding_taps_are_minus_one(padding, stride, kernel):
    rng = np.random.default_rng(padding * 10 + stride + kernel)
    bases = rng.choice(np.array([-1, 1], dtype=np.int8), size=(2, 3, 2, kernel, kernel))
    conv = Conv(bases=bases, alpha=[[0.75, 0.25], [0.5, -0.125], [1.0, 0.375]],
                padding=padding, stride=stride)
    network = Network(input_shape=(2, 4, 5), layers=[conv])
    inet = lower(network)
    q = inet.stages[0].coefficients
    zero = np.zeros((1, 2, 4, 5), dtype=np.uint8)
    full = np.full((1, 2, 4, 5), 255, dtype=np.uint8)
    for images in (zero, full):
        hand = _first_layer_hand_y(conv, q, images[0])
        y = integer_forward(inet, images)[-1].y[0]
        np.testing.assert_array_equal(y, hand)
        # The float model pads the same way (dyadic alpha: exact).
        np.testing.assert_array_equal(float_forward(network, images)[-1].y[0],
                                      np.ldexp(hand.astype(np.float64), -inet.stages[0].frac_bits))
    # The check has teeth: padding with +1 would give different values on the all-255 image.
    assert not np.array_equal(integer_forward(inet, full)[-1].y[0],
                              _first_layer_hand_y(conv, q, full[0], pad=1))
    # On the all-zero image every tap, padded or not, is -1: y is the same at every position.
    y = integer_forward(inet, zero)[-1].y[0]
    expected = -(q * bases.reshape(2, 3, -1).sum(axis=2).T[:, :, None]).sum(axis=(1, 2))
    np.testing.assert_array_equal(y, np.broadcast_to(expected[:, None, None], y.shape))


# ---- (d) batching ------------------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(case=networks())
def test_batched_equals_one_by_one(case):
    network, _, rng = case
    images = random_images(rng, network, batch=4)
    inet = lower(network)
    batched = integer_forward(inet, images)
    singles = [integer_forward(inet, images[i:i + 1]) for i in range(len(images))]
    for index, result in enumerate(batched):
        np.testing.assert_array_equal(
            result.y, np.concatenate([single[index].y for single in singles]))
        if result.bits is not None:
            np.testing.assert_array_equal(
                result.bits, np.concatenate([single[index].bits for single in singles], axis=1))


@settings(max_examples=20, deadline=None)
@given(case=networks(dyadic=True))
def test_batched_equals_one_by_one_in_the_float_model_with_exact_coefficients(case):
    network, _, rng = case
    images = random_images(rng, network, batch=3)
    batched = float_forward(network, images)
    singles = [float_forward(network, images[i:i + 1]) for i in range(len(images))]
    for index, result in enumerate(batched):
        np.testing.assert_array_equal(
            result.y, np.concatenate([single[index].y for single in singles]))


# ---- (e) K order and naive loops ---------------------------------------------------------------

def _naive_stage_y(stage, lowered, bits):
    """y of one stage (before max-pool) from input bits ``(N, B, ...)`` by explicit loops over
    output positions and taps; conv taps outside the image are -1."""
    q = lowered.coefficients
    bases = stage.linear.bases
    m, c_out = bases.shape[:2]
    n, batch = bits.shape[:2]
    signs = np.where(bits, 1, -1)
    if isinstance(stage.linear, Dense):
        flat = signs.reshape(n, batch, -1)
        y = np.zeros((batch, c_out), dtype=np.int64)
        for b, o in itertools.product(range(batch), range(c_out)):
            dots = np.zeros((m, n), dtype=np.int64)
            for i in range(flat.shape[2]):          # C-major flattening index
                dots += np.outer(bases[:, o, i], flat[:, b, i])
            y[b, o] = int((q[o] * dots).sum())
        return y
    conv = stage.linear
    _, _, c_in, h, w = bits.shape
    k, p, s = conv.kernel, conv.padding, conv.stride
    ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    y = np.zeros((batch, c_out, ho, wo), dtype=np.int64)
    for b, o, i, j in itertools.product(range(batch), range(c_out), range(ho), range(wo)):
        dots = np.zeros((m, n), dtype=np.int64)
        for ky, kx, c in itertools.product(range(k), range(k), range(c_in)):
            yy, xx = i * s + ky - p, j * s + kx - p
            a = signs[:, b, c, yy, xx] if 0 <= yy < h and 0 <= xx < w else -np.ones(n, int)
            dots += np.outer(bases[:, o, c, ky, kx], a)
        y[b, o, i, j] = int((q[o] * dots).sum())
    return y


def _naive_max_pool(y, size, stride):
    b, c, h, w = y.shape
    ho, wo = (h - size) // stride + 1, (w - size) // stride + 1
    out = np.empty((b, c, ho, wo), dtype=y.dtype)
    for bb, cc, i, j in itertools.product(range(b), range(c), range(ho), range(wo)):
        out[bb, cc, i, j] = max(y[bb, cc, i * stride + di, j * stride + dj]
                                for di in range(size) for dj in range(size))
    return out


@settings(max_examples=60, deadline=None)
@given(case=networks(max_m=4, max_n=4))
def test_integer_stages_match_naive_loops(case):
    network, images, rng = case
    inet = lower(network)
    bits = input_bits(images[:2])
    for stage, lowered in zip(network.stages, inet.stages):
        result = integer_stage(lowered, bits)
        y = _naive_stage_y(stage, lowered, bits)
        if stage.pool is not None:
            y = _naive_max_pool(y, stage.pool.size, stage.pool.stride)
        np.testing.assert_array_equal(result.y, y)
        if lowered.thresholds is not None:
            shape = _channel_shape(y)
            for n in range(lowered.n_out):
                t = lowered.thresholds[:, n].reshape(shape)
                np.testing.assert_array_equal(result.bits[n],
                                              (y >= t) ^ lowered.invert.reshape(shape))
        bits = result.bits


@settings(max_examples=30, deadline=None)
@given(seed=SEEDS, kernel=st.sampled_from([1, 2, 3]), padding=st.integers(0, 2),
       stride=st.integers(1, 2), c_in=st.integers(1, 3))
def test_weight_bits_and_conv_windows_share_the_k_order(seed, kernel, padding, stride, c_in):
    rng = np.random.default_rng(seed)
    m, c_out, n, batch, h, w = 2, 3, 2, 2, 4, 5
    bases = rng.choice(np.array([-1, 1], dtype=np.int8), size=(m, c_out, c_in, kernel, kernel))
    conv = Conv(bases=bases, alpha=np.ones(m), padding=padding, stride=stride)
    network = Network(input_shape=(c_in, h, w), layers=[conv])
    weight_bits = lower(network).stages[0].weight_bits
    assert weight_bits.shape == (m, c_out, kernel * kernel * c_in)
    for mm, o, ky, kx, c in itertools.product(range(m), range(c_out), range(kernel),
                                              range(kernel), range(c_in)):
        assert weight_bits[mm, o, (ky * kernel + kx) * c_in + c] == (bases[mm, o, c, ky, kx] > 0)
    planes = rng.random((n, batch, c_in, h, w)) < 0.5
    windows = conv_windows(planes, kernel, stride, padding)
    ho, wo = (h + 2 * padding - kernel) // stride + 1, (w + 2 * padding - kernel) // stride + 1
    assert windows.shape == (n, batch, ho, wo, kernel * kernel * c_in)
    for nn, b, i, j, ky, kx, c in itertools.product(range(n), range(batch), range(ho), range(wo),
                                                    range(kernel), range(kernel), range(c_in)):
        yy, xx = i * stride + ky - padding, j * stride + kx - padding
        expected = planes[nn, b, c, yy, xx] if 0 <= yy < h and 0 <= xx < w else False
        assert windows[nn, b, i, j, (ky * kernel + kx) * c_in + c] == expected


def test_two_stage_hand_example():
    # 1x1x2 image, dense 2 -> 1 with a threshold, then dense 1 -> 1: every number by hand.
    first = Dense(bases=np.array([[[1, -1]]], dtype=np.int8), alpha=[0.5])
    threshold = Threshold(thresholds=[[0.0]], invert=[False], scales=[2.0])
    last = Dense(bases=np.array([[[1]]], dtype=np.int8), alpha=[0.25])
    network = Network(input_shape=(2, 1, 1), layers=[first, threshold, last])
    images = np.array([[[[200]], [[100]]], [[[3]], [[250]]]], dtype=np.uint8)
    # float: x = 2*pixel - 255 = (145, -55) -> y = 0.5*(145+55) = 100 -> bit 1;
    #        x = (-249, 245) -> y = 0.5*(-249-245) = -247 -> bit 0.
    floats = float_forward(network, images)
    np.testing.assert_array_equal(floats[0].y, [[100.0], [-247.0]])
    np.testing.assert_array_equal(floats[1].y, [[0.5], [-0.5]])
    integers = integer_forward(lower(network), images)
    inet = lower(network)
    np.testing.assert_array_equal(np.ldexp(integers[0].y.astype(float), -inet.stages[0].frac_bits),
                                  [[100.0], [-247.0]])
    np.testing.assert_array_equal(integers[0].bits[0], [[True], [False]])
    np.testing.assert_array_equal(np.ldexp(integers[1].y.astype(float), -inet.score_frac_bits),
                                  [[0.5], [-0.5]])


def test_batchnorm_network_hand_example():
    # Same first layer with batch norm: R = (y - 50) * (1 / 10) + 0, v = (0, -5).
    first = Dense(bases=np.array([[[1, -1]]], dtype=np.int8), alpha=[0.5])
    norm = BatchNorm(gamma=[1.0], beta=[0.0], mean=[50.0], var=[99.0], eps=1.0)
    activation = Activation(shifts=[0.0, -5.0], scales=[1.0, 1.0])
    last = Dense(bases=np.array([[[1]]], dtype=np.int8), alpha=[1.0])
    network = Network(input_shape=(2, 1, 1), layers=[first, norm, activation, last])
    images = np.array([[[[200]], [[100]]], [[[155]], [[100]]]], dtype=np.uint8)
    # y = 100 -> R = 5: bits (R >= 0.5, R >= 5.5) = (1, 0); y = 55 -> R = 0.5, a tie: (1, 0).
    # The last stage sums A_0 + A_1 = 0 for both.
    integers = integer_forward(lower(network), images)
    np.testing.assert_array_equal(integers[0].bits[:, :, 0], [[True, True], [False, False]])
    floats = float_forward(network, images)
    np.testing.assert_array_equal(to_bits(floats[0].planes), integers[0].bits)
    np.testing.assert_array_equal(floats[1].y, [[0.0], [0.0]])
