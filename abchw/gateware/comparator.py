"""Shift-comparator bank of one output channel: batch norm and the N activations at run time.

The golden model folds batch norm and the activations of a channel into N integer thresholds
``T_n`` and one ``invert`` flag (:mod:`abchw.golden.thresholds`, ``docs/arithmetic.md``), so an
accumulator value ``y`` becomes N bits

    bit_n = (y >= T_n) XOR invert

``invert`` is the channel's ``gamma < 0``. Constant outputs (``gamma = 0``, infinite folded
thresholds) need no special case: a threshold of ``-(bound+1)`` always fires and ``bound+1``
never does, and both fit the accumulator width (:attr:`Arithmetic.acc_bits`).

The engine reads a channel's thresholds and flag from memory alongside each value, so they travel
in the input payload (:class:`ComparatorLayout`) and the bank holds no state but its output
register. N signed comparisons of ``acc_bits`` bits (one carry chain each on an iCE40) feed that
register directly. It takes a value whenever the register is empty or being read, so it accepts
one value per cycle and stalls under backpressure without losing or repeating one.
Latency: 1 register from input to output.
"""

from amaranth import Cat, Module, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..golden.fixed_point import COEF_BITS
from ..network import K_MAX
from .arithmetic import Arithmetic

__all__ = ["ComparatorLayout", "ComparatorBank"]


class ComparatorLayout(data.StructLayout):
    """One accumulator value with its channel's N thresholds and ``invert`` flag."""

    def __init__(self, acc_bits, n):
        super().__init__({"value": signed(acc_bits),
                          "thresholds": data.ArrayLayout(signed(acc_bits), n),
                          "invert": unsigned(1)})


class ComparatorBank(wiring.Component):
    """N-threshold comparator bank (see module documentation).

    Parameters (keyword-only), validated by :class:`~abchw.gateware.arithmetic.Arithmetic`:
    ``m`` bases in 1..8 and ``n`` activations in 1..8, ``k_max`` in 1..K_MAX, ``coef_bits`` in
    2..16; they set the accumulator width ``acc_bits``.

    Interface: ``values`` (in) stream of :class:`ComparatorLayout` ``(acc_bits, n)``; ``bits``
    (out) stream of ``unsigned(n)``, bit i = ``(value >= thresholds[i]) ^ invert``.
    """

    def __init__(self, *, m, n, k_max=K_MAX, coef_bits=COEF_BITS):
        self.arithmetic = Arithmetic(m=m, n=n, k_max=k_max, coef_bits=coef_bits)
        self.n = n
        self.acc_bits = self.arithmetic.acc_bits
        super().__init__({
            "values": In(stream.Signature(ComparatorLayout(self.acc_bits, n))),
            "bits": Out(stream.Signature(unsigned(n))),
        })

    @property
    def latency(self):
        """Registers between an accepted value and its bits: the output register."""
        return 1

    def elaborate(self, platform):
        m = Module()
        advance = ~self.bits.valid | self.bits.ready
        m.d.comb += self.values.ready.eq(advance)
        beat = self.values.payload
        fires = Cat(beat.value >= beat.thresholds[i] for i in range(self.n))
        with m.If(advance):
            m.d.sync += [self.bits.valid.eq(self.values.valid),
                         self.bits.payload.eq(fires ^ beat.invert.replicate(self.n))]
        return m
