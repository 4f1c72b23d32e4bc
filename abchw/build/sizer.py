"""The auto-sizer: the largest engine that fits a board, from a resource model, before any tool runs.

:func:`estimate` predicts what a build uses:

* block RAMs exactly, memory by memory, as Yosys maps them: each memory takes the cheapest of the
  family's block RAM shapes (iCE40 4 Kbit: 256 x 16 ... 2048 x 2; ECP5 18 Kbit: 512 x 36 ...
  16384 x 1), ``ceil(width / w) * ceil(depth / d)`` blocks;
* SPRAMs: ``ceil(pes * lanes / 16)`` where the weights live there; multipliers: one SB_MAC16
  or two ECP5 blocks per PE;
* logic cells from a linear model of Yosys's LUT4 count in the array's lanes, its PEs and the
  accumulator width, fitted to Yosys runs of the SoC with the board's synthesis options by
  ``scripts/calibrate_resources.py``, times the logic cells nextpnr packed per fitted LUT4 in
  the recorded board builds (the coefficients, the measurements and the tool versions are
  ``abchw/data/resource_model.json``).

:func:`size_engine` enumerates arrays (PEs x lanes) and memory depths for a board, M and N and a
target network (the built-in model unless given), keeps those whose estimate fits the device
(at most the board's ``sizer_fill`` of its logic cells, what closed timing at its default clock;
an array given by ``pes`` and ``lanes`` only needs :data:`LC_HEADROOM`, what places) and whose
memories hold the network, and picks the fewest beats for the network (the fastest at one
clock: a beat is a cycle of the array, busy > 99 % of a conv layer's cycles), then the fewest
logic cells. More lanes are not always faster: on the built-in model 4 PEs x 8 lanes take
fewer beats than 2 x 32 or 3 x 16, the first layer having one input channel. On the iCE40UP5K
the weights go to SPRAM (its block RAMs cannot feed a wider array beside the other memories),
which caps the array at 64 lanes; ECP5 builds keep everything in block RAM.
"""

import json
import math
from dataclasses import dataclass, replace
from importlib import resources

import numpy as np
from amaranth import Shape

from ..compiler import CompileError, compile_network
from ..errors import AbchwError
from ..gateware.engine.config import SPRAM_BITS, SPRAM_WORDS, EngineConfig
from ..gateware.engine.engine import memory_shapes
from ..network import Activation, Conv, Dense
from ..protocol import MAX_PAYLOAD

__all__ = ["BLOCK_RAM_SHAPES", "LC_HEADROOM", "Sizing", "estimate", "lc_model", "size_engine", "with_bases"]

#: (depth, width) of the block RAM shapes of each family, and their bits.
BLOCK_RAM_SHAPES = {
    "ice40": ((256, 16), (512, 8), (1024, 4), (2048, 2)),
    "ecp5": ((512, 36), (1024, 18), (2048, 9), (4096, 4), (8192, 2), (16384, 1)),
}
#: Fraction of the device's logic cells a build may use and place. nextpnr's placer gave up on a
#: UP5K SoC at 87 % of the cells before synthesis folded small clock enables into LUTs
#: (``-dffe_min_ce_use 8``, see boards/icebreaker.py); since, the 4 x 16 build placed at
#: 89.8 % (4,741 cells) with every seed tried, 1 to 5.
LC_HEADROOM = 0.91
#: Candidate lanes per PE and PEs.
LANES = (8, 16, 32, 64, 128, 256)
PES = (1, 2, 3, 4, 5, 6, 8, 12, 16, 24, 32, 48, 64)
#: Memories of the board link (receive and reply buffers), bytes.
LINK_BUFFERS = (MAX_PAYLOAD + 6, MAX_PAYLOAD)


@dataclass(frozen=True)
class Sizing:
    """A sized build: ``config``, its ``estimate`` (:func:`estimate`) and the target network's
    ``beats`` on it."""
    config: EngineConfig
    estimate: dict
    beats: int


def lc_model():
    """The fitted logic-cell model: ``{family: {"coefficients": {feature: value}, ...}}``."""
    text = resources.files("abchw").joinpath("data/resource_model.json").read_text()
    return json.loads(text)


def lc_features(config):
    """The model's features of ``config``: what the logic grows with."""
    return {"constant": 1, "lanes": config.pes * config.lanes, "pes": config.pes,
            "acc_bits": config.acc_bits, "pe_acc_bits": config.pes * config.acc_bits}


def block_rams(width, depth, family):
    """Block RAMs of ``family`` a ``width`` x ``depth`` memory takes."""
    return min(math.ceil(width / w) * math.ceil(depth / d) for d, w in BLOCK_RAM_SHAPES[family])


def _memories(config):
    """``(width, depth)`` of every block-RAM memory of a build with its board link."""
    shapes = memory_shapes(config)
    found = [(Shape.cast(shape).width, depth) for name, (shape, depth) in shapes.items()
             if not (name == "weights" and config.weight_spram)]
    found.append((config.lanes, config.act_words))
    found.append((config.pes * config.acc_bits, config.value_depth))
    found += [(8, size) for size in LINK_BUFFERS]
    return found


