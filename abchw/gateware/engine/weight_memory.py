"""The weight memory: one word of ``pes * lanes`` bits per beat, in block RAM or in SPRAM.

Every beat reads a whole word (one ``lanes``-bit slice per PE), so the memory's width is the
array's width and its read bandwidth bounds the array. On the iCE40UP5K the block RAMs cannot
supply that beside the other memories, while its four SB_SPRAM256KA give 64 bits a cycle and
1 Mbit: a build with ``weight_spram`` keeps its weights there, ``ceil(pes * lanes / 16)`` SPRAMs
side by side (:class:`~abchw.gateware.ice40.spram.Spram`). SPRAM has one port; the engine
writes weights only while idle, never while it reads them.
"""

from amaranth import Module, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..block_ram import BlockRam
from ..ice40.spram import Spram
from .config import check_config

__all__ = ["WeightMemory"]


class WeightMemory(wiring.Component):
    """Ports: ``read_addr`` (in), ``read_data`` (out, one edge later), ``write_addr``,
    ``write_data``, ``write_en`` (in); see module documentation."""

    def __init__(self, *, config):
        self.config = check_config(config)
        width = config.pes * config.lanes
        super().__init__({
            "read_addr": In(config.weight_addr_bits), "read_data": Out(width),
            "write_addr": In(config.weight_addr_bits), "write_data": In(width),
            "write_en": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        config = self.config
        width = config.pes * config.lanes
        if config.weight_spram:
            for index, low in enumerate(range(0, width, Spram.WIDTH)):
                high = min(low + Spram.WIDTH, width)
                spram = m.submodules[f"spram{index}"] = Spram(hard_macro=config.hard_macro)
                m.d.comb += [
                    spram.addr.eq(Mux(self.write_en, self.write_addr, self.read_addr)),
                    spram.write_data.eq(self.write_data[low:high]),
                    spram.write_en.eq(self.write_en),
                    self.read_data[low:high].eq(spram.read_data),
                ]
        else:
            m.submodules.memory = memory = BlockRam(shape=width, depth=config.weight_words)
            read, write = memory.read_port(), memory.write_port()
            m.d.comb += [read.addr.eq(self.read_addr), self.read_data.eq(read.data),
                         write.addr.eq(self.write_addr), write.data.eq(self.write_data),
                         write.en.eq(self.write_en)]
        return m
