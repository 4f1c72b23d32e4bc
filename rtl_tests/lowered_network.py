"""A small random network lowered by the golden model: real data for the stage back-end tests.

The first stage is a 3x3 conv over one input channel (K = 9, so it fits any build), padding 1,
then max-pooling and batch norm + N activations on four channels whose gammas are positive,
negative (``invert``), zero (constant bits: thresholds at ``+-(bound+1)``) and random; a dense
stage ends the network. Batch norm takes the mean and variance of the pooled accumulator, so
that the bits are mixed.
"""

from dataclasses import replace

import numpy as np

from abchw.golden.integer_model import (input_bits, integer_forward, integer_stage,
                                        lower)
from abchw.network import Activation, BatchNorm, Conv, Dense, MaxPool, Network

__all__ = ["pooled_stage"]

SIDE = 9
CHANNELS = 4


def pooled_stage(seed, *, m, n, coef_bits, pool):
    """``(stage, unpooled, result)`` for a random network with M = m, N = n and ``pool =
    (size, stride)``: the lowered first :class:`~abchw.golden.integer_model.IntegerStage`, its
    accumulator values before max-pooling ``(B, C, H, W)`` and its ``integer_forward`` result
    (``y`` after max-pooling, ``bits``)."""
    rng = np.random.default_rng(seed)
    signs = np.where(rng.random((CHANNELS, m)) < 0.85, 1.0, -1.0)
    alpha = signs * rng.lognormal(-1, 1, (CHANNELS, m))
    conv = Conv(bases=rng.choice([-1, 1], size=(m, CHANNELS, 1, 3, 3)), alpha=alpha, padding=1)
    activation = Activation(shifts=rng.uniform(-1.5, 1.5, n), scales=rng.uniform(0.5, 2, n))
    size, stride = pool
    pooled = (SIDE - size) // stride + 1
    dense = Dense(bases=rng.choice([-1, 1], size=(1, 3, CHANNELS * pooled * pooled)), alpha=[1.0])
    images = rng.integers(0, 256, size=(2, 1, SIDE, SIDE), dtype=np.uint8)

    def first_stage(norm):
        network = Network(input_shape=(1, SIDE, SIDE),
                          layers=(conv, MaxPool(size, stride), norm, activation, dense))
        inet = lower(network, coef_bits=coef_bits)
        return inet.stages[0], integer_forward(inet, images)[0]

    # Batch norm statistics are those of the pooled accumulator, as training would measure them.
    ones = np.ones(CHANNELS)
    stage, probe = first_stage(BatchNorm(gamma=ones, beta=0 * ones, mean=0 * ones, var=ones))
    y = np.ldexp(probe.y.astype(np.float64), -stage.frac_bits)
    stage, result = first_stage(BatchNorm(gamma=np.array([1.5, -1.5, 0.0, rng.uniform(-2, 2)]),
                                          beta=rng.normal(0, 0.3, CHANNELS),
                                          mean=y.mean(axis=(0, 2, 3)), var=y.var(axis=(0, 2, 3))))
    return stage, integer_stage(replace(stage, pool=None), input_bits(images)).y, result
