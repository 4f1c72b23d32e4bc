"""The beat sequencer: walks one stage's loop nest and addresses the memories for every beat.

Loop order (outer to inner, :data:`~.descriptor.LEVELS`): ``py px g wy wx m ky kx j n``. The
input plane ``n`` is innermost so that consecutive beats share a weight word. The beats of one
(``py, px, g, wy, wx``) make up the *group* of terms of one accumulator value per PE: that
value lands in the value buffer, which has room for a bounded number of them, so the first beat
of a group waits until the buffer has granted it an entry (``can_reserve`` / ``reserve``; the
entry of the next group is reserved while this one runs). Every other beat is issued back to
back: the PE array and the accumulators never stall.

A four-stage pipeline, so that no path is longer than two or three look-up tables (the UP5K's
routing costs more than its logic):

1. the *counter*: one down-counter per level whose sign says "at its last index"; it finds the
   level that steps after this beat (the innermost one not at its last index), one-hot;
2. that level's index;
3. which addresses the stage's step table in the descriptor memory (``step_level``, read while
   ``step_en``);
4. the step read comes back beside the beat, whose quantities (activation, weight and
   coefficient addresses, the tap's row and column) are registers: the beat issues (``fire``)
   from them, and they add the step to become the next beat's.

Only the counter waits (for a reservation); the other stages move every cycle, a beat not taken
being a bubble. Taps outside the input image read activation address 0, which holds zeros (the
padding rule). The first chunk of each dot product (``ky = kx = j = 0``) carries ``-K`` into the
accumulator (``first``); the others add their ``2 p`` only, so that a dot product may span any
number of chunks (``docs/engine.md``: why the partial sums stay within the overflow proof's
bound).
"""

from amaranth import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .config import check_config
from .descriptor import LEVELS, POSITION_BITS, DescriptorLayout, StepLayout

__all__ = ["Sequencer"]

#: Flags that travel with a beat down the pipeline.
BeatLayout = data.StructLayout({"valid": 1, "first": 1, "group_last": 1})


def _widen(value):
    """Unsigned ``value`` zero-extended to a position's width (so that ``~`` is ``-1 - value``)."""
    return Cat(value, Const(0, POSITION_BITS - len(value)))


def _add(a, b, carry):
    """``a + b + carry`` in ``len(a)`` bits: one adder, ``carry`` (1 bit) its carry in."""
    return (Cat(carry, a) + Cat(carry, b))[1:len(a) + 1]


