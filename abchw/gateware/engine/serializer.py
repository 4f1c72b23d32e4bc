"""Byte serializer: sends the low ``count`` bytes of a 64-bit word, least significant first."""

from amaranth import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["ByteSerializer", "WordLayout"]

WORD_BYTES = 8


class WordLayout(data.StructLayout):
    def __init__(self):
        super().__init__({"word": 8 * WORD_BYTES, "count": range(1, WORD_BYTES + 1)})


class ByteSerializer(wiring.Component):
    """Ports: ``words`` (in stream of :class:`WordLayout`), ``bytes`` (out stream of bytes),
    ``idle`` (out: no word being sent)."""

    words: In(stream.Signature(WordLayout()))
    bytes: Out(stream.Signature(8))
    idle: Out(1)

    def elaborate(self, platform):
        m = Module()
        shift = Signal(8 * WORD_BYTES)
        left = Signal(range(WORD_BYTES + 1))
        m.d.comb += [self.words.ready.eq(left == 0), self.idle.eq(left == 0),
                     self.bytes.valid.eq(left != 0), self.bytes.payload.eq(shift[:8])]
        with m.If(self.words.valid & self.words.ready):
            m.d.sync += [shift.eq(self.words.payload.word), left.eq(self.words.payload.count)]
        with m.If(self.bytes.valid & self.bytes.ready):
            m.d.sync += [shift.eq(shift >> 8), left.eq(left - 1)]
        return m
