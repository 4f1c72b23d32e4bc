"""Frame transmitter: sends one reply body, its CRC computed on the way.

Given a header (kind, seq, length), it sends the body ``kind seq length[2] payload crc[2]``
to the :class:`~.slip.SlipEncoder`, the first and last bytes flagged. The payload is read
through ``payload``, a synchronous read port (the data of an address comes the next cycle; the
address is held while the encoder stalls, so the data stays valid), from whichever memory the
link selects. The CRC-16/CCITT-FALSE of kind to payload goes out most significant byte first.
"""

from amaranth import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.crc import catalog
from amaranth.lib.memory import ReadPort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ...protocol import HEADER_BYTES
from ..params import check_int
from .header import HeaderLayout
from .receiver import CRC_BYTES
from .slip import BodyByte

__all__ = ["FrameTransmitter"]


class FrameTransmitter(wiring.Component):
    """Transmitter of bodies of up to ``max_payload`` (keyword-only) payload bytes.

    Ports: ``reply`` (in: stream of :class:`~.header.HeaderLayout`, taken when idle);
    ``payload``: drives a read port, payload byte ``i`` at address ``i``; ``body`` (out: stream of
    :class:`~.slip.BodyByte`); ``idle`` (out: no body being sent).
    """

    def __init__(self, *, max_payload):
        check_int("max_payload", max_payload, 1, 0xFFFF)
        self.max_payload = max_payload
        super().__init__({
            "reply": In(stream.Signature(HeaderLayout())),
            "payload": In(ReadPort.Signature(addr_width=ceil_log2(max_payload), shape=8)),
            "body": Out(stream.Signature(BodyByte())),
            "idle": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.checksum = crc = catalog.CRC16_CCITT_FALSE().create()
        header = Signal(HeaderLayout())
        header_bytes = header.as_value()
        position = Signal(range(self.max_payload + HEADER_BYTES + CRC_BYTES))
        left = Signal.like(position)           # bytes after the one at ``position``
        # Where ``position`` is, as flags updated with it: comparisons of the counters would
        # lie on the path through the byte multiplexer and the CRC.
        first, in_header, crc_high, last = Signal(), Signal(), Signal(), Signal()
        sending = Signal()
        sent = self.body.valid & self.body.ready
        byte = self.body.payload

        m.d.comb += [self.idle.eq(~sending), self.reply.ready.eq(~sending),
                     self.payload.addr.eq(position + sent - HEADER_BYTES)]
        with m.If(self.reply.valid & self.reply.ready):
            m.d.sync += [header.eq(self.reply.payload), position.eq(0), sending.eq(1),
                         left.eq(self.reply.payload.length + HEADER_BYTES + CRC_BYTES - 1),
                         first.eq(1), in_header.eq(1), crc_high.eq(0), last.eq(0)]
            m.d.comb += crc.start.eq(1)

        with m.If(in_header):
            m.d.comb += byte.data.eq(header_bytes.word_select(position[:2], 8))
        with m.Elif(crc_high):
            m.d.comb += byte.data.eq(crc.crc[8:])
        with m.Elif(last):
            m.d.comb += byte.data.eq(crc.crc[:8])
        with m.Else():
            m.d.comb += byte.data.eq(self.payload.data)
        m.d.comb += [self.body.valid.eq(sending), byte.first.eq(first), byte.last.eq(last),
                     crc.data.eq(byte.data), crc.valid.eq(sent & ~crc_high & ~last)]
        with m.If(sent):
            m.d.sync += [position.eq(position + 1), left.eq(left - 1), first.eq(0),
                         in_header.eq(position < HEADER_BYTES - 1), crc_high.eq(left == 2),
                         last.eq(left == 1)]
            with m.If(last):
                m.d.sync += sending.eq(0)
        return m
