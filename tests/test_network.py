"""Validation of layers and networks (abchw/network.py): every message, and stage grouping."""

import re

import numpy as np
import pytest

from abchw.errors import AbchwError, NetworkError
from abchw.network import (DIM_MAX, INPUT_BITS, K_MAX, M_MAX, N_MAX, Activation, BatchNorm, Conv,
                           Dense, MaxPool, Network, Threshold)


def conv(c_out, c_in, k=3, m=1, **kw):
    return Conv(np.ones((m, c_out, c_in, k, k), np.int8), np.ones(m), **kw)


def dense(c_out, c_in, m=1):
    return Dense(np.ones((m, c_out, c_in), np.int8), np.ones(m))


def bn(c):
    return BatchNorm(np.ones(c), np.zeros(c), np.zeros(c), np.ones(c))


def act(n=1):
    return Activation(np.zeros(n), np.ones(n))


def thr(c, n=1):
    return Threshold(np.zeros((c, n)), np.zeros(c, bool), np.ones(n))


def bases_with(shape, index, value):
    bases = np.ones(shape, np.int64)
    bases[index] = value
    return bases


def with_nan(shape, index, value=np.nan):
    array = np.ones(shape)
    array[index] = value
    return array


def test_limits_are_the_documented_ones():
    assert (M_MAX, N_MAX, K_MAX, DIM_MAX, INPUT_BITS) == (8, 8, 32767, 4096, 8)
    assert issubclass(NetworkError, AbchwError) and issubclass(NetworkError, ValueError)


