"""``abchw-sim``: a network on the engine's real RTL, cycle by cycle, checked against the golden model.

The model is compiled for the build (:mod:`abchw.compiler`), the build's Verilog is compiled
once by Verilator with a C++ cycle loop (:mod:`abchw.sim`, cached), and the program and the
images travel through the engine's command stream as they would over the board link. Every
stage's feature maps (from the activation-memory writes) and the scores are compared with
:func:`abchw.golden.integer_model.integer_forward` bit for bit; any difference exits with 1.

``--serve [HOST:]PORT`` instead serves the whole board of the build (:mod:`abchw.sim.serve`:
the SoC with its UART link, cycle by cycle) on a TCP port until Ctrl-C, for
:class:`abchw.host.Board` to connect to as to the real board.
"""

import argparse
import json
import sys
from dataclasses import dataclass, field

import numpy as np

from . import builtin, model_file
from .atomic import atomic_write
from .cli import command
from .compiler import compile_network
from .errors import AbchwError
from .gateware.engine.config import EngineConfig
from .golden.integer_model import integer_forward, lower
from .images import read_images
from .machine import machine_description
from .program import read_program
from .progress import Progress

__all__ = ["SimulationReport", "engine_verilog", "main", "simulate"]

PROG = "abchw-sim"


def engine_verilog(config):
    """The Verilog of the engine for ``config``, top module ``engine``."""
    from amaranth.back import verilog

    from .gateware.engine.engine import Engine
    return verilog.convert(Engine(config=config), name="engine", emit_src=False)


@dataclass
class StageReport:
    kind: str
    out_shape: tuple
    cycles: float            # per image
    beats: float             # per image
    useful_macs: int         # binary multiply-accumulates the golden model does, per image
    bit_exact: bool

    def as_dict(self, config):
        lane_ops = self.beats * config.pes * config.lanes
        return {"kind": self.kind, "out_shape": list(self.out_shape), "cycles": self.cycles,
                "beats": self.beats, "pe_utilization": self.beats / max(self.cycles, 1),
                "useful_binary_macs": self.useful_macs,
                "lane_utilization": self.useful_macs / max(lane_ops, 1),
                "bit_exact": self.bit_exact}


@dataclass
class SimulationReport:
    config: EngineConfig
    images: int
    stages: list
    load_cycles: float
    compute_cycles: float
    scores: np.ndarray
    expected_scores: np.ndarray
    predictions: np.ndarray
    counters: list
    simulated_cycles: int
    cycles_per_second: float
    wall_seconds: float
    labels: np.ndarray | None = None
    extra: dict = field(default_factory=dict)

    @property
    def bit_exact(self):
        return all(stage.bit_exact for stage in self.stages) and \
            np.array_equal(self.scores, self.expected_scores)

    def as_dict(self, freq_mhz):
        cycles = self.load_cycles + self.compute_cycles
        conv = [s for s in self.stages if s.kind == "conv"]
        report = {
            "config": self.config.as_dict(), "images": self.images,
            "bit_exact": self.bit_exact,
            "stages": [stage.as_dict(self.config) for stage in self.stages],
            "cycles_per_image": {"load": self.load_cycles, "compute": self.compute_cycles,
                                 "total": cycles},
            "conv_pe_utilization": (sum(s.beats for s in conv) / sum(s.cycles for s in conv)
                                    if conv else None),
            "clock_mhz": freq_mhz,
            "latency_us": cycles / freq_mhz,
            "images_per_second": freq_mhz * 1e6 / cycles,
            "images_per_second_compute_only": freq_mhz * 1e6 / self.compute_cycles,
            "predictions": self.predictions.tolist(),
            "simulated_cycles": self.simulated_cycles,
            "simulation_cycles_per_second": self.cycles_per_second,
            "simulation_wall_seconds": self.wall_seconds,
            "machine": machine_description(),
        }
        if self.labels is not None:
            report["accuracy"] = float(np.mean(self.predictions == self.labels))
        return report


def _useful_macs(stage, lowered):
    """Binary MACs of one stage per image: K per output value, per base and input plane,
    max-pool windows computed once per window as the engine does."""
    out = tuple(stage.out_shape) + (1, 1)
    pool = lowered.pool[0] ** 2 if lowered.pool else 1
    return lowered.k * lowered.m * lowered.n_in * out[0] * out[1] * out[2] * pool


