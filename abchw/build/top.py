"""The design a bitstream holds: the board's PLL and reset around the SoC, on the board's pins.

:class:`BoardTop` is the top-level elaboratable handed to the amaranth-boards platform: the PLL
(:mod:`abchw.build.clocks`) makes the ``sync`` clock from the board's oscillator, a
:class:`~abchw.build.clocks.LockedReset` holds ``sync`` in reset until the PLL has locked, and the
SoC (:class:`abchw.gateware.soc.Soc`) talks over the board's USB UART. Two LEDs show that the
design runs: ``heartbeat`` blinks at 1 Hz, ``activity`` lights while the SoC's ``activity`` is
high and :data:`ACTIVITY_SECONDS` longer, so that even one short inference shows.
:func:`board_top` builds it for a board, an engine configuration, PLL settings and a baud rate,
and turns the SoC's refusal of them into :class:`~abchw.errors.AbchwError`.
"""

import math

from amaranth import ClockDomain, ClockSignal, Elaboratable, Module, ResetSignal, Signal
from amaranth.lib import io, wiring
from amaranth.lib.wiring import In, Out

from ..errors import AbchwError
from ..gateware.soc import Soc
from .clocks import PLLS, LockedReset

__all__ = ["ACTIVITY_SECONDS", "RESET_DELAY_SECONDS", "Blinker", "BoardTop", "board_top"]

#: How long ``sync`` stays in reset after the PLL locks (Amaranth's own iCE40 power-on delay:
#: block RAMs read zeros for about 3 us after configuration).
RESET_DELAY_SECONDS = 15e-6
#: How long the activity LED stays lit after a pulse: long enough to see.
ACTIVITY_SECONDS = 0.05


class Blinker(wiring.Component):
    """The two LED signals, timed in ticks of ``tick_hz`` (1 kHz by default): ``heartbeat`` (out)
    toggles every ``tick_hz / 2`` ticks (1 Hz); ``activity`` (out) is high from the second cycle
    after ``pulse`` (in) is high until ``ACTIVITY_SECONDS`` (give or take a tick) after it was
    last high.

    The prescaler keeps the LED counters short: one 23-bit counter reloaded from ``pulse`` was
    the slowest path of a 48 MHz iCE40 build.
    """

    pulse: In(1)
    heartbeat: Out(1)
    activity: Out(1)

    def __init__(self, *, clock_hz, tick_hz=1000):
        if isinstance(tick_hz, bool) or not isinstance(tick_hz, int) or tick_hz < 2:
            raise ValueError(f"tick_hz must be an integer >= 2, not {tick_hz!r}")
        if isinstance(clock_hz, bool) or not isinstance(clock_hz, int) or clock_hz < tick_hz:
            raise ValueError(f"clock_hz must be an integer >= tick_hz ({tick_hz}), "
                             f"not {clock_hz!r}")
        self.clock_hz = clock_hz
        self.tick_hz = tick_hz
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        # Down-counters that end at -1: their sign bits, not wide comparisons, end the periods.
        tick = _countdown(m, "prescaler", self.clock_hz // self.tick_hz)
        beat = _countdown(m, "beat", self.tick_hz // 2, enable=tick)
        with m.If(beat):
            m.d.sync += self.heartbeat.eq(~self.heartbeat)

        hold = max(1, math.ceil(ACTIVITY_SECONDS * self.tick_hz))
        pulse = Signal()
        m.d.sync += pulse.eq(self.pulse)           # keeps the SoC's logic off this path
        remaining = Signal(range(-1, hold), init=-1)   # ticks left lit, minus one
        with m.If(pulse):
            m.d.sync += remaining.eq(hold - 1)
        with m.Elif(tick & ~remaining[-1]):
            m.d.sync += remaining.eq(remaining - 1)
        m.d.comb += self.activity.eq(~remaining[-1])
        return m


def _countdown(m, name, period, *, enable=1):
    """A signal high for one cycle in every ``period`` cycles where ``enable`` is high: the sign
    bit of a down-counter that reloads when it reaches -1."""
    count = Signal(range(-1, period - 1), init=period - 2, name=name)
    with m.If(enable):
        with m.If(count[-1]):
            m.d.sync += count.eq(period - 2)
        with m.Else():
            m.d.sync += count.eq(count - 1)
    return count[-1] & enable


class BoardTop(Elaboratable):
    """PLL, reset, ``soc`` and LEDs on ``board`` (see the module documentation).

    ``settings``: the PLL's dividers (:func:`abchw.build.pll.pll_settings` for the board's
    family); ``soc``: a component with ``rx`` (in), ``tx`` and ``activity`` (out), one bit each,
    in domain ``sync``, made for ``settings.output_mhz``.
    """

    def __init__(self, *, board, settings, soc):
        self.board = board
        self.settings = settings
        self.soc = soc

    def elaborate(self, platform):
        m = Module()
        board = self.board
        pin = platform.request(board.clock, 0, dir="-")
        m.submodules.pll = pll = PLLS[board.family](settings=self.settings, pin=pin)
        m.domains.sync = ClockDomain("sync")
        m.submodules.reset = reset = LockedReset(
            delay=math.ceil(RESET_DELAY_SECONDS * self.settings.output_hz))
        m.d.comb += [ClockSignal("sync").eq(pll.clk), reset.locked.eq(pll.locked),
                     ResetSignal("sync").eq(reset.rst)]

        m.submodules.soc = soc = self.soc
        # Every line of the UART as a bare port: only rx and tx get buffers, and the bridge's
        # other lines (ULX3S: RTS, DTR) are left alone.
        lines = platform.lookup(*board.uart).ios
        uart = platform.request(*board.uart, dir={line.name: "-" for line in lines})
        m.submodules.uart_rx = rx = io.Buffer("i", uart.rx)
        m.submodules.uart_tx = tx = io.Buffer("o", uart.tx)
        m.d.comb += [soc.rx.eq(rx.i), tx.o.eq(soc.tx)]

        m.submodules.blinker = blinker = Blinker(clock_hz=self.settings.output_hz)
        m.d.comb += blinker.pulse.eq(soc.activity)
        for role in ("heartbeat", "activity"):
            led = platform.request(*board.leds[role], dir="-")
            m.submodules[f"led_{role}"] = buffer = io.Buffer("o", led)
            m.d.comb += buffer.o.eq(getattr(blinker, role))
        return m


def board_top(board, config, *, settings, baud):
    """:class:`BoardTop` of ``board`` around the SoC of engine ``config``, clocked by the PLL
    ``settings``, its UART at ``baud``; :class:`AbchwError` if the SoC refuses them."""
    try:
        soc = Soc(config=config, clock_hz=settings.output_hz, baud=baud)
    except ValueError as error:
        raise AbchwError(f"the SoC cannot run at {settings.output_mhz:g} MHz and {baud} baud: "
                         f"{error}") from None
    return BoardTop(board=board, settings=settings, soc=soc)
