"""Sequencer: the beats of a stage against plain nested loops.

Each stage is a random descriptor whose step table is the compiler's own
(``descriptor_memory_rows``), so the test also checks that the compiler's rows and the sequencer's
way of adding them agree. The reference knows nothing of step tables: it runs the loop nest with
``itertools.product`` and computes every quantity as its origin plus the sum of index times step.
Checked exactly, per stage: the beats (activation address, 0 for taps outside the image, weight and
coefficient addresses, ``first``, ``group_last``), one reservation per group and never a group fired
without one, ``reserve`` only while ``can_reserve``, no bubble inside a group, and ``running`` from
the cycle after ``start`` to the one after the last beat. Stages run back to back in one simulation,
with the value buffer's ``can_reserve`` at random or low for long stretches, and garbage on the
descriptor between stages and on ``step`` in the cycles where nothing was read, as the engine's
descriptor memory has (its read port also loads the next descriptor). """

import itertools
import random
from dataclasses import dataclass
from typing import NamedTuple

import pytest
from amaranth.sim import Simulator

from abchw.compiler import descriptor_memory_rows
from abchw.gateware.engine.config import EngineConfig
from abchw.gateware.engine.descriptor import LEVELS, DescriptorLayout, StepLayout, descriptor_rows
from abchw.gateware.engine.sequencer import Sequencer

# Narrow addresses (8, 9 and 6 bits), so that the random steps wrap them often.
CONFIG = EngineConfig(m=3, n=3, pes=4, lanes=16, act_words=256, weight_words=512, coef_words=64)
#: What the step table moves; ``row`` and ``column`` are the tap's, for the padding test.
ADDRESSES = ("act", "weight", "coef")
QUANTITIES = ADDRESSES + ("row", "column")
#: The levels of one group (one accumulator value per PE), outer to inner.
GROUP_LEVELS = LEVELS[LEVELS.index("m"):]
#: Upper bound on a random stage's beats, to keep the module fast.
MAX_BEATS = 400
#: The largest last index each level's field holds (m and n: 7).
END_MAX = {level: (1 << field.width) - 1 for level, field in DescriptorLayout(CONFIG)["ends"].shape}


class Beat(NamedTuple):
    act: int
    weight: int
    coef: int
    first: bool
    group_last: bool


@dataclass(frozen=True)
class Stage:
    """What the sequencer sees of one stage: each level's last index, what each quantity adds
    per level step (``{quantity: {level: step}}``, as the compiler writes them), the first
    beat's addresses, and the image the padding test uses (the tap starts at row and column
    ``-padding``)."""
    ends: dict
    steps: dict
    origin: dict
    padding: int
    height: int
    width: int

    def rows(self):
        """The stage's rows of the descriptor memory, as the compiler writes them."""
        descriptor = {"ends": self.ends, "act_origin": self.origin["act"],
                      "weight_base": self.origin["weight"], "coef_base": self.origin["coef"],
                      "padding": self.padding, "in_height": self.height, "in_width": self.width}
        bounds = {level: end + 1 for level, end in self.ends.items()}
        return descriptor_memory_rows(descriptor, self.steps, bounds, CONFIG)

    def step_table(self):
        """Row ``i``: the step of level ``LEVELS[i]``."""
        return self.rows()[:len(LEVELS)]

    def descriptor_word(self):
        """The descriptor's bits, from its rows after the step table (lowest bits first), as
        the engine loads them."""
        width = StepLayout(CONFIG).size
        rows = self.rows()[len(LEVELS):len(LEVELS) + descriptor_rows(CONFIG)]
        word = sum(row << (width * index) for index, row in enumerate(rows))
        return word & ((1 << DescriptorLayout(CONFIG).size) - 1)


def address_bits(quantity):
    return getattr(CONFIG, f"{quantity}_addr_bits")


def expected_beats(stage):
    """The stage's beats by plain nested loops, outer level first."""
    origin = {**stage.origin, "row": -stage.padding, "column": -stage.padding}
    beats = []
    for indices in itertools.product(*(range(stage.ends[level] + 1) for level in LEVELS)):
        at = dict(zip(LEVELS, indices))
        value = {quantity: origin[quantity] + sum(at[level] * stage.steps[quantity][level]
                                                  for level in LEVELS)
                 for quantity in QUANTITIES}
        address = {quantity: value[quantity] % (1 << address_bits(quantity))
                   for quantity in ADDRESSES}
        inside = 0 <= value["row"] < stage.height and 0 <= value["column"] < stage.width
        beats.append(Beat(act=address["act"] if inside else 0, weight=address["weight"],
                          coef=address["coef"],
                          first=at["ky"] == at["kx"] == at["j"] == 0,
                          group_last=all(at[level] == stage.ends[level]
                                         for level in GROUP_LEVELS)))
    return beats


def beat_count(ends):
    count = 1
    for end in ends.values():
        count *= end + 1
    return count


