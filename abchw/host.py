"""The host's driver of a board: the link protocol of :mod:`abchw.protocol` over a serial line.

    with Board("/dev/ttyUSB1") as board:            # or server.url of abchw.sim.serve_board
        board.info()                                # BuildInfo: the build and its link
        board.load(compile_network(network, board.info().config))
        predictions = board.classify(images)        # class indices
        scores, counters = board.run(images)        # raw scores and performance counters

The same class drives the real board (a device path) and the simulated one (``socket://``):
both are opened with ``serial.serial_for_url``. Every request is one frame, sent stop-and-wait:
the host waits for its reply and resends the same frame, same sequence number, after a NAK, a
timeout or a reply that fails its checks; replies with another sequence number (late answers
to an earlier copy) are skipped. The board executes a frame once and answers a copy of it with
the remembered reply, so nothing is lost and nothing runs twice. After ``1 + retries`` failed
attempts at one frame, :class:`LinkError`. :attr:`Board.stats` counts what happened.

The board remembers the sequence number of its last frame across host sessions, so a session
must not begin with an EXEC that could carry that number: the first EXEC of a session is
preceded by INFO (whose reply is harmless to repeat). A reply with the right number but of the
wrong kind is such a remembered reply: the frame is sent again under the next number.
"""

import collections
import contextlib
import dataclasses
import time

import serial

from .errors import AbchwError
from .program import Program, ProgramError
from .protocol import (
    NAK,
    OVERFLOW,
    BuildInfo,
    FrameDecoder,
    FrameError,
    Kind,
    NakReason,
    encode_frame,
    parse_body,
    reply_kind,
)

__all__ = ["Board", "LinkError", "LinkStats"]

#: How long one read of the port may block: the granularity of the reply deadlines.
READ_POLL_SECONDS = 0.02
#: Largest reply payload checked for before the board has said its max_payload.
REPLY_PAYLOAD_MAX = 0xFFFF


class LinkError(AbchwError):
    """The board does not answer, or its answers keep failing their checks."""


@dataclasses.dataclass
class LinkStats:
    """What the link has seen since the :class:`Board` opened.

    ``frames``: requests answered; ``sent``: frames written, copies included;
    ``retransmissions``: copies sent again; ``naks``: NAK replies by
    :class:`~abchw.protocol.NakReason` (an int for a reason this abchw does not know);
    ``timeouts``: attempts that got no usable reply in time; ``corrupt_replies``: reply bodies
    that failed their checks; ``other_seq``: good replies with another sequence number
    (skipped); ``stale_replies``: the board took a new frame for a copy of its last one.
    """
    frames: int = 0
    sent: int = 0
    retransmissions: int = 0
    naks: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    timeouts: int = 0
    corrupt_replies: int = 0
    other_seq: int = 0
    stale_replies: int = 0

    def copy(self):
        return dataclasses.replace(self, naks=collections.Counter(self.naks))


