"""The board's end of the link as :mod:`abchw.protocol` specifies it, answering at once: for the
tests of the host ends (:class:`abchw.host.Board` in ``test_host.py``, the C driver in
``test_firmware.py``), each of which puts its own engine and transport around it."""

from abchw.protocol import (
    NAK,
    OVERFLOW,
    FrameError,
    Kind,
    NakReason,
    encode_frame,
    parse_body,
    reply_kind,
)


class FakeLink:
    """Frame checks and NAKs, RESET, INFO (``info``, its payload bytes), EXEC (``engine``, called
    with the payload, returns the result bytes; more than ``results_max`` is an OVERFLOW cut
    there) and replies remembered by seq. ``max_payload``: the longest frame payload taken;
    ``reset``: called on RESET; ``last``: (seq, reply bytes) of the last frame acted on;
    ``requests``: the frames parsed; ``executed``: those acted on (not RESET, not repeats)."""

    def __init__(self, *, engine, info, max_payload, reset=lambda: None, last=None):
        self.engine, self.info, self.reset = engine, info, reset
        self.max_payload = self.results_max = max_payload
        self.last = last
        self.requests, self.executed = [], []

    def answer(self, body):
        """The reply bytes (a SLIP frame) to the frame ``body`` (a decoded SLIP body)."""
        try:
            frame = parse_body(body, max_payload=self.max_payload)
        except FrameError as error:
            return encode_frame(NAK, body[1] if len(body) >= 2 else 0, bytes([error.reason]))
        self.requests.append(frame)
        if frame.kind not in set(Kind):
            return encode_frame(NAK, frame.seq, bytes([NakReason.KIND]))
        if frame.kind == Kind.RESET:
            self.last = None
            self.reset()
            return encode_frame(reply_kind(Kind.RESET), frame.seq)
        if self.last is not None and self.last[0] == frame.seq:
            return self.last[1]
        kind, payload = reply_kind(frame.kind), self.info
        if frame.kind == Kind.EXEC:
            payload = self.engine(frame.payload)
            if len(payload) > self.results_max:
                kind, payload = OVERFLOW, payload[:self.results_max]
        reply = encode_frame(kind, frame.seq, payload)
        self.last = (frame.seq, reply)
        self.executed.append(frame)
        return reply
