"""Stream slice: a registered stage (a skid buffer) that cuts a stream's combinational paths.

A stream's ``ready`` usually runs back combinationally through every stage that advances "when
its output is empty or being taken"; a long pipeline then makes one long path from the last
consumer to the first producer's enables. :class:`StreamSlice` ends both paths at flip-flops:
``output.valid`` and ``output.payload`` come from the output register and ``input.ready`` from the
skid register's flag, so neither depends on anything in the same cycle.

``input.ready`` is high while the skid register is empty. When the output register is full and
not taken, a payload accepted in that cycle (accepted because ``ready`` could not yet know of the
stall) waits in the skid register, and ``input.ready`` falls until the output takes it. Full
throughput, one payload a cycle, while ``output.ready`` stays high; latency one cycle; the order
is kept and nothing is lost or repeated. The domain reset empties both registers; the payload
registers have no reset.
"""

from amaranth import Module, Shape, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["StreamSlice"]


class StreamSlice(wiring.Component):
    """Skid buffer of ``shape`` payloads (keyword-only, any shape-like object; see module
    documentation). Ports: ``input`` (in stream), ``output`` (out stream)."""

    def __init__(self, *, shape):
        try:
            Shape.cast(shape)
        except TypeError:
            raise TypeError(f"shape must be a shape-like object, not {shape!r}") from None
        self.shape = shape
        super().__init__({"input": In(stream.Signature(shape)),
                          "output": Out(stream.Signature(shape))})

    def elaborate(self, platform):
        m = Module()
        payload = Signal(self.shape, reset_less=True)
        skid = Signal(self.shape, reset_less=True)
        skid_valid = Signal()
        m.d.comb += [self.input.ready.eq(~skid_valid), self.output.payload.eq(payload)]
        advance = ~self.output.valid | self.output.ready
        # ``skid_valid`` as one gate of ``advance``, ``input.valid`` and itself, not as an
        # enable and a reset, which put a gate more after ``output.ready``.
        m.d.sync += skid_valid.eq(~advance & (skid_valid | self.input.valid))
        with m.If(advance):
            # The skid register, when full, holds the older payload: it goes first.
            m.d.sync += self.output.valid.eq(skid_valid | self.input.valid)
            with m.If(skid_valid):
                m.d.sync += payload.eq(skid)
            with m.Else():
                m.d.sync += payload.eq(self.input.payload)
        with m.Elif(self.input.valid & ~skid_valid):
            m.d.sync += skid.eq(self.input.payload)
        return m
