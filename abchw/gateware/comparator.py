"""Shift-comparator bank of one output channel: batch norm and the N activations at run time.

The golden model folds batch norm and the activations of a channel into N integer thresholds
``T_n`` and one ``invert`` flag (:mod:`abchw.golden.thresholds`, ``docs/arithmetic.md``), so an
accumulator value ``y`` becomes N bits

    bit_n = (y >= T_n) XOR invert

``invert`` is the channel's ``gamma < 0``. Constant outputs (``gamma = 0``, infinite folded
thresholds) need no special case: a threshold of ``-(bound+1)`` always fires and ``bound+1``
never does, and both fit the accumulator width (:attr:`Arithmetic.acc_bits`).

The engine reads a channel's thresholds and flag from memory alongside each value, so they travel
in the input payload (:class:`ComparatorLayout`) and the bank holds no state but its pipeline.

Pipeline, one register each, ``latency`` = 2. One signed ``acc_bits``-wide comparison is one
carry chain on an iCE40, about 0.35 ns a bit: a 37-bit chain from the input payload into a
register runs at only 47-52 MHz. So each comparison is split into three *digits*
(:attr:`~ComparatorBank.digit_widths`: a low digit of about 40% of the bits, a middle and a top
digit of about 30% each, e.g. 15, 11 and 11 bits of 37), each compared on its own short chain
in stage 1, the results combined in stage 2. Both operands are compared in unsigned order with
their sign bits flipped (``y ^ 2**(acc_bits-1)``), which orders them as signed numbers.

1. Per threshold, the low digit's ``y_low >= T_low`` (carry out of ``y + ~T + 1``); the middle
   and top digits' ``y_d >= T_d`` (no carry out of ``T + ~y``) and that sum itself,
   ``T_d - y_d - 1`` modulo ``2**width``, which is all ones exactly when ``y_d == T_d``. The sum
   bits cost no logic cells: each is the look-up table and flip-flop of its own chain's cell.
   A chain needs one operand inverted. The low digit inverts ``T``, one LUT per bit, which fit
   the otherwise unused LUTs of its chain's cells; the upper digits' cells hold the sums, so
   they invert ``y`` instead, once for all N thresholds. Each of those shared inverters drives
   N chains, and the routing of that fanout is why the upper digits are the narrower ones (the
   low digit's 15 bits of 37 cost about as much time as the upper digits' 11 at N = 8).
   ``invert`` is registered beside them.
2. ``y >= T = ge_top & (~eq_top | ge_mid & (~eq_mid | ge_low))``, ``eq_d`` the AND of the
   digit's sum bits, XOR ``invert``, into the output register.

Every chain ends in a LUT that shares its cell with the flip-flop it feeds (the registered
``>=`` is the inverted carry, never the bare carry, which nextpnr would route out through an
extra cell). The output register has no reset, only ``bits.valid`` has.

The whole pipeline advances together whenever the output register is empty or being read, so
the bank accepts one value per cycle and stalls under backpressure without losing or repeating
one. The domain reset clears the valid bits.
"""

from amaranth import C, Cat, Module, Signal, signed, unsigned
from amaranth.hdl import EnableInserter
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..golden.fixed_point import COEF_BITS
from ..network import K_MAX
from .arithmetic import Arithmetic, offset_binary

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
        """Registers between an accepted value and its bits: the digit comparisons, the output
        register."""
        return 2

    @property
    def digit_widths(self):
        """``(low, middle, top)``: widths of the three digits each comparison is split into."""
        upper = (self.acc_bits * 3 + 5) // 10
        return self.acc_bits - 2 * upper, upper, upper

    def elaborate(self, platform):
        m = Module()
        advance = ~self.bits.valid | self.bits.ready
        m.d.comb += self.values.ready.eq(advance)
        pipeline = Module()
        m.submodules.pipeline = EnableInserter(advance)(pipeline)

        beat = self.values.payload
        value = offset_binary(beat.value)
        low, middle, _ = self.digit_widths
        upper_digits = ((low, low + middle), (low + middle, self.acc_bits))

        # Stage 1: per threshold and digit, >= and (upper digits) the equality sum.
        valid, invert = Signal(), Signal(reset_less=True)
        pipeline.d.sync += [valid.eq(self.values.valid), invert.eq(beat.invert)]
        fires = []
        for i in range(self.n):
            threshold = offset_binary(beat.thresholds[i])
            below_low = Signal(reset_less=True, name=f"below_low{i}")
            carry = (Cat(C(1, 1), value[:low]) + Cat(C(1, 1), ~threshold[:low]))[-1]
            pipeline.d.sync += below_low.eq(~carry)
            at_least = ~below_low
            for digit, (start, stop) in zip(("mid", "top"), upper_digits):
                width = stop - start
                total = Signal(width + 1, name=f"total_{digit}{i}")
                m.d.comb += total.eq(threshold[start:stop] + ~value[start:stop])
                ge = Signal(reset_less=True, name=f"ge_{digit}{i}")
                difference = Signal(width, reset_less=True, name=f"difference_{digit}{i}")
                pipeline.d.sync += [ge.eq(~total[width]), difference.eq(total[:width])]
                # For stage 2: this digit decides unless it is equal, then the lower ones do.
                at_least = ge & (~difference.all() | at_least)
            fires.append(at_least)

        # Stage 2: the combined comparisons, inverted where the channel says so.
        bits = Signal(self.n, reset_less=True)
        pipeline.d.sync += [self.bits.valid.eq(valid),
                            bits.eq(Cat(fires) ^ invert.replicate(self.n))]
        m.d.comb += self.bits.payload.eq(bits)
        return m