class Sequencer(wiring.Component):
    """Beat sequencer of a build ``config`` (see module documentation).

    Ports: ``descriptor`` (in, held for the stage), ``start`` (in, one-cycle pulse),
    ``running`` (out, registered: from the cycle after ``start`` to the one after the stage's
    last beat has issued); ``step_level``, ``step_en``
    (out) and ``step`` (in, :class:`~.descriptor.StepLayout`): the read port of the stage's
    step table, ``step`` being the row of ``step_level`` one cycle after ``step_en``;
    ``can_reserve`` (in) / ``reserve`` (out) for the value buffer (an entry for the group to
    come, reserved before its first beat); per beat: ``fire`` (out),
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
        counted = Signal(BeatLayout)    # stage 2: a beat, and (``stepping``) its level one-hot
        stepping = Signal(len(LEVELS) - 1)  # but the outermost, whose index is 0
        addressed = Signal(BeatLayout)  # stage 3: the beat whose step row is being read
        issued = Signal(BeatLayout)     # stage 4: the beat whose quantities are current
        loading = Signal(3)  # the cycles after ``start``, while the stage's constants load
        m.d.sync += loading.eq(Cat(self.start, loading[:-1]))
        busy = self._counter(m, loading, counted, stepping)
        m.d.sync += [addressed.eq(counted), issued.eq(addressed),
                     # One cycle late as it falls: the buffer's reservations keep the stage
                     # from ending before the last beat's value is in.
                     self.running.eq(self.start | busy | counted.valid | addressed.valid
                                     | issued.valid)]
        # ``stepping`` is one-hot (or zero): each bit of the level's index is an OR.
        m.d.sync += [self.step_level[bit].eq(Cat(stepping[index - 1]
                                                 for index in range(1, len(LEVELS))
                                                 if index >> bit & 1).any())
                     for bit in range(len(self.step_level))]
        m.d.comb += [self.step_en.eq(addressed.valid), self.fire.eq(issued.valid)]

        # Stage 4: the beat's quantities; issuing a beat adds the step its level read. The tap
        # is inside the image when its row and column are not negative and those minus the
        # image's height and width are: four sign bits. Row and column start at -padding
        # (``~padding + 1``), the other two from them the cycle after, each one adder whose
        # operands are chosen: no inverter or choice lies after a carry chain.
        config = self.config
        act = Signal(config.act_addr_bits)
        weight = Signal(config.weight_addr_bits)
        coef = Signal(config.coef_addr_bits)
        step = self.step
        with m.If(issued.valid):
            m.d.sync += [act.eq(act + step.act), weight.eq(weight + step.weight),
                         coef.eq(coef + step.coef)]
        with m.If(self.start):
            m.d.sync += [act.eq(d.act_origin), weight.eq(d.weight_base), coef.eq(d.coef_base)]
        signs = []
        for name, size in (("row", d.in_height), ("column", d.in_width)):
            position = Signal(signed(POSITION_BITS), name=name)
            beyond = Signal(signed(POSITION_BITS), name=f"{name}_beyond")  # position - size
            with m.If(issued.valid | self.start):
                m.d.sync += position.eq(_add(Mux(self.start, 0, position),
                                             Mux(self.start, ~_widen(d.padding), step[name]),
                                             self.start))
            with m.If(issued.valid | loading[0]):
                m.d.sync += beyond.eq(_add(Mux(loading[0], position, beyond),
                                           Mux(loading[0], ~_widen(size), step[name]),
                                           loading[0]))
            signs += [~position[-1], beyond[-1]]
        inside = Signal()
        m.d.comb += [
            inside.eq(Cat(signs).all()),
            self.act_addr.eq(act & inside.replicate(len(act))),
            self.weight_addr.eq(weight), self.coef_addr.eq(coef),
            self.first.eq(issued.first), self.group_last.eq(issued.group_last),
        ]
        return m

    def _counter(self, m, loading, counted, stepping):
        """Stage 1 into stage 2 (``counted``, ``stepping``); returns "beats left"."""
        ends = self.descriptor.ends
        group_levels = LEVELS[LEVELS.index("m"):]  # the beats of one group
        outer_levels = LEVELS[:LEVELS.index("m")]
        # Per level, its index still to go minus one: negative at its last index.
        count = {level: Signal(signed(len(ends[level]) + 1), name=f"{level}_count")
                 for level in LEVELS}
        last = {level: count[level][-1] for level in LEVELS}
        # A level steps when every level inside it is at its last index (it carries) and it is
        # not. Of the group's levels, those with end 0 never step, and the innermost other
        # one, the *base*, steps on every beat but those where it is at its last index
        # (``base_last``, from a copy of its counter). While it is not, the base and the levels
        # inside it carry (``inside_empty``, a stage constant); while it is, the levels inside
        # which every level but the base is at its last index (ANDs of the last flags, the
        # group levels' through ``settled``, where the base's is 1). A beat of the second kind
        # wraps the base to index 0, so the next one is of the first kind, or (no base) the
        # next group's first beat, which waits a cycle for its reservation: either way the
        # flags did not change in the cycle before a beat of the second kind, so a carry may
        # take them from registers that are a cycle late. Those are ANDs of a few flags each,
        # none a part of another (``inner_settled``, ``upper_settled``, and per outer level
        # ``outer_last``, the outer levels' inside it): every carry is one look-up table of
        # at most four register bits, and no chain of ANDs ripples across the levels.
        inside_empty = {level: Signal(name=f"{level}_inside_empty") for level in group_levels}
        # End 0: the last flag after a wrap, without a subtracter on the path.
        empty = {level: Signal(name=f"{level}_empty") for level in group_levels}
        settled = {level: Signal(name=f"{level}_settled") for level in group_levels}
        inner_levels, upper_levels = group_levels[-3:], group_levels[:-3]
        inner_settled, upper_settled = Signal(), Signal()
        outer_last = {level: Signal(name=f"{level}_outer_last")
                      for level in outer_levels[:-2]}
        m.d.sync += [inner_settled.eq(Cat(settled[level] for level in inner_levels).all()),
                     upper_settled.eq(Cat(settled[level] for level in upper_levels).all())]
        m.d.sync += [outer_last[level].eq(Cat(last[inner] for inner in outer_levels[depth + 1:])
                                          .all())
                     for depth, level in enumerate(outer_levels[:-2])]

        def ahead(level):
            """Every level inside ``level`` is at its last index (its base aside)."""
            if level in group_levels:
                inside = group_levels[group_levels.index(level) + 1:]
                if len(inside) >= len(inner_levels):
                    terms = [inner_settled, *(settled[x] for x in inside[:-len(inner_levels)])]
                else:
                    terms = [settled[x] for x in inside]
            else:
                inside = outer_levels[outer_levels.index(level) + 1:]
                terms = [inner_settled, upper_settled,
                         *([outer_last[level]] if level in outer_last
                           else [last[x] for x in inside])]
            return Cat(*terms).all() if terms else Const(1)

        end_bits = max(len(ends[level]) for level in group_levels)
        base_end = Signal(signed(end_bits + 1))  # minus one; -1 (always last) if no base
        base_count = Signal.like(base_end)
        base_last = base_count[-1]
        carry = {level: Mux(base_last, ahead(level), inside_empty[level])
                 for level in group_levels}
        carry |= {level: base_last & ahead(level) for level in outer_levels}
        final = carry[LEVELS[0]] & last[LEVELS[0]]

        # A beat is taken (``go``, from registers: it enables every counter) unless it is its
        # group's first and no value buffer entry is reserved for it. One entry is reserved
        # ahead, as soon as one is free, if a group-first beat is to come: the next beat is
        # one, or this group is not the stage's last (``final_group``, partly a cycle late:
        # while the next beat is not a group's first, the outer levels stepped two cycles ago
        # or more).
        counting = Signal()
        # Both 1 between stages: the stage's last beat is a group's last and a chunk's last.
        first = Signal(init=1)        # the next beat is a dot product's first chunk
        group_first = Signal(init=1)  # the next beat is its group's first
        reserved = Signal()
        final_group = Signal()  # the outer levels are at their last index
        # ``go`` is two registers ORed: ``reserve``, the deepest of its inputs, goes into one
        # alone (a beat may be taken because an entry was just reserved for it).
        go_held, go_granted = Signal(), Signal()
        go = go_held | go_granted
        m.d.comb += self.reserve.eq(counting & ~reserved & (group_first | ~final_group)
                                    & self.can_reserve)
        group_first_next = Mux(go, carry["wx"], group_first)
        reserved_next = Mux(reserved, ~(go & group_first), self.reserve)
        # ``go`` is ``~group_first_next | reserved_next``.
        m.d.sync += [group_first.eq(group_first_next), reserved.eq(reserved_next),
                     go_held.eq(Mux(reserved, ~(go & group_first & carry["wx"]),
                                    ~group_first_next)),
                     go_granted.eq(self.reserve)]
        m.d.comb += final_group.eq(outer_last[outer_levels[0]] & last[outer_levels[0]])

        m.d.sync += [counted.valid.eq(go), counted.first.eq(first),
                     counted.group_last.eq(carry["wx"]),
                     stepping.eq(Cat(carry[level] & ~last[level] for level in LEVELS[1:]))]
        with m.If(go | loading[2]):
            m.d.sync += base_count.eq(Mux(base_last, base_end, base_count - 1))
        with m.If(go):
            # ky, kx and j are all 0 after a step of m or an outer level; a step of n leaves
            # them as they are.
            m.d.sync += first.eq(carry["m"] | ~last["n"] & first)
            with m.If(final):
                m.d.sync += counting.eq(0)
            for level in group_levels:
                with m.If(carry[level]):
                    m.d.sync += settled[level].eq(
                        Mux(last[level], empty[level], (count[level] - 1)[-1])
                        | inside_empty[level])
        # The counters' enables (``start``, or the level carries) are apart from their values:
        # one look-up table after ``go``.
        for level in LEVELS:
            with m.If(self.start | go & carry[level]):
                m.d.sync += count[level].eq(Mux(self.start | last[level], ends[level] - 1,
                                                count[level] - 1))
        # Loading: the counters at ``start``, the group levels' constants the cycle after, the
        # base's end the next (the AND of the ends, minus one, of the base and the levels
        # inside it, which are -1), and the base's counter, at -1 since ``start``, reloads
        # from it the next.
        with m.If(self.start):
            m.d.sync += base_count.eq(-1)
        with m.If(loading[0]):
            m.d.sync += [inside_empty[level].eq(Cat(last[inner]
                                                    for inner in group_levels[depth + 1:]).all())
                         for depth, level in enumerate(group_levels)]
            m.d.sync += [empty[level].eq(last[level]) for level in group_levels]
        with m.If(loading[1]):
            base = Const(-1, base_end.shape())
            for level in group_levels:
                base = base & Mux(inside_empty[level], count[level], -1)
            m.d.sync += [counting.eq(1), base_end.eq(base)]
            m.d.sync += [settled[level].eq(last[level] | inside_empty[level])
                         for level in group_levels]
        return counting | loading.any()
