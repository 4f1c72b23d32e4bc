"""A compiled program: what the engine's memories hold for one network, and how the host talks to it.

:class:`Program` is produced by :func:`abchw.compiler.compile_network`. It knows the byte
streams of the engine's command protocol (:mod:`abchw.gateware.engine.engine`): the WRITE
commands that load it (:meth:`Program.load_bytes`), the RUN command of each image
(:meth:`Program.run_bytes`), and how to decode what comes back (:meth:`Program.decode_results`,
:meth:`Program.decode_feature_maps`).

Program image file (``.abchwprog``)::

    b"ABCHWPRG" | u32 version | u32 header length | JSON header | load bytes | u32 CRC-32

all little-endian; the CRC covers everything before it. The header names the build the program
was compiled for; :func:`read_program` checks it all and says what is wrong.
"""

import json
import struct
import zlib
from dataclasses import asdict, dataclass

import numpy as np
from amaranth.hdl import Shape
from amaranth.lib import data

from .atomic import atomic_write
from .errors import AbchwError
from .gateware.engine.config import COUNTERS, EngineConfig
from .gateware.engine.engine import MEMORIES, RUN, WRITE, memory_shapes, word_bytes

__all__ = [
    "MAGIC",
    "VERSION",
    "Program",
    "ProgramError",
    "StagePlan",
    "pack_fields",
    "read_program",
]

MAGIC = b"ABCHWPRG"
VERSION = 2  # 2: descriptor memory holds the step tables
COUNTER_BYTES = 8


class ProgramError(AbchwError):
    """A program image that cannot be used: corrupt, of another version, or for another build."""


def pack_fields(layout, values):
    """The integer word of a ``data.StructLayout`` from ``{field: int or list of ints}``."""
    word = 0
    for name, value in values.items():
        field = layout[name]
        shape = field.shape
        if isinstance(shape, data.ArrayLayout):
            width = Shape.cast(shape.elem_shape).width
            parts = [(field.offset + i * width, width, v) for i, v in enumerate(value)]
        else:
            parts = [(field.offset, field.width, value)]
        for offset, width, part in parts:
            part = int(part)
            if not -(1 << width) < part < (1 << width):
                raise ValueError(f"field {name} value {part} does not fit {width} bits")
            word |= (part & ((1 << width) - 1)) << offset
    return word


@dataclass(frozen=True)
class StagePlan:
    """Where a stage puts its output: ``out_shape`` ``(C, H, W)`` after pooling, ``planes``
    binary planes (0 for the final stage, whose values are the scores) from ``out_base``;
    ``beats``: the PE array's beats it takes (its loop nest's iterations)."""
    kind: str
    out_shape: tuple
    planes: int
    out_base: int
    out_plane_stride: int
    words_per_pixel: int
    final: bool
    beats: int


