"""Read input images as a uint8 array ``(B, C, H, W)``: .npy, binary PGM/PPM, 8-bit PNG.

The format is recognised by the file's first bytes, not its name:

* ``.npy``: an integer array with values 0..255, of shape ``(H, W)``, ``(C, H, W)`` or
  ``(B, C, H, W)`` (missing leading axes become 1);
* binary PGM (``P5``, C = 1) or PPM (``P6``, C = 3) with maxval 255; a file holding a sequence
  of such images of one size gives B > 1;
* PNG, 8 bits per sample, not interlaced: greyscale (C = 1), RGB (C = 3), greyscale + alpha
  (C = 1) or RGBA (C = 3); the alpha channel is dropped. It is decoded here (zlib and the five
  PNG row filters), without an imaging library.

Anything else (another format, bit depth, palette or interlacing, a damaged file, a non-integer
array or one outside 0..255) raises one :class:`~abchw.errors.AbchwError` naming the file.
"""

import io
import struct
import zlib
from pathlib import Path

import numpy as np

from .errors import AbchwError

__all__ = ["read_images"]

NPY_MAGIC = b"\x93NUMPY"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
NETPBM_CHANNELS = {b"P5": 1, b"P6": 3}
#: PNG colour type -> (samples per pixel, channels kept): alpha (last) is dropped.
PNG_COLOUR_TYPES = {0: (1, 1), 2: (3, 3), 4: (2, 1), 6: (4, 3)}
PNG_COLOUR_NAMES = {3: "palette (colour type 3)"}
WHITESPACE = b" \t\n\r\v\f"


class _Unreadable(Exception):
    """Why a file cannot be read; :func:`read_images` adds the file name."""


