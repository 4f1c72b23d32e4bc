"""Every stage of whole networks on the engine's RTL, through ``abchw-sim``'s Verilator runner:
the feature maps written to the activation memory and the scores, bit for bit against the golden
model, with stalls on the command and result streams; the built-in model on the whole test split.
"""

import numpy as np
import pytest
from networks import random_images, random_network

from abchw.builtin import default_model, digits_test_set
from abchw.gateware.engine.config import EngineConfig
from abchw.simulate import simulate

# 5 PEs of 16 lanes: partial channel groups, pixels of more than one word, chunked dot products.
BUILD = EngineConfig(m=5, n=5, pes=5, lanes=16, act_words=4096, weight_words=4096,
                     coef_words=2048, threshold_words=512)
MN = [(m, n) for m in (1, 2, 3, 5) for n in (1, 2, 3, 5)]


@pytest.mark.parametrize("m, n", MN)
def test_random_network_layers(m, n):
    rng = np.random.default_rng(7919 * m + n)
    network = random_network(rng, max_stages=4, max_m=m, max_n=n, max_channels=20,
                             max_size=11, exact=True)
    images = random_images(rng, network, batch=3)
    report = simulate(network, images, BUILD, stall_in=0.3, stall_out=0.3, seed=m * n)
    assert [stage.bit_exact for stage in report.stages] == [True] * len(report.stages)
    assert np.array_equal(report.scores, report.expected_scores)
    for stage in report.stages:
        assert 0 < stage.beats <= stage.cycles


def test_builtin_model_whole_test_split():
    """``abchw-sim`` on the built-in model at M = N = 3 (the default build) agrees with the
    golden model on every test image, and keeps the PE array busy on the conv layers."""
    images, labels = digits_test_set()
    config = EngineConfig(m=3, n=3, pes=8, lanes=32)
    report = simulate(default_model(), images, config, labels=labels)
    assert report.bit_exact
    assert np.array_equal(report.scores, report.expected_scores)
    conv = [stage for stage in report.stages if stage.kind == "conv"]
    assert sum(s.beats for s in conv) / sum(s.cycles for s in conv) >= 0.8


def test_builtin_model_with_weights_in_spram():
    """A UP5K-shaped build (weights in four SPRAMs, 64 lanes, memories just big enough) runs the
    built-in model bit-exactly (behavioural SPRAM; rtl_tests/test_spram.py checks it equals the
    hard macro)."""
    images, labels = digits_test_set()
    config = EngineConfig(m=3, n=3, pes=4, lanes=16, act_words=768, weight_words=16384,
                          coef_words=256, threshold_words=256, stages_max=4, weight_spram=True)
    report = simulate(default_model(), images[:40], config, labels=labels[:40],
                      stall_in=0.2, stall_out=0.2, seed=3)
    assert report.bit_exact
    assert np.array_equal(report.scores, report.expected_scores)