@dataclass(frozen=True, eq=False)
class Program:
    """A network compiled for the build ``config``; ``memories`` maps each memory of
    :data:`~abchw.gateware.engine.engine.MEMORIES` to its words (ints)."""
    config: EngineConfig
    input_shape: tuple
    output_shape: tuple
    score_frac_bits: int
    stages: tuple
    memories: dict

    @property
    def scores_per_image(self):
        return int(np.prod(self.output_shape))

    @property
    def result_bytes(self):
        """Bytes the engine returns per image: the scores, then the counters."""
        return self.scores_per_image * self.config.score_bytes + COUNTER_BYTES * len(COUNTERS)

    def load_bytes(self):
        """The WRITE commands that load this program into an engine."""
        shapes = memory_shapes(self.config)
        out = bytearray()
        for number, name in enumerate(MEMORIES):
            words = self.memories[name]
            if not words:
                continue
            size = word_bytes(shapes[name][0])
            out += bytes([WRITE, number]) + (0).to_bytes(3, "little") \
                + len(words).to_bytes(3, "little")
            for word in words:
                out += word.to_bytes(size, "little")
        return bytes(out)

    def check_images(self, images):
        """``images`` as uint8 ``(B, C, H, W)``, or :class:`AbchwError` saying what is wrong."""
        images = np.asarray(images)
        if images.ndim == 3:
            images = images[None]
        if images.ndim != 4 or images.shape[1:] != self.input_shape:
            raise AbchwError(f"images must have shape (C, H, W) = {self.input_shape} (or a batch "
                             f"of them), not {images.shape}")
        if images.dtype != np.uint8:
            if images.dtype.kind not in "iu" or images.min(initial=0) < 0 \
                    or images.max(initial=0) > 255:
                raise AbchwError(f"image pixels must be integers in 0..255, not {images.dtype} "
                                 f"in {images.min()}..{images.max()}")
            images = images.astype(np.uint8)
        return images

    def run_bytes(self, images):
        """RUN commands for ``images`` ``(B, C, H, W)`` uint8: pixel by pixel, channels
        together."""
        images = self.check_images(images)
        out = bytearray()
        for image in images:
            out.append(RUN)
            out += image.transpose(1, 2, 0).tobytes()
        return bytes(out)

    def decode_results(self, stream, count):
        """Scores ``(count, *output_shape)`` int64 and a list of counter dicts from the bytes the
        engine returned for ``count`` images."""
        if len(stream) != count * self.result_bytes:
            raise AbchwError(f"expected {count * self.result_bytes} result bytes for {count} "
                             f"images, got {len(stream)}")
        size = self.config.score_bytes
        c, h, w = (tuple(self.output_shape) + (1, 1))[:3]
        scores, counters = [], []
        for index in range(count):
            chunk = stream[index * self.result_bytes:(index + 1) * self.result_bytes]
            values = [int.from_bytes(chunk[i * size:(i + 1) * size], "little", signed=True)
                      for i in range(self.scores_per_image)]
            scores.append(np.array(values, dtype=np.int64).reshape(h, w, c).transpose(2, 0, 1)
                          .reshape(self.output_shape))
            tail = chunk[self.scores_per_image * size:]
            counters.append({name: int.from_bytes(tail[i * COUNTER_BYTES:(i + 1) * COUNTER_BYTES],
                                                  "little") for i, name in enumerate(COUNTERS)})
        return np.stack(scores), counters

    def decode_feature_maps(self, stage_index, writes, count):
        """The binary output ``(planes, count, C, H, W)`` (bool) of stage ``stage_index`` from
        the activation-memory writes of ``count`` inferences, shaped as the golden model's
        :class:`~abchw.golden.integer_model.IntegerStageResult` ``bits`` (``(planes, count, C)``
        for a dense stage). ``writes``: a structured array with fields ``stage``, ``addr`` and
        ``data`` (uint64 words, least significant first), as :class:`abchw.sim.SimRun` has."""
        plan = self.stages[stage_index]
        lanes = self.config.lanes
        c, h, w = plan.out_shape
        per_image = plan.planes * plan.out_plane_stride
        low, high = plan.out_base, plan.out_base + per_image
        addrs = writes["addr"].astype(np.int64)
        mine = (writes["stage"] == stage_index) & (addrs >= low) & (addrs < high)
        if np.count_nonzero(mine) != count * per_image:
            raise AbchwError(f"stage {stage_index}: expected {count * per_image} activation "
                             f"writes for {count} images, saw {np.count_nonzero(mine)}")
        data = np.ascontiguousarray(writes["data"][mine].reshape(count, per_image, -1),
                                    dtype="<u8")
        order = np.argsort(addrs[mine].reshape(count, per_image), axis=1, kind="stable")
        data = np.take_along_axis(data, order[:, :, None], axis=1)
        bits = np.unpackbits(data.view(np.uint8), axis=-1, bitorder="little")[..., :lanes]
        bits = bits.reshape(count, plan.planes, h, w, plan.words_per_pixel * lanes).astype(bool)
        if bits[..., c:].any():
            raise AbchwError(f"stage {stage_index}: bits past the last channel are not zero")
        bits = bits[..., :c].transpose(1, 0, 4, 2, 3)               # (planes, B, C, H, W)
        return bits[:, :, :, 0, 0] if plan.kind == "dense" else bits

    # The program image file.
    def to_bytes(self):
        header = json.dumps({
            "config": self.config.as_dict(), "input_shape": list(self.input_shape),
            "output_shape": list(self.output_shape), "score_frac_bits": self.score_frac_bits,
            "stages": [asdict(stage) for stage in self.stages],
            "words": {name: len(self.memories[name]) for name in MEMORIES},
        }).encode()
        body = MAGIC + struct.pack("<II", VERSION, len(header)) + header + self.load_bytes()
        return body + struct.pack("<I", zlib.crc32(body))

    def save(self, path):
        with atomic_write(path) as file:
            file.write(self.to_bytes())


