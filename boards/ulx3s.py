"""Radiona ULX3S with the LFE5U-85F: 25 MHz oscillator, FT231X USB bridge."""

from amaranth_boards.ulx3s import ULX3S_85F_Platform

from .board import Board

__all__ = ["ULX3S_85F"]

ULX3S_85F = Board(
    name="ulx3s-85f",
    title="Radiona ULX3S (LFE5U-85F-6BG381C)",
    platform=ULX3S_85F_Platform,
    family="ecp5",
    budget={"lcs": 83640, "ebr": 208, "spram": 0, "dsp": 156},
    clock="clk25",
    # 60 MHz is an exact PLL output (25 MHz x 12 / 5) and 20 x 3 Mbaud.
    default_mhz=60.0,
    max_mhz=200.0,
    uart=("uart", 0),           # the FT231X: rx M1, tx L4
    default_baud=3_000_000,
    leds={"heartbeat": ("led", 0), "activity": ("led", 1)},
    synth_options=(),
    nextpnr_options=("--85k", "--package", "CABGA381", "--speed", "6"),
    # Builds so far fill a few % of the 85F: no timing limit measured, only the placer's
    # headroom (abchw.build.sizer.LC_HEADROOM) applies.
    sizer_fill=1.0,
    programmers=(("openFPGALoader", "-b", "ulx3s", "-f", "{bitstream}"),),
)
