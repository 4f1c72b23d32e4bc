"""The float reference: ABC-Net inference in float64, layer by layer, as the paper writes it.

Tensors are ``(B, C, H, W)`` (batch first). Each stage computes, by bilinearity of equation 12,
``y = Conv(sum_m alpha_m B_m, sum_n beta_n A_n)``, max-pools ``y``, applies batch norm and the N
binary activations of equation 11. The padding rule is the integer model's: every padded binary
plane holds -1, so the padded value of ``sum_n beta_n A_n`` is ``-sum_n beta_n``.
"""

from dataclasses import dataclass

import numpy as np

from ..network import INPUT_BITS, Conv, Network, Threshold
from .approximation import binarize_activations

__all__ = ["input_planes", "conv2d", "dense", "max_pool2d", "batch_norm", "threshold_bits",
           "FloatStageResult", "float_stage", "float_forward"]


def input_planes(images):
    """The 8-bit images as INPUT_BITS planes in {-1, +1} (bit b of each pixel), with ``2**b``.

    Their weighted sum ``sum_b 2**b A_b`` is ``2 * pixel - 255``.
    Returns ``(planes, scales)``: ``(8, B, C, H, W)`` float64 and ``(8,)``.
    """
    images = np.asarray(images)
    bits = (images[None] >> np.arange(INPUT_BITS).reshape((-1,) + (1,) * images.ndim)) & 1
    return 2.0 * bits - 1.0, 2.0 ** np.arange(INPUT_BITS)


def conv2d(x, w, *, stride=1, padding=0, pad_value=0.0):
    """Cross-correlation of ``x`` ``(B, C_in, H, W)`` with ``w`` ``(C_out, C_in, k, k)``."""
    k = w.shape[-1]
    x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)),
               constant_values=pad_value)
    windows = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))
    windows = windows[:, :, ::stride, ::stride]                    # (B, C_in, Ho, Wo, k, k)
    return np.einsum("bchwij,ocij->bohw", windows, w, optimize=True)


def dense(x, w):
    """Fully connected layer: ``x`` ``(B, ...)`` flattened C-major, ``w`` ``(C_out, K)``."""
    return x.reshape(x.shape[0], -1) @ w.T


def max_pool2d(x, size, stride):
    """Max-pooling without padding; trailing rows and columns that do not fill a window drop."""
    windows = np.lib.stride_tricks.sliding_window_view(x, (size, size), axis=(2, 3))
    return windows[:, :, ::stride, ::stride].max(axis=(-2, -1))


def batch_norm(y, norm):
    """``(y - mean) * (gamma / sqrt(var + eps)) + beta`` on channel axis 1, in this order."""
    shape = (1, -1) + (1,) * (y.ndim - 2)
    return (y - norm.mean.reshape(shape)) * norm.scale().reshape(shape) + norm.beta.reshape(shape)


def threshold_bits(y, threshold):
    """Binary planes ``(N, *y.shape)`` in {-1, +1} from a folded :class:`Threshold` layer."""
    shape = (1, -1) + (1,) * (y.ndim - 2)
    t = threshold.thresholds.T.reshape((threshold.n,) + shape)
    invert = threshold.invert.reshape(shape)
    fires = np.where(invert, y[None] <= t, y[None] >= t)
    return np.where(fires, 1.0, -1.0)


@dataclass(frozen=True)
class FloatStageResult:
    """``y``: accumulator values after max-pool, ``(B, C, H, W)`` or ``(B, C)``;
    ``planes``: the stage's binary output ``(N, *y.shape)`` (None for the last stage);
    ``scales``: their ``beta_n``."""
    y: np.ndarray
    planes: np.ndarray | None
    scales: np.ndarray | None


def float_stage(stage, planes, scales):
    """Run one stage on binary input ``planes`` ``(N, B, ...)`` with coefficients ``scales``."""
    x = np.tensordot(scales, planes, axes=1)                          # sum_n beta_n A_n
    linear = stage.linear
    if isinstance(linear, Conv):
        y = conv2d(x, linear.weights(), stride=linear.stride, padding=linear.padding,
                   pad_value=-scales.sum())
    else:
        y = dense(x, linear.weights())
    if stage.pool is not None:
        y = max_pool2d(y, stage.pool.size, stage.pool.stride)
    activation = stage.activation
    if activation is None:
        return FloatStageResult(y, None, None)
    if isinstance(activation, Threshold):
        return FloatStageResult(y, threshold_bits(y, activation), activation.scales)
    bits = binarize_activations(batch_norm(y, stage.norm), activation.shifts)
    return FloatStageResult(y, bits, activation.scales)


def float_forward(network: Network, images):
    """Run ``images`` (uint8, ``(B, C, H, W)``) through ``network`` in float64.

    Returns the list of :class:`FloatStageResult`; the last one's ``y`` holds the scores.
    """
    planes, scales = input_planes(images)
    results = []
    for stage in network.stages:
        result = float_stage(stage, planes, scales)
        results.append(result)
        planes, scales = result.planes, result.scales
    return results
