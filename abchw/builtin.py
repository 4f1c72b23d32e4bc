"""What ships inside the package: the default model and a test set to run it on.

* ``data/default_model.npz`` — the built-in ABC-Net model (M = N = 3) for 8x8 digits, made by
  ``scripts/make_default_model.py`` (see that script for how it is made and what it scores).
* ``data/digits_test.npz`` — the test split of scikit-learn's ``load_digits`` (UCI optical
  recognition of handwritten digits, CC BY 4.0): every fifth image, index % 5 == 0, 360 images,
  pixels 0..16 rescaled to 0..255 as ``round(x * 255 / 16)``; ``images`` ``(360, 1, 8, 8)``
  uint8 and ``labels`` ``(360,)``. The other four fifths are the training split.
"""

from importlib import resources

import numpy as np

from . import model_file

__all__ = ["DEFAULT_MODEL", "DIGITS_TEST", "default_model", "digits_test_set",
           "digits_split_is_test", "digits_to_uint8"]

DEFAULT_MODEL = resources.files(__package__) / "data" / "default_model.npz"
DIGITS_TEST = resources.files(__package__) / "data" / "digits_test.npz"


def default_model():
    """The built-in :class:`~abchw.network.Network`."""
    with resources.as_file(DEFAULT_MODEL) as path:
        return model_file.load(path)


def digits_test_set():
    """The built-in test images ``(360, 1, 8, 8)`` uint8 and their labels ``(360,)``."""
    with resources.as_file(DIGITS_TEST) as path, np.load(path, allow_pickle=False) as data:
        return data["images"], data["labels"]


def digits_split_is_test(count):
    """Boolean mask over ``load_digits`` indices: True for the test split."""
    return np.arange(count) % 5 == 0


def digits_to_uint8(images):
    """``load_digits`` pixels (0..16, float) -> uint8 0..255, shape ``(B, 1, 8, 8)``."""
    images = np.asarray(images, dtype=np.float64).reshape(-1, 1, 8, 8)
    return np.rint(images * 255 / 16).astype(np.uint8)