#: Stage kinds, each making sure one case is in every seed's run.
KINDS = (
    "mixed",            # any level may be empty (end 0), so the base is any group level
    "single-beat groups",  # every group level has end 0: no base level at all
    "one beat",         # every level has end 0
    "padded",           # padding 1..3 on a small image: taps outside it read address 0
    "long groups",      # wide group counters (ends up to 9), few groups
)


def random_stage(rng, kind):
    """A random stage of ``kind`` (:data:`KINDS`) with at most :data:`MAX_BEATS` beats."""
    while True:
        ends = {level: rng.choice([0, 1, 1, 2, 3]) if rng.random() < 0.5 else 0
                for level in LEVELS}
        if kind == "single-beat groups":
            ends |= {level: 0 for level in GROUP_LEVELS}
        elif kind == "one beat":
            ends = {level: 0 for level in LEVELS}
        elif kind == "long groups":
            ends |= {level: rng.choice([0, 1]) for level in LEVELS[:LEVELS.index("m")]}
            ends |= {level: min(rng.choice([0, 0, 4, 9]), END_MAX[level])
                     for level in GROUP_LEVELS}
        if beat_count(ends) <= MAX_BEATS:
            break
    # Address steps anywhere in the address's range: they wrap (modulo its width).
    steps = {quantity: {level: rng.randrange(1 << address_bits(quantity)) for level in LEVELS}
             for quantity in ADDRESSES}
    # Row and column steps: a convolution's (0 to 2) for "padded", else sometimes negative
    # (the compiler's never are, but the table's rows, which take back the inner levels'
    # wraps, are).
    choices = [0, 1, 1, 2] if kind == "padded" else [-2, -1, 0, 1, 1, 2, 2]
    steps |= {quantity: {level: rng.choice(choices) for level in LEVELS}
              for quantity in ("row", "column")}
    origin = {quantity: rng.randrange(1 << address_bits(quantity)) for quantity in ADDRESSES}
    # Taps start at row and column -padding: at most the middle of their span, so that
    # most beats can be inside the image (each then checks an activation address).
    middle = min(sum(ends[level] * step for level, step in steps[quantity].items()) // 2
                 for quantity in ("row", "column"))
    if kind == "padded":
        padding = rng.randrange(1, 4)
    else:
        padding = rng.randrange(0, max(0, min(2, middle)) + 1)
    # The image ends where the taps stop, less the padding on that side too ("padded") or a
    # random margin: taps near its edges, or sent back by a negative step, are outside.
    sizes = []
    for quantity in ("row", "column"):
        reach = -padding + sum(ends[level] * max(step, 0)
                               for level, step in steps[quantity].items())
        margin = padding if kind == "padded" else rng.randrange(2)
        sizes.append(max(1, reach + 1 - margin))
    return Stage(ends=ends, steps=steps, origin=origin, padding=padding, height=sizes[0],
                 width=sizes[1])


#: The value buffer's behaviours, see :func:`reservation_pattern`.
PATTERNS = ("always", "often", "rarely", "stretch")


def reservation_pattern(rng, kind):
    """``can_reserve`` for each cycle of a stage (from ``start``): ``always``, ``often`` or
    ``rarely`` at random, or ``stretch``: low for 80 cycles early in the stage (a value buffer
    full while pooling waits), often high around that."""
    if kind == "always":
        return lambda cycle: True
    if kind in ("often", "rarely"):
        chance = 0.8 if kind == "often" else 0.25
        return lambda cycle: rng.random() < chance
    low_from = rng.randrange(0, 30)
    return lambda cycle: not low_from <= cycle < low_from + 80 and rng.random() < 0.8


class Cycle(NamedTuple):
    """The sequencer's outputs in one cycle (``beat`` only where ``fire``)."""
    running: bool
    fire: bool
    beat: Beat
    reserve: bool
    can_reserve: bool
    step_en: bool


def simulate(rng, stages, patterns, idles):
    """Runs ``stages`` back to back, ``idles[i]`` idle cycles before stage ``i``'s ``start``;
    returns, per stage, the idle cycles before it and its own, from ``start`` to the first
    where ``running`` is low."""
    dut = Sequencer(config=CONFIG)
    descriptor_bits = DescriptorLayout(CONFIG).size
    step_bits = StepLayout(CONFIG).size
    traces = []

    def sample(ctx, can_reserve):
        ctx.set(dut.can_reserve, can_reserve)
        fire = bool(ctx.get(dut.fire))
        beat = Beat(ctx.get(dut.act_addr), ctx.get(dut.weight_addr), ctx.get(dut.coef_addr),
                    bool(ctx.get(dut.first)), bool(ctx.get(dut.group_last))) if fire else None
        return Cycle(bool(ctx.get(dut.running)), fire, beat, bool(ctx.get(dut.reserve)),
                     can_reserve, bool(ctx.get(dut.step_en)))

    async def step_memory_tick(ctx, table, read):
        """A clock edge of the descriptor memory's read port: the row of ``step_level`` if
        ``step_en`` was high, else (the engine loads descriptors through the same port)
        anything."""
        level = ctx.get(dut.step_level)
        assert not read or level < len(table), f"step_level {level} is past the step table"
        await ctx.tick()
        ctx.set(dut.step.as_value(), table[level] if read else rng.getrandbits(step_bits))

    async def bench(ctx):
        for stage, pattern, idle in zip(stages, patterns, idles):
            table = stage.step_table()
            idle_trace = []
            for _ in range(idle):
                ctx.set(dut.descriptor.as_value(), rng.getrandbits(descriptor_bits))
                idle_trace.append(sample(ctx, rng.random() < 0.5))
                await step_memory_tick(ctx, table, idle_trace[-1].step_en)
            ctx.set(dut.descriptor.as_value(), stage.descriptor_word())
            ctx.set(dut.start, 1)
            trace = [sample(ctx, pattern(0))]
            await step_memory_tick(ctx, table, trace[-1].step_en)
            ctx.set(dut.start, 0)
            # Far more than any stage needs, even at the rarest reservations: a hang fails.
            limit = 20 * beat_count(stage.ends) + 400
            while True:
                trace.append(sample(ctx, pattern(len(trace))))
                if not trace[-1].running:
                    break
                assert len(trace) < limit, "the stage does not end"
                await step_memory_tick(ctx, table, trace[-1].step_en)
            traces.append((idle_trace, trace))
            await step_memory_tick(ctx, table, trace[-1].step_en)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return traces


