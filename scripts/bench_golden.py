"""Benchmark the golden models: inference time per image of the built-in model, float vs integer.

    python scripts/bench_golden.py [--repeats 7] [--out docs/benchmarks]

Pinned to one core (BLAS and OpenMP threads set to 1 before NumPy loads). Reports the median
over ``--repeats`` runs of (a) one image at a time over the first 100 test images and (b) the
whole built-in test set as one batch, and writes ``golden.json`` and ``golden.md`` to ``--out``.
"""

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from abchw import builtin  # noqa: E402
from abchw.atomic import atomic_write  # noqa: E402
from abchw.golden import float_forward, integer_forward, lower  # noqa: E402
from abchw.machine import cpu_name  # noqa: E402

COMMAND = "python scripts/bench_golden.py"
SINGLE_IMAGES = 100


def median_ms_per_image(run, batches, repeats):
    """Median over repeats of the time to run every batch, per image, in ms."""
    images = sum(len(batch) for batch in batches)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for batch in batches:
            run(batch)
        times.append((time.perf_counter() - start) / images * 1e3)
    return statistics.median(times), min(times), max(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks"))
    args = parser.parse_args()
    network = builtin.default_model()
    inet = lower(network)
    images, _ = builtin.digits_test_set()
    models = {"float": lambda x: float_forward(network, x),
              "integer": lambda x: integer_forward(inet, x)}
    modes = {"one image at a time": [images[i:i + 1] for i in range(SINGLE_IMAGES)],
             f"batch of {len(images)}": [images]}
    rows = []
    for mode, batches in modes.items():
        for name, run in models.items():
            run(batches[0])  # warm up
            median, low, high = median_ms_per_image(run, batches, args.repeats)
            rows.append({"model": name, "mode": mode, "median_ms_per_image": median,
                         "min_ms_per_image": low, "max_ms_per_image": high})
            print(f"{name:8s} {mode:22s} median {median:.3f} ms/image "
                  f"(min {low:.3f}, max {high:.3f})")
    result = {
        "command": COMMAND, "model": network.name, "input_shape": list(network.input_shape),
        "repeats": args.repeats, "cores": 1, "cpu": cpu_name(), "python": platform.python_version(),
        "numpy": np.__version__, "rows": rows,
    }
    ratio = {r["mode"]: r["median_ms_per_image"] for r in rows if r["model"] == "integer"}
    ratio = {mode: ratio[mode] / next(r["median_ms_per_image"] for r in rows
                                      if r["model"] == "float" and r["mode"] == mode)
             for mode in ratio}
    result["integer_over_float"] = ratio
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_write(args.out / "golden.json", "w") as file:
        json.dump(result, file, indent=1)
    lines = [
        "# Golden-model inference time",
        "",
        f"Built-in model `{network.name}` ({'x'.join(map(str, network.input_shape))} input), "
        f"one core of {result['cpu']}, Python {result['python']}, NumPy {result['numpy']}; "
        f"median of {args.repeats} runs.",
        "",
        f"Reproduce: `{COMMAND}`",
        "",
        "| model | mode | median ms/image | min | max |",
        "|---|---|---:|---:|---:|",
    ] + [f"| {r['model']} | {r['mode']} | {r['median_ms_per_image']:.3f} | "
         f"{r['min_ms_per_image']:.3f} | {r['max_ms_per_image']:.3f} |" for r in rows] + [
        "",
        "Integer model time / float model time: "
        + ", ".join(f"{mode}: {value:.2f}x" for mode, value in ratio.items()) + ".",
        "",
    ]
    with atomic_write(args.out / "golden.md", "w") as file:
        file.write("\n".join(lines))
    print(f"wrote {args.out / 'golden.json'} and {args.out / 'golden.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