BAD_LAYERS = [
    # bases
    pytest.param(lambda: Conv(bases_with((1, 2, 1, 3, 3), (0, 1, 0, 2, 1), 0), [1.0]),
                 r"^'bases' must hold only -1 and \+1, not 0 at index \(0, 1, 0, 2, 1\)$",
                 id="conv-bases-zero"),
    pytest.param(lambda: Dense(bases_with((2, 3, 4), (1, 2, 3), 2), np.ones(2)),
                 r"^'bases' must hold only -1 and \+1, not 2 at index \(1, 2, 3\)$",
                 id="dense-bases-two"),
    pytest.param(lambda: Conv(np.ones((1, 2, 1, 3, 3)), np.ones(1)),
                 r"^'bases' must be an integer array of -1/\+1, not dtype float64$",
                 id="bases-float"),
    pytest.param(lambda: Conv(np.ones((1, 2, 1, 3, 3), bool), np.ones(1)),
                 r"^'bases' must be an integer array of -1/\+1, not dtype bool$", id="bases-bool"),
    pytest.param(lambda: Conv(np.ones((2, 1, 3, 3), np.int8), np.ones(2)),
                 r"^'bases' must have 5 dimensions, not shape \(2, 1, 3, 3\)$", id="conv-bases-4d"),
    pytest.param(lambda: Dense(np.ones((1, 3, 4, 1), np.int8), np.ones(1)),
                 r"^'bases' must have 3 dimensions, not shape \(1, 3, 4, 1\)$",
                 id="dense-bases-4d"),
    pytest.param(lambda: Conv(np.ones((0, 2, 1, 3, 3), np.int8), np.ones(0)),
                 r"^'bases' has M = 0 weight bases; M must be in 1\.\.8$", id="m0"),
    pytest.param(lambda: Dense(np.ones((9, 2, 3), np.int8), np.ones(9)),
                 r"^'bases' has M = 9 weight bases; M must be in 1\.\.8$", id="m9"),
    pytest.param(lambda: Conv(np.ones((1, 0, 1, 3, 3), np.int8), np.ones(1)),
                 r"^'bases' must not be empty, not shape \(1, 0, 1, 3, 3\)$", id="bases-empty"),
    pytest.param(lambda: Conv(np.ones((1, 2, 1, 3, 2), np.int8), np.ones(1)),
                 r"^'bases' must have a square kernel, not 3x2$", id="non-square"),
    # alpha
    pytest.param(lambda: Conv(np.ones((2, 4, 1, 3, 3), np.int8), np.ones(3)),
                 r"^'alpha' must have shape \(2,\) or \(4, 2\) to match 'bases', not \(3,\)$",
                 id="alpha-length"),
    pytest.param(lambda: Dense(np.ones((2, 4, 3), np.int8), np.ones((2, 4))),
                 r"^'alpha' must have shape \(2,\) or \(4, 2\) to match 'bases', not \(2, 4\)$",
                 id="alpha-transposed"),
    pytest.param(lambda: Dense(np.ones((1, 4, 3), np.int8), np.ones((4, 1, 1))),
                 r"^'alpha' must have 1 or 2 dimension\(s\), not shape \(4, 1, 1\)$",
                 id="alpha-3d"),
    pytest.param(lambda: Dense(np.ones((2, 4, 3), np.int8), with_nan(2, 1)),
                 r"^'alpha' must be finite, not nan at index \(1,\)$", id="alpha-nan"),
    pytest.param(lambda: Dense(np.ones((2, 4, 3), np.int8), with_nan((4, 2), (2, 0), np.inf)),
                 r"^'alpha' must be finite, not inf at index \(2, 0\)$", id="alpha-inf"),
    pytest.param(lambda: Dense(np.ones((1, 4, 3), np.int8), [-np.inf]),
                 r"^'alpha' must be finite, not -inf at index \(0,\)$", id="alpha-minus-inf"),
    pytest.param(lambda: Dense(np.ones((1, 4, 3), np.int8), np.ones(1, bool)),
                 r"^'alpha' must hold real numbers, not dtype bool$", id="alpha-bool"),
    pytest.param(lambda: Dense(np.ones((1, 4, 3), np.int8), ["1"]),
                 r"^'alpha' must hold real numbers, not dtype <U1$", id="alpha-text"),
    # stride / padding / pool
    pytest.param(lambda: conv(2, 1, stride=0), r"^'stride' must be in 1..4096, not 0$",
                 id="stride-0"),
    pytest.param(lambda: conv(2, 1, stride=1.5), r"^'stride' must be an integer, not 1\.5$",
                 id="stride-float"),
    pytest.param(lambda: conv(2, 1, stride="1"), r"^'stride' must be an integer, not '1'$",
                 id="stride-text"),
    pytest.param(lambda: conv(2, 1, stride=True), r"^'stride' must be an integer, not True$",
                 id="stride-bool"),
    pytest.param(lambda: conv(2, 1, padding=-1), r"^'padding' must be in 0..4096, not -1$",
                 id="padding-negative"),
    pytest.param(lambda: conv(2, 1, padding=None), r"^'padding' must be an integer, not None$",
                 id="padding-none"),
    pytest.param(lambda: MaxPool(0), r"^'size' must be in 1..4096, not 0$", id="pool-size-0"),
    pytest.param(lambda: MaxPool(2.0), r"^'size' must be an integer, not 2\.0$",
                 id="pool-size-float"),
    pytest.param(lambda: MaxPool(2, 0), r"^'stride' must be in 1..4096, not 0$",
                 id="pool-stride-0"),
    # batch norm
    pytest.param(lambda: BatchNorm(np.ones(3), np.zeros(3), np.zeros(3), np.ones(2)),
                 "^" + re.escape("'gamma' and 'beta', 'mean', 'var' must have one shape, not "
                                 "{'gamma': (3,), 'beta': (3,), 'mean': (3,), 'var': (2,)}") + "$",
                 id="bn-shapes"),
    pytest.param(lambda: BatchNorm(np.ones((1, 3)), np.zeros(3), np.zeros(3), np.ones(3)),
                 r"^'gamma' must have 1 dimension\(s\), not shape \(1, 3\)$", id="bn-gamma-2d"),
    pytest.param(lambda: BatchNorm(np.ones(3), np.zeros(3), with_nan(3, 2), np.ones(3)),
                 r"^'mean' must be finite, not nan at index \(2,\)$", id="bn-mean-nan"),
    pytest.param(lambda: BatchNorm(np.ones(3), np.zeros(3), np.zeros(3), [1.0, -0.5, -0.25]),
                 r"^'var' must be non-negative, not -0\.5$", id="bn-var-negative"),
    pytest.param(lambda: BatchNorm(np.ones(2), np.zeros(2), np.zeros(2), np.ones(2), eps=0),
                 r"^'eps' must be a positive finite number, not 0$", id="bn-eps-0"),
    pytest.param(lambda: BatchNorm(np.ones(2), np.zeros(2), np.zeros(2), np.ones(2), eps=-1e-5),
                 r"^'eps' must be a positive finite number, not -1e-05$", id="bn-eps-negative"),
    pytest.param(lambda: BatchNorm(np.ones(2), np.zeros(2), np.zeros(2), np.ones(2),
                                   eps=float("inf")),
                 r"^'eps' must be a positive finite number, not inf$", id="bn-eps-inf"),
    pytest.param(lambda: BatchNorm(np.ones(2), np.zeros(2), np.zeros(2), np.ones(2),
                                   eps=float("nan")),
                 r"^'eps' must be a positive finite number, not nan$", id="bn-eps-nan"),
    pytest.param(lambda: BatchNorm(np.ones(2), np.zeros(2), np.zeros(2), np.ones(2), eps="tiny"),
                 r"^'eps' must be a positive finite number, not 'tiny'$", id="bn-eps-text"),
    pytest.param(lambda: BatchNorm(np.ones(2), np.zeros(2), np.zeros(2), np.ones(2), eps=None),
                 r"^'eps' must be a positive finite number, not None$", id="bn-eps-none"),
    pytest.param(lambda: BatchNorm([1.0, 1e300], np.zeros(2), np.zeros(2), np.zeros(2),
                                   eps=1e-300),
                 r"^'gamma' / sqrt\(var \+ eps\) overflows; the batch norm is degenerate$",
                 id="bn-degenerate"),
    # activation
    pytest.param(lambda: Activation(np.zeros(0), np.ones(0)),
                 r"^'shifts' gives N = 0 binary activations; N must be in 1\.\.8$", id="act-n0"),
    pytest.param(lambda: Activation(np.zeros(9), np.ones(9)),
                 r"^'shifts' gives N = 9 binary activations; N must be in 1\.\.8$", id="act-n9"),
    pytest.param(lambda: Activation(np.zeros(2), np.ones(3)),
                 r"^'scales' must have the shape of 'shifts' \(2,\), not \(3,\)$",
                 id="act-shape-mismatch"),
    pytest.param(lambda: Activation(np.zeros((2, 1)), np.ones(2)),
                 r"^'shifts' must have 1 dimension\(s\), not shape \(2, 1\)$", id="act-shifts-2d"),
    pytest.param(lambda: Activation(np.zeros(2), with_nan(2, 0, np.inf)),
                 r"^'scales' must be finite, not inf at index \(0,\)$", id="act-scales-inf"),
    # threshold
    pytest.param(lambda: Threshold(np.zeros((2, 1)), np.zeros(2, np.int64), np.ones(1)),
                 r"^'invert' must be a boolean array, not dtype int64$", id="thr-invert-int"),
    pytest.param(lambda: Threshold(np.zeros((2, 1)), [False, True, False], np.ones(1)),
                 r"^'invert' must have shape \(2,\), not \(3,\)$", id="thr-invert-shape"),
    pytest.param(lambda: Threshold(np.zeros((2, 1)), np.zeros((2, 1), bool), np.ones(1)),
                 r"^'invert' must have shape \(2,\), not \(2, 1\)$", id="thr-invert-2d"),
    pytest.param(lambda: Threshold(with_nan((2, 3), (1, 2)), np.zeros(2, bool), np.ones(3)),
                 r"^'thresholds' must be finite or \+-inf, not nan at index \(1, 2\)$",
                 id="thr-nan"),
    pytest.param(lambda: Threshold(np.zeros(2), np.zeros(2, bool), np.ones(1)),
                 r"^'thresholds' must have 2 dimension\(s\), not shape \(2,\)$", id="thr-1d"),
    pytest.param(lambda: Threshold(np.zeros((2, 3)), np.zeros(2, bool), np.ones(2)),
                 r"^'scales' must have shape \(3,\), not \(2,\)$", id="thr-scales-shape"),
    pytest.param(lambda: Threshold(np.zeros((2, 1)), np.zeros(2, bool), [np.inf]),
                 r"^'scales' must be finite, not inf at index \(0,\)$", id="thr-scales-inf"),
    pytest.param(lambda: Threshold(np.zeros((2, 0)), np.zeros(2, bool), np.ones(0)),
                 r"^'thresholds' gives N = 0 binary activations; N must be in 1\.\.8$",
                 id="thr-n0"),
    pytest.param(lambda: Threshold(np.zeros((2, 9)), np.zeros(2, bool), np.ones(9)),
                 r"^'thresholds' gives N = 9 binary activations; N must be in 1\.\.8$",
                 id="thr-n9"),
]