def check_stage(stage, idle_trace, trace):
    """Every property of one stage's cycles (see the module documentation)."""
    for cycle in idle_trace:
        assert not (cycle.running or cycle.fire or cycle.reserve or cycle.step_en), cycle
    beats = [cycle.beat for cycle in trace if cycle.fire]
    expected = expected_beats(stage)
    assert beats == expected
    groups = sum(beat.group_last for beat in expected)
    assert sum(cycle.reserve for cycle in trace) == groups
    reserved = started = 0
    in_group = False
    for index, cycle in enumerate(trace):
        assert cycle.can_reserve or not cycle.reserve, f"reserve without room, cycle {index}"
        if cycle.fire:
            if not in_group:   # a group's first beat takes the entry reserved for it
                started += 1
                assert started <= reserved, f"group {started} fired unreserved, cycle {index}"
            in_group = not cycle.beat.group_last
            # Only a group's first beat waits: the accumulators never stall.
            assert not in_group or trace[index + 1].fire, f"bubble in a group, cycle {index}"
        reserved += cycle.reserve
    last_fire = max(index for index, cycle in enumerate(trace) if cycle.fire)
    # Low at start, high from the cycle after it to the one after the last beat, then low
    # (``trace`` ends at its first low cycle after ``start``).
    assert [cycle.running for cycle in trace] == [False] + [True] * (last_fire + 1) + [False]


@pytest.mark.parametrize("seed", range(24))
def test_random_stages_back_to_back_match_nested_loops(seed):
    """Ten stages, at least one of each kind, in random order; the value buffer's behaviour
    changes from stage to stage, each seed starting with another."""
    rng = random.Random(seed)
    kinds = list(KINDS) + [rng.choice(KINDS) for _ in range(5)]
    rng.shuffle(kinds)
    stages = [random_stage(rng, kind) for kind in kinds]
    patterns = [reservation_pattern(rng, PATTERNS[(seed + index) % len(PATTERNS)])
                for index in range(len(stages))]
    # The first stage starts straight after reset; later ones 0..3 cycles after the last.
    idles = [0] + [rng.randrange(4) for _ in stages[1:]]
    traces = simulate(rng, stages, patterns, idles)
    assert len(traces) == len(stages)
    for stage, (idle_trace, trace) in zip(stages, traces):
        check_stage(stage, idle_trace, trace)


def test_hand_checked_padded_convolution():
    """A 3 x 3 convolution with padding 1 over a 1 x 2 image (one word per pixel at 10 + column,
    so act_origin is 10 - 2 - 1), both output pixels: only the middle kernel row is inside the
    image, and of it the taps on columns 0 and 1; the rest read address 0. Weights 0..8 per tap,
    one coefficient."""
    ends = {level: 0 for level in LEVELS} | {"px": 1, "ky": 2, "kx": 2}
    steps = {quantity: {level: 0 for level in LEVELS} for quantity in QUANTITIES}
    steps["act"] |= {"px": 1, "ky": 2, "kx": 1}
    steps["row"]["ky"] = 1
    steps["column"] |= {"px": 1, "kx": 1}
    steps["weight"] |= {"ky": 3, "kx": 1}
    stage = Stage(ends=ends, steps=steps, origin={"act": 7, "weight": 0, "coef": 5},
                  padding=1, height=1, width=2)
    acts = [0, 0, 0, 0, 10, 11, 0, 0, 0,
            0, 0, 0, 10, 11, 0, 0, 0, 0]
    expected = [Beat(act, tap, 5, tap == 0, tap == 8)
                for act, tap in zip(acts, [*range(9), *range(9)])]
    assert expected_beats(stage) == expected
    (idle_trace, trace), = simulate(random.Random(0), [stage], [lambda cycle: True], [0])
    check_stage(stage, idle_trace, trace)
