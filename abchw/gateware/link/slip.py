"""SLIP (RFC 1055) framing of :mod:`abchw.protocol` in gateware: wire bytes to frame bodies and
back.

On the wire a frame body is ``END``, the body with ``END`` sent as ``ESC ESC_END`` and ``ESC``
as ``ESC ESC_ESC``, ``END``. The decoder delivers the body bytes and every ``END`` (the receiver
ignores an ``END`` that closes nothing); like :class:`abchw.protocol.FrameDecoder`, it keeps the
byte after an ``ESC`` that is neither code as it is (the CRC then rejects the frame). Both drive
their outputs from registers, so that no combinational path runs from one block through them
into the next: a wire byte takes a cycle or a few, far less than a UART byte.
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
    An ``ESC`` is taken without a symbol; every other wire byte gives one, the cycle after it is
    taken, from a register (``wire.ready`` is ``body.ready`` or that register being empty)."""

    wire: In(stream.Signature(8))
    body: Out(stream.Signature(BodySymbol()))

    def elaborate(self, platform):
        m = Module()
        byte = self.wire.payload
        escaped = Signal()  # the previous wire byte was an ESC
        swallow = Signal()
        symbol = self.body.payload
        m.d.comb += [swallow.eq((byte == ESC) & ~escaped),
                     self.wire.ready.eq(~self.body.valid | self.body.ready)]
        with m.If(self.body.ready):
            m.d.sync += self.body.valid.eq(0)
        with m.If(self.wire.valid & self.wire.ready):
            m.d.sync += [
                escaped.eq(swallow),
                self.body.valid.eq(~swallow),
                symbol.end.eq(byte == END),
                symbol.data.eq(Mux(escaped & (byte == ESC_END), END,
                                   Mux(escaped & (byte == ESC_ESC), ESC, byte))),
            ]
        return m


class SlipEncoder(wiring.Component):
    """Ports: ``body`` (in: stream of :class:`BodyByte`), ``wire`` (out: stream of wire bytes):
    ``END`` before a ``first`` byte, the byte (escaped), ``END`` after a ``last`` one.

    A body byte is used where it is, the source holding it (``body.ready`` is a flip-flop, high
    the cycle after the last of its wire bytes is chosen); the cycle after it comes, whether
    it needs an escape is registered. Each wire byte is chosen into a stage register while
    that is empty, and goes from there to the output register while that is empty or being
    taken. So the transmitter's logic, the byte comparisons, the choice of the wire byte and
    the UART's never form one combinational path, and the next wire byte waits while the UART
    sends one."""

    body: In(stream.Signature(BodyByte()))
    wire: Out(stream.Signature(8))

    def elaborate(self, platform):
        m = Module()
        byte = self.body.payload
        prepared = Signal()  # ``special`` and the flags below are set for ``byte``
        special = Signal()   # ``byte`` is END or ESC: ESC, then its code, go in its place
        opened = Signal()    # the END before ``byte`` is staged (or not needed)
        escaped = Signal()   # the ESC before ``byte`` is staged (or not needed)
        closing = Signal()   # the END after the last byte is still to stage
        staged_all = Signal()  # the code of ``byte`` is staged: take it
        m.d.comb += self.body.ready.eq(staged_all)
        with m.If(self.body.valid & ~prepared):
            m.d.sync += [prepared.eq(1), special.eq((byte.data == END) | (byte.data == ESC)),
                         opened.eq(~byte.first), escaped.eq(0)]
        m.d.sync += staged_all.eq(0)
        with m.If(staged_all):
            m.d.sync += prepared.eq(0)

        staged = Signal()        # ``stage`` holds the next wire byte
        stage = Signal(8)
        # ``staged`` is high the cycle ``staged_all`` is, so nothing is staged from ``byte`` then.
        with m.If(~staged):
            with m.If(closing):
                m.d.sync += [staged.eq(1), stage.eq(END), closing.eq(0)]
            with m.Elif(prepared & ~opened):
                m.d.sync += [staged.eq(1), stage.eq(END), opened.eq(1)]
            with m.Elif(prepared & special & ~escaped):
                m.d.sync += [staged.eq(1), stage.eq(ESC), escaped.eq(1)]
            with m.Elif(prepared):
                # END's code and ESC's differ in bit 0, as END and ESC do.
                m.d.sync += [staged.eq(1),
                             stage.eq(Mux(special, Mux(byte.data[0], ESC_ESC, ESC_END),
                                          byte.data)),
                             staged_all.eq(1), closing.eq(byte.last)]

        wire = self.wire
        with m.If(wire.ready):
            m.d.sync += wire.valid.eq(0)
        with m.If(staged & (~wire.valid | wire.ready)):
            m.d.sync += [wire.valid.eq(1), wire.payload.eq(stage), staged.eq(0)]
        return m
