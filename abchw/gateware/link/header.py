"""The header of a frame body as the link's blocks pass it around."""

from amaranth.lib import data

__all__ = ["HeaderLayout"]


class HeaderLayout(data.StructLayout):
    """``kind``, ``seq``, ``length``: the body's first four bytes, in wire order (the length is
    little-endian), so byte ``i`` of the body is bits ``8 i .. 8 i + 7`` of the header."""

    def __init__(self):
        super().__init__({"kind": 8, "seq": 8, "length": 16})
