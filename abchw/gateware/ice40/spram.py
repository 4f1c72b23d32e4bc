"""The iCE40UP SB_SPRAM256KA single-port RAM (16,384 words of 16 bits) as a component.

Cycle behaviour (both implementations): on a rising edge with ``write_en`` high the word at
``addr`` takes ``write_data`` (``DATAOUT`` holds); otherwise ``read_data`` becomes the word at
``addr`` one edge later, like a synchronous read port. One port: a read and a write cannot share
a cycle, so users keep them apart (the engine writes its weights only while it is idle).

``hard_macro=True`` instantiates SB_SPRAM256KA powered on and awake (``POWEROFF`` is active low;
``STANDBY`` and ``SLEEP`` low), always selected, writing all four nibbles (``MASKWREN = 1111``);
``hard_macro=False`` is an :class:`amaranth.lib.memory.Memory` of the same size and latency.
The RTL tests compile the Yosys model ``share/ice40/cells_sim.v`` with the hard macro.
"""

from amaranth import ClockSignal, Const, Instance, Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..params import check_bool

__all__ = ["Spram"]


class Spram(wiring.Component):
    """16K x 16 single-port RAM (see module documentation).

    Parameter (keyword-only): ``hard_macro``, a bool: SB_SPRAM256KA instance or behavioural model.

    Interface: ``addr`` (in, 14 bits), ``write_data`` (in, 16), ``write_en`` (in),
    ``read_data`` (out, 16): the word at the ``addr`` of the previous edge that did not write.
    """

    DEPTH = 16384
    WIDTH = 16

    addr: In(14)
    write_data: In(16)
    write_en: In(1)
    read_data: Out(16)

    def __init__(self, *, hard_macro):
        check_bool("hard_macro", hard_macro)
        self.hard_macro = hard_macro
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        if self.hard_macro:
            m.submodules.spram = Instance(
                "SB_SPRAM256KA",
                i_ADDRESS=self.addr, i_DATAIN=self.write_data, i_MASKWREN=Const(0b1111, 4),
                i_WREN=self.write_en, i_CHIPSELECT=Const(1, 1), i_CLOCK=ClockSignal(),
                i_STANDBY=Const(0, 1), i_SLEEP=Const(0, 1), i_POWEROFF=Const(1, 1),
                o_DATAOUT=self.read_data)
        else:
            m.submodules.memory = memory = Memory(shape=self.WIDTH, depth=self.DEPTH, init=[])
            read = memory.read_port()
            write = memory.write_port()
            m.d.comb += [read.addr.eq(self.addr), read.en.eq(~self.write_en),
                         self.read_data.eq(read.data),
                         write.addr.eq(self.addr), write.data.eq(self.write_data),
                         write.en.eq(self.write_en)]
        return m
