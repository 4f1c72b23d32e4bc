"""The beat sequencer: walks one stage's loop nest and addresses the memories for every beat.

Loop order (outer to inner, see :mod:`.descriptor`): ``py px g wy wx m ky kx j n``. The input
plane ``n`` is innermost so that consecutive beats share a weight word. The beats of one
(``py, px, g, wy, wx``) make up the *group* of terms of one accumulator value per PE: that
value lands in the value buffer, which has room for a bounded number of them, so the first beat
of a group waits until the buffer grants an entry (``can_reserve`` / ``reserve``). Every other
beat is issued back to back: the PE array and the accumulators never stall.

Taps outside the input image read activation address 0, which holds zeros (the padding rule).
The first chunk of each dot product (``ky = kx = j = 0``) carries ``-K`` into the accumulator
(``first``); the others add their ``2 p`` only, so that a dot product may span any number of
chunks (``docs/engine.md``: why the partial sums stay within the overflow proof's bound).
"""

from amaranth import Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .config import DIM_BITS, check_config
from .descriptor import DescriptorLayout
from .loops import LoopNest

__all__ = ["Sequencer"]

LEVELS = ("py", "px", "g", "wy", "wx", "m", "ky", "kx", "j", "n")


class Sequencer(wiring.Component):
    """Beat sequencer of a build ``config`` (see module documentation).

    Ports: ``descriptor`` (in, held for the stage), ``start`` (in, one-cycle pulse),
    ``running`` (out, until the stage's last beat); ``can_reserve`` (in) / ``reserve`` (out) for
    the value buffer; per beat: ``fire`` (out), the read addresses ``act_addr``,
    ``weight_addr``, ``coef_addr``, and the flags ``first`` (the chunk carries ``-K``) and
    ``group_last`` (the group's last beat).
    """

    def __init__(self, *, config):
        self.config = check_config(config)
        super().__init__({
            "descriptor": In(DescriptorLayout(config)),
            "start": In(1),
            "running": Out(1),
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
        bounds = {"py": d.out_height, "px": d.out_width, "g": d.groups, "wy": d.pool,
                  "wx": d.pool, "m": d.bases, "ky": d.kernel_height, "kx": d.kernel_width,
                  "j": d.words, "n": d.planes}
        loops = LoopNest(m, [(name, bounds[name]) for name in LEVELS],
                         advance=self.fire, start=self.start)
        config = self.config
        act = loops.affine("act", width=config.act_addr_bits, init=d.act_origin, steps={
            "py": d.pool_row_step, "px": d.pool_col_step, "wy": d.window_row_step,
            "wx": d.window_col_step, "ky": d.row_stride, "kx": d.words, "j": 1,
            "n": d.plane_stride})
        position_bits = 2 * DIM_BITS + 2
        origin = Signal(signed(position_bits))
        m.d.comb += origin.eq(-d.padding)
        row = loops.affine("row", width=position_bits, init=origin, is_signed=True,
                           steps={"py": d.pool_step, "wy": d.stride, "ky": 1})
        column = loops.affine("column", width=position_bits, init=origin, is_signed=True,
                              steps={"px": d.pool_step, "wx": d.stride, "kx": 1})
        weight = loops.affine("weight", width=config.weight_addr_bits, init=d.weight_base,
                              steps={"g": d.group_weight_step, "m": d.base_weight_step,
                                     "ky": d.row_weight_step, "kx": d.words, "j": 1})
        coef = loops.affine("coef", width=config.coef_addr_bits, init=d.coef_base,
                            steps={"g": d.group_coef_step, "m": d.planes, "n": 1})

        inside = Signal()
        m.d.comb += inside.eq((row >= 0) & (row < d.in_height)
                              & (column >= 0) & (column < d.in_width))
        # The first beat of a group waits for an entry in the value buffer.
        group_first = Signal()
        m.d.comb += [
            self.fire.eq(self.running & (~group_first | self.can_reserve)),
            self.reserve.eq(self.fire & group_first),
            self.act_addr.eq(act & inside.replicate(len(act))),
            self.weight_addr.eq(weight),
            self.coef_addr.eq(coef),
            self.first.eq((loops.index["ky"] == 0) & (loops.index["kx"] == 0)
                          & (loops.index["j"] == 0)),
            self.group_last.eq(loops.carry["wx"]),
        ]
        with m.If(self.start):
            m.d.sync += [self.running.eq(1), group_first.eq(1)]
        with m.Elif(self.fire):
            m.d.sync += group_first.eq(self.group_last)
            with m.If(loops.final):
                m.d.sync += self.running.eq(0)
        return m
