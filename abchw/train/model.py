"""The trainable network: the golden model's stages as PyTorch modules with quantizers inside.

An architecture is a sequence of :class:`ConvSpec` and :class:`DenseSpec`, one per hardware
stage; :class:`TrainNet` builds, for a :class:`~abchw.train.schemes.Scheme`, the network the
golden float model (:func:`abchw.golden.float_forward`) runs, stage by stage::

    x_0 = 2 * pixel - 255                         (the 8 input bit-planes, beta_b = 2**b)
    y   = Conv(W~, pad(x, value))  or  W~ @ flatten(x)      W~ = the scheme's weights
    y   = maxpool(y)                                        (optional; before batch norm)
    R   = batchnorm(y)
    x'  = sum_n beta_n A_n,  A_n = H_{v_n}(R)              (every stage but the last)

Padding is the hardware's: every padded binary plane holds bit 0, so a padded tap of the first
layer is ``-255`` (pixel 0) and of a hidden layer ``-sum_n beta_n``; full-precision ReLU stages
pad with 0, the same "off" value in their encoding. The last stage returns its accumulator
``y`` as the class scores. The training loss reads ``scores * exp(log_temperature)``: one
trainable positive factor that changes no ``argmax`` and is therefore not exported.

Batch norm uses batch statistics in training mode; in eval mode it computes
``(y - mean) * (gamma / sqrt(var + eps)) + beta``, the float model's expression in its order,
so that a network cast to float64 reproduces the golden model's activation bits.
"""

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..golden.approximation import approximate_weights
from ..network import DIM_MAX, INPUT_BITS
from .params import TrainError, check_int
from .schemes import Scheme
from .ste import binarize, least_squares_alpha, sign, uniform_quantize

__all__ = [
    "REFERENCE",
    "ConvSpec",
    "DenseSpec",
    "QuantizedWeight",
    "StageActivation",
    "StageNorm",
    "StageOutput",
    "TrainNet",
    "TrainStage",
    "describe_architecture",
]

#: Value of a padded tap of the first layer: pixel 0, ``2 * 0 - 255``.
INPUT_PAD = -(2.0 ** INPUT_BITS - 1)


@dataclass(frozen=True, kw_only=True)
class ConvSpec:
    """A conv stage: ``out_channels`` filters of ``kernel x kernel``, then optional max-pool."""
    out_channels: int
    kernel: int = 3
    padding: int = 1
    stride: int = 1
    pool: int = None

    def __post_init__(self):
        check_int("out_channels", self.out_channels, 1, DIM_MAX)
        check_int("kernel", self.kernel, 1, DIM_MAX)
        check_int("padding", self.padding, 0, DIM_MAX)
        check_int("stride", self.stride, 1, DIM_MAX)
        if self.pool is not None:
            check_int("pool", self.pool, 1, DIM_MAX)


@dataclass(frozen=True, kw_only=True)
class DenseSpec:
    """A dense stage of ``out_features`` outputs (flattens its input C-major)."""
    out_features: int

    def __post_init__(self):
        check_int("out_features", self.out_features, 1, DIM_MAX)


#: The reference network for 8x8 digits: conv3x3-16 (pad 1); conv3x3-32 (pad 1), max-pool 2;
#: dense-10. 144 + 4,608 + 5,120 = 9,872 weights, so M = 3 bases are 29,616 weight bits.
REFERENCE = (ConvSpec(out_channels=16), ConvSpec(out_channels=32, pool=2),
             DenseSpec(out_features=10))


def describe_architecture(architecture):
    """e.g. ``"conv3x3-16p1, conv3x3-32p1 maxpool2, dense-10"``."""
    parts = []
    for spec in architecture:
        if isinstance(spec, ConvSpec):
            text = f"conv{spec.kernel}x{spec.kernel}-{spec.out_channels}p{spec.padding}"
            text += f"s{spec.stride}" if spec.stride != 1 else ""
            text += f" maxpool{spec.pool}" if spec.pool else ""
        else:
            text = f"dense-{spec.out_features}"
        parts.append(text)
    return ", ".join(parts)


def _pad(x, padding, value):
    """Pad the two spatial axes with ``value`` (a float or a 0-d tensor) so that inner values
    stay bit-identical and the gradient reaches a tensor ``value``."""
    if padding == 0:
        return x
    if not torch.is_tensor(value):
        return F.pad(x, (padding,) * 4, value=float(value))
    border = F.pad(torch.zeros_like(x[:1, :1]), (padding,) * 4, value=1.0)
    return F.pad(x, (padding,) * 4) + value * border


