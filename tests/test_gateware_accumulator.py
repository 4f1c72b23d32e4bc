"""abchw.gateware.accumulator and abchw.gateware.ice40.mac16 without a Verilog simulator:
parameter validation, derived widths, the behavioural Mac16 in Amaranth's simulator, and the
accumulator's domain reset (which the cocotb tests do not drive)."""

import random
import re

import pytest
from amaranth import ClockDomain, Elaboratable, Module, Signal, signed, unsigned
from amaranth.back import rtlil
from amaranth.sim import Simulator

from abchw.gateware.accumulator import BetaAccumulator, TermLayout
from abchw.gateware.ice40.mac16 import Mac16


# The m, n, k_max and coef_bits messages are tested for every block in test_gateware_blocks.py.
@pytest.mark.parametrize("params, message", [
    (dict(m=1, n=1, hard_macro=1), "hard_macro must be a bool, not 1"),
    (dict(m=1, n=1, hard_macro="yes"), "hard_macro must be a bool, not 'yes'"),
    (dict(m=1, n=1, hard_macro=None), "hard_macro must be a bool, not None"),
])
def test_accumulator_rejects_bad_parameters(params, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        BetaAccumulator(**params)


def test_mac16_parameters_are_keyword_only():
    with pytest.raises(TypeError):
        Mac16(True)


# popcount_bits = bits_for(k_max), dot_bits = that + 1, terms = M * max(N, 8),
# bound = terms * (2**(coef_bits-1) - 1) * k_max, acc_bits = bit_length(bound + 1) + 1.
@pytest.mark.parametrize("params, popcount_bits, dot_bits, terms, bound, acc_bits", [
    (dict(m=8, n=8), 15, 16, 64, 68_715_282_496, 37),   # 2**35 < bound + 1 < 2**36
    (dict(m=1, n=1), 15, 16, 8, 8_589_410_312, 34),     # 2**32 < bound + 1 < 2**33
    (dict(m=2, n=3, k_max=40, coef_bits=8), 6, 7, 16, 81_280, 18),
    (dict(m=1, n=1, k_max=1, coef_bits=2), 1, 2, 8, 8, 5),
])
def test_widths_follow_the_overflow_proof(params, popcount_bits, dot_bits, terms, bound,
                                          acc_bits):
    dut = BetaAccumulator(**params)
    a = dut.arithmetic
    assert (a.popcount_bits, a.dot_bits, a.terms, a.bound, a.acc_bits) == \
        (popcount_bits, dot_bits, terms, bound, acc_bits)
    assert dut.terms.payload.shape() == TermLayout(a)
    assert [(name, field.shape) for name, field in TermLayout(a)] == \
        [("popcount", unsigned(popcount_bits)), ("coefficient", signed(a.coef_bits)),
         ("last", unsigned(1))]
    assert dut.k.shape() == unsigned(popcount_bits)
    assert dut.values.payload.shape() == signed(acc_bits)
    assert dut.latency == 5


@pytest.mark.parametrize("hard_macro, cells", [(True, 1), (False, 0)])
def test_hard_macro_selects_the_sb_mac16_instance(hard_macro, cells):
    text = rtlil.convert(BetaAccumulator(m=1, n=1, hard_macro=hard_macro))
    assert text.count("cell \\SB_MAC16 ") == cells


def test_behavioural_mac16_is_a_two_stage_multiplier_frozen_by_ce():
    dut = Mac16(hard_macro=False)
    rng = random.Random(7)
    corners = [-32768, -32767, -1, 0, 1, 32767]

    def operand():
        return rng.choice(corners) if rng.random() < 0.3 else rng.randint(-32768, 32767)

    async def testbench(ctx):
        operands, product = (0, 0), 0     # the reference registers, zero at power-up
        for _ in range(500):
            a, b, ce = operand(), operand(), rng.random() >= 0.3
            ctx.set(dut.a, a)
            ctx.set(dut.b, b)
            ctx.set(dut.ce, ce)
            await ctx.tick()
            if ce:
                product, operands = operands[0] * operands[1], (a, b)
            assert ctx.get(dut.product) == product

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()


class _ResetHarness(Elaboratable):
    """``dut`` in a ``sync`` domain whose reset is the signal ``rst``."""

    def __init__(self, dut):
        self.dut = dut
        self.rst = Signal()

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = domain = ClockDomain()
        m.d.comb += domain.rst.eq(self.rst)
        m.submodules.dut = self.dut
        return m


@pytest.mark.parametrize("params", [dict(m=1, n=1), dict(m=8, n=8)])
def test_reset_mid_group_while_stalled_starts_clean(params):
    """A reset while a group is half accumulated and the output stalls (the accumulators are
    cleared by their own reset logic, not by the pipeline's enable) leaves no trace: the groups
    sent afterwards, under random backpressure on both sides, come out exact."""
    dut = BetaAccumulator(**params)
    top = _ResetHarness(dut)
    rng = random.Random(params["m"])
    limit, k = 2**15 - 1, 1000

    def group():
        return [(rng.choice([0, k, rng.randint(0, k)]),
                 rng.choice([-limit, limit, rng.randint(-limit, limit)]))
                for _ in range(rng.randint(1, dut.arithmetic.terms))]

    async def testbench(ctx):
        ctx.set(dut.k, k)
        for _ in range(4):
            ctx.set(dut.values.ready, 0)
            for popcount, coefficient in group() + group()[:-1]:   # ends inside a group
                ctx.set(dut.terms.valid, 1)
                ctx.set(dut.terms.payload,
                        {"popcount": popcount, "coefficient": coefficient, "last": 0})
                await ctx.tick()
            ctx.set(dut.terms.valid, 0)
            await ctx.tick().repeat(rng.randint(1, 6))
            ctx.set(top.rst, 1)
            await ctx.tick()
            ctx.set(top.rst, 0)
            groups = [group() for _ in range(rng.randint(1, 6))]
            beats = [(p, q, int(i == len(g) - 1)) for g in groups for i, (p, q) in enumerate(g)]
            values, sent = [], 0
            while len(values) < len(groups):
                offer = sent < len(beats) and rng.random() < 0.7
                ctx.set(dut.terms.valid, offer)
                if offer:
                    p, q, last = beats[sent]
                    ctx.set(dut.terms.payload, {"popcount": p, "coefficient": q, "last": last})
                ready = rng.random() < 0.6
                ctx.set(dut.values.ready, ready)
                *_, accepted, valid, value = await ctx.tick().sample(
                    dut.terms.ready, dut.values.valid, dut.values.payload)
                sent += offer and accepted
                if valid and ready:
                    values.append(value)
            ctx.set(dut.terms.valid, 0)
            assert values == [sum(q * (2 * p - k) for p, q in g) for g in groups]

    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
