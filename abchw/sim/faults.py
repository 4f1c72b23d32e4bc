"""Scripted line faults on a board link, in either direction: for tests of the link's recovery.

    port = FaultyPort(serial.serial_for_url(server.url))
    port.inject(TO_BOARD, Flip(at=8, bit=0))           # the next frame the host sends
    port.inject(TO_HOST, Truncate(at=3), after=2)      # the third frame the board sends from now
    with Board(port) as board: ...

:class:`FaultyPort` wraps a port object (pyserial's ``read``, ``write``, ``in_waiting``,
``timeout``, ``close``) and damages the frames that cross it as told. Frames are found as the
board and host find them, between SLIP ``END`` bytes; ``at`` counts the wire bytes of a body
(escape bytes included, the ``END`` bytes not). Each fault damages one frame:

* :class:`Flip` ``(at, bit)``: inverts one bit of wire byte ``at`` (choose one that stays clear
  of ``END`` and ``ESC``, or the framing changes too);
* :class:`Drop` ``(at)``: removes wire byte ``at``;
* :class:`Truncate` ``(at)``: removes the body's wire bytes from ``at`` on; its ``END`` stays;
* :class:`Lose` ``()``: removes the whole body and its closing ``END``: the frame never arrives.

:data:`EACH_FAULT_ONCE` is every kind of fault once each way, for a load of many frames; the
tests of the host driver against a board faked in Python and against the SoC's RTL inject it
both (``port.inject_all(EACH_FAULT_ONCE)``).
"""

import dataclasses

from ..protocol import END

__all__ = ["EACH_FAULT_ONCE", "TO_BOARD", "TO_HOST", "Drop", "FaultyPort", "Flip", "Lose",
           "Truncate"]

TO_BOARD, TO_HOST = "to board", "to host"


@dataclasses.dataclass(frozen=True)
class Flip:
    at: int
    bit: int = 0

    def damage(self, index, byte):
        return byte ^ (1 << self.bit) if index == self.at else byte


@dataclasses.dataclass(frozen=True)
class Drop:
    at: int

    def damage(self, index, byte):
        return None if index == self.at else byte


@dataclasses.dataclass(frozen=True)
class Truncate:
    at: int

    def damage(self, index, byte):
        return None if index >= self.at else byte


@dataclasses.dataclass(frozen=True)
class Lose:
    def damage(self, index, byte):
        return None


#: ``(direction, fault, after)``: every kind of fault once each way, counted from now, a frame
#: apart each way so that each damaged frame is followed by its copy (13 frames or more each
#: way). To the board: a flipped bit (of the kind byte: no ``END`` can appear), a dropped
#: byte, a cut body (at least 101 wire bytes long), a lost frame; to the host: a flipped length
#: bit, a dropped byte, a lost reply. The host sees one NAK CRC, two NAK LENGTH, two corrupt
#: replies and two timeouts: seven retransmissions.
EACH_FAULT_ONCE = (
    (TO_BOARD, Flip(at=0, bit=0), 1), (TO_BOARD, Drop(at=40), 3),
    (TO_BOARD, Truncate(at=100), 5), (TO_BOARD, Lose(), 7),
    (TO_HOST, Flip(at=2, bit=1), 8), (TO_HOST, Drop(at=3), 10), (TO_HOST, Lose(), 12),
)


class _FaultyStream:
    """One direction: counts the frames that pass and damages the ones a fault is set for."""

    def __init__(self):
        self.frames = 0          # bodies begun so far
        self.faults = {}         # frame number -> fault
        self._index = None       # wire byte of the current body, None between bodies
        self._fault = None

    def process(self, data):
        out = bytearray()
        for byte in data:
            if byte == END:
                lost = self._index is not None and isinstance(self._fault, Lose)
                self._index = self._fault = None
                if not lost:
                    out.append(byte)
                continue
            if self._index is None:
                self._index = 0
                self._fault = self.faults.pop(self.frames, None)
                self.frames += 1
            damaged = self._fault.damage(self._index, byte) if self._fault else byte
            self._index += 1
            if damaged is not None:
                out.append(damaged)
        return bytes(out)


class FaultyPort:
    """``port`` with the faults :meth:`inject` sets (see the module documentation)."""

    def __init__(self, port):
        self.port = port
        self.name = getattr(port, "name", None) or getattr(port, "portstr", None)
        self._streams = {TO_BOARD: _FaultyStream(), TO_HOST: _FaultyStream()}

    def inject(self, direction, fault, *, after=0):
        """Damage the frame going ``direction`` (:data:`TO_BOARD` or :data:`TO_HOST`) that
        begins ``after`` frames from now with ``fault``."""
        stream = self._streams[direction]
        number = stream.frames + after
        if number in stream.faults:
            raise ValueError(f"frame {number} {direction} has a fault already")
        stream.faults[number] = fault

    def inject_all(self, schedule):
        """:meth:`inject` each ``(direction, fault, after)`` of ``schedule``."""
        for direction, fault, after in schedule:
            self.inject(direction, fault, after=after)

    def pending(self, direction=None):
        """How many injected faults have not yet met their frame."""
        directions = [direction] if direction else list(self._streams)
        return sum(len(self._streams[name].faults) for name in directions)

    def frames(self, direction):
        """How many frames have begun going ``direction``."""
        return self._streams[direction].frames

    @property
    def timeout(self):
        return self.port.timeout

    @timeout.setter
    def timeout(self, value):
        self.port.timeout = value

    @property
    def in_waiting(self):
        return self.port.in_waiting

    def write(self, data):
        self.port.write(self._streams[TO_BOARD].process(data))
        return len(data)

    def read(self, size=1):
        return self._streams[TO_HOST].process(self.port.read(size))

    def close(self):
        self.port.close()
