"""The C board driver in ``firmware/``: its unit tests (``make test``) and ``abchw-run`` against a
board faked in Python from :mod:`abchw.protocol`, over TCP, with a lost frame and a corrupted
reply on the way. Everything is built into a temporary directory (``BUILD=``), not the tree."""

import re
import socket
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
from fake_link import FakeLink

from abchw.builtin import default_model, digits_test_set
from abchw.compiler import compile_network
from abchw.gateware.engine.config import COUNTERS, EngineConfig
from abchw.protocol import BuildInfo, FrameDecoder, slip_encode

FIRMWARE = Path(__file__).resolve().parent.parent / "firmware"
BUILD = EngineConfig(m=3, n=3, pes=4, lanes=16)
#: Large enough for the results of one image (74 bytes), small enough that loading takes many
#: frames.
MAX_PAYLOAD = 80
#: The fake board answers at once: waiting this long for a reply means it was lost.
TIMEOUT_MS = 300


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    """The build directory after ``make test``, and make's output."""
    directory = tmp_path_factory.mktemp("firmware-build")
    result = subprocess.run(["make", "-C", str(FIRMWARE), f"BUILD={directory}", "test"],
                            capture_output=True, text=True, timeout=300, check=False)
    return directory, result


@pytest.fixture
def abchw_run(build):
    directory, result = build
    assert result.returncode == 0, result.stdout + result.stderr
    return str(directory / "abchw-run")


@pytest.fixture(scope="module")
def program():
    return compile_network(default_model(), BUILD)


@pytest.fixture
def program_file(tmp_path, program):
    path = tmp_path / "digits.abchwprog"
    path.write_bytes(program.to_bytes())
    return path


def test_make_test_passes(build):
    directory, result = build
    assert result.returncode == 0, result.stdout + result.stderr
    assert "firmware tests: all passed" in result.stdout
    for name in ("test_protocol", "test_link", "test_program"):
        assert re.search(rf"^{name}: [1-9]\d* checks, 0 failed$", result.stdout, re.MULTILINE), name
    assert (directory / "libabchw.a").is_file() and (directory / "abchw-run").is_file()


class FakeBoard:
    """A board of ``program``'s build on a TCP port of localhost, for one connection: its link
    (:class:`fake_link.FakeLink`) in front of a fake engine. The engine records the command
    bytes (:attr:`commands`): the first ``len(program.load_bytes())`` are the load; after them
    each RUN command is answered with :meth:`results` of its pixels. Frames are numbered as they
    arrive, copies included: those in ``drop`` are lost, the replies to those in ``corrupt``
    have a bit of their CRC flipped. ``config``: the build INFO reports (default: the
    program's)."""

    def __init__(self, program, *, drop=(), corrupt=(), config=None):
        self.program = program
        self.drop, self.corrupt = set(drop), set(corrupt)
        self.info = BuildInfo(config=config or program.config, clock_hz=12_000_000,
                              baud=3_000_000, max_payload=MAX_PAYLOAD)
        self.link = FakeLink(engine=self._engine, info=self.info.to_bytes(),
                             max_payload=MAX_PAYLOAD)
        self.load_length = len(program.load_bytes())
        self.commands = bytearray()
        self.frames = 0
        self.error = None
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = f"tcp:127.0.0.1:{self._server.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def results(self, pixels):
        """Deterministic result bytes of one image: scores from its pixels, then counters."""
        total = sum(pixels)
        scores = [(total * (k + 1) * 7919) % 200_003 - 100_001
                  for k in range(self.program.scores_per_image)]
        counters = [total, len(pixels), 1 << 40]
        size = self.program.config.score_bytes
        return (b"".join(s.to_bytes(size, "little", signed=True) for s in scores)
                + b"".join(c.to_bytes(8, "little") for c in counters[:len(COUNTERS)]))

    def _engine(self, payload):
        results = bytearray()
        run_bytes = 1 + int(np.prod(self.program.input_shape))
        for byte in payload:
            self.commands.append(byte)
            offset = len(self.commands) - self.load_length
            if offset > 0 and offset % run_bytes == 0:
                results += self.results(self.commands[-run_bytes + 1:])
        return bytes(results)

    def _answer(self, body):
        number = self.frames
        self.frames += 1
        if number in self.drop:
            return b""
        reply = self.link.answer(body)
        if number in self.corrupt:
            (body,) = FrameDecoder().feed(reply)
            reply = slip_encode(body[:-1] + bytes([body[-1] ^ 0x01]))
        return reply

    def _serve(self):
        try:
            connection, _ = self._server.accept()
            with connection:
                decoder = FrameDecoder()
                while data := connection.recv(4096):
                    for body in decoder.feed(data):
                        connection.sendall(self._answer(body))
        except Exception as error:  # noqa: BLE001 - raised again by close(), in the test
            self.error = error

    def close(self):
        self._server.close()
        self._thread.join(timeout=10)
        assert not self._thread.is_alive()
        if self.error:
            raise self.error


