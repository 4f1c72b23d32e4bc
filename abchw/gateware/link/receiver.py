"""Frame receiver: checks each frame body as it arrives and stores it in the receive buffer.

It takes the :class:`~.slip.SlipDecoder`'s symbols, each the cycle after it comes (so one every
other cycle at most, far faster than a UART delivers them). Body byte ``i`` goes to buffer
address ``i`` (the header, payload and CRC: ``max_payload + 6`` bytes at most) and into a
CRC-16/CCITT-FALSE register; the header is also kept in registers. At the ``END`` of a non-empty
body it reports the frame with the first check that fails, in the order of
:func:`abchw.protocol.parse_body`: SHORT, OVERSIZE, LENGTH, CRC, then KIND (a kind that is not a
:class:`~abchw.protocol.Kind`). The CRC over a whole good body, its own CRC included, is 0, the
residue the CRC register is compared with.

Every check is a flip-flop by the time the ``END`` comes: the position in the body is one-hot,
the buffer's room and the bytes the length field still expects are down-counters whose sign
bits say "none left", and the comparisons of the CRC and the kind are registered in the idle
cycle after each symbol.

While ``lock`` is high (the link feeds the buffer's payload to the engine, or a frame waits to
be answered) the buffer is not written, and a frame that lost a byte so says (``stored``
clear): its header and checks are still good, which is all a RESET or an INFO needs.
"""

from amaranth import Cat, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import WritePort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ...protocol import HEADER_BYTES, Kind, NakReason
from ..params import check_int
from .crc import CRC_INIT, crc16_next
from .header import HeaderLayout
from .slip import BodySymbol

__all__ = ["CRC_BYTES", "FrameLayout", "FrameReceiver"]

CRC_BYTES = 2


class FrameLayout(data.StructLayout):
    """A received frame: its ``header`` (``seq`` is 0 when the body was shorter than 2 bytes),
    ``nak`` (its :class:`~abchw.protocol.NakReason`, 0 when good) and ``stored`` (the buffer
    holds the whole body)."""

    def __init__(self):
        super().__init__({"header": HeaderLayout(), "nak": range(max(NakReason) + 1),
                          "stored": 1})


