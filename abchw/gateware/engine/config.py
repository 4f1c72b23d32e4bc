"""The parameters of one engine build, and every width and limit that follows from them.

A build is fixed by the largest M and N it runs, its array of ``pes`` processing elements of
``lanes`` lanes, and the depths of its memories. It does not depend on a network: any network
whose descriptors, weights, coefficients, thresholds and feature maps fit runs on it
(:mod:`abchw.compiler` checks that, and says what does not fit).
"""

from dataclasses import asdict, dataclass

from amaranth.utils import bits_for, ceil_log2

from ...golden.fixed_point import COEF_BITS
from ...network import K_MAX
from ..arithmetic import Arithmetic
from ..params import check_bool, check_int
from ..popcount import LANES_MAX

__all__ = ["COUNTERS", "DIM_BITS", "POOL_MAX", "SPRAM_BITS", "SPRAM_WORDS", "EngineConfig"]

#: Width of a feature-map side, kernel side, stride or padding in a descriptor.
DIM_BITS = 10
#: Largest pooling window side the engine runs.
POOL_MAX = 4
#: Width and depth of the weight memory when it is SPRAM (four SB_SPRAM256KA side by side).
SPRAM_BITS, SPRAM_WORDS = 64, 16384
#: The performance counters sent after every inference, 8 bytes each (little-endian):
#: cycles loading the image, cycles computing, cycles the PE array accepted work.
COUNTERS = ("load_cycles", "compute_cycles", "busy_cycles")


@dataclass(frozen=True)
class EngineConfig:
    """One build (all parameters keyword-only, validated):

    ``m``, ``n``: the largest M and N (1..8); ``pes``: output channels computed at once (1..64);
    ``lanes``: bits of a dot product taken per cycle by each PE (1..1024); ``coef_bits``;
    ``act_words``: depth of the activation memory, in words of ``lanes`` bits;
    ``weight_words``: depth of the weight memory, in words of ``pes * lanes`` bits;
    ``coef_words``: depth of the coefficient memory, in words of ``pes`` coefficients;
    ``threshold_words``: channels whose thresholds the build holds;
    ``stages_max``: layer descriptors it holds; ``hard_macro``: iCE40 hard macros (SB_MAC16
    multipliers, and SB_SPRAM256KA where ``weight_spram``) instead of behavioural models;
    ``weight_spram``: the weight memory is 16K-word SPRAM (at most :data:`SPRAM_BITS` wide).
    """
    m: int
    n: int
    pes: int
    lanes: int
    coef_bits: int = COEF_BITS
    act_words: int = 4096
    weight_words: int = 1024
    coef_words: int = 512
    threshold_words: int = 512
    stages_max: int = 16
    hard_macro: bool = False
    weight_spram: bool = False

    def __post_init__(self):
        check_int("pes", self.pes, 1, 64)
        check_int("lanes", self.lanes, 1, LANES_MAX)
        for name in ("act_words", "weight_words", "coef_words", "threshold_words"):
            check_int(name, getattr(self, name), 2, 1 << 20)
        check_int("stages_max", self.stages_max, 1, 16)
        for name in ("hard_macro", "weight_spram"):
            check_bool(name, getattr(self, name))
        if self.weight_spram and self.pes * self.lanes > SPRAM_BITS:
            raise ValueError(f"a weight_spram build reads at most {SPRAM_BITS} bits a beat (four "
                             f"16-bit SPRAMs), not pes * lanes = {self.pes * self.lanes}")
        if self.weight_spram and self.weight_words > SPRAM_WORDS:
            raise ValueError(f"a weight_spram build holds at most {SPRAM_WORDS} weight words, "
                             f"not {self.weight_words!r}")
        Arithmetic(m=self.m, n=self.n, k_max=K_MAX, coef_bits=self.coef_bits)  # validates

    @property
    def arithmetic(self):
        return Arithmetic(m=self.m, n=self.n, k_max=K_MAX, coef_bits=self.coef_bits)

    @property
    def acc_bits(self):
        return self.arithmetic.acc_bits


    @property
    def act_addr_bits(self):
        return ceil_log2(self.act_words)

    @property
    def weight_addr_bits(self):
        return ceil_log2(self.weight_words)

    @property
    def coef_addr_bits(self):
        return ceil_log2(self.coef_words)

    @property
    def threshold_addr_bits(self):
        return ceil_log2(self.threshold_words)

    @property
    def stage_bits(self):
        return bits_for(self.stages_max - 1)

    @property
    def value_depth(self):
        """Entries of the value buffer between the accumulators and max-pool: two windows."""
        return 2 * POOL_MAX * POOL_MAX

    @property
    def score_bytes(self):
        """Bytes per score on the result stream (two's complement, little-endian)."""
        return -(-self.acc_bits // 8)

    def as_dict(self):
        return asdict(self)


def check_config(config):
    """``config`` itself, or ``TypeError`` naming what was passed instead."""
    if not isinstance(config, EngineConfig):
        raise TypeError(f"config must be an EngineConfig, not {config!r}")
    return config
