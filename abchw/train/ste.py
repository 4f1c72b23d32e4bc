"""The non-differentiable steps of ABC-Net and their straight-through gradients (PyTorch).

Forward passes compute exactly what the golden model computes (:mod:`abchw.golden`), in the
same order of float operations where a comparison depends on it; backward passes are the
paper's straight-through estimators (STE, Bengio et al. 2013):

* :func:`sign` -- ``sign(x)`` with ``sign(0) = +1`` forward, the identity backward. Applied to
  ``(W - mean(W)) + u_m * std(W)`` with the statistics held constant, it gives the weight
  bases of equation 2 and ``dB_m/dW = I``; with ``alpha`` held constant the chain rule then
  yields the paper's equation 7, ``dc/dW = sum_m alpha_m dc/dB_m``.
* :func:`least_squares_alpha` -- equation 3, ``alpha = (B B^T + lam I)^-1 B w`` per row group,
  the ridge ``lam = ridge * n`` of :data:`abchw.golden.DEFAULT_RIDGE`. It is differentiable in
  ``w`` (and in ``B``); the training layer holds it constant unless asked otherwise.
* :func:`binarize` -- equations 9 and 10: ``A_n = +1`` where ``R + v_n >= 0.5``
  (:func:`abchw.golden.activation_predicate`), else -1; backward, the gradient of ``R`` and of
  ``v_n`` is the incoming gradient where ``lo <= R + v_n <= hi`` and 0 elsewhere. The paper's
  window is ``(lo, hi) = (0, 1)``, the range of the bounded rectifier ``clip(R + v, 0, 1)``;
  BNN and XNOR-Net use ``|R| <= 1`` around ``v = 0.5``, i.e. ``(-0.5, 1.5)``.
* :func:`uniform_quantize` -- DoReFa's k-bit activation quantizer ``round(clip(R, 0, 1) L) / L``
  (``L = 2**k - 1``, ties to even), straight-through where ``0 <= R <= 1``.
"""

import torch

__all__ = ["binarize", "least_squares_alpha", "sign", "uniform_quantize"]


class _Sign(torch.autograd.Function):
    @staticmethod
    def forward(x):
        return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, grad):
        return grad


def sign(x):
    """``+1`` where ``x >= 0``, else ``-1`` (dtype of ``x``); straight-through gradient."""
    return _Sign.apply(x)


def least_squares_alpha(bases, rows, ridge):
    """Ridge least-squares coefficients of ``rows ~ alpha @ bases`` per group.

    ``bases`` ``(G, M, n)`` in {-1, +1}, ``rows`` ``(G, n)``: returns ``alpha`` ``(G, M)``
    minimising ``||w - B^T alpha||^2 + lam ||alpha||^2`` with ``lam = ridge * n``, the
    solution of ``(B B^T + lam I) alpha = B w`` that :func:`abchw.golden.approximate_weights`
    computes. Differentiable in both arguments.
    """
    m, n = bases.shape[1], bases.shape[2]
    gram = bases @ bases.transpose(1, 2)
    gram = gram + (ridge * n) * torch.eye(m, dtype=bases.dtype, device=bases.device)
    return torch.linalg.solve(gram, bases @ rows.unsqueeze(2)).squeeze(2)


class _Binarize(torch.autograd.Function):
    @staticmethod
    def forward(r, v, lo, hi):
        z = r.unsqueeze(0) + v.reshape((-1,) + (1,) * r.ndim)
        return torch.where(z >= 0.5, 1.0, -1.0).to(r.dtype), (z >= lo) & (z <= hi)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(output[1])
        ctx.mark_non_differentiable(output[1])

    @staticmethod
    def backward(ctx, grad, _):
        (window,) = ctx.saved_tensors
        passed = grad * window
        return passed.sum(0), passed.reshape(passed.shape[0], -1).sum(1), None, None


def binarize(r, v, *, window=(0.0, 1.0)):
    """N binary activations ``(N, *r.shape)`` in {-1, +1}: ``+1`` where ``r + v_n >= 0.5``.

    ``v`` has shape ``(N,)``. Backward: straight-through where ``lo <= r + v_n <= hi``
    (``window = (lo, hi)``), for ``r`` and for ``v``; zero elsewhere.
    """
    lo, hi = window
    return _Binarize.apply(r, v, float(lo), float(hi))[0]


def uniform_quantize(r, levels):
    """``round(clip(r, 0, 1) * levels) / levels``; gradient 1 where ``0 <= r <= 1``, else 0."""
    clipped = r.clamp(0.0, 1.0)
    return clipped + (torch.round(clipped * levels) / levels - clipped).detach()
