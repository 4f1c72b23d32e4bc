"""Threshold fetch: pairs each pooled value with its channel's thresholds, read from memory.

Values arrive in channel order, pixel after pixel, so the threshold memory is read at an address
register that steps by one per value and returns to the stage's ``base`` after its last channel.
One pipeline stage: the memory's registered read and the value's register advance together, and
hold while the comparators stall.

Every path stays a carry chain and a look-up table deep: no comparison of a channel number with
``channels``. A down-counter ``left`` (the channels after the current one, minus one) is
negative exactly while the current value is its pixel's last channel, so its sign bit, already a
register, selects the next address and the counter's reload, ``channels - 2``; the address goes
to the memory straight from its register.
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
    ``base`` and ``channels`` (in, the stage's, at least 1 channel, steady from ``start`` to the
    stage's last value); the memory read port ``read_addr``, ``read_en`` (out), ``read_data``
    (in, :class:`ThresholdLayout`)."""

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
        addr = Signal(self.config.threshold_addr_bits)
        left = Signal(signed(CHANNEL_BITS + 1))   # -1 ..= channels - 2
        value = Signal(signed(self.config.acc_bits))
        advance = ~self.values.valid | self.values.ready
        m.d.comb += [
            self.maxima.ready.eq(advance),
            self.read_en.eq(advance),
            self.read_addr.eq(addr),
            self.values.payload.value.eq(value),
            self.values.payload.thresholds.eq(self.read_data.thresholds),
            self.values.payload.invert.eq(self.read_data.invert),
        ]
        with m.If(advance):
            m.d.sync += [self.values.valid.eq(self.maxima.valid), value.eq(self.maxima.payload)]
        with m.If(self.start | advance & self.maxima.valid & left[-1]):
            m.d.sync += [addr.eq(self.base), left.eq(self.channels - 2)]
        with m.Elif(advance & self.maxima.valid):
            m.d.sync += [addr.eq(addr + 1), left.eq(left - 1)]
        with m.If(self.start):
            m.d.sync += self.values.valid.eq(0)
        return m
