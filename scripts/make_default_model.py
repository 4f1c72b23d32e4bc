"""Make the built-in default model and test set shipped in ``abchw/data/``.

    pip install -e '.[train]' && python scripts/make_default_model.py

Network (8x8 digits, M = N = 3): conv3x3 1->16 (pad 1), batch norm, 3 activations;
conv3x3 16->32 (pad 1), max-pool 2, batch norm, 3 activations; dense 512->10 (scores).

No gradient training happens here (issue "Training" replaces this model with a trained one):
the conv weights are random Gaussian (fixed seed) approximated by M = 3 bases; each batch norm is
calibrated on the training split so every channel's pre-activation has zero mean and unit
variance, and the shifts put the three activation thresholds at the quartiles of a unit normal;
the dense layer is the ridge-regression readout of the one-hot labels from the binary features
of the second stage, approximated by M = 3 channel-wise bases. The script prints the test
accuracy of the float and integer models.
"""

import argparse
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

from abchw import model_file
from abchw.builtin import digits_split_is_test, digits_to_uint8
from abchw.atomic import atomic_write
from abchw.golden import approximate_weights, integer_forward, lower
from abchw.golden.float_model import float_forward, float_stage, input_planes
from abchw.network import Activation, BatchNorm, Conv, Dense, MaxPool, Network, Stage

DATA = Path(__file__).resolve().parent.parent / "abchw" / "data"
M = 3
SHIFTS = 0.5 - np.array([-0.6745, 0.0, 0.6745])  # thresholds at the unit normal's quartiles
SCALES = np.ones(3)
RIDGE = 30.0


def calibrated(stage, planes, scales):
    """Batch norm making this stage's pre-activations zero-mean, unit-variance per channel."""
    y = float_stage(stage, planes, scales).y
    mean, var = y.mean(axis=(0, 2, 3)), y.var(axis=(0, 2, 3))
    return BatchNorm(np.ones_like(mean), np.zeros_like(mean), mean, var)


def hidden_stage(linear, pool, planes, scales, in_shape):
    """Calibrate a conv stage on the training planes; return its layers and output planes."""
    bare = Stage(linear, pool, None, None, in_shape, None, planes.shape[0])
    norm = calibrated(bare, planes, scales)
    activation = Activation(SHIFTS, SCALES)
    stage = Stage(linear, pool, norm, activation, in_shape, None, planes.shape[0])
    layers = [linear] + ([pool] if pool else []) + [norm, activation]
    return layers, float_stage(stage, planes, scales)


def build(images, labels, seed):
    rng = np.random.default_rng(seed)
    conv1 = Conv(*approximate_weights(rng.normal(size=(16, 1, 3, 3)), M), padding=1)
    conv2 = Conv(*approximate_weights(rng.normal(size=(32, 16, 3, 3)), M), padding=1)
    planes, scales = input_planes(images)
    layers1, out1 = hidden_stage(conv1, None, planes, scales, (1, 8, 8))
    layers2, out2 = hidden_stage(conv2, MaxPool(2), out1.planes, out1.scales, (16, 8, 8))
    features = np.tensordot(out2.scales, out2.planes, axes=1).reshape(len(images), -1)
    targets = np.eye(10)[labels]
    gram = features.T @ features + RIDGE * np.eye(features.shape[1])
    readout = np.linalg.solve(gram, features.T @ targets).T                  # (10, 512)
    dense = Dense(*approximate_weights(readout, M, channelwise=True))
    return Network((1, 8, 8), layers1 + layers2 + [dense], name="digits-random-features-M3N3",
                   classes=[str(d) for d in range(10)])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    digits = load_digits()
    images, labels = digits_to_uint8(digits.images), digits.target.astype(np.int64)
    test = digits_split_is_test(len(labels))
    network = build(images[~test], labels[~test], args.seed)
    float_scores = float_forward(network, images[test])[-1].y
    integer_scores = integer_forward(lower(network), images[test])[-1].y
    float_accuracy = np.mean(float_scores.argmax(1) == labels[test])
    integer_accuracy = np.mean(integer_scores.argmax(1) == labels[test])
    print(f"{network.name}: test accuracy float {float_accuracy:.3f}, "
          f"integer {integer_accuracy:.3f} "
          f"({test.sum()} images)")
    model_file.save(network, DATA / "default_model.npz")
    with atomic_write(DATA / "digits_test.npz") as file:
        np.savez_compressed(file, images=images[test], labels=labels[test])
    print(f"wrote {DATA / 'default_model.npz'} and {DATA / 'digits_test.npz'}")


if __name__ == "__main__":
    main()
