"""An ABC-Net network as abchw runs it: layers, their parameters and the rules that bind them.

A :class:`Network` is an input shape and a sequence of layers. Layers group into *stages*, the
unit that the hardware executes::

    stage := (Conv | Dense) [MaxPool] [BatchNorm Activation | Threshold]

Every stage but the last ends in an activation (``Activation`` after ``BatchNorm``, or the
already folded ``Threshold``) that emits N binary planes; the last stage has none and returns
raw scores. The first stage reads the 8-bit input image as eight binary planes with
coefficients ``beta_b = 2**b`` (see ``docs/arithmetic.md``).

Every array is validated and converted to a canonical dtype when a layer is made, and the whole
sequence is checked when the network is made, so a :class:`Network` that exists can be run.
Errors are :class:`~abchw.errors.NetworkError` naming the layer and field.
"""

from dataclasses import dataclass, field

import numpy as np

from .errors import NetworkError

__all__ = [
    "M_MAX", "N_MAX", "K_MAX", "DIM_MAX", "INPUT_BITS",
    "Conv", "Dense", "MaxPool", "BatchNorm", "Activation", "Threshold",
    "Stage", "Network",
]

#: Largest number of weight bases M and of binary activations N a network may use.
M_MAX = 8
N_MAX = 8
#: Largest dot-product length K = k*k*C_in (conv) or C_in (dense), so that a binary dot
#: product ``2 p - K`` fits a 16-bit signed operand (one input of an iCE40 SB_MAC16).
K_MAX = 32767
#: Largest image side, stride, padding and pool size.
DIM_MAX = 4096
#: Bits per input pixel; the first stage reads them as INPUT_BITS binary planes.
INPUT_BITS = 8


def _fail(field_name, message):
    raise NetworkError(f"'{field_name}' {message}")


def _int_param(name, value, minimum):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        _fail(name, f"must be an integer, not {value!r}")
    if not minimum <= value <= DIM_MAX:
        _fail(name, f"must be in {minimum}..{DIM_MAX}, not {value!r}")
    return int(value)


def _float_array(name, value, ndim, *, allow_inf=False):
    array = np.asarray(value)
    if array.dtype.kind not in "fiu" or array.dtype == np.bool_:
        _fail(name, f"must hold real numbers, not dtype {array.dtype}")
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if array.ndim not in allowed:
        _fail(name, f"must have {' or '.join(map(str, allowed))} dimension(s), "
                    f"not shape {array.shape}")
    array = array.astype(np.float64)
    bad = np.isnan(array) if allow_inf else ~np.isfinite(array)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        _fail(name, f"must be finite{' or +-inf' if allow_inf else ''}, "
                    f"not {array[index].item()!r} at index {index}")
    array.setflags(write=False)
    return array


def _bases_array(value, ndim):
    array = np.asarray(value)
    if array.dtype.kind not in "iu":
        _fail("bases", f"must be an integer array of -1/+1, not dtype {array.dtype}")
    if array.ndim != ndim:
        _fail("bases", f"must have {ndim} dimensions, not shape {array.shape}")
    bad = (array != 1) & (array != -1)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        _fail("bases", f"must hold only -1 and +1, not {array[index].item()!r} at index {index}")
    m = array.shape[0]
    if not 1 <= m <= M_MAX:
        _fail("bases", f"has M = {m} weight bases; M must be in 1..{M_MAX}")
    if 0 in array.shape:
        _fail("bases", f"must not be empty, not shape {array.shape}")
    array = array.astype(np.int8)
    array.setflags(write=False)
    return array


def _alpha_array(value, m, out_channels):
    alpha = _float_array("alpha", value, (1, 2))
    if alpha.shape not in ((m,), (out_channels, m)):
        _fail("alpha", f"must have shape ({m},) or ({out_channels}, {m}) to match 'bases', "
                       f"not {alpha.shape}")
    return alpha


class _BinaryLinear:
    """Shared behaviour of :class:`Conv` and :class:`Dense`: ``W ~ sum_m alpha_m * B_m``."""

    @property
    def m(self):
        """Number of weight bases M."""
        return self.bases.shape[0]

    @property
    def out_channels(self):
        return self.bases.shape[1]

    @property
    def in_channels(self):
        return self.bases.shape[2]

    @property
    def channelwise(self):
        """Whether ``alpha`` is per output channel (paper section 3.1.2)."""
        return self.alpha.ndim == 2

    def alpha_per_channel(self):
        """``alpha`` as a ``(C_out, M)`` array, whole-tensor coefficients repeated per channel."""
        return np.broadcast_to(self.alpha, (self.out_channels, self.m))

    def weights(self):
        """The approximated real weights ``sum_m alpha_m * B_m`` (equation 1)."""
        alpha = self.alpha_per_channel().T.reshape((self.m, self.out_channels)
                                                   + (1,) * (self.bases.ndim - 2))
        return (alpha * self.bases).sum(axis=0)


