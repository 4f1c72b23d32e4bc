# amaranth: UnusedElaboratable=no
"""Comparator bank and max-pooling unit without a Verilog simulator (and, for the messages of
the parameters every block shares, the accumulator): parameter validation, port
widths against hand-computed values, and a few hand-checked beats in ``amaranth.sim`` with
backpressure. The bit-for-bit tests against the golden model are in ``rtl_tests/``."""

import re

import pytest
from amaranth import signed, unsigned
from amaranth.hdl import Fragment
from amaranth.sim import Simulator

from abchw.gateware.accumulator import BetaAccumulator
from abchw.gateware.comparator import ComparatorBank, ComparatorLayout
from abchw.gateware.maxpool import MaxPoolUnit, PoolLayout

BLOCKS = [ComparatorBank, MaxPoolUnit]
#: Every block whose widths come from Arithmetic, for the parameter messages.
ARITHMETIC_BLOCKS = [BetaAccumulator, *BLOCKS]

# A small build: bound = M * max(N, 8) * (2**(coef_bits-1) - 1) * k_max = 2 * 8 * 7 * 9 = 1008,
# so thresholds span [-1009, 1009] and the accumulator has bits_for(1009) + 1 = 11 bits.
SMALL = dict(m=2, n=3, k_max=9, coef_bits=4)


