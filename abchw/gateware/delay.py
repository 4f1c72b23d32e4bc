"""Delay lines: a value through a chain of registers."""

from amaranth import Signal, Value

__all__ = ["delay"]


def delay(m, value, cycles, *, name):
    """``value`` through ``cycles`` registers of ``m``'s ``sync`` domain, each of ``value``'s
    shape and named ``{name}_q{index}``; ``value`` itself for 0 cycles."""
    for cycle in range(cycles):
        delayed = Signal(Value.cast(value).shape(), name=f"{name}_q{cycle}")
        m.d.sync += delayed.eq(value)
        value = delayed
    return value