@dataclass(frozen=True, eq=False)
class Conv(_BinaryLinear):
    """Square 2-D convolution with binary weight bases.

    ``bases``: ``(M, C_out, C_in, k, k)`` in {-1, +1}; ``alpha``: ``(M,)`` or ``(C_out, M)``.
    Padding inserts binary 0 (the value -1) in every input plane; see ``docs/arithmetic.md``.
    """
    bases: np.ndarray
    alpha: np.ndarray
    stride: int = 1
    padding: int = 0
    kind = "conv"

    def __post_init__(self):
        bases = _bases_array(self.bases, 5)
        if bases.shape[3] != bases.shape[4]:
            _fail("bases", f"must have a square kernel, not {bases.shape[3]}x{bases.shape[4]}")
        object.__setattr__(self, "bases", bases)
        object.__setattr__(self, "alpha", _alpha_array(self.alpha, bases.shape[0], bases.shape[1]))
        object.__setattr__(self, "stride", _int_param("stride", self.stride, 1))
        object.__setattr__(self, "padding", _int_param("padding", self.padding, 0))

    @property
    def kernel(self):
        return self.bases.shape[3]


@dataclass(frozen=True, eq=False)
class Dense(_BinaryLinear):
    """Fully connected layer with binary weight bases; flattens a ``(C, H, W)`` input C-major.

    ``bases``: ``(M, C_out, C_in)`` in {-1, +1}; ``alpha``: ``(M,)`` or ``(C_out, M)``.
    """
    bases: np.ndarray
    alpha: np.ndarray
    kind = "dense"

    def __post_init__(self):
        bases = _bases_array(self.bases, 3)
        object.__setattr__(self, "bases", bases)
        object.__setattr__(self, "alpha", _alpha_array(self.alpha, bases.shape[0], bases.shape[1]))


@dataclass(frozen=True, eq=False)
class MaxPool:
    """Max-pooling of the accumulator values (before batch norm, paper section 3.3); no padding."""
    size: int
    stride: int = None
    kind = "maxpool"

    def __post_init__(self):
        object.__setattr__(self, "size", _int_param("size", self.size, 1))
        stride = self.size if self.stride is None else self.stride
        object.__setattr__(self, "stride", _int_param("stride", stride, 1))


@dataclass(frozen=True, eq=False)
class BatchNorm:
    """Inference batch norm ``R = (y - mean) * (gamma / sqrt(var + eps)) + beta``, per channel."""
    gamma: np.ndarray
    beta: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    eps: float = 1e-5
    kind = "batchnorm"

    def __post_init__(self):
        for name in ("gamma", "beta", "mean", "var"):
            object.__setattr__(self, name, _float_array(name, getattr(self, name), 1))
        shapes = {name: getattr(self, name).shape for name in ("gamma", "beta", "mean", "var")}
        if len(set(shapes.values())) != 1:
            _fail("gamma", f"and 'beta', 'mean', 'var' must have one shape, not {shapes}")
        if (self.var < 0).any():
            _fail("var", f"must be non-negative, not {self.var.min().item()!r}")
        eps = np.asarray(self.eps)
        if eps.shape != () or eps.dtype.kind not in "fiu" or not (np.isfinite(eps) and eps > 0):
            _fail("eps", f"must be a positive finite number, not {self.eps!r}")
        object.__setattr__(self, "eps", float(eps))
        with np.errstate(over="ignore"):
            if not np.isfinite(self.scale()).all():
                _fail("gamma", "/ sqrt(var + eps) overflows; the batch norm is degenerate")

    @property
    def channels(self):
        return self.gamma.shape[0]

    def scale(self):
        """``gamma / sqrt(var + eps)``, the per-channel factor the float model multiplies by."""
        return self.gamma / np.sqrt(self.var + self.eps)


@dataclass(frozen=True, eq=False)
class Activation:
    """N binary activations ``A_n = H_{v_n}(R)`` with coefficients ``beta_n`` (equation 11).

    ``shifts``: ``v``, shape ``(N,)``; ``scales``: ``beta``, shape ``(N,)``.
    """
    shifts: np.ndarray
    scales: np.ndarray
    kind = "activation"

    def __post_init__(self):
        object.__setattr__(self, "shifts", _float_array("shifts", self.shifts, 1))
        object.__setattr__(self, "scales", _float_array("scales", self.scales, 1))
        if self.shifts.shape != self.scales.shape:
            _fail("scales", f"must have the shape of 'shifts' {self.shifts.shape}, "
                            f"not {self.scales.shape}")
        if not 1 <= self.n <= N_MAX:
            _fail("shifts", f"gives N = {self.n} binary activations; N must be in 1..{N_MAX}")

    @property
    def n(self):
        return self.shifts.shape[0]


