"""The host driver :class:`abchw.host.Board` against a board modelled in Python: the link protocol
of :mod:`abchw.protocol` (checks, NAKs, sequence numbers, remembered replies) in front of an
engine that keeps the memories written and answers RUN with the golden model's scores. Line
faults come from :class:`abchw.sim.faults.FaultyPort`, as in the full-SoC test
(``rtl_tests/test_soc.py``)."""

import re
import time

import numpy as np
import pytest
from fake_link import FakeLink

from abchw.builtin import default_model, digits_test_set
from abchw.compiler import compile_network
from abchw.errors import AbchwError
from abchw.gateware.engine.config import EngineConfig
from abchw.gateware.engine.engine import MEMORIES, RUN, WRITE, memory_shapes, word_bytes
from abchw.golden.integer_model import integer_forward, lower
from abchw.host import Board, LinkError
from abchw.network import Dense, Network
from abchw.program import ProgramError
from abchw.protocol import (
    MAX_PAYLOAD,
    BuildInfo,
    FrameDecoder,
    Kind,
    NakReason,
    encode_frame,
    reply_kind,
)
from abchw.sim.faults import (
    EACH_FAULT_ONCE,
    TO_BOARD,
    TO_HOST,
    Drop,
    FaultyPort,
    Flip,
    Truncate,
)

BUILD = EngineConfig(m=3, n=3, pes=4, lanes=16)
TIMEOUT = 0.05  # the fake board answers at once: a wait this long means a lost frame


class FakeEngine:
    """The engine's command stream: WRITEs fill ``memories`` (address -> word), RUNs return the
    golden model's scores and three counters, as the engine sends them."""

    def __init__(self, network, config):
        self.inet = lower(network, coef_bits=config.coef_bits)
        self.config = config
        self.image_shape = tuple(network.input_shape)
        self.pending = bytearray()
        self.memories = {name: {} for name in MEMORIES}
        self.runs = 0

    def feed(self, payload):
        self.pending += payload
        results = bytearray()
        while self.pending:
            command = self.pending[0]
            if command == WRITE:
                used = self._write()
            elif command == RUN:
                used, scores = self._run()
                results += scores
            else:
                used = 1
            if not used:
                break
            del self.pending[:used]
        return bytes(results)

    def _write(self):
        if len(self.pending) < 8:
            return 0
        number, addr, count = (self.pending[1], int.from_bytes(self.pending[2:5], "little"),
                               int.from_bytes(self.pending[5:8], "little"))
        name = MEMORIES[number]
        size = word_bytes(memory_shapes(self.config)[name][0])
        if len(self.pending) < 8 + count * size:
            return 0
        for i in range(count):
            word = self.pending[8 + i * size:8 + (i + 1) * size]
            self.memories[name][addr + i] = int.from_bytes(word, "little")
        return 8 + count * size

    def _run(self):
        c, h, w = self.image_shape
        if len(self.pending) < 1 + c * h * w:
            return 0, b""
        image = np.frombuffer(bytes(self.pending[1:1 + c * h * w]), np.uint8)
        image = image.reshape(h, w, c).transpose(2, 0, 1)[None]
        scores = np.asarray(integer_forward(self.inet, image)[-1].y[0])
        self.runs += 1
        size = self.config.score_bytes
        out = b"".join(int(v).to_bytes(size, "little", signed=True) for v in scores.ravel())
        counters = (1, 1000 + self.runs, 900)
        return 1 + c * h * w, out + b"".join(v.to_bytes(8, "little") for v in counters)

    def words(self, name):
        """The words of memory ``name`` from address 0, as a Program holds them."""
        memory = self.memories[name]
        assert sorted(memory) == list(range(len(memory)))
        return tuple(memory[i] for i in range(len(memory)))


class FakeBoard:
    """A port object whose far end is the board's link (:class:`fake_link.FakeLink`) in front of
    a :class:`FakeEngine`; ``link`` holds what it was sent and executed."""

    def __init__(self, network, config, *, max_payload=MAX_PAYLOAD, last=None, info=None):
        self.engine = FakeEngine(network, config)
        info = info or BuildInfo(config=config, clock_hz=48_000_000, baud=3_000_000,
                                 max_payload=max_payload).to_bytes()
        self.link = FakeLink(engine=self.engine.feed, info=info, max_payload=max_payload,
                             reset=self.engine.pending.clear, last=last)
        self.timeout = None
        self.name = "fake board"
        self.closed = False
        self._decoder = FrameDecoder()
        self._out = bytearray()

    def write(self, data):
        for body in self._decoder.feed(data):
            self._out += self.link.answer(body)
        return len(data)

    @property
    def in_waiting(self):
        return len(self._out)

    def read(self, size=1):
        if not self._out:
            time.sleep(min(self.timeout or 0, 0.002))
            return b""
        data = bytes(self._out[:size])
        del self._out[:size]
        return data

    def close(self):
        self.closed = True


