"""Plane writer: stores a feature map's binary planes, channel by channel, into the activation memory.

Its input is one beat per channel of each pixel, in pixel order: bit ``b`` of the beat is the
channel's bit on plane ``b``. The writer collects ``lanes`` channels (or the pixel's last) into one
word per plane, then writes those words, one per cycle, plane ``b`` at
``base + b * plane_stride + word``, ``word`` counting the words written so far. Bits past the
pixel's last channel stay 0, as the feature-map format requires (:mod:`.descriptor`).

It serves both the image loader (8 bit-planes of each pixel byte) and the comparators (N planes).
"""

from amaranth import Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ...network import INPUT_BITS
from .config import check_config
from .descriptor import CHANNEL_BITS

__all__ = ["PlaneWriter"]


class PlaneWriter(wiring.Component):
    """Ports: ``bits`` (in stream of 8-bit beats); ``start`` (in, a pulse: word 0, channel 0),
    ``channels``, ``planes``, ``base``, ``plane_stride`` (in, held); the memory write port
    ``write_addr``, ``write_data``, ``write_en`` (out); ``idle`` (out: no word pending)."""

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
        words = Signal(data.ArrayLayout(lanes, INPUT_BITS))
        lane = Signal(range(max(lanes, 2)))
        channel = Signal(CHANNEL_BITS)
        word = Signal(self.config.act_addr_bits)
        plane = Signal(range(INPUT_BITS))
        address = Signal(self.config.act_addr_bits)
        writing = Signal()
        m.d.comb += [self.bits.ready.eq(~writing), self.idle.eq(~writing),
                     self.write_en.eq(writing), self.write_addr.eq(address),
                     self.write_data.eq(words[plane])]

        with m.If(self.bits.valid & ~writing):
            for index in range(INPUT_BITS):
                m.d.sync += words[index].bit_select(lane, 1).eq(self.bits.payload[index])
            pixel_done = channel == self.channels - 1
            m.d.sync += [lane.eq(lane + 1), channel.eq(channel + 1)]
            with m.If(pixel_done):
                m.d.sync += channel.eq(0)
            with m.If(pixel_done | (lane == lanes - 1)):
                m.d.sync += [writing.eq(1), lane.eq(0), plane.eq(0),
                             address.eq(self.base + word), word.eq(word + 1)]
        with m.If(writing):
            m.d.sync += [plane.eq(plane + 1), address.eq(address + self.plane_stride)]
            with m.If(plane == self.planes - 1):
                m.d.sync += [writing.eq(0), words.eq(0)]
        with m.If(self.start):
            m.d.sync += [lane.eq(0), channel.eq(0), word.eq(0), writing.eq(0), words.eq(0)]
        return m