@pytest.mark.parametrize("make, match", BAD_LAYERS)
def test_bad_layer_parameters(make, match):
    with pytest.raises(NetworkError, match=match):
        make()


@pytest.mark.parametrize("m", [1, M_MAX])
@pytest.mark.parametrize("n", [1, N_MAX])
def test_m_and_n_limits_are_inclusive(m, n):
    assert conv(2, 1, m=m).m == m
    assert act(n).n == n
    assert thr(3, n).n == n


def test_infinite_thresholds_are_accepted():
    thresholds = np.array([[np.inf, -np.inf], [0.5, -np.inf]])
    layer = Threshold(thresholds, [True, False], [1.0, 2.0])
    np.testing.assert_array_equal(layer.thresholds, thresholds)
    np.testing.assert_array_equal(layer.invert, [True, False])
    assert (layer.channels, layer.n) == (2, 2)
    network = Network((1, 4, 4), [conv(2, 1), layer, dense(3, 8)])
    assert network.stages[0].activation is layer


def test_layers_hold_canonical_read_only_copies():
    bases = np.ones((2, 3, 1, 3, 3), np.int64)
    alpha = np.array([1, 2], np.int32)
    layer = Conv(bases, alpha, stride=np.int64(2), padding=np.int32(1))
    bases[0, 0, 0, 0, 0] = -1
    alpha[0] = 7
    assert layer.bases.dtype == np.int8 and layer.alpha.dtype == np.float64
    assert layer.bases[0, 0, 0, 0, 0] == 1 and layer.alpha.tolist() == [1.0, 2.0]
    assert not layer.bases.flags.writeable and not layer.alpha.flags.writeable
    assert type(layer.stride) is int and type(layer.padding) is int
    assert (layer.stride, layer.padding, layer.kernel) == (2, 1, 3)
    assert (layer.m, layer.out_channels, layer.in_channels) == (2, 3, 1)
    threshold = Threshold([[1]], np.array([True]), [1])
    assert threshold.thresholds.dtype == np.float64 and threshold.invert.dtype == np.bool_
    assert not threshold.invert.flags.writeable
    norm = BatchNorm([1], [0], [0], [1], eps=np.float32(0.5))
    assert type(norm.eps) is float and norm.eps == 0.5
    assert MaxPool(3).stride == 3 and MaxPool(3, 1).stride == 1


