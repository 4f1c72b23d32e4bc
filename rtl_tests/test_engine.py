"""The whole engine on the cocotb simulator: programs loaded and images run through its byte
streams, with random stalls on both, against the golden integer model.

Random networks cover every layer kind (conv 1x1 and 3x3 with stride and padding, max-pool with
overlapping windows, dense after conv and after dense, batch norm + activation and folded
thresholds) with M, N in {1, 2, 3, 5} and odd sizes, on a build with 3 PEs of 8 lanes, so that
channel groups are partial and a pixel's channels span several words; the built-in model runs on
an M = N = 3 build. The activation maps of every stage are checked bit for bit by
``test_engine_layers.py`` (the Verilator runner records the memory writes).
"""

import numpy as np
import pytest
from networks import random_images, random_network
from sim import Simulation

from abchw.builtin import default_model, digits_test_set
from abchw.compiler import compile_network
from abchw.gateware.engine.config import EngineConfig
from abchw.gateware.engine.engine import Engine
from abchw.golden.integer_model import integer_forward, lower

SMALL = EngineConfig(m=5, n=5, pes=3, lanes=8, act_words=2048, weight_words=2048,
                     coef_words=1024, threshold_words=256)
DEFAULT = EngineConfig(m=3, n=3, pes=4, lanes=32, act_words=1024, weight_words=1024,
                       coef_words=256, threshold_words=128)
MN = [(1, 1), (1, 5), (2, 3), (3, 2), (3, 3), (5, 1), (5, 5), (2, 2)]


@pytest.fixture(scope="module")
def small():
    return Simulation(Engine(config=SMALL), name="engine_small")


def run_engine(simulation, program, images, *, stall, seed):
    stream = program.load_bytes() + program.run_bytes(images)
    result = simulation.run(inputs={"commands": list(stream)},
                            outputs={"results": program.result_bytes * len(images)},
                            stall=stall, seed=seed, max_cycles=400_000)
    assert result["finished"] is not None, "the engine did not return every result byte"
    assert result["extra"] == {"results": 0}
    return program.decode_results(bytes(result["outputs"]["results"]), len(images))


def expected_scores(network, config, images):
    return integer_forward(lower(network, coef_bits=config.coef_bits), images)[-1].y


@pytest.mark.parametrize("m, n", MN)
def test_random_networks(small, m, n):
    rng = np.random.default_rng(1000 * m + n)
    network = random_network(rng, max_stages=3, max_m=m, max_n=n, max_channels=7, max_size=9,
                             exact=True)
    images = random_images(rng, network, batch=2)
    program = compile_network(network, SMALL)
    scores, counters = run_engine(small, program, images, stall=0.4 if m % 2 else 0.0,
                                  seed=m + n)
    expected = expected_scores(network, SMALL, images)
    assert np.array_equal(scores, expected.reshape(scores.shape))
    for counter in counters:
        assert 0 < counter["busy_cycles"] <= counter["compute_cycles"]


def test_builtin_model():
    network = default_model()
    images, _ = digits_test_set()
    images = images[:2]
    program = compile_network(network, DEFAULT)
    scores, counters = run_engine(Simulation(Engine(config=DEFAULT), name="engine_default"), program,
                                  images, stall=0.3, seed=7)
    assert np.array_equal(scores, expected_scores(network, DEFAULT, images))
    # The beats do not depend on the data; the cycles do, a little, on the output stalls.
    assert counters[0]["busy_cycles"] == counters[1]["busy_cycles"]
    assert counters[0]["busy_cycles"] <= counters[0]["compute_cycles"]
