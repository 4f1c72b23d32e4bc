"""The board's clock: a PLL hard macro per FPGA family, and a reset held until it locks.

:class:`Ice40Pll` and :class:`Ecp5Pll` take the board's clock pin (what
``platform.request(name, number, dir="-")`` returns) and divider settings from
:mod:`abchw.build.pll`, and drive ``clk`` and ``locked``. :class:`LockedReset` turns ``locked``
into the reset of the design's ``sync`` domain. Amaranth does not simulate the ``Instance``\\ s;
nextpnr checks them (and derives the output clock's timing constraint from their settings).
"""

from amaranth import ClockDomain, ClockSignal, Const, Instance, Module, Signal
from amaranth.lib import io, wiring
from amaranth.lib.cdc import ResetSynchronizer
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from .pll import Ecp5PllSettings, Ice40PllSettings

__all__ = ["PLLS", "Ecp5Pll", "Ice40Pll", "LockedReset"]


def _check_pin(pin):
    if not isinstance(pin, io.PortLike) or len(pin) != 1:
        raise TypeError(f"pin must be a 1-bit port from platform.request(..., dir='-'), "
                        f"not {pin!r}")
    return pin


class Ice40Pll(wiring.Component):
    """``SB_PLL40_PAD`` in SIMPLE feedback, fed straight from the PLL's own pad ``pin``.

    On the iCE40UP5K the pad of the board's oscillator (iCEBreaker pin 35) is the PLL's input pad;
    the ``_PAD`` variant takes it without a global buffer in between. ``clk`` is ``PLLOUTGLOBAL``
    (on a global network); ``locked`` is ``LOCK``, asynchronous.
    """

    clk: Out(1)
    locked: Out(1)

    def __init__(self, *, settings, pin):
        if not isinstance(settings, Ice40PllSettings):
            raise TypeError(f"settings must be Ice40PllSettings, not {settings!r}")
        if _check_pin(pin).invert != (False,):
            raise ValueError("the PLL pad cannot be an inverted pin")
        self.settings = settings
        self.pin = pin
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        settings = self.settings
        m.submodules.pll = Instance(
            "SB_PLL40_PAD",
            p_FEEDBACK_PATH="SIMPLE",
            p_DIVR=Const(settings.divr, 4), p_DIVF=Const(settings.divf, 7),
            p_DIVQ=Const(settings.divq, 3), p_FILTER_RANGE=Const(settings.filter_range, 3),
            i_PACKAGEPIN=self.pin.io, i_RESETB=Const(1), i_BYPASS=Const(0),
            o_PLLOUTGLOBAL=self.clk, o_LOCK=self.locked)
        return m


class Ecp5Pll(wiring.Component):
    """``EHXPLLL`` with CLKOP fed back, its input through an input buffer on ``pin``.

    The attributes are those ``ecppll`` writes: the charge-pump and loop-filter settings, and the
    input and output frequencies, from which nextpnr derives the output clock's constraint.
    """

    clk: Out(1)
    locked: Out(1)

    def __init__(self, *, settings, pin):
        if not isinstance(settings, Ecp5PllSettings):
            raise TypeError(f"settings must be Ecp5PllSettings, not {settings!r}")
        self.settings = settings
        self.pin = _check_pin(pin)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        settings = self.settings
        m.submodules.clk_buffer = buffer = io.Buffer("i", self.pin)
        m.submodules.pll = Instance(
            "EHXPLLL",
            a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1",
            a_MFG_GMCREF_SEL="2",
            a_FREQUENCY_PIN_CLKI=f"{settings.input_mhz:g}",
            a_FREQUENCY_PIN_CLKOP=f"{settings.output_mhz:.6g}",
            p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
            p_DPHASE_SOURCE="DISABLED",
            p_OUTDIVIDER_MUXA="DIVA", p_OUTDIVIDER_MUXB="DIVB", p_OUTDIVIDER_MUXC="DIVC",
            p_OUTDIVIDER_MUXD="DIVD",
            p_CLKI_DIV=settings.clki_div, p_CLKFB_DIV=settings.clkfb_div,
            p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=settings.clkop_div,
            p_CLKOP_CPHASE=settings.clkop_cphase, p_CLKOP_FPHASE=0, p_FEEDBK_PATH="CLKOP",
            i_CLKI=buffer.i, i_CLKFB=self.clk, i_RST=Const(0), i_STDBY=Const(0),
            i_PHASESEL0=Const(0), i_PHASESEL1=Const(0), i_PHASEDIR=Const(1),
            i_PHASESTEP=Const(1), i_PHASELOADREG=Const(1), i_PLLWAKESYNC=Const(0),
            i_ENCLKOP=Const(0),
            o_CLKOP=self.clk, o_LOCK=self.locked)
        return m


#: The PLL component of each FPGA family.
PLLS = {"ice40": Ice40Pll, "ecp5": Ecp5Pll}


class LockedReset(wiring.Component):
    """``rst`` stays high until ``locked`` has been high for ``delay`` cycles of the ``sync``
    clock, and rises again at once whenever ``locked`` falls.

    ``locked`` is asynchronous (a PLL's LOCK); it passes a :class:`ResetSynchronizer`, so ``rst``
    rises asynchronously and falls on a clock edge. The delay covers what must settle after
    configuration beside the clock (iCE40 block RAMs read zeros for about 3 us). The component
    runs on ``ClockSignal("sync")`` but not on its reset, which it makes.
    """

    locked: In(1)
    rst: Out(1)

    def __init__(self, *, delay):
        if isinstance(delay, bool) or not isinstance(delay, int) or delay < 1:
            raise ValueError(f"delay must be a positive number of cycles, not {delay!r}")
        self.delay = delay
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.domains.settle = ClockDomain(local=True, async_reset=True)
        m.d.comb += ClockSignal("settle").eq(ClockSignal("sync"))
        m.submodules.synchronizer = ResetSynchronizer(~self.locked, domain="settle")
        timer = Signal(ceil_log2(self.delay + 1))
        ready = Signal()
        with m.If(timer == self.delay):
            m.d.settle += ready.eq(1)
        with m.Else():
            m.d.settle += timer.eq(timer + 1)
        m.d.comb += self.rst.eq(~ready)
        return m