def test_batchnorm_scale():
    norm = BatchNorm([2.0, -1.0], [0.0, 0.0], [0.0, 0.0], [3.0, 0.0], eps=1.0)
    np.testing.assert_allclose(norm.scale(), [1.0, -1.0])
    assert norm.channels == 2


@pytest.mark.parametrize("channelwise", [False, True])
@pytest.mark.parametrize("kind", ["conv", "dense"])
def test_weights_are_the_sum_of_scaled_bases(kind, channelwise):
    rng = np.random.default_rng(1)
    m, c_out = 3, 4
    shape = (m, c_out, 2, 3, 3) if kind == "conv" else (m, c_out, 5)
    bases = rng.choice(np.array([-1, 1], np.int8), size=shape)
    alpha = rng.normal(size=(c_out, m) if channelwise else (m,))
    layer = (Conv if kind == "conv" else Dense)(bases, alpha)
    expected = np.zeros(shape[1:])
    for o in range(c_out):
        for i in range(m):
            expected[o] += (alpha[o, i] if channelwise else alpha[i]) * bases[i, o]
    np.testing.assert_allclose(layer.weights(), expected, rtol=1e-12, atol=1e-12)
    assert layer.channelwise == channelwise
    per_channel = layer.alpha_per_channel()
    assert per_channel.shape == (c_out, m)
    np.testing.assert_array_equal(per_channel, alpha if channelwise else np.tile(alpha, (c_out, 1)))


def test_weights_with_one_basis_is_bwn_scaling():
    bases = np.array([[[1, -1, 1], [-1, -1, 1]]], np.int8)
    layer = Dense(bases, [[0.5], [2.0]])
    np.testing.assert_array_equal(layer.weights(), [[0.5, -0.5, 0.5], [-2.0, -2.0, 2.0]])


