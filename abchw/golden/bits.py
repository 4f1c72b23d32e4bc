"""Bit encoding of binary values and the XNOR-popcount dot product.

Bit 1 stands for +1 and bit 0 for -1. For K-element vectors ``a, b`` in {-1, +1}:
``a . b = 2 * popcount(XNOR(a, b)) - K``. Vectors are packed little-endian (element i is bit
``i % 64`` of word ``i // 64``) into uint64 words; bits past K are 0 and are not counted.
"""

import numpy as np

__all__ = ["to_bits", "from_bits", "pack_bits", "xnor_popcount", "binary_dot"]


def to_bits(values):
    """{-1, +1} -> {0, 1} as bool (+1 -> 1)."""
    return np.asarray(values) > 0


def from_bits(bits):
    """{0, 1} -> {-1, +1} as int8."""
    return np.where(np.asarray(bits, dtype=bool), 1, -1).astype(np.int8)


def pack_bits(bits):
    """Pack the last axis of a boolean array into uint64 words, little-endian.

    Returns shape ``(*bits.shape[:-1], ceil(K / 64))``.
    """
    bits = np.asarray(bits, dtype=bool)
    k = bits.shape[-1]
    words = -(-k // 64)
    packed = np.packbits(bits, axis=-1, bitorder="little")
    packed = np.pad(packed, [(0, 0)] * (bits.ndim - 1) + [(0, words * 8 - packed.shape[-1])])
    return np.ascontiguousarray(packed).view("<u8")


def xnor_popcount(a_words, b_words, k):
    """``popcount(XNOR(a, b))`` over the first ``k`` bits of packed vectors (broadcasting).

    Computed as ``k - popcount(XOR(a, b))``: bits past ``k`` are 0 in both operands, so they
    never differ and need no mask.
    """
    # Summing word by word is several times faster than a reduction over the short last axis.
    differing = np.zeros(np.broadcast_shapes(a_words.shape, b_words.shape)[:-1], dtype=np.int64)
    for word in range(a_words.shape[-1]):
        differing += np.bitwise_count(a_words[..., word] ^ b_words[..., word])
    return k - differing


def binary_dot(a, b):
    """``a . b`` of {-1, +1} vectors (last axis) through XNOR-popcount."""
    k = np.shape(a)[-1]
    return 2 * xnor_popcount(pack_bits(to_bits(a)), pack_bits(to_bits(b)), k) - k
