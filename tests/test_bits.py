"""abchw.golden.bits: the {-1,+1} <-> bit encoding, word packing and the XNOR-popcount identity."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from abchw.golden.bits import binary_dot, from_bits, pack_bits, to_bits, xnor_popcount

SEEDS = st.integers(0, 2 ** 32 - 1)
# Lengths 1..300 with the word boundaries (multiples of 64 and their neighbours) always in reach.
LENGTHS = st.one_of(st.sampled_from([1, 2, 63, 64, 65, 127, 128, 129, 191, 192, 193, 255, 256,
                                     257, 320, 321]),
                    st.integers(1, 300))


def _signs(rng, shape):
    return rng.choice(np.array([-1, 1], dtype=np.int8), size=shape)


@settings(max_examples=200, deadline=None)
@given(k=LENGTHS, seed=SEEDS)
def test_xnor_popcount_identity_matches_dot(k, seed):
    rng = np.random.default_rng(seed)
    a, b = _signs(rng, k), _signs(rng, k)
    expected = int(np.dot(a.astype(np.int64), b.astype(np.int64)))
    p = xnor_popcount(pack_bits(to_bits(a)), pack_bits(to_bits(b)), k)
    assert 0 <= p <= k
    assert p == int(np.sum(a == b))
    assert 2 * p - k == expected
    assert binary_dot(a, b) == expected


@settings(max_examples=50, deadline=None)
@given(k=LENGTHS, seed=SEEDS, rows=st.integers(1, 4), cols=st.integers(1, 4))
def test_xnor_popcount_broadcasts(k, seed, rows, cols):
    rng = np.random.default_rng(seed)
    a, b = _signs(rng, (rows, 1, k)), _signs(rng, (1, cols, k))
    expected = np.einsum("rk,ck->rc", a[:, 0].astype(np.int64), b[0].astype(np.int64))
    got = 2 * xnor_popcount(pack_bits(to_bits(a)), pack_bits(to_bits(b)), k) - k
    assert got.shape == (rows, cols)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(binary_dot(a, b), expected)


def test_identical_and_opposite_vectors():
    for k in (1, 63, 64, 65, 200):
        a = np.ones(k, dtype=np.int8)
        assert binary_dot(a, a) == k
        assert binary_dot(a, -a) == -k
        assert binary_dot(-a, -a) == k


def test_pack_bits_hand_built_layout():
    # K = 70: two words; set elements 0, 3, 63 (word 0) and 64, 69 (word 1).
    bits = np.zeros(70, dtype=bool)
    bits[[0, 3, 63, 64, 69]] = True
    packed = pack_bits(bits)
    assert packed.dtype == np.dtype("<u8")
    assert packed.shape == (2,)
    assert int(packed[0]) == 1 | (1 << 3) | (1 << 63)
    assert int(packed[1]) == 1 | (1 << 5)


def test_pack_bits_exact_word_and_leading_axes():
    bits = np.zeros((2, 3, 64), dtype=bool)
    bits[1, 2, 1] = True
    bits[0, 0, :] = True
    packed = pack_bits(bits)
    assert packed.shape == (2, 3, 1)
    assert int(packed[0, 0, 0]) == 2 ** 64 - 1
    assert int(packed[1, 2, 0]) == 2
    assert int(packed[0, 1, 0]) == 0


@settings(max_examples=100, deadline=None)
@given(k=LENGTHS, seed=SEEDS, lead=st.integers(1, 3))
def test_pack_bits_layout_random(k, seed, lead):
    rng = np.random.default_rng(seed)
    bits = rng.random((lead, k)) < 0.5
    packed = pack_bits(bits)
    assert packed.shape == (lead, -(-k // 64))
    for r in range(lead):
        words = [int(w) for w in packed[r]]
        for i in range(len(words) * 64):
            bit = (words[i // 64] >> (i % 64)) & 1
            assert bit == (int(bits[r, i]) if i < k else 0)


@settings(max_examples=100, deadline=None)
@given(seed=SEEDS, shape=st.lists(st.integers(1, 5), min_size=1, max_size=3))
def test_to_bits_from_bits_round_trip(seed, shape):
    rng = np.random.default_rng(seed)
    signs = _signs(rng, shape)
    bits = to_bits(signs)
    assert bits.dtype == np.bool_
    np.testing.assert_array_equal(bits, signs == 1)
    back = from_bits(bits)
    assert back.dtype == np.int8
    np.testing.assert_array_equal(back, signs)
    np.testing.assert_array_equal(to_bits(from_bits(bits)), bits)
    # Float {-1.0, +1.0} encodes the same way.
    np.testing.assert_array_equal(to_bits(signs.astype(np.float64)), bits)