def _positive(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise AbchwError(f"{name} must be a positive number of seconds, not {value!r}")
    return float(value)


class Board:
    """A board on the serial line ``url`` (a device path such as ``/dev/ttyUSB1``, or any URL of
    ``serial.serial_for_url``: ``socket://HOST:PORT`` for :func:`abchw.sim.serve.serve_board`),
    or an open port object with pyserial's ``read``, ``write``, ``in_waiting``, ``timeout`` and
    ``close`` (the board closes it).

    ``baud``: of the serial line (ignored by sockets); ``timeout``: seconds to wait for the
    reply to a frame; ``run_timeout``: the same for frames that run inferences (an inference
    may take far longer than a frame takes to cross the line); ``retries``: how many times a
    frame is sent again before :class:`LinkError`.
    """

    def __init__(self, url, *, baud=3_000_000, timeout=1.0, retries=8, run_timeout=30.0):
        if isinstance(baud, bool) or not isinstance(baud, int) or baud <= 0:
            raise AbchwError(f"baud must be a positive integer, not {baud!r}")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise AbchwError(f"retries must be an integer >= 0, not {retries!r}")
        self.timeout = _positive("timeout", timeout)
        self.run_timeout = _positive("run_timeout", run_timeout)
        self.baud = baud
        self.retries = retries
        self.stats = LinkStats()
        #: The program loaded by :meth:`load`, or None.
        self.program = None
        self._info = None
        self._seq = 0
        self._decoder = FrameDecoder()
        if isinstance(url, str):
            self.url = url
            self.port = self._open(url, baud)
        else:
            self.url = getattr(url, "name", None) or type(url).__name__
            self.port = url
            self.port.timeout = READ_POLL_SECONDS

    @staticmethod
    def _open(url, baud):
        try:
            return serial.serial_for_url(url, baudrate=baud, timeout=READ_POLL_SECONDS)
        except (serial.SerialException, ValueError, OSError) as error:
            raise LinkError(f"cannot open the board link {url}: {error}") from None

    def close(self):
        self.port.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # The link.
    def request(self, kind, payload=b"", *, timeout=None):
        """Send one frame of ``kind`` (:class:`~abchw.protocol.Kind`) and return its reply
        (a :class:`~abchw.protocol.Frame` of kind ``kind | 0x80``, or
        :data:`~abchw.protocol.OVERFLOW` for an EXEC), resending as the module documentation
        says; ``timeout``: seconds per attempt (default :attr:`timeout`)."""
        kind = Kind(kind)
        if kind == Kind.EXEC and self._info is None:
            self.info()  # the first frame of a session is not an EXEC (module documentation)
        expected = {reply_kind(kind)} | ({OVERFLOW} if kind == Kind.EXEC else set())
        timeout = self.timeout if timeout is None else timeout
        failures = collections.Counter()
        seq = self._next_seq()
        for attempt in range(1 + self.retries):
            if attempt:
                self.stats.retransmissions += 1
            self._write(encode_frame(kind, seq, payload))
            outcome = self._await_reply(seq, expected, time.monotonic() + timeout)
            if not isinstance(outcome, str):
                self.stats.frames += 1
                return outcome
            failures[outcome] += 1
            if outcome == "stale reply":
                seq = self._next_seq()
        summary = ", ".join(f"{count} x {what}" for what, count in failures.most_common())
        raise LinkError(f"no good reply from the board at {self.url} to a frame of kind "
                        f"{kind.name} after {1 + self.retries} attempts ({summary}); check the "
                        f"cable, the port and the baud rate ({self.baud})")

    def _next_seq(self):
        seq = self._seq
        self._seq = (seq + 1) & 0xFF
        return seq

    def _write(self, data):
        try:
            self.port.write(data)
        except (serial.SerialException, OSError) as error:
            raise LinkError(f"writing to the board at {self.url} failed: {error}") from None
        self.stats.sent += 1

    def _read(self):
        try:
            return self.port.read(max(1, self.port.in_waiting))
        except (serial.SerialException, OSError) as error:
            raise LinkError(f"reading from the board at {self.url} failed: {error}") from None

    def _await_reply(self, seq, expected, deadline):
        """The reply to frame ``seq``, or what went wrong: "timeout", "corrupt reply",
        "NAK <reason>" or "stale reply"."""
        limit = self._info.max_payload if self._info else REPLY_PAYLOAD_MAX
        while time.monotonic() < deadline:
            for body in self._decoder.feed(self._read()):
                try:
                    reply = parse_body(body, max_payload=limit)
                except FrameError:
                    self.stats.corrupt_replies += 1
                    return "corrupt reply"
                if reply.seq != seq:
                    self.stats.other_seq += 1
                elif reply.kind == NAK:
                    reason = reply.payload[0] if reply.payload else 0
                    with contextlib.suppress(ValueError):
                        reason = NakReason(reason)
                    self.stats.naks[reason] += 1
                    return f"NAK {getattr(reason, 'name', reason)}"
                elif reply.kind in expected:
                    return reply
                else:
                    self.stats.stale_replies += 1
                    return "stale reply"
        self.stats.timeouts += 1
        return "timeout"

    # The board.
    def info(self):
        """What the board is: its :class:`~abchw.protocol.BuildInfo` (asked once, then kept)."""
        if self._info is None:
            self._info = BuildInfo.from_bytes(self.request(Kind.INFO).payload)
        return self._info

    def reset(self):
        """Reset the board's engine, even in the middle of a run. Its memories keep the loaded
        program, unless the reset cut a :meth:`load` short (which :attr:`program` then says)."""
        self.request(Kind.RESET)

    def load(self, program):
        """Load ``program`` (an :class:`~abchw.program.Program`) into the board: its WRITE
        commands, in EXEC frames of at most the board's ``max_payload`` bytes."""
        if not isinstance(program, Program):
            raise AbchwError(f"load needs an abchw.program.Program, not {type(program).__name__}")
        info = self.info()
        if program.config != info.config:
            raise ProgramError(f"the program was compiled for the build {program.config}, but "
                               f"the board at {self.url} is the build {info.config}: compile "
                               f"the model for the board's build")
        if program.result_bytes > info.max_payload:
            raise ProgramError(f"the program's results take {program.result_bytes} bytes an "
                               f"image, more than the {info.max_payload} bytes a frame of the "
                               f"board at {self.url} carries: build the board with a larger "
                               f"max_payload")
        self.program = None
        stream = program.load_bytes()
        for start in range(0, len(stream), info.max_payload):
            reply = self._exec(stream[start:start + info.max_payload], self.timeout)
            if reply:
                raise AbchwError(f"the board at {self.url} answered a WRITE with {len(reply)} "
                                 f"result bytes")
        self.program = program

    def run(self, images):
        """Run the loaded program on ``images`` (uint8 ``(B, C, H, W)`` or one ``(C, H, W)``):
        the scores ``(B, *output_shape)`` and a counter dict per image
        (:meth:`~abchw.program.Program.decode_results`)."""
        program = self.program
        if program is None:
            raise AbchwError("no program is loaded on the board: call load(program) first")
        images = program.check_images(images)
        max_payload = self.info().max_payload
        # As many whole images a frame as their RUN commands and results fit; an image larger
        # than a frame is split over several, and only its last frame has results.
        per_image = len(program.run_bytes(images[:1]))
        batch = max(1, min(max_payload // per_image, max_payload // program.result_bytes))
        results = bytearray()
        for first in range(0, len(images), batch):
            stream = program.run_bytes(images[first:first + batch])
            for start in range(0, len(stream), max_payload):
                results += self._exec(stream[start:start + max_payload], self.run_timeout)
        return program.decode_results(bytes(results), len(images))

    def classify(self, images):
        """The predicted class of each image: the index of its largest score."""
        scores, _ = self.run(images)
        return scores.reshape(len(scores), -1).argmax(axis=1)

    def _exec(self, payload, timeout):
        reply = self.request(Kind.EXEC, payload, timeout=timeout)
        if reply.kind == OVERFLOW:
            raise AbchwError(f"the board at {self.url} returned more than {len(reply.payload)} "
                             f"result bytes for one frame (OVERFLOW)")
        return reply.payload

