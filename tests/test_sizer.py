"""The auto-sizer: block RAM counts, the arrays it picks per board, and its refusals."""

from dataclasses import replace

import pytest

from abchw.build.sizer import LC_HEADROOM, block_rams, estimate, size_engine, with_bases
from abchw.builtin import default_model
from abchw.compiler import compile_network
from abchw.errors import AbchwError
from boards import board


@pytest.mark.parametrize("width, depth, family, expected", [
    (16, 256, "ice40", 1), (16, 257, "ice40", 2), (8, 512, "ice40", 1), (109, 64, "ice40", 7),
    (4, 1024, "ice40", 1), (144, 32, "ice40", 9), (36, 512, "ecp5", 1), (72, 1024, "ecp5", 4),
    (1, 16384, "ecp5", 1)])
def test_block_rams_take_the_cheapest_shape(width, depth, family, expected):
    assert block_rams(width, depth, family) == expected


def test_icebreaker_takes_m3n3_below_the_fill_that_closes_timing():
    """Measured (abchw/data/resource_model.json, boards/icebreaker.py): at M = N = 3 the arrays
    of the fewest beats, 4 x 16 and 8 x 8, would fill 88-94 % of the UP5K's cells and miss
    48 MHz; within its sizer_fill the sizer takes the fewest beats: 4 PEs x 8 lanes, weights in
    SPRAM, multipliers in SB_MAC16."""
    icebreaker = board("icebreaker")
    sizing = size_engine(icebreaker, m=3, n=3)
    config = sizing.config
    assert config.weight_spram and config.hard_macro
    assert (config.pes, config.lanes) == (4, 8)
    assert sizing.estimate["spram"] == 2 and sizing.estimate["dsp"] == config.pes
    assert all(sizing.estimate[name] <= icebreaker.budget[name] for name in ("ebr", "dsp"))
    assert sizing.estimate["lcs"] <= icebreaker.sizer_fill * icebreaker.budget["lcs"]
    program = compile_network(default_model(), config)
    assert sizing.beats == sum(stage.beats for stage in program.stages) > 0
    # More lanes are not faster here: the first layer has one input channel.
    for pes, lanes in ((3, 16), (2, 32)):
        wider = size_engine(icebreaker, m=3, n=3, pes=pes, lanes=lanes)
        assert wider.beats > sizing.beats and wider.estimate["lcs"] > sizing.estimate["lcs"]
    # 4 x 16 is faster and over the sizer's fill, but places: asked for, it is built.
    fast = size_engine(icebreaker, m=3, n=3, pes=4, lanes=16)
    assert (icebreaker.sizer_fill * icebreaker.budget["lcs"] < fast.estimate["lcs"]
            <= LC_HEADROOM * icebreaker.budget["lcs"])
    assert fast.beats < sizing.beats


def test_ecp5_board_takes_the_smallest_of_the_fastest_arrays():
    ulx3s = board("ulx3s-85f")
    sizing = size_engine(ulx3s, m=3, n=3)
    config = sizing.config
    assert not config.weight_spram and sizing.estimate["spram"] == 0
    assert config.pes * config.lanes > 64
    assert all(sizing.estimate[name] <= ulx3s.budget[name] for name in ("ebr", "dsp"))
    program = compile_network(default_model(), config)
    assert sizing.beats == sum(stage.beats for stage in program.stages)
    # Twice the PEs or the lanes are no faster (the network's widths are reached), only larger.
    for pes, lanes in ((2 * config.pes, config.lanes), (config.pes, 2 * config.lanes)):
        larger = size_engine(ulx3s, m=3, n=3, pes=pes, lanes=lanes)
        assert larger.beats == sizing.beats and larger.estimate["lcs"] > sizing.estimate["lcs"]
    # The widest array does not fit the device's block RAMs.
    with pytest.raises(AbchwError, match=r"needs .*'ebr'"):
        size_engine(ulx3s, m=3, n=3, pes=64, lanes=256)


@pytest.mark.parametrize("m, n", [(1, 1), (2, 3), (5, 5)])
def test_smaller_and_larger_m_n_size_the_builtin_geometry(m, n):
    sizing = size_engine(board("ulx3s-85f"), m=m, n=n)
    assert (sizing.config.m, sizing.config.n) == (m, n)
    compile_network(with_bases(default_model(), m, n), sizing.config)


def test_refusals_name_the_problem():
    icebreaker = board("icebreaker")
    with pytest.raises(AbchwError, match=r"M must be an integer in 1\.\.8, not 9"):
        size_engine(icebreaker, m=9, n=3)
    with pytest.raises(AbchwError, match=r"N must be an integer in 1\.\.8, not 0"):
        size_engine(icebreaker, m=3, n=0)
    with pytest.raises(AbchwError, match=r"--pes 8 --lanes 32: a weight_spram build reads at "
                                         r"most 64 bits a beat"):
        size_engine(icebreaker, m=3, n=3, pes=8, lanes=32)
    with pytest.raises(AbchwError, match=r"8 PEs x 8 lanes\) needs .*'ebr': ([3-9][0-9])"):
        size_engine(icebreaker, m=3, n=3, pes=8, lanes=8)


def test_estimate_counts_spram_only_for_spram_builds():
    sizing = size_engine(board("ulx3s-85f"), m=1, n=1)
    config = replace(sizing.config, pes=2, lanes=16, weight_spram=True, weight_words=16384)
    assert estimate(config, "ice40")["spram"] == 2
    assert estimate(replace(config, weight_spram=False, weight_words=256), "ice40")["spram"] == 0

