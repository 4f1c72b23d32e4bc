# amaranth: UnusedElaboratable=no
"""The 8N1 UART: transmitter to receiver at several divisors, a receiver fed by a sender whose
bit time is 2 % off and whose edges fall between clock edges, framing errors, noise, and the
parameters' messages."""

import random
import re

import pytest
from amaranth import Elaboratable, Module
from amaranth.sim import Simulator

from abchw.errors import AbchwError
from abchw.gateware.link.uart import BaudError, UartRx, UartTx, uart_divisor

PERIOD = 1e-6  # of the simulation clock


class Loopback(Elaboratable):
    def __init__(self, divisor):
        self.tx, self.rx = UartTx(divisor=divisor), UartRx(divisor=divisor)

    def elaborate(self, platform):
        m = Module()
        m.submodules.tx, m.submodules.rx = self.tx, self.rx
        m.d.comb += self.rx.rx.eq(self.tx.tx)
        return m


def collect(rx, received, errors):
    """A background testbench: every byte ``rx`` delivers into ``received``, error pulses
    counted in ``errors``."""
    async def testbench(ctx):
        ctx.set(rx.bytes.ready, 1)
        while True:
            _, _, valid, payload, error = await ctx.tick().sample(
                rx.bytes.valid, rx.bytes.payload, rx.error)
            if valid:
                received.append(payload)
            errors[0] += error
    return testbench


@pytest.mark.parametrize("divisor", [4, 5, 7, 16])
def test_transmitter_to_receiver(divisor):
    rng = random.Random(divisor)
    data = bytes([0x00, 0xFF, 0x55, 0xAA]) + rng.randbytes(40)
    dut = Loopback(divisor)
    received, errors = [], [0]
    line = []

    async def send(ctx):
        for byte in data:
            ctx.set(dut.tx.bytes.payload, byte)
            ctx.set(dut.tx.bytes.valid, 1)
            await ctx.tick().until(dut.tx.bytes.ready)
            ctx.set(dut.tx.bytes.valid, 0)
            for _ in range(rng.choice([0, 0, 1, 3 * divisor])):
                await ctx.tick()
        await ctx.tick().repeat(12 * divisor)

    async def watch(ctx):
        async for _, _, tx in ctx.tick().sample(dut.tx.tx):
            line.append(tx)

    sim = Simulator(dut)
    sim.add_clock(PERIOD)
    sim.add_testbench(send)
    sim.add_testbench(collect(dut.rx, received, errors), background=True)
    sim.add_testbench(watch, background=True)
    sim.run()
    assert bytes(received) == data and errors[0] == 0
    # Back to back, a byte takes exactly 10 bits: the first one's start bit and stop bit.
    start = line.index(0)
    assert line[start:start + divisor] == [0] * divisor
    assert line[start + 9 * divisor:start + 10 * divisor] == [1] * divisor


def drive_pin(dut_rx, frames, *, bit_time, rng):
    """A testbench that sends ``frames`` (lists of bit levels, LSB-first bytes with their start
    and stop bits) on the pin, bit time ``bit_time`` seconds, starting at a random fraction of
    a clock period and leaving random idle gaps between frames."""
    async def testbench(ctx):
        await ctx.delay(rng.random() * PERIOD)
        for bits in frames:
            for bit in bits:
                ctx.set(dut_rx, bit)
                await ctx.delay(bit_time)
            ctx.set(dut_rx, 1)
            await ctx.delay(rng.random() * 2 * bit_time)
        await ctx.delay(20 * bit_time)
    return testbench


def byte_bits(byte, stop=1):
    return [0] + [(byte >> i) & 1 for i in range(8)] + [stop]


def run_receiver(divisor, frames, *, error=0.0, seed=0, bit_time=None):
    """The bytes and the number of framing errors of a receiver fed ``frames`` (bits of
    ``bit_time``, by default ``divisor`` clock periods ``1 + error`` times)."""
    dut = UartRx(divisor=divisor)
    received, errors = [], [0]
    sim = Simulator(dut)
    sim.add_clock(PERIOD)
    bit_time = bit_time or divisor * PERIOD * (1 + error)
    sim.add_testbench(drive_pin(dut.rx, frames, bit_time=bit_time, rng=random.Random(seed)))
    sim.add_testbench(collect(dut, received, errors), background=True)
    sim.run()
    return bytes(received), errors[0]


@pytest.mark.parametrize("divisor", [4, 5, 7, 16])
@pytest.mark.parametrize("error", [-0.02, 0.02])
def test_receiver_tolerates_a_sender_off_by_2_percent(divisor, error):
    rng = random.Random(divisor)
    data = bytes([0x00, 0xFF, 0x80, 0x01]) + rng.randbytes(20)
    received, errors = run_receiver(divisor, [byte_bits(byte) for byte in data], error=error,
                                    seed=divisor)
    assert received == data and errors == 0


@pytest.mark.parametrize("divisor", [4, 16])
def test_framing_error_drops_the_byte(divisor):
    frames = [byte_bits(0x12), byte_bits(0x34, stop=0), byte_bits(0x56),
              # A break: a whole byte time and more low, then a good byte.
              [0] * 25, byte_bits(0x78)]
    received, errors = run_receiver(divisor, frames)
    assert received == bytes([0x12, 0x56, 0x78]) and errors == 2


def test_short_glitch_is_not_a_start_bit():
    # In sixteenths of a bit (one clock period each): low for 1/16, idle, then a good byte.
    frames = [[0] + [1] * 32, [bit for bit in byte_bits(0x5A) for _ in range(16)]]
    received, errors = run_receiver(16, frames, bit_time=PERIOD)
    assert received == b"\x5a" and errors == 0


@pytest.mark.parametrize("block", [UartRx, UartTx])
@pytest.mark.parametrize("divisor", [3, 0, 1 << 24 + 1, 4.0, True, "8"])
def test_divisor_is_checked(block, divisor):
    message = f"divisor must be an integer in 4..16777216, not {divisor!r}"
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        block(divisor=divisor)


@pytest.mark.parametrize("block", [UartRx, UartTx])
def test_divisor_is_keyword_only(block):
    with pytest.raises(TypeError):
        block(8)


@pytest.mark.parametrize("clock_hz, baud, divisor", [
    (12_000_000, 3_000_000, 4), (12_000_000, 115_200, 104), (48_000_000, 1_000_000, 48),
    (12_000_000, 2_000_000, 6)])
def test_uart_divisor(clock_hz, baud, divisor):
    assert uart_divisor(clock_hz=clock_hz, baud=baud) == divisor


@pytest.mark.parametrize("clock_hz, baud, error, message", [
    (12_000_000, 4_000_000, BaudError, ("baud 4000000 is too fast for a 12000000 Hz clock: the "
                                        "UART needs 4 clock cycles a bit (at most 3000000 baud)")),
    (12_000_000, 2_700_000, BaudError, ("baud 2700000 cannot be made from a 12000000 Hz clock: "
                                        "the nearest divisor, 4, gives 3000000 baud, 11.1% off "
                                        "(at most 2%)")),
    (12_000_000, 0, ValueError, "baud must be an integer in 1..4294967295, not 0"),
    (0, 9600, ValueError, "clock_hz must be an integer in 1..4294967295, not 0"),
])
def test_uart_divisor_refuses(clock_hz, baud, error, message):
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        uart_divisor(clock_hz=clock_hz, baud=baud)
    assert issubclass(BaudError, AbchwError) and issubclass(BaudError, ValueError)
