"""Validation of the training code's keyword parameters, with one message style everywhere.

Every public function and class of :mod:`abchw.train` takes its settings as keyword-only
arguments and checks them here before any work starts. A bad value raises
:class:`TrainError` whose message names the parameter and quotes the value, e.g.
``'m' must be an integer in 1..8, not 0``; ``abchw-train`` prints it on one line and exits 2.
"""

import math

import numpy as np

from ..errors import AbchwError

__all__ = [
    "TrainError",
    "check_bool",
    "check_choice",
    "check_float",
    "check_floats",
    "check_int",
]


class TrainError(AbchwError, ValueError):
    """A training setting or request that abchw cannot carry out (bad value, unexportable
    scheme, missing PyTorch)."""


def check_int(name, value, lo, hi=None):
    """``value`` as an int in ``lo..hi`` (``hi`` None: no upper limit); bools are refused."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TrainError(f"'{name}' must be an integer, not {value!r}")
    if value < lo or (hi is not None and value > hi):
        where = f"in {lo}..{hi}" if hi is not None else f">= {lo}"
        raise TrainError(f"'{name}' must be an integer {where}, not {value!r}")
    return int(value)


def check_float(name, value, *, lo=None, hi=None, lo_open=False):
    """``value`` as a finite float in ``[lo, hi]`` (``(lo, hi]`` with ``lo_open``)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise TrainError(f"'{name}' must be a number, not {value!r}")
    number = float(value)
    below = lo is not None and (number <= lo if lo_open else number < lo)
    if not math.isfinite(number) or below or (hi is not None and number > hi):
        low = "-inf" if lo is None else f"{lo:g}"
        high = "inf" if hi is None else f"{hi:g}"
        opening = "(" if lo_open or lo is None else "["
        closing = ")" if hi is None else "]"
        interval = f"{opening}{low}, {high}{closing}"
        raise TrainError(f"'{name}' must be a finite number in {interval}, not {value!r}")
    return number


def check_bool(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TrainError(f"'{name}' must be True or False, not {value!r}")
    return bool(value)


def check_choice(name, value, choices):
    if not isinstance(value, str) or value not in choices:
        raise TrainError(f"'{name}' must be one of {', '.join(map(repr, choices))}, "
                         f"not {value!r}")
    return value


def check_floats(name, value, length):
    """``value`` as a tuple of ``length`` finite floats."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TrainError(f"'{name}' must be {length} numbers, not {value!r}") from None
    if array.shape != (length,) or not np.isfinite(array).all():
        raise TrainError(f"'{name}' must be {length} finite numbers, not {value!r}")
    return tuple(float(x) for x in array)
