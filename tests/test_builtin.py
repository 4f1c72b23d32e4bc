import numpy as np

from abchw import builtin
from abchw.golden import float_forward, integer_forward, lower


def test_default_model_is_small_and_m3n3():
    network = builtin.default_model()
    assert (network.m, network.n) == (3, 3)
    assert network.input_shape == (1, 8, 8)
    assert network.output_shape == (10,)
    assert network.classes == tuple(str(d) for d in range(10))
    assert network.name == "digits-abcnet-M3N3"                 # trained by abchw.train
    assert not network.stages[0].linear.channelwise
    assert builtin.DEFAULT_MODEL.read_bytes()[:2] == b"PK"
    assert len(builtin.DEFAULT_MODEL.read_bytes()) < 16 * 1024


def test_digits_test_set_is_the_documented_split():
    images, labels = builtin.digits_test_set()
    assert images.shape == (360, 1, 8, 8) and images.dtype == np.uint8
    assert labels.shape == (360,) and set(labels.tolist()) == set(range(10))
    # load_digits pixels are 0..16, rescaled by 255/16: only those 17 values occur
    assert set(np.unique(images)) <= set(np.rint(np.arange(17) * 255 / 16).astype(int))
    assert builtin.digits_split_is_test(1797).sum() == 360
    np.testing.assert_array_equal(builtin.digits_to_uint8(np.array([0, 8, 16] + [0] * 61)),
                                  np.array([0, 128, 255] + [0] * 61, np.uint8).reshape(1, 1, 8, 8))


def test_default_model_classifies_digits_and_both_models_agree():
    network = builtin.default_model()
    images, labels = builtin.digits_test_set()
    integer = integer_forward(lower(network), images)[-1].y.argmax(axis=1)
    floats = float_forward(network, images)[-1].y.argmax(axis=1)
    np.testing.assert_array_equal(integer, floats)
    # measured when the model was made (scripts/make_default_model.py): 355 of 360, 98.6%
    assert (integer == labels).sum() == 355
