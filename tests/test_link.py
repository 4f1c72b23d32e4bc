# amaranth: UnusedElaboratable=no
"""The board link (:class:`~abchw.gateware.link.link.Link`) at the byte-stream level, against
:mod:`abchw.protocol`: the host side is ``encode_frame``, ``FrameDecoder`` and ``parse_body``;
the engine is a behavioural stand-in in the testbench (random stalls, a result byte per command
byte, a burst, a slow and a never-ending command). Then the whole :class:`~abchw.gateware.soc.Soc`
on its serial pins, with the real engine, and its Verilog."""

import random
import re
from collections import deque

import pytest
from amaranth import Elaboratable, Module
from amaranth.back import verilog
from amaranth.lib import wiring
from amaranth.sim import Simulator

from abchw.gateware.engine.config import EngineConfig
from abchw.gateware.link.link import INFO_BYTES, Link
from abchw.gateware.link.uart import BaudError, UartRx, UartTx
from abchw.gateware.soc import Soc
from abchw.protocol import (
    NAK,
    OVERFLOW,
    BuildInfo,
    Frame,
    FrameDecoder,
    FrameError,
    Kind,
    NakReason,
    crc16,
    encode_frame,
    parse_body,
    reply_kind,
    slip_encode,
)

CONFIG = EngineConfig(m=2, n=2, pes=2, lanes=8, act_words=256, weight_words=64, coef_words=64,
                      threshold_words=64, stages_max=4)
CLOCK_HZ, BAUD = 12_000_000, 3_000_000
MAX_PAYLOAD = 40

#: Commands of the engine stand-in: 16 results 0..15; busy, taking no command bytes, for
#: SLOW_CYCLES, then one result; busy until reset. Any other byte b gives one result, b ^ 0x55, a few cycles later.
BURST, SLOW, HANG = 0xB0, 0x5D, 0xEE
SLOW_CYCLES = 300


def echo(payload):
    return bytes(byte ^ 0x55 for byte in payload)


def body(kind, seq, payload=b"", *, length=None):
    """A frame body with its CRC (``length``: a false length field)."""
    length = len(payload) if length is None else length
    head = bytes([kind, seq]) + length.to_bytes(2, "little") + bytes(payload)
    return head + crc16(head).to_bytes(2, "big")


class Engine:
    """What the stand-in did: command bytes taken, resets seen."""

    def __init__(self):
        self.executed, self.resets = bytearray(), 0


