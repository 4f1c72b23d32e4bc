"""The value buffer: accumulator values of whole pooling windows, reordered channel by channel.

The PE array delivers the ``pes`` values of one output position at once; max-pool wants the
values of one channel's pooling window one after the other. The buffer is a circular memory of
``value_depth`` entries (one entry: the values of one position) with a reader that, once the
``window`` entries of a pooling window are all in, reads them out channel-major: for each of the
group's channels, its values at the window's positions (the last position first: max-pool does
not mind the order), the last one flagged ``last``. Then the window's entries are freed.

Credits keep the PE array from ever stalling: the sequencer reserves an entry before it starts
a group (``reserve``, allowed while ``can_reserve``), and the reader frees a window's entries
the cycle after it has read them. The last channel group of a stage may be partial:
``channels`` (the stage's output channels) tells the reader how many of the ``pes`` values are
real.
"""

from amaranth import Cat, Module, Mux, Signal, signed
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

        # Writer: ``unfilled`` more entries complete the window being written; a window
        # written is counted a cycle late (``window_written``). The pointers wrap with
        # ``depth``, a power of two.
        tail, head = Signal(ceil_log2(depth)), Signal(ceil_log2(depth))
        unfilled = Signal.like(window_last)
        window_written = Signal()
        m.d.comb += [write.addr.eq(tail), write.data.eq(self.write_values),
                     write.en.eq(self.write_valid)]
        m.d.sync += window_written.eq(self.write_valid & (unfilled == 0))
        with m.If(self.write_valid | started):
            m.d.sync += unfilled.eq(Mux((unfilled == 0) | started, window_last, unfilled - 1))
        with m.If(self.write_valid):
            m.d.sync += tail.eq(tail + 1)

        # Reader: entry ``position`` of the window, counting down, ``position_last`` when it is
        # 0; channel ``lane`` of the group; ``channels_left`` channels of the output pixel
        # follow this one, minus one (negative: this channel is the pixel's last).
        #
        # The stream's ``advance`` comes through the max-pool unit from the slice after it, two
        # look-up tables deep, so it meets only register bits and ``ready``: ``step`` is the
        # one enable of the reader's registers, whose next values are chosen in their own
        # logic (as sums, which no tool turns back into enables). A window's last read is
        # counted the cycle after (``window_read``) by ``minus_unread`` (minus the windows
        # written and not yet read), and by the credits; until the count has it, a copy one
        # above it (``minus_unread_after``) says whether another window is ready.
        position = Signal.like(window_last)
        position_last = Signal()
        lane = Signal(range(max(pes, 2)))
        channels_left = Signal.like(pixel_channels)
        minus_unread = Signal(range(-depth, 2))
        minus_unread_after = Signal.like(minus_unread)      # minus_unread + 1
        window_read, ready = Signal(), Signal()
        m.d.comb += ready.eq(Mux(window_read, minus_unread_after[-1], minus_unread[-1]))
        lane_last = (lane == pes - 1) | channels_left[-1]
        window_end = position_last & lane_last
        advance = ~self.values.valid | self.values.ready
        # ``start`` too, so that its resets (below) add no gate to this enable.
        step = advance & ready | started | self.start
        # ``ready & window_end`` first: ``advance & ready`` shared with ``step`` would put a
        # gate between the two.
        m.d.sync += window_read.eq(advance & (ready & window_end))
        m.d.comb += [read.addr.eq(head + position), read.en.eq(advance)]
        selected, last = Signal.like(lane), Signal()
        with m.If(advance):
            m.d.sync += [self.values.valid.eq(ready), selected.eq(lane),
                         last.eq(position_last)]
        m.d.comb += [self.values.payload.value.eq(read.data[selected]),
                     self.values.payload.last.eq(last)]
        # ``started`` moves the reader onto the stage's first window as a pixel's last read
        # moves it onto the next pixel's; it takes no read (``start`` cleared ``minus_unread``
        # and ``position_last``, which keeps ``lane`` and ``head`` at 0). What ``start``
        # itself loads into ``position`` and ``channels_left`` does not matter.
        next_pixel = position_last | started
        with m.If(step):
            m.d.sync += [
                position.eq(Mux(next_pixel, window_last, position - 1)),
                position_last.eq(Mux(next_pixel, window_last == 0, position == 1)),
                channels_left.eq(Mux(next_pixel & (channels_left[-1] | started), pixel_channels,
                                     channels_left - next_pixel)),
                lane.eq(Mux(window_end, 0, lane + position_last)),
                head.eq(_add(head, window_end.replicate(len(head)) & window_last, window_end)),
            ]
        unread_step = window_read - window_written
        m.d.sync += [minus_unread.eq(minus_unread + unread_step),
                     minus_unread_after.eq(minus_unread_after + unread_step)]

        # ``-window`` is ``-1 - window_last``: ``occupancy + reserve - window`` is one adder,
        # ``reserve`` its carry in. Entries are freed a cycle late, which only holds a
        # reservation back a cycle.
        occupancy = Signal(range(depth + 1))
        freed = window_read.replicate(len(occupancy)) & (-1 - window_last)
        m.d.sync += occupancy.eq(_add(occupancy, freed, self.reserve))
        m.d.comb += [self.can_reserve.eq(occupancy < depth),
                     self.idle.eq((occupancy == 0) & ~self.values.valid)]

        with m.If(self.start):
            m.d.sync += [window_last.eq(self.window - 1), pixel_channels.eq(self.channels - 2),
                         tail.eq(0), head.eq(0), position_last.eq(0), lane.eq(0),
                         minus_unread.eq(0), minus_unread_after.eq(1), window_written.eq(0),
                         window_read.eq(0), occupancy.eq(0), self.values.valid.eq(0)]
        return m