def read_program(path_or_bytes, *, config=None):
    """Load a program image (a path or its bytes), checked; ``config``: the build it must suit."""
    if isinstance(path_or_bytes, (bytes, bytearray)):
        blob, name = bytes(path_or_bytes), "program image"
    else:
        name = str(path_or_bytes)
        try:
            with open(path_or_bytes, "rb") as file:
                blob = file.read()
        except OSError as error:
            raise ProgramError(f"cannot read program image {name}: {error.strerror}") from None
    if len(blob) < len(MAGIC) + 12 or not blob.startswith(MAGIC):
        raise ProgramError(f"{name} is not an abchw program image (no {MAGIC!r} header)")
    version, header_length = struct.unpack_from("<II", blob, len(MAGIC))
    if version != VERSION:
        raise ProgramError(f"{name} is a version {version} program image; this abchw reads "
                           f"version {VERSION}: compile the model again")
    (crc,) = struct.unpack_from("<I", blob, len(blob) - 4)
    if zlib.crc32(blob[:-4]) != crc:
        raise ProgramError(f"{name} is corrupt (CRC mismatch): compile the model again")
    start = len(MAGIC) + 8
    try:
        header = json.loads(blob[start:start + header_length])
        program_config = EngineConfig(**header["config"])
        stages = tuple(StagePlan(**{**stage, "out_shape": tuple(stage["out_shape"])})
                       for stage in header["stages"])
        counts = header["words"]
        input_shape, output_shape = tuple(header["input_shape"]), tuple(header["output_shape"])
        score_frac_bits = int(header["score_frac_bits"])
    except (ValueError, KeyError, TypeError) as error:
        raise ProgramError(f"{name} has a malformed header ({error})") from None
    if config is not None and program_config != config:
        raise ProgramError(f"{name} was compiled for the build {program_config}, not for "
                           f"{config}: compile the model for this build")
    memories = _parse_load_bytes(blob[start + header_length:-4], program_config, counts, name)
    return Program(config=program_config, input_shape=input_shape, output_shape=output_shape,
                   score_frac_bits=score_frac_bits, stages=stages, memories=memories)


def _parse_load_bytes(load, config, counts, name):
    shapes = memory_shapes(config)
    memories, offset = {}, 0
    for number, memory in enumerate(MEMORIES):
        count = counts.get(memory, 0)
        if not count:
            memories[memory] = ()
            continue
        size = word_bytes(shapes[memory][0])
        head = bytes([WRITE, number]) + (0).to_bytes(3, "little") + count.to_bytes(3, "little")
        end = offset + len(head) + count * size
        if load[offset:offset + len(head)] != head or end > len(load):
            raise ProgramError(f"{name} has a malformed {memory} section")
        body = load[offset + len(head):end]
        memories[memory] = tuple(int.from_bytes(body[i * size:(i + 1) * size], "little")
                                 for i in range(count))
        offset = end
    if offset != len(load):
        raise ProgramError(f"{name} has {len(load) - offset} unexpected bytes after its sections")
    return memories
