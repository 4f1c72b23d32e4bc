"""The model compiler and program images: layouts the golden model agrees with, fit errors that
name the memory and the numbers, and program images checked on load."""

import numpy as np
import pytest
from networks import random_network

from abchw.builtin import default_model
from abchw.compiler import CompileError, compile_network
from abchw.errors import AbchwError
from abchw.gateware.engine.config import EngineConfig
from abchw.gateware.engine.engine import MEMORIES, memory_shapes
from abchw.gateware.engine.descriptor import stage_rows
from abchw.network import Conv, Dense, MaxPool, Network
from abchw.program import MAGIC, ProgramError, read_program

BUILD = EngineConfig(m=3, n=3, pes=4, lanes=16)


def dense_network(m=1, inputs=8, outputs=3, rng=None):
    rng = rng or np.random.default_rng(0)
    bases = rng.choice(np.array([-1, 1], dtype=np.int8), size=(m, outputs, inputs))
    return Network(input_shape=(inputs, 1, 1), layers=[Dense(bases=bases, alpha=np.ones(m))])


def test_builtin_model_layout():
    program = compile_network(default_model(), BUILD)
    counts = {name: len(program.memories[name]) for name in MEMORIES}
    # conv 1->16 3x3, conv 16->32 3x3 + pool, dense 512->10; M = 3, 4 PEs of 16 lanes:
    # weights = groups * M * taps * words: 4*3*9*1 + 8*3*9*1 + 3*3*16*2 = 108 + 216 + 288
    assert counts == {"descriptors": 3 * stage_rows(BUILD), "weights": 612, "coefficients": 4 * 3 * 8 + 8 * 3 * 3
                      + 3 * 3 * 3, "thresholds": 16 + 32}
    assert program.stages[-1].final and not program.stages[0].final
    assert program.result_bytes == 10 * BUILD.score_bytes + 24


def test_fill_lanes_and_partial_groups():
    """A dense layer of 3 outputs on 4 PEs, 8 inputs on 16 lanes: lanes 8..15 of every PE and
    the whole fourth PE hold weight 1; the fourth PE's coefficients are 0."""
    network = dense_network(inputs=8, outputs=3)
    program = compile_network(network, BUILD)
    (word,) = program.memories["weights"]
    for pe in range(4):
        lanes = (word >> (16 * pe)) & 0xFFFF
        assert lanes >> 8 == 0xFF
        if pe == 3:
            assert lanes == 0xFFFF
        else:
            expected = sum(int(b > 0) << i for i, b in
                           enumerate(network.stages[0].linear.bases[0, pe]))
            assert lanes & 0xFF == expected
    for coefficients in program.memories["coefficients"]:
        assert (coefficients >> (3 * 16)) & 0xFFFF == 0


@pytest.mark.parametrize("field, value, memory", [
    ("act_words", 64, "activation memory"), ("weight_words", 8, "weights memory"),
    ("coef_words", 8, "coefficients memory"), ("threshold_words", 8, "thresholds memory"),
    ("stages_max", 2, "descriptor memory")])
def test_does_not_fit(field, value, memory):
    config = EngineConfig(**{**BUILD.as_dict(), field: value})
    with pytest.raises(CompileError, match=f"{memory}.*needs [0-9]+ .*the build has"):
        compile_network(default_model(), config)


def test_fit_message_numbers():
    config = EngineConfig(**{**BUILD.as_dict(), "weight_words": 100})
    with pytest.raises(CompileError) as error:
        compile_network(default_model(), config)
    assert str(error.value) == (
        "the network does not fit: the weights memory needs 612 words of pes * lanes bits, the "
        "build has 100; rebuild with more weight memory")


def test_m_or_n_above_the_build():
    with pytest.raises(CompileError, match="stage 0 .* M = 5 weight bases, the build has M = 3; "
                                           "rebuild with --M 5"):
        compile_network(dense_network(m=5), BUILD)
    rng = np.random.default_rng(3)
    network = random_network(rng, max_stages=2, max_m=1, max_n=5, exact=True)
    while len(network.stages) < 2:
        network = random_network(rng, max_stages=2, max_m=1, max_n=5, exact=True)
    with pytest.raises(CompileError, match="N = 5 activations, the build has N = 3"):
        compile_network(network, BUILD)


def test_smaller_m_and_n_run_on_a_larger_build():
    rng = np.random.default_rng(5)
    network = random_network(rng, max_stages=3, max_m=1, max_n=1, exact=True)
    config = EngineConfig(m=8, n=8, pes=2, lanes=8)
    program = compile_network(network, config)
    assert len(program.memories["descriptors"]) == len(network.stages) * stage_rows(config)


