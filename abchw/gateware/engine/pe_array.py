"""The processing-element array: P XNOR-popcount PEs, each followed by its beta-weighted accumulator.

All PEs see the same activation word and each its own weight word (one output channel per PE),
so one beat does ``pes * lanes`` binary multiply-accumulates. Each PE counts one chunk per beat
(every chunk is flagged ``last``): a dot product longer than ``lanes`` is summed by the
accumulator, one term per chunk, the first chunk's term carrying ``-K`` (``first``).

The array never stalls: the sequencer only starts a group when the value buffer has room for its
values, so the PEs' and accumulators' outputs are always taken and the flags beside them are
plain delay lines. A beat's coefficients must arrive :attr:`PeArray.coefficient_delay` cycles
after the beat itself (the engine reads them from memory that much later).
"""

from amaranth import Cat, Module, Mux, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..accumulator import BetaAccumulator
from ..delay import delay
from ..popcount import XnorPopcount
from .config import check_config
from .descriptor import K_BITS

__all__ = ["PeArray"]


class PeArray(wiring.Component):
    """``config.pes`` PEs of ``config.lanes`` lanes with their accumulators.

    Ports: ``valid``, ``weights`` (``pes * lanes`` bits, PE p's at ``p * lanes``),
    ``activations`` (``lanes`` bits), ``first``, ``last`` (in, one beat); ``k`` (in, the stage's
    K); ``coefficients`` (in, ``pes`` signed values, ``coefficient_delay`` cycles after the
    beat); ``values_valid`` and ``values`` (out, one accumulator value per PE, all at once).
    """

    def __init__(self, *, config):
        self.config = check_config(config)
        self._pes = [XnorPopcount(lanes=config.lanes, k_max=config.lanes)
                     for _ in range(config.pes)]
        self._accumulators = [
            BetaAccumulator(m=config.m, n=config.n, coef_bits=config.coef_bits,
                            hard_macro=config.hard_macro)
            for _ in range(config.pes)]
        super().__init__({
            "valid": In(1),
            "weights": In(config.pes * config.lanes),
            "activations": In(config.lanes),
            "first": In(1),
            "last": In(1),
            "k": In(K_BITS),
            "coefficients": In(data.ArrayLayout(signed(config.coef_bits), config.pes)),
            "values_valid": Out(1),
            "values": Out(data.ArrayLayout(signed(config.acc_bits), config.pes)),
        })

    @property
    def coefficient_delay(self):
        return self._pes[0].latency


    def elaborate(self, platform):
        m = Module()
        lanes = self.config.lanes
        flags = delay(m, Cat(self.first, self.last), self.coefficient_delay, name="flags")
        first, last = flags[0], flags[1]
        for index, (pe, accumulator) in enumerate(zip(self._pes, self._accumulators)):
            m.submodules[f"pe{index}"] = pe
            m.submodules[f"accumulator{index}"] = accumulator
            m.d.comb += [
                pe.chunks.valid.eq(self.valid),
                pe.chunks.payload.weights.eq(self.weights[index * lanes:(index + 1) * lanes]),
                pe.chunks.payload.activations.eq(self.activations),
                pe.chunks.payload.last.eq(1),
                pe.popcounts.ready.eq(1),
                accumulator.terms.valid.eq(pe.popcounts.valid),
                accumulator.terms.payload.popcount.eq(pe.popcounts.payload),
                accumulator.terms.payload.coefficient.eq(self.coefficients[index]),
                accumulator.terms.payload.last.eq(last),
                accumulator.k.eq(Mux(first, self.k, 0)),
                accumulator.values.ready.eq(1),
                self.values[index].eq(accumulator.values.payload),
            ]
        m.d.comb += self.values_valid.eq(self._accumulators[0].values.valid)
        return m
