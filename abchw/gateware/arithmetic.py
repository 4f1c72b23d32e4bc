"""Datapath widths of a build, taken from the golden model's overflow proof.

A build is made for at most M weight bases, N activation planes, vectors of at most ``k_max``
bits and ``coef_bits``-bit coefficients. The first layer reads 8 input bit-planes, so the
accumulator must hold ``M * max(N, 8)`` terms (see ``docs/arithmetic.md``).
"""

from dataclasses import dataclass

from amaranth import C
from amaranth.utils import bits_for

from ..golden.fixed_point import COEF_BITS, accumulator_bits, worst_case_bound
from .params import check_int
from ..network import INPUT_BITS, K_MAX, M_MAX, N_MAX

__all__ = ["Arithmetic", "offset_binary"]


@dataclass(frozen=True)
class Arithmetic:
    """Widths for a build with ``m`` bases, ``n`` activations, ``k_max`` and ``coef_bits``."""
    m: int
    n: int
    k_max: int = K_MAX
    coef_bits: int = COEF_BITS

    def __post_init__(self):
        check_int("m", self.m, 1, M_MAX)
        check_int("n", self.n, 1, N_MAX)
        check_int("k_max", self.k_max, 1, K_MAX)
        check_int("coef_bits", self.coef_bits, 2, 16)

    @property
    def planes(self):
        """Input planes per term group: N for hidden layers, 8 for the first layer."""
        return max(self.n, INPUT_BITS)

    @property
    def terms(self):
        """Most popcount terms one output value combines."""
        return self.m * self.planes

    @property
    def popcount_bits(self):
        """Unsigned width of a popcount ``0..k_max``."""
        return bits_for(self.k_max)

    @property
    def dot_bits(self):
        """Signed width of a dot product ``2 p - K`` in ``[-k_max, k_max]``."""
        return bits_for(self.k_max) + 1

    @property
    def bound(self):
        """Largest ``|y|`` any network this build accepts can produce."""
        return worst_case_bound(m=self.m, n=self.planes, k=self.k_max, coef_bits=self.coef_bits)

    @property
    def acc_bits(self):
        """Signed accumulator width, holding ``[-(bound+1), bound+1]``."""
        return accumulator_bits(self.bound)


def offset_binary(value):
    """A signed value with its sign bit flipped, as unsigned: unsigned order is signed order,
    so digits of it can be compared on carry chains from the top digit down."""
    width = len(value)
    return value.as_unsigned() ^ C(1 << width - 1, width)
