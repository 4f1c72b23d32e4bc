"""SLIP (RFC 1055) framing of :mod:`abchw.protocol` in gateware: wire bytes to frame bodies and
back.

On the wire a frame body is ``END``, the body with ``END`` sent as ``ESC ESC_END`` and ``ESC``
as ``ESC ESC_ESC``, ``END``. The decoder delivers the body bytes and every ``END`` (the receiver
ignores an ``END`` that closes nothing); like :class:`abchw.protocol.FrameDecoder`, it keeps the
byte after an ``ESC`` that is neither code as it is (the CRC then rejects the frame). Both are
combinational apart from a flag or two: one wire byte a cycle, no buffering.
"""

from amaranth import Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ...protocol import END, ESC, ESC_END, ESC_ESC

__all__ = ["BodyByte", "BodySymbol", "SlipDecoder", "SlipEncoder"]


class BodySymbol(data.StructLayout):
    """What the decoder delivers: a body byte ``data``, or (``end``) an ``END`` on the wire."""

    def __init__(self):
        super().__init__({"data": 8, "end": 1})


class BodyByte(data.StructLayout):
    """What the encoder takes: a body byte, and whether it is the ``first`` or ``last`` of its
    body (a body has at least one byte)."""

    def __init__(self):
        super().__init__({"data": 8, "first": 1, "last": 1})


class SlipDecoder(wiring.Component):
    """Ports: ``wire`` (in: stream of wire bytes), ``body`` (out: stream of :class:`BodySymbol`).
    An ``ESC`` is taken without a symbol; every other wire byte gives one."""

    wire: In(stream.Signature(8))
    body: Out(stream.Signature(BodySymbol()))

    def elaborate(self, platform):
        m = Module()
        byte = self.wire.payload
        escaped = Signal()  # the previous wire byte was an ESC
        swallow = Signal()
        m.d.comb += [
            swallow.eq((byte == ESC) & ~escaped),
            self.body.valid.eq(self.wire.valid & ~swallow),
            self.body.payload.end.eq(byte == END),
            self.body.payload.data.eq(Mux(escaped & (byte == ESC_END), END,
                                          Mux(escaped & (byte == ESC_ESC), ESC, byte))),
            self.wire.ready.eq(self.body.ready | swallow),
        ]
        with m.If(self.wire.valid & self.wire.ready):
            m.d.sync += escaped.eq(swallow)
        return m


class SlipEncoder(wiring.Component):
    """Ports: ``body`` (in: stream of :class:`BodyByte`), ``wire`` (out: stream of wire bytes):
    ``END`` before a ``first`` byte, the byte (escaped), ``END`` after a ``last`` one.

    A body byte is taken into a register whenever none is held, so ``body.ready`` is a
    flip-flop: the transmitter's logic and the encoder's never form one combinational path."""

    body: In(stream.Signature(BodyByte()))
    wire: Out(stream.Signature(8))

    def elaborate(self, platform):
        m = Module()
        byte = Signal(BodyByte())
        holding = Signal()   # ``byte`` waits to be sent
        opened = Signal()    # the END before the waiting first byte is sent
        escaping = Signal()  # the ESC of the waiting byte is sent
        closing = Signal()   # the last byte is sent, its END is not
        m.d.comb += self.body.ready.eq(~holding)
        with m.If(self.body.valid & ~holding):
            m.d.sync += [byte.eq(self.body.payload), holding.eq(1)]
        special = (byte.data == END) | (byte.data == ESC)
        sent = self.wire.valid & self.wire.ready
        with m.If(closing):
            m.d.comb += [self.wire.valid.eq(1), self.wire.payload.eq(END)]
            with m.If(sent):
                m.d.sync += closing.eq(0)
        with m.Elif(byte.first & ~opened):
            m.d.comb += [self.wire.valid.eq(holding), self.wire.payload.eq(END)]
            with m.If(sent):
                m.d.sync += opened.eq(1)
        with m.Elif(special & ~escaping):
            m.d.comb += [self.wire.valid.eq(holding), self.wire.payload.eq(ESC)]
            with m.If(sent):
                m.d.sync += escaping.eq(1)
        with m.Else():
            m.d.comb += [
                self.wire.valid.eq(holding),
                self.wire.payload.eq(Mux(escaping, Mux(byte.data == END, ESC_END, ESC_ESC),
                                         byte.data)),
            ]
            with m.If(sent):
                m.d.sync += [opened.eq(0), escaping.eq(0), closing.eq(byte.last),
                             holding.eq(0)]
        return m
