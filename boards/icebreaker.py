"""1BitSquared iCEBreaker: iCE40UP5K-SG48, 12 MHz oscillator on the PLL's pad, FT2232H USB bridge."""

from amaranth_boards.icebreaker import ICEBreakerPlatform

from .board import Board

__all__ = ["ICEBREAKER"]

ICEBREAKER = Board(
    name="icebreaker",
    title="1BitSquared iCEBreaker (iCE40UP5K-SG48)",
    platform=ICEBreakerPlatform,
    family="ice40",
    budget={"lcs": 5280, "ebr": 30, "spram": 4, "dsp": 8},
    clock="clk12",
    # 48 MHz is an exact PLL output (12 MHz x 64 / 16) and 16 x 3 Mbaud; the UP5K's fabric
    # does not close timing much above 100 MHz even for small designs.
    default_mhz=48.0,
    max_mhz=100.0,
    uart=("uart", 0),           # the FT2232H's channel B: rx pin 6, tx pin 9
    default_baud=3_000_000,
    leds={"heartbeat": ("led_g", 0), "activity": ("led_r", 0)},
    # Not "-dsp": Yosys 0.70's ice40_dsp also rewrites SB_MAC16 instances and drops their
    # registers (A_REG, B_REG, PIPELINE_16x16_MULT_REG2 become 0, CLK and CE tied low).
    # "-dffe_min_ce_use 8": an enable shared by fewer than 8 flip-flops goes into their LUTs.
    # A logic tile's 8 cells share one clock enable, so many small enables leave tiles part
    # empty: the default build (M = N = 3, 4 x 16) did not place at 87 % of the cells without
    # it (seeds 1-3), and places at 89.8 % with it.
    synth_options=("-device", "u", "-dffe_min_ce_use", "8"),
    # router2: nextpnr-ice40 0.11's default router1 stalls for tens of minutes on the engine
    # at 80 % of the logic cells (its overuse stops falling); router2 routes it in a minute.
    # "--tmg-ripup": router2 also rips up and reroutes arcs that miss the clock. On the 4 x 16
    # build's netlist, seeds 1, 3, 4, 5: 45.0, 42.2, 39.9, 43.8 MHz against 41.0, 41.0, 33.1,
    # 40.0 without, in 3-4 minutes a seed instead of one; seed 2 loops (abchw.build.place
    # abandons it). "--opt-timing" lost 3-5 MHz there.
    nextpnr_options=("--up5k", "--package", "sg48", "--router", "router2", "--tmg-ripup"),
    # Fuller builds miss 48 MHz (M = N = 3, nextpnr as above; cells, the sizer's estimate, seeds
    # meeting 48 MHz): 2 x 16 4,200 = 79.5 % (80.3 %) 4 of 5; 4 x 8 4,448 = 84.2 % (83.4 %)
    # 2 of 4; 3 x 16 4,427 = 83.8 % (84.2 %) 2 of 4 routed; 4 x 16 4,639 = 87.9 % (88.1 %) none
    # of 7 (40.4-47.0 MHz). The limit sits between the last two estimates.
    sizer_fill=0.86,
    programmers=(("iceprog", "{bitstream}"),
                 ("openFPGALoader", "-b", "ice40_generic", "{bitstream}")),
)
