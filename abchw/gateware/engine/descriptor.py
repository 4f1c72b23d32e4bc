"""The program of one stage: its descriptor and its step table, precomputed by the compiler.

The sequencer walks each stage as a nest of loops (outer to inner, :data:`LEVELS`)::

    pooled row py, pooled column px, channel group g, pool-window row wy and column wx,
    base m, kernel row ky and column kx, input word j, input plane n

and each iteration of the innermost loop is one *beat*: one ``lanes``-bit word of the input
feature map against one weight word per processing element. Every address (and the tap's row and
column, for the padding test) is affine in the loop indices, so from one beat to the next it
changes by a constant that depends only on which loop steps (the innermost one not at its last
index; every loop inside it wraps to 0): the *step* of that level,
``step[level] - sum(last_index[i] * step[i] for i inside level)``. The compiler writes the step
of every level of a stage as one row of the *step table* (:class:`StepLayout`); the sequencer
reads the row of the level that steps and adds it, one adder per quantity whatever the shapes.

The descriptor memory holds, per stage, :func:`stage_rows` rows: the step table (row ``i`` for
level ``LEVELS[i]``), then the :class:`DescriptorLayout` split into rows, lowest bits first,
loaded into a register when the stage starts.

A feature map is stored plane by plane, row by row, pixel by pixel, each pixel as ``words``
consecutive words holding its channels (bit l of word j = channel ``j * lanes + l``, bits past
the channel count 0). Address 0 of the activation memory always holds zeros: taps outside the
image read it, which is the golden model's padding (bit 0, the value -1).
"""

from amaranth import signed, unsigned
from amaranth.lib import data
from amaranth.utils import ceil_log2

from .config import DIM_BITS

__all__ = ["LEVELS", "POSITION_BITS", "DescriptorLayout", "StepLayout", "descriptor_rows",
           "stage_rows"]

CHANNEL_BITS = 13   # up to 4096 channels
K_BITS = 15         # K <= K_MAX = 32767
IMAGE_BYTES_BITS = 24
#: The loop levels, outer to inner.
LEVELS = ("py", "px", "g", "wy", "wx", "m", "ky", "kx", "j", "n")
#: Width of a tap's row or column (signed: padding makes it negative).
POSITION_BITS = DIM_BITS + 2


def _end_bits(config):
    """Width of each level's last index."""
    dim = DIM_BITS
    return {"py": dim, "px": dim, "g": CHANNEL_BITS, "wy": 2, "wx": 2, "m": 3, "ky": dim,
            "kx": dim, "j": config.act_addr_bits, "n": 3}


class StepLayout(data.StructLayout):
    """One row of the step table of a build ``config``: what each quantity adds when its level
    steps (modulo its width)."""

    def __init__(self, config):
        super().__init__({
            "act": unsigned(config.act_addr_bits),
            "row": signed(POSITION_BITS), "column": signed(POSITION_BITS),
            "weight": unsigned(config.weight_addr_bits),
            "coef": unsigned(config.coef_addr_bits),
        })


class DescriptorLayout(data.StructLayout):
    """The descriptor of one stage for a build :class:`~.config.EngineConfig` ``config``."""

    def __init__(self, config):
        act = unsigned(config.act_addr_bits)
        dim = unsigned(DIM_BITS)
        super().__init__({
            # The image loader (first stage only): bytes of one image, channels per pixel.
            "image_bytes": unsigned(IMAGE_BYTES_BITS),
            "in_channels": unsigned(CHANNEL_BITS),
            "in_base": act,
            # The loops: the last index of each level (its bound minus 1).
            "ends": data.StructLayout({level: unsigned(bits)
                                       for level, bits in _end_bits(config).items()}),
            # The first beat's addresses, and the padding test's bounds.
            "act_origin": act, "weight_base": unsigned(config.weight_addr_bits),
            "coef_base": unsigned(config.coef_addr_bits),
            "padding": dim, "in_height": dim, "in_width": dim,
            "pool": unsigned(3), "k": unsigned(K_BITS),
            # Output: channels, planes and where the comparators' bits go; the input's plane
            # stride (the image loader writes with it).
            "channels": unsigned(CHANNEL_BITS), "out_planes": unsigned(4), "out_base": act,
            "out_plane_stride": act, "plane_stride": act,
            "threshold_base": unsigned(config.threshold_addr_bits),
            "final": unsigned(1),
        })


def descriptor_rows(config):
    """Rows of the descriptor memory one descriptor takes."""
    return -(-DescriptorLayout(config).size // StepLayout(config).size)


def stage_rows(config):
    """Rows of the descriptor memory per stage: the step table, then the descriptor, rounded
    up to a power of two (a row's address is the stage number above the row within it)."""
    return 1 << ceil_log2(len(LEVELS) + descriptor_rows(config))