class SilentPort:
    """A line with nothing at the other end."""
    timeout = None
    in_waiting = 0
    name = "nowhere"

    def write(self, data):
        return len(data)

    def read(self, size=1):
        time.sleep(0.002)
        return b""

    def close(self):
        pass


@pytest.fixture(scope="module")
def model():
    network = default_model()
    return network, compile_network(network, BUILD)


def golden_scores(network, images):
    return integer_forward(lower(network, coef_bits=BUILD.coef_bits), images)[-1].y


def test_info_load_run_classify(model):
    network, program = model
    fake = FakeBoard(network, BUILD)
    images = digits_test_set()[0][:7]
    with Board(fake, timeout=TIMEOUT) as board:
        assert board.info() == BuildInfo(config=BUILD, clock_hz=48_000_000, baud=3_000_000,
                                         max_payload=MAX_PAYLOAD)
        board.info()
        board.load(program)
        for name in MEMORIES:
            assert fake.engine.words(name) == program.memories[name]
        scores, counters = board.run(images)
        predictions = board.classify(images[:2])
    assert fake.closed
    expected = golden_scores(network, images)
    assert np.array_equal(scores.reshape(expected.shape), expected)
    assert [c["compute_cycles"] for c in counters] == list(range(1001, 1008))
    assert np.array_equal(predictions, expected[:2].argmax(axis=1))
    kinds = [frame.kind for frame in fake.link.executed]
    load = len(program.load_bytes())
    # INFO once; the load in frames of max_payload; 3 images a frame (65 bytes in, 74 back).
    assert kinds == [Kind.INFO] + [Kind.EXEC] * (-(-load // MAX_PAYLOAD) + 3 + 1)
    payloads = [frame.payload for frame in fake.link.executed[1:-4]]
    assert b"".join(payloads) == program.load_bytes()
    assert [len(payload) for payload in payloads[:-1]] == [MAX_PAYLOAD] * (len(payloads) - 1)
    assert [len(frame.payload) for frame in fake.link.executed[-4:]] == [195, 195, 65, 130]
    assert board.stats.frames == len(fake.link.executed)
    assert board.stats.retransmissions == board.stats.timeouts == 0


def test_images_larger_than_a_frame_are_split():
    """An image whose RUN command does not fit a frame goes over several; results come with
    the last."""
    rng = np.random.default_rng(5)
    network = Network(input_shape=(1, 12, 12),
                      layers=(Dense(bases=rng.choice([-1, 1], (2, 4, 144)), alpha=[0.5, 0.25]),))
    program = compile_network(network, BUILD)
    fake = FakeBoard(network, BUILD, max_payload=64)
    images = rng.integers(0, 256, (3, 1, 12, 12), dtype=np.uint8)
    with Board(fake, timeout=TIMEOUT) as board:
        board.load(program)
        scores, _ = board.run(images)
    assert np.array_equal(scores, golden_scores(network, images))
    assert [len(frame.payload) for frame in fake.link.executed[-9:]] == [64, 64, 17] * 3


def test_program_for_another_build_or_too_large_results(model):
    network, program = model
    other = EngineConfig(m=3, n=3, pes=8, lanes=16)
    with Board(FakeBoard(network, other, max_payload=1024), timeout=TIMEOUT) as board:
        with pytest.raises(ProgramError, match=r"compiled for the build EngineConfig\(m=3, n=3, "
                                               r"pes=4.* but the board at fake board is the "
                                               r"build EngineConfig\(m=3, n=3, pes=8"):
            board.load(program)
        with pytest.raises(AbchwError, match="no program is loaded on the board"):
            board.run(digits_test_set()[0][:1])
        with pytest.raises(AbchwError, match="load needs an abchw.program.Program, not bytes"):
            board.load(program.to_bytes())
    with Board(FakeBoard(network, BUILD, max_payload=64), timeout=TIMEOUT) as board, \
            pytest.raises(ProgramError, match="results take 74 bytes an image, more than the 64 "
                                              "bytes a frame"):
        board.load(program)


def test_faults_both_ways_are_recovered_and_counted(model):
    """Every fault costs exactly one retransmission, is counted where it belongs, and nothing
    is executed twice: the memories equal the program's, the scores the golden model's."""
    network, program = model
    fake = FakeBoard(network, BUILD)
    port = FaultyPort(fake)
    images = digits_test_set()[0][:6]
    with Board(port, timeout=TIMEOUT, run_timeout=TIMEOUT) as board:
        board.info()
        port.inject_all(EACH_FAULT_ONCE)    # during the load
        board.load(program)
        assert port.pending() == 0
        stats = board.stats
        assert dict(stats.naks) == {NakReason.CRC: 1, NakReason.LENGTH: 2}
        assert (stats.timeouts, stats.corrupt_replies, stats.retransmissions) == (2, 2, 7)
        assert stats.sent == stats.frames + 7
        for name in MEMORIES:
            assert fake.engine.words(name) == program.memories[name]
        port.inject(TO_HOST, Truncate(at=20))      # a RUN's reply cut short
        # A flipped sequence number: the NAK names another frame, so the host waits it out.
        port.inject(TO_BOARD, Flip(at=1, bit=4), after=2)
        scores, _ = board.run(images)
    assert np.array_equal(scores, golden_scores(network, images))
    assert fake.engine.runs == len(images)
    assert len(fake.link.executed) == board.stats.frames
    assert (stats.retransmissions, stats.corrupt_replies, stats.timeouts, stats.other_seq) == \
        (9, 3, 3, 1)


def test_retry_exhaustion_is_a_link_error(model):
    network, _ = model
    with Board(SilentPort(), timeout=0.02, retries=2) as board, \
            pytest.raises(LinkError, match=r"no good reply from the board at nowhere to a frame "
                                           r"of kind INFO after 3 attempts \(3 x timeout\)"):
        board.info()
    assert board.stats.timeouts == 3 and board.stats.retransmissions == 2
    port = FaultyPort(FakeBoard(network, BUILD))
    for after in range(4):
        port.inject(TO_BOARD, Flip(at=0, bit=0) if after % 2 else Drop(at=4), after=after)
    with Board(port, timeout=TIMEOUT, retries=3) as board, \
            pytest.raises(LinkError, match=r"after 4 attempts \(2 x NAK SHORT, 2 x NAK CRC\)"):
        board.reset()


def test_session_start_and_replies_to_other_frames(model):
    """A board whose last frame had the session's first number answers INFO with that frame's
    reply: the host sends INFO again under the next number. Replies to other numbers are
    skipped."""
    network, _ = model
    stale = encode_frame(reply_kind(Kind.EXEC), 0, b"\x01\x02")
    fake = FakeBoard(network, BUILD, last=(0, stale))
    with Board(fake, timeout=TIMEOUT) as board:
        assert board.info().config == BUILD
        assert board.stats.stale_replies == 1
        assert [frame.seq for frame in fake.link.requests] == [0, 1]
        fake._out += encode_frame(reply_kind(Kind.RESET), 77)
        board.reset()
        assert board.stats.other_seq == 1
        assert board.stats.frames == 2


def test_board_of_another_protocol_version(model):
    network, _ = model
    info = bytes([9]) + BuildInfo(config=BUILD, clock_hz=1, baud=1, max_payload=256).to_bytes()[1:]
    with Board(FakeBoard(network, BUILD, info=info), timeout=TIMEOUT) as board, \
            pytest.raises(AbchwError, match="the board speaks link protocol version 9"):
        board.info()


def test_overflow_is_an_error(model):
    network, program = model
    fake = FakeBoard(network, BUILD)
    with Board(fake, timeout=TIMEOUT) as board:
        board.load(program)
        fake.link.results_max = 100   # as if the board's frames were smaller than it said
        with pytest.raises(AbchwError, match="more than 100 result bytes for one frame"):
            board.run(digits_test_set()[0][:3])


@pytest.mark.parametrize("option, value, message", [
    ("baud", 0, "baud must be a positive integer, not 0"),
    ("timeout", -1, "timeout must be a positive number of seconds, not -1"),
    ("run_timeout", "5", "run_timeout must be a positive number of seconds, not '5'"),
    ("retries", -1, "retries must be an integer >= 0, not -1"),
])
def test_bad_options(option, value, message):
    with pytest.raises(AbchwError, match=message):
        Board(SilentPort(), **{option: value})


def test_a_port_that_cannot_be_opened(tmp_path):
    with pytest.raises(LinkError, match=re.escape(f"cannot open the board link {tmp_path}/ttyN")):
        Board(str(tmp_path / "ttyNONE"))
