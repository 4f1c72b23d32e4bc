"""The training schemes: ABC-Net and the baselines, and their parameter checks."""

import pytest

from abchw.train.params import TrainError
from abchw.train.schemes import (
    BASELINES,
    PAPER_ACTIVATION_SHIFTS,
    ActivationScheme,
    Scheme,
    WeightScheme,
    abcnet,
    activation_shifts,
    baseline,
    scheme_for,
)


def test_abcnet_uses_the_paper_settings():
    scheme = abcnet(m=5, n=5)
    assert scheme.name == "abcnet-M5N5" and scheme.exportable
    assert scheme.weights.shifts == (-1.0, -0.5, 0.0, 0.5, 1.0)
    assert scheme.activations.shifts == (-3.5, -2.5, -1.5, 0.0, 2.5)
    assert scheme.activations.scales == (1.0,) * 5 and scheme.activations.window == (0.0, 1.0)
    assert scheme.activations.train_shifts and scheme.activations.train_scales
    assert abcnet(m=3, n=3, channelwise=True).weights.channelwise
    assert activation_shifts(3) == PAPER_ACTIVATION_SHIFTS[3] == (-1.5, 0.0, 1.5)
    assert activation_shifts(4) == (-1.5, -0.5, 0.5, 1.5) and activation_shifts(1) == (0.0,)


def test_baselines_are_special_cases():
    bnn = baseline("bnn")
    assert (bnn.weights.kind, bnn.activations.shifts, bnn.activations.scales) == (
        "sign", (0.5,), (1.0,))
    assert not bnn.activations.train_shifts and not bnn.activations.train_scales
    xnor = baseline("xnor")
    assert xnor.weights.kind == "bases" and xnor.weights.channelwise and xnor.weights.m == 1
    assert xnor.activations.train_scales and not xnor.activations.train_shifts
    assert baseline("bwn").activations.bits == 8 and baseline("dorefa-w1a4").activations.bits == 4
    assert baseline("trained-binarization").weights.kind == "scaled"
    assert baseline("full").full_precision
    exportable = {name for name in BASELINES if baseline(name).exportable}
    assert exportable == {"bnn", "xnor", "trained-binarization"}


@pytest.mark.parametrize("make, message", [
    (lambda: abcnet(m=0, n=3), r"'m' must be an integer in 1\.\.8, not 0"),
    (lambda: abcnet(m=3, n=True), r"'n' must be an integer, not True"),
    (lambda: abcnet(m=3, n=3, channelwise="yes"), "'channelwise' must be True or False, not 'yes'"),
    (lambda: WeightScheme(kind="ternary"),
     "'weights.kind' must be one of 'full', 'bases', 'sign', 'scaled', not 'ternary'"),
    (lambda: WeightScheme(kind="sign", m=2), r"'m' must be 1 for 'sign' weights, not 2"),
    (lambda: WeightScheme(kind="bases", m=2, shifts=(0.0,)), r"'shifts' must be 2 finite"),
    (lambda: WeightScheme(kind="bases", ridge=-1.0),
     r"'ridge' must be a finite number in \[0, inf\), not -1\.0"),
    (lambda: ActivationScheme(kind="binary", n=2, shifts=(0.0, float("nan"))),
     r"'activation shifts' must be 2 finite numbers"),
    (lambda: ActivationScheme(kind="uniform", n=2), r"'n' must be 1 for 'uniform'"),
    (lambda: ActivationScheme(kind="uniform", bits=1), r"'bits' must be an integer in 2\.\.16"),
    (lambda: ActivationScheme(kind="binary", window=(1.0, 0.0)), r"lo < hi, not \(1\.0, 0\.0\)"),
    (lambda: Scheme(name="", weights=None, activations=None), r"'name' must be a non-empty"),
    (lambda: baseline("resnet"), r"'baseline' must be one of .*, not 'resnet'"),
    (lambda: scheme_for(baseline_name="bnn", m=3), r"--M applies to ABC-Net only"),
])
def test_bad_parameters_are_named_with_their_value(make, message):
    with pytest.raises(TrainError, match=message):
        make()


def test_scheme_for_defaults_to_abcnet_m3n3():
    assert scheme_for().name == "abcnet-M3N3"
    assert scheme_for(baseline_name="xnor").name == "xnor"
    assert scheme_for(m=1, n=5, channelwise=True).name == "abcnet-M1N5-channelwise"


def test_package_exports_every_name_lazily():
    import abchw.train as package
    assert sorted(package.__all__) == sorted(package._MODULE_OF)
    assert all(getattr(package, name) is not None for name in package.__all__)
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        package.nothing  # noqa: B018