def test_stage_grouping_and_shapes():
    layers = [
        conv(4, 3, k=3, padding=1),            # 0: (3, 11, 9) -> (4, 11, 9)
        MaxPool(3, 2),                         # 1: -> (4, 5, 4)
        bn(4),                                 # 2
        act(3),                                # 3
        conv(5, 4, k=3, m=2, stride=2, padding=1),  # 4: -> (5, 3, 2)
        thr(5, 2),                             # 5
        dense(7, 30, m=3),                     # 6: 5*3*2 = 30 -> (7,)
        thr(7, 4),                             # 7
        dense(10, 7),                          # 8: -> (10,)
    ]
    network = Network([3, np.int64(11), 9], layers, name="net", classes=[str(i) for i in range(10)])
    assert network.input_shape == (3, 11, 9) and type(network.input_shape[1]) is int
    assert network.classes == tuple(str(i) for i in range(10))
    assert network.layers == tuple(layers)
    stages = network.stages
    assert len(stages) == 4
    assert [s.in_shape for s in stages] == [(3, 11, 9), (4, 5, 4), (30,), (7,)]
    assert [s.out_shape for s in stages] == [(4, 5, 4), (5, 3, 2), (7,), (10,)]
    assert [s.n_in for s in stages] == [INPUT_BITS, 3, 2, 4]
    assert [s.n_out for s in stages] == [3, 2, 4, None]
    assert [s.k for s in stages] == [27, 36, 30, 7]
    assert [(s.linear, s.pool, s.norm, s.activation) for s in stages] == [
        (layers[0], layers[1], layers[2], layers[3]), (layers[4], None, None, layers[5]),
        (layers[6], None, None, layers[7]), (layers[8], None, None, None)]
    assert (network.m, network.n, network.output_shape) == (3, 4, (10,))


@pytest.mark.parametrize("k, stride, padding, pool, expected", [
    (3, 1, 0, None, (2, 8, 6)),
    (3, 2, 0, None, (2, 4, 3)),
    (3, 2, 1, None, (2, 5, 4)),
    (5, 3, 2, None, (2, 4, 3)),
    (1, 1, 0, MaxPool(2), (2, 5, 4)),
    (3, 1, 1, MaxPool(3, 1), (2, 8, 6)),
    (3, 1, 0, MaxPool(3, 2), (2, 3, 2)),
    (8, 1, 0, MaxPool(1), (2, 3, 1)),
])
def test_conv_and_pool_shape_arithmetic(k, stride, padding, pool, expected):
    layers = [conv(2, 1, k=k, stride=stride, padding=padding)] + ([pool] if pool else [])
    network = Network((1, 10, 8), layers)
    assert network.output_shape == expected
    assert network.stages[0].pool is pool


def test_single_stage_network():
    network = Network((2, 3, 3), [Dense(np.ones((5, 4, 18), np.int8), np.ones(5))])
    assert len(network.stages) == 1
    assert (network.m, network.n, network.output_shape) == (5, 0, (4,))
    assert network.stages[0].n_in == INPUT_BITS and network.stages[0].in_shape == (18,)
    assert network.name == "" and network.classes == ()


def test_network_m_and_n_are_the_largest():
    network = Network((1, 6, 6), [conv(2, 1, m=4), bn(2), act(5), conv(3, 2, k=1, m=2),
                                  thr(3, 2), dense(4, 48, m=1)])
    assert (network.m, network.n) == (4, 5)


@pytest.mark.parametrize("shape, k", [
    ((K_MAX, 1, 1), 1),     # conv: K = 1*1*32767
    ((7, 31, 151), None),   # dense: K = 7*31*151 = 32767
])
def test_k_max_is_accepted(shape, k):
    c_in = shape[0] if k else int(np.prod(shape))
    layer = conv(1, c_in, k=k) if k else dense(1, c_in)
    assert Network(shape, [layer]).stages[0].k == K_MAX


@pytest.mark.parametrize("shape", [(1, 6), (1, 6, 6, 1), (0, 6, 6), (1, -6, 6), (1.0, 6, 6),
                                   (True, 6, 6), ("1", 6, 6), "abc", None, 3])
def test_bad_input_shape(shape):
    with pytest.raises(NetworkError, match=r"^'input_shape' must be three integers \(C, H, W\) "
                                           r"with C in 1..32767 and H, W in 1..4096, not "
                                           + re.escape(repr(shape)) + "$"):
        Network(shape, [dense(1, 36)])


