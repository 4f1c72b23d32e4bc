"""Straight-through estimators and quantizers of abchw.train against the golden model and
finite differences."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from abchw.golden import approximate_weights, binarize_activations
from abchw.train.model import QuantizedWeight, StageActivation, _pad
from abchw.train.schemes import ActivationScheme, WeightScheme
from abchw.train.ste import binarize, least_squares_alpha, sign, uniform_quantize

torch.set_num_threads(1)


def test_sign_is_plus_one_at_zero_and_passes_gradient_straight_through():
    x = torch.tensor([-2.0, -0.0, 0.0, 1e-30, 3.0], dtype=torch.float64, requires_grad=True)
    out = sign(x)
    assert out.tolist() == [-1.0, 1.0, 1.0, 1.0, 1.0]
    g = torch.tensor([0.5, -1.0, 2.0, 3.0, -4.0], dtype=torch.float64)
    out.backward(g)
    assert torch.equal(x.grad, g)


def test_least_squares_alpha_is_the_golden_fit_and_differentiable():
    rng = np.random.default_rng(3)
    w = rng.normal(size=(4, 27))
    bases, alpha = approximate_weights(w, 3, channelwise=True)
    b = torch.tensor(bases.transpose(1, 0, 2).reshape(4, 3, 27), dtype=torch.float64)
    mine = least_squares_alpha(b, torch.tensor(w), 1e-6)
    np.testing.assert_allclose(mine.numpy(), alpha, rtol=1e-12, atol=1e-14)
    rows = torch.tensor(w, requires_grad=True)
    assert torch.autograd.gradcheck(lambda r: least_squares_alpha(b, r, 1e-3), (rows,))
    # with a large ridge the bases enter continuously too
    cont = torch.tensor(rng.normal(size=(2, 3, 5)), requires_grad=True)
    assert torch.autograd.gradcheck(lambda bb: least_squares_alpha(bb, rows[:2, :5], 0.1),
                                    (cont,))


@pytest.mark.parametrize("channelwise", [False, True])
@pytest.mark.parametrize("m", [1, 3, 5])
def test_weight_bases_and_alpha_equal_the_golden_approximation(m, channelwise):
    torch.manual_seed(m)
    weights = QuantizedWeight((6, 3, 3, 3), WeightScheme(kind="bases", m=m,
                                                         channelwise=channelwise)).double()
    B, alpha = approximate_weights(weights.weight.detach().numpy(), m, channelwise=channelwise)
    groups = 6 if channelwise else 1
    golden = B.reshape(m, groups, -1).transpose(1, 0, 2)                 # (G, M, n)
    np.testing.assert_array_equal(weights.bases().detach().numpy(), golden)
    np.testing.assert_allclose(weights.alpha().detach().numpy(), np.reshape(alpha, (groups, m)),
                               rtol=1e-12)
    expected = (np.reshape(alpha, (groups, m)).T.reshape(m, -1, 1, 1, 1)
                * B.astype(np.float64)).sum(0)
    np.testing.assert_allclose(weights().detach().numpy(), expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("channelwise", [False, True])
def test_weight_gradient_is_equation_7(channelwise):
    """dc/dW = sum_m alpha_m dc/dB_m: the gradient of the effective weights times sum(alpha)
    (per channel), the least-squares alpha held constant."""
    torch.manual_seed(0)
    weights = QuantizedWeight((5, 2, 3, 3), WeightScheme(kind="bases", m=3,
                                                         channelwise=channelwise)).double()
    g = torch.randn(5, 2, 3, 3, dtype=torch.float64)
    (weights() * g).sum().backward()
    alpha_sum = weights.alpha().detach().sum(dim=1)
    expected = g * (alpha_sum.view(-1, 1, 1, 1) if channelwise else alpha_sum)
    torch.testing.assert_close(weights.weight.grad, expected, rtol=1e-14, atol=0)


def test_alpha_gradient_option_adds_the_least_squares_derivative():
    torch.manual_seed(1)
    scheme = WeightScheme(kind="bases", m=2, channelwise=True, alpha_gradient=True)
    weights = QuantizedWeight((3, 4), scheme).double()
    g = torch.randn(3, 4, dtype=torch.float64)
    (weights() * g).sum().backward()
    bases = weights.bases().detach()
    alpha = weights.alpha().detach()
    straight = g * alpha.sum(dim=1, keepdim=True)

    def through_alpha(w):   # the bases held fixed: differentiable, checked by finite differences
        return (least_squares_alpha(bases, w, scheme.ridge).unsqueeze(2) * bases).sum(1)

    w = weights.weight.detach().clone()
    numeric = torch.zeros_like(w)
    for index in np.ndindex(*w.shape):
        step = torch.zeros_like(w)
        step[index] = 1e-6
        numeric[index] = ((through_alpha(w + step) - through_alpha(w - step)) * g).sum() / 2e-6
    torch.testing.assert_close(weights.weight.grad - straight, numeric, rtol=1e-6, atol=1e-8)


def test_trained_weight_scale_gradient_matches_finite_differences():
    torch.manual_seed(2)
    weights = QuantizedWeight((4, 3), WeightScheme(kind="scaled")).double()
    with torch.no_grad():
        weights.scale.copy_(torch.tensor([0.5, 1.0, -2.0, 3.0]))
    g = torch.randn(4, 3, dtype=torch.float64)
    scale = weights.scale.detach().clone().requires_grad_(True)

    def output(s):
        return (torch.func.functional_call(weights, {"scale": s}, ()) * g).sum()

    assert torch.autograd.gradcheck(output, (scale,))
    np.testing.assert_array_equal(weights().detach().sign().numpy(),
                                  np.where(weights.weight.detach().numpy() >= 0, 1, -1)
                                  * np.sign(scale.detach().numpy())[:, None])


def test_binarize_is_the_golden_predicate_including_ties():
    rng = np.random.default_rng(4)
    r = rng.normal(size=(3, 4, 5, 5)) * 2
    r[0, 0, 0, :4] = [0.5, 2.0, -1.0, 0.5 - 1e-17]      # R + v exactly 0.5 for some v
    v = np.array([0.0, -1.5, 1.5, 0.5])
    mine = binarize(torch.tensor(r), torch.tensor(v))
    np.testing.assert_array_equal(mine.numpy(), binarize_activations(r, v))
    assert mine[0, 0, 0, 0, 0] == 1 and mine[1, 0, 0, 0, 1] == 1 and mine[2, 0, 0, 0, 2] == 1


@pytest.mark.parametrize("window", [(0.0, 1.0), (-0.5, 1.5)])
def test_binarize_gradient_is_the_straight_through_window(window):
    """Equation 10: the gradient passes where lo <= R + v_n <= hi (edges included), to R and to
    the shifts v_n alike, and is zero elsewhere."""
    lo, hi = window
    r = torch.tensor([[-2.0, lo - 0.5, lo, 0.25, 0.5, hi, hi + 1e-9, 7.0]], dtype=torch.float64,
                     requires_grad=True)
    v = torch.tensor([0.0, 0.5, -1.0], dtype=torch.float64, requires_grad=True)
    g = torch.arange(1.0, 25.0, dtype=torch.float64).reshape(3, 1, 8)
    binarize(r, v, window=window).backward(g)
    z = r.detach()[None] + v.detach().view(3, 1, 1)
    passed = g * ((z >= lo) & (z <= hi))
    torch.testing.assert_close(r.grad, passed.sum(0), rtol=0, atol=0)
    torch.testing.assert_close(v.grad, passed.sum(dim=(1, 2)), rtol=0, atol=0)
    assert passed[0, 0, 2] == g[0, 0, 2] and passed[0, 0, 6] == 0   # edges: lo in, past hi out


def test_activation_scales_and_padding_gradient_match_finite_differences():
    """x = sum_n beta_n A_n and the padded value -sum_n beta_n are smooth in beta: the next
    conv's output has the gradient finite differences measure."""
    torch.manual_seed(5)
    activation = StageActivation(ActivationScheme(kind="binary", n=3)).double()
    r = torch.randn(2, 2, 4, 4, dtype=torch.float64)
    w = torch.randn(3, 2, 3, 3, dtype=torch.float64)

    def next_layer(scales):
        x, pad, _ = torch.func.functional_call(activation, {"scales": scales}, (r,))
        return F.conv2d(_pad(x, 1, pad), w)

    scales = torch.tensor([0.7, 1.3, 0.4], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(next_layer, (scales,))
    x, pad, planes = activation(r)
    padded = _pad(x, 1, pad).detach()
    assert torch.equal(padded[:, :, 1:-1, 1:-1], x.detach())          # inner values untouched
    assert (padded[:, :, 0] == -3.0).all()                            # -sum(beta), beta = 1
    np.testing.assert_array_equal(x.detach().numpy(), planes.detach().sum(0).numpy())


def test_uniform_quantize_levels_and_gradient():
    r = torch.tensor([-0.5, 0.0, 0.2, 0.5, 1 / 30, 1.0, 1.5], dtype=torch.float64,
                     requires_grad=True)
    q = uniform_quantize(r, 15)
    expected = np.round(np.clip(r.detach().numpy(), 0, 1) * 15) / 15
    np.testing.assert_array_equal(q.detach().numpy(), expected)
    q.sum().backward()
    assert r.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0]
