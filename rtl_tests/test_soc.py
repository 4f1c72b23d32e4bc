"""The whole board in simulation: :class:`abchw.gateware.soc.Soc` (UART, link, engine) cycle by
cycle behind :func:`abchw.sim.serve.serve_board`'s TCP port, driven by the host driver
:class:`abchw.host.Board` as the real board is. The built-in model's scores, bit for bit against
the golden model; line faults both ways (:class:`abchw.sim.faults.FaultyPort`), each detected
and counted, with exact results after; RESET in the middle of a run and of a load; no frame
executed twice; the harness asleep when idle, one client at a time, ``abchw-sim --serve``.

UART at divisor 16: 160 cycles a byte; the simulation runs about 1.5 M cycles/s, so a frame of
256 bytes takes about 30 ms and an image of this build about 65 ms (98 k cycles computing).
"""

import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import serial

from abchw.builtin import default_model, digits_test_set
from abchw.compiler import compile_network
from abchw.gateware.engine.config import EngineConfig
from abchw.golden.integer_model import integer_forward, lower
from abchw.host import Board, LinkError
from abchw.protocol import (
    END,
    MAX_PAYLOAD,
    BuildInfo,
    FrameDecoder,
    Kind,
    NakReason,
    encode_frame,
)
from abchw.sim.faults import (
    EACH_FAULT_ONCE,
    TO_BOARD,
    TO_HOST,
    FaultyPort,
    Flip,
    Truncate,
)
from abchw.sim.serve import serve_board

BUILD = EngineConfig(m=3, n=3, pes=4, lanes=16)   # the build of tests/test_compiler.py
CLOCK_HZ, BAUD = 48_000_000, 3_000_000
IMAGES = 20
TIMEOUT = 1.0       # ten times the slowest frame on a busy machine: no timeout but the faults'


@pytest.fixture(scope="module")
def server():
    with serve_board(BUILD, clock_hz=CLOCK_HZ, baud=BAUD) as server:
        yield server


@pytest.fixture(scope="module")
def model():
    network = default_model()
    images = digits_test_set()[0][:IMAGES]
    golden = integer_forward(lower(network, coef_bits=BUILD.coef_bits), images)[-1].y
    return compile_network(network, BUILD), images, golden


def assert_exact(board, model):
    _, images, golden = model
    scores, counters = board.run(images)
    assert np.array_equal(scores.reshape(golden.shape), golden)
    assert all(c["compute_cycles"] > 0 for c in counters)


def test_info_load_classify(server, model):
    program, images, golden = model
    assert server.divisor == 16
    with Board(server.url, timeout=TIMEOUT) as board:
        assert board.info() == BuildInfo(config=BUILD, clock_hz=CLOCK_HZ, baud=BAUD,
                                         max_payload=MAX_PAYLOAD)
        board.load(program)
        scores, counters = board.run(images)
        predictions = board.classify(images[:6])
    assert np.array_equal(scores.reshape(golden.shape), golden)
    assert np.array_equal(predictions, golden[:6].argmax(axis=1))
    assert [c["load_cycles"] for c in counters] == [counters[0]["load_cycles"]] * IMAGES
    assert 0 < counters[0]["busy_cycles"] <= counters[0]["compute_cycles"]
    stats = board.stats
    assert stats.frames == stats.sent and stats.retransmissions == stats.timeouts == 0


def test_faults_both_ways_detected_and_recovered(server, model):
    """Each fault costs one retransmission and is counted where it belongs. The replies damaged
    during the load make the host send frames that carry part of a WRITE again: executed
    twice, they would shift the words written (see the next test); the scores stay exact."""
    program = model[0]
    port = FaultyPort(serial.serial_for_url(server.url))
    with Board(port, timeout=TIMEOUT) as board:
        board.info()
        port.inject_all(EACH_FAULT_ONCE)    # during the load
        board.load(program)
        assert port.pending() == 0
        stats = board.stats.copy()
        assert dict(stats.naks) == {NakReason.CRC: 1, NakReason.LENGTH: 2}
        assert (stats.timeouts, stats.corrupt_replies, stats.retransmissions) == (2, 2, 7)
        assert stats.sent == stats.frames + 7 and stats.other_seq == 0
        # During the run: a RUN's reply cut short (the copy gets the remembered results), a
        # RUN frame with a flipped bit, a RUN's reply with a flipped length bit.
        port.inject(TO_HOST, Truncate(at=30))
        port.inject(TO_BOARD, Flip(at=0, bit=1), after=3)
        port.inject(TO_HOST, Flip(at=3, bit=2), after=4)
        assert_exact(board, model)
        assert port.pending() == 0
        assert dict(board.stats.naks) == {NakReason.CRC: 2, NakReason.LENGTH: 2}
        assert (board.stats.corrupt_replies, board.stats.retransmissions) == (4, 10)
        assert board.stats.timeouts == 2


