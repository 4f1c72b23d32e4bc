"""Frame receiver: checks each frame body as it arrives and stores it in the receive buffer.

It takes the :class:`~.slip.SlipDecoder`'s symbols and never waits (a UART cannot). Body byte
``i`` goes to buffer address ``i`` (the header, payload and CRC: ``max_payload + 6`` bytes at
most) and into a CRC-16/CCITT-FALSE register; the header is also kept in registers. At the
``END`` of a non-empty body it reports the frame with the first check that fails, in the order
of :func:`abchw.protocol.parse_body`: SHORT, OVERSIZE, LENGTH, CRC, then KIND (a kind that is
not a :class:`~abchw.protocol.Kind`). The CRC over a whole good body, its own CRC included, is 0,
the residue the CRC register is compared with.

While ``lock`` is high (the link feeds the buffer's payload to the engine, or a frame waits to
be answered) the buffer is not written, and a frame that lost a byte so says (``stored``
clear): its header and checks are still good, which is all a RESET or an INFO needs.
"""

from amaranth import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.crc import catalog
from amaranth.lib.memory import WritePort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ...protocol import HEADER_BYTES, Kind, NakReason
from ..params import check_int
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

    Ports: ``body`` (in: stream of :class:`~.slip.BodySymbol`, always ready); ``lock`` (in: do
    not write the buffer); ``buffer``: drives the write port of the ``max_payload + 6``-byte
    buffer;
    ``done`` (out: one-cycle pulse the cycle after a body's ``END``); ``frame`` (out:
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
        m.submodules.checksum = crc = catalog.CRC16_CCITT_FALSE().create()
        depth = self.depth
        symbol = self.body.payload
        # Bytes of the body so far; depth + 1 stands for "more than the buffer holds".
        count = Signal(range(depth + 2))
        header = Signal(HeaderLayout())
        lost = Signal()  # a byte of this body was not written because of ``lock``
        m.d.comb += [self.body.ready.eq(1), crc.data.eq(symbol.data),
                     self.buffer.addr.eq(count), self.buffer.data.eq(symbol.data)]

        nak = Signal.like(self.frame.nak)
        with m.If(count < HEADER_BYTES + CRC_BYTES):
            m.d.comb += nak.eq(NakReason.SHORT)
        with m.Elif(count > depth):
            m.d.comb += nak.eq(NakReason.OVERSIZE)
        with m.Elif(header.length + HEADER_BYTES + CRC_BYTES != count):
            m.d.comb += nak.eq(NakReason.LENGTH)
        with m.Elif(~crc.match_detected):
            m.d.comb += nak.eq(NakReason.CRC)
        with m.Elif(~header.kind.matches(*Kind)):
            m.d.comb += nak.eq(NakReason.KIND)

        m.d.sync += self.done.eq(0)
        with m.If(self.body.valid & symbol.end):
            with m.If(count != 0):
                m.d.sync += [self.done.eq(1), self.frame.header.eq(header), self.frame.nak.eq(nak),
                             self.frame.stored.eq(~lost),
                             self.frame.header.seq.eq(Mux(count < 2, 0, header.seq))]
            m.d.sync += [count.eq(0), lost.eq(0)]
        with m.Elif(self.body.valid):
            m.d.comb += [crc.valid.eq(1), crc.start.eq(count == 0),
                         self.buffer.en.eq(~self.lock & (count < depth))]
            with m.If(count < HEADER_BYTES):
                m.d.sync += header.as_value().word_select(count[:2], 8).eq(symbol.data)
            with m.If(count <= depth):
                m.d.sync += count.eq(count + 1)
            with m.If(self.lock):
                m.d.sync += lost.eq(1)
        return m
