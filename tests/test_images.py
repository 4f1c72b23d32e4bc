"""abchw.images.read_images: .npy, PGM/PPM and PNG files written here byte by byte.

The PNG writer below applies the five row filters itself (an encoder independent of the
decoder under test), so every filter type, every supported colour type, split IDAT chunks and
ignored ancillary chunks are checked against the array they encode.
"""

import itertools
import struct
import zlib

import numpy as np
import pytest

from abchw.errors import AbchwError
from abchw.images import read_images


def _chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def _filter_row(kind, row, previous, bpp):
    """PNG filter ``kind`` applied to one row of ints (the encoder's side)."""
    out = []
    for i, x in enumerate(row):
        a = row[i - bpp] if i >= bpp else 0
        b = previous[i]
        c = previous[i - bpp] if i >= bpp else 0
        predictor = [0, a, b, (a + b) // 2, _paeth(a, b, c)][kind]
        out.append((x - predictor) % 256)
    return out


def png_bytes(pixels, colour, *, filters=None, depth=8, interlace=0, idat_pieces=1,
              extra_chunks=()):
    """PNG of ``pixels`` (H, W, samples) uint8 with ``filters[y]`` on row ``y``."""
    height, width, samples = pixels.shape
    filters = filters or [y % 5 for y in range(height)]
    raw, previous = bytearray(), [0] * (width * samples)
    for y in range(height):
        row = pixels[y].reshape(-1).tolist()
        raw.append(filters[y])
        raw += bytes(_filter_row(filters[y], row, previous, samples))
        previous = row
    compressed = zlib.compress(bytes(raw))
    cut = np.linspace(0, len(compressed), idat_pieces + 1).astype(int)
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + b"".join(extra_chunks)
            + b"".join(_chunk(b"IDAT", compressed[a:b]) for a, b in itertools.pairwise(cut))
            + _chunk(b"IEND", b""))


def _write(tmp_path, data, name="image"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("colour, samples, kept", [(0, 1, 1), (2, 3, 3), (4, 2, 1), (6, 4, 3)])
@pytest.mark.parametrize("filter_type", range(5))
def test_png_every_colour_type_and_filter(tmp_path, colour, samples, kept, filter_type):
    rng = np.random.default_rng(colour * 10 + filter_type)
    pixels = rng.integers(0, 256, (7, 9, samples), dtype=np.uint8)
    pixels[0, :3] = 255  # wrap-around in the sums
    data = png_bytes(pixels, colour, filters=[filter_type] * 7)
    images = read_images(_write(tmp_path, data, "x.png"))
    assert images.dtype == np.uint8 and images.shape == (1, kept, 7, 9)
    np.testing.assert_array_equal(images[0], pixels[:, :, :kept].transpose(2, 0, 1))


def test_png_mixed_filters_split_idat_and_ancillary_chunks(tmp_path):
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (28, 28, 1), dtype=np.uint8)
    data = png_bytes(pixels, 0, filters=[(y * 3) % 5 for y in range(28)], idat_pieces=4,
                     extra_chunks=[_chunk(b"tEXt", b"Comment\0made by a test"),
                                   _chunk(b"gAMA", struct.pack(">I", 45455))])
    images = read_images(_write(tmp_path, data, "digit.png"))
    np.testing.assert_array_equal(images, pixels.transpose(2, 0, 1)[None])
    # The name does not matter, the contents do.
    np.testing.assert_array_equal(read_images(_write(tmp_path, data, "digit.npy")), images)


def _png_error(tmp_path, data, match):
    with pytest.raises(AbchwError, match=match) as error:
        read_images(_write(tmp_path, data, "bad.png"))
    assert "bad.png" in str(error.value)


def test_png_unsupported_and_damaged(tmp_path):
    pixels = np.zeros((4, 4, 1), dtype=np.uint8)
    good = png_bytes(pixels, 0)
    _png_error(tmp_path, png_bytes(pixels, 0, depth=16), "16-bit PNG is not supported")
    _png_error(tmp_path, png_bytes(pixels, 0, depth=4), "4-bit PNG is not supported")
    _png_error(tmp_path, png_bytes(pixels, 3), "palette .* not supported")
    _png_error(tmp_path, png_bytes(pixels, 0, interlace=1), "interlaced PNG is not supported")
    _png_error(tmp_path, good[:-20], "truncated PNG")
    _png_error(tmp_path, good[:40] + bytes([good[40] ^ 1]) + good[41:], "CRC mismatch")
    _png_error(tmp_path, _bad_filter_png(pixels), "row 0 has filter type 7")
    short = png_bytes(np.zeros((3, 4, 1), dtype=np.uint8), 0)
    # An IHDR claiming 4 rows over the data of 3:
    header = struct.pack(">IIBBBBB", 4, 4, 8, 0, 0, 0, 0)
    lying = short[:8] + _chunk(b"IHDR", header) + short[8 + 25:]
    _png_error(tmp_path, lying, "15 bytes of image data, expected 20")
    _png_error(tmp_path, good[:8] + _chunk(b"IDAT", b"") + good[8:], "no IHDR chunk first")
    _png_error(tmp_path, good[:-12] + _chunk(b"ABCD", b"") + good[-12:], "chunk b'ABCD'")
    garbage = good[:8] + good[8:33] + _chunk(b"IDAT", b"not zlib") + _chunk(b"IEND", b"")
    _png_error(tmp_path, garbage, "damaged PNG image data")


