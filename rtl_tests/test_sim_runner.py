"""abchw.sim: the Verilator + C++ simulator runner, on a toy with the engine's exact ports.

:class:`ToyEngine` takes one command byte at a time (phase 1, one write to the activation
memory: addr = byte index, stage = index % 16, data = a pattern of S bits), computes for
``(byte & 3) + 1`` cycles (phase 2, a beat every other cycle), then pushes ``byte + 1`` into a
SyncFIFOBuffered that feeds ``results`` (phase 3 while the FIFO is full). Every count the
runner reports is then known exactly, stalls or not. The widths S = 8, 24, 40, 64, 100 of the
write data give each C++ type Verilator uses for a port (CData, IData, QData, QData, VlWide<4>);
the 12- and 20-bit addresses are SData and IData.

Simulators are cached in ``rtl_tests/sim_build/runner/`` like the other RTL test builds.
"""

import itertools
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from amaranth import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out
from sim import SIM_BUILD, emit_verilog

from abchw.errors import SimulationError, SimulationTimeout, SimulatorBuildError
from abchw.sim import build_simulator, data_as_ints, engine_ports, measure_speed, run_simulator
from abchw.sim.build import fst_supported
from abchw.sim.verilator import verilator_environment, verilator_root

CACHE = SIM_BUILD / "runner"
WIDTHS = {8: 12, 24: 20, 40: 12, 64: 16, 100: 20}  # write data bits S -> write address bits A


