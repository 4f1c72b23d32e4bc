"""The value buffer: accumulator values of whole pooling windows, reordered channel by channel.

The PE array delivers the ``pes`` values of one output position at once; max-pool wants the
values of one channel's pooling window one after the other. The buffer is a circular memory of
``value_depth`` entries (one entry: the values of one position) with a reader that, once the
``window`` entries of a pooling window are all in, reads them out channel-major: for each of the
group's channels, its value at each position of the window, the last flagged ``last``. Then the
window's entries are freed.

Credits keep the PE array from ever stalling: the sequencer reserves an entry before it starts
a group (``reserve``, allowed while ``can_reserve``), and the reader frees a window's entries
when it has read them. The last channel group of a stage may be partial: ``channels`` (the
stage's output channels) tells the reader how many of the ``pes`` values are real.
"""

from amaranth import Module, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..block_ram import BlockRam
from ..maxpool import PoolLayout
from .config import POOL_MAX, check_config
from .descriptor import CHANNEL_BITS

__all__ = ["ValueBuffer"]


class ValueBuffer(wiring.Component):
    """Value buffer of a build ``config`` (see module documentation).

    Ports: ``write_valid``/``write_values`` (in, from the PE array); ``reserve`` (in) and
    ``can_reserve`` (out); ``window`` (in, entries per pooling window, 1..POOL_MAX**2),
    ``channels`` (in; both taken at ``start``), ``start`` (in, a pulse: a new stage, the buffer
    is empty); ``values``
    (out) stream of :class:`~abchw.gateware.maxpool.PoolLayout`; ``idle`` (out: nothing
    reserved, nothing in flight).
    """

    def __init__(self, *, config):
        self.config = check_config(config)
        self._entry = data.ArrayLayout(signed(config.acc_bits), config.pes)
        super().__init__({
            "write_valid": In(1),
            "write_values": In(self._entry),
            "reserve": In(1),
            "can_reserve": Out(1),
            "window": In(range(POOL_MAX * POOL_MAX + 1)),
            "channels": In(CHANNEL_BITS),
            "start": In(1),
            "values": Out(stream.Signature(PoolLayout(config.acc_bits))),
            "idle": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        depth = self.config.value_depth
        pes = self.config.pes
        pointer_bits = ceil_log2(depth) + 1
        m.submodules.memory = memory = BlockRam(shape=self._entry, depth=depth)
        write = memory.write_port()
        read = memory.read_port()

        tail, head = Signal(pointer_bits), Signal(pointer_bits)
        occupancy = Signal(range(depth + 1))
        m.d.comb += [write.addr.eq(tail), write.data.eq(self.write_values),
                     write.en.eq(self.write_valid)]
        with m.If(self.write_valid):
            m.d.sync += tail.eq(tail + 1)

        # Reader position: entry ``position`` of the window, channel ``lane`` of the group;
        # ``remaining`` channels of the output pixel start at this group.
        position = Signal(range(POOL_MAX * POOL_MAX))
        lane = Signal(range(max(pes, 2)))
        remaining = Signal(CHANNEL_BITS)
        # Nothing is read before the first stage starts (the window size is not yet known).
        armed, available = Signal(), Signal()
        # The stage's geometry, taken at ``start``: the descriptor may change between stages.
        window, channels = Signal.like(self.window), Signal.like(self.channels)
        m.d.comb += available.eq(armed & ((tail - head)[:pointer_bits] >= window))
        advance = ~self.values.valid | self.values.ready
        take = advance & available
        position_last = position == window - 1
        lane_last = (lane == pes - 1) | (lane == remaining - 1)
        window_done = take & position_last & lane_last
        m.d.comb += [read.addr.eq(head + position), read.en.eq(advance)]
        selected, last = Signal.like(lane), Signal()
        with m.If(advance):
            m.d.sync += [self.values.valid.eq(available), selected.eq(lane),
                         last.eq(position_last)]
        m.d.comb += [self.values.payload.value.eq(read.data[selected]),
                     self.values.payload.last.eq(last)]
        with m.If(take):
            m.d.sync += position.eq(position + 1)
            with m.If(position_last):
                m.d.sync += [position.eq(0), lane.eq(lane + 1)]
                with m.If(lane_last):
                    m.d.sync += [lane.eq(0), head.eq(head + window),
                                 remaining.eq(remaining - pes)]
                    with m.If(remaining <= pes):
                        m.d.sync += remaining.eq(channels)

        freed = Signal.like(window)
        m.d.comb += [freed.eq(window_done.replicate(len(freed)) & window),
                     self.can_reserve.eq(occupancy < depth),
                     self.idle.eq((occupancy == 0) & ~self.values.valid)]
        m.d.sync += occupancy.eq(occupancy + self.reserve - freed)
        with m.If(self.start):
            m.d.sync += [armed.eq(1), window.eq(self.window), channels.eq(self.channels),
                         tail.eq(0), head.eq(0), occupancy.eq(0), position.eq(0), lane.eq(0),
                         remaining.eq(self.channels), self.values.valid.eq(0)]
        return m