@dataclass(frozen=True, eq=False)
class Threshold:
    """Batch norm and activation folded into thresholds on the accumulator value ``y``.

    ``thresholds``: ``(C, N)``; bit n of channel c is ``y >= thresholds[c, n]``, or
    ``y <= thresholds[c, n]`` where ``invert[c]`` (a negative batch-norm gamma). ``+inf`` never
    fires and ``-inf`` always does (a zero gamma). ``scales``: ``beta``, shape ``(N,)``.
    """
    thresholds: np.ndarray
    invert: np.ndarray
    scales: np.ndarray
    kind = "threshold"

    def __post_init__(self):
        object.__setattr__(self, "thresholds",
                           _float_array("thresholds", self.thresholds, 2, allow_inf=True))
        invert = np.asarray(self.invert)
        if invert.dtype != np.bool_:
            _fail("invert", f"must be a boolean array, not dtype {invert.dtype}")
        if invert.shape != self.thresholds.shape[:1]:
            _fail("invert", f"must have shape {self.thresholds.shape[:1]}, not {invert.shape}")
        invert = invert.copy()
        invert.setflags(write=False)
        object.__setattr__(self, "invert", invert)
        object.__setattr__(self, "scales", _float_array("scales", self.scales, 1))
        if self.scales.shape != self.thresholds.shape[1:]:
            _fail("scales", f"must have shape {self.thresholds.shape[1:]}, not {self.scales.shape}")
        if not 1 <= self.n <= N_MAX:
            _fail("thresholds", f"gives N = {self.n} binary activations; N must be in 1..{N_MAX}")

    @property
    def channels(self):
        return self.thresholds.shape[0]

    @property
    def n(self):
        return self.thresholds.shape[1]


@dataclass(frozen=True, eq=False)
class Stage:
    """One hardware pass: a binary conv or dense layer and what follows it up to its activation.

    ``in_shape`` is ``(C, H, W)`` for a conv and ``(K,)`` for a dense stage after flattening;
    ``n_in`` is the number of binary input planes (8 for the first stage).
    """
    linear: Conv | Dense
    pool: MaxPool | None
    norm: BatchNorm | None
    activation: Activation | Threshold | None
    in_shape: tuple
    out_shape: tuple
    n_in: int

    @property
    def k(self):
        """Dot-product length K of one output value."""
        if isinstance(self.linear, Conv):
            return self.linear.kernel ** 2 * self.linear.in_channels
        return self.linear.in_channels

    @property
    def n_out(self):
        return None if self.activation is None else self.activation.n


_LAYER_KINDS = (Conv, Dense, MaxPool, BatchNorm, Activation, Threshold)


