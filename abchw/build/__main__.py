"""``python -m abchw.build``: the bitstream of the accelerator for a board, M and N.

    python -m abchw.build [--board icebreaker] [--M 3] [--N 3] [--freq MHZ] [--pes P]
                          [--lanes S] [--seed 1] [--seeds 1] [--jobs J] [--baud BAUD]
                          [--out DIR]
                          [--allow-timing-fail] [--program]

The auto-sizer (:func:`abchw.build.sizer.size_engine`) picks the array and memories that fit the
board (``--pes``/``--lanes`` override it); the PLL makes the nearest clock to ``--freq``; the
flow's four steps are announced with their times on stderr (place & route keeps the fastest
of ``--seeds`` seeds from ``--seed``, ``--jobs`` at once); the products land in ``--out``
(default ``build/<board>-M<m>N<n>/``), the summary on stdout.

Exit status: 0 built (and programmed, with ``--program``); 1 a tool failed, the clock was missed
(without ``--allow-timing-fail``) or the programmer failed; 2 bad input, reported in one line
before any tool runs: an unknown board, M or N out of range, a clock the board or its PLL cannot
make, a design the sizer says does not fit, or ``--program`` with no programmer on PATH.
"""

import argparse
import os
import shlex
import subprocess
import sys
from pathlib import Path

import boards

from ..cli import command
from ..errors import AbchwError
from ..gateware.link.uart import uart_divisor
from ..network import M_MAX, N_MAX
from ..synthesis import SynthesisError
from .place import SEED_MAX
from .pll import pll_settings

__all__ = ["PROG", "SEEDS_MAX", "main"]

PROG = "python -m abchw.build"
#: The most seeds one build places & routes (each about a minute on the UP5K).
SEEDS_MAX = 64


def _parser():
    parser = argparse.ArgumentParser(
        prog=PROG, description="Build the accelerator's bitstream for a board.")
    parser.add_argument("--board", default="icebreaker",
                        help=f"one of {', '.join(boards.BOARDS)} (default icebreaker)")
    parser.add_argument("--M", type=int, default=3, help=f"weight bases, 1..{M_MAX} (default 3)")
    parser.add_argument("--N", type=int, default=3, help=f"activations, 1..{N_MAX} (default 3)")
    parser.add_argument("--freq", type=float, metavar="MHZ",
                        help="target clock in MHz (default: the board's, 48 on icebreaker)")
    parser.add_argument("--pes", type=int, help="processing elements (default: the sizer's)")
    parser.add_argument("--lanes", type=int, help="lanes per PE (default: the sizer's)")
    parser.add_argument("--seed", type=int, default=1,
                        help="nextpnr placement seed, the first of --seeds (default 1)")
    parser.add_argument("--seeds", type=int, default=1,
                        help=f"place & route this many seeds, 1..{SEEDS_MAX}, and keep the "
                        "fastest (default 1)")
    parser.add_argument("--jobs", type=int,
                        help="seeds placed at once (default: the machine's cores)")
    parser.add_argument("--baud", type=int,
                        help="UART baud rate (default: the board's, 3000000 on icebreaker)")
    parser.add_argument("--out", metavar="DIR",
                        help="output directory (default build/<board>-M<m>N<n>/)")
    parser.add_argument("--allow-timing-fail", action="store_true",
                        help="keep a bitstream that misses the clock, exit 0")
    parser.add_argument("--program", action="store_true",
                        help="load the bitstream into the board's flash with iceprog or "
                        "openFPGALoader")
    return parser


def _check_range(flag, value, low, high=None):
    if value is None:
        return
    if high is None and value < low:
        raise AbchwError(f"{flag} must be at least {low}, not {value}")
    if high is not None and not low <= value <= high:
        raise AbchwError(f"{flag} must be in {low}..{high}, not {value}")