@pytest.mark.parametrize("block", ARITHMETIC_BLOCKS)
@pytest.mark.parametrize("params, message", [
    (dict(m=0, n=1), "m must be an integer in 1..8, not 0"),
    (dict(m=9, n=1), "m must be an integer in 1..8, not 9"),
    (dict(m=True, n=1), "m must be an integer in 1..8, not True"),
    (dict(m=1, n=0), "n must be an integer in 1..8, not 0"),
    (dict(m=1, n=9), "n must be an integer in 1..8, not 9"),
    (dict(m=1, n=2.0), "n must be an integer in 1..8, not 2.0"),
    (dict(m=1, n=1, k_max=0), "k_max must be an integer in 1..32767, not 0"),
    (dict(m=1, n=1, k_max=32768), "k_max must be an integer in 1..32767, not 32768"),
    (dict(m=1, n=1, k_max="9"), "k_max must be an integer in 1..32767, not '9'"),
    (dict(m=1, n=1, coef_bits=1), "coef_bits must be an integer in 2..16, not 1"),
    (dict(m=1, n=1, coef_bits=17), "coef_bits must be an integer in 2..16, not 17"),
])
def test_invalid_parameters_are_named(block, params, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        block(**params)


@pytest.mark.parametrize("block", ARITHMETIC_BLOCKS)
def test_parameters_are_keyword_only(block):
    with pytest.raises(TypeError):
        block(1, 1)


@pytest.mark.parametrize("params, acc_bits", [
    (dict(m=8, n=8), 37),       # 8*8*32767*32767 = 68,715,282,496 < 2**36 - 1
    (dict(m=1, n=1), 34),       # 8*32767*32767 = 8,589,410,312 < 2**33 - 1 (8 input planes)
    (dict(m=1, n=8), 34),       # N <= 8 does not widen: the first layer's 8 planes dominate
    (SMALL, 11),
    (dict(m=1, n=1, k_max=1, coef_bits=2), 5),   # bound 8*1*1 = 8: [-9, 9] needs 5 bits
])
def test_widths(params, acc_bits):
    bank, pool = ComparatorBank(**params), MaxPoolUnit(**params)
    assert bank.acc_bits == pool.acc_bits == acc_bits
    n = params["n"]
    values = bank.values.payload.shape()
    assert values == ComparatorLayout(acc_bits, n) and values.size == acc_bits * (n + 1) + 1
    assert bank.bits.payload.shape() == unsigned(n)
    pooled = pool.values.payload.shape()
    assert pooled == PoolLayout(acc_bits) and pooled.size == acc_bits + 1
    assert pool.maxima.payload.shape() == signed(acc_bits)
    # "always" and "never" thresholds fit, and nothing wider would be needed.
    bound = bank.arithmetic.bound
    assert -(1 << acc_bits - 1) <= -(bound + 1) and bound + 1 < 1 << acc_bits - 1
    assert bound + 1 >= 1 << acc_bits - 2
    # Registers from an accepted value to its output: the bank's digit comparisons and output
    # register; the pooling unit's input register and one stage per digit of its running maximum.
    assert bank.latency == 2 and pool.latency == 4


@pytest.mark.parametrize("params, bank_digits, pool_digits", [
    (dict(m=8, n=8), (15, 11, 11), (12, 12, 13)),   # 37 bits: upper bank digits 30% each
    (dict(m=1, n=1), (14, 10, 10), (11, 11, 12)),   # 34 bits
    (SMALL, (5, 3, 3), (3, 4, 4)),                  # 11 bits
    (dict(m=1, n=1, k_max=1, coef_bits=2), (1, 2, 2), (1, 2, 2)),   # 5 bits
])
def test_digit_widths(params, bank_digits, pool_digits):
    """The bank's (low, middle, top) and the pooling unit's (top, middle, low) digits cover the
    accumulator width, each at least one bit."""
    bank, pool = ComparatorBank(**params), MaxPoolUnit(**params)
    assert bank.digit_widths == bank_digits and pool.digit_widths == pool_digits
    assert sum(bank_digits) == sum(pool_digits) == bank.acc_bits


def simulate(dut, source, sink, payloads, ready):
    """Offer ``payloads`` on stream ``source`` of ``dut`` back to back while ``sink.ready``
    follows the 0/1 pattern ``ready`` (cycled); return what ``sink`` delivered."""
    received = []

    async def testbench(ctx):
        pending = list(payloads)
        for cycle in range(4 * len(payloads) * len(ready)):
            ctx.set(source.valid, bool(pending))
            if pending:
                ctx.set(source.payload, pending[0])
            ctx.set(sink.ready, ready[cycle % len(ready)])
            taken = pending and ctx.get(source.ready)
            if ctx.get(sink.valid) and ctx.get(sink.ready):
                received.append(ctx.get(sink.payload))
            await ctx.tick()
            if taken:
                pending.pop(0)
        assert not pending

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    return received


def test_comparator_bank_in_simulation():
    dut = ComparatorBank(**SMALL)                  # bound 1008: always -1009, never 1009
    beats = [  # (value, thresholds, invert) -> bits, lane 0 = bit 0
        ((5, [5, 6, -1009], 0), 0b101),            # tie fires, 5 < 6, always
        ((5, [5, 6, -1009], 1), 0b010),            # the same, inverted
        ((-1008, [1009, -1008, -1009], 0), 0b110),  # never; -bound on a tie; always
        ((1008, [1009, 1008, -3], 1), 0b001),      # never, tie and negative threshold, inverted
        ((-1024, [-1024, -1023, 1009], 0), 0b001),  # the width's most negative value
    ]
    payloads = [{"value": v, "thresholds": t, "invert": i} for (v, t, i), _ in beats]
    assert simulate(dut, dut.values, dut.bits, payloads, [1, 0, 0, 1, 1]) == \
        [bits for _, bits in beats]


def test_max_pool_unit_in_simulation():
    dut = MaxPoolUnit(**SMALL)
    groups = [[3], [-7, 2, -1], [-1024, -1024], [1008, 1008, -1008], [0], [-5, -9]]
    payloads = [{"value": v, "last": i == len(group) - 1}
                for group in groups for i, v in enumerate(group)]
    assert simulate(dut, dut.values, dut.maxima, payloads, [1, 0, 1, 1, 0, 0]) == \
        [3, 2, -1024, 1008, 0, -5]


@pytest.mark.parametrize("block", ARITHMETIC_BLOCKS)
def test_every_m_and_n_elaborates(block):
    for m in range(1, 9):
        for n in range(1, 9):
            dut = block(m=m, n=n)
            Fragment.get(dut, None)
            # the width holds the bound and the "never" threshold bound + 1, not one bit more
            acc_bits, bound = dut.arithmetic.acc_bits, dut.arithmetic.bound
            assert bound + 1 <= 2 ** (acc_bits - 1) - 1 < 2 * (bound + 1)