BAD_NETWORKS = [
    pytest.param((1, 6, 6), lambda: [],
                 r"^'layers' is empty; a network needs at least one conv or dense layer$",
                 id="empty"),
    pytest.param((1, 6, 6), lambda: [conv(2, 1), "maxpool"],
                 r"^layer 1 is a str, not one of conv, dense, maxpool, batchnorm, activation, "
                 r"threshold$", id="not-a-layer"),
    pytest.param((1, 6, 6), lambda: [MaxPool(2), conv(2, 1)],
                 r"^layer 0 \(maxpool\): expected conv or dense; a stage starts with a conv or "
                 r"dense layer$", id="starts-with-pool"),
    pytest.param((1, 6, 6), lambda: [bn(1), act(), dense(1, 36)],
                 r"^layer 0 \(batchnorm\): expected conv or dense;", id="starts-with-bn"),
    pytest.param((1, 6, 6), lambda: [conv(2, 1), thr(2), thr(2), dense(1, 32)],
                 r"^layer 2 \(threshold\): expected conv or dense \(the previous stage ended\); "
                 r"a stage starts with a conv or dense layer$", id="two-activations"),
    pytest.param((1, 6, 6), lambda: [conv(2, 1), thr(2), MaxPool(2), dense(1, 32)],
                 r"^layer 2 \(maxpool\): expected conv or dense \(the previous stage ended\)",
                 id="pool-after-activation"),
    pytest.param((1, 6, 6), lambda: [conv(2, 1), bn(2), dense(1, 32)],
                 r"^layer 1 \(batchnorm\): must be followed by an activation layer$",
                 id="bn-then-dense"),
    pytest.param((1, 6, 6), lambda: [conv(2, 1), bn(2), thr(2), dense(1, 32)],
                 r"^layer 1 \(batchnorm\): must be followed by an activation layer$",
                 id="bn-then-threshold"),
    pytest.param((1, 6, 6), lambda: [conv(2, 1), bn(2)],
                 r"^layer 1 \(batchnorm\): must be followed by an activation layer$",
                 id="bn-last"),
    pytest.param((1, 6, 6), lambda: [conv(2, 1), act(), dense(1, 32)],
                 r"^layer 1 \(activation\): must follow a batchnorm layer \(use a threshold layer "
                 r"for folded batch norm\)$", id="activation-without-bn"),
    pytest.param((1, 6, 6), lambda: [conv(2, 1), MaxPool(2), act(), dense(1, 8)],
                 r"^layer 2 \(activation\): must follow a batchnorm layer", id="pool-activation"),
    pytest.param((1, 6, 6), lambda: [conv(2, 1), conv(2, 2, k=1)],
                 r"^layer 1 \(conv\): unexpected here; a stage that is not the last must end "
                 r"with batchnorm \+ activation or threshold$", id="hidden-without-activation"),
    pytest.param((1, 6, 6), lambda: [conv(2, 1), MaxPool(2), MaxPool(1)],
                 r"^layer 2 \(maxpool\): unexpected here; a stage that is not the last",
                 id="two-pools"),
    pytest.param((1, 6, 6), lambda: [dense(4, 36), dense(2, 4)],
                 r"^layer 1 \(dense\): unexpected here;", id="dense-dense"),
    pytest.param((1, 6, 6), lambda: [conv(2, 1), thr(2)],
                 r"^layer 1 \(threshold\): the last stage must not have an activation; it "
                 r"returns raw scores$", id="last-threshold"),
    pytest.param((1, 6, 6), lambda: [conv(2, 1), thr(2), dense(3, 32), bn(3), act()],
                 r"^layer 4 \(activation\): the last stage must not have an activation",
                 id="last-activation"),
    pytest.param((1, 6, 6), lambda: [conv(2, 1), bn(3), act(), dense(1, 32)],
                 r"^layer 1 \(batchnorm\): 'gamma' has 3 channels, the layer before has 2$",
                 id="bn-channels"),
    pytest.param((1, 6, 6), lambda: [conv(2, 1), MaxPool(2), bn(1), act(), dense(1, 8)],
                 r"^layer 2 \(batchnorm\): 'gamma' has 1 channels, the layer before has 2$",
                 id="bn-channels-after-pool"),
    pytest.param((1, 6, 6), lambda: [conv(2, 1), thr(3), dense(1, 32)],
                 r"^layer 1 \(threshold\): 'thresholds' has 3 channels, the layer before has 2$",
                 id="threshold-channels"),
    pytest.param((1, 6, 6), lambda: [dense(4, 36), thr(5), dense(1, 4)],
                 r"^layer 1 \(threshold\): 'thresholds' has 5 channels, the layer before has 4$",
                 id="threshold-channels-dense"),
    pytest.param((1, 6, 6), lambda: [conv(2, 3)],
                 r"^layer 0 \(conv\): 'bases' has 3 input channels, its input has 1$",
                 id="conv-in-channels"),
    pytest.param((1, 6, 6), lambda: [conv(2, 1), thr(2), conv(3, 3)],
                 r"^layer 2 \(conv\): 'bases' has 3 input channels, its input has 2$",
                 id="conv-in-channels-second"),
    pytest.param((1, 6, 6), lambda: [dense(4, 36), thr(4), conv(2, 4, k=1)],
                 r"^layer 2 \(conv\): a conv layer cannot follow a dense layer$",
                 id="conv-after-dense"),
    pytest.param((1, 6, 6), lambda: [dense(4, 36), MaxPool(1)],
                 r"^layer 1 \(maxpool\): max-pooling needs a conv layer before it$",
                 id="pool-after-dense"),
    pytest.param((1, 6, 6), lambda: [conv(2, 1, k=9, padding=1)],
                 r"^layer 0 \(conv\): kernel 9x9 is larger than its padded input 8x8$",
                 id="kernel-too-large"),
    pytest.param((1, 6, 10), lambda: [conv(2, 1, k=7)],
                 r"^layer 0 \(conv\): kernel 7x7 is larger than its padded input 6x10$",
                 id="kernel-too-large-height"),
    pytest.param((1, 6, 6), lambda: [conv(2, 1), MaxPool(5)],
                 r"^layer 1 \(maxpool\): pool size 5 is larger than its input 4x4$",
                 id="pool-too-large"),
    pytest.param((3641, 3, 3), lambda: [conv(1, 3641)],
                 r"^layer 0 \(conv\): dot-product length K = 32769 exceeds K_MAX = 32767$",
                 id="conv-k-max"),
    pytest.param((1, 128, 257), lambda: [dense(1, 32896)],
                 r"^layer 0 \(dense\): dot-product length K = 32896 exceeds K_MAX = 32767$",
                 id="dense-k-max"),
    pytest.param((1, 6, 6), lambda: [dense(3, 35)],
                 r"^layer 0 \(dense\): 'bases' has 35 inputs, its input \(1, 6, 6\) has 36 "
                 r"values$", id="dense-inputs"),
    pytest.param((1, 6, 6), lambda: [conv(2, 1), thr(2), dense(3, 36)],
                 r"^layer 2 \(dense\): 'bases' has 36 inputs, its input \(2, 4, 4\) has 32 "
                 r"values$", id="dense-inputs-after-conv"),
]


