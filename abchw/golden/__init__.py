"""The golden models: the float reference of the paper and the bit-exact integer model.

The integer model (:mod:`abchw.golden.integer_model`) is the specification the RTL is tested
against; the float model (:mod:`abchw.golden.float_model`) is the paper's arithmetic, against
which the integer model's rounding is measured.
"""

from .approximation import (DEFAULT_RIDGE, activation_predicate, approximate_weights,
                            binarize_activations, default_shifts)
from .bits import binary_dot, from_bits, pack_bits, to_bits, xnor_popcount
from .fixed_point import COEF_BITS, accumulator_bits, quantize_coefficients
from .float_model import float_forward
from .integer_model import IntegerNetwork, IntegerStage, integer_forward, lower

__all__ = [
    "DEFAULT_RIDGE", "activation_predicate", "approximate_weights", "binarize_activations",
    "default_shifts", "binary_dot", "from_bits", "pack_bits", "to_bits", "xnor_popcount",
    "COEF_BITS", "accumulator_bits", "quantize_coefficients", "float_forward",
    "IntegerNetwork", "IntegerStage", "integer_forward", "lower",
]
