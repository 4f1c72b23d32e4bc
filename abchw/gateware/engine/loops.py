"""A nest of counted loops that steps once per beat, with addresses affine in the loop indices.

Each level counts ``0 .. bound - 1`` (``bound >= 1``, from the descriptor); a level steps when
every level inside it is at its last index. An *affine quantity* is ``init + sum_i idx_i *
step_i``; it is kept without multipliers as one register per level that has a step, holding the
quantity with the inner indices at 0. Stepping a level adds its step to its register; a level
that wraps instead takes the (new) value of the nearest outer level with a step, or ``init``.
So each beat costs one adder per register and a chain of multiplexers, whatever the shapes.
"""

from amaranth import Mux, Signal, signed, unsigned

__all__ = ["LoopNest"]


class LoopNest:
    """Loops ``levels`` (``[(name, bound), ...]``, outer first) built into module ``m``.

    ``advance``: a beat is taken this cycle (the nest steps); ``start``: restart at index 0
    (takes priority). Attributes: ``index[name]``, ``last[name]`` (index is ``bound - 1``),
    ``carry[name]`` (every inner level is last, so this one steps with the beat), ``final``
    (every level is last: this beat is the nest's last).
    """

    def __init__(self, m, levels, *, advance, start):
        self._m = m
        self._advance = advance
        self._start = start
        self.names = [name for name, _ in levels]
        self.index, self.last, self.carry = {}, {}, {}
        inner_last = None
        for name, bound in reversed(levels):
            index = Signal(len(bound), name=f"{name}_index")
            last = Signal(name=f"{name}_last")
            m.d.comb += last.eq(index == bound - 1)
            carry = Signal(name=f"{name}_carry")
            m.d.comb += carry.eq(1 if inner_last is None else inner_last)
            with m.If(start):
                m.d.sync += index.eq(0)
            with m.Elif(advance & carry):
                m.d.sync += index.eq(Mux(last, 0, index + 1))
            self.index[name], self.last[name], self.carry[name] = index, last, carry
            inner_last = last & carry
        self.final = inner_last

    def affine(self, name, *, width, init, steps, is_signed=False):
        """The current value of ``init + sum idx * steps[level]`` (``steps``: level name -> step
        value, levels not named have step 0), ``width`` bits, modular."""
        shape = signed(width) if is_signed else unsigned(width)
        m = self._m
        parent_next = init
        current = init
        for level in self.names:
            if level not in steps:
                continue
            register = Signal(shape, name=f"{name}_{level}")
            carry, last = self.carry[level], self.last[level]
            following = Signal(shape, name=f"{name}_{level}_next")
            m.d.comb += following.eq(Mux(carry & last, parent_next,
                                         Mux(carry, register + steps[level], register)))
            with m.If(self._start):
                m.d.sync += register.eq(init)
            with m.Elif(self._advance):
                m.d.sync += register.eq(following)
            parent_next, current = following, register
        return current
