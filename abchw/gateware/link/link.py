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

from amaranth import Module, Mux, Signal
from amaranth.lib import enum, stream, wiring
from amaranth.lib.wiring import In, Out

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
        m.submodules.info = info = BlockRam(shape=8, depth=len(self.info), init=self.info)
        wiring.connect(m, receiver.buffer, received.write_port())
        command_read = received.read_port()
        result_write, result_read = result_buffer.write_port(), result_buffer.read_port()
        info_read = info.read_port()

        # The reply to send, and the last executed frame's, sent again for a retransmission.
        reply, source, reason = Signal(HeaderLayout()), Signal(PayloadSource), Signal(8)
        last, last_source, last_valid = Signal(HeaderLayout()), Signal(PayloadSource), Signal()
        m.d.comb += [result_read.addr.eq(transmitter.payload.addr),
                     info_read.addr.eq(transmitter.payload.addr),
                     transmitter.reply.payload.eq(reply)]
        with m.Switch(source):
            with m.Case(PayloadSource.RESULTS):
                m.d.comb += transmitter.payload.data.eq(result_read.data)
            with m.Case(PayloadSource.INFO):
                m.d.comb += transmitter.payload.data.eq(info_read.data)
            with m.Case(PayloadSource.REASON):
                m.d.comb += transmitter.payload.data.eq(reason)

        # EXEC: the payload bytes of the receive buffer from ``index`` on; the read port
        # addresses the next byte as the current one is taken, so its data is always current.
        index = Signal(range(receiver.depth), init=HEADER_BYTES)
        # Payload bytes still to feed, minus one: its sign bit, a flip-flop, says all are fed.
        feeding = Signal(range(-1, receiver.depth))
        fed_all = feeding[-1]
        exec_seq = Signal(8)
        fed = self.commands.valid & self.commands.ready
        m.d.comb += [command_read.addr.eq(index + fed), self.commands.payload.eq(command_read.data)]
        m.d.sync += index.eq(HEADER_BYTES)
        collected = Signal(range(max_payload + 1))
        overflow = Signal()
        collect = self.results.valid & self.results.ready
        m.d.comb += [result_write.addr.eq(collected), result_write.data.eq(self.results.payload),
                     result_write.en.eq(collect & (collected != max_payload))]
        with m.If(collect):
            with m.If(collected == max_payload):
                m.d.sync += overflow.eq(1)
            with m.Else():
                m.d.sync += collected.eq(collected + 1)

        frame = receiver.frame
        header = frame.header
        waiting = Signal()  # a frame arrived while a reply was being sent
        # The last frame's verdict, registered the cycle after it arrives: the header's
        # comparisons then lie on no path into the reply registers.
        done, nak, reset, repeat, info, execute = (Signal(name=name) for name in (
            "done", "nak", "reset", "repeat", "info", "execute"))
        m.d.sync += [done.eq(receiver.done), nak.eq(frame.nak != 0),
                     reset.eq((frame.nak == 0) & (header.kind == Kind.RESET)),
                     repeat.eq((frame.nak == 0) & last_valid & (header.seq == last.seq)),
                     info.eq((frame.nak == 0) & (header.kind == Kind.INFO)),
                     execute.eq((frame.nak == 0) & (header.kind == Kind.EXEC) & frame.stored)]
        arrived = done | waiting
        m.d.comb += receiver.lock.eq(waiting)
        # An EXEC is finished once every byte is fed and the engine is idle, registered: the
        # engine's ``busy`` reaches no reply register. Both stay so once reached (the engine
        # takes no more bytes), so the cycle's delay loses nothing.
        finished = Signal()

        def send(kind, seq, length, payload_source, *, remember=False):
            m.d.sync += [reply.kind.eq(kind), reply.seq.eq(seq), reply.length.eq(length),
                         source.eq(payload_source)]
            if remember:
                m.d.sync += [last.kind.eq(kind), last.seq.eq(seq), last.length.eq(length),
                             last_source.eq(payload_source), last_valid.eq(1)]
            m.next = "REPLY"

        def obey_reset():
            m.d.comb += self.engine_reset.eq(1)
            m.d.sync += last_valid.eq(0)
            send(reply_kind(Kind.RESET), header.seq, 0, PayloadSource.REASON)  # no payload

        with m.FSM() as fsm:
            with m.State("IDLE"):
                m.d.sync += [waiting.eq(0), finished.eq(0)]
                with m.If(arrived & nak):
                    m.d.sync += reason.eq(frame.nak)
                    send(NAK, header.seq, 1, PayloadSource.REASON)
                with m.Elif(arrived & reset):
                    obey_reset()
                with m.Elif(arrived & repeat):
                    send(last.kind, last.seq, last.length, last_source)
                with m.Elif(arrived & info):
                    send(reply_kind(Kind.INFO), header.seq, len(self.info), PayloadSource.INFO,
                         remember=True)
                with m.Elif(arrived & execute):
                    m.d.sync += [feeding.eq(header.length - 1), exec_seq.eq(header.seq),
                                 collected.eq(0), overflow.eq(0)]
                    m.next = "EXEC"
            with m.State("EXEC"):
                m.d.comb += [self.commands.valid.eq(~fed_all), self.results.ready.eq(1),
                             receiver.lock.eq(1), self.executing.eq(1)]
                m.d.sync += [index.eq(index + fed), feeding.eq(feeding - fed),
                             finished.eq(fed_all & ~self.busy)]
                with m.If(done & reset):
                    obey_reset()
                with m.Elif(finished):
                    send(Mux(overflow, OVERFLOW, reply_kind(Kind.EXEC)), exec_seq, collected,
                         PayloadSource.RESULTS, remember=True)
            with m.State("REPLY"):
                m.d.comb += transmitter.reply.valid.eq(1)
                with m.If(transmitter.reply.ready):
                    m.next = "SENDING"
            with m.State("SENDING"), m.If(transmitter.idle):
                m.next = "IDLE"
        with m.If(done & (fsm.ongoing("REPLY") | fsm.ongoing("SENDING"))):
            m.d.sync += waiting.eq(1)
        return m
