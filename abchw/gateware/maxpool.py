"""Max-pooling unit: the maximum of each group of accumulator values.

Ordering contract (``docs/arithmetic.md``, :func:`abchw.golden.integer_model.integer_stage`):
max-pooling acts on the accumulator ``y``, *before* the comparators. It cannot move after them:
with ``invert`` (``gamma < 0``) the comparator falls in ``y``, so pooling its bits would take the
minimum. The unit therefore sits between the accumulator and the
:class:`~abchw.gateware.comparator.ComparatorBank`, and its output width is the accumulator's.

Stream contract: the engine emits the values of one pooling window consecutively, the window's
last value flagged ``last``; the unit emits one maximum per group, in group order. The order of
values inside a group does not matter (max is commutative). Overlapping windows (stride < size)
share values, which the engine sends once per window: the unit holds no line buffer. A group of
one value (every value ``last``) passes values through unchanged: "no pooling". Any group
length is accepted; the maximum of values in ``[-(bound+1), bound+1]`` stays in that range.

Datapath: the output register doubles as the running maximum; a ``fresh`` flag marks a group's
first value, which loads the register unconditionally, so no "minus infinity" initial value is
needed and the most negative representable value pools correctly. The unit takes a value
whenever the output register is empty or being read: one value per cycle, no bubble between
groups, and backpressure stalls it without losing or repeating a value.
Latency: 1 register from a group's last value to its maximum.
"""

from amaranth import Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..golden.fixed_point import COEF_BITS
from ..network import K_MAX
from .arithmetic import Arithmetic

__all__ = ["PoolLayout", "MaxPoolUnit"]


class PoolLayout(data.StructLayout):
    """One accumulator value and whether it ends its pooling window."""

    def __init__(self, acc_bits):
        super().__init__({"value": signed(acc_bits), "last": unsigned(1)})


class MaxPoolUnit(wiring.Component):
    """Running-maximum pooling unit (see module documentation).

    Parameters (keyword-only), validated by :class:`~abchw.gateware.arithmetic.Arithmetic`:
    ``m`` in 1..8, ``n`` in 1..8, ``k_max`` in 1..K_MAX, ``coef_bits`` in 2..16; they set the
    accumulator width ``acc_bits``.

    Interface: ``values`` (in) stream of :class:`PoolLayout` ``(acc_bits)``; ``maxima`` (out)
    stream of ``signed(acc_bits)``.
    """

    def __init__(self, *, m, n, k_max=K_MAX, coef_bits=COEF_BITS):
        self.arithmetic = Arithmetic(m=m, n=n, k_max=k_max, coef_bits=coef_bits)
        self.acc_bits = self.arithmetic.acc_bits
        super().__init__({
            "values": In(stream.Signature(PoolLayout(self.acc_bits))),
            "maxima": Out(stream.Signature(signed(self.acc_bits))),
        })

    @property
    def latency(self):
        """Registers between a group's accepted last value and its maximum: the output register."""
        return 1

    def elaborate(self, platform):
        m = Module()
        advance = ~self.maxima.valid | self.maxima.ready
        m.d.comb += self.values.ready.eq(advance)
        beat = self.values.payload
        running = self.maxima.payload
        fresh = Signal(init=1)
        with m.If(advance):
            m.d.sync += self.maxima.valid.eq(self.values.valid & beat.last)
            with m.If(self.values.valid):
                m.d.sync += fresh.eq(beat.last)
                with m.If(fresh | (beat.value > running)):
                    m.d.sync += running.eq(beat.value)
        return m
