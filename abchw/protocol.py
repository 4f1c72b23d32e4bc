"""The board link's framed protocol (version 1): frames, their checks, and the build description.

The host and the board exchange *frames* over a UART (8N1). A frame is SLIP-framed (RFC 1055):
``END`` (0xC0), the escaped body, ``END``; inside the body 0xC0 is sent as ``ESC ESC_END``
(0xDB 0xDC) and 0xDB as ``ESC ESC_ESC`` (0xDB 0xDD). Empty frames (two ``END`` in a row) are
ignored, so every frame may start with an ``END`` that flushes line noise. The body::

    kind u8 | seq u8 | length u16 (little-endian) | payload[length] | crc u16 (big-endian)

The CRC is CRC-16/CCITT-FALSE (polynomial 0x1021, initial value 0xFFFF, no reflection, Python's
``binascii.crc_hqx(body, 0xFFFF)``) over kind, seq, length and payload; it is sent most significant
byte first, so that the CRC over the whole body is 0 (what the gateware checks). A body is
accepted when it is at least :data:`HEADER_BYTES` + 2 bytes, its length field equals the bytes
received, the payload is at most the build's ``max_payload`` and the CRC checks; otherwise the
board answers :data:`NAK`, whose payload is one :class:`NakReason` byte (``seq`` as received,
or 0 when the body was shorter than 2 bytes), and executes nothing.

Host -> board (:class:`Kind`), stop-and-wait: the host sends one frame and waits for its reply.

* ``INFO`` (empty): the reply ``INFO | 0x80`` carries :class:`BuildInfo` (the build and its link).
* ``EXEC`` (the engine's command bytes, :mod:`abchw.gateware.engine.engine`): the board feeds the
  payload to the engine and waits until the engine needs more command bytes or is idle; the reply
  ``EXEC | 0x80`` carries every result byte the engine sent meanwhile (scores and counters after a
  RUN command, nothing after WRITEs). A WRITE may span several EXEC frames. Results longer than
  ``max_payload`` are cut there and the reply kind is :data:`OVERFLOW`.
* ``RESET`` (empty): resets the engine's logic (not its memories) and forgets the last sequence
  number; the reply is ``RESET | 0x80``. It is obeyed even while an EXEC runs.

Sequence numbers: the host numbers its frames; the board remembers the last executed frame's
``seq`` and its reply. A good frame with that same ``seq`` is a retransmission (its reply was
lost): the board sends the remembered reply again and executes nothing (RESET is never a
retransmission: it always runs, and NAKs and RESET replies are not remembered). The board's
remembered ``seq`` outlives a host program, so a new session starts with RESET. So a host that
resends a frame after a NAK, a timeout or a corrupted reply never loses it and never runs it
twice. Frames other than RESET that arrive while an EXEC is still running are dropped (the
host resends them).
"""

import binascii
import enum
import struct
from dataclasses import dataclass, fields

from .errors import AbchwError
from .gateware.engine.config import EngineConfig

__all__ = ["CRC_INIT", "CRC_POLY", "END", "ESC", "ESC_END", "ESC_ESC", "HEADER_BYTES",
           "MAX_PAYLOAD", "NAK", "OVERFLOW", "VERSION", "BuildInfo", "Frame", "FrameDecoder",
           "FrameError", "Kind", "NakReason", "crc16", "encode_frame", "parse_body", "reply_kind",
           "slip_encode"]

VERSION = 1
END, ESC, ESC_END, ESC_ESC = 0xC0, 0xDB, 0xDC, 0xDD
#: kind, seq and length.
HEADER_BYTES = 4
#: The default largest payload of a frame (a build says its own in :class:`BuildInfo`).
MAX_PAYLOAD = 256
#: CRC-16/CCITT-FALSE: its polynomial (implied by ``binascii.crc_hqx``) and initial value.
CRC_POLY, CRC_INIT = 0x1021, 0xFFFF
#: Reply kinds that are not ``request | 0x80``.
NAK, OVERFLOW = 0xFF, 0x90


class Kind(enum.IntEnum):
    INFO = 0x01
    EXEC = 0x02
    RESET = 0x03


class NakReason(enum.IntEnum):
    CRC = 1        #: the CRC does not check
    LENGTH = 2     #: the length field disagrees with the bytes received (truncated, dropped)
    OVERSIZE = 3   #: longer than the build's max_payload
    KIND = 4       #: unknown kind
    SHORT = 5      #: fewer bytes than a header and a CRC


def reply_kind(kind):
    """The kind of the reply to a good request of ``kind``."""
    return int(kind) | 0x80


class FrameError(AbchwError):
    """A frame body that fails a check; ``reason`` is its :class:`NakReason`."""

    def __init__(self, reason, message):
        super().__init__(message)
        self.reason = NakReason(reason)


def crc16(data):
    """CRC-16/CCITT-FALSE of ``data``."""
    return binascii.crc_hqx(bytes(data), CRC_INIT)


