"""Random valid ABC-Net networks for the golden-model tests (a test helper, not a test module).

:func:`random_network` builds a :class:`~abchw.network.Network` from a NumPy generator: 1 to
``max_stages`` stages of conv (kernel 1 or 3, stride 1 or 2, padding 0..2) or dense layers,
optional max-pooling, and batch norm + activation or folded threshold layers between stages,
with M and N anywhere in 1..8 and odd or even image sizes. Batch norm and threshold parameters
are scaled to the spread of the accumulator so that the binary outputs are mixed, and include
negative and zero gammas and infinite thresholds.

With ``dyadic=True`` every ``alpha`` and activation ``beta`` is a small dyadic number
(``k / 2**j`` with ``|k| <= 7``, ``j <= 3``), so every coefficient ``alpha_m * beta_n`` is exactly
representable in 16 bits and the float and integer models must agree bit for bit.
:func:`networks` wraps the builder as a Hypothesis strategy (the shape is drawn from a seed).
"""

import numpy as np
from hypothesis import strategies as st

from abchw.network import (
    INPUT_BITS,
    M_MAX,
    N_MAX,
    Activation,
    BatchNorm,
    Conv,
    Dense,
    MaxPool,
    Network,
    Threshold,
)

__all__ = ["networks", "random_images", "random_network", "stage_coefficients"]


def _dyadic(rng, size, *, positive=False):
    numerators = rng.integers(1 if positive else -7, 8, size=size)
    return np.ldexp(numerators.astype(np.float64), -rng.integers(0, 4, size=size))


def _alpha(rng, m, out_channels, dyadic):
    shape = (out_channels, m) if rng.random() < 0.5 else (m,)
    if dyadic:
        return _dyadic(rng, shape)
    signs = np.where(rng.random(shape) < 0.85, 1.0, -1.0)
    return signs * rng.lognormal(-1.0, 1.0, size=shape)


def _scales(rng, n, dyadic):
    return _dyadic(rng, n, positive=True) if dyadic else rng.uniform(0.05, 2.0, size=n)


def stage_coefficients(alpha, out_channels, in_scales):
    """``c[o, m, n] = alpha_m(o) * beta_n`` as the float model uses them, ``(C_out, M, N_in)``."""
    alpha = np.broadcast_to(np.asarray(alpha, dtype=np.float64),
                            (out_channels, np.shape(alpha)[-1]))
    return alpha[:, :, None] * np.asarray(in_scales, dtype=np.float64)[None, None, :]


def _batch_norm(rng, spread):
    c = spread.shape[0]
    gamma = rng.uniform(0.3, 3.0, size=c) * np.where(rng.random(c) < 0.3, -1.0, 1.0)
    gamma[rng.random(c) < 0.1] = 0.0
    mean = spread * rng.normal(0.0, 0.7, size=c)
    var = (spread * rng.uniform(0.2, 3.0, size=c)) ** 2
    var[rng.random(c) < 0.05] = 0.0
    return BatchNorm(gamma=gamma, beta=rng.normal(0.0, 0.5, size=c), mean=mean, var=var,
                     eps=float(rng.choice([1e-5, 1e-3, 1.0])))


def _threshold(rng, spread, n, scales):
    c = spread.shape[0]
    thresholds = spread[:, None] * rng.normal(0.0, 0.8, size=(c, n))
    special = rng.random((c, n))
    thresholds[special < 0.05] = np.inf
    thresholds[(special >= 0.05) & (special < 0.1)] = -np.inf
    return Threshold(thresholds=thresholds, invert=rng.random(c) < 0.3, scales=scales)


