"""CRC-16/CCITT-FALSE of :mod:`abchw.protocol` a byte at a time, as flat XORs.

:func:`crc16_next` is the register's next value after one byte, most significant bit first
(``binascii.crc_hqx``): each bit an XOR of at most seven register and data bits, two LUT
levels. Unlike :class:`amaranth.lib.crc.Processor`, whose ``start`` multiplexes the initial
value into every XOR, the users load :data:`CRC_INIT` on their own, off that path.
"""

from functools import reduce

from amaranth import Cat

from ...protocol import CRC_INIT, CRC_POLY

__all__ = ["CRC_INIT", "crc16_next"]


def _terms():
    """For each bit of the next register, the masks of the register and data bits it XORs."""
    bits = [(1 << i, 0) for i in range(16)]  # (register mask, data mask)
    for i in reversed(range(8)):
        feedback = (bits[15][0], bits[15][1] ^ (1 << i))
        bits = [(0, 0)] + bits[:15]
        bits = [(crc ^ feedback[0], data ^ feedback[1]) if CRC_POLY >> j & 1 else (crc, data)
                for j, (crc, data) in enumerate(bits)]
    return bits


def _xor(values):
    return reduce(lambda a, b: a ^ b, values)


def crc16_next(crc, byte):
    """The CRC-16/CCITT-FALSE register ``crc`` (16 bits) after ``byte`` (8 bits)."""
    return Cat(*(_xor([crc[i] for i in range(16) if crc_mask >> i & 1]
                      + [byte[i] for i in range(8) if data_mask >> i & 1])
                 for crc_mask, data_mask in _terms()))
