"""The value buffer: accumulator values of whole pooling windows, reordered channel by channel.

The PE array delivers the ``pes`` values of one output position at once; max-pool wants the
values of one channel's pooling window one after the other. The buffer is a circular memory of
``value_depth`` entries (one entry: the values of one position) with a reader that, once the
``window`` entries of a pooling window are all in, reads them out channel-major: for each of the
group's channels, its values at the window's positions (the last position first: max-pool does
not mind the order), the last one flagged ``last``. Then the window's entries are freed.

Credits keep the PE array from ever stalling: the sequencer reserves an entry before it starts
a group (``reserve``, allowed while ``can_reserve``), and the reader frees a window's entries
when it has read them. The last channel group of a stage may be partial: ``channels`` (the
stage's output channels) tells the reader how many of the ``pes`` values are real.
"""

from amaranth import C, Cat, Module, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ..block_ram import BlockRam
from ..maxpool import PoolLayout
from .config import POOL_MAX, check_config
from .descriptor import CHANNEL_BITS

__all__ = ["ValueBuffer"]


def _add(a, b, carry):
    """``a + b + carry`` in ``len(a)`` bits: one adder, ``carry`` (1 bit) its carry in."""
    return (Cat(carry, a) + Cat(carry, b))[1:len(a) + 1]


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
        m.submodules.memory = memory = BlockRam(shape=self._entry, depth=depth)
        write = memory.write_port()
        read = memory.read_port()

        # That a window is ready, that a read is its channel's last in the window and that a
        # channel is its pixel's last are register bits (sign bits, or a flag set the cycle
        # before): no subtraction and comparison lies between the stream handshake and the
        # registers it enables. The geometry is taken at ``start`` (the descriptor may change
        # between stages) in the form that the counts reload.
        window_last = Signal(range(POOL_MAX * POOL_MAX))   # window - 1
        pixel_channels = Signal(signed(CHANNEL_BITS + 1))  # channels - 2
        started = Signal()
        m.d.sync += started.eq(self.start)

        # Writer: ``unfilled`` more entries complete the window being written; ``minus_unread``
        # is minus the windows written and not yet read (negative: one is ready). The pointers
        # wrap with ``depth``, a power of two.
        tail, head = Signal(ceil_log2(depth)), Signal(ceil_log2(depth))
        unfilled = Signal.like(window_last)
        minus_unread = Signal(range(-depth, 1))
        window_written = self.write_valid & (unfilled == 0)
        m.d.comb += [write.addr.eq(tail), write.data.eq(self.write_values),
                     write.en.eq(self.write_valid)]
        with m.If(self.write_valid):
            m.d.sync += [tail.eq(tail + 1), unfilled.eq(unfilled - 1)]
            with m.If(window_written):
                m.d.sync += unfilled.eq(window_last)

        # Reader: entry ``position`` of the window, counting down, ``position_last`` when it is
        # 0; channel ``lane`` of the group; ``channels_left`` channels of the output pixel
        # follow this one, minus one (negative: this channel is the pixel's last).
        position = Signal.like(window_last)
        position_last = Signal()
        lane = Signal(range(max(pes, 2)))
        channels_left = Signal.like(pixel_channels)
        lane_last = (lane == pes - 1) | channels_left[-1]
        advance = ~self.values.valid | self.values.ready
        take = advance & minus_unread[-1]
        next_lane = take & position_last
        window_done = next_lane & lane_last
        m.d.comb += [read.addr.eq(head + position), read.en.eq(advance)]
        selected, last = Signal.like(lane), Signal()
        with m.If(advance):
            m.d.sync += [self.values.valid.eq(minus_unread[-1]), selected.eq(lane),
                         last.eq(position_last)]
        m.d.comb += [self.values.payload.value.eq(read.data[selected]),
                     self.values.payload.last.eq(last)]
        # ``started`` moves the reader onto the stage's first window as a pixel's last read
        # moves it onto the next pixel's; it takes no read (``start`` cleared ``minus_unread``).
        with m.If(take | started):
            m.d.sync += [position.eq(position - 1), position_last.eq(position == 1)]
            with m.If(position_last | started):
                m.d.sync += [position.eq(window_last), position_last.eq(window_last == 0)]
        with m.If(next_lane | started):
            m.d.sync += channels_left.eq(channels_left - 1)
            with m.If(channels_left[-1] | started):
                m.d.sync += channels_left.eq(pixel_channels)
        with m.If(next_lane):
            m.d.sync += lane.eq(lane + 1)
            with m.If(lane_last):
                m.d.sync += [lane.eq(0), head.eq(_add(head, window_last, C(1)))]  # + window
        m.d.sync += minus_unread.eq(minus_unread + (window_done - window_written))

        # ``-window`` is ``-1 - window_last``: ``occupancy + reserve - window`` is one adder,
        # ``reserve`` its carry in.
        occupancy = Signal(range(depth + 1))
        freed = window_done.replicate(len(occupancy)) & (-1 - window_last)
        m.d.sync += occupancy.eq(_add(occupancy, freed, self.reserve))
        m.d.comb += [self.can_reserve.eq(occupancy < depth),
                     self.idle.eq((occupancy == 0) & ~self.values.valid)]

        with m.If(self.start):
            first_window_last = self.window - 1
            m.d.sync += [window_last.eq(first_window_last), pixel_channels.eq(self.channels - 2),
                         tail.eq(0), head.eq(0), unfilled.eq(first_window_last),
                         minus_unread.eq(0), occupancy.eq(0), lane.eq(0),
                         self.values.valid.eq(0)]
        return m
