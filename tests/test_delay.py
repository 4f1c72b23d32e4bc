"""delay: a value comes out exactly ``cycles`` clock cycles later, shape kept; 0 cycles is the
value itself."""

import pytest
from amaranth import Module, Signal, signed
from amaranth.sim import Simulator

from abchw.gateware.delay import delay


@pytest.mark.parametrize("cycles", [1, 2, 5])
def test_values_come_out_cycles_later(cycles):
    m = Module()
    value = Signal(signed(6))
    out = delay(m, value, cycles, name="line")
    assert out.shape() == signed(6)
    sent = [(-1) ** index * (index % 32) for index in range(20)]
    seen = []

    async def bench(ctx):
        for item in [*sent, *[0] * cycles]:
            ctx.set(value, item)
            seen.append(ctx.get(out))
            await ctx.tick()

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert seen == [0] * cycles + sent


def test_zero_cycles_is_the_value_itself():
    value = Signal(3)
    assert delay(Module(), value, 0, name="line") is value