def _bad_filter_png(pixels):
    raw = b"".join(bytes([7]) + bytes(pixels[y].reshape(-1)) for y in range(pixels.shape[0]))
    header = struct.pack(">IIBBBBB", pixels.shape[1], pixels.shape[0], 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(raw))
            + _chunk(b"IEND", b""))


def test_pgm_ppm_with_comments_and_sequences(tmp_path):
    rng = np.random.default_rng(2)
    grey = rng.integers(0, 256, (5, 6), dtype=np.uint8)
    pgm = b"P5\n# written by a test\n6 5\n# maxval next\n255\n" + grey.tobytes()
    np.testing.assert_array_equal(read_images(_write(tmp_path, pgm)), grey[None, None])

    colour = rng.integers(0, 256, (2, 3, 4, 3), dtype=np.uint8)  # B, H, W, RGB
    ppm = b"".join(b"P6 4 3 255\n" + image.tobytes() for image in colour) + b"\n"
    np.testing.assert_array_equal(read_images(_write(tmp_path, ppm)),
                                  colour.transpose(0, 3, 1, 2))


@pytest.mark.parametrize("data, match", [
    (b"P5\n6 5\n65535\n" + bytes(60), "maxval 65535 is not supported"),
    (b"P5\n6 5\n15\n" + bytes(30), "maxval 15 is not supported"),
    (b"P5\n6 5\n255\n" + bytes(29), "truncated: 29 of 30 pixel bytes"),
    (b"P5\n6 5", "damaged or truncated header"),
    (b"P5\n6 x5 255\n", "damaged or truncated header"),
    (b"P6\n0 5\n255\n", r"empty \(0 x 5\)"),
    (b"P5 2 1 255\n\1\2P5 1 1 255\n\3", r"image 2 of the sequence has shape \(1, 1, 1\)"),
    (b"P5 1 1 255\n\1garbage", "expected another P5/P6 image"),
    (b"P2\n2 2\n255\n1 2 3 4\n", "netpbm type P2 is not supported"),
    (b"GIF89a....", r"not a \.npy, binary PGM/PPM \(P5/P6\) or PNG file"),
    (b"", "the file is empty"),
])
def test_netpbm_and_unknown_errors(tmp_path, data, match):
    with pytest.raises(AbchwError, match=match):
        read_images(_write(tmp_path, data))


@pytest.mark.parametrize("shape", [(4, 5), (3, 4, 5), (2, 3, 4, 5)])
@pytest.mark.parametrize("dtype", [np.uint8, np.int64, np.uint16])
def test_npy_shapes_and_integer_dtypes(tmp_path, shape, dtype):
    array = np.random.default_rng(3).integers(0, 256, shape).astype(dtype)
    np.save(tmp_path / "a.npy", array)
    images = read_images(tmp_path / "a.npy")
    assert images.dtype == np.uint8 and images.shape == (1,) * (4 - len(shape)) + shape
    np.testing.assert_array_equal(images.reshape(shape), array)


@pytest.mark.parametrize("array, match", [
    (np.zeros((2, 3), dtype=np.float32), "integers 0..255, not dtype float32"),
    (np.zeros((2, 3), dtype=bool), "integers 0..255, not dtype bool"),
    (np.full((2, 3), 256), r"pixels must be 0..255, found 256..256"),
    (np.full((2, 3), -1, dtype=np.int8), r"found -1..-1"),
    (np.zeros(5, dtype=np.uint8), r"shape \(H, W\), .* not \(5,\)"),
    (np.zeros((1, 1, 1, 1, 1), dtype=np.uint8), r"not \(1, 1, 1, 1, 1\)"),
    (np.zeros((0, 3, 4), dtype=np.uint8), "empty"),
])
def test_npy_errors(tmp_path, array, match):
    np.save(tmp_path / "a.npy", array)
    with pytest.raises(AbchwError, match=match):
        read_images(tmp_path / "a.npy")


def test_npy_damaged_and_missing_files(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros((8, 8), dtype=np.uint8))
    data = (tmp_path / "a.npy").read_bytes()
    with pytest.raises(AbchwError, match="damaged or unsupported .npy"):
        read_images(_write(tmp_path, data[:-10], "cut.npy"))
    np.save(tmp_path / "o.npy", np.array([1, "x"], dtype=object), allow_pickle=True)
    with pytest.raises(AbchwError, match="damaged or unsupported .npy"):
        read_images(tmp_path / "o.npy")
    with pytest.raises(AbchwError, match="'.*missing.png' does not exist"):
        read_images(tmp_path / "missing.png")
    with pytest.raises(AbchwError, match="cannot read image file"):
        read_images(tmp_path)
