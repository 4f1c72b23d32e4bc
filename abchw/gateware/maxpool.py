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

Datapath: a running maximum ``R`` takes a value ``v`` when ``v >= R`` or when ``v`` is its
group's first (a ``fresh`` flag, so no "minus infinity" initial value is needed and the most
negative representable value pools correctly). That is a loop, register -> compare -> register,
and a 37-bit compare chain in it runs at only 33-40 MHz on the iCE40. The loop is therefore cut
into three *digits* (:attr:`~MaxPoolUnit.digit_widths`, top first, e.g. 12, 12 and 13 bits of
37), handled one after the other, top digit first, one pipeline stage each, after a register
that takes the input (``latency`` = 4): the engine's values come from a block RAM and a
multiplexer, too slow to meet the top digit's chain in the same cycle.
Values are compared with their sign bit flipped (``y ^ 2**(acc_bits-1)``), which orders signed
numbers as unsigned ones. The top digit of the maximum is the maximum of the top digits, and a
lower digit of ``R`` takes ``v``'s exactly when ``v``'s higher digits are greater than ``R``'s,
or equal and its own is at least ``R``'s. So stage ``d`` keeps digit ``d`` of ``R`` and gets two
flags with the value from stage ``d - 1``: ``greater`` (``v``'s higher digits are greater than
``R``'s, or ``v`` is fresh) and ``at_least`` (greater or equal; both clear for an empty beat).
Stage ``d`` takes digit ``d`` of ``v`` when ``greater | at_least & (v_d >= R_d)`` and hands on
``greater | at_least & (v_d > R_d)`` and that take condition. Each digit's loop thus holds one
short chain and two look-up tables. A value reaches stage ``d`` one cycle after stage ``d - 1``,
just as the value before it did, so digit ``d`` of ``R`` then holds the maximum of exactly the
values that the higher digits' flags were computed against.

Each loop is register -> carry chain -> the take LUT -> the LUT in front of each register bit
(``take ? v_d : R_d``) -> register. The choice is written as AND/OR rather than as a
conditional assignment, which Yosys would turn into a flip-flop enable: that enable would need
the pipeline's advance signal too, so one more LUT, and the chain's carry would then feed two
LUTs, which nextpnr can only do through one more logic cell. The top digit is stored inverted,
so that its chain needs no inverter on the loop side (its value operand comes from the input
payload); the lower digits are stored as they are and the value's lower digits travel to them
inverted, in pipeline registers whose LUTs do the inversion.

The maximum leaves from registers: the low digit's ``R`` and delayed copies of the higher
digits' (two for the top, one for the middle), which line up with the low digit's. None of
them has a reset, only ``maxima.valid`` has. Everything advances together
whenever the output register is empty or being read: one value per cycle, no bubble between
groups, and backpressure stalls it without losing or repeating a value. The domain reset sets
``fresh`` and clears the valid bits; a value in flight through the lower stages at a reset only
changes digits that the next group's first value overwrites.
"""

from amaranth import C, Cat, Module, Signal, signed, unsigned
from amaranth.hdl import EnableInserter
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..golden.fixed_point import COEF_BITS
from ..network import K_MAX
from .arithmetic import Arithmetic, offset_binary

__all__ = ["MaxPoolUnit", "PoolLayout"]

#: Digits, and so pipeline stages, of the running-maximum loop.
DIGITS = 3


class PoolLayout(data.StructLayout):
    """One accumulator value and whether it ends its pooling window."""

    def __init__(self, acc_bits):
        super().__init__({"value": signed(acc_bits), "last": unsigned(1)})


def _carry_out(a, b, carry_in):
    """Carry out of ``a + b + carry_in`` (``carry_in`` the constant 0 or 1): one carry chain."""
    if carry_in:
        return (Cat(C(1, 1), a) + Cat(C(1, 1), b))[-1]
    return (a + b)[-1]


def _hold_or_take(register, value, take):
    """``register`` takes ``value`` where ``take``, as AND/OR (see module documentation)."""
    mask = take.replicate(len(register))
    return register.eq((value & mask) | (register & ~mask))


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
        """Registers between a group's accepted last value and its maximum: the input's and
        one per digit."""
        return 1 + DIGITS

    @property
    def digit_widths(self):
        """Widths of the digits of the running maximum, top digit first (lower ones wider)."""
        base, extra = divmod(self.acc_bits, DIGITS)
        return tuple(base + (digit >= DIGITS - extra) for digit in range(DIGITS))

    def elaborate(self, platform):
        m = Module()
        advance = ~self.maxima.valid | self.maxima.ready
        m.d.comb += self.values.ready.eq(advance)
        pipeline = Module()
        m.submodules.pipeline = EnableInserter(advance)(pipeline)

        # The input register (the value's sign bit flipped on the way in).
        valid, last = Signal(), Signal()
        value = Signal(self.acc_bits, reset_less=True)
        pipeline.d.sync += [valid.eq(self.values.valid), last.eq(self.values.payload.last),
                            value.eq(offset_binary(self.values.payload.value))]
        fresh = Signal(init=1)
        with m.If(advance & valid):
            m.d.sync += fresh.eq(last)
        greater, at_least = Signal(), Signal()
        m.d.comb += [greater.eq(valid & fresh), at_least.eq(valid)]
        done = valid & last

        stop = self.acc_bits
        pieces = []                 # the output's digits, top first
        rest = None                 # the inverted lower digits of the value, from stage 2 on
        for digit, width in enumerate(self.digit_widths):
            start = stop - width
            stage = digit + 1
            if digit == 0:
                # The top digit, stored inverted: v >= R <=> carry out of v + ~R + 1.
                inverted = Signal(width, name="running_top_inverted", reset_less=True)
                ours = value[start:stop]
                ge = _carry_out(ours, inverted, 1)
                gt = _carry_out(ours, inverted, 0)
                new = ~ours
                running = ~inverted ^ C(1 << width - 1, width)  # sign flipped back
                register = inverted
            else:
                # A lower digit: v >= R <=> no carry out of R + ~v.
                running = Signal(width, name=f"running{stage}", reset_less=True)
                ours = rest[start:stop]
                ge = ~_carry_out(running, ours, 0)
                gt = ~_carry_out(running, ours, 1)
                new = ~ours
                register = running
            take = Signal(name=f"take{stage}")
            m.d.comb += take.eq(greater | (at_least & ge))
            pipeline.d.sync += _hold_or_take(register, new, take)
            # Copies of this digit of R, one per later stage, so that it leaves with the low one.
            for copy in range(DIGITS - 1 - digit):
                delayed = Signal(width, name=f"copy{stage}_{copy + 1}", reset_less=True)
                pipeline.d.sync += delayed.eq(running)
                running = delayed
            pieces.append(running)
            stop = start
            if digit == DIGITS - 1:
                break
            # To the next stage: the flags, the value's lower digits (inverted), end of group.
            next_greater = Signal(name=f"greater{stage + 1}", reset_less=True)
            next_at_least = Signal(name=f"at_least{stage + 1}", reset_less=True)
            next_rest = Signal(start, name=f"rest{stage + 1}", reset_less=True)
            next_done = Signal(name=f"done{stage + 1}")
            lower = ~value[:start] if digit == 0 else rest[:start]
            pipeline.d.sync += [next_greater.eq(greater | (at_least & gt)),
                                next_at_least.eq(take), next_rest.eq(lower),
                                next_done.eq(done)]
            greater, at_least, rest, done = next_greater, next_at_least, next_rest, next_done

        pipeline.d.sync += self.maxima.valid.eq(done)
        m.d.comb += self.maxima.payload.eq(Cat(*reversed(pieces)))
        return m
