"""The model compiler: a network -> a :class:`~abchw.program.Program` for one engine build.

It lowers the network with the golden model (:func:`abchw.golden.integer_model.lower`, so the
weights, coefficients and thresholds are the golden model's own), lays out each stage for the
engine and checks that everything fits, naming the memory, what is needed and what the build has.

Layout (``docs/engine.md``): a feature map of C channels, H x W pixels and P planes takes
``P * H * W * ceil(C / lanes)`` words; the image (8 planes) and the stages' outputs alternate
between two regions of the activation memory after its all-zero word 0. A stage's weights are
one word of ``pes * lanes`` bits per (channel group, base, kernel row, kernel column, input
word); lanes past the input channels hold weight 1 (against activation 0: they count nothing).
Its coefficients are one word of ``pes`` values per (channel group, base, input plane), 0 for
the missing channels of a partial group. Dense layers are convolutions whose kernel covers
their whole input map.
"""

from dataclasses import dataclass

import numpy as np

from .errors import AbchwError
from .gateware.engine.config import DIM_BITS, POOL_MAX, EngineConfig
from .gateware.engine.descriptor import (
    CHANNEL_BITS,
    IMAGE_BYTES_BITS,
    LEVELS,
    DescriptorLayout,
    StepLayout,
    descriptor_rows,
    stage_rows,
)
from .gateware.engine.engine import memory_shapes
from .golden.integer_model import lower
from .network import INPUT_BITS, Network
from .program import Program, StagePlan, pack_fields

__all__ = ["CompileError", "compile_network", "descriptor_memory_rows"]


class CompileError(AbchwError):
    """The network cannot run on the build: too large, or using what the build lacks."""


