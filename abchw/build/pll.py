"""Divider settings of the FPGA PLLs, found by the same search as the vendor-free tools.

:func:`ice40_pll` follows ``icepll`` (IceStorm) for an ``SB_PLL40_*`` in SIMPLE feedback mode:

    f_pfd = f_in / (DIVR + 1)      10..133 MHz        DIVR 0..15
    f_vco = f_pfd * (DIVF + 1)     533..1066 MHz      DIVF 0..127
    f_out = f_vco / 2^DIVQ         16..275 MHz        DIVQ 1..6

:func:`ecp5_pll` follows ``ecppll`` (Project Trellis) for an ``EHXPLLL`` fed back from CLKOP:

    f_pfd = f_in / CLKI_DIV                    >= 3.125 MHz   CLKI_DIV 1..128
    f_out = f_pfd * CLKFB_DIV                  10..400 MHz    CLKFB_DIV 1..80
    f_vco = f_out * CLKOP_DIV                  400..800 MHz   CLKOP_DIV 1..128

Both walk the dividers in the tools' order and keep the first setting closest to the request
(``ecppll`` prefers, among equally close ones, the VCO nearest 600 MHz). The search is in double
precision, ``ecppll``'s in single: where two VCOs are exactly as far from 600 MHz, its rounding
decides and it may pick the other one, an equally valid setting. The result is the
nearest frequency the PLL can make, which may differ slightly from the request; a request outside
the PLL's output range, or one no setting reaches, raises :class:`PllError`.
"""

from dataclasses import asdict, dataclass

from ..errors import AbchwError

__all__ = ["Ecp5PllSettings", "Ice40PllSettings", "PllError", "ecp5_pll", "ice40_pll",
           "pll_settings"]


class PllError(AbchwError):
    """A clock the PLL cannot make from the board's input clock."""


def _check_mhz(value, low, high, what):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise PllError(f"the {what} must be {low:g}..{high:g} MHz, not {value!r} MHz")


@dataclass(frozen=True)
class Ice40PllSettings:
    """``SB_PLL40_*`` SIMPLE-feedback dividers for ``input_mhz`` -> :attr:`output_mhz`."""
    input_mhz: float
    divr: int
    divf: int
    divq: int

    @property
    def pfd_mhz(self):
        return self.input_mhz / (self.divr + 1)

    @property
    def vco_mhz(self):
        return self.pfd_mhz * (self.divf + 1)

    @property
    def output_mhz(self):
        return self.vco_mhz / 2 ** self.divq

    @property
    def output_hz(self):
        return round(self.output_mhz * 1e6)

    @property
    def filter_range(self):
        """The loop filter setting for :attr:`pfd_mhz`, as ``icepll`` chooses it."""
        return next(index for index, limit in enumerate((17, 26, 44, 66, 101), start=1)
                    if self.pfd_mhz < limit) if self.pfd_mhz < 101 else 6

    def as_dict(self):
        return {"primitive": "SB_PLL40_PAD", **asdict(self), "filter_range": self.filter_range,
                "vco_mhz": self.vco_mhz, "output_mhz": self.output_mhz}


@dataclass(frozen=True)
class Ecp5PllSettings:
    """``EHXPLLL`` dividers (CLKOP feedback) for ``input_mhz`` -> :attr:`output_mhz`."""
    input_mhz: float
    clki_div: int
    clkfb_div: int
    clkop_div: int

    @property
    def output_mhz(self):
        return self.input_mhz / self.clki_div * self.clkfb_div

    @property
    def output_hz(self):
        return round(self.output_mhz * 1e6)

    @property
    def vco_mhz(self):
        return self.output_mhz * self.clkop_div

    @property
    def clkop_cphase(self):
        """CLKOP's coarse phase: half its period in VCO cycles, ``ecppll``'s choice."""
        return self.clkop_div // 2

    def as_dict(self):
        return {"primitive": "EHXPLLL", **asdict(self), "clkop_cphase": self.clkop_cphase,
                "vco_mhz": self.vco_mhz, "output_mhz": self.output_mhz}


def ice40_pll(input_mhz, output_mhz):
    """:class:`Ice40PllSettings` closest to ``output_mhz`` (see the module documentation)."""
    _check_mhz(input_mhz, 10, 133, "iCE40 PLL's input clock")
    _check_mhz(output_mhz, 16, 275, "iCE40 PLL's output clock")
    best, best_error = None, None
    for divr in range(16):
        pfd = input_mhz / (divr + 1)
        if not 10 <= pfd <= 133:
            continue
        for divf in range(128):
            vco = pfd * (divf + 1)
            if not 533 <= vco <= 1066:
                continue
            for divq in range(1, 7):
                error = abs(vco / 2 ** divq - output_mhz)
                if best is None or error < best_error:
                    best, best_error = (divr, divf, divq), error
    if best is None:
        raise PllError(f"no iCE40 PLL setting makes {output_mhz:g} MHz from {input_mhz:g} MHz")
    return Ice40PllSettings(input_mhz, *best)


def ecp5_pll(input_mhz, output_mhz):
    """:class:`Ecp5PllSettings` closest to ``output_mhz`` (see the module documentation)."""
    _check_mhz(input_mhz, 8, 400, "ECP5 PLL's input clock")
    _check_mhz(output_mhz, 10, 400, "ECP5 PLL's output clock")
    best, best_key = None, None
    for clki_div in range(1, 129):
        if input_mhz / clki_div < 3.125:
            continue
        for clkfb_div in range(1, 81):
            fout = input_mhz / clki_div * clkfb_div
            # CLKOP_DIV only moves the VCO: of those in range, the first nearest 600 MHz.
            dividers = [d for d in range(1, 129) if 400 <= fout * d <= 800]
            if not dividers:
                continue
            clkop_div = min(dividers, key=lambda d: abs(fout * d - 600))
            key = (abs(fout - output_mhz), abs(fout * clkop_div - 600))
            if best is None or key < best_key:
                best, best_key = (clki_div, clkfb_div, clkop_div), key
    if best is None:
        raise PllError(f"no ECP5 PLL setting makes {output_mhz:g} MHz from {input_mhz:g} MHz")
    return Ecp5PllSettings(input_mhz, *best)


_SEARCH = {"ice40": ice40_pll, "ecp5": ecp5_pll}


def pll_settings(family, input_mhz, output_mhz):
    """The PLL settings of FPGA ``family`` (``"ice40"``, ``"ecp5"``) for ``output_mhz``."""
    return _SEARCH[family](input_mhz, output_mhz)
