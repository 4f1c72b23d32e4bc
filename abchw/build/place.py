"""Place & route over several seeds, keeping the fastest: the flow's third step.

nextpnr's result depends on its placement seed, and near a small device's limit much: one
netlist of the UP5K default build closes anywhere between 33 and 41 MHz over five seeds. So the
flow places & routes ``count`` seeds, from ``--seed`` up, at most ``jobs`` at once (each in its
own directory), and keeps the fastest; an exact tie keeps the lower seed. A seed is abandoned,
and replaced by the next one (at most :data:`PLACEMENT_SEEDS` - 1 times), where

* the placer finds no legal placement: near the limit it sometimes gives up with one seed and
  not with the next (seen at 85 % of the UP5K's cells);
* the router goes on past :data:`ROUTER_ITERATIONS_MAX` iterations: router2 with timing-driven
  ripup (``--tmg-ripup``) ended after 1,501 to 1,506 in the 17 UP5K runs of the M = N = 3
  builds that finished, and with one seed in four or five loops forever (its overuse stuck, the
  timing failures at 0; nextpnr issue #1341 is another such loop). It is stopped by iterations,
  not by time, so the same seed is abandoned on any machine.

Seeds are tried in order and each batch is no larger than the seeds still missing, so the seeds
run, and therefore the bitstream, depend only on the request: ``--seed 1 --seeds 5`` gives the
same bitstream with any ``jobs``.
"""

import json
import re
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ..synthesis import SynthesisError, ToolStopped, parse_max_frequency, run_tool

__all__ = ["PLACEMENT_SEEDS", "ROUTER_ITERATIONS_MAX", "SEED_MAX", "Placement", "fit_error",
           "place_and_route_seeds"]

#: nextpnr takes a 32-bit signed seed.
SEED_MAX = 2 ** 31 - 1
#: The seeds tried for one placement while seeds are abandoned, the first included.
PLACEMENT_SEEDS = 3
#: Router iterations after which a seed is abandoned (router2 prints one line per iteration).
ROUTER_ITERATIONS_MAX = 2000
#: What one seed's nextpnr writes in its directory; the kept seed's files end up in the flow's.
OUTPUTS = ("nextpnr.log", "nextpnr-report.json", "routed.json")

