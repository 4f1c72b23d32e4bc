"""The boards abchw builds bitstreams for, by command-line name: :data:`BOARDS`, :func:`board`."""

from abchw.errors import AbchwError

from .board import FAMILIES, RESOURCES, Board
from .icebreaker import ICEBREAKER
from .ulx3s import ULX3S_85F

__all__ = ["BOARDS", "FAMILIES", "RESOURCES", "Board", "board"]

BOARDS = {each.name: each for each in (ICEBREAKER, ULX3S_85F)}


def board(name):
    """The :class:`Board` called ``name``, or :class:`~abchw.errors.AbchwError` listing them."""
    try:
        return BOARDS[name]
    except (KeyError, TypeError):
        raise AbchwError(f"unknown board {name!r}; choose one of {', '.join(BOARDS)}") from None
