"""PlaneWriter: every word of every plane at ``base + plane * plane_stride + word``, each lane
the bit of its channel, bits past a pixel's last channel 0; under random input stalls, across
two feature maps of different geometry (``start`` between them), for 1, 5 and 16 lanes."""

import random

import pytest
from amaranth.sim import Simulator

from abchw.gateware.engine.config import EngineConfig
from abchw.gateware.engine.plane_writer import PlaneWriter


def expected_writes(pixels, *, channels, planes, base, plane_stride, lanes, addr_bits):
    """The writes, in order, for ``pixels`` (each a list of ``channels`` 8-bit beats)."""
    writes, word = [], 0
    for pixel in pixels:
        for first in range(0, channels, lanes):
            group = pixel[first:first + lanes]
            for plane in range(planes):
                data = sum(((beat >> plane) & 1) << lane for lane, beat in enumerate(group))
                writes.append(((base + plane * plane_stride + word) % (1 << addr_bits), data))
            word += 1
    return writes


# (lanes, [(channels, planes, pixels), ...]): an image (8 planes) then a stage's bits; channels
# that fill words exactly, leave a partial word, or fewer than the lanes.
CASES = [
    (16, [(3, 8, 5), (20, 3, 4)]),
    (16, [(16, 8, 3), (33, 1, 2)]),
    (5, [(5, 2, 4), (7, 8, 3)]),
    (1, [(2, 3, 4), (1, 8, 3)]),
]


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize(("lanes", "maps"), CASES)
def test_writes_match_the_model_under_stalls(lanes, maps, seed):
    config = EngineConfig(m=1, n=1, pes=1, lanes=lanes, act_words=256)
    dut = PlaneWriter(config=config)
    rng = random.Random(seed)
    plan = []
    for channels, planes, count in maps:
        pixels = [[rng.randrange(256) for _ in range(channels)] for _ in range(count)]
        geometry = {"channels": channels, "planes": planes, "base": rng.randrange(256),
                    "plane_stride": rng.randrange(1, 64)}
        plan.append((geometry, pixels, expected_writes(
            pixels, lanes=lanes, addr_bits=config.act_addr_bits, **geometry)))
    received = []

    async def bench(ctx):
        for geometry, pixels, expected in plan:
            while not ctx.get(dut.idle):
                await ctx.tick()
            for name, value in geometry.items():
                ctx.set(getattr(dut, name), value)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            writes = []
            beats = [beat for pixel in pixels for beat in pixel]
            index, offering = 0, False
            want = len(expected)
            for _ in range(40 * want + 100):
                # A beat once offered stays offered until taken, as streams require.
                offering = offering or (index < len(beats) and rng.random() < 0.6)
                ctx.set(dut.bits.valid, offering)
                ctx.set(dut.bits.payload, beats[index] if offering else 0)
                if ctx.get(dut.write_en):
                    writes.append((ctx.get(dut.write_addr), ctx.get(dut.write_data)))
                taken = offering and ctx.get(dut.bits.ready)
                await ctx.tick()
                if taken:
                    offering, index = False, index + 1
                if index == len(beats) and len(writes) == want and ctx.get(dut.idle):
                    break
            received.append(writes)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert received == [expected for _, _, expected in plan]