@pytest.mark.parametrize("input_shape, layers, match", BAD_NETWORKS)
def test_bad_network(input_shape, layers, match):
    with pytest.raises(NetworkError, match=match):
        Network(input_shape, layers())


@pytest.mark.parametrize("classes", [("a", "b"), tuple("abcd")])
def test_classes_must_match_the_scores(classes):
    with pytest.raises(NetworkError, match=rf"^'classes' names {len(classes)} classes but the "
                                           r"network returns 3 scores of shape \(3,\)$"):
        Network((1, 6, 6), [dense(3, 36)], classes=classes)
    conv_net = [conv(2, 1), MaxPool(2)]
    with pytest.raises(NetworkError, match=r"returns 8 scores of shape \(2, 2, 2\)$"):
        Network((1, 6, 6), conv_net, classes=classes)
    assert Network((1, 6, 6), conv_net, classes=tuple("abcdefgh")).classes == tuple("abcdefgh")


@pytest.mark.parametrize("kwargs, message", [
    (dict(classes="abc"), r"^'classes' must be a list of text labels, not 'abc'$"),
    (dict(classes=[0, 1]), r"^'classes' must be a list of text labels, not \[0, 1\]$"),
    (dict(layers=None), r"^'layers' must be a list of layers, not None$"),
])
def test_network_argument_types(kwargs, message):
    arguments = dict(input_shape=(1, 6, 6), layers=[dense(2, 36)]) | kwargs
    with pytest.raises(NetworkError, match=message):
        Network(**arguments)