def test_a_frame_executed_twice_would_corrupt_the_program(server, model):
    """The check above is sensitive: the same load frame executed twice (under two sequence
    numbers, so the board cannot know) spoils the scores."""
    program, images, golden = model
    stream = program.load_bytes()
    chunks = [stream[i:i + MAX_PAYLOAD] for i in range(0, len(stream), MAX_PAYLOAD)]
    with Board(server.url, timeout=TIMEOUT) as board:
        for index, chunk in enumerate(chunks):   # the middle one is part of the weights
            for _ in range(2 if index == len(chunks) // 2 else 1):
                board.request(Kind.EXEC, chunk)
        board.reset()   # the last WRITE ended early: the bytes after it were taken as commands
        board.program = program
        scores, _ = board.run(images[:6])
        assert not np.array_equal(scores.reshape(golden[:6].shape), golden[:6])
        board.load(program)
        assert_exact(board, model)


def test_reset_in_the_middle_of_a_run_and_of_a_load(server, model):
    program, images, _ = model
    with Board(server.url, timeout=TIMEOUT) as board:
        board.load(program)
        # An EXEC of three RUNs (300 k cycles) sent behind the host's back, then 300 empty
        # frames (END bytes, ignored): the RESET behind them arrives 48 k cycles into the EXEC,
        # in the middle of the first image's dot products. The board answers the RESET, never
        # the EXEC.
        board.port.write(encode_frame(Kind.EXEC, 0x80, program.run_bytes(images[:3]))
                         + bytes([END]) * 300)
        board.reset()
        assert_exact(board, model)   # the memories kept the program
        # A load cut short in the middle of the weights' WRITE: without the RESET the next
        # load's bytes would be taken as that WRITE's words.
        stream = program.load_bytes()
        for start in range(0, 4 * MAX_PAYLOAD, MAX_PAYLOAD):
            board.request(Kind.EXEC, stream[start:start + MAX_PAYLOAD])
        board.reset()
        board.load(program)
        assert_exact(board, model)
        assert board.stats.other_seq == board.stats.retransmissions == 0
        assert FrameDecoder().feed(board.port.read(4096)) == []


def test_idle_board_sleeps_and_serves_one_client_at_a_time(server):
    with Board(server.url, timeout=TIMEOUT) as first:
        first.info()
        with Board(server.url, timeout=0.2, retries=0) as second, \
                pytest.raises(LinkError, match=r"(reading from|writing to) the board at "
                                               r"socket://127\.0\.0\.1:\d+ failed"):
            second.reset()
        assert first.info().config == BUILD
        before = _cpu_seconds(server.pid)
        time.sleep(1.0)
        assert _cpu_seconds(server.pid) - before < 0.1
    with Board(server.url, timeout=TIMEOUT) as again:
        again.reset()


def _cpu_seconds(pid):
    """User and system time of process ``pid`` (Linux)."""
    with open(f"/proc/{pid}/stat") as file:
        fields = file.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / 100   # utime, stime in clock ticks (USER_HZ)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_serve_command_line(server, stop, tmp_path):
    """``abchw-sim --serve`` of the same build (from the cache): it prints the URL, a host
    connects, Ctrl-C or SIGTERM stops it without a traceback, the simulator and its scratch
    directory with it."""
    command = [sys.executable, "-m", "abchw.simulate", "--serve", "127.0.0.1:0", "--M", "3",
               "--N", "3", "--pes", "4", "--lanes", "16"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "TMPDIR": str(tmp_path)})
    try:
        line = process.stdout.readline()
        url = re.search(r"serves (socket://127\.0\.0\.1:\d+) ", line).group(1)
        with Board(url, timeout=TIMEOUT) as board:
            assert board.info().config == BUILD
        (scratch,) = tmp_path.iterdir()
        assert scratch.name.startswith("abchw-board-")
        process.send_signal(stop)
        assert process.wait(30) == 0
    finally:
        process.kill()
    assert process.stderr.read() == "abchw-sim: stopped\n"
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(LinkError, match="cannot open the board link"):
        Board(url)


@pytest.mark.parametrize("arguments, message", [
    (["x:70000"], "--serve takes [HOST:]PORT with a PORT in 0..65535, not 'x:70000'"),
    (["0", "--limit", "3"], "--serve serves the board, it runs no model: --limit cannot go with it"),
])
def test_serve_command_line_errors(arguments, message):
    result = subprocess.run([sys.executable, "-m", "abchw.simulate", "--serve", *arguments],
                            capture_output=True, text=True, check=False)
    assert (result.returncode, result.stderr) == (2, f"abchw-sim: error: {message}\n")