def exchange(script, *, max_payload=MAX_PAYLOAD, seed=0):
    """Runs ``script``, ``[(wire bytes, replies expected after them)]``, on a Link; returns the
    replies (:class:`Frame`, every one of them a good body), the :class:`Engine` record, and the
    cycles ``executing`` was high. After each step it waits for the replies it expects (and,
    when it expects none, 400 cycles); at the end, 2000 more cycles for any reply too many."""
    dut = Link(config=CONFIG, clock_hz=CLOCK_HZ, baud=BAUD, max_payload=max_payload)
    rng = random.Random(seed)
    replies, engine, executing = [], Engine(), [0]
    decoder = FrameDecoder()

    async def host(ctx):
        expected = 0
        for wire, count in script:
            for byte in wire:
                while rng.random() < 0.2:
                    await ctx.tick()
                ctx.set(dut.rx_bytes.payload, byte)
                ctx.set(dut.rx_bytes.valid, 1)
                await ctx.tick().until(dut.rx_bytes.ready)
                ctx.set(dut.rx_bytes.valid, 0)
            expected += count
            for _ in range(20_000 if count else 400):
                if len(replies) >= expected and count:
                    break
                await ctx.tick()
            assert len(replies) == expected, f"{len(replies)} replies, expected {expected}"
        await ctx.tick().repeat(2000)

    async def wire_out(ctx):
        while True:
            ready = rng.random() < 0.7
            ctx.set(dut.tx_bytes.ready, ready)
            _, _, valid, byte, busy = await ctx.tick().sample(
                dut.tx_bytes.valid, dut.tx_bytes.payload, dut.executing)
            executing[0] += busy
            if valid and ready:
                replies.extend(parse_body(reply, max_payload=max_payload)
                               for reply in decoder.feed([byte]))

    async def stand_in(ctx):
        pending, hang, cycle = deque(), False, 0  # pending: (cycle ready, result byte)
        stalled_until = 0  # SLOW takes no command bytes until its result is due
        while True:
            cycle += 1
            head = pending[0] if pending and pending[0][0] <= cycle else None
            ctx.set(dut.results.valid, head is not None)
            ctx.set(dut.results.payload, head[1] if head else 0)
            ctx.set(dut.busy, bool(pending) or hang)
            ctx.set(dut.commands.ready,
                    not hang and cycle >= stalled_until and rng.random() < 0.5)
            _, _, valid, ready, command, taken, reset = await ctx.tick().sample(
                dut.commands.valid, dut.commands.ready, dut.commands.payload,
                dut.results.ready, dut.engine_reset)
            if reset:
                pending.clear()
                hang, stalled_until = False, 0
                engine.resets += 1
                continue
            if head and taken:
                pending.popleft()
            if valid and ready:
                engine.executed.append(command)
                due = max([cycle] + [time for time, _ in pending]) + rng.randrange(4)
                if command == HANG:
                    hang = True
                elif command == BURST:
                    pending.extend((due, value) for value in range(16))
                elif command == SLOW:
                    stalled_until = cycle + SLOW_CYCLES
                    pending.append((stalled_until, command ^ 0x55))
                else:
                    pending.append((due, command ^ 0x55))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(host)
    sim.add_testbench(wire_out, background=True)
    sim.add_testbench(stand_in, background=True)
    sim.run()
    return replies, engine, executing[0]


def nak(seq, reason):
    return Frame(NAK, seq, bytes([reason]))


def test_info():
    # A payload, which INFO does not have, is ignored.
    replies, engine, _ = exchange([(encode_frame(Kind.INFO, 7), 1),
                                   (encode_frame(Kind.INFO, 8, b"\x02"), 1)])
    info = BuildInfo(config=CONFIG, clock_hz=CLOCK_HZ, baud=BAUD, max_payload=MAX_PAYLOAD)
    assert replies == [Frame(reply_kind(Kind.INFO), seq, info.to_bytes()) for seq in (7, 8)]
    assert BuildInfo.from_bytes(replies[0].payload) == info
    assert len(info.to_bytes()) == INFO_BYTES and engine.executed == b""


def test_exec_forwards_the_payload_and_returns_the_results():
    rng = random.Random(3)
    # Every byte value SLIP escapes, and a full payload.
    first = bytes([0xC0, 0xDB, 0xDC, 0xDD, 0x00, 0xFF])
    full = bytes(rng.choice([b for b in range(256) if b not in (BURST, SLOW, HANG)])
                 for _ in range(MAX_PAYLOAD))
    replies, engine, executing = exchange([
        (encode_frame(Kind.EXEC, 1, first), 1), (encode_frame(Kind.EXEC, 2, full), 1),
        (encode_frame(Kind.EXEC, 3, b""), 1), (encode_frame(Kind.EXEC, 4, bytes([BURST, 1])), 1),
        (encode_frame(Kind.EXEC, 5, bytes([SLOW])), 1)])
    exec_reply = reply_kind(Kind.EXEC)
    assert replies == [Frame(exec_reply, 1, echo(first)), Frame(exec_reply, 2, echo(full)),
                       Frame(exec_reply, 3, b""),
                       Frame(exec_reply, 4, bytes(range(16)) + echo(b"\x01")),
                       Frame(exec_reply, 5, echo([SLOW]))]
    assert engine.executed == first + full + bytes([BURST, 1, SLOW])
    assert executing > SLOW_CYCLES


def expected_nak(frame_body):
    """The NAK :func:`parse_body` (and, past it, the kind check) calls for."""
    try:
        frame = parse_body(frame_body, max_payload=MAX_PAYLOAD)
    except FrameError as error:
        return nak(frame_body[1] if len(frame_body) >= 2 else 0, error.reason)
    assert frame.kind not in set(Kind)
    return nak(frame.seq, NakReason.KIND)


