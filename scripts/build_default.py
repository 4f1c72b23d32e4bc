"""Build the default bitstream (iCEBreaker, M = N = 3) and keep its report as a benchmark.

    python scripts/build_default.py [--docs docs/benchmarks] [--out build/icebreaker-M3N3]
                                    [BUILD OPTIONS ...]

Prints and runs ``python -m abchw.build --board icebreaker --M 3 --N 3 --out OUT`` (with any
further options, e.g. ``--seeds 5``, ``--allow-timing-fail`` or ``--pes 2 --lanes 16``; a
``--board``, ``--M`` or ``--N`` given replaces the default's), then
copies the build's ``report.md`` and ``report.json`` to ``build-<name of OUT>.md`` and ``.json``
in ``--docs`` (atomically): ``build-icebreaker-M3N3`` by default. A build
that fails (a tool, or the clock without ``--allow-timing-fail``) copies nothing and exits with
the build's status.
"""

import argparse
import shlex
import sys
from pathlib import Path

from abchw.atomic import atomic_write
from abchw.build.__main__ import PROG
from abchw.build.__main__ import main as build_main

#: The default build's options, each unless the command line gives it.
BUILD = {"--board": "icebreaker", "--M": "3", "--N": "3"}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", default="docs/benchmarks", type=Path,
                        help="where the reports go (default docs/benchmarks)")
    parser.add_argument("--out", default="build/icebreaker-M3N3", type=Path,
                        help="the build's output directory (default build/icebreaker-M3N3)")
    args, extra = parser.parse_known_args(argv)
    defaults = [word for flag, value in BUILD.items() if flag not in extra
                for word in (flag, value)]
    argv = [*defaults, "--out", str(args.out), *extra]
    print(f"{PROG} {shlex.join(argv)}", flush=True)
    status = build_main(argv)
    if status != 0:
        return status
    args.docs.mkdir(parents=True, exist_ok=True)
    name = f"build-{args.out.name}"
    for suffix in ("md", "json"):
        with atomic_write(args.docs / f"{name}.{suffix}") as file:
            file.write((args.out / f"report.{suffix}").read_bytes())
    print(f"wrote {args.docs / name}.md and {args.docs / name}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
