"""XNOR-popcount PE on the simulator, against the golden model's XNOR-popcount."""

import numpy as np
import pytest

from abchw.gateware.popcount import ChunkLayout, XnorPopcount, vector_chunks
from abchw.golden.bits import pack_bits, xnor_popcount
from abchw.network import K_MAX
from sim import Simulation, pack

CONFIGS = {  # name: (lanes, k_max)
    "s1": (1, 40),
    "s7": (7, 300),
    "s64": (64, K_MAX),
    "s256": (256, 2000),
}


@pytest.fixture(scope="module", params=list(CONFIGS))
def pe(request):
    lanes, k_max = CONFIGS[request.param]
    dut = XnorPopcount(lanes=lanes, k_max=k_max)
    return dut, Simulation(dut, name=f"popcount_{request.param}")


def vectors(rng, lanes, k_max, count):
    """Random vectors plus the edge cases: K = 1, S-1, S, S+1, k_max; all-match, no-match."""
    edges = {1, max(1, lanes - 1), lanes, lanes + 1, 2 * lanes + 1, k_max}
    lengths = sorted(edges & set(range(1, k_max + 1)))
    lengths += list(rng.integers(1, min(k_max, 6 * lanes) + 1, size=count))
    cases = []
    for k in lengths:
        w = rng.integers(0, 2, k).astype(bool)
        cases += [(w, rng.integers(0, 2, k).astype(bool))]
    w = rng.integers(0, 2, k_max).astype(bool)
    cases += [(w, w.copy()), (w, ~w), (np.ones(k_max, bool), np.ones(k_max, bool)),
              (np.zeros(k_max, bool), np.zeros(k_max, bool))]
    return cases


def golden(cases):
    return [int(xnor_popcount(pack_bits(a), pack_bits(w), len(w))) for w, a in cases]


@pytest.mark.parametrize("stall, seed", [(0.0, 1), (0.3, 2), (0.7, 3)])
def test_popcounts_equal_the_golden_model(pe, stall, seed):
    dut, sim = pe
    rng = np.random.default_rng(seed)
    cases = vectors(rng, dut.lanes, dut.k_max, 40)
    layout = ChunkLayout(dut.lanes)
    beats = [pack(layout, chunk) for w, a in cases for chunk in vector_chunks(w, a, dut.lanes)]
    result = sim.run(inputs={"chunks": beats}, outputs={"popcounts": len(cases)},
                     stall=stall, seed=seed)
    assert result["outputs"]["popcounts"] == golden(cases)
    assert result["extra"] == {"popcounts": 0}
    if stall == 0:  # one chunk per cycle, no bubble: beats + pipeline latency
        assert result["finished"] == len(beats) + dut.latency