def simulate(network, images, config, *, program=None, labels=None, stall_in=0.0,
             stall_out=0.0, seed=0, waveform=None, trace=None, progress=False):
    """Run ``images`` (uint8 ``(B, C, H, W)``) through ``network`` on the RTL of ``config``."""
    from .sim import build_simulator, run_simulator

    program = program or compile_network(network, config)
    images = program.check_images(images)
    count = len(images)
    exe = build_simulator(engine_verilog(config), trace=trace)
    stream = program.load_bytes() + program.run_bytes(images)
    expected_bytes = program.result_bytes * count
    with Progress(total=count, label="simulating", force=None if progress else False) as bar:
        def advance(output):
            bar.update(len(output) // program.result_bytes - bar.done)
        run = run_simulator(exe, stream, stall_in=stall_in, stall_out=stall_out, seed=seed,
                            expect_output=expected_bytes, waveform=waveform, progress=advance,
                            max_cycles=max(10_000_000, 2_000_000 * count))
    scores, counters = program.decode_results(run.output, count)
    inet = lower(network, coef_bits=config.coef_bits)
    golden = integer_forward(inet, images)
    stages = []
    for index, (stage, lowered, result) in enumerate(zip(network.stages, inet.stages, golden)):
        if result.bits is None:
            exact = True          # the final stage: its values are the scores, checked below
        else:
            exact = bool(np.array_equal(program.decode_feature_maps(index, run.writes, count),
                                        result.bits))
        stages.append(StageReport(
            kind=lowered.kind, out_shape=tuple(stage.out_shape),
            cycles=float(run.stage_cycles[index]) / count,
            beats=float(run.stage_beats[index]) / count,
            useful_macs=_useful_macs(stage, lowered), bit_exact=exact))
    expected = golden[-1].y.reshape(scores.shape)
    flat = scores.reshape(count, -1)
    return SimulationReport(
        config=config, images=count, stages=stages,
        load_cycles=float(np.mean([c["load_cycles"] for c in counters])),
        compute_cycles=float(np.mean([c["compute_cycles"] for c in counters])),
        scores=scores, expected_scores=expected, predictions=flat.argmax(axis=1),
        counters=counters, simulated_cycles=run.cycles,
        cycles_per_second=run.cycles_per_second, wall_seconds=run.wall_seconds,
        labels=None if labels is None else np.asarray(labels))


def _parser():
    parser = argparse.ArgumentParser(
        prog=PROG, description="Run a model on the engine's RTL (Verilator, cycle-accurate) and "
        "check every layer against the golden model bit for bit.")
    parser.add_argument("model", nargs="?", help="model file (.npz); default: the built-in model")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--input", metavar="FILE",
                        help="images: .npy (uint8 (H, W), (C, H, W) or (B, C, H, W)), .pgm/.ppm "
                        "or .png; default: the built-in test set")
    source.add_argument("--test-set", action="store_true",
                        help="the built-in test set (360 digits), the default")
    parser.add_argument("--limit", type=int, metavar="N", help="only the first N images")
    parser.add_argument("--program", metavar="FILE",
                        help="run this compiled program image instead of compiling the model")
    parser.add_argument("--save-program", metavar="FILE",
                        help="write the compiled program image to FILE")
    build = parser.add_argument_group("build")
    build.add_argument("--M", type=int, default=3, help="weight bases of the build (default 3)")
    build.add_argument("--N", type=int, default=3, help="activations of the build (default 3)")
    build.add_argument("--pes", type=int, default=8, help="processing elements (default 8)")
    build.add_argument("--lanes", type=int, default=32, help="lanes per PE (default 32)")
    parser.add_argument("--freq", type=float, default=48.0,
                        help="clock in MHz for latency and images/s (default 48)")
    parser.add_argument("--stall", type=float, default=0.0, metavar="P",
                        help="probability that the host withholds a byte or refuses one")
    parser.add_argument("--seed", type=int, default=0, help="seed of the stalls")
    waves = parser.add_mutually_exclusive_group()
    waves.add_argument("--vcd", metavar="FILE", help="dump a VCD waveform")
    waves.add_argument("--fst", metavar="FILE", help="dump an FST waveform")
    parser.add_argument("--json", metavar="FILE", help="write the report as JSON")
    board = parser.add_argument_group("simulated board")
    board.add_argument("--serve", metavar="[HOST:]PORT",
                       help="serve the board of the build (the SoC behind its serial link) on "
                       "this TCP port (0: any free one; HOST default 127.0.0.1) until Ctrl-C; "
                       "connect with abchw.host.Board('socket://HOST:PORT')")
    board.add_argument("--baud", type=int, default=3_000_000,
                       help="the board's baud rate, with --freq its clock (default 3000000)")
    return parser


#: Options of a model run, which --serve does not take: (option, attribute).
_RUN_OPTIONS = (("MODEL", "model"), ("--input", "input"), ("--test-set", "test_set"),
                ("--limit", "limit"), ("--program", "program"),
                ("--save-program", "save_program"), ("--vcd", "vcd"), ("--fst", "fst"),
                ("--json", "json"))


def _address(text):
    """``(host, port)`` of ``[HOST:]PORT``."""
    host, _, port = text.rpartition(":")
    if not port.isdigit() or int(port) > 0xFFFF:
        raise AbchwError(f"--serve takes [HOST:]PORT with a PORT in 0..65535, not {text!r}")
    return host or "127.0.0.1", int(port)