def test_pool_larger_than_the_engine():
    rng = np.random.default_rng(0)
    bases = rng.choice(np.array([-1, 1], dtype=np.int8), size=(1, 2, 1, 1, 1))
    network = Network(input_shape=(1, 6, 6), layers=[
        Conv(bases=bases, alpha=np.ones(1)), MaxPool(size=5, stride=1)])
    with pytest.raises(CompileError, match="max-pool size 5 exceeds the engine's 4"):
        compile_network(network, BUILD)


def test_program_image_round_trip(tmp_path):
    program = compile_network(default_model(), BUILD)
    path = tmp_path / "model.abchwprog"
    program.save(path)
    loaded = read_program(path, config=BUILD)
    assert loaded.memories == program.memories
    assert loaded.stages == program.stages
    assert loaded.load_bytes() == program.load_bytes()
    assert (loaded.input_shape, loaded.output_shape) == (program.input_shape,
                                                         program.output_shape)


def corrupt_images():
    blob = compile_network(default_model(), BUILD).to_bytes()
    flipped = bytearray(blob)
    flipped[len(blob) // 2] ^= 0x10
    version = bytearray(blob)
    version[len(MAGIC)] = 9
    return {
        "not a program image": b"hello world, this is not a program",
        "corrupt \\(CRC mismatch\\)": bytes(flipped),
        "corrupt \\(CRC mismatch\\)|not an abchw": blob[:len(blob) - 100],
        "version 9 program image": bytes(version),
        "empty": b"",
    }


@pytest.mark.parametrize("case", list(corrupt_images()))
def test_corrupt_program_image(case):
    with pytest.raises(ProgramError, match="program image|corrupt|not an abchw"):
        read_program(corrupt_images()[case])


def test_program_for_another_build():
    blob = compile_network(default_model(), BUILD).to_bytes()
    other = EngineConfig(m=3, n=3, pes=8, lanes=16)
    with pytest.raises(ProgramError, match="was compiled for the build .* compile the model for "
                                           "this build"):
        read_program(blob, config=other)


def test_missing_program_file(tmp_path):
    with pytest.raises(ProgramError, match="cannot read program image .*missing"):
        read_program(tmp_path / "missing.abchwprog")


def test_wrong_image_shape():
    program = compile_network(default_model(), BUILD)
    with pytest.raises(AbchwError, match=r"images must have shape \(C, H, W\) = \(1, 8, 8\)"):
        program.run_bytes(np.zeros((2, 1, 8, 7), dtype=np.uint8))
    with pytest.raises(AbchwError, match="integers in 0..255"):
        program.run_bytes(np.full((1, 1, 8, 8), 300))


@pytest.mark.parametrize("kwargs, message", [
    ({"pes": 0}, "pes must be an integer in 1..64, not 0"),
    ({"lanes": 2000}, "lanes must be an integer in 1..1024, not 2000"),
    ({"act_words": 1}, "act_words must be an integer in 2..1048576, not 1"),
    ({"stages_max": 17}, "stages_max must be an integer in 1..16, not 17"),
    ({"hard_macro": 1}, "hard_macro must be a bool, not 1"),
    ({"m": 9}, "m must be an integer in 1..8, not 9"),
    ({"n": 0}, "n must be an integer in 1..8, not 0"),
])
def test_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EngineConfig(**{"m": 3, "n": 3, "pes": 4, "lanes": 16, **kwargs})


def test_memory_word_widths():
    shapes = memory_shapes(BUILD)
    assert shapes["weights"][0].width == 4 * 16
    assert shapes["coefficients"][0].size == 4 * 16
    assert shapes["thresholds"][0].size == 3 * BUILD.acc_bits + 1


@pytest.mark.parametrize("component", ["Engine", "Sequencer", "PeArray", "ValueBuffer",
                                       "ThresholdFetch", "PlaneWriter"])
def test_engine_components_need_a_config(component):
    import importlib
    modules = {"Engine": "engine", "Sequencer": "sequencer", "PeArray": "pe_array",
               "ValueBuffer": "value_buffer", "ThresholdFetch": "threshold_fetch",
               "PlaneWriter": "plane_writer"}
    cls = getattr(importlib.import_module(f"abchw.gateware.engine.{modules[component]}"),
                  component)
    with pytest.raises(TypeError, match=r"config must be an EngineConfig, not \{'m': 3\}"):
        cls(config={"m": 3})
    with pytest.raises(TypeError):
        cls(BUILD)   # keyword-only
