"""Beta-weighted accumulator: ``y = sum coefficient * (2 * popcount - K)`` over a group of terms.

One term arrives per beat: a popcount ``p`` of one binary convolution, its fixed-point
coefficient ``q = alpha_m * beta_n * 2**f`` and ``last``, which ends the group of terms of one
output value; one value leaves per group. This is the golden model's arithmetic exactly
(``abchw.golden.integer_model``; proof in ``docs/arithmetic.md``): a group holds up to
``Arithmetic.terms = M * max(N, 8)`` terms (M * N for a hidden layer, M * 8 bit-planes for the
first), and for inputs within the proof's premises (``0 <= p <= K <= k_max``,
``|q| <= 2**(coef_bits-1) - 1``, so never the coefficient ``-2**(coef_bits-1)``, and at most
``terms`` terms per group) every partial sum lies in ``[-bound, bound]`` and fits the
``acc_bits``-wide accumulator, which therefore never wraps. (A product wider than
``acc_bits`` is cut to it; the modular sum is still exact because every partial sum fits.)

Pipeline, one register each, ``latency`` = 5: (1) the dot product ``2 p - K`` (16-bit signed
at most, since ``k_max <= K_MAX = 32767``) beside its coefficient; (2, 3) the
:class:`~.ice40.mac16.Mac16` multiplier's operand and product registers; (4, 5) the sum, split
into a low half of ``L = acc_bits // 2`` bits and a high half of ``H = acc_bits - L`` bits with
the carry between them registered (a pipelined adder): stage 4 adds the product's low ``L`` bits
to the low accumulator and registers the carry out; stage 5 adds the product's high bits
(registered in stage 4, sign-extended) and that carry to the high accumulator. No carry chain is
longer than about ``acc_bits / 2 + 2`` cells (37 bits: 20), which is what sets the clock rate on
the iCE40 (about 0.35 ns a bit).

A group restarts without a multiplexer in the adders: after its last term each accumulator is
cleared through its flip-flops' synchronous reset (the iCE40 ``SB_DFFESR`` R input), so the next
group's first term adds to zero. The last term's sums go instead to the output: each half has a
second adder on the same operands, whose result is taken only on a group's last term (stage 4:
low half and its carry into a capture register; stage 5: the high half, beside the captured low
half, into the output register). Duplicating the adder costs no logic cells (a second register
fed by the first adder would need a cell of its own too) and keeps every register in its
adder's cell: a sum that feeds two registers reaches one of them only through routing and
another LUT, about 4 ns later. The two adders of a half differ in their lowest carry, so that
synthesis cannot merge them (low: the accumulator's carry-in is ``last``, which only corrupts a
sum that the reset discards; high: each adds its own low adder's carry). The low carry out is
the top sum bit of an adder one bit wider (``last ^ carry``, resp. ``~last ^ carry``), so that it
leaves the carry chain through a LUT whose flip-flop shares its cell.

One term per cycle, no bubbles. As in the XNOR-popcount PE, the whole pipeline, multiplier
included (its ``ce``), advances together whenever the output register is empty or being read,
so backpressure loses or repeats nothing. The domain reset clears both accumulators (and the
valid bits) whether or not the pipeline advances.
"""

from amaranth import C, Cat, Module, ResetSignal, Signal, signed, unsigned
from amaranth.hdl import EnableInserter
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..golden.fixed_point import COEF_BITS
from ..network import K_MAX
from .arithmetic import Arithmetic
from .ice40.mac16 import Mac16

__all__ = ["TermLayout", "BetaAccumulator"]


class TermLayout(data.StructLayout):
    """One term: ``popcount`` p, its signed ``coefficient`` q, and ``last`` of its group."""

    def __init__(self, arithmetic):
        super().__init__({"popcount": unsigned(arithmetic.popcount_bits),
                          "coefficient": signed(arithmetic.coef_bits), "last": unsigned(1)})