#: nextpnr's placer giving up on a design within the device's counts but too full to legalise.
_UNPLACEABLE = "Unable to find legal placement for all cells"
_ROUTER_ITERATION = re.compile(r"^Info:\s+iter=(\d+) ", re.MULTILINE)
#: Why a seed was abandoned.
NO_PLACEMENT = "no legal placement"
NO_ROUTE = f"the router passed {ROUTER_ITERATIONS_MAX} iterations"
_DEVICE_UTILISATION = re.compile(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%$", re.MULTILINE)


@dataclass(frozen=True)
class Placement:
    """The outcome of a seed sweep: the ``seed`` kept and its ``clock_net`` (the ``sync``
    clock); ``fmax_by_seed`` of every seed placed & routed, in the order tried, and
    ``abandoned``, ``{seed: why}`` (:data:`NO_PLACEMENT` or :data:`NO_ROUTE`)."""
    seed: int
    clock_net: str
    fmax_by_seed: dict
    abandoned: dict

    @property
    def fmax_mhz(self):
        """The kept seed's fmax."""
        return self.fmax_by_seed[self.seed]


def fit_error(board, tools, log, *, seeds=()):
    """A :class:`SynthesisError` naming the resources beyond the device when nextpnr's ``log``
    (its "Device utilisation" block) says the design does not fit ``board``, or the logic cells
    when the placer found no legal placement (it gives up near the limit) with ``seeds``, else
    None. ``tools`` is the family's :class:`~abchw.build.flow.FamilyTools`."""
    use = {bel: (int(used), int(available))
           for bel, used, available in _DEVICE_UTILISATION.findall(log)}
    over = {bel: counts for bel, counts in use.items() if counts[0] > counts[1]}
    logic_cell = tools.bels["lcs"]
    if not over and _UNPLACEABLE in log and logic_cell in use:
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


def _router_stuck(log):
    """Why nextpnr, whose ``log`` this is so far, should be stopped, or None."""
    iterations = _ROUTER_ITERATION.findall(log)
    if iterations and int(iterations[-1]) > ROUTER_ITERATIONS_MAX:
        return NO_ROUTE
    return None


def _place_one(board, tools, *, freq_mhz, pll_mhz, seed, directory, sweep_ended):
    """Run nextpnr with ``seed`` in ``directory`` (inputs in its parent); return the ``sync``
    clock's net and fmax, or why the seed is abandoned. Other failures raise. Once
    ``sweep_ended`` (an event) is set, nextpnr is stopped and the outcome is of no use."""
    directory.mkdir()
    log = directory / OUTPUTS[0]

    def watch(text):
        return "the sweep ended" if sweep_ended.is_set() else _router_stuck(text)
    try:
        run_tool(tools.nextpnr,
                 ["-q", *board.nextpnr_options, "--json", "../top.json",
                  f"--{tools.constraints}", f"../top.{tools.constraints}", *tools.placed,
                  "--freq", f"{freq_mhz:g}", "--seed", str(seed), "--timing-allow-fail",
                  "--report", OUTPUTS[1], "--log", log.name, "--write", OUTPUTS[2]],
                 directory, log=log.name, watch=watch)
    except ToolStopped:
        return NO_ROUTE
    except SynthesisError as error:
        text = log.read_text(errors="replace") if log.is_file() else ""
        if _UNPLACEABLE in text:
            return NO_PLACEMENT
        raise fit_error(board, tools, text) or error
    text = log.read_text(errors="replace")
    if _router_stuck(text):     # finished between the watch's looks: the same verdict
        return NO_ROUTE
    clock_net = _sync_clock((directory / OUTPUTS[1]).read_text(), pll_mhz)
    frequencies = parse_max_frequency(text)
    if clock_net not in frequencies:
        raise SynthesisError(f"nextpnr's log gives no maximum frequency for {clock_net}")
    return clock_net, frequencies[clock_net]


def _abandoned_error(board, tools, directory, abandoned):
    """The error of a sweep whose seeds were all abandoned."""
    seeds = list(abandoned)
    if all(why == NO_PLACEMENT for why in abandoned.values()):
        log = (directory / f"seed-{seeds[-1]}" / OUTPUTS[0]).read_text(errors="replace")
        return fit_error(board, tools, log, seeds=seeds)
    whys = ", ".join(f"seed {seed}: {why}" for seed, why in abandoned.items())
    return SynthesisError(f"nextpnr placed & routed none of the seeds tried ({whys}); try "
                          f"others (--seed) or a smaller array (--pes/--lanes)")


def place_and_route_seeds(board, tools, *, freq_mhz, pll_mhz, seed, count=1, jobs=1,
                          directory, stream):
    """Place & route ``count`` seeds from ``seed`` up, ``jobs`` at once, in subdirectories of
    ``directory`` (which holds ``top.json`` and the constraints); move the fastest seed's
    products (:data:`OUTPUTS` and the placed design) into ``directory`` and return its
    :class:`Placement`. Each seed's fmax, or why it was abandoned, is announced on ``stream``.
    A design too large for the device raises :func:`fit_error`'s error."""
    directory = Path(directory)
    candidates = [(seed + offset) % (SEED_MAX + 1)
                  for offset in range(count + PLACEMENT_SEEDS - 1)]
    placed, abandoned, tried = {}, {}, 0
    # Set when this thread leaves the sweep early (a seed's error, Ctrl-C, SIGTERM): the
    # workers' nextpnr runs stop within a watch period instead of routing on for minutes while
    # the pool waits for them.
    sweep_ended = threading.Event()
    with ThreadPoolExecutor(max_workers=max(1, min(jobs, count))) as pool:
        try:
            while len(placed) < count and tried < len(candidates):
                batch = candidates[tried:tried + min(jobs, count - len(placed))]
                tried += len(batch)
                outcomes = pool.map(
                    lambda each: _place_one(board, tools, freq_mhz=freq_mhz, pll_mhz=pll_mhz,
                                            seed=each, directory=directory / f"seed-{each}",
                                            sweep_ended=sweep_ended),
                    batch)
                for each, outcome in zip(batch, list(outcomes)):
                    if isinstance(outcome, str):
                        abandoned[each] = outcome
                        stream.write(f"seed {each}: {outcome}; ")
                    else:
                        placed[each] = outcome
                        stream.write(f"seed {each}: {outcome[1]:.2f} MHz; ")
                    stream.flush()
        except BaseException:
            sweep_ended.set()
            raise
    if not placed:
        raise _abandoned_error(board, tools, directory, abandoned)
    kept = max(placed, key=lambda each: placed[each][1])   # max() keeps the first of a tie
    for name in (*OUTPUTS, tools.placed[1]):
        shutil.move(directory / f"seed-{kept}" / name, directory / name)
    for each in (*placed, *abandoned):
        shutil.rmtree(directory / f"seed-{each}")
    return Placement(seed=kept, clock_net=placed[kept][0],
                     fmax_by_seed={each: fmax for each, (_, fmax) in placed.items()},
                     abandoned=abandoned)