@dataclass(frozen=True, eq=False)
class Network:
    """An input shape ``(C, H, W)`` of 8-bit pixels and a sequence of layers.

    ``name`` and ``classes`` (one label per output score, or empty) are descriptive.
    """
    input_shape: tuple
    layers: tuple
    name: str = ""
    classes: tuple = ()
    stages: tuple = field(init=False, repr=False)

    def __post_init__(self):
        shape = tuple(self.input_shape) if isinstance(self.input_shape, (tuple, list)) else None
        if (shape is None or len(shape) != 3
                or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool)
                           and 1 <= d <= limit
                           for d, limit in zip(shape, (K_MAX, DIM_MAX, DIM_MAX), strict=True))):
            raise NetworkError(f"'input_shape' must be three integers (C, H, W) with C in "
                               f"1..{K_MAX} and H, W in 1..{DIM_MAX}, not {self.input_shape!r}")
        object.__setattr__(self, "input_shape", tuple(int(d) for d in shape))
        if not isinstance(self.layers, (tuple, list)):
            raise NetworkError(f"'layers' must be a list of layers, not {self.layers!r}")
        if (not isinstance(self.classes, (tuple, list))
                or not all(isinstance(c, str) for c in self.classes)):
            raise NetworkError(f"'classes' must be a list of text labels, not {self.classes!r}")
        object.__setattr__(self, "layers", tuple(self.layers))
        object.__setattr__(self, "classes", tuple(self.classes))
        for index, layer in enumerate(self.layers):
            if not isinstance(layer, _LAYER_KINDS):
                raise NetworkError(f"layer {index} is a {type(layer).__name__}, not one of "
                                   f"{', '.join(kind.kind for kind in _LAYER_KINDS)}")
        object.__setattr__(self, "stages", self._group_stages())
        scores = self.stages[-1].out_shape
        if self.classes and len(self.classes) != int(np.prod(scores)):
            raise NetworkError(f"'classes' names {len(self.classes)} classes but the network "
                               f"returns {int(np.prod(scores))} scores of shape {scores}")

    def _group_stages(self):
        layers = list(enumerate(self.layers))
        if not layers:
            raise NetworkError("'layers' is empty; a network needs at least one conv or dense "
                               "layer")
        stages = []
        shape, n_in = self.input_shape, INPUT_BITS
        while layers:
            index, linear = layers.pop(0)
            where = f"layer {index} ({linear.kind})"
            if not isinstance(linear, (Conv, Dense)):
                expected = ("conv or dense" if not stages
                            else "conv or dense (the previous stage ended)")
                raise NetworkError(f"{where}: expected {expected}; a stage starts with a conv or "
                                   f"dense layer")
            in_shape, out_shape = self._linear_shapes(where, linear, shape)
            pool = norm = activation = None
            if layers and isinstance(layers[0][1], MaxPool):
                index, pool = layers.pop(0)
                out_shape = self._pool_shape(f"layer {index} (maxpool)", pool, out_shape)
            if layers and isinstance(layers[0][1], BatchNorm):
                index, norm = layers.pop(0)
                if norm.channels != out_shape[0]:
                    raise NetworkError(f"layer {index} (batchnorm): 'gamma' has {norm.channels} "
                                       f"channels, the layer before has {out_shape[0]}")
                if not (layers and isinstance(layers[0][1], Activation)):
                    raise NetworkError(f"layer {index} (batchnorm): must be followed by an "
                                       f"activation layer")
            if layers and isinstance(layers[0][1], (Activation, Threshold)):
                index, activation = layers.pop(0)
                if isinstance(activation, Activation) and norm is None:
                    raise NetworkError(f"layer {index} (activation): must follow a batchnorm "
                                       f"layer (use a threshold layer for folded batch norm)")
                if isinstance(activation, Threshold) and activation.channels != out_shape[0]:
                    raise NetworkError(f"layer {index} (threshold): 'thresholds' has "
                                       f"{activation.channels} channels, the layer before has "
                                       f"{out_shape[0]}")
            if layers and activation is None:
                index, layer = layers[0]
                raise NetworkError(f"layer {index} ({layer.kind}): unexpected here; a stage that "
                                   f"is not the last must end with batchnorm + activation or "
                                   f"threshold")
            stages.append(Stage(linear, pool, norm, activation, in_shape, out_shape, n_in))
            shape = out_shape
            n_in = activation.n if activation is not None else None
        if stages[-1].activation is not None:
            raise NetworkError(f"layer {len(self.layers) - 1} ({self.layers[-1].kind}): the last "
                               f"stage must not have an activation; it returns raw scores")
        return tuple(stages)

    @staticmethod
    def _linear_shapes(where, linear, shape):
        if isinstance(linear, Conv):
            if len(shape) != 3:
                raise NetworkError(f"{where}: a conv layer cannot follow a dense layer")
            c, h, w = shape
            if linear.in_channels != c:
                raise NetworkError(f"{where}: 'bases' has {linear.in_channels} input channels, "
                                   f"its input has {c}")
            k, s, p = linear.kernel, linear.stride, linear.padding
            if k > h + 2 * p or k > w + 2 * p:
                raise NetworkError(f"{where}: kernel {k}x{k} is larger than its padded input "
                                   f"{h + 2 * p}x{w + 2 * p}")
            dot_length = k * k * c
            out_shape = (linear.out_channels, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)
            in_shape = shape
        else:
            dot_length = int(np.prod(shape))
            if linear.in_channels != dot_length:
                raise NetworkError(f"{where}: 'bases' has {linear.in_channels} inputs, its input "
                                   f"{shape} has {dot_length} values")
            out_shape = (linear.out_channels,)
            in_shape = (dot_length,)
        if dot_length > K_MAX:
            raise NetworkError(f"{where}: dot-product length K = {dot_length} exceeds "
                               f"K_MAX = {K_MAX}")
        return in_shape, out_shape

    @staticmethod
    def _pool_shape(where, pool, shape):
        if len(shape) != 3:
            raise NetworkError(f"{where}: max-pooling needs a conv layer before it")
        c, h, w = shape
        if pool.size > h or pool.size > w:
            raise NetworkError(f"{where}: pool size {pool.size} is larger than its input {h}x{w}")
        return (c, (h - pool.size) // pool.stride + 1, (w - pool.size) // pool.stride + 1)

    @property
    def m(self):
        """Largest number of weight bases in any layer."""
        return max(stage.linear.m for stage in self.stages)

    @property
    def n(self):
        """Largest number of binary activations in any hidden layer (0 for one stage)."""
        return max((stage.n_out for stage in self.stages[:-1]), default=0)

    @property
    def output_shape(self):
        return self.stages[-1].out_shape
