"""The layer descriptor: everything the engine needs to run one stage, precomputed by the compiler.

The sequencer walks each stage as a nest of loops (outer to inner)::

    pooled row py, pooled column px, channel group g, pool-window row wy and column wx,
    base m, kernel row ky and column kx, input word j, input plane n

and each iteration of the innermost loop is one *beat*: one ``lanes``-bit word of the input
feature map against one weight word per processing element. Addresses are affine in the loop
indices, so the descriptor stores, instead of shapes to multiply at run time, the step each loop
adds to each address (``docs/engine.md`` lists the formulas; :mod:`abchw.compiler` fills them in).

A feature map is stored plane by plane, row by row, pixel by pixel, each pixel as ``words``
consecutive words holding its channels (bit l of word j = channel ``j * lanes + l``, bits past
the channel count 0). Address 0 of the activation memory always holds zeros: taps outside the
image read it, which is the golden model's padding (bit 0, the value -1).
"""

from amaranth import unsigned
from amaranth.lib import data

from .config import DIM_BITS

__all__ = ["DESCRIPTOR_WORD_BITS", "DescriptorLayout", "descriptor_words"]

CHANNEL_BITS = 13   # up to 4096 channels
K_BITS = 15         # K <= K_MAX = 32767
IMAGE_BYTES_BITS = 24
#: Descriptors are stored in words this wide (one block RAM wide), lowest bits first, and
#: loaded into a register when their stage starts.
DESCRIPTOR_WORD_BITS = 16


def descriptor_words(config):
    """Memory words one descriptor of the build ``config`` takes."""
    return -(-DescriptorLayout(config).size // DESCRIPTOR_WORD_BITS)


class DescriptorLayout(data.StructLayout):
    """The descriptor of one stage for a build :class:`~.config.EngineConfig` ``config``."""

    def __init__(self, config):
        act = unsigned(config.act_addr_bits)
        weight = unsigned(config.weight_addr_bits)
        coef = unsigned(config.coef_addr_bits)
        dim = unsigned(DIM_BITS)
        super().__init__({
            # The image loader (first stage only): bytes of one image, channels per pixel.
            "image_bytes": unsigned(IMAGE_BYTES_BITS),
            "in_channels": unsigned(CHANNEL_BITS),
            "in_base": act,
            # Input feature map and the loop bounds over it.
            "in_height": dim, "in_width": dim, "planes": unsigned(4), "words": act,
            "kernel_height": dim, "kernel_width": dim, "stride": dim, "padding": dim,
            "pool": unsigned(3), "pool_step": unsigned(2 * DIM_BITS),
            "out_height": dim, "out_width": dim, "groups": unsigned(CHANNEL_BITS),
            "bases": unsigned(4), "k": unsigned(K_BITS),
            # Activation address: origin (the top-left tap of the first window, padding
            # included, modulo the address width) and the step of each loop.
            "act_origin": act, "pool_row_step": act, "pool_col_step": act,
            "window_row_step": act, "window_col_step": act, "row_stride": act,
            "plane_stride": act,
            # Weight and coefficient addresses.
            "weight_base": weight, "group_weight_step": weight, "base_weight_step": weight,
            "row_weight_step": weight,
            "coef_base": coef, "group_coef_step": coef,
            # Output: channels, planes and where the comparators' bits go.
            "channels": unsigned(CHANNEL_BITS), "out_planes": unsigned(4), "out_base": act,
            "out_plane_stride": act, "threshold_base": unsigned(config.threshold_addr_bits),
            "final": unsigned(1),
        })
