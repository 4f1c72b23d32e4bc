"""The link's CRC-16/CCITT-FALSE step in gateware against ``binascii.crc_hqx``."""

import binascii
import random

from amaranth import Module, Signal
from amaranth.sim import Simulator

from abchw.gateware.link.crc import CRC_INIT, crc16_next


def test_crc16_next_matches_crc_hqx():
    rng = random.Random(7)
    bodies = [b"", b"\x00", b"\xff", b"123456789"] + [rng.randbytes(rng.randrange(1, 40))
                                                       for _ in range(30)]
    crc, byte = Signal(16), Signal(8)
    following = Signal(16)
    m = Module()
    m.d.comb += following.eq(crc16_next(crc, byte))
    results = []

    async def testbench(ctx):
        for body in bodies:
            value = CRC_INIT
            for data in body:
                ctx.set(crc, value)
                ctx.set(byte, data)
                value = ctx.get(following)
            results.append(value)

    sim = Simulator(m)
    sim.add_testbench(testbench)
    sim.run()
    assert results == [binascii.crc_hqx(body, 0xFFFF) for body in bodies]
    assert binascii.crc_hqx(b"123456789", 0xFFFF) == 0x29B1   # the catalogue's check value