def run(abchw_run, *args, timeout=30):
    return subprocess.run([abchw_run, *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, check=False)


def write_pgm(path, image):
    """``image`` (1, H, W) uint8 as a binary PGM with a comment in its header."""
    _, height, width = image.shape
    path.write_bytes(f"P5\n# digit\n{width} {height}\n255\n".encode() + image.tobytes())


def test_classifies_over_tcp_through_a_lost_frame_and_a_corrupt_reply(abchw_run, program,
                                                                      program_file, tmp_path):
    images, _ = digits_test_set()
    write_pgm(tmp_path / "first.pgm", images[0])
    (tmp_path / "more.u8").write_bytes(images[1:3].tobytes())  # C = 1: H, W order
    # Frames 0 and 1 are RESET and INFO; 4 and 20 load the program.
    board = FakeBoard(program, drop={4}, corrupt={20})
    try:
        result = run(abchw_run, board.port, program_file, tmp_path / "first.pgm",
                     tmp_path / "more.u8", "--timeout", TIMEOUT_MS, "--retries=2")
    finally:
        board.close()
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    # Every command byte arrived once, in order, although two frames were sent twice.
    assert bytes(board.commands) == program.load_bytes() + program.run_bytes(images[:3])

    lines = result.stdout.splitlines()
    assert len(lines) == 6
    fields = dict(item.split("=") for item in lines[0].removeprefix("board: ").split())
    expected = {"protocol": 1, **{name: int(value) for name, value in
                                  {**board.info.config.as_dict(), "clock_hz": 12_000_000,
                                   "baud": 3_000_000, "max_payload": MAX_PAYLOAD}.items()}}
    assert {name: int(value) for name, value in fields.items()} == expected
    assert set(fields) - {"protocol"} == {name for name, _ in BuildInfo.layout()}
    assert lines[1] == (f"program: {program_file} input=1x8x8 scores=10 "
                        f"load_bytes={len(program.load_bytes())}")

    stream = b"".join(board.results(image.transpose(1, 2, 0).tobytes()) for image in images[:3])
    scores, counters = program.decode_results(stream, 3)
    names = [f"{tmp_path / 'first.pgm'}", f"{tmp_path / 'more.u8'}#1",
             f"{tmp_path / 'more.u8'}#2"]
    for line, name, image_scores, image_counters in zip(lines[2:5], names, scores, counters):
        assert line == (f"{name}: class={int(np.argmax(image_scores))} scores="
                        + ",".join(str(int(s)) for s in image_scores.ravel())
                        + "".join(f" {key}={image_counters[key]}" for key in COUNTERS))
    assert len(set(lines[2:5])) == 3
    stats = dict(item.split("=") for item in lines[5].removeprefix("link: ").split())
    assert stats["timeouts"] == "1" and stats["crc_errors"] == "1"
    assert stats["retransmissions"] == "2" and stats["naks"] == "0"
    assert int(stats["sent"]) == int(stats["frames"]) + 2 == board.frames


def test_program_for_another_build_is_bad_input(abchw_run, program, program_file, tmp_path):
    images, _ = digits_test_set()
    (tmp_path / "one.u8").write_bytes(images[0].tobytes())
    board = FakeBoard(program, config=EngineConfig(m=3, n=3, pes=8, lanes=16))
    try:
        result = run(abchw_run, board.port, program_file, tmp_path / "one.u8")
    finally:
        board.close()
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"abchw-run: program '{program_file}' was compiled for the "
                                    "build m=3 n=3 pes=4 lanes=16")
    assert "compile the model for this build" in result.stderr
    assert board.commands == b""


