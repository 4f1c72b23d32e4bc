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
        # Bytes left after the one on the output, minus one (negative: it is the last), and
        # ``empty``: flip-flops, so the handshakes and the shift register's enable are one gate
        # from registers rather than a comparison of a count.
        left = Signal(range(-1, WORD_BYTES - 1))
        empty = Signal(init=1)
        m.d.comb += [self.words.ready.eq(empty), self.idle.eq(empty),
                     self.bytes.valid.eq(~empty), self.bytes.payload.eq(shift[:8])]
        # While empty, the registers follow ``words.payload`` whether it is valid or not: only
        # ``empty`` waits for ``valid``, which so reaches one flip-flop, not the 64 of the word.
        with m.If(empty):
            m.d.sync += [shift.eq(self.words.payload.word), left.eq(self.words.payload.count - 2),
                         empty.eq(~self.words.valid)]
        with m.Elif(self.bytes.ready):
            m.d.sync += [shift.eq(shift >> 8), left.eq(left - 1)]
            with m.If(left[-1]):
                m.d.sync += empty.eq(1)
        return m
