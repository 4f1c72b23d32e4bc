"""BlockRam: reads behave as Amaranth's synchronous read ports in simulation, and Yosys maps the
memory to block RAM with no read-during-write logic (a plain Memory gets flip-flops for it)."""

import random

from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from abchw.gateware.block_ram import BlockRam
from abchw.synthesis import synthesize

WIDTH, DEPTH = 16, 256


class TwoPorts(wiring.Component):
    """A write port and a read port of a ``BlockRam`` (or of a plain ``Memory``) on pins."""
    write_addr: In(8)
    write_data: In(WIDTH)
    write_en: In(1)
    read_addr: In(8)
    read_en: In(1)
    read_data: Out(WIDTH)

    def __init__(self, *, plain=False):
        self.plain = plain
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        if self.plain:
            memory = Memory(shape=WIDTH, depth=DEPTH, init=[])
        else:
            memory = BlockRam(shape=WIDTH, depth=DEPTH)
        m.submodules.memory = memory
        write, read = memory.write_port(), memory.read_port()
        m.d.comb += [write.addr.eq(self.write_addr), write.data.eq(self.write_data),
                     write.en.eq(self.write_en), read.addr.eq(self.read_addr),
                     read.en.eq(self.read_en), self.read_data.eq(read.data)]
        return m


def test_reads_match_a_model_with_enables_and_old_data_on_collision():
    dut = TwoPorts()
    rng = random.Random(5)
    model, seen = [0] * DEPTH, []

    async def bench(ctx):
        held = 0
        for _ in range(400):
            write_addr, read_addr = rng.randrange(8), rng.randrange(8)  # collide often
            write_en, read_en = rng.random() < 0.5, rng.random() < 0.7
            data = rng.randrange(1 << WIDTH)
            ctx.set(dut.write_addr, write_addr)
            ctx.set(dut.write_data, data)
            ctx.set(dut.write_en, write_en)
            ctx.set(dut.read_addr, read_addr)
            ctx.set(dut.read_en, read_en)
            if read_en:
                held = model[read_addr]   # the old word, as a synchronous read port gives
            if write_en:
                model[write_addr] = data
            await ctx.tick()
            seen.append((ctx.get(dut.read_data), held))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert all(got == want for got, want in seen)


def test_maps_to_one_block_ram_without_read_during_write_logic():
    block_ram = synthesize(TwoPorts())
    plain = synthesize(TwoPorts(plain=True))
    assert block_ram.ram == plain.ram == 1
    assert block_ram.ff <= 1   # a flag standing for the register's initial value
    assert plain.ff >= 2 * WIDTH   # the emulation BlockRam avoids