@dataclass(frozen=True)
class _Geometry:
    channels: int
    height: int
    width: int
    planes: int

    def words_per_pixel(self, lanes):
        return -(-self.channels // lanes)

    def words(self, lanes):
        return self.planes * self.height * self.width * self.words_per_pixel(lanes)


def _check_features(network, config):
    for index, stage in enumerate(network.stages):
        where = f"stage {index} ({stage.linear.kind})"
        if stage.linear.m > config.m:
            raise CompileError(f"{where} has M = {stage.linear.m} weight bases, the build has "
                               f"M = {config.m}; rebuild with --M {stage.linear.m} or more")
        if stage.n_out is not None and stage.n_out > config.n:
            raise CompileError(f"{where} has N = {stage.n_out} activations, the build has "
                               f"N = {config.n}; rebuild with --N {stage.n_out} or more")
        if stage.pool is not None and stage.pool.size > POOL_MAX:
            raise CompileError(f"{where}: max-pool size {stage.pool.size} exceeds the engine's "
                               f"{POOL_MAX}")


def _fail_if_over(what, needed, available, unit, hint):
    if needed > available:
        raise CompileError(f"the network does not fit: {what} needs {needed} {unit}, the build "
                           f"has {available}; {hint}")


def compile_network(network: Network, config: EngineConfig) -> Program:
    """Compile ``network`` for ``config``; :class:`CompileError` says what does not fit."""
    _check_features(network, config)
    inet = lower(network, coef_bits=config.coef_bits)
    lanes, pes = config.lanes, config.pes
    stages = inet.stages
    _fail_if_over("the descriptor memory", len(stages), config.stages_max, "stage descriptors",
                  "use fewer stages or a build with more descriptors")

    # Geometry of every feature map: the image, then each stage's output but the last.
    maps = [_Geometry(*network.input_shape, INPUT_BITS)]
    for stage, lowered in zip(network.stages[:-1], stages[:-1]):
        shape = tuple(stage.out_shape) + (1, 1)
        maps.append(_Geometry(shape[0], shape[1], shape[2], lowered.n_out))
    for geometry in maps:
        for name, value in (("height", geometry.height), ("width", geometry.width)):
            _fail_if_over(f"a feature map {name}", value, (1 << DIM_BITS) - 1, "pixels",
                          "use a smaller input")
        _fail_if_over("a feature map", geometry.channels, (1 << CHANNEL_BITS) - 1, "channels",
                      "use fewer channels")
    region = [max((g.words(lanes) for g in maps[parity::2]), default=0) for parity in (0, 1)]
    bases = [1, 1 + region[0]]
    _fail_if_over("the activation memory (word 0 is zeros, then two regions for the largest "
                  "even and odd feature maps)", 1 + region[0] + region[1], config.act_words,
                  f"words of {lanes} bits", "use a smaller network or rebuild with more "
                  "activation memory")
    image_bytes = int(np.prod(network.input_shape))
    _fail_if_over("the image", image_bytes, (1 << IMAGE_BYTES_BITS) - 1, "bytes",
                  "use a smaller input")

    shapes = memory_shapes(config)
    contents = {name: [] for name in shapes}
    plans, stage_programs = [], []
    for index, (stage, lowered) in enumerate(zip(network.stages, stages)):
        source = maps[index]
        final = index == len(stages) - 1
        words_in = source.words_per_pixel(lanes)
        row_stride = source.width * words_in
        plane_stride = source.height * row_stride
        if lowered.kind == "conv":
            kernel_h = kernel_w = lowered.kernel
            stride, padding = lowered.stride, lowered.padding
        else:
            kernel_h, kernel_w, stride, padding = source.height, source.width, 1, 0
        pool, pool_stride = lowered.pool or (1, 1)
        out = tuple(stage.out_shape) + (1, 1)
        channels, out_h, out_w = out[0], out[1], out[2]
        groups = -(-channels // pes)
        out_planes = 0 if final else lowered.n_out
        out_words = -(-channels // lanes)
        in_base, out_base = bases[index % 2], bases[(index + 1) % 2]
        weights = _weight_words(lowered, source, kernel_h, kernel_w, groups, config)
        coefficients = _coefficient_words(lowered, source.planes, groups, config)
        bounds = {"py": out_h, "px": out_w, "g": groups, "wy": pool, "wx": pool,
                  "m": lowered.m, "ky": kernel_h, "kx": kernel_w, "j": words_in,
                  "n": source.planes}
        # What each quantity adds when one loop steps: {quantity: {level: step}}.
        pool_step = pool_stride * stride
        steps = {
            "act": {"py": pool_step * row_stride, "px": pool_step * words_in,
                    "wy": stride * row_stride, "wx": stride * words_in, "ky": row_stride,
                    "kx": words_in, "j": 1, "n": plane_stride},
            "row": {"py": pool_step, "wy": stride, "ky": 1},
            "column": {"px": pool_step, "wx": stride, "kx": 1},
            "weight": {"g": lowered.m * kernel_h * kernel_w * words_in,
                       "m": kernel_h * kernel_w * words_in, "ky": kernel_w * words_in,
                       "kx": words_in, "j": 1},
            "coef": {"g": lowered.m * source.planes, "m": source.planes, "n": 1},
        }
        descriptor = {
            "image_bytes": image_bytes, "in_channels": source.channels, "in_base": in_base,
            "ends": {level: bound - 1 for level, bound in bounds.items()},
            "act_origin": in_base - padding * row_stride - padding * words_in,
            "weight_base": len(contents["weights"]), "coef_base": len(contents["coefficients"]),
            "padding": padding, "in_height": source.height, "in_width": source.width,
            "pool": pool, "k": lowered.k,
            "channels": channels, "out_planes": out_planes, "out_base": out_base,
            "out_plane_stride": out_h * out_w * out_words, "plane_stride": plane_stride,
            "threshold_base": len(contents["thresholds"]), "final": int(final),
        }
        contents["weights"] += weights
        contents["coefficients"] += coefficients
        if not final:
            contents["thresholds"] += _threshold_words(lowered, config, shapes["thresholds"][0])
        stage_programs.append((descriptor, steps, bounds))
        plans.append(StagePlan(kind=lowered.kind, out_shape=(channels, out_h, out_w),
                               planes=out_planes, out_base=out_base,
                               out_plane_stride=descriptor["out_plane_stride"],
                               words_per_pixel=out_words, final=final,
                               beats=out_h * out_w * groups * pool * pool * lowered.m * kernel_h
                               * kernel_w * words_in * source.planes))
    for name, what, hint in (
            ("weights", "words of pes * lanes bits", "rebuild with more weight memory"),
            ("coefficients", "words of pes coefficients", "rebuild with more coefficient memory"),
            ("thresholds", "channel entries", "rebuild with more threshold memory")):
        _fail_if_over(f"the {name} memory", len(contents[name]), shapes[name][1], what, hint)
    for stage_program in stage_programs:
        contents["descriptors"] += descriptor_memory_rows(*stage_program, config)
    output_shape = tuple(network.output_shape)
    return Program(config=config, input_shape=tuple(network.input_shape),
                   output_shape=output_shape, score_frac_bits=inet.score_frac_bits,
                   stages=tuple(plans), memories={k: tuple(v) for k, v in contents.items()})


def descriptor_memory_rows(descriptor, steps, bounds, config):
    """The descriptor memory's rows of one stage (:mod:`~abchw.gateware.engine.descriptor`):
    the step of each level (``steps[quantity][level]`` minus what the levels inside it, wrapping
    from their last index to 0, take back), then the descriptor, lowest bits first."""
    step_layout = StepLayout(config)
    rows = []
    for depth, level in enumerate(LEVELS):
        inner = LEVELS[depth + 1:]
        row = {}
        for quantity, by_level in steps.items():
            change = by_level.get(level, 0) - sum((bounds[i] - 1) * by_level.get(i, 0)
                                                  for i in inner)
            row[quantity] = change & ((1 << step_layout[quantity].width) - 1)
        rows.append(pack_fields(step_layout, row))
    layout = DescriptorLayout(config)
    ends = layout["ends"].shape
    fields = {**descriptor, "act_origin": descriptor["act_origin"] & ((1 << config.act_addr_bits) - 1),
              "ends": pack_fields(ends, descriptor["ends"])}
    word, width = pack_fields(layout, fields), step_layout.size
    rows += [word >> (width * i) & ((1 << width) - 1) for i in range(descriptor_rows(config))]
    return rows + [0] * (stage_rows(config) - len(rows))


def _weight_words(lowered, source, kernel_h, kernel_w, groups, config):
    """Words ``(g, m, ky, kx, j)``, each ``pes * lanes`` bits: lane l of PE p is the weight of
    output channel ``g * pes + p`` on input channel ``j * lanes + l`` (1 where there is none)."""
    lanes, pes = config.lanes, config.pes
    m, channels_out = lowered.weight_bits.shape[:2]
    c = source.channels
    if lowered.kind == "conv":    # K ordered (ky, kx, c)
        bits = lowered.weight_bits.reshape(m, channels_out, kernel_h, kernel_w, c)
    else:                         # K ordered (c, y, x): the C-major flatten
        bits = lowered.weight_bits.reshape(m, channels_out, c, kernel_h, kernel_w)
        bits = bits.transpose(0, 1, 3, 4, 2)
    words_in = source.words_per_pixel(lanes)
    padded = np.ones((m, groups * pes, kernel_h, kernel_w, words_in * lanes), dtype=bool)
    padded[:, :channels_out, :, :, :c] = bits
    padded = padded.reshape(m, groups, pes, kernel_h, kernel_w, words_in, lanes)
    words = padded.transpose(1, 0, 3, 4, 5, 2, 6).reshape(-1, pes * lanes)
    return _pack_rows(words)


def _coefficient_words(lowered, planes, groups, config):
    """Words ``(g, m, n)``, each ``pes`` coefficients of ``coef_bits`` bits (0 past C_out)."""
    pes, bits = config.pes, config.coef_bits
    q = lowered.coefficients                                  # (C_out, M, N_in)
    padded = np.zeros((groups * pes,) + q.shape[1:], dtype=np.int64)
    padded[:q.shape[0]] = q
    values = padded.reshape(groups, pes, q.shape[1], planes).transpose(0, 2, 3, 1)
    values = values.reshape(-1, pes) & ((1 << bits) - 1)
    return [sum(int(v) << (p * bits) for p, v in enumerate(row)) for row in values]


def _threshold_words(lowered, config, layout):
    """One entry per channel: its N thresholds (unused ones never fire) and ``invert``."""
    never = lowered.bound + 1
    entries = []
    for thresholds, invert in zip(lowered.thresholds, lowered.invert):
        values = [int(t) for t in thresholds] + [never] * (config.n - len(thresholds))
        entries.append(pack_fields(layout, {"thresholds": values, "invert": int(invert)}))
    return entries


def _pack_rows(bits):
    """Rows of bits (bit i of a row = bit i of its word) -> Python ints."""
    packed = np.packbits(bits, axis=1, bitorder="little")
    return [int.from_bytes(row.tobytes(), "little") for row in packed]
