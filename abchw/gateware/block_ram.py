"""A memory for block RAM whose users never read a word in the cycle it is written.

Amaranth's synchronous read port promises the old data when a read meets a write to the same
address; block RAMs (iCE40 SB_RAM40_4K, ECP5 DP16KD) leave that case undefined, so Yosys
emulates the promise in logic: a copy of the write data and address in flip-flops and a
bypass multiplexer on the read data, about two flip-flops and a look-up table per bit. Every
memory of the engine and the link is written and read in different phases (a feature map is
written while another region is read, the buffers are filled before they are read), so the
promise is not needed. :class:`BlockRam` drops it: its read ports are asynchronous reads of a
memory marked ``no_rw_check`` followed by a register with an enable, which Yosys merges into
the block RAM's own output register without the emulation (one flip-flop stays, standing
for the register's initial value before the first read). In simulation such a read returns
the old data, as a synchronous read port does.
"""

from amaranth import Elaboratable, Module, Signal
from amaranth.lib.memory import Memory, ReadPort

__all__ = ["BlockRam"]


class BlockRam(Elaboratable):
    """A :class:`~amaranth.lib.memory.Memory` (``shape``, ``depth``, ``init``, keyword-only)
    with :meth:`write_port` and synchronous :meth:`read_port` (``addr``, ``en``, ``data``:
    ``data`` takes the word at ``addr`` on the clock edge where ``en`` is high), whose reads
    must never address the word being written in the same cycle (the result is undefined in
    hardware)."""

    def __init__(self, *, shape, depth, init=()):
        self._memory = Memory(shape=shape, depth=depth, init=init, attrs={"no_rw_check": 1})
        self._reads = []

    @property
    def depth(self):
        return self._memory.depth

    def write_port(self):
        return self._memory.write_port()

    def read_port(self):
        """A new synchronous read port (in the ``sync`` domain)."""
        read = self._memory.read_port(domain="comb")
        port = ReadPort.Signature(addr_width=len(read.addr), shape=self._memory.shape).create()
        self._reads.append((port, read))
        return port

    def elaborate(self, platform):
        m = Module()
        m.submodules.storage = self._memory
        for port, read in self._reads:
            # No reset: Yosys merges only a register without one into the block RAM.
            data = Signal(self._memory.shape, reset_less=True)
            m.d.comb += [read.addr.eq(port.addr), port.data.eq(data)]
            with m.If(port.en):
                m.d.sync += data.eq(read.data)
        return m