class FrameReceiver(wiring.Component):
    """Receiver of frames of up to ``max_payload`` (keyword-only) payload bytes.

    Ports: ``body`` (in: stream of :class:`~.slip.BodySymbol`, each taken the cycle after it
    comes); ``lock`` (in: do not write the buffer); ``buffer``: drives the write port of the
    ``max_payload + 6``-byte buffer;
    ``done`` (out: one-cycle pulse the cycle after a body's ``END`` is taken); ``frame`` (out:
    :class:`FrameLayout` of the last body, from ``done`` until the next).
    """

    def __init__(self, *, max_payload):
        check_int("max_payload", max_payload, 1, 0xFFFF)
        self.max_payload = max_payload
        self.depth = max_payload + HEADER_BYTES + CRC_BYTES
        super().__init__({
            "body": In(stream.Signature(BodySymbol())),
            "lock": In(1),
            "buffer": In(WritePort.Signature(addr_width=ceil_log2(self.depth), shape=8)),
            "done": Out(1),
            "frame": Out(FrameLayout()),
        })

    def elaborate(self, platform):
        m = Module()
        depth = self.depth
        # The position of the next body byte, one-hot; the last bit stands for 6 and more.
        at = Signal(HEADER_BYTES + CRC_BYTES + 1, init=1)
        counting = Signal()  # the next body byte is byte 5 or later
        header = Signal(HeaderLayout())
        address = Signal(range(depth))
        # Buffer bytes left, minus one: the sign bit says the buffer is full.
        room = Signal(range(-1, depth), init=depth - 1)
        oversize = Signal()  # a byte came when the buffer was full
        # The bytes after byte 5 that the length field calls for (length + 1), less those
        # received, minus one: -1 at the END of a body of the right length, so the sign bit
        # says "all received", and ``excess`` that more came.
        left = Signal(range(-1, 1 << 16))
        excess = Signal()
        lost = Signal()  # a byte of this body was not written because of ``lock``
        crc = Signal(16, init=CRC_INIT)

        # A symbol is dealt with in two cycles while the decoder holds it: in the first its
        # enables are registered (``took`` and those below are flip-flops), in the second
        # (``took``) the state moves on from it and it is taken. The state, and the
        # comparisons registered from it, are thus current when the next symbol (maybe the
        # END) is dealt with.
        symbol = self.body.payload
        took = Signal()
        report = Signal()       # ``took``, of an END that closes a body
        move_buffer = Signal()  # ``took``, of an END or of a byte the buffer has room for
        load_left = Signal(2)   # ``took``, of a byte that loads or counts down ``left``
        start = self.body.valid & ~took
        m.d.comb += self.body.ready.eq(took)
        m.d.sync += [took.eq(start),
                     report.eq(start & symbol.end & ~at[0]),
                     move_buffer.eq(start & (symbol.end | ~room[-1])),
                     load_left[0].eq(start & ~symbol.end & (at[2] | counting)),
                     load_left[1].eq(start & ~symbol.end & (at[3] | counting))]

        crc_good, kind_good = Signal(), Signal()
        m.d.sync += [crc_good.eq(crc == 0), kind_good.eq(header.kind.matches(*Kind))]
        m.d.comb += [self.buffer.addr.eq(address), self.buffer.data.eq(symbol.data),
                     self.buffer.en.eq(move_buffer & ~symbol.end & ~self.lock)]

        nak = Signal.like(self.frame.nak)
        with m.If(~at[-1]):
            m.d.comb += nak.eq(NakReason.SHORT)
        with m.Elif(oversize):
            m.d.comb += nak.eq(NakReason.OVERSIZE)
        with m.Elif(~left[-1] | excess):
            m.d.comb += nak.eq(NakReason.LENGTH)
        with m.Elif(~crc_good):
            m.d.comb += nak.eq(NakReason.CRC)
        with m.Elif(~kind_good):
            m.d.comb += nak.eq(NakReason.KIND)

        m.d.sync += self.done.eq(report)
        with m.If(report):
            # ``header`` is cleared at every END, so ``seq`` is 0 for a 1-byte body.
            m.d.sync += [self.frame.header.eq(header), self.frame.nak.eq(nak),
                         self.frame.stored.eq(~lost)]
        with m.If(move_buffer):
            with m.If(symbol.end):
                m.d.sync += [address.eq(0), room.eq(depth - 1)]
            with m.Else():
                m.d.sync += [address.eq(address + 1), room.eq(room - 1)]
        decremented = Signal.like(left)
        m.d.comb += decremented.eq(left - 1)
        with m.If(load_left[0]):
            m.d.sync += left[:8].eq(Mux(counting, decremented[:8], symbol.data))
        with m.If(load_left[1]):
            # The high byte's load clears the sign bit.
            m.d.sync += left[8:].eq(Mux(counting, decremented[8:], symbol.data))
        # Under ``took``, the registers every symbol moves have ``took`` as their enable and
        # ``symbol.end`` as their reset.
        with m.If(took):
            with m.If(symbol.end):
                m.d.sync += [at.eq(1), counting.eq(0), header.eq(0), oversize.eq(0),
                             excess.eq(0), lost.eq(0), crc.eq(CRC_INIT)]
            with m.Else():
                m.d.sync += [at.eq(Cat(0, at[:-2], at[-2] | at[-1])),
                             crc.eq(crc16_next(crc, symbol.data))]
                with m.If(at[4]):
                    m.d.sync += counting.eq(1)
                for index in range(HEADER_BYTES):
                    with m.If(at[index]):
                        m.d.sync += header.as_value().word_select(index, 8).eq(symbol.data)
                with m.If(counting & left[-1]):
                    m.d.sync += excess.eq(1)
                with m.If(room[-1]):
                    m.d.sync += oversize.eq(1)
                with m.If(self.lock):
                    m.d.sync += lost.eq(1)
        return m