def random_network(rng, *, dyadic=False, max_stages=3, max_m=M_MAX, max_n=N_MAX,
                   max_channels=4, max_size=9, first_conv=None, exact=False):
    """A random valid :class:`Network`; ``first_conv=(kernel, padding, stride)`` forces the
    first stage to be a conv with those parameters; ``exact``: every stage has M = max_m and
    N = max_n."""
    shape = (int(rng.integers(1, 4)), int(rng.integers(1, max_size + 1)),
             int(rng.integers(1, max_size + 1)))
    if first_conv is not None:     # the forced kernel must fit the image without padding help
        shape = (shape[0], max(shape[1], first_conv[0]), max(shape[2], first_conv[0]))
    input_shape = shape
    in_scales = 2.0 ** np.arange(INPUT_BITS)
    stages = int(rng.integers(1, max_stages + 1))
    layers = []
    for index in range(stages):
        last = index == stages - 1
        m = max_m if exact else int(rng.integers(1, max_m + 1))
        out_channels = int(rng.integers(1, max_channels + 1))
        forced = first_conv if index == 0 else None
        if len(shape) == 3 and (forced is not None or rng.random() < 0.75):
            c, h, w = shape
            kernel, padding, stride = forced or (int(rng.choice([1, 3])),
                                                 int(rng.choice([0, 1, 2])),
                                                 int(rng.choice([1, 2])))
            if forced is None:
                while kernel > min(h, w) + 2 * padding:
                    padding += 1
            bases = rng.choice(np.array([-1, 1], dtype=np.int8),
                               size=(m, out_channels, c, kernel, kernel))
            linear = Conv(bases=bases, alpha=_alpha(rng, m, out_channels, dyadic),
                          stride=stride, padding=padding)
            layers.append(linear)
            k = kernel * kernel * c
            shape = (out_channels, (h + 2 * padding - kernel) // stride + 1,
                     (w + 2 * padding - kernel) // stride + 1)
            if min(shape[1:]) >= 2 and rng.random() < 0.4:
                size = int(rng.integers(2, min(3, *shape[1:]) + 1))
                pool_stride = int(rng.choice([1, 2, size]))
                layers.append(MaxPool(size=size, stride=pool_stride))
                shape = (out_channels, (shape[1] - size) // pool_stride + 1,
                         (shape[2] - size) // pool_stride + 1)
        else:
            k = int(np.prod(shape))
            bases = rng.choice(np.array([-1, 1], dtype=np.int8), size=(m, out_channels, k))
            linear = Dense(bases=bases, alpha=_alpha(rng, m, out_channels, dyadic))
            layers.append(linear)
            shape = (out_channels,)
        if last:
            break
        # Typical spread of the accumulator of each channel: sqrt(K * sum_mn c_mn^2).
        coefficients = stage_coefficients(linear.alpha, out_channels, in_scales)
        spread = np.sqrt(k * (coefficients ** 2).sum(axis=(1, 2)))
        spread = np.where(spread > 0, spread, 1.0)
        n = max_n if exact else int(rng.integers(1, max_n + 1))
        scales = _scales(rng, n, dyadic)
        if rng.random() < 0.6:
            layers.append(_batch_norm(rng, spread))
            layers.append(Activation(shifts=rng.uniform(-1.5, 1.5, size=n), scales=scales))
        else:
            layers.append(_threshold(rng, spread, n, scales))
        in_scales = scales
    return Network(input_shape=input_shape, layers=layers)


def random_images(rng, network, batch=None):
    """uint8 images for ``network``: uniform, with some all-0 and all-255 images mixed in."""
    batch = int(rng.integers(1, 4)) if batch is None else batch
    images = rng.integers(0, 256, size=(batch,) + network.input_shape, dtype=np.uint8)
    for i in range(batch):
        pick = rng.random()
        if pick < 0.1:
            images[i] = 0
        elif pick < 0.2:
            images[i] = 255
    return images


@st.composite
def networks(draw, **options):
    """Hypothesis strategy: ``(network, images, rng)`` from :func:`random_network`."""
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 63 - 1)))
    network = random_network(rng, **options)
    return network, random_images(rng, network), rng