class BetaAccumulator(wiring.Component):
    """Weighted sum of XNOR-popcount terms (see module documentation).

    Parameters (keyword-only): ``m`` in 1..8 bases and ``n`` in 1..8 activations, ``k_max`` in
    1..K_MAX and ``coef_bits`` in 2..16, checked by :class:`Arithmetic`, which derives the
    widths; ``hard_macro``, a bool: the multiplier is an SB_MAC16 (else behavioural).

    Interface: ``terms`` (in) stream of :class:`TermLayout`; ``k`` (in)
    ``unsigned(popcount_bits)``, the layer's vector length K, read with each term as it is
    accepted (so it may change between layers without draining the pipeline);
    ``values`` (out) stream of ``signed(acc_bits)``, one ``y`` per group.
    """

    def __init__(self, *, m, n, k_max=K_MAX, coef_bits=COEF_BITS, hard_macro=False):
        self.arithmetic = Arithmetic(m=m, n=n, k_max=k_max, coef_bits=coef_bits)
        self._mac = Mac16(hard_macro=hard_macro)  # validates hard_macro
        self.hard_macro = hard_macro
        super().__init__({
            "terms": In(stream.Signature(TermLayout(self.arithmetic))),
            "k": In(unsigned(self.arithmetic.popcount_bits)),
            "values": Out(stream.Signature(signed(self.arithmetic.acc_bits))),
        })

    @property
    def latency(self):
        """Registers between an accepted one-term group and its value: dot, multiplier, low half,
        high half."""
        return 1 + Mac16.LATENCY + 2

    @property
    def low_bits(self):
        """Width ``L`` of the accumulator's low half (the high half has ``acc_bits - L``)."""
        return self.arithmetic.acc_bits // 2

    def elaborate(self, platform):
        m = Module()
        advance = ~self.values.valid | self.values.ready
        m.d.comb += [self.terms.ready.eq(advance), self._mac.ce.eq(advance)]
        m.submodules.mac = self._mac
        # Registers that only move with the pipeline; the accumulators, which the domain reset
        # must also clear while the pipeline stalls, are built in ``m`` with explicit enables.
        pipeline = Module()
        m.submodules.pipeline = EnableInserter(advance)(pipeline)
        self._build(m, pipeline, advance)
        return m

    def _build(self, m, pipeline, advance):
        acc_bits = self.arithmetic.acc_bits
        low = self.low_bits
        high = acc_bits - low
        term = self.terms.payload
        reset = ResetSignal(allow_reset_less=True)

        # Stage 1: the dot product beside its coefficient.
        dot = Signal(signed(self.arithmetic.dot_bits), reset_less=True)
        coefficient = Signal(signed(self.arithmetic.coef_bits), reset_less=True)
        valid, last = Signal(), Signal()
        pipeline.d.sync += [dot.eq((term.popcount << 1) - self.k),
                            coefficient.eq(term.coefficient),
                            valid.eq(self.terms.valid), last.eq(term.last)]
        m.d.comb += [self._mac.a.eq(dot), self._mac.b.eq(coefficient)]

        # Stages 2 and 3: the multiplier; valid and last travel beside it.
        for stage in range(Mac16.LATENCY):
            delayed = Signal(name=f"valid_mul{stage}"), Signal(name=f"last_mul{stage}")
            pipeline.d.sync += [delayed[0].eq(valid), delayed[1].eq(last)]
            valid, last = delayed
        product = self._mac.product
        product_low = product[:low]

        # Stage 4: the low half. The accumulator (cleared after a last term) and its carry out
        # ``carry``, the top bit of a one-bit-wider sum: last ^ carry out, so exact unless last.
        acc_low = Signal(low, reset_less=True)
        carry = Signal(reset_less=True)
        sum_low = Signal(low + 2)
        m.d.comb += sum_low.eq(Cat(last, acc_low, last) + Cat(last, product_low, C(0, 1)))
        load_low, clear_low = Signal(), Signal()
        m.d.comb += [load_low.eq(reset | (advance & valid)), clear_low.eq(reset | last)]
        with m.If(load_low):
            with m.If(clear_low):
                m.d.sync += [acc_low.eq(0), carry.eq(0)]
            with m.Else():
                m.d.sync += [acc_low.eq(sum_low[1:low + 1]), carry.eq(sum_low[low + 1])]
        # The last term's low half and carry (~last ^ carry out: exact when last), captured.
        final_low = Signal(low + 1)
        m.d.comb += final_low.eq(Cat(acc_low, last) + Cat(product_low, C(1, 1)))
        captured_low = Signal(low, reset_less=True)
        captured_carry = Signal(reset_less=True)
        with m.If(advance & valid & last):
            m.d.sync += [captured_low.eq(final_low[:low]), captured_carry.eq(final_low[low])]
        # The product's high bits, for stage 5 (a product wider than acc_bits is cut to it).
        product_high = Signal(signed(min(acc_bits, 32) - low), reset_less=True)
        pipeline.d.sync += product_high.eq(product[low:min(acc_bits, 32)].as_signed())
        valid_high, last_high, done = Signal(), Signal(), Signal()
        pipeline.d.sync += [valid_high.eq(valid), last_high.eq(last), done.eq(valid & last)]

        # Stage 5: the high half, with the low half's carry as the lowest bit of both operands.
        addend = Signal(high)
        m.d.comb += addend.eq(product_high)     # sign-extended
        acc_high = Signal(high, reset_less=True)
        sum_high = Signal(high)
        m.d.comb += sum_high.eq((Cat(carry, acc_high) + Cat(carry, addend))[1:high + 1])
        load_high, clear_high = Signal(), Signal()
        m.d.comb += [load_high.eq(reset | (advance & valid_high)),
                     clear_high.eq(reset | last_high)]
        with m.If(load_high):
            with m.If(clear_high):
                m.d.sync += acc_high.eq(0)
            with m.Else():
                m.d.sync += acc_high.eq(sum_high)
        # The last term's high half, beside its captured low half, is the output.
        final_high = Signal(high)
        m.d.comb += final_high.eq(
            (Cat(captured_carry, acc_high) + Cat(captured_carry, addend))[1:high + 1])
        with m.If(advance & done):
            m.d.sync += self.values.payload.eq(Cat(captured_low, final_high))
        pipeline.d.sync += self.values.valid.eq(done)
