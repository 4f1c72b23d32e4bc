"""Threshold fetch: pairs each pooled value with its channel's thresholds, read from memory.

Values arrive in channel order, pixel after pixel, so a channel counter (wrapping at the stage's
``channels``) addresses the threshold memory. One pipeline stage: the memory's registered read
and the value's register advance together, and hold while the comparators stall.
"""

from amaranth import Module, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..comparator import ComparatorLayout
from .config import check_config
from .descriptor import CHANNEL_BITS

__all__ = ["ThresholdFetch", "ThresholdLayout"]


class ThresholdLayout(data.StructLayout):
    """One channel's entry of the threshold memory: N thresholds and ``invert``."""

    def __init__(self, config):
        super().__init__({"thresholds": data.ArrayLayout(signed(config.acc_bits), config.n),
                          "invert": 1})


class ThresholdFetch(wiring.Component):
    """Ports: ``maxima`` (in stream), ``values`` (out stream of
    :class:`~abchw.gateware.comparator.ComparatorLayout`); ``start`` (in, a pulse: channel 0),
    ``base`` and ``channels`` (in, the stage's); the memory read port ``read_addr``,
    ``read_en`` (out), ``read_data`` (in, :class:`ThresholdLayout`)."""

    def __init__(self, *, config):
        self.config = check_config(config)
        super().__init__({
            "maxima": In(stream.Signature(signed(config.acc_bits))),
            "values": Out(stream.Signature(ComparatorLayout(config.acc_bits, config.n))),
            "start": In(1),
            "base": In(config.threshold_addr_bits),
            "channels": In(CHANNEL_BITS),
            "read_addr": Out(config.threshold_addr_bits),
            "read_en": Out(1),
            "read_data": In(ThresholdLayout(config)),
        })

    def elaborate(self, platform):
        m = Module()
        channel = Signal(CHANNEL_BITS)
        value = Signal(signed(self.config.acc_bits))
        advance = ~self.values.valid | self.values.ready
        m.d.comb += [
            self.maxima.ready.eq(advance),
            self.read_en.eq(advance),
            self.read_addr.eq(self.base + channel),
            self.values.payload.value.eq(value),
            self.values.payload.thresholds.eq(self.read_data.thresholds),
            self.values.payload.invert.eq(self.read_data.invert),
        ]
        with m.If(advance):
            m.d.sync += [self.values.valid.eq(self.maxima.valid), value.eq(self.maxima.payload)]
            with m.If(self.maxima.valid):
                m.d.sync += channel.eq(channel + 1)
                with m.If(channel == self.channels - 1):
                    m.d.sync += channel.eq(0)
        with m.If(self.start):
            m.d.sync += [channel.eq(0), self.values.valid.eq(0)]
        return m