def _check_args(args, board):
    """The arguments with the board's defaults filled in, or :class:`AbchwError`."""
    _check_range("--M", args.M, 1, M_MAX)
    _check_range("--N", args.N, 1, N_MAX)
    _check_range("--pes", args.pes, 1)
    _check_range("--lanes", args.lanes, 1)
    _check_range("--seed", args.seed, 0, SEED_MAX)
    _check_range("--seeds", args.seeds, 1, SEEDS_MAX)
    _check_range("--jobs", args.jobs, 1)
    if args.jobs is None:
        args.jobs = len(os.sched_getaffinity(0))
    if args.freq is None:
        args.freq = board.default_mhz
    if not 0 < args.freq <= board.max_mhz:
        raise AbchwError(f"--freq must be in (0, {board.max_mhz:g}] MHz on {board.name}, "
                         f"not {args.freq:g}")
    args.pll = pll_settings(board.family, board.clock_mhz, args.freq)
    if args.baud is None:
        args.baud = board.default_baud
    _check_range("--baud", args.baud, 1)
    uart_divisor(clock_hz=args.pll.output_hz, baud=args.baud)  # BaudError: the UART cannot
    if args.out is None:
        args.out = Path("build", f"{board.name}-M{args.M}N{args.N}")
    if args.program and board.programmer_command("") is None:
        raise AbchwError(f"--program needs {board.programmer_names()} on PATH; none was found "
                         f"(build without --program and load the bitstream yourself)")
    return args


def _seeds(args):
    if args.seeds == 1:
        return f"seed {args.seed}"
    return f"{args.seeds} seeds from {args.seed}, {args.jobs} at once"


def _summary(report, out):
    flow = report.flow
    print(f"{report.board.name}: fmax {flow.fmax_mhz:.2f} MHz for a {report.clock_mhz:.3f} MHz "
          f"clock: timing {'met' if report.timing_met else 'NOT met'}")
    for resource, row in report.resources().items():
        if row["available"]:
            print(f"  {resource:6} {row['used']:>6} / {row['available']:<6} "
                  f"(sizer's estimate {row['estimate']})")
    print(f"  PE array: {flow.pe_array_lcs} of {flow.logic_cells} logic cells")
    print(f"  {report.seed_sentence()}")
    if report.written:
        print(f"bitstream {out / flow.bitstream} ({report.bitstream_bytes} bytes, sha256 "
              f"{report.bitstream_sha256[:16]}...)")
    print(f"report {out / 'report.md'}")


def _program(board, bitstream):
    words = board.programmer_command(str(bitstream))
    print(f"programming: {shlex.join(words)}", file=sys.stderr)
    status = subprocess.run(words, check=False).returncode
    if status != 0:
        print(f"{PROG}: error: {words[0]} failed with exit status {status}", file=sys.stderr)
        return 1
    return 0


@command(PROG)
def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = _parser().parse_args(argv)
    board = boards.board(args.board)
    args = _check_args(args, board)

    from .bitstream import build
    from .sizer import size_engine
    from .top import board_top

    sizing = size_engine(board, m=args.M, n=args.N, pes=args.pes, lanes=args.lanes)
    top = board_top(board, sizing.config, settings=args.pll, baud=args.baud)
    config = sizing.config
    print(f"{board.title}: M={config.m} N={config.n}, {config.pes} PEs x {config.lanes} lanes, "
          f"{args.freq:g} MHz (PLL {top.settings.output_mhz:.3f} MHz), {_seeds(args)} "
          f"-> {args.out}", file=sys.stderr)
    try:
        report = build(top, board, sizing, freq_mhz=args.freq, baud=args.baud, seed=args.seed,
                       seeds=args.seeds, jobs=args.jobs, out=args.out, allow_timing_fail=args.allow_timing_fail,
                       command=f"{PROG} {shlex.join(argv)}".strip())
    except SynthesisError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 1
    _summary(report, Path(args.out))
    if not report.timing_met:
        if not args.allow_timing_fail:
            print(f"{PROG}: error: {report.timing_message()}, or keep the bitstream with "
                  f"--allow-timing-fail", file=sys.stderr)
            return 1
        print(f"{PROG}: warning: {report.timing_message()}", file=sys.stderr)
    if args.program:
        return _program(board, Path(args.out) / report.flow.bitstream)
    return 0


if __name__ == "__main__":
    sys.exit(main())