def test_silent_board_is_a_link_failure(abchw_run, program, program_file, tmp_path):
    images, _ = digits_test_set()
    (tmp_path / "one.u8").write_bytes(images[0].tobytes())
    board = FakeBoard(program, drop=range(100))
    try:
        result = run(abchw_run, board.port, program_file, tmp_path / "one.u8", "--timeout", 50,
                     "--retries", 2)
    finally:
        board.close()
    assert result.returncode == 1
    assert result.stderr == (f"abchw-run: the board at {board.port} failed to RESET: no reply "
                             "from the board (timed out after every retry) [frames=0 sent=3 "
                             "retransmissions=2 naks=0 timeouts=3 crc_errors=0 other_seq=0 "
                             "stale_replies=0]\n")
    assert board.frames == 3


def test_refused_connection_is_a_link_failure(abchw_run, program_file, tmp_path):
    images, _ = digits_test_set()
    (tmp_path / "one.u8").write_bytes(images[0].tobytes())
    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]  # closed when the test connects: nobody listens
    result = run(abchw_run, f"tcp:127.0.0.1:{port}", program_file, tmp_path / "one.u8")
    assert result.returncode == 1
    assert result.stderr == (f"abchw-run: cannot connect to 127.0.0.1:{port}: "
                             "Connection refused\n")


def bad_inputs(tmp_path, program_file):
    """``(arguments, message start)`` of bad command lines; nothing is opened for any."""
    images, _ = digits_test_set()
    good = tmp_path / "good.u8"
    good.write_bytes(images[0].tobytes())
    corrupt = tmp_path / "corrupt.abchwprog"
    blob = bytearray(program_file.read_bytes())
    blob[100] ^= 0x01
    corrupt.write_bytes(bytes(blob))
    (tmp_path / "text.abchwprog").write_bytes(b"hello")
    (tmp_path / "short.u8").write_bytes(bytes(65))
    write_pgm(tmp_path / "small.pgm", np.zeros((1, 4, 4), np.uint8))
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    port = "tcp:127.0.0.1:9"
    return [
        ([], "missing PORT (usage: abchw-run [--baud N]"),
        ([port, program_file], "missing IMAGE (usage: abchw-run"),
        (["--baud", "fast", port, program_file, good],
         "--baud must be an integer 1..100000000, not 'fast'"),
        (["--speed=3", port, program_file, good], "unknown option '--speed=3'"),
        ([port, program_file, good, "--retries"], "option --retries needs a value"),
        (["tcp:localhost", program_file, good], "port 'tcp:localhost' must be tcp:HOST:PORT"),
        (["tcp:localhost:http", program_file, good],
         "TCP port in 'tcp:localhost:http' must be a number 1..65535, not 'http'"),
        (["/dev/null", "--baud", "12345", program_file, good],
         "baud 12345 is not a rate this system's serial driver can set"),
        ([port, tmp_path / "missing.abchwprog", good],
         f"cannot read program '{tmp_path / 'missing.abchwprog'}': No such file or directory"),
        ([port, corrupt, good], f"program '{corrupt}': program image is corrupt (CRC mismatch)"),
        ([port, tmp_path / "text.abchwprog", good],
         f"program '{tmp_path / 'text.abchwprog'}': not an abchw program image"),
        ([port, program_file, tmp_path / "short.u8"],
         (f"image file '{tmp_path / 'short.u8'}': 65 bytes is not a whole number of images of "
          "64 bytes")),
        ([port, program_file, good, tmp_path / "small.pgm"],
         (f"image file '{tmp_path / 'small.pgm'}': a 4x4 greyscale image, the program takes "
          "(C, H, W) = (1, 8, 8)")),
        ([port, program_file, tmp_path / "image.png"],
         (f"image file '{tmp_path / 'image.png'}': not a binary PGM/PPM (P5/P6) file (raw "
          "pixels need a name ending in .u8)")),
    ]


def test_bad_input_is_one_message_and_exit_2(abchw_run, program_file, tmp_path):
    for arguments, message in bad_inputs(tmp_path, program_file):
        result = run(abchw_run, *arguments)
        assert (result.returncode, result.stdout) == (2, ""), arguments
        assert result.stderr.startswith(f"abchw-run: {message}"), (arguments, result.stderr)
        assert result.stderr.count("\n") == 1, result.stderr