GOOD = body(Kind.EXEC, 0x21, b"\x10\x20\x30")
BAD_BODIES = {
    "flipped bit": GOOD[:5] + bytes([GOOD[5] ^ 0x04]) + GOOD[6:],
    "flipped crc bit": GOOD[:-1] + bytes([GOOD[-1] ^ 0x80]),
    "dropped byte": GOOD[:4] + GOOD[5:],
    "extra byte": GOOD[:5] + b"\x99" + GOOD[5:],
    "truncated": GOOD[:-2],
    "false length": body(Kind.EXEC, 0x22, b"\x10\x20", length=3),
    "oversize": body(Kind.EXEC, 0x23, bytes(MAX_PAYLOAD + 1)),
    "far oversize": body(Kind.EXEC, 0x24, bytes(3 * MAX_PAYLOAD)),
    "short": GOOD[:5],
    "one byte": GOOD[:1],
    "unknown kind": body(0x07, 0x25),
}


@pytest.mark.parametrize("name", BAD_BODIES)
def test_bad_frame_is_nak_with_its_reason(name):
    bad = BAD_BODIES[name]
    good = encode_frame(Kind.EXEC, 0x30, b"\x01")
    replies, engine, _ = exchange([(slip_encode(bad), 1), (good, 1)])
    assert replies == [expected_nak(bad), Frame(reply_kind(Kind.EXEC), 0x30, echo(b"\x01"))]
    assert engine.executed == b"\x01"


def test_expected_naks():
    """The reasons the parametrized test above expects, spelled out."""
    reasons = {name: (expected_nak(bad).seq, NakReason(expected_nak(bad).payload[0]).name)
               for name, bad in BAD_BODIES.items()}
    assert reasons == {
        "flipped bit": (0x21, "CRC"), "flipped crc bit": (0x21, "CRC"),
        "dropped byte": (0x21, "LENGTH"), "extra byte": (0x21, "LENGTH"),
        "truncated": (0x21, "LENGTH"), "false length": (0x22, "LENGTH"),
        "oversize": (0x23, "OVERSIZE"), "far oversize": (0x24, "OVERSIZE"),
        "short": (0x21, "SHORT"), "one byte": (0, "SHORT"), "unknown kind": (0x25, "KIND")}


def test_random_damage_is_judged_like_parse_body():
    rng = random.Random(5)
    script, expected = [], []
    for seq in range(40):
        payload = rng.randbytes(rng.randrange(0, MAX_PAYLOAD + 3)).replace(
            bytes([BURST]), b"").replace(bytes([SLOW]), b"").replace(bytes([HANG]), b"")
        damaged = bytearray(body(Kind.EXEC, seq, payload))
        damage = rng.choice(["flip", "drop", "insert", "cut", "none"])
        position = rng.randrange(len(damaged))
        if damage == "flip":
            damaged[position] ^= 1 << rng.randrange(8)
        elif damage == "drop":
            del damaged[position]
        elif damage == "insert":
            damaged.insert(position, rng.randrange(256))
        elif damage == "cut":
            del damaged[position:]
        if not damaged:
            continue
        try:
            frame = parse_body(damaged, max_payload=MAX_PAYLOAD)
            expected.append(Frame(reply_kind(Kind.EXEC), seq, echo(frame.payload))
                            if frame.kind in set(Kind) else nak(frame.seq, NakReason.KIND))
        except FrameError:
            expected.append(expected_nak(damaged))
        script.append((slip_encode(damaged), 1))
    replies, _, _ = exchange(script)
    assert replies == expected
    assert {frame.kind for frame in expected} == {NAK, reply_kind(Kind.EXEC)}


