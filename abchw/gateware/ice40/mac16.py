"""The iCE40 SB_MAC16 DSP block as a registered signed 16 x 16 -> 32-bit multiplier.

Cycle behaviour (both implementations): on a rising edge with ``ce`` high the operand registers
take ``a`` and ``b`` and the product register takes the product of the *previous* operand
registers, so ``product`` shows ``a * b`` two enabled edges after ``a`` and ``b`` were presented
(``LATENCY = 2``). With ``ce`` low every register holds: a stalled pipeline freezes the
multiplier too. No register is reset (the macro's asynchronous IRST/ORST inputs are tied low);
the user's valid bits, which are reset, say when ``product`` means something.

``hard_macro=True`` instantiates SB_MAC16 in the configuration of Lattice's *DSP Function Usage
Guide for iCE40 Devices* (TN1295) for a pipelined 16 x 16 multiplier, checked against the Yosys
simulation model ``share/ice40/cells_sim.v``:

* ``A_SIGNED = B_SIGNED = 1``: both operands two's complement;
* ``A_REG = B_REG = 1``: the operand registers A and B (first stage);
* ``TOP_8x8_MULT_REG = BOT_8x8_MULT_REG = PIPELINE_16x16_MULT_REG1 = 0``: the four 8 x 8 partial
  products are not registered (that would be a third stage);
* ``PIPELINE_16x16_MULT_REG2 = 1``: the 32-bit product register H (second stage);
* ``TOPOUTPUT_SELECT = BOTOUTPUT_SELECT = 2'b11``: ``O`` is H, bypassing the adders and the
  accumulator registers; C, D, the adder/accumulator controls and ``MODE_8x8`` are unused (0).

Amaranth does not simulate an ``Instance``; the RTL tests compile the Yosys model with the design.
``hard_macro=False`` elaborates the same registers in plain Amaranth.
"""

from amaranth import ClockSignal, Const, Instance, Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..params import check_bool

__all__ = ["Mac16"]

# Every SB_MAC16 parameter, sized as cells_sim.v declares it, so that no tool guesses a default.
_PARAMETERS = {
    "NEG_TRIGGER": (0, 1), "C_REG": (0, 1), "A_REG": (1, 1), "B_REG": (1, 1), "D_REG": (0, 1),
    "TOP_8x8_MULT_REG": (0, 1), "BOT_8x8_MULT_REG": (0, 1),
    "PIPELINE_16x16_MULT_REG1": (0, 1), "PIPELINE_16x16_MULT_REG2": (1, 1),
    "TOPOUTPUT_SELECT": (0b11, 2), "TOPADDSUB_LOWERINPUT": (0, 2), "TOPADDSUB_UPPERINPUT": (0, 1),
    "TOPADDSUB_CARRYSELECT": (0, 2),
    "BOTOUTPUT_SELECT": (0b11, 2), "BOTADDSUB_LOWERINPUT": (0, 2), "BOTADDSUB_UPPERINPUT": (0, 1),
    "BOTADDSUB_CARRYSELECT": (0, 2),
    "MODE_8x8": (0, 1), "A_SIGNED": (1, 1), "B_SIGNED": (1, 1),
}

# Control inputs held low: no hold, no reset, no load, add (unused), no carries.
_TIED_LOW = ["AHOLD", "BHOLD", "CHOLD", "DHOLD", "IRSTTOP", "IRSTBOT", "ORSTTOP", "ORSTBOT",
             "OLOADTOP", "OLOADBOT", "ADDSUBTOP", "ADDSUBBOT", "OHOLDTOP", "OHOLDBOT",
             "CI", "ACCUMCI", "SIGNEXTIN"]


class Mac16(wiring.Component):
    """Signed 16 x 16 -> 32-bit multiplier with operand and product registers (see module doc).

    Parameter (keyword-only): ``hard_macro``, a bool: SB_MAC16 instance or behavioural model.

    Interface: ``a``, ``b`` (in) ``signed(16)``; ``ce`` (in) clock enable; ``product`` (out)
    ``signed(32)``, ``a * b`` of ``LATENCY`` enabled edges before.
    """

    a: In(signed(16))
    b: In(signed(16))
    ce: In(1)
    product: Out(signed(32))

    #: Enabled clock edges from operands to product: operand registers, product register.
    LATENCY = 2

    def __init__(self, *, hard_macro):
        check_bool("hard_macro", hard_macro)
        self.hard_macro = hard_macro
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        if self.hard_macro:
            m.submodules.mac16 = Instance(
                "SB_MAC16",
                **{f"p_{name}": Const(value, width)
                   for name, (value, width) in _PARAMETERS.items()},
                **{f"i_{name}": Const(0, 1) for name in _TIED_LOW},
                i_CLK=ClockSignal(), i_CE=self.ce, i_A=self.a, i_B=self.b,
                i_C=Const(0, 16), i_D=Const(0, 16), o_O=self.product)
        else:
            a = Signal(signed(16), reset_less=True)
            b = Signal(signed(16), reset_less=True)
            product = Signal(signed(32), reset_less=True)
            with m.If(self.ce):
                m.d.sync += [a.eq(self.a), b.eq(self.b), product.eq(a * b)]
            m.d.comb += self.product.eq(product)
        return m
