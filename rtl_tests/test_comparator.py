"""Shift-comparator bank on the simulator, against the golden model's comparators.

Expected bits come from :func:`abchw.golden.thresholds.compare` (edge cases and random beats) and
from :func:`abchw.golden.integer_model.integer_forward` (a lowered network's stage).
"""

import numpy as np
import pytest
from lowered_network import pooled_stage

from abchw.gateware.comparator import ComparatorBank, ComparatorLayout
from abchw.golden.thresholds import compare
from sim import Simulation

CONFIGS = {  # name: build parameters
    "m1n1": dict(m=1, n=1),                         # 34-bit accumulator, one lane
    "m2n3": dict(m=2, n=3, k_max=9, coef_bits=4),   # 11 bits: random values often tie
    "m8n8": dict(m=8, n=8),                         # 37 bits, the widest build
}


@pytest.fixture(scope="module", params=list(CONFIGS))
def bank(request):
    dut = ComparatorBank(**CONFIGS[request.param])
    return dut, Simulation(dut, name=f"comparator_{request.param}")


def edge_cases(dut, rng):
    """``(values, thresholds (B, N), invert)``: values at ``+-bound``, 0, +-1, the width's
    extremes and a random negative one, each against ``-(bound+1)`` (always), ``bound+1``
    (never), itself (tie), its neighbours, the width's extremes and a random negative threshold;
    every threshold in every lane, with and without ``invert``."""
    bound = dut.arithmetic.bound
    low, high = -(1 << dut.acc_bits - 1), (1 << dut.acc_bits - 1) - 1
    values, thresholds = [], []
    for value in (-bound, bound, 0, -1, 1, low, high, int(rng.integers(-bound, 0))):
        candidates = np.clip([-(bound + 1), bound + 1, value, value - 1, value + 1, low, high,
                              int(rng.integers(-bound - 1, 0))], low, high)
        for shift in range(len(candidates)):
            values += [value, value]
            thresholds += [np.roll(candidates, shift)[:dut.n]] * 2
    return np.array(values), np.array(thresholds), np.arange(len(values)) % 2 == 1


def random_cases(dut, rng, count):
    """Random values in ``[-bound, bound]`` and thresholds in ``[-(bound+1), bound+1]``, a third
    of the thresholds within 1 of their value."""
    bound = dut.arithmetic.bound
    values = rng.integers(-bound, bound + 1, size=count)
    thresholds = rng.integers(-bound - 1, bound + 2, size=(count, dut.n))
    near = rng.random(thresholds.shape) < 1 / 3
    thresholds[near] = (values[:, None] + rng.integers(-1, 2, size=thresholds.shape))[near]
    return values, np.clip(thresholds, -bound - 1, bound + 1), rng.random(count) < 0.5


def check(dut, sim, values, thresholds, invert, bits, *, stall=0.0, seed=0):
    """Drive one beat per value; the bank must emit ``bits`` ``(N, B)``, lane i as bit i."""
    layout = ComparatorLayout(dut.acc_bits, dut.n)
    beats = [layout.const({"value": int(v), "thresholds": [int(t) for t in ts],
                           "invert": int(i)}).as_bits()
             for v, ts, i in zip(values, thresholds, invert)]
    expected = (bits.T.astype(np.int64) << np.arange(dut.n)).sum(axis=1).tolist()
    result = sim.run(inputs={"values": beats}, outputs={"bits": len(beats)}, stall=stall,
                     seed=seed)
    assert result["outputs"]["bits"] == expected
    assert result["extra"] == {"bits": 0}
    if stall == 0:  # one value per cycle, no bubble: beats + latency
        assert result["finished"] == len(beats) + dut.latency


@pytest.mark.parametrize("stall, seed", [(0.0, 1), (0.3, 2), (0.7, 3)])
def test_bits_equal_the_golden_comparators(bank, stall, seed):
    dut, sim = bank
    rng = np.random.default_rng(seed)
    cases = [np.concatenate(parts) for parts in zip(edge_cases(dut, rng),
                                                    random_cases(dut, rng, 150))]
    values, thresholds, invert = cases
    # compare() takes y (B, C) with per-channel thresholds: make every beat its own channel.
    bits = compare(values[None], thresholds, invert)[:, 0]
    check(dut, sim, values, thresholds, invert, bits, stall=stall, seed=seed)


def test_bits_equal_a_lowered_network(bank):
    """Every pooled value of a real stage against its channel's thresholds: integer_forward's
    bits, including the inverted and the constant (gamma = 0) channel."""
    dut, sim = bank
    stage, _, result = pooled_stage(7, m=dut.arithmetic.m, n=dut.n,
                                    coef_bits=dut.arithmetic.coef_bits, pool=(2, 2))
    assert stage.acc_bits <= dut.acc_bits
    assert (np.abs(stage.thresholds[2]) == stage.bound + 1).all() and stage.invert[1]
    channel = np.broadcast_to(np.arange(stage.thresholds.shape[0])[:, None, None],
                              result.y.shape).ravel()
    check(dut, sim, result.y.ravel(), stage.thresholds[channel], stage.invert[channel],
          result.bits.reshape(dut.n, -1), stall=0.3, seed=4)