def test_duplicate_seq_resends_the_reply_without_executing_again():
    exec_5 = encode_frame(Kind.EXEC, 5, b"\x01\x02")
    replies, engine, _ = exchange([
        (exec_5, 1), (exec_5, 1),
        (encode_frame(Kind.INFO, 5), 1),                  # same seq: a retransmission too
        (slip_encode(BAD_BODIES["flipped bit"]), 1),      # a NAK does not replace the reply
        (exec_5, 1),
        (encode_frame(Kind.EXEC, 6, b"\x03"), 1), (encode_frame(Kind.INFO, 6), 1),
        (encode_frame(Kind.INFO, 7), 1), (encode_frame(Kind.INFO, 7), 1)])
    first = Frame(reply_kind(Kind.EXEC), 5, echo(b"\x01\x02"))
    sixth = Frame(reply_kind(Kind.EXEC), 6, echo(b"\x03"))
    assert replies[:3] == [first] * 3 and replies[3] == nak(0x21, NakReason.CRC)
    assert replies[4:7] == [first, sixth, sixth]
    assert replies[7] == replies[8] and replies[7].kind == reply_kind(Kind.INFO)
    assert engine.executed == b"\x01\x02\x03"


def test_reset_during_exec_and_frames_while_busy():
    reset_reply = reply_kind(Kind.RESET)
    replies, engine, executing = exchange([
        (encode_frame(Kind.EXEC, 4, b"\x44"), 1),
        (encode_frame(Kind.EXEC, 1, bytes([0x11, HANG, 0x22])), 0),
        (encode_frame(Kind.INFO, 2), 0),                   # busy: dropped
        (slip_encode(BAD_BODIES["flipped bit"]), 0),       # busy: dropped, no NAK
        (encode_frame(Kind.EXEC, 4, b"\x45"), 0),          # busy: not even a retransmission
        (encode_frame(Kind.RESET, 3), 1),
        (encode_frame(Kind.EXEC, 4, b"\x46"), 1),          # seq 4 forgotten: executed
        (encode_frame(Kind.RESET, 4), 1),                  # RESET is never a retransmission
        (encode_frame(Kind.RESET, 4), 1)])
    assert replies == [Frame(reply_kind(Kind.EXEC), 4, echo(b"\x44")),
                       Frame(reset_reply, 3, b""),
                       Frame(reply_kind(Kind.EXEC), 4, echo(b"\x46")),
                       Frame(reset_reply, 4, b""), Frame(reset_reply, 4, b"")]
    assert engine.executed == bytes([0x44, 0x11, HANG, 0x46]) and engine.resets == 3
    assert executing > 4 * 400


def test_frame_during_forwarding_does_not_overwrite_the_payload():
    # The engine stalls on SLOW with 3 payload bytes left; the second frame arrives meanwhile.
    first = bytes([SLOW, 0x01, 0x02, 0x03])
    replies, engine, _ = exchange([
        (encode_frame(Kind.EXEC, 1, first) + encode_frame(Kind.EXEC, 2, b"\x09\x09\x09"), 1)])
    assert replies == [Frame(reply_kind(Kind.EXEC), 1, echo(first))]
    assert engine.executed == first


def test_exec_that_began_during_an_exec_is_dropped():
    # The first half of the second frame comes while the first runs, so the buffer missed it.
    second = encode_frame(Kind.EXEC, 2, b"\x07\x08\x09")
    replies, engine, _ = exchange([
        (encode_frame(Kind.EXEC, 1, bytes([SLOW])) + second[:5], 1), (second[5:], 0),
        (second, 1)])
    assert replies == [Frame(reply_kind(Kind.EXEC), 1, echo([SLOW])),
                       Frame(reply_kind(Kind.EXEC), 2, echo(b"\x07\x08\x09"))]
    assert engine.executed == bytes([SLOW, 7, 8, 9])


def test_results_past_max_payload_overflow():
    commands = bytes([BURST, BURST, BURST])  # 48 results
    frame = encode_frame(Kind.EXEC, 9, commands)
    replies, engine, _ = exchange([(frame, 1), (frame, 1)])
    cut = bytes((list(range(16)) * 3)[:MAX_PAYLOAD])
    assert replies == [Frame(OVERFLOW, 9, cut)] * 2 and engine.executed == commands