class QuantizedWeight(nn.Module):
    """Latent real weights of one conv or dense layer and the scheme's binarization of them.

    ``forward()`` returns the effective weights ``W~`` the layer computes with (for ABC-Net
    ``sum_m alpha_m B_m``, bases and least-squares ``alpha`` recomputed every call);
    :meth:`approximation` the bases and ``alpha`` a model file stores.
    """

    def __init__(self, shape, scheme):
        super().__init__()
        self.scheme = scheme
        self.weight = nn.Parameter(torch.empty(shape))
        nn.init.kaiming_normal_(self.weight, nonlinearity="relu")
        if scheme.kind == "scaled":
            self.scale = nn.Parameter(torch.ones(shape[0]))
        self.register_buffer("u", torch.tensor(scheme.shifts))

    def _rows(self):
        w = self.weight
        return w.reshape(w.shape[0], -1) if self.scheme.channelwise else w.reshape(1, -1)

    def bases(self):
        """``(G, M, n)`` straight-through bases, G = 1 (whole) or C_out (channel-wise)."""
        rows = self._rows()
        mean = rows.mean(dim=1, keepdim=True).detach()
        std = rows.std(dim=1, correction=0, keepdim=True).detach()
        shifted = (rows - mean).unsqueeze(1) + self.u.view(1, -1, 1) * std.unsqueeze(1)
        return sign(shifted)

    def alpha(self, bases=None):
        """Least-squares ``alpha`` ``(G, M)``; constant for back-propagation unless the
        scheme's ``alpha_gradient`` (equation 7 holds it constant)."""
        bases = self.bases() if bases is None else bases
        rows = self._rows()
        if not self.scheme.alpha_gradient:
            rows = rows.detach()
        return least_squares_alpha(bases.detach(), rows, self.scheme.ridge)

    def forward(self):
        kind, w = self.scheme.kind, self.weight
        if kind == "full":
            return w
        if kind == "sign":
            return sign(w)
        if kind == "scaled":
            return self.scale.view((-1,) + (1,) * (w.ndim - 1)) * sign(w)
        bases = self.bases()
        return (self.alpha(bases).unsqueeze(2) * bases).sum(dim=1).reshape(w.shape)

    def approximation(self):
        """``(bases, alpha)`` for the model file: bases ``(M, *W.shape)`` int8 in {-1, +1},
        ``alpha`` ``(M,)`` or ``(C_out, M)`` float64. ABC-Net weights go through
        :func:`abchw.golden.approximate_weights` on the float64 latent weights."""
        w = self.weight.detach().cpu().double().numpy()
        kind = self.scheme.kind
        if kind == "full":
            raise TrainError("full-precision weights have no binary bases")
        if kind == "bases":
            return approximate_weights(w, self.scheme.m, u=np.array(self.scheme.shifts),
                                       channelwise=self.scheme.channelwise,
                                       ridge=self.scheme.ridge)
        bases = np.where(w >= 0, 1, -1).astype(np.int8)[None]
        if kind == "sign":
            return bases, np.ones(1)
        return bases, self.scale.detach().cpu().double().numpy()[:, None]


class StageNorm(nn.Module):
    """Batch norm over channel axis 1 of ``(B, C)`` or ``(B, C, H, W)``; eval mode computes the
    golden model's expression (see the module docstring)."""

    def __init__(self, channels, *, eps=1e-5, momentum=0.1):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, y):
        if self.training:
            return F.batch_norm(y, self.running_mean, self.running_var, self.weight, self.bias,
                                training=True, momentum=self.momentum, eps=self.eps)
        shape = (1, -1) + (1,) * (y.ndim - 2)
        scale = self.weight / torch.sqrt(self.running_var + self.eps)
        return (y - self.running_mean.view(shape)) * scale.view(shape) + self.bias.view(shape)


class StageActivation(nn.Module):
    """A hidden stage's activation. ``forward(R)`` returns ``(x, pad, planes)``: the next
    layer's input value, its padding value, and the binary planes ``(N, *R.shape)`` (None for
    ReLU and uniform activations)."""

    def __init__(self, scheme):
        super().__init__()
        self.scheme = scheme
        if scheme.kind == "binary":
            shifts = torch.tensor(scheme.shifts)
            scales = torch.tensor(scheme.scales)
            if scheme.train_shifts:
                self.shifts = nn.Parameter(shifts)
            else:
                self.register_buffer("shifts", shifts)
            if scheme.train_scales:
                self.scales = nn.Parameter(scales)
            else:
                self.register_buffer("scales", scales)

    def forward(self, r):
        kind = self.scheme.kind
        if kind == "relu":
            return F.relu(r), 0.0, None
        if kind == "uniform":
            q = uniform_quantize(r, 2 ** self.scheme.bits - 1)
            return 2.0 * q - 1.0, -1.0, None
        planes = binarize(r, self.shifts, window=self.scheme.window)
        return torch.tensordot(self.scales, planes, dims=1), -self.scales.sum(), planes


@dataclass
class StageOutput:
    """One stage's results: ``y`` after max-pool, the binary ``planes`` and their ``scales``
    (None for the last stage and for non-binary activations), like the golden model's."""
    y: torch.Tensor
    planes: torch.Tensor = None
    scales: torch.Tensor = None


