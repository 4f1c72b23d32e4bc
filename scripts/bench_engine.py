"""Benchmark the engine's RTL on the built-in model: cycles, PE utilization, simulation speed.

    python scripts/bench_engine.py [--pes 8] [--lanes 32] [--repeats 3] [--out docs/benchmarks]

Runs ``abchw-sim``'s simulation (Verilator + the C++ cycle loop) of the M = N = 3 build on the
whole built-in test split and checks every layer against the golden model; reports per-stage
cycles per image, PE utilization (cycles in which the array took a beat) and lane utilization
(useful binary MACs over the array's capacity in those beats), latency and images/s at 48 MHz.
Simulation speed: median over ``--repeats`` runs of the same stream, in simulated cycles per
second of the C++ loop; beside it, the same RTL driven cycle by cycle from Python by cocotb
(the rtl_tests harness, one image), and the ratio. Writes ``engine.json`` and ``engine.md``.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from abchw import builtin
from abchw.atomic import atomic_write
from abchw.compiler import compile_network
from abchw.gateware.engine.config import EngineConfig
from abchw.gateware.engine.engine import Engine
from abchw.machine import machine_description
from abchw.sim import build_simulator, run_simulator
from abchw.simulate import engine_verilog, simulate

COMMAND = "python scripts/bench_engine.py"
FREQ_MHZ = 48.0


def cocotb_speed(config, program, images):
    """Simulated cycles per second when cocotb drives the engine's streams every cycle."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "rtl_tests"))
    from sim import Simulation
    simulation = Simulation(Engine(config=config), name="engine_bench")
    stream = program.load_bytes() + program.run_bytes(images)
    start = time.perf_counter()
    result = simulation.run(inputs={"commands": list(stream)},
                            outputs={"results": program.result_bytes * len(images)},
                            max_cycles=10_000_000, drain_cycles=1)
    seconds = time.perf_counter() - start
    return result["finished"], seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pes", type=int, default=8)
    parser.add_argument("--lanes", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks"))
    args = parser.parse_args()
    config = EngineConfig(m=3, n=3, pes=args.pes, lanes=args.lanes)
    network = builtin.default_model()
    images, labels = builtin.digits_test_set()
    report = simulate(network, images, config, labels=labels, progress=True)
    if not report.bit_exact:
        sys.exit("the RTL differs from the golden model; see abchw-sim")
    summary = report.as_dict(FREQ_MHZ)

    program = compile_network(network, config)
    exe = build_simulator(engine_verilog(config))
    stream = program.load_bytes() + program.run_bytes(images[:50])
    speeds = []
    for _ in range(args.repeats):
        run = run_simulator(exe, stream, expect_output=program.result_bytes * 50,
                            record_writes=False)
        speeds.append(run.cycles_per_second)
    verilator_speed = statistics.median(speeds)
    cocotb_cycles, cocotb_seconds = cocotb_speed(config, program, images[:1])
    cocotb_rate = cocotb_cycles / cocotb_seconds
    result = {
        "command": COMMAND + ("" if (args.pes, args.lanes) == (8, 32)
                              else f" --pes {args.pes} --lanes {args.lanes}"),
        "machine": machine_description(), "report": summary,
        "simulation": {"verilator_cycles_per_second_median": verilator_speed,
                       "verilator_runs": speeds,
                       "cocotb_cycles": cocotb_cycles, "cocotb_seconds": cocotb_seconds,
                       "cocotb_cycles_per_second": cocotb_rate,
                       "speedup": verilator_speed / cocotb_rate},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_write(args.out / "engine.json", "w") as file:
        json.dump(result, file, indent=2)
    lines = [
        "# Engine on the built-in model (RTL simulation)", "",
        f"Command: `{result['command']}` on {result['machine']}.", "",
        (f"Build: M = N = 3, {config.pes} PEs x {config.lanes} lanes; {report.images} test "
         f"images, every layer bit-exact against the golden model; accuracy "
         f"{summary['accuracy']:.1%}."), "",
        "| stage | kind | output | cycles/image | PE utilization | lane utilization |",
        "|---|---|---|---:|---:|---:|"]
    for index, stage in enumerate(summary["stages"]):
        lines.append(f"| {index} | {stage['kind']} | {'x'.join(map(str, stage['out_shape']))} "
                     f"| {stage['cycles']:.0f} | {stage['pe_utilization']:.1%} "
                     f"| {stage['lane_utilization']:.1%} |")
    cycles = summary["cycles_per_image"]
    lines += [
        "", (f"Per image: {cycles['compute']:.0f} compute + {cycles['load']:.0f} image-load "
             f"cycles; PE utilization on conv layers {summary['conv_pe_utilization']:.1%}; at "
             f"{FREQ_MHZ:g} MHz {summary['latency_us']:.0f} us per image, "
             f"{summary['images_per_second']:.0f} images/s."), "",
        (f"Simulation speed: {verilator_speed / 1e6:.2f} M cycles/s (median of "
         f"{args.repeats}, Verilator + C++ loop, one core) vs {cocotb_rate / 1e3:.1f} k "
         f"cycles/s driving the same RTL cycle by cycle from cocotb: "
         f"{verilator_speed / cocotb_rate:.0f}x."), ""]
    with atomic_write(args.out / "engine.md", "w") as file:
        file.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