def slip_encode(body):
    """``END``, ``body`` with its ``END`` and ``ESC`` bytes escaped, ``END``."""
    out = bytearray([END])
    for byte in body:
        if byte == END:
            out += bytes([ESC, ESC_END])
        elif byte == ESC:
            out += bytes([ESC, ESC_ESC])
        else:
            out.append(byte)
    out.append(END)
    return bytes(out)


def encode_frame(kind, seq, payload=b""):
    """The bytes on the wire of one frame."""
    body = struct.pack("<BBH", int(kind), seq & 0xFF, len(payload)) + bytes(payload)
    return slip_encode(body + crc16(body).to_bytes(2, "big"))


@dataclass(frozen=True)
class Frame:
    kind: int
    seq: int
    payload: bytes


def parse_body(body, *, max_payload=MAX_PAYLOAD):
    """The :class:`Frame` in an unescaped ``body``, or :class:`FrameError` with its reason."""
    body = bytes(body)
    if len(body) < HEADER_BYTES + 2:
        raise FrameError(NakReason.SHORT, f"frame of {len(body)} bytes is shorter than a header "
                                          f"and a CRC ({HEADER_BYTES + 2} bytes)")
    kind, seq, length = struct.unpack_from("<BBH", body)
    received = len(body) - HEADER_BYTES - 2
    if received > max_payload:
        raise FrameError(NakReason.OVERSIZE, f"frame payload of {received} bytes exceeds "
                                             f"{max_payload}")
    if length != received:
        raise FrameError(NakReason.LENGTH, f"frame says {length} payload bytes, {received} came")
    if crc16(body) != 0:
        raise FrameError(NakReason.CRC, "frame CRC does not check")
    return Frame(kind, seq, body[HEADER_BYTES:-2])


class FrameDecoder:
    """Unescapes a byte stream into frame bodies: :meth:`feed` returns the complete bodies."""

    def __init__(self):
        self._body = bytearray()
        self._escaped = False

    def feed(self, data):
        bodies = []
        for byte in bytes(data):
            if byte == END:
                if self._body:
                    bodies.append(bytes(self._body))
                self._body.clear()
                self._escaped = False
            elif self._escaped:
                # An ESC followed by anything else is kept as is (RFC 1055 leaves it open);
                # the CRC then rejects the frame.
                self._body.append({ESC_END: END, ESC_ESC: ESC}.get(byte, byte))
                self._escaped = False
            elif byte == ESC:
                self._escaped = True
            else:
                self._body.append(byte)
        return bodies


#: Byte sizes of the :class:`~abchw.gateware.engine.config.EngineConfig` fields in
#: :class:`BuildInfo`, in the dataclass's field order.
_CONFIG_BYTES = {"m": 1, "n": 1, "pes": 1, "lanes": 2, "coef_bits": 1, "act_words": 4,
                 "weight_words": 4, "coef_words": 4, "threshold_words": 4, "stages_max": 1,
                 "hard_macro": 1, "weight_spram": 1}
_LINK_BYTES = {"clock_hz": 4, "baud": 4, "max_payload": 2}


@dataclass(frozen=True)
class BuildInfo:
    """What a board says of itself in reply to INFO: ``version`` u8, then every
    :class:`EngineConfig` field, then ``clock_hz`` u32, ``baud`` u32, ``max_payload`` u16
    (little-endian; the sizes are :data:`_CONFIG_BYTES`, in the dataclass's field order)."""
    config: EngineConfig
    clock_hz: int
    baud: int
    max_payload: int
    version: int = VERSION

    @staticmethod
    def layout():
        """``[(name, bytes)]`` of the payload after the version byte."""
        names = [field.name for field in fields(EngineConfig)]
        if set(names) != set(_CONFIG_BYTES):
            raise AssertionError(f"BuildInfo does not describe EngineConfig fields {names}")
        return [(name, _CONFIG_BYTES[name]) for name in names] + list(_LINK_BYTES.items())

    def to_bytes(self):
        values = {**self.config.as_dict(), "clock_hz": self.clock_hz, "baud": self.baud,
                  "max_payload": self.max_payload}
        return bytes([self.version]) + b"".join(int(values[name]).to_bytes(size, "little")
                                                for name, size in self.layout())

    @classmethod
    def from_bytes(cls, payload):
        payload = bytes(payload)
        layout = cls.layout()
        expected = 1 + sum(size for _, size in layout)
        if not payload or payload[0] != VERSION:
            version = payload[0] if payload else None
            raise AbchwError(f"the board speaks link protocol version {version}, this abchw "
                             f"speaks {VERSION}: rebuild the bitstream with this abchw")
        if len(payload) != expected:
            raise AbchwError(f"INFO reply of {len(payload)} bytes, expected {expected}")
        values, offset = {}, 1
        for name, size in layout:
            values[name] = int.from_bytes(payload[offset:offset + size], "little")
            offset += size
        for name in ("hard_macro", "weight_spram"):
            values[name] = bool(values[name])
        link = {name: values.pop(name) for name in _LINK_BYTES}
        return cls(config=EngineConfig(**values), **link)
