"""The board link: frames from the host in, the engine's byte streams driven, replies out.

Wire side: ``rx_bytes`` and ``tx_bytes`` carry the UART's bytes. Inside::

    rx_bytes -> SlipDecoder -> FrameReceiver -> receive buffer -> commands  (engine)
    tx_bytes <- SlipEncoder <- FrameTransmitter <- result buffer <- results (engine)
                                                <- INFO ROM, NAK reason

The control (this module) takes each frame :class:`~.receiver.FrameReceiver` reports and
answers it as :mod:`abchw.protocol` says: a bad one with a NAK (payload: the reason byte), a
good one with the last reply again when its ``seq`` is the last executed frame's, else INFO from
the ROM of :class:`~abchw.protocol.BuildInfo`, RESET by pulsing ``engine_reset``, EXEC by
feeding the payload to ``commands`` while it writes the engine's ``results`` into the result
buffer (the bytes past ``max_payload`` are dropped and the reply kind is OVERFLOW), until every
payload byte is taken and ``busy`` is low. RESET is never taken for a retransmission, so that a
host that has lost track of the sequence numbers (a restart) can always begin with one.

While an EXEC runs, only a good RESET is obeyed; every other frame is dropped. A frame that
arrives while a reply is being sent (line noise answered by a NAK just before a frame, or a
host that did not wait) is answered after it. The receive buffer is not written while an EXEC
runs or a frame waits, and an EXEC whose body missed the buffer for that reason is dropped
(the host sends it again): of several frames that arrive during one reply, the last is
answered, unless it is such an EXEC.
"""

import operator
from functools import reduce

from amaranth import Array, Module, Mux, Signal
from amaranth.lib import enum, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ...protocol import HEADER_BYTES, MAX_PAYLOAD, NAK, OVERFLOW, BuildInfo, Kind, reply_kind
from ..block_ram import BlockRam
from ..engine.config import check_config
from ..params import check_int
from .header import HeaderLayout
from .receiver import FrameReceiver
from .slip import SlipDecoder, SlipEncoder
from .transmitter import FrameTransmitter

__all__ = ["INFO_BYTES", "Link"]

#: Payload bytes of an INFO reply.
INFO_BYTES = 1 + sum(size for _, size in BuildInfo.layout())
#: Bytes of each group of the INFO payload's ROM (a LUT a bit).
INFO_GROUP_BYTES = 16


class PayloadSource(enum.Enum, shape=2):
    """Where the payload of the reply being sent comes from."""
    RESULTS = 0
    INFO = 1
    REASON = 2


