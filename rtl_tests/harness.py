"""The cocotb side of every RTL test: drives and records ``lib.stream`` ports of one design.

It reads a JSON job (``ABCHW_HARNESS_JOB``) written by :mod:`rtl_tests.sim`: constant inputs,
input streams with their beats, output streams with the number of beats expected, a stall
probability per stream and a seed. Every cycle, at the falling edge, it offers the next input
beat (valid held until accepted, as AXI-stream and ``lib.stream`` require) or withholds it,
and raises or drops each output's ready, at random; after the edges settle it records which
handshakes complete at the next rising edge. Once every output has its beats it keeps ready high
for ``drain_cycles`` more cycles and counts any extra beat. Results go to ``ABCHW_HARNESS_OUT``.
The comparison with the golden model happens in pytest, not here.
"""

import json
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge


def _port(dut, stream, field):
    return getattr(dut, f"{stream}__{field}")


@cocotb.test()
async def drive_streams(dut):
    with open(os.environ["ABCHW_HARNESS_JOB"]) as file:
        job = json.load(file)
    rng = random.Random(job["seed"])
    inputs = [(spec["port"], [int(beat, 16) for beat in spec["beats"]], spec["stall"])
              for spec in job["inputs"]]
    outputs = [(spec["port"], spec["count"], spec["stall"]) for spec in job["outputs"]]
    sent = {port: 0 for port, _, _ in inputs}
    received = {port: [] for port, _, _ in outputs}
    extra = {port: 0 for port, _, _ in outputs}

    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    for name, value in job["static"].items():
        getattr(dut, name).value = value
    for port, _, _ in inputs:
        _port(dut, port, "valid").value = 0
    for port, _, _ in outputs:
        _port(dut, port, "ready").value = 0
    dut.rst.value = 1
    for _ in range(2):
        await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)
    dut.rst.value = 0

    cycle, drain, finished = 0, 0, None
    offered = {port: False for port, _, _ in inputs}
    while cycle < job["max_cycles"] and drain < job["drain_cycles"]:
        done = all(len(received[port]) >= count for port, count, _ in outputs)
        drain += done
        if done and finished is None:
            finished = cycle
        for port, beats, stall in inputs:
            index = sent[port]
            # A beat once offered stays offered until it is taken.
            offered[port] = index < len(beats) and (offered[port] or rng.random() >= stall)
            _port(dut, port, "valid").value = int(offered[port])
            if index < len(beats):
                _port(dut, port, "payload").value = beats[index]
        for port, _, stall in outputs:
            _port(dut, port, "ready").value = int(done or rng.random() >= stall)
        await ReadOnly()
        for port, _, _ in inputs:
            if offered[port] and _port(dut, port, "ready").value:
                sent[port] += 1
                offered[port] = False
        for port, count, _ in outputs:
            if _port(dut, port, "valid").value and _port(dut, port, "ready").value:
                if len(received[port]) < count:
                    received[port].append(hex(int(_port(dut, port, "payload").value)))
                else:
                    extra[port] += 1
        await FallingEdge(dut.clk)
        cycle += 1

    with open(os.environ["ABCHW_HARNESS_OUT"], "w") as file:
        json.dump({"outputs": received, "extra": extra, "sent": sent,
                   "finished": finished}, file)