def read_images(path):
    """The images in ``path`` as a C-contiguous uint8 array ``(B, C, H, W)``."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise AbchwError(f"image file '{path}' does not exist") from None
    except OSError as error:
        raise AbchwError(f"cannot read image file '{path}': {error.strerror}") from None
    try:
        if not data:
            raise _Unreadable("the file is empty")
        if data.startswith(NPY_MAGIC):
            images = _from_npy(data)
        elif data.startswith(PNG_MAGIC):
            images = _from_png(data)
        elif data[:2] in NETPBM_CHANNELS:
            images = _from_netpbm(data)
        elif data[:1] == b"P" and data[1:2] in b"1234567" and len(data) > 1:
            raise _Unreadable(f"netpbm type {data[:2].decode()} is not supported; "
                              "only binary PGM (P5) and PPM (P6)")
        else:
            raise _Unreadable("not a .npy, binary PGM/PPM (P5/P6) or PNG file")
    except _Unreadable as error:
        raise AbchwError(f"image file '{path}': {error}") from None
    return np.ascontiguousarray(images, dtype=np.uint8)


def _from_npy(data):
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, EOFError, OSError) as error:
        raise _Unreadable(f"damaged or unsupported .npy file ({error})") from None
    if array.dtype.kind not in "iu":
        raise _Unreadable(f"the array must hold integers 0..255, not dtype {array.dtype}")
    if array.ndim not in (2, 3, 4):
        raise _Unreadable(f"the array must have shape (H, W), (C, H, W) or (B, C, H, W), "
                          f"not {array.shape}")
    if array.size == 0:
        raise _Unreadable(f"the array is empty (shape {array.shape})")
    low, high = int(array.min()), int(array.max())
    if low < 0 or high > 255:
        raise _Unreadable(f"pixels must be 0..255, found {low}..{high}")
    return array.reshape((1,) * (4 - array.ndim) + array.shape)


def _from_netpbm(data):
    images, position = [], 0
    while True:
        image, position = _netpbm_image(data, position)
        if images and image.shape != images[0].shape:
            raise _Unreadable(f"image {len(images) + 1} of the sequence has shape {image.shape}, "
                              f"the first {images[0].shape}")
        images.append(image)
        if not data[position:].strip(WHITESPACE):  # some writers end with a newline
            return np.stack(images)


def _netpbm_image(data, position):
    """One P5/P6 image at ``data[position:]``: ((C, H, W) array, position after it)."""
    magic = data[position:position + 2]
    if magic not in NETPBM_CHANNELS:
        raise _Unreadable(f"expected another P5/P6 image at byte {position}, found {magic!r}")
    position += 2
    fields = []
    while len(fields) < 3:
        start = position
        while position < len(data) and data[position] in WHITESPACE:
            position += 1
        if position < len(data) and data[position:position + 1] == b"#":
            position = data.find(b"\n", position)
            if position < 0:
                raise _Unreadable("damaged or truncated header")
            continue
        if position == start:  # header fields must be separated by white space
            raise _Unreadable("damaged or truncated header")
        digits = position
        while position < len(data) and data[position:position + 1].isdigit():
            position += 1
        if position == digits:
            raise _Unreadable("damaged or truncated header")
        fields.append(int(data[digits:position]))
    if position >= len(data) or data[position] not in WHITESPACE:
        raise _Unreadable("damaged or truncated header")
    position += 1  # exactly one white space character precedes the raster
    width, height, maxval = fields
    if maxval != 255:
        raise _Unreadable(f"maxval {maxval} is not supported; only 8-bit images (maxval 255)")
    if width == 0 or height == 0:
        raise _Unreadable(f"the image is empty ({width} x {height})")
    channels = NETPBM_CHANNELS[magic]
    size = width * height * channels
    raster = data[position:position + size]
    if len(raster) < size:
        raise _Unreadable(f"truncated: {len(raster)} of {size} pixel bytes")
    image = np.frombuffer(raster, dtype=np.uint8).reshape(height, width, channels)
    return image.transpose(2, 0, 1), position + size


def _png_chunks(data):
    """(type, body) of each chunk up to IEND, checking lengths and CRCs."""
    position = len(PNG_MAGIC)
    while True:
        if position + 12 > len(data):
            raise _Unreadable("truncated PNG (no IEND chunk)")
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        end = position + 12 + length
        if end > len(data):
            raise _Unreadable(f"truncated PNG (in chunk {kind!r})")
        body = data[position + 8:end - 4]
        if zlib.crc32(kind + body) != struct.unpack(">I", data[end - 4:end])[0]:
            raise _Unreadable(f"damaged PNG (CRC mismatch in chunk {kind!r})")
        yield kind, body
        if kind == b"IEND":
            return
        position = end


def _from_png(data):
    header, compressed = None, []
    for kind, body in _png_chunks(data):
        if header is None:
            if kind != b"IHDR" or len(body) != 13:
                raise _Unreadable("damaged PNG (no IHDR chunk first)")
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            compressed.append(body)
        elif not kind[0] & 0x20 and kind not in (b"PLTE", b"IEND"):
            raise _Unreadable(f"PNG chunk {kind!r} is not supported")  # critical, unknown
    width, height, depth, colour, compression, filtering, interlace = header
    if colour not in PNG_COLOUR_TYPES:
        name = PNG_COLOUR_NAMES.get(colour, f"colour type {colour}")
        raise _Unreadable(f"{name} PNG is not supported; only greyscale, RGB, greyscale + alpha "
                          "and RGBA")
    if depth != 8:
        raise _Unreadable(f"{depth}-bit PNG is not supported; only 8 bits per sample")
    if interlace:
        raise _Unreadable("interlaced PNG is not supported")
    if compression or filtering:
        raise _Unreadable("damaged PNG (unknown compression or filter method)")
    if width == 0 or height == 0:
        raise _Unreadable(f"damaged PNG (image of {width} x {height})")
    samples, channels = PNG_COLOUR_TYPES[colour]
    stride = width * samples
    expected = height * (stride + 1)
    decompressor = zlib.decompressobj()
    try:
        raw = decompressor.decompress(b"".join(compressed), expected + 1)  # bounded: no bombs
    except zlib.error as error:
        raise _Unreadable(f"damaged PNG image data ({error})") from None
    if len(raw) != expected:
        raise _Unreadable(f"damaged PNG: {len(raw)} bytes of image data, expected {expected}")
    pixels = _unfilter(np.frombuffer(raw, dtype=np.uint8).reshape(height, stride + 1), samples)
    return pixels.reshape(height, width, samples)[:, :, :channels].transpose(2, 0, 1)[None]


def _paeth(left, up, up_left):
    estimate = left + up - up_left
    to_left, to_up, to_up_left = abs(estimate - left), abs(estimate - up), abs(estimate - up_left)
    if to_left <= to_up and to_left <= to_up_left:
        return left
    return up if to_up <= to_up_left else up_left


def _unfilter(rows, bpp):
    """Undo the PNG row filters: ``rows`` (H, 1 + stride) with the filter type in column 0;
    ``bpp``: bytes per pixel, the distance to the "left" byte."""
    height, stride = rows.shape[0], rows.shape[1] - 1
    out = np.empty((height, stride), dtype=np.uint8)
    previous = np.zeros(stride, dtype=np.uint8)
    for y in range(height):
        kind, line = rows[y, 0], rows[y, 1:]
        if kind == 0:
            current = line
        elif kind == 1:  # Sub: a running sum per byte of the pixel (uint8 arithmetic wraps)
            current = np.cumsum(line.reshape(-1, bpp), axis=0, dtype=np.uint8).reshape(-1)
        elif kind == 2:  # Up
            current = line + previous
        elif kind in (3, 4):  # Average, Paeth: each byte needs the decoded one to its left
            up, line_ints, result = previous.tolist(), line.tolist(), [0] * stride
            for i in range(stride):
                left = result[i - bpp] if i >= bpp else 0
                if kind == 3:
                    predicted = (left + up[i]) >> 1
                else:
                    predicted = _paeth(left, up[i], up[i - bpp] if i >= bpp else 0)
                result[i] = (line_ints[i] + predicted) & 0xFF
            current = np.array(result, dtype=np.uint8)
        else:
            raise _Unreadable(f"damaged PNG (row {y} has filter type {kind})")
        out[y] = current
        previous = out[y]
    return out
