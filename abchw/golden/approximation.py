"""ABC-Net's binary approximations of weights and activations (paper equations 1-11), in float.

``sign(0)`` is +1 everywhere in abchw, so that every base is strictly -1/+1.
"""

import numpy as np

from ..network import M_MAX, N_MAX

__all__ = ["DEFAULT_RIDGE", "default_shifts", "approximate_weights", "binarize_activations",
           "activation_predicate"]

#: Ridge term of the least-squares fit of ``alpha``, relative to the number of weights fitted:
#: ``alpha = (B^T B + lam I)^-1 B^T w`` with ``lam = DEFAULT_RIDGE * w.size``. It only matters
#: when bases are (nearly) collinear, e.g. a constant weight tensor or large M on few weights.
DEFAULT_RIDGE = 1e-6


def default_shifts(m):
    """The paper's base shifts: ``u_i = -1 + (i-1) * 2/(M-1)`` for M > 1, ``u_1 = 0`` for M = 1."""
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or not 1 <= m <= M_MAX:
        raise ValueError(f"M must be an integer in 1..{M_MAX}, not {m!r}")
    if m == 1:
        return np.zeros(1)
    return -1.0 + np.arange(m) * 2.0 / (m - 1)


def _sign(x):
    return np.where(x >= 0, 1, -1).astype(np.int8)


def _fit(w, m, u, ridge):
    """Bases and least-squares coefficients for the rows of ``w`` (shape ``(G, n)``)."""
    mean = w.mean(axis=1, keepdims=True)
    std = w.std(axis=1, keepdims=True)
    bases = _sign((w - mean)[:, None, :] + u[None, :, None] * std[:, None, :])  # (G, M, n)
    b = bases.astype(np.float64)
    lam = ridge * w.shape[1]
    gram = b @ b.transpose(0, 2, 1) + lam * np.eye(m)
    alpha = np.linalg.solve(gram, (b @ w[:, :, None]))[:, :, 0]  # (G, M)
    return bases, alpha


def approximate_weights(W, M, *, u=None, channelwise=False, ridge=DEFAULT_RIDGE):
    """Approximate real weights by M binary bases: ``W ~ sum_m alpha_m * B_m`` (equations 1-3).

    ``B_m = sign(W - mean(W) + u_m * std(W))`` with the paper's shifts (:func:`default_shifts`)
    unless ``u`` is given; ``alpha`` minimises ``||W - sum alpha_m B_m||^2 + lam ||alpha||^2``
    (see :data:`DEFAULT_RIDGE`). With ``channelwise=True`` the statistics and the fit are per
    output channel (axis 0), as in paper section 3.1.2.

    Returns ``(B, alpha)``: ``B`` of shape ``(M, *W.shape)``, int8 in {-1, +1}; ``alpha`` of shape
    ``(M,)``, or ``(W.shape[0], M)`` when ``channelwise``.
    """
    W = np.asarray(W, dtype=np.float64)
    u = default_shifts(M) if u is None else np.asarray(u, dtype=np.float64)
    if u.shape != (M,):
        raise ValueError(f"u must have shape ({M},) for M = {M}, not {u.shape}")
    if W.ndim < 1 or W.size == 0 or not np.isfinite(W).all():
        raise ValueError(f"W must be a non-empty finite array, not shape {W.shape}")
    if not (np.isfinite(ridge) and ridge >= 0):
        raise ValueError(f"ridge must be a non-negative finite number, not {ridge!r}")
    rows = W.reshape(W.shape[0], -1) if channelwise else W.reshape(1, -1)
    bases, alpha = _fit(rows, M, u, ridge)
    B = bases.transpose(1, 0, 2).reshape((M,) + W.shape)
    return B, (alpha if channelwise else alpha[0])


def activation_predicate(R, v):
    """Whether ``H_v(R) = +1``: ``clip(R + v, 0, 1) >= 0.5`` (equation 9), i.e. ``R + v >= 0.5``.

    This exact float expression defines the activation; threshold folding
    (:mod:`abchw.golden.thresholds`) evaluates it, so the two can never disagree.
    """
    return R + v >= 0.5


def binarize_activations(R, v):
    """N binary activations ``A_n = H_{v_n}(R)`` (equations 9 and 11).

    ``v`` has shape ``(N,)``; returns shape ``(N, *R.shape)``, float64 in {-1, +1}.
    """
    R = np.asarray(R, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    if v.ndim != 1 or not 1 <= v.shape[0] <= N_MAX:
        raise ValueError(f"v must have shape (N,) with N in 1..{N_MAX}, not {v.shape}")
    v = v.reshape((-1,) + (1,) * R.ndim)
    return np.where(activation_predicate(R[None], v), 1.0, -1.0)
