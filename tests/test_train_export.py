"""A trained network exports to exactly what the golden model computes."""

import dataclasses

import numpy as np
import pytest
import torch

from abchw import builtin, model_file
from abchw.golden import float_forward
from abchw.network import Activation, BatchNorm, Conv, MaxPool
from abchw.train import (
    ConvSpec,
    DenseSpec,
    TrainError,
    TrainNet,
    abcnet,
    baseline,
    compare_with_golden,
    digits,
    golden_accuracy,
    save,
    to_network,
    train,
)

torch.set_num_threads(1)

#: Two small architectures covering max-pool, padding 0..2, stride 2 and a hidden dense stage.
TINY = (ConvSpec(out_channels=4, pool=2), ConvSpec(out_channels=6, padding=0),
        DenseSpec(out_features=10))
TINY_DENSE = (ConvSpec(out_channels=3, padding=2, stride=2), DenseSpec(out_features=12),
              DenseSpec(out_features=10))


@pytest.fixture(scope="module")
def data():
    full = digits()
    keep = np.arange(len(full.train_labels)) % 4 == 0           # 360 training images: fast
    return dataclasses.replace(full, train_images=full.train_images[keep],
                               train_labels=full.train_labels[keep])


@pytest.fixture(scope="module")
def full_precision(data):
    return train(scheme=baseline("full"), data=data, seed=0, epochs=3, architecture=TINY,
                 progress=False).model


def test_digits_split_is_the_builtin_test_set():
    full = digits()
    images, labels = builtin.digits_test_set()
    np.testing.assert_array_equal(full.test_images, images)
    np.testing.assert_array_equal(full.test_labels, labels)
    assert full.train_images.shape == (1437, 1, 8, 8) and full.input_shape == (1, 8, 8)


@pytest.mark.parametrize("scheme, architecture", [
    (abcnet(m=3, n=3), TINY),
    (abcnet(m=2, n=5, channelwise=True), TINY),
    (abcnet(m=4, n=2), TINY_DENSE),
    (baseline("bnn"), TINY),
    (baseline("xnor"), TINY_DENSE),
    (baseline("trained-binarization"), TINY),
], ids=lambda value: value.name if hasattr(value, "name") else None)
def test_trained_network_exports_to_what_the_golden_model_computes(data, scheme, architecture,
                                                                   tmp_path):
    result = train(scheme=scheme, data=data, seed=1, epochs=2, fp_epochs=2,
                   architecture=architecture, progress=False)
    network = save(result.model, tmp_path / "model.npz")
    assert (network.m, network.n) == (scheme.weights.m, scheme.activations.n)
    assert [type(layer) for layer in network.layers[:3]] == (
        [Conv, MaxPool, BatchNorm] if architecture is TINY else [Conv, BatchNorm, Activation])
    loaded = model_file.load(tmp_path / "model.npz")
    for mine, theirs in zip(network.layers, loaded.layers, strict=True):
        for name, value in vars(mine).items():
            if isinstance(value, np.ndarray):
                np.testing.assert_array_equal(getattr(theirs, name), value)
    # eval mode in float64 == the golden float model: every activation bit, every prediction
    comparison = compare_with_golden(result.model, loaded, data.test_images)
    assert comparison["stage_bits_differing"] == [0, 0]
    assert comparison["predictions_differing"] == 0
    assert comparison["max_score_difference"] <= 1e-12 * comparison["max_score"]
    golden = float_forward(loaded, data.test_images)[-1].y.argmax(1)
    report = golden_accuracy(loaded, data.test_images, data.test_labels)
    assert report["float_accuracy"] == np.mean(golden == data.test_labels)


def test_layers_carry_the_trained_parameters(data, full_precision):
    result = train(scheme=abcnet(m=3, n=3), data=data, seed=2, epochs=1, architecture=TINY,
                   full_precision=full_precision, progress=False)
    network = to_network(result.model)
    stage = result.model.stages[0]
    conv, norm, activation = network.layers[0], network.layers[2], network.layers[3]
    assert network.name == "abcnet-M3N3" and network.classes == tuple("0123456789")
    np.testing.assert_array_equal(activation.shifts, stage.activation.shifts.detach().double())
    np.testing.assert_array_equal(norm.var, stage.norm.running_var.double())
    assert conv.alpha.shape == (3,) and conv.padding == 1
    np.testing.assert_allclose(conv.weights(), stage.weights().detach().double(), rtol=1e-6,
                               atol=1e-6)
    assert not np.allclose(activation.shifts, (-1.5, 0.0, 1.5))      # shifts were trained
    assert "full_precision_test_accuracy" in result.log


@pytest.mark.parametrize("name, reason", [
    ("full", "weights are real numbers"),
    ("bwn", r"8-bit activations .* N = 255 > N_MAX = 8"),
    ("dorefa-w1a4", r"4-bit activations .* N = 15 > N_MAX = 8"),
])
def test_schemes_the_model_format_cannot_hold_are_refused(name, reason):
    model = TrainNet(scheme=baseline(name), architecture=TINY)
    with pytest.raises(TrainError, match=f"scheme '{name}' cannot be written.*{reason}"):
        to_network(model)


def test_initialization_copies_the_full_precision_network(full_precision):
    model = TrainNet(scheme=baseline("trained-binarization"), architecture=TINY)
    model.initialize_from(full_precision)
    for mine, theirs in zip(model.stages, full_precision.stages):
        assert torch.equal(mine.weights.weight, theirs.weights.weight)
    w = full_precision.stages[0].weights.weight.detach()
    torch.testing.assert_close(model.stages[0].weights.scale.detach(),
                               w.abs().reshape(4, -1).mean(1))
    torch.testing.assert_close(model.stages[1].norm.running_mean,
                               full_precision.stages[1].norm.running_mean)
    with pytest.raises(TrainError, match="same architecture"):
        TrainNet(scheme=abcnet(m=1, n=1)).initialize_from(full_precision)


def test_training_is_deterministic_for_a_seed(data, full_precision):
    def run(seed):
        model = train(scheme=abcnet(m=2, n=2), data=data, seed=seed, epochs=1,
                      architecture=TINY, full_precision=full_precision, progress=False).model
        return model.state_dict()

    first, again, other = run(5), run(5), run(6)
    assert all(torch.equal(first[key], again[key]) for key in first)
    assert not all(torch.equal(first[key], other[key]) for key in first)