def _serve(args):
    """``--serve``: the simulated board until Ctrl-C (exit 0) or until it fails."""
    from .sim.serve import serve_board

    given = [option for option, name in _RUN_OPTIONS if getattr(args, name) not in (None, False)]
    if given:
        raise AbchwError(f"--serve serves the board, it runs no model: {', '.join(given)} "
                         f"cannot go with it")
    host, port = _address(args.serve)
    config = _config(args)
    with serve_board(config, host=host, port=port, clock_hz=round(args.freq * 1e6),
                     baud=args.baud) as server:
        print(f"{PROG}: the board M={config.m} N={config.n}, {config.pes} PEs x {config.lanes} "
              f"lanes, {args.freq:g} MHz, {args.baud} baud, serves {server.url} (Ctrl-C stops "
              f"it)", flush=True)
        try:
            status = server.wait()
        except KeyboardInterrupt:
            print(f"{PROG}: stopped", file=sys.stderr)
            return 0
        raise AbchwError(f"the simulated board stopped (exit status {status}): "
                         f"{server.log.strip()}")


def _images(args, network):
    if args.input:
        images, labels = read_images(args.input), None
    else:
        images, labels = builtin.digits_test_set()
    if args.limit is not None:
        if args.limit < 1:
            raise AbchwError(f"--limit must be at least 1, not {args.limit}")
        images = images[:args.limit]
        labels = None if labels is None else labels[:args.limit]
    if tuple(images.shape[1:]) != tuple(network.input_shape):
        raise AbchwError(f"the images have shape {tuple(images.shape[1:])}, the model expects "
                         f"{tuple(network.input_shape)} (C, H, W)")
    return images, labels


def _config(args):
    try:
        return EngineConfig(m=args.M, n=args.N, pes=args.pes, lanes=args.lanes)
    except ValueError as error:
        option = {"m": "--M", "n": "--N", "pes": "--pes", "lanes": "--lanes"}
        name = str(error).split()[0]
        raise AbchwError(f"{option.get(name, name)}: {error}") from None


def _print_report(report, freq):
    out = sys.stdout
    config = report.config
    print(f"engine: M={config.m} N={config.n} {config.pes} PEs x {config.lanes} lanes, "
          f"{report.images} image(s)", file=out)
    print(f"{'stage':>5} {'kind':6} {'output':>12} {'cycles':>9} {'PE util':>8} "
          f"{'lane util':>9} {'golden':>7}", file=out)
    for index, stage in enumerate(report.stages):
        row = stage.as_dict(config)
        print(f"{index:>5} {stage.kind:6} {'x'.join(map(str, stage.out_shape)):>12} "
              f"{stage.cycles:>9.0f} {row['pe_utilization']:>8.1%} "
              f"{row['lane_utilization']:>9.1%} {'exact' if stage.bit_exact else 'DIFFERS':>7}",
              file=out)
    total = report.load_cycles + report.compute_cycles
    print(f"per image: {report.compute_cycles:.0f} compute + {report.load_cycles:.0f} load = "
          f"{total:.0f} cycles; at {freq:g} MHz {total / freq:.1f} us, "
          f"{freq * 1e6 / total:.0f} images/s", file=out)
    if report.images <= 10:
        for index, (prediction, scores) in enumerate(zip(report.predictions, report.scores)):
            print(f"image {index}: class {prediction}, scores {scores.ravel().tolist()}",
                  file=out)
    if report.labels is not None:
        print(f"accuracy on these images: {np.mean(report.predictions == report.labels):.1%}",
              file=out)
    print(f"simulation: {report.simulated_cycles} cycles at "
          f"{report.cycles_per_second / 1e6:.2f} M cycles/s", file=out)
    print("golden model: " + ("every layer bit-exact" if report.bit_exact else
                              "MISMATCH (see the stages marked DIFFERS)"), file=out)


@command(PROG)
def main(argv=None):
    args = _parser().parse_args(argv)
    if not args.freq > 0:
        raise AbchwError(f"--freq must be a positive number of MHz, not {args.freq}")
    if not 0 <= args.stall < 1:
        raise AbchwError(f"--stall must be a probability in [0, 1), not {args.stall}")
    if args.serve is not None:
        return _serve(args)
    network = model_file.load(args.model) if args.model else builtin.default_model()
    config = _config(args)
    program = read_program(args.program, config=config) if args.program else None
    if program is None:
        program = compile_network(network, config)
    if args.save_program:
        program.save(args.save_program)
    images, labels = _images(args, network)
    waveform = args.vcd or args.fst
    report = simulate(network, images, config, program=program, labels=labels,
                      stall_in=args.stall, stall_out=args.stall, seed=args.seed,
                      waveform=waveform, trace="vcd" if args.vcd else "fst" if args.fst else None,
                      progress=True)
    _print_report(report, args.freq)
    if args.json:
        with atomic_write(args.json, "w") as file:
            json.dump(report.as_dict(args.freq), file, indent=2)
    return 0 if report.bit_exact else 1


if __name__ == "__main__":
    sys.exit(main())