class Link(wiring.Component):
    """The link of a build: keyword-only ``config`` (an
    :class:`~abchw.gateware.engine.config.EngineConfig`), ``clock_hz`` and ``baud`` (reported
    by INFO), ``max_payload`` (the largest payload of a frame either way, at least
    :data:`INFO_BYTES`).

    Ports: ``rx_bytes`` (in) and ``tx_bytes`` (out): streams of wire bytes; ``commands`` (out),
    ``results`` (in), ``busy`` (in): the engine's; ``engine_reset`` (out: a one-cycle pulse to
    reset the engine's logic); ``executing`` (out: an EXEC runs).
    """

    def __init__(self, *, config, clock_hz, baud, max_payload=MAX_PAYLOAD):
        check_config(config)
        check_int("clock_hz", clock_hz, 1, (1 << 32) - 1)
        check_int("baud", baud, 1, (1 << 32) - 1)
        if isinstance(max_payload, bool) or not isinstance(max_payload, int) \
                or not INFO_BYTES <= max_payload <= 0xFFFF:
            raise ValueError(f"max_payload must be an integer in {INFO_BYTES}..65535 (an INFO "
                             f"reply takes {INFO_BYTES} bytes), not {max_payload!r}")
        self.max_payload = max_payload
        self.info = BuildInfo(config=config, clock_hz=clock_hz, baud=baud,
                              max_payload=max_payload).to_bytes()
        super().__init__({
            "rx_bytes": In(stream.Signature(8)),
            "tx_bytes": Out(stream.Signature(8)),
            "commands": Out(stream.Signature(8)),
            "results": In(stream.Signature(8)),
            "busy": In(1),
            "engine_reset": Out(1),
            "executing": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        max_payload = self.max_payload
        m.submodules.decoder = decoder = SlipDecoder()
        m.submodules.receiver = receiver = FrameReceiver(max_payload=max_payload)
        m.submodules.transmitter = transmitter = FrameTransmitter(max_payload=max_payload)
        m.submodules.encoder = encoder = SlipEncoder()
        wiring.connect(m, wiring.flipped(self.rx_bytes), decoder.wire)
        wiring.connect(m, decoder.body, receiver.body)
        wiring.connect(m, transmitter.body, encoder.body)
        wiring.connect(m, encoder.wire, wiring.flipped(self.tx_bytes))

        m.submodules.received = received = BlockRam(shape=8, depth=receiver.depth)
        m.submodules.result_buffer = result_buffer = BlockRam(shape=8, depth=max_payload)
        wiring.connect(m, receiver.buffer, received.write_port())
        command_read = received.read_port()
        result_write, result_read = result_buffer.write_port(), result_buffer.read_port()
        address = transmitter.payload.addr
        m.d.comb += result_read.addr.eq(address)

        # The control's states, one-hot flip-flops: IDLE, EXEC (feeding the payload to the
        # engine), ACT (the cycle that loads the reply chosen the cycle before), REPLY (offering
        # it to the transmitter), SENDING.
        idle, executing, acting, replying, sending = (
            Signal(name=name, init=name == "idle")
            for name in ("idle", "executing", "acting", "replying", "sending"))

        # The reply to send, and the last executed frame's, sent again for a retransmission.
        reply, source, reason = Signal(HeaderLayout()), Signal(PayloadSource), Signal(8)
        last, last_source, last_valid = Signal(HeaderLayout()), Signal(PayloadSource), Signal()
        # The payload byte at the transmitter's address, registered after a multiplexer of
        # the sources (the transmitter allows for two cycles): the block RAM's data, and the
        # reply's byte multiplexer and CRC, lie on no one path. The INFO payload is a ROM in
        # LUTs, as groups of 16 bytes each looked up in one LUT a bit and registered; the
        # multiplexer's selection, one-hot, is registered too: an AND-OR of flip-flops.
        info_groups = [self.info[start:start + INFO_GROUP_BYTES]
                       for start in range(0, len(self.info), INFO_GROUP_BYTES)]
        group_bits = ceil_log2(INFO_GROUP_BYTES)
        payload_cases = [(Signal(name="from_results"), result_read.data),
                         (Signal(name="from_reason"), reason)]
        m.d.sync += [payload_cases[0][0].eq(source == PayloadSource.RESULTS),
                     payload_cases[1][0].eq(source == PayloadSource.REASON)]
        for index, group in enumerate(info_groups):
            select, data = Signal(name=f"from_info_{index}"), Signal(8, name=f"info_{index}")
            m.d.sync += [select.eq((source == PayloadSource.INFO)
                                   & (address[group_bits:] == index)),
                         data.eq(Array(group)[address[:ceil_log2(len(group))]])]
            payload_cases.append((select, data))
        payload_data = Signal(8)
        m.d.sync += payload_data.eq(_one_hot(*payload_cases))
        m.d.comb += [transmitter.payload.data.eq(payload_data),
                     transmitter.reply.payload.eq(reply), transmitter.reply.valid.eq(replying)]

        frame = receiver.frame
        header = frame.header
        # The last frame's verdict, in two register stages after the receiver's (flags, then
        # their combinations), so that no comparison lies on a path into the control. Both
        # stages follow the frame registers every cycle; ``arrived`` marks the cycle the
        # second stage is the new frame's.
        ok, is_reset, is_info, is_exec, stored, same_low, same_high = (
            Signal(name=f"frame_{name}")
            for name in ("ok", "reset", "info", "exec", "stored", "same_low", "same_high"))
        # The sequence numbers compared by halves: two LUT levels each.
        m.d.sync += [ok.eq(frame.nak == 0), is_reset.eq(header.kind == Kind.RESET),
                     is_info.eq(header.kind == Kind.INFO), is_exec.eq(header.kind == Kind.EXEC),
                     stored.eq(frame.stored), same_low.eq(header.seq[:4] == last.seq[:4]),
                     same_high.eq(header.seq[4:] == last.seq[4:])]
        # One of these at most: the action the frame calls for (none: it is dropped); and
        # whether it is a reply (``answer``), or any action (``act``).
        nak, reset, repeat, info, execute, answer, act = (
            Signal(name=name)
            for name in ("nak", "reset", "repeat", "info", "execute", "answer", "act"))
        retransmission = ok & ~is_reset & last_valid & same_low & same_high
        m.d.sync += [nak.eq(~ok), reset.eq(ok & is_reset), repeat.eq(retransmission),
                     info.eq(ok & is_info & ~retransmission),
                     execute.eq(ok & is_exec & stored & ~retransmission),
                     answer.eq(~ok | is_reset | retransmission | is_info),
                     act.eq(~ok | is_reset | retransmission | is_info | is_exec & stored)]
        seen = Signal()      # the frame is in the first stage
        arrived = Signal()   # ... in the second
        m.d.sync += [seen.eq(receiver.done), arrived.eq(seen)]

        # A frame to answer in IDLE: it arrived there, or during a reply (``held``: the
        # receive buffer is then locked so that its payload stays). It is answered (``go``)
        # once no other frame is on its way through the stages, so that the verdict, the
        # sequence number and the reason registered in that cycle are all that frame's.
        pending, held = Signal(), Signal()
        go = Signal()
        m.d.comb += go.eq(idle & pending & ~receiver.done & ~seen)
        m.d.sync += [pending.eq(~go & (pending | arrived & ~executing)),
                     held.eq(~go & (held | arrived & ~executing & ~idle))]
        # Registered: the receiver's buffer enable sees a flip-flop. It is set a few cycles
        # after a frame's END, long before the next frame could reach its payload.
        lock = Signal()
        m.d.sync += lock.eq(held | executing)
        m.d.comb += receiver.lock.eq(lock)

        # Out of EXEC, the registers of an EXEC follow the frame, ready for the cycle it
        # starts. EXEC: the payload bytes of the receive buffer from ``index`` on; the read
        # port addresses the next byte (``index_next``) as the current one is taken, so its
        # data is always current.
        index = Signal(range(receiver.depth), init=HEADER_BYTES)
        index_next = Signal(range(receiver.depth + 1), init=HEADER_BYTES + 1)
        # Payload bytes still to feed, minus one: its sign bit, a flip-flop, says all are fed.
        feeding = Signal(range(-1, receiver.depth))
        fed_all = feeding[-1]
        seq = Signal(8)
        fed = self.commands.valid & self.commands.ready
        m.d.comb += [self.commands.valid.eq(executing & ~fed_all),
                     command_read.addr.eq(Mux(fed, index_next, index)),
                     self.commands.payload.eq(command_read.data)]
        # The engine's results pass through a register (``results.valid`` reaches no block
        # RAM input); ``room``, the result bytes the buffer still takes minus one, says by its
        # sign bit that the buffer is full.
        result, result_valid = Signal(8), Signal()
        collected = Signal(range(max_payload + 1))
        room = Signal(range(-1, max_payload))
        overflow = Signal()
        m.d.comb += [self.results.ready.eq(executing), result_write.addr.eq(collected),
                     result_write.data.eq(result),
                     result_write.en.eq(executing & result_valid & ~room[-1])]
        m.d.sync += [result.eq(self.results.payload),
                     result_valid.eq(self.results.valid & self.results.ready)]
        # An EXEC is finished once every byte is fed and the engine is idle, registered: the
        # engine's ``busy`` reaches no reply register. Both stay so once reached (the engine
        # takes no more bytes), so the cycle's delay loses nothing; the reply waits for the
        # last result to be counted.
        finished = Signal()
        m.d.sync += finished.eq(executing & fed_all & ~self.busy)
        with m.If(executing):
            with m.If(fed):
                m.d.sync += [index.eq(index_next), index_next.eq(index_next + 1),
                             feeding.eq(feeding - 1)]
            with m.If(result_valid):
                # Counted unless the buffer is full: the sign bit is an addend, not a
                # condition, so that the enable stays two flip-flops and a LUT.
                m.d.sync += [collected.eq(collected + ~room[-1]), room.eq(room - ~room[-1])]
                with m.If(room[-1]):
                    m.d.sync += overflow.eq(1)
        with m.Else():
            m.d.sync += [index.eq(HEADER_BYTES), index_next.eq(HEADER_BYTES + 1),
                         feeding.eq(header.length - 1),
                         collected.eq(0), room.eq(max_payload - 1), overflow.eq(0)]
        # The sequence number of the frame answered follows the frame, but for the EXEC's
        # while it runs, unless a RESET comes: the ACT cycle reads the value of the cycle
        # before, when the frame's verdict was the one acted on.
        with m.If(~executing | arrived & reset):
            m.d.sync += seq.eq(header.seq)

        # The action, chosen in IDLE or EXEC and registered; ACT loads the reply from it.
        act_nak, act_reset, act_repeat, act_info, act_result = (
            Signal(name=name)
            for name in ("act_nak", "act_reset", "act_repeat", "act_info", "act_result"))
        # A RESET is obeyed even while an EXEC runs; every other frame is then dropped.
        stay_exec = ~(arrived & reset) & ~(finished & ~result_valid)
        m.d.sync += [act_nak.eq(go & nak), act_reset.eq((go | executing & arrived) & reset),
                     act_repeat.eq(go & repeat), act_info.eq(go & info),
                     act_result.eq(executing & finished & ~result_valid & ~(arrived & reset))]
        # The reason of the frame answered, for a NAK.
        with m.If(idle):
            m.d.sync += reason.eq(frame.nak)

        remember = Signal()  # the reply just loaded is also the one to remember
        m.d.sync += [self.engine_reset.eq(act_reset), remember.eq(act_info | act_result)]
        with m.If(acting):
            m.d.sync += [
                reply.kind.eq(_one_hot((act_nak, NAK), (act_reset, reply_kind(Kind.RESET)),
                                       (act_repeat, last.kind),
                                       (act_info, reply_kind(Kind.INFO)),
                                       (act_result, Mux(overflow, OVERFLOW,
                                                        reply_kind(Kind.EXEC))))),
                reply.seq.eq(Mux(act_repeat, last.seq, seq)),
                reply.length.eq(_one_hot((act_nak, 1), (act_repeat, last.length),
                                         (act_info, len(self.info)),
                                         (act_result, collected))),
                # REASON (no payload) for a RESET.
                source.eq(_one_hot((act_repeat, last_source), (act_info, PayloadSource.INFO),
                                   (act_result, PayloadSource.RESULTS),
                                   (act_nak | act_reset, PayloadSource.REASON))),
            ]
        with m.If(remember):
            m.d.sync += [last.eq(reply), last_source.eq(source), last_valid.eq(1)]
        with m.If(act_reset):
            m.d.sync += last_valid.eq(0)

        # The states. A frame the verdict drops (an EXEC that missed the buffer) leaves IDLE
        # as it was.
        m.d.sync += [
            idle.eq(idle & ~(go & act) | sending & transmitter.idle),
            executing.eq(go & execute | executing & stay_exec),
            acting.eq(go & answer | executing & ~stay_exec),
            replying.eq(acting | replying & ~transmitter.reply.ready),
            sending.eq(replying & transmitter.reply.ready | sending & ~transmitter.idle),
        ]
        m.d.comb += self.executing.eq(executing)
        return m


def _one_hot(*cases):
    """The value of the case whose condition (one at most) is high, else 0: an AND-OR, no
    priority chain."""
    return reduce(operator.or_, (Mux(condition, value, 0) for condition, value in cases))
