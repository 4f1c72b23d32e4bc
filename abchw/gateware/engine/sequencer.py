"""The beat sequencer: walks one stage's loop nest and addresses the memories for every beat.

Loop order (outer to inner, :data:`~.descriptor.LEVELS`): ``py px g wy wx m ky kx j n``. The
input plane ``n`` is innermost so that consecutive beats share a weight word. The beats of one
(``py, px, g, wy, wx``) make up the *group* of terms of one accumulator value per PE: that
value lands in the value buffer, which has room for a bounded number of them, so the first beat
of a group waits until the buffer grants an entry (``can_reserve`` / ``reserve``). Every other
beat is issued back to back: the PE array and the accumulators never stall.

A three-stage pipeline, so that no path is longer than a few look-up tables:

1. the *counter*: one down-counter per level with a registered "at its last index" flag; it
   finds the level that steps after this beat (the innermost one not at its last index);
2. that level addresses the stage's step table in the descriptor memory (``step_level``, read
   while ``step_en``);
3. the step read comes back beside the beat, whose quantities (activation, weight and
   coefficient addresses, the tap's row and column) are registers: the beat issues from them,
   and as it does they add the step to become the next beat's.

The pipeline moves while its last stage is empty or issues (``fire``). Taps outside the input
image read activation address 0, which holds zeros (the padding rule). The first chunk of each
dot product (``ky = kx = j = 0``) carries ``-K`` into the accumulator (``first``); the others
add their ``2 p`` only, so that a dot product may span any number of chunks (``docs/engine.md``:
why the partial sums stay within the overflow proof's bound).
"""

from amaranth import Cat, Const, Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .config import check_config
from .descriptor import LEVELS, POSITION_BITS, DescriptorLayout, StepLayout

__all__ = ["Sequencer"]

#: Flags that travel with a beat down the pipeline.
BeatLayout = data.StructLayout({"valid": 1, "first": 1, "group_first": 1, "group_last": 1})


class Sequencer(wiring.Component):
    """Beat sequencer of a build ``config`` (see module documentation).

    Ports: ``descriptor`` (in, held for the stage), ``start`` (in, one-cycle pulse),
    ``running`` (out, until the stage's last beat has issued); ``step_level``, ``step_en``
    (out) and ``step`` (in, :class:`~.descriptor.StepLayout`): the read port of the stage's
    step table, ``step`` being the row of ``step_level`` one cycle after ``step_en``;
    ``can_reserve`` (in) / ``reserve`` (out) for the value buffer; per beat: ``fire`` (out),
    the read addresses ``act_addr``, ``weight_addr``, ``coef_addr``, and the flags ``first``
    (the chunk carries ``-K``) and ``group_last`` (the group's last beat).
    """

    def __init__(self, *, config):
        self.config = check_config(config)
        super().__init__({
            "descriptor": In(DescriptorLayout(config)),
            "start": In(1),
            "running": Out(1),
            "step_level": Out(range(len(LEVELS))),
            "step_en": Out(1),
            "step": In(StepLayout(config)),
            "can_reserve": In(1),
            "reserve": Out(1),
            "fire": Out(1),
            "act_addr": Out(config.act_addr_bits),
            "weight_addr": Out(config.weight_addr_bits),
            "coef_addr": Out(config.coef_addr_bits),
            "first": Out(1),
            "group_last": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        d = self.descriptor
        advance = Signal()
        issued = Signal(BeatLayout)     # stage 3: the beat whose quantities are current
        addressed = Signal(BeatLayout)  # stage 2: the beat whose step row is being read
        m.d.comb += [advance.eq(~issued.valid | self.fire),
                     self.fire.eq(issued.valid & (~issued.group_first | self.can_reserve)),
                     self.reserve.eq(self.fire & issued.group_first),
                     self.running.eq(self._counter(m, advance, addressed)
                                     | addressed.valid | issued.valid)]
        with m.If(advance):
            m.d.sync += issued.eq(addressed)
        m.d.comb += self.step_en.eq(advance)

        # Stage 3: the beat's quantities; issuing a beat adds the step its level read.
        config = self.config
        act = Signal(config.act_addr_bits)
        weight = Signal(config.weight_addr_bits)
        coef = Signal(config.coef_addr_bits)
        row, column = Signal(signed(POSITION_BITS)), Signal(signed(POSITION_BITS))
        step = self.step
        with m.If(advance & issued.valid):
            m.d.sync += [act.eq(act + step.act), weight.eq(weight + step.weight),
                         coef.eq(coef + step.coef), row.eq(row + step.row),
                         column.eq(column + step.column)]
        inside = Signal()
        m.d.comb += [
            inside.eq((row >= 0) & (row < d.in_height) & (column >= 0) & (column < d.in_width)),
            self.act_addr.eq(act & inside.replicate(len(act))),
            self.weight_addr.eq(weight), self.coef_addr.eq(coef),
            self.first.eq(issued.first), self.group_last.eq(issued.group_last),
        ]
        with m.If(self.start):
            m.d.sync += [act.eq(d.act_origin), weight.eq(d.weight_base), coef.eq(d.coef_base),
                         row.eq(-d.padding), column.eq(-d.padding),
                         issued.valid.eq(0), addressed.valid.eq(0)]
        return m

    def _counter(self, m, advance, addressed):
        """Stage 1 into stage 2 (``addressed``, and ``step_level``); returns "beats left"."""
        ends = self.descriptor.ends
        remaining = {level: Signal(len(ends[level]), name=f"{level}_remaining")
                     for level in LEVELS}
        last = {level: Signal(name=f"{level}_last") for level in LEVELS}
        # A level steps when every level inside it is at its last index (its carry) and it is
        # not; exactly one level steps, unless the beat is the stage's last.
        carry, inner_last = {}, Const(1)
        for level in reversed(LEVELS):
            carry[level] = inner_last
            inner_last = inner_last & last[level]
        final = inner_last
        stepping = {level: carry[level] & ~last[level] for level in LEVELS}
        level_index = Signal.like(self.step_level)
        m.d.comb += level_index.eq(0)
        for index, level in enumerate(LEVELS):
            with m.If(stepping[level]):
                m.d.comb += level_index.eq(index)

        counting, first, group_first = Signal(), Signal(), Signal()
        group_last = carry["wx"]
        take = advance & counting
        with m.If(take):
            m.d.sync += [
                addressed.valid.eq(1), addressed.first.eq(first),
                addressed.group_first.eq(group_first), addressed.group_last.eq(group_last),
                self.step_level.eq(level_index),
                group_first.eq(group_last),
                # ky, kx and j are all 0 after a step of m or an outer level; a step of n
                # leaves them as they are.
                first.eq(Cat(stepping[level] for level in LEVELS[:LEVELS.index("ky")]).any()
                         | stepping["n"] & first),
            ]
            with m.If(final):
                m.d.sync += counting.eq(0)
            for level in LEVELS:
                with m.If(carry[level]):
                    with m.If(last[level]):
                        m.d.sync += [remaining[level].eq(ends[level]),
                                     last[level].eq(ends[level] == 0)]
                    with m.Else():
                        m.d.sync += [remaining[level].eq(remaining[level] - 1),
                                     last[level].eq(remaining[level] == 1)]
        with m.Elif(advance):
            m.d.sync += addressed.valid.eq(0)
        with m.If(self.start):
            m.d.sync += [counting.eq(1), first.eq(1), group_first.eq(1)]
            m.d.sync += [remaining[level].eq(ends[level]) for level in LEVELS]
            m.d.sync += [last[level].eq(ends[level] == 0) for level in LEVELS]
        return counting