class ToyEngine(wiring.Component):
    """Echoes each command byte + 1 after a data-dependent computation (see the module doc).

    ``ballast_lanes`` adds that many S-bit registers which rotate and mix every cycle and are
    XORed into the write data: thousands of busy flip-flops, for measuring speed only.
    """

    def __init__(self, data_width, addr_width, ballast_lanes=0):
        self.data_width = data_width
        self.ballast_lanes = ballast_lanes
        super().__init__({
            "commands": In(stream.Signature(8)),
            "results": Out(stream.Signature(8)),
            "busy": Out(1),  # the engine's port; the harness does not read it
            "observe": Out(wiring.Signature({
                "write_en": Out(1), "write_addr": Out(addr_width),
                "write_data": Out(data_width), "stage": Out(4), "phase": Out(2),
                "beat": Out(1)})),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.fifo = fifo = SyncFIFOBuffered(width=8, depth=4)
        index = Signal.like(self.observe.write_addr)  # of the byte being handled or next
        byte = Signal(8)
        remaining = Signal(2)
        observe = self.observe
        pattern = Cat(self.commands.payload, index[:8]).replicate(-(-self.data_width // 16))
        lanes = [Signal(self.data_width, init=lane + 1) for lane in range(self.ballast_lanes)]
        for lane, (this, other) in enumerate(zip(lanes, lanes[1:] + lanes[:1])):
            m.d.sync += this.eq(this.rotate_left(lane % 7 + 1) ^ other ^ self.commands.payload)
            pattern = pattern ^ this
        m.d.comb += [
            observe.write_addr.eq(index),
            observe.write_data.eq(pattern),
            observe.stage.eq(index[:4]),
            self.results.valid.eq(fifo.r_rdy),
            self.results.payload.eq(fifo.r_data),
            fifo.r_en.eq(self.results.ready),
        ]
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.commands.ready.eq(1)
                with m.If(self.commands.valid):
                    m.d.comb += [observe.phase.eq(1), observe.write_en.eq(1)]
                    m.d.sync += [byte.eq(self.commands.payload),
                                 remaining.eq(self.commands.payload[:2])]
                    m.next = "COMPUTE"
            with m.State("COMPUTE"):
                m.d.comb += [observe.phase.eq(2), observe.beat.eq(~remaining[0])]
                m.d.sync += remaining.eq(remaining - 1)
                with m.If(remaining == 0):
                    m.next = "PUSH"
            with m.State("PUSH"):
                m.d.comb += [observe.phase.eq(3), fifo.w_en.eq(1), fifo.w_data.eq(byte + 1)]
                with m.If(fifo.w_rdy):
                    m.d.sync += index.eq(index + 1)
                    m.next = "IDLE"
        return m


def toy_verilog(data_width, ballast_lanes=0):
    return emit_verilog(ToyEngine(data_width, WIDTHS[data_width], ballast_lanes), "engine")


def expected_pattern(byte, index, data_width):
    word = byte | (index & 0xFF) << 8
    return sum(word << (16 * k) for k in range(-(-data_width // 16))) & ((1 << data_width) - 1)


def expected_stage_counts(data):
    lengths = (np.frombuffer(data, dtype=np.uint8).astype(np.int64) & 3) + 1
    stages = np.arange(len(data)) % 16
    cycles = np.bincount(stages, weights=lengths, minlength=16).astype(np.uint64)
    beats = np.bincount(stages, weights=(lengths + 1) // 2, minlength=16).astype(np.uint64)
    return cycles, beats


@pytest.fixture(scope="module")
def simulators():
    """S -> executable, built once (and cached across runs)."""
    return {width: build_simulator(toy_verilog(width), cache_dir=CACHE) for width in WIDTHS}


def random_bytes(count, seed):
    return bytes(np.random.default_rng(seed).integers(0, 256, count, dtype=np.uint8))


@pytest.mark.parametrize("data_width", sorted(WIDTHS))
@pytest.mark.parametrize("stall_in, stall_out", [(0.0, 0.0), (0.5, 0.0), (0.0, 0.5), (0.5, 0.5)])
def test_outputs_writes_and_counts(simulators, data_width, stall_in, stall_out):
    data = random_bytes(300, seed=data_width)
    run = run_simulator(simulators[data_width], data, stall_in=stall_in, stall_out=stall_out,
                        seed=7, expect_output=len(data))
    assert run.status == "done"
    assert run.output == bytes((b + 1) & 0xFF for b in data)
    assert run.input_consumed == len(data)

    writes = run.writes
    assert len(writes) == len(data)
    assert writes["data"].shape == (len(data), -(-data_width // 64))
    assert writes["addr"].tolist() == list(range(len(data)))
    assert writes["stage"].tolist() == [i % 16 for i in range(len(data))]
    assert data_as_ints(writes) == [expected_pattern(b, i, data_width)
                                    for i, b in enumerate(data)]
    # Each byte takes its accept cycle, (b & 3) + 1 compute cycles and at least one push cycle.
    lengths = np.array([(b & 3) + 3 for b in data[:-1]], dtype=np.uint64)
    gaps = np.diff(writes["cycle"])
    if stall_in == stall_out == 0.0:
        assert writes["cycle"][0] == 0
        assert gaps.tolist() == lengths.tolist()
    else:  # the FIFO absorbs most output stalls; withheld commands always show
        assert (gaps >= lengths).all() and (stall_in == 0.0 or (gaps > lengths).any())

    stage_cycles, stage_beats = expected_stage_counts(data)
    assert run.stage_cycles.tolist() == stage_cycles.tolist()
    assert run.stage_beats.tolist() == stage_beats.tolist()
    assert run.load_cycles == len(data)
    assert int(run.phase_cycles.sum()) == run.cycles
    assert run.phase_cycles[1] == len(data)
    assert run.cycles > writes["cycle"][-1] and run.cycles_per_second > 0


def test_idle_stop_counts_idle_cycles_after_the_last_output(simulators):
    data = random_bytes(50, seed=1)
    exe = simulators[40]
    until_output = run_simulator(exe, data, expect_output=len(data))
    until_idle = run_simulator(exe, data, idle_cycles=37)
    assert until_idle.output == until_output.output
    assert until_idle.cycles == until_output.cycles + 37
    assert until_idle.stage_cycles.tolist() == until_output.stage_cycles.tolist()
    empty = run_simulator(exe, b"", idle_cycles=10)
    assert (empty.output, empty.cycles, len(empty.writes)) == (b"", 10, 0)


def test_same_seed_same_run_other_seed_other_timing(simulators):
    data = random_bytes(100, seed=2)
    runs = [run_simulator(simulators[8], data, stall_in=0.3, stall_out=0.3, seed=seed,
                          expect_output=len(data)) for seed in (5, 5, 6)]
    assert runs[0].cycles == runs[1].cycles
    assert runs[0].writes["cycle"].tolist() == runs[1].writes["cycle"].tolist()
    assert runs[0].writes["cycle"].tolist() != runs[2].writes["cycle"].tolist()
    assert runs[0].output == runs[2].output


def test_max_cycles_raises_with_the_partial_run(simulators):
    data = random_bytes(100, seed=3)
    with pytest.raises(SimulationTimeout, match=r"max_cycles=50 cycles: \d+ of 100 input bytes"):
        run_simulator(simulators[8], data, max_cycles=50)
    with pytest.raises(SimulationTimeout) as error:
        run_simulator(simulators[8], data, max_cycles=50, expect_output=100)
    partial = error.value.run
    assert partial.cycles == 50 and partial.status == "max_cycles"
    expected = bytes((b + 1) & 0xFF for b in data)
    assert 0 < len(partial.output) < 100 and expected.startswith(partial.output)
    # All input taken, but the engine answers only 100 bytes: waiting for 101 times out.
    with pytest.raises(SimulationTimeout, match="100 of 101 expected output bytes"):
        run_simulator(simulators[8], data, max_cycles=5000, expect_output=101)


def test_progress_sees_growing_output(simulators):
    data = random_bytes(3000, seed=4)
    seen = []
    run = run_simulator(simulators[8], data, stall_out=0.2, progress=seen.append,
                        expect_output=len(data))
    assert len(seen) >= 5 and seen[-1] == run.output
    assert all(later.startswith(earlier) for earlier, later in itertools.pairwise(seen))


def test_without_write_records(simulators):
    data = random_bytes(200, seed=5)
    run = run_simulator(simulators[64], data, record_writes=False, expect_output=len(data))
    assert len(run.writes) == 0 and run.writes["data"].shape == (0, 1)
    assert run.output == bytes((b + 1) & 0xFF for b in data)


def test_bad_options_and_untraced_waveform(simulators, tmp_path):
    with pytest.raises(SimulationError, match="stall_in must be a probability"):
        run_simulator(simulators[8], b"x", stall_in=1.0)
    with pytest.raises(SimulationError, match="built without tracing"):
        run_simulator(simulators[8], b"x", waveform=tmp_path / "w.vcd")
    with pytest.raises(SimulationError, match="does not exist"):
        run_simulator(tmp_path / "nothing", b"x")


@pytest.mark.parametrize("trace, data_width", [("vcd", 100), ("fst", 8)])
def test_waveform(tmp_path, trace, data_width):
    if trace == "fst" and not fst_supported():
        # FST needs the system's LZ4, which no PyPI package provides: the build must say so.
        with pytest.raises(SimulatorBuildError, match="FST waveforms need the LZ4 development"):
            build_simulator(toy_verilog(data_width), trace=trace, cache_dir=CACHE)
        return
    exe = build_simulator(toy_verilog(data_width), trace=trace, cache_dir=CACHE)
    data = random_bytes(20, seed=6)
    path = tmp_path / f"wave.{trace}"
    run = run_simulator(exe, data, waveform=path, expect_output=len(data))
    assert run.output == bytes((b + 1) & 0xFF for b in data) and run.waveform == path
    contents = path.read_bytes()
    if trace == "vcd":
        assert b"$var wire 100" in contents and b"observe__write_data" in contents
        assert f"#{10 * (4 + run.cycles) - 5}".encode() in contents  # the last rising edge
    else:
        assert len(contents) > 100 and not contents.startswith(b"$")


def test_cache_reuse_and_atomic_concurrent_builds(simulators, tmp_path):
    started = time.perf_counter()
    again = build_simulator(toy_verilog(8), cache_dir=CACHE)
    assert again == simulators[8] and time.perf_counter() - started < 1.0
    assert build_simulator(toy_verilog(40), cache_dir=CACHE) != again

    # Two builders of one entry in an empty cache: both get the same complete executable.
    verilog_text = toy_verilog(8)
    results, errors = [], []

    def build():
        try:
            results.append(build_simulator(verilog_text, cache_dir=tmp_path))
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=build) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and len(results) == 2 and results[0] == results[1]
    assert [path.name for path in tmp_path.iterdir()] == [results[0].parent.name]
    assert sorted(path.name for path in results[0].parent.iterdir()) == \
        ["build.json", "build.log", "engine-sim", "engine.v"]
    assert run_simulator(results[0], b"\x01\x02", expect_output=2).output == b"\x02\x03"


def test_interrupted_build_leaves_no_cache_entry(tmp_path):
    source = tmp_path / "engine.v"
    source.write_text(toy_verilog(24))
    cache = tmp_path / "cache"
    script = ("import pathlib, sys; from abchw.sim import build_simulator; "
              "build_simulator(pathlib.Path(sys.argv[1]).read_text(), cache_dir=sys.argv[2])")
    process = subprocess.Popen([sys.executable, "-c", script, str(source), str(cache)],
                               stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    # Interrupt once Verilator has started (its output directory exists): the C++ compile is
    # still ahead, so the interrupt lands mid-build even on a loaded machine.
    while not list(cache.glob(".build-*/obj")) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) != 0
    assert b"KeyboardInterrupt" in process.stderr.read()
    assert list(cache.iterdir()) == []


def test_verilator_environment_is_idempotent():
    base = {"PATH": "/usr/bin", "MAKEFLAGS": "-j2"}
    env = verilator_environment(base)
    assert env == {"VERILATOR_ROOT": str(verilator_root()),
                   "PATH": f"{verilator_root() / 'bin'}:/usr/bin",
                   "MAKEFLAGS": "-j2 CFG_CXXFLAGS_PCH_I=-include"}
    assert verilator_environment({**base, **env}) == env


def test_engine_ports_of_the_toy():
    ports = engine_ports(toy_verilog(100))
    assert ports["observe__write_data"] == ("output", 100)
    assert ports["observe__write_addr"] == ("output", 20)
    assert ports["commands__payload"] == ("input", 8)
    assert ports["clk"] == ports["rst"] == ("input", 1)
    assert len(ports) == 15


def test_build_errors_leave_no_cache_entry(tmp_path):
    verilog_text = toy_verilog(8)
    with pytest.raises(SimulatorBuildError, match="'commands__payload' is 7 bits wide, not 8"):
        build_simulator(verilog_text.replace("input [7:0] commands__payload",
                                             "input [6:0] commands__payload"), cache_dir=tmp_path)
    with pytest.raises(SimulatorBuildError, match="no output 'observe__beat'"):
        build_simulator(verilog_text.replace("observe__beat", "observe__boat"),
                        cache_dir=tmp_path)
    with pytest.raises(SimulatorBuildError, match="no module named 'engine'"):
        build_simulator(verilog_text.replace("module engine", "module motor"),
                        cache_dir=tmp_path)
    broken = verilog_text.replace("endmodule", "this is not verilog;\nendmodule", 1)
    with pytest.raises(SimulatorBuildError, match=r"(?s)exit status [1-9].*syntax error"):
        build_simulator(broken, cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(SimulatorBuildError, match="trace must be"):
        build_simulator(verilog_text, trace="wlf", cache_dir=tmp_path)


def test_speed(simulators):
    """Not an assertion on time: prints the simulated cycles per second (pytest -s or -rA)."""
    data = random_bytes(250_000, seed=8)
    for width in (8, 100):
        rate = measure_speed(simulators[width], data, expect_output=len(data),
                             label=f"toy S={width}")
        assert rate > 0
    measure_speed(simulators[100], data, expect_output=len(data), record_writes=False,
                  label="toy S=100 without write records")
    ballasted = build_simulator(toy_verilog(100, ballast_lanes=40), cache_dir=CACHE)
    measure_speed(ballasted, data, expect_output=len(data), label="toy S=100 + 4000 flip-flops")
