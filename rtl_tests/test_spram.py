"""The SB_SPRAM256KA wrapper: the hard macro (Yosys's ``cells_sim.v`` model) and the behavioural
model side by side, on the same random reads and writes, against a Python dictionary."""

import numpy as np
import pytest
from amaranth import Cat, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from test_accumulator import CELLS_SIM

from abchw.gateware.ice40.spram import Spram
from sim import Simulation

OP = data.StructLayout({"addr": 14, "data": 16, "write": 1})


class SpramPair(wiring.Component):
    """Each op goes to both implementations; a read's two words come out as one 32-bit beat."""
    ops: In(stream.Signature(OP))
    reads: Out(stream.Signature(32))

    def elaborate(self, platform):
        m = Module()
        m.submodules.hard = hard = Spram(hard_macro=True)
        m.submodules.model = model = Spram(hard_macro=False)
        reading = Signal()  # a read was issued last cycle: its word is on read_data now
        m.d.comb += self.ops.ready.eq(~reading & ~self.reads.valid)
        take = self.ops.valid & self.ops.ready
        for spram in (hard, model):
            m.d.comb += [spram.addr.eq(self.ops.payload.addr),
                         spram.write_data.eq(self.ops.payload.data),
                         spram.write_en.eq(take & self.ops.payload.write)]
        m.d.sync += reading.eq(take & ~self.ops.payload.write)
        with m.If(reading):
            m.d.sync += [self.reads.valid.eq(1),
                         self.reads.payload.eq(Cat(hard.read_data, model.read_data))]
        with m.Elif(self.reads.ready):
            m.d.sync += self.reads.valid.eq(0)
        return m


@pytest.mark.parametrize("stall", [0.0, 0.4])
def test_hard_macro_matches_behavioural_model(stall):
    rng = np.random.default_rng(int(stall * 10))
    simulation = Simulation(SpramPair(), name="spram_pair", extra_sources=[CELLS_SIM])
    addresses = np.concatenate([[0, 16383], rng.integers(0, 16384, size=40)])
    memory, ops, expected = {}, [], []
    for _ in range(300):
        addr = int(rng.choice(addresses))
        if rng.random() < 0.5:
            word = int(rng.integers(0, 1 << 16))
            memory[addr] = word
            ops.append({"addr": addr, "data": word, "write": 1})
        elif addr in memory:
            ops.append({"addr": addr, "data": int(rng.integers(0, 1 << 16)), "write": 0})
            expected.append(memory[addr])
    beats = [OP.const(op).as_value().value for op in ops]
    result = simulation.run(inputs={"ops": beats}, outputs={"reads": len(expected)}, stall=stall,
                            seed=3)
    reads = result["outputs"]["reads"]
    assert [word & 0xFFFF for word in reads] == expected         # the hard macro
    assert [word >> 16 for word in reads] == expected            # the behavioural model
