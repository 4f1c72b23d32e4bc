"""8N1 UART: a receiver and a transmitter of bytes at ``divisor`` clock cycles per bit.

A bit lasts ``divisor`` cycles: start bit (0), eight data bits least significant first, stop bit
(1); the line idles high. The receiver takes the pin through two flip-flops (it is asynchronous
to the clock), starts at the first low sample and samples every bit near its middle, so it
tolerates a sender whose bit time differs by a few percent (both sides' errors add up; each
should stay within 2 %). :func:`uart_divisor` picks the divisor of a clock and a baud rate.
"""

from amaranth import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ...errors import AbchwError
from ..params import check_int

__all__ = ["BAUD_TOLERANCE", "DIVISOR_MIN", "BaudError", "UartRx", "UartTx", "uart_divisor"]

#: Fewest clock cycles a bit: the receiver needs the two synchronizer cycles and a mid-bit sample.
DIVISOR_MIN = 4
DIVISOR_MAX = 1 << 24
#: Largest relative difference between the baud rate asked for and the one the divisor makes.
BAUD_TOLERANCE = 0.02


class BaudError(AbchwError, ValueError):
    """A baud rate that a clock cannot make."""


def uart_divisor(*, clock_hz, baud):
    """Clock cycles a bit, ``round(clock_hz / baud)``, or :class:`BaudError` if that is fewer
    than :data:`DIVISOR_MIN` or makes a baud rate more than :data:`BAUD_TOLERANCE` off."""
    check_int("clock_hz", clock_hz, 1, (1 << 32) - 1)
    check_int("baud", baud, 1, (1 << 32) - 1)
    divisor = round(clock_hz / baud)
    if divisor < DIVISOR_MIN:
        raise BaudError(f"baud {baud} is too fast for a {clock_hz} Hz clock: the UART needs "
                        f"{DIVISOR_MIN} clock cycles a bit (at most {clock_hz // DIVISOR_MIN} "
                        f"baud)")
    actual = clock_hz / divisor
    error = abs(actual - baud) / baud
    if error > BAUD_TOLERANCE:
        raise BaudError(f"baud {baud} cannot be made from a {clock_hz} Hz clock: the nearest "
                        f"divisor, {divisor}, gives {actual:.0f} baud, {error:.1%} off (at most "
                        f"{BAUD_TOLERANCE:.0%})")
    return divisor


class UartRx(wiring.Component):
    """Receiver of ``divisor`` (keyword-only) cycles a bit.

    Ports: ``rx`` (in: the pin); ``bytes`` (out: stream of the bytes received; a byte not taken
    before the next one is complete is overwritten); ``error`` (out: a one-cycle pulse for a
    byte whose stop bit was 0, which is dropped; the receiver then waits for the line to go high
    before it looks for a start bit, so a held-low line gives one error, not a stream of them).
    """

    rx: In(1, init=1)
    bytes: Out(stream.Signature(8))
    error: Out(1)

    def __init__(self, *, divisor):
        check_int("divisor", divisor, DIVISOR_MIN, DIVISOR_MAX)
        self.divisor = divisor
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        divisor = self.divisor
        synchronizer = Signal(2, init=0b11)
        m.d.sync += synchronizer.eq(Cat(self.rx, synchronizer[0]))
        line = synchronizer[1]

        # Down-counters whose sign bits end the waits: a flip-flop, not a comparison, decides.
        timer = Signal(range(-1, divisor))  # cycles to the next sample, minus one
        expired = timer[-1]
        bits_left = Signal(range(-1, 7))    # data bits after the next one, minus one
        shift = Signal(8)
        m.d.comb += self.bytes.payload.eq(shift)
        with m.If(self.bytes.ready):
            m.d.sync += self.bytes.valid.eq(0)
        m.d.sync += self.error.eq(0)
        m.d.sync += timer.eq(timer - 1)

        with m.FSM():
            # The first low sample comes 0 to 1 cycle after the edge (plus the synchronizer's
            # delay, the same for every bit): sample the start bit (divisor - 3) // 2 + 1.5
            # cycles after the edge on average, its middle (half a cycle early for an even
            # divisor), and every other bit a whole number of bits later.
            with m.State("IDLE"):
                m.d.sync += timer.eq((divisor - 3) // 2 - 1)
                with m.If(~line):
                    m.next = "START"
            with m.State("START"), m.If(expired):
                m.d.sync += [timer.eq(divisor - 2), bits_left.eq(6)]
                # A pulse shorter than half a bit is noise, not a start bit.
                with m.If(line):
                    m.next = "IDLE"
                with m.Else():
                    m.next = "DATA"
            with m.State("DATA"), m.If(expired):
                m.d.sync += [timer.eq(divisor - 2), shift.eq(Cat(shift[1:], line)),
                             bits_left.eq(bits_left - 1)]
                with m.If(bits_left[-1]):
                    m.next = "STOP"
            with m.State("STOP"), m.If(expired):
                with m.If(line):
                    m.d.sync += self.bytes.valid.eq(1)
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += self.error.eq(1)
                    m.next = "BREAK"
            with m.State("BREAK"), m.If(line):
                m.next = "IDLE"
        return m


class UartTx(wiring.Component):
    """Transmitter of ``divisor`` (keyword-only) cycles a bit.

    Ports: ``bytes`` (in: stream of the bytes to send, taken when the previous stop bit is
    over); ``tx`` (out: the pin, high when idle).
    """

    bytes: In(stream.Signature(8))
    tx: Out(1, init=1)

    def __init__(self, *, divisor):
        check_int("divisor", divisor, DIVISOR_MIN, DIVISOR_MAX)
        self.divisor = divisor
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        # Start bit, data, stop bit, sent from bit 0; ones shift in, so the idle line is high.
        shift = Signal(10, init=(1 << 10) - 1)
        # Down-counters whose sign bits end the byte and the bit: ``bytes.ready`` and the
        # shift's enable come from flip-flops, not from comparisons.
        bits_left = Signal(range(-1, 10), init=-1)  # bits after the current one; -1: idle
        idle = bits_left[-1]
        timer = Signal(range(-1, self.divisor))    # cycles left of the bit, minus one
        m.d.comb += [self.tx.eq(shift[0]), self.bytes.ready.eq(idle)]
        m.d.sync += timer.eq(timer - 1)
        with m.If(self.bytes.valid & idle):
            m.d.sync += [shift.eq(Cat(0, self.bytes.payload, 1)), bits_left.eq(9),
                         timer.eq(self.divisor - 2)]
        with m.Elif(~idle & timer[-1]):
            m.d.sync += [shift.eq(Cat(shift[1:], 1)), bits_left.eq(bits_left - 1),
                         timer.eq(self.divisor - 2)]
        return m
