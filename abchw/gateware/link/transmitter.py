"""Frame transmitter: sends one reply body, its CRC computed on the way.

Given a header (kind, seq, length), it sends the body ``kind seq length[2] payload crc[2]``
to the :class:`~.slip.SlipEncoder`, the first and last bytes flagged. The payload is read
through ``payload``, a read port whose data may come :data:`PAYLOAD_LATENCY` cycles after its
address (a block RAM's cycle, and a register the link puts after its multiplexer of the
memories), from whichever memory the link selects. The CRC-16/CCITT-FALSE of kind to payload
goes out most significant byte first.

A body byte is sent from a register, loaded a few cycles after the previous one is taken
(the encoder holds a byte and two wire bytes, so that costs the UART no time): the header is
rotated out of a register, the part of the body being sent is a one-hot set of flags, and
the payload bytes left are a down-counter whose sign bit says "none left". The byte's
multiplexer and the CRC thus only ever see flip-flops.
"""

from amaranth import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import ReadPort
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from ...protocol import HEADER_BYTES
from ..params import check_int
from .crc import CRC_INIT, crc16_next
from .header import HeaderLayout
from .slip import BodyByte

__all__ = ["PAYLOAD_LATENCY", "FrameTransmitter"]

#: Cycles from a payload address to its data, at most.
PAYLOAD_LATENCY = 2


class FrameTransmitter(wiring.Component):
    """Transmitter of bodies of up to ``max_payload`` (keyword-only) payload bytes.

    Ports: ``reply`` (in: stream of :class:`~.header.HeaderLayout`, taken when idle);
    ``payload``: drives a read port, payload byte ``i`` at address ``i``, the address held
    until the byte is sent; ``body`` (out: stream of :class:`~.slip.BodyByte`, from registers);
    ``idle`` (out: no body being sent).
    """

    def __init__(self, *, max_payload):
        check_int("max_payload", max_payload, 1, 0xFFFF)
        self.max_payload = max_payload
        super().__init__({
            "reply": In(stream.Signature(HeaderLayout())),
            "payload": In(ReadPort.Signature(addr_width=ceil_log2(max_payload), shape=8)),
            "body": Out(stream.Signature(BodyByte())),
            "idle": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        header = Signal(HEADER_BYTES * 8)   # the header, rotated: the byte to send in bits 0-7
        header_at = Signal(HEADER_BYTES)    # one-hot: which header byte is sent
        address = Signal.like(self.payload.addr)
        left = Signal(range(-1, self.max_payload))  # payload bytes after this one; -1: none
        # The part of the body the next byte is from, one-hot.
        in_header, in_payload, crc_high, crc_low = Signal(), Signal(), Signal(), Signal()
        first = Signal()
        sending = Signal()
        crc = Signal(16, init=CRC_INIT)
        body = self.body
        sent = body.valid & body.ready
        start = self.reply.valid & ~sending
        # A byte is sent (cycle 0); the cycle after, one of the ``step_*`` flip-flops moves the
        # registers on to the next byte; the cycle after that, ``checked``, the payload's end
        # is seen in the sign of ``left``. The updates' enables are thus flip-flops and a LUT.
        step_header, step_payload, step_crc_high, step_crc_low, checked = (
            Signal(name=name) for name in ("step_header", "step_payload", "step_crc_high",
                                           "step_crc_low", "checked"))
        step_crc = Signal()  # the CRC register moves: a header, payload or last byte
        m.d.sync += [step_header.eq(sent & in_header), step_payload.eq(sent & in_payload),
                     step_crc_high.eq(sent & crc_high), step_crc_low.eq(sent & crc_low),
                     step_crc.eq(sent & (in_header | in_payload | crc_low)),
                     checked.eq(step_payload)]
        # The next byte is loaded when the one-hot ``wait`` has shifted down to bit 0: after
        # the steps and the payload data of the new address (and after the start).
        wait = Signal(PAYLOAD_LATENCY + 3)
        m.d.sync += wait.eq(wait >> 1)
        with m.If(start | sent & ~crc_low):
            m.d.sync += wait[-1].eq(1)

        m.d.comb += [self.idle.eq(~sending), self.reply.ready.eq(~sending),
                     self.payload.addr.eq(address)]
        with m.If(start):
            m.d.sync += [header.eq(self.reply.payload), header_at.eq(1), address.eq(0),
                         left.eq(self.reply.payload.length - 1), sending.eq(1),
                         in_header.eq(1), first.eq(1)]

        with m.If(sent):
            m.d.sync += [body.valid.eq(0), first.eq(0)]
        with m.If(wait[0]):
            m.d.sync += [
                body.valid.eq(1), body.payload.first.eq(first), body.payload.last.eq(crc_low),
                # One-hot selection: an AND-OR, two LUT levels.
                body.payload.data.eq((header[:8] & in_header.replicate(8))
                                     | (self.payload.data & in_payload.replicate(8))
                                     | (crc[8:] & crc_high.replicate(8))
                                     | (crc[:8] & crc_low.replicate(8))),
            ]

        # ``body.payload`` stays until the next byte is loaded, long after these steps. The
        # CRC starts again once its low byte is sent.
        with m.If(step_crc):
            m.d.sync += crc.eq(Mux(step_crc_low, CRC_INIT, crc16_next(crc, body.payload.data)))
        with m.If(step_header):
            # Rotated, not shifted: no constant bits, so no reset logic merges into the enable.
            m.d.sync += [header.eq(header.rotate_right(8)),
                         header_at.eq(header_at.rotate_left(1))]
            with m.If(header_at[-1]):
                m.d.sync += [in_header.eq(0), in_payload.eq(~left[-1]), crc_high.eq(left[-1])]
        with m.If(step_payload):
            m.d.sync += [address.eq(address + 1), left.eq(left - 1)]
        with m.If(checked & left[-1]):
            m.d.sync += [in_payload.eq(0), crc_high.eq(1)]
        with m.If(step_crc_high):
            m.d.sync += [crc_high.eq(0), crc_low.eq(1)]
        with m.If(step_crc_low):
            m.d.sync += [crc_low.eq(0), sending.eq(0)]
        return m
