"""Plane writer: stores a feature map's binary planes, channel by channel, into the activation memory.

Its input is one beat per channel of each pixel, in pixel order: bit ``b`` of the beat is the
channel's bit on plane ``b``. The writer collects ``lanes`` channels (or the pixel's last) into one
word per plane, then writes those words, one per cycle, plane ``b`` at
``base + b * plane_stride + word``, ``word`` counting the words written so far. Bits past the
pixel's last channel stay 0, as the feature-map format requires (:mod:`.descriptor`).

It serves both the image loader (8 bit-planes of each pixel byte) and the comparators (N planes).
"""

from amaranth import Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ...network import INPUT_BITS
from .config import check_config
from .descriptor import CHANNEL_BITS

__all__ = ["PlaneWriter"]


class PlaneWriter(wiring.Component):
    """Ports: ``bits`` (in stream of 8-bit beats); ``start`` (in, a pulse while ``idle`` after
    a whole feature map: word 0, channel 0), ``channels``, ``planes``, ``base``,
    ``plane_stride`` (in, held); the memory write port ``write_addr``, ``write_data``,
    ``write_en`` (out); ``idle`` (out: no word pending)."""

    def __init__(self, *, config):
        self.config = check_config(config)
        super().__init__({
            "bits": In(stream.Signature(INPUT_BITS)),
            "start": In(1),
            "channels": In(CHANNEL_BITS),
            "planes": In(4),
            "base": In(config.act_addr_bits),
            "plane_stride": In(config.act_addr_bits),
            "write_addr": Out(config.act_addr_bits),
            "write_data": Out(config.lanes),
            "write_en": Out(1),
            "idle": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        lanes = self.config.lanes
        # The words of the pixel's planes; while writing, they shift down one plane a cycle (no
        # multiplexer on the write data): plane ``b`` is ``words[0]`` in write ``b``.
        words = Signal(data.ArrayLayout(lanes, INPUT_BITS))
        # The lane the next beat's bits go to, one-hot: a lane's bits (one per plane, eight
        # flip-flops) share one enable, one gate from ``bits.valid``, and its top bit ends a
        # word (with ``channels_left``'s sign).
        lane = Signal(lanes, init=1)
        lane_last = lane[-1]
        # Channels of the pixel after this beat's, minus one (negative: the pixel's last), and
        # planes after the one being written, minus one (negative: the last): their sign bits
        # end a word and the writes, so no subtraction and comparison lies on those paths.
        channels_left = Signal(signed(CHANNEL_BITS + 1))
        planes_left = Signal(range(-1, INPUT_BITS - 1))
        word_address = Signal(self.config.act_addr_bits)   # base + words written so far
        address = Signal(self.config.act_addr_bits)
        writing = Signal()
        m.d.comb += [self.bits.ready.eq(~writing), self.idle.eq(~writing),
                     self.write_en.eq(writing), self.write_addr.eq(address),
                     self.write_data.eq(words[0])]

        accept = self.bits.valid & ~writing
        # Each lane's bits: the beat's while it is the lane's, the next plane's while writing.
        for index in range(lanes):
            with m.If(writing | self.bits.valid & lane[index]):
                for plane in range(INPUT_BITS):
                    after = words[plane + 1][index] if plane + 1 < INPUT_BITS else 0
                    m.d.sync += words[plane][index].eq(
                        Mux(writing, after & ~planes_left[-1], self.bits.payload[plane]))
        with m.If(accept):
            m.d.sync += lane.eq(lane.rotate_left(1))
            with m.If(channels_left[-1] | lane_last):
                m.d.sync += [writing.eq(1), lane.eq(1), planes_left.eq(self.planes - 2),
                             address.eq(word_address), word_address.eq(word_address + 1)]
        # ``start`` begins a pixel as a pixel's last beat does.
        with m.If(accept | self.start):
            m.d.sync += channels_left.eq(channels_left - 1)
            with m.If(channels_left[-1] | self.start):
                m.d.sync += channels_left.eq(self.channels - 2)
        with m.If(writing):
            m.d.sync += [planes_left.eq(planes_left - 1), address.eq(address + self.plane_stride)]
            with m.If(planes_left[-1]):
                m.d.sync += writing.eq(0)
        # ``start`` comes only while the writer is idle after a whole feature map (the engine
        # waits for ``idle``), where every pixel's last word was written: ``lane``
        # and ``words`` are as at a word's first beat already, and ``start`` stays off their
        # many enables.
        with m.If(self.start):
            m.d.sync += word_address.eq(self.base)
        return m
