"""ByteSerializer: each word's low ``count`` bytes, least significant first, in order, under
random stalls on both sides; ``idle`` and ``words.ready`` exactly while no byte is pending."""

import random

import pytest
from amaranth.sim import Simulator

from abchw.gateware.engine.serializer import WORD_BYTES, ByteSerializer


@pytest.mark.parametrize("seed", range(3))
def test_random_words_and_stalls_give_the_bytes_in_order(seed):
    dut = ByteSerializer()
    rng = random.Random(seed)
    # Counts 1 and WORD_BYTES (the limits) and everything between.
    words = [(rng.randrange(1 << 64), rng.choice([1, WORD_BYTES, rng.randint(1, WORD_BYTES)]))
             for _ in range(120)]
    expected = [(word >> (8 * index)) & 0xFF for word, count in words for index in range(count)]
    received = []

    async def bench(ctx):
        index, pending = 0, 0
        for _ in range(3000):
            offering = index < len(words) and rng.random() < 0.6
            ctx.set(dut.words.valid, offering)
            if offering:
                ctx.set(dut.words.payload.word, words[index][0])
                ctx.set(dut.words.payload.count, words[index][1])
            ready = rng.random() < 0.7
            ctx.set(dut.bytes.ready, ready)
            assert ctx.get(dut.idle) == ctx.get(dut.words.ready) == (pending == 0)
            assert ctx.get(dut.bytes.valid) == (pending != 0)
            if ctx.get(dut.bytes.valid) and ready:
                received.append(ctx.get(dut.bytes.payload))
                pending -= 1
            if offering and ctx.get(dut.words.ready):
                pending += words[index][1]
                index += 1
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert received == expected