def estimate(config, family):
    """Predicted ``{"lcs", "ebr", "spram", "dsp"}`` of ``config`` built for ``family``."""
    model = lc_model()[family]
    features = lc_features(config)
    lut4 = sum(model["coefficients"][name] * value for name, value in features.items())
    lcs = lut4 * model["lcs_per_lut4"]["value"]
    return {
        "lcs": round(lcs),
        "ebr": sum(block_rams(width, depth, family) for width, depth in _memories(config)),
        "spram": math.ceil(config.pes * config.lanes / 16) if config.weight_spram else 0,
        # A 16 x 16 product takes one SB_MAC16, and two ECP5 multiplier blocks (measured).
        "dsp": config.pes * (2 if family == "ecp5" else 1),
    }


def _fits(usage, budget, fill):
    return (usage["lcs"] <= fill * budget["lcs"]
            and all(usage[name] <= budget[name] for name in ("ebr", "spram", "dsp")))


def _round_up(value, family):
    """``value`` words rounded up to whole block RAMs of their deepest shape used (256 or 512)."""
    step = BLOCK_RAM_SHAPES[family][0][0]
    return max(step, -(-value // step) * step)


def _candidate(board, m, n, pes, lanes, network):
    """The build of ``pes`` x ``lanes`` whose memories just hold ``network``, or None."""
    family = board.family
    spram = family == "ice40" and board.budget["spram"] * 16 >= SPRAM_BITS
    roomy = EngineConfig(m=m, n=n, pes=pes, lanes=lanes, act_words=1 << 20,
                         weight_words=SPRAM_WORDS if spram else 1 << 20, coef_words=1 << 20,
                         threshold_words=1 << 20, stages_max=16, hard_macro=family == "ice40",
                         weight_spram=spram)
    try:
        program = compile_network(network, roomy)
    except CompileError:
        return None
    used = {name: len(words) for name, words in program.memories.items()}
    stages = max(4, 1 << math.ceil(math.log2(len(program.stages))))
    act_need = max(stage.out_base + stage.planes * stage.out_plane_stride
                   for stage in program.stages)
    config = replace(
        roomy, stages_max=min(stages, 16), act_words=_round_up(act_need, family),
        weight_words=SPRAM_WORDS if spram else _round_up(used["weights"], family),
        coef_words=_round_up(used["coefficients"], family),
        threshold_words=_round_up(used["thresholds"], family))
    try:  # the input image's region may be the larger one
        program = compile_network(network, config)
    except CompileError:
        config = replace(config, act_words=_round_up(2 * act_need, family))
        program = compile_network(network, config)
    return Sizing(config=config, estimate=estimate(config, family),
                  beats=sum(stage.beats for stage in program.stages))


def with_bases(network, m, n):
    """``network``'s geometry with ``m`` weight bases and ``n`` activations in every layer (its
    values stand in for sizing only): the built-in model at any M and N."""
    layers = []
    for layer in network.layers:
        if isinstance(layer, (Conv, Dense)):
            layer = replace(layer, bases=np.resize(layer.bases, (m,) + layer.bases.shape[1:]),
                            alpha=np.ones(m))
        elif isinstance(layer, Activation):
            layer = Activation(shifts=np.linspace(-1.0, 1.0, n), scales=np.ones(n))
        layers.append(layer)
    return replace(network, layers=tuple(layers))


def size_engine(board, *, m, n, pes=None, lanes=None, network=None):
    """The :class:`Sizing` of the fastest engine for ``board`` at ``m``, ``n`` that runs
    ``network`` (default: the built-in model's layers at M = ``m``, N = ``n``); ``pes`` and
    ``lanes`` fix the array instead. :class:`~abchw.errors.AbchwError` says why nothing fits."""
    for name, value in (("M", m), ("N", n)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 8:
            raise AbchwError(f"{name} must be an integer in 1..8, not {value!r}")
    if network is None:
        from ..builtin import default_model
        network = with_bases(default_model(), m, n)
    candidates = [(p, s) for p in ((pes,) if pes else PES) for s in ((lanes,) if lanes else LANES)]
    sized = []
    for p, s in candidates:
        try:
            sizing = _candidate(board, m, n, p, s, network)
        except ValueError as error:  # EngineConfig refuses the array itself
            if pes and lanes:
                raise AbchwError(f"--pes {p} --lanes {s}: {error}") from None
            continue
        if sizing is not None:
            sized.append(sizing)
    fill = LC_HEADROOM if pes and lanes else min(board.sizer_fill, LC_HEADROOM)
    fitting = [sizing for sizing in sized if _fits(sizing.estimate, board.budget, fill)]
    if not fitting:
        budget = dict(board.budget)
        if sized:
            smallest = min(sized, key=lambda s: s.estimate["lcs"])
            raise AbchwError(
                f"no engine at M = {m}, N = {n} fits the {board.title}: the smallest that holds "
                f"the network ({smallest.config.pes} PEs x {smallest.config.lanes} lanes) needs "
                f"{smallest.estimate}, the device has {budget} (logic cells usable: "
                f"{fill:.0%}); use a smaller M, N or network, or a larger board")
        which = "that array" if pes or lanes else "any array"
        raise AbchwError(f"the network does not fit {which} at M = {m}, N = {n}; use a smaller "
                         f"network or a larger board")
    return min(fitting, key=lambda s: (s.beats, s.estimate["lcs"]))