def test_noise_and_empty_frames():
    wire = b"\xc0\xc0\xc0\x12" + encode_frame(Kind.EXEC, 3, b"\x01") + b"\xc0\xc0"
    replies, _, _ = exchange([(wire, 2)])
    assert FrameDecoder().feed(wire)[0] == b"\x12"
    assert replies == [nak(0, NakReason.SHORT), Frame(reply_kind(Kind.EXEC), 3, echo(b"\x01"))]


INFO_LENGTH = len(BuildInfo(config=CONFIG, clock_hz=CLOCK_HZ, baud=BAUD, max_payload=1).to_bytes())
MAX_PAYLOAD_RANGE = (f"max_payload must be an integer in {INFO_LENGTH}..65535 (an INFO reply "
                     f"takes {INFO_LENGTH} bytes)")


@pytest.mark.parametrize("params, message", [
    ({"max_payload": INFO_LENGTH - 1}, f"{MAX_PAYLOAD_RANGE}, not {INFO_LENGTH - 1}"),
    ({"max_payload": 65536}, f"{MAX_PAYLOAD_RANGE}, not 65536"),
    ({"max_payload": 64.0}, f"{MAX_PAYLOAD_RANGE}, not 64.0"),
    ({"baud": 0}, "baud must be an integer in 1..4294967295, not 0"),
    ({"clock_hz": 1 << 32}, "clock_hz must be an integer in 1..4294967295, not 4294967296"),
])
def test_link_parameters_are_checked(params, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        Link(**{"config": CONFIG, "clock_hz": CLOCK_HZ, "baud": BAUD, **params})
    with pytest.raises(TypeError, match=r"^config must be an EngineConfig, not 3$"):
        Link(config=3, clock_hz=CLOCK_HZ, baud=BAUD)


@pytest.mark.parametrize("clock_hz, baud, message", [
    (12_000_000, 4_000_000, ("baud 4000000 is too fast for a 12000000 Hz clock: the UART needs 4 "
                             "clock cycles a bit (at most 3000000 baud)")),
    (12_000_000, 2_500_000, ("baud 2500000 cannot be made from a 12000000 Hz clock: the nearest "
                             "divisor, 5, gives 2400000 baud, 4.0% off (at most 2%)")),
])
def test_soc_refuses_a_baud_the_clock_cannot_make(clock_hz, baud, message):
    with pytest.raises(BaudError, match=f"^{re.escape(message)}$"):
        Soc(config=CONFIG, clock_hz=clock_hz, baud=baud)


class LinkOnUart(Elaboratable):
    """A Link whose replies go out through a UART transmitter."""

    def __init__(self, divisor):
        self.link = Link(config=CONFIG, clock_hz=CLOCK_HZ, baud=BAUD, max_payload=MAX_PAYLOAD)
        self.tx = UartTx(divisor=divisor)

    def elaborate(self, platform):
        m = Module()
        m.submodules.link, m.submodules.tx = self.link, self.tx
        wiring.connect(m, self.link.tx_bytes, self.tx.bytes)
        return m


@pytest.mark.parametrize("divisor", [4, 16])
def test_reply_leaves_the_uart_back_to_back(divisor):
    """The link's pipeline (receiver, transmitter, encoder) adds cycles, never line time: from
    a reply's first wire byte to its last, escapes included, the next one is always there when
    the UART can take it, at the fewest cycles a bit the UART accepts too."""
    dut = LinkOnUart(divisor)
    link = dut.link
    wire, starved = [], []   # starved: cycles in a reply the UART was ready and got no byte

    async def host(ctx):
        for byte in encode_frame(Kind.INFO, 0xC0):   # a seq SLIP escapes
            ctx.set(link.rx_bytes.payload, byte)
            ctx.set(link.rx_bytes.valid, 1)
            await ctx.tick().until(link.rx_bytes.ready)
        ctx.set(link.rx_bytes.valid, 0)
        await ctx.tick().repeat(100 * 10 * divisor)

    async def line(ctx):
        cycle = 0
        async for _, _, valid, ready, byte in ctx.tick().sample(
                dut.tx.bytes.valid, dut.tx.bytes.ready, dut.tx.bytes.payload):
            if valid and ready:
                wire.append(byte)
            elif ready and 0 < len(wire) < len(expected):
                starved.append(cycle)
            cycle += 1

    info = BuildInfo(config=CONFIG, clock_hz=CLOCK_HZ, baud=BAUD, max_payload=MAX_PAYLOAD)
    expected = encode_frame(reply_kind(Kind.INFO), 0xC0, info.to_bytes())
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(host)
    sim.add_testbench(line, background=True)
    sim.run()
    assert bytes(wire) == expected and starved == []


def test_soc_converts_to_verilog():
    soc = Soc(config=CONFIG, clock_hz=CLOCK_HZ, baud=BAUD)
    assert soc.divisor == 4 and Soc(config=CONFIG, clock_hz=48_000_000, baud=BAUD).divisor == 16
    text = verilog.convert(soc, name="abchw_soc")
    header = re.search(r"^module abchw_soc\(([^)]*)\);", text, re.MULTILINE).group(1)
    assert sorted(port.strip() for port in header.split(",")) == \
        ["activity", "clk", "rst", "rx", "tx"]
    for port in ("input rx", "output tx", "output activity"):
        assert re.search(rf"^\s*{port};", text, re.MULTILINE), port


class SerialHost(Elaboratable):
    """A Soc with a UART of the host's on each of its pins."""

    def __init__(self, soc):
        self.soc = soc
        self.tx, self.rx = UartTx(divisor=soc.divisor), UartRx(divisor=soc.divisor)

    def elaborate(self, platform):
        m = Module()
        m.submodules.soc, m.submodules.tx, m.submodules.rx = self.soc, self.tx, self.rx
        m.d.comb += [self.soc.rx.eq(self.tx.tx), self.rx.rx.eq(self.soc.tx)]
        return m


def test_soc_on_its_serial_pins():
    """INFO, a WRITE command split over two EXEC frames (the real engine waits for the rest of
    the word between them, so the first reply comes without it), RESET."""
    dut = SerialHost(Soc(config=CONFIG, clock_hz=CLOCK_HZ, baud=BAUD, max_payload=64))
    write = bytes([0x01, 1, 0, 0, 0, 1, 0, 0, 0x34, 0x12])  # one 16-bit word into weights
    script = [encode_frame(Kind.INFO, 1), encode_frame(Kind.EXEC, 2, write[:9]),
              encode_frame(Kind.EXEC, 3, write[9:]), encode_frame(Kind.RESET, 4)]
    replies, activity = [], []

    async def host(ctx):
        decoder = FrameDecoder()
        ctx.set(dut.rx.bytes.ready, 1)
        for frame in script:
            for byte in frame:
                ctx.set(dut.tx.bytes.payload, byte)
                ctx.set(dut.tx.bytes.valid, 1)
                await ctx.tick().until(dut.tx.bytes.ready)
            ctx.set(dut.tx.bytes.valid, 0)
            bodies = []
            for _ in range(4000):
                _, _, valid, byte, active = await ctx.tick().sample(
                    dut.rx.bytes.valid, dut.rx.bytes.payload, dut.soc.activity)
                activity.append(active)
                bodies = decoder.feed([byte]) if valid else []
                if bodies:
                    break
            replies.extend(parse_body(body, max_payload=64) for body in bodies)

    sim = Simulator(dut)
    sim.add_clock(1 / CLOCK_HZ)
    sim.add_testbench(host)
    sim.run()
    info = BuildInfo(config=CONFIG, clock_hz=CLOCK_HZ, baud=BAUD, max_payload=64)
    assert replies == [Frame(reply_kind(Kind.INFO), 1, info.to_bytes()),
                       Frame(reply_kind(Kind.EXEC), 2, b""), Frame(reply_kind(Kind.EXEC), 3, b""),
                       Frame(reply_kind(Kind.RESET), 4, b"")]
    assert 0 < sum(activity) < 400
