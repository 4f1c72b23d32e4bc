"""Max-pooling unit on the simulator, against the golden model's max-pooling.

The stream is built as the engine emits it: each pooling window's values consecutively
(``(ky, kx)`` order, the last flagged), windows in ``max_pool2d``'s output order
``(b, c, row, col)``; expected maxima come from :func:`abchw.golden.float_model.max_pool2d`
(random maps with edge values) and from :func:`abchw.golden.integer_model.integer_forward`
(a lowered network's stage, fed its accumulator values before pooling).
"""

import itertools

import numpy as np
import pytest
from lowered_network import pooled_stage

from abchw.gateware.maxpool import MaxPoolUnit, PoolLayout
from abchw.golden.float_model import max_pool2d
from sim import Simulation

CONFIGS = {  # name: build parameters
    "m1n1": dict(m=1, n=1),                         # 34-bit accumulator
    "m2n3": dict(m=2, n=3, k_max=9, coef_bits=4),   # 11 bits: random values often tie
    "m8n8": dict(m=8, n=8),                         # 37 bits, the widest build
}
POOLS = [(2, 2), (3, 2), (3, 3), (1, 1)]  # (size, stride); 1/1 is "no pooling"


@pytest.fixture(scope="module", params=list(CONFIGS))
def unit(request):
    dut = MaxPoolUnit(**CONFIGS[request.param])
    return dut, Simulation(dut, name=f"maxpool_{request.param}")


def window_stream(y, size, stride):
    """``(value, last)`` pairs of every pooling window of ``y`` ``(B, C, H, W)``, engine order."""
    batch, channels, height, width = y.shape
    rows, cols = (height - size) // stride + 1, (width - size) // stride + 1
    return [(y[b, c, row * stride + ky, col * stride + kx], (ky, kx) == (size - 1, size - 1))
            for b, c, row, col in itertools.product(range(batch), range(channels), range(rows),
                                                    range(cols))
            for ky, kx in itertools.product(range(size), repeat=2)]


def edge_map(dut, rng):
    """A random ``(2, 4, 9, 8)`` map in ``[-bound, bound]`` (odd and even sides: trailing rows and
    columns drop) with one constant channel (all-equal windows), one channel drawn from
    ``{-bound, -1, 0, 1, bound}`` (ties, extremes), one channel of the width's most negative
    value and single ``+-bound`` entries."""
    bound = dut.arithmetic.bound
    y = rng.integers(-bound, bound + 1, size=(2, 4, 9, 8))
    y[0, 1] = int(rng.integers(-bound, bound + 1))
    y[0, 2] = rng.choice([-bound, -1, 0, 1, bound], size=(9, 8))
    y[1, 0] = -(1 << dut.acc_bits - 1)
    y[1, 3, rng.integers(0, 9, 4), rng.integers(0, 8, 4)] = [bound, -bound, bound, -bound]
    return y


def check(dut, sim, stream, expected, *, stall=0.0, seed=0):
    """Drive ``stream`` ``(value, last)``; the unit must emit the signed ``expected`` maxima."""
    layout = PoolLayout(dut.acc_bits)
    beats = [layout.const({"value": int(v), "last": int(last)}).as_bits() for v, last in stream]
    result = sim.run(inputs={"values": beats}, outputs={"maxima": len(expected)}, stall=stall,
                     seed=seed)
    sign = 1 << dut.acc_bits - 1
    assert [(word ^ sign) - sign for word in result["outputs"]["maxima"]] == list(expected)
    assert result["extra"] == {"maxima": 0}
    if stall == 0:  # one value per cycle, no bubble between groups: beats + latency
        assert result["finished"] == len(beats) + dut.latency


@pytest.mark.parametrize("stall, seed", [(0.0, 1), (0.3, 2), (0.7, 3)])
@pytest.mark.parametrize("pool", POOLS, ids=lambda pool: "%d_%d" % pool)
def test_maxima_equal_max_pool2d(unit, pool, stall, seed):
    dut, sim = unit
    y = edge_map(dut, np.random.default_rng(seed))
    check(dut, sim, window_stream(y, *pool), max_pool2d(y, *pool).ravel().tolist(),
          stall=stall, seed=seed)


def test_groups_of_any_length(unit):
    """The unit does not know the window size: groups of 1 to 12 values, back to back."""
    dut, sim = unit
    rng = np.random.default_rng(5)
    bound = dut.arithmetic.bound
    groups = [rng.integers(-bound, bound + 1, size=rng.integers(1, 13)).tolist()
              for _ in range(60)]
    stream = [(v, i == len(group) - 1) for group in groups for i, v in enumerate(group)]
    check(dut, sim, stream, [max(group) for group in groups], stall=0.3, seed=5)


@pytest.mark.parametrize("pool", [(2, 2), (3, 2)], ids=lambda pool: "%d_%d" % pool)
def test_maxima_equal_a_lowered_network(unit, pool):
    """A real stage's accumulator values before pooling, windowed: integer_forward's pooled y."""
    dut, sim = unit
    stage, unpooled, result = pooled_stage(11, m=dut.arithmetic.m, n=dut.arithmetic.n,
                                           coef_bits=dut.arithmetic.coef_bits, pool=pool)
    assert stage.acc_bits <= dut.acc_bits and stage.pool == pool
    check(dut, sim, window_stream(unpooled, *pool), result.y.ravel().tolist(), stall=0.3, seed=6)
