"""SLIP framing in gateware against :mod:`abchw.protocol`'s ``slip_encode`` and
``FrameDecoder``, with random stalls on both sides of each block."""

import random

from amaranth.sim import Simulator

from abchw.gateware.link.slip import SlipDecoder, SlipEncoder
from abchw.protocol import END, ESC, ESC_END, ESC_ESC, FrameDecoder, slip_encode

#: Bodies rich in the bytes SLIP escapes, including bodies of only those.
BODIES = [bytes([END]), bytes([ESC]), bytes([ESC, END, ESC_END, ESC_ESC]), b"\x00", b"abc",
          bytes([END] * 5)]


def random_bodies(rng, count):
    pool = [END, ESC, ESC_END, ESC_ESC, 0x00, 0xFF]
    return BODIES + [bytes(rng.choice(pool) if rng.random() < 0.3 else rng.randrange(256)
                           for _ in range(rng.randrange(1, 20))) for _ in range(count)]


def run(dut, testbenches):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    for testbench, background in testbenches:
        sim.add_testbench(testbench, background=background)
    sim.run()


def source(stream, items, rng):
    """A testbench that offers ``items`` (payload values) on ``stream`` with random gaps."""
    async def testbench(ctx):
        for item in items:
            while rng.random() < 0.3:
                await ctx.tick()
            ctx.set(stream.payload, item)
            ctx.set(stream.valid, 1)
            await ctx.tick().until(stream.ready)
            ctx.set(stream.valid, 0)
        for _ in range(50):  # let the sink drain
            await ctx.tick()
    return testbench


def sink(stream, received, rng):
    """A background testbench that takes ``stream``'s payloads into ``received``, stalling at
    random."""
    async def testbench(ctx):
        while True:
            ready = rng.random() < 0.6
            ctx.set(stream.ready, ready)
            _, _, valid, payload = await ctx.tick().sample(stream.valid, stream.payload)
            if valid and ready:
                received.append(payload)
    return testbench


def test_encoder_matches_slip_encode():
    rng = random.Random(1)
    bodies = random_bodies(rng, 40)
    dut = SlipEncoder()
    items = [{"data": byte, "first": index == 0, "last": index == len(body) - 1}
             for body in bodies for index, byte in enumerate(body)]
    wire = []
    run(dut, [(source(dut.body, items, rng), False), (sink(dut.wire, wire, rng), True)])
    assert bytes(wire) == b"".join(slip_encode(body) for body in bodies)


def test_decoder_matches_frame_decoder():
    rng = random.Random(2)
    bodies = random_bodies(rng, 40)
    # Empty frames, an ESC before a byte that is no escape code, and an ESC cut by END.
    noise = bytes([END, END, ESC, 0x41, END, 0x10, ESC, END])
    stream = noise + b"".join(slip_encode(body) for body in bodies) + noise
    dut = SlipDecoder()
    symbols = []
    run(dut, [(source(dut.wire, stream, rng), False), (sink(dut.body, symbols, rng), True)])
    decoded, body = [], bytearray()
    for symbol in symbols:
        if symbol.end:
            if body:
                decoded.append(bytes(body))
            body.clear()
        else:
            body.append(symbol.data)
    expected = FrameDecoder().feed(stream)
    assert decoded == expected
    assert expected[2:-2] == bodies and expected[:2] == expected[-2:] == [b"\x41", b"\x10"]
    # One symbol per wire byte but the ESCs (no ESC follows an ESC here, so each starts an
    # escape).
    assert len(symbols) == len(stream) - stream.count(ESC)