class TrainStage(nn.Module):
    """One stage: conv or dense with quantized weights, max-pool, batch norm, activation."""

    def __init__(self, spec, in_shape, scheme, *, last):
        super().__init__()
        self.spec, self.in_shape, self.last = spec, tuple(in_shape), last
        if isinstance(spec, ConvSpec):
            if len(in_shape) != 3:
                raise TrainError("a conv stage cannot follow a dense stage")
            c, h, w = in_shape
            k, p, s = spec.kernel, spec.padding, spec.stride
            if k > h + 2 * p or k > w + 2 * p:
                raise TrainError(f"kernel {k}x{k} is larger than its padded input "
                                 f"{h + 2 * p}x{w + 2 * p}")
            shape = (spec.out_channels, c, k, k)
            out = (spec.out_channels, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)
            if spec.pool is not None:
                if spec.pool > min(out[1:]):
                    raise TrainError(f"pool size {spec.pool} is larger than its input "
                                     f"{out[1]}x{out[2]}")
                out = (out[0], (out[1] - spec.pool) // spec.pool + 1,
                       (out[2] - spec.pool) // spec.pool + 1)
        else:
            shape = (spec.out_features, int(np.prod(in_shape)))
            out = (spec.out_features,)
        self.out_shape = out
        self.weights = QuantizedWeight(shape, scheme.weights)
        if not last:
            self.norm = StageNorm(out[0])
            self.activation = StageActivation(scheme.activations)

    def forward(self, x, pad):
        """``x``: the input values; ``pad``: their padding value. Returns ``(output, x', pad')``."""
        w = self.weights()
        spec = self.spec
        if isinstance(spec, ConvSpec):
            y = F.conv2d(_pad(x, spec.padding, pad), w, stride=spec.stride)
            if spec.pool is not None:
                y = F.max_pool2d(y, spec.pool, spec.pool)
        else:
            y = x.reshape(x.shape[0], -1) @ w.T
        if self.last:
            return StageOutput(y), None, None
        x, pad, planes = self.activation(self.norm(y))
        scales = self.activation.scales if planes is not None else None
        return StageOutput(y, planes, scales), x, pad


class TrainNet(nn.Module):
    """The whole trainable network for ``scheme`` and ``architecture`` (see module docstring).

    ``forward(images)`` returns the training logits ``scores * exp(log_temperature)``;
    :meth:`stages_forward` every stage's :class:`StageOutput`, the last one's ``y`` being the
    scores the hardware computes. ``images``: pixel values 0..255, ``(B, C, H, W)``, any dtype.
    """

    def __init__(self, *, scheme, architecture=REFERENCE, input_shape=(1, 8, 8), classes=()):
        super().__init__()
        if not isinstance(scheme, Scheme):
            raise TrainError(f"'scheme' must be a Scheme, not {scheme!r}")
        architecture = tuple(architecture) if isinstance(architecture, (tuple, list)) else None
        if (not architecture
                or not all(isinstance(s, (ConvSpec, DenseSpec)) for s in architecture)):
            raise TrainError("'architecture' must be a non-empty list of ConvSpec and "
                             "DenseSpec")
        if (not isinstance(input_shape, (tuple, list)) or len(input_shape) != 3
                or not all(isinstance(d, int) and 1 <= d <= DIM_MAX for d in input_shape)):
            raise TrainError(f"'input_shape' must be three integers (C, H, W), "
                             f"not {input_shape!r}")
        self.scheme, self.architecture = scheme, architecture
        self.input_shape, self.classes = tuple(input_shape), tuple(classes)
        stages, shape = [], self.input_shape
        for index, spec in enumerate(architecture):
            stage = TrainStage(spec, shape, scheme, last=index == len(architecture) - 1)
            stages.append(stage)
            shape = stage.out_shape
        self.stages = nn.ModuleList(stages)
        self.log_temperature = nn.Parameter(torch.zeros(()))

    def stages_forward(self, images):
        dtype = self.log_temperature.dtype
        x = 2.0 * torch.as_tensor(images).to(dtype) - 255.0
        pad, outputs = INPUT_PAD, []
        for stage in self.stages:
            output, x, pad = stage(x, pad)
            outputs.append(output)
        return outputs

    def scores(self, images):
        return self.stages_forward(images)[-1].y

    def forward(self, images):
        return self.scores(images) * torch.exp(self.log_temperature)

    def initialize_from(self, trained):
        """Take the latent weights, batch norms and temperature of a trained network of the same
        architecture (the paper's initialization from a full-precision model). A trainable
        weight scale starts at ``mean |W|`` per output channel."""
        if not isinstance(trained, TrainNet) or trained.architecture != self.architecture:
            raise TrainError("can only initialize from a TrainNet of the same architecture")
        with torch.no_grad():
            for mine, theirs in zip(self.stages, trained.stages, strict=True):
                mine.weights.weight.copy_(theirs.weights.weight)
                if mine.weights.scheme.kind == "scaled":
                    w = mine.weights.weight
                    mine.weights.scale.copy_(w.abs().reshape(w.shape[0], -1).mean(dim=1))
                if not mine.last:
                    mine.norm.load_state_dict(theirs.norm.state_dict())
            self.log_temperature.copy_(trained.log_temperature)
        return self
