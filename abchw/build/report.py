"""The report of one bitstream build: ``report.json`` (everything) and ``report.md`` (a summary).

Resources are the board's :data:`boards.RESOURCES` as nextpnr counts them after placement (used,
and the device's count), beside the sizer's estimate; LUT4s, flip-flops and carries are Yosys'
counts. The PE array's share is its logic cells (see :mod:`abchw.build.flow`) over the design's;
every block's logic cells are listed too (:func:`abchw.build.flow.logic_cells_by_block`), in
``report.md`` those of at least :data:`BLOCK_SHARE_SHOWN` of the design one by one.
The clock is met when nextpnr's maximum frequency of ``sync`` reaches what the PLL makes.
"""

from dataclasses import dataclass

from ..machine import machine_description

__all__ = ["BLOCK_SHARE_SHOWN", "RESOURCE_NAMES", "BuildReport"]

RESOURCE_NAMES = {"lcs": "logic cells", "ebr": "block RAMs", "spram": "SPRAMs",
                  "dsp": "DSP multipliers"}
#: The smallest share of the design's logic cells ``report.md`` names a block for.
BLOCK_SHARE_SHOWN = 0.02


def _share(used, available):
    return f"{used / available:.1%}" if available else "-"


@dataclass
class BuildReport:
    """One build: ``board``, ``sizing`` (``config`` and ``estimate``), the PLL ``settings``,
    ``requested_mhz``, ``baud``, the first ``seed`` and how many ``seeds`` were asked for, the
    :class:`~abchw.build.flow.FlowResult` ``flow``,
    the family's :class:`~abchw.build.flow.FamilyTools` ``tools``, ``versions`` of the tools,
    the bitstream's ``bitstream_bytes`` and ``bitstream_sha256``, the ``command`` run, and
    whether the bitstream was ``written`` to the output directory."""
    board: object
    sizing: object
    settings: object
    requested_mhz: float
    baud: int
    seed: int
    seeds: int
    flow: object
    tools: object
    versions: dict
    bitstream_bytes: int
    bitstream_sha256: str
    command: str
    written: bool = True

    @property
    def clock_mhz(self):
        """The ``sync`` clock the PLL makes."""
        return self.settings.output_mhz

    @property
    def timing_met(self):
        return self.flow.fmax_mhz >= self.clock_mhz

    def resources(self):
        """``{resource: {"used", "available", "estimate"}}`` for :data:`boards.RESOURCES`."""
        flow, estimate = self.flow, self.sizing.estimate
        table = {}
        for resource, bel in self.tools.bels.items():
            table[resource] = {"used": flow.utilisation.get(bel, 0) if bel else 0,
                               "available": flow.available.get(bel, 0) if bel else 0,
                               "estimate": estimate.get(resource)}
        return table

    def logic(self):
        """Yosys' ``{"lut4", "ff", "carry"}`` counts of the whole design."""
        cells = self.flow.cells
        return {"lut4": cells.get(self.tools.lut, 0), "carry": cells.get(self.tools.carry, 0),
                "ff": sum(count for kind, count in cells.items()
                          if kind.startswith(self.tools.ff_prefix))}

    def timing_message(self):
        """Achieved against requested clock, and what to try."""
        return (f"timing not met: fmax {self.flow.fmax_mhz:.2f} MHz < {self.clock_mhz:.3f} MHz "
                f"(--freq {self.requested_mhz:g}); try a lower --freq, more seeds (--seeds) or "
                f"others (--seed), or a smaller array (--pes/--lanes)")

    def seed_sentence(self):
        """The seed kept, and what the others gave."""
        flow = self.flow
        others = [f"{seed}: {fmax:.2f}" for seed, fmax in flow.fmax_by_seed.items()
                  if seed != flow.seed]
        sentence = f"Seed {flow.seed}"
        if others:
            sentence += (f", the fastest of {len(flow.fmax_by_seed)} (--seed {self.seed} "
                         f"--seeds {self.seeds}; the others' fmax in MHz: {', '.join(others)})")
        if flow.abandoned:
            sentence += "; abandoned: " + ", ".join(f"seed {seed} ({why})"
                                                     for seed, why in flow.abandoned.items())
        return sentence + "."

    def blocks_sentence(self):
        """The blocks with at least :data:`BLOCK_SHARE_SHOWN` of the logic cells, then the
        rest."""
        total = self.flow.logic_cells
        shown = {block: count for block, count in self.flow.lcs_by_block.items()
                 if count >= BLOCK_SHARE_SHOWN * total}
        parts = [f"{block} {count}" for block, count in shown.items()]
        if len(shown) < len(self.flow.lcs_by_block):
            parts.append(f"{len(self.flow.lcs_by_block) - len(shown)} others "
                         f"{total - sum(shown.values())}")
        return "Logic cells by block: " + ", ".join(parts) + "."

    def as_dict(self):
        flow, config = self.flow, self.sizing.config
        return {
            "board": self.board.name, "device": self.board.device, "family": self.board.family,
            "command": self.command,
            "config": config.as_dict(),
            "clock": {"input_mhz": self.board.clock_mhz, "requested_mhz": self.requested_mhz,
                      "pll_mhz": self.clock_mhz, "pll": self.settings.as_dict(),
                      "net": flow.clock_net, "fmax_mhz": flow.fmax_mhz,
                      "timing_met": self.timing_met},
            "baud": self.baud,
            "seed": flow.seed,
            "requested_seed": self.seed,
            "seeds": {"requested": self.seeds,
                      "fmax_mhz": {str(seed): fmax for seed, fmax in flow.fmax_by_seed.items()},
                      "abandoned": {str(seed): why for seed, why in flow.abandoned.items()}},
            "resources": self.resources(),
            "logic": self.logic(),
            "nextpnr_utilisation": {bel: {"used": used, "available": flow.available.get(bel)}
                                    for bel, used in sorted(flow.utilisation.items())},
            "yosys_cells": dict(sorted(flow.cells.items())),
            "pe_array": {"logic_cells": flow.pe_array_lcs, "design_logic_cells": flow.logic_cells,
                         "share": flow.pe_array_lcs / flow.logic_cells if flow.logic_cells
                         else None,
                         "yosys_cells": dict(sorted(flow.pe_array_cells.items()))},
            "logic_cells_by_block": flow.lcs_by_block,
            "bitstream": {"file": flow.bitstream, "bytes": self.bitstream_bytes,
                          "sha256": self.bitstream_sha256, "written": self.written},
            "tools": self.versions,
            "seconds": {step: round(seconds, 2) for step, seconds in flow.seconds.items()},
            "machine": machine_description(),
        }

    def markdown(self):
        flow, config, board = self.flow, self.sizing.config, self.board
        verdict = "met" if self.timing_met else "**NOT met**"
        lines = [
            (f"# {board.title}: M={config.m} N={config.n}, {config.pes} PEs x {config.lanes} "
             f"lanes"),
            "",
            f"    {self.command}",
            "",
            (f"Clock: {self.requested_mhz:g} MHz requested, the PLL makes "
             f"{self.clock_mhz:.3f} MHz from {board.clock_mhz:g} MHz; nextpnr fmax "
             f"{flow.fmax_mhz:.2f} MHz: timing {verdict}. UART {self.baud} baud. "
             f"{self.seed_sentence()}"),
            "",
            "| resource | used | available | use | sizer's estimate |",
            "|---|---:|---:|---:|---:|",
        ]
        for resource, row in self.resources().items():
            estimate = "-" if row["estimate"] is None else row["estimate"]
            lines.append(f"| {RESOURCE_NAMES[resource]} | {row['used']} | {row['available']} | "
                         f"{_share(row['used'], row['available'])} | {estimate} |")
        logic = self.logic()
        lines += [
            "",
            (f"Yosys: {logic['lut4']} LUT4, {logic['ff']} flip-flops, {logic['carry']} "
             f"carries. PE array: {flow.pe_array_lcs} of {flow.logic_cells} logic cells "
             f"({_share(flow.pe_array_lcs, flow.logic_cells)})."),
            "",
            self.blocks_sentence(),
            "",
            "Engine: " + ", ".join(f"{key}={value}" for key, value in config.as_dict().items())
            + ".",
            "",
            f"Bitstream `{flow.bitstream}`: {self.bitstream_bytes} bytes, SHA-256 "
            f"`{self.bitstream_sha256}`" + ("." if self.written else
                                            " (not written: timing not met)."),
            "",
            "Tools: " + "; ".join(f"{name} {version}" for name, version in self.versions.items())
            + ".",
            "",
            "Time: " + ", ".join(f"{step} {seconds:.1f} s" for step, seconds in
                                 flow.seconds.items())
            + f" ({machine_description()}).",
        ]
        return "\n".join(lines) + "\n"
