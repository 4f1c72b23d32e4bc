"""Run a simulator built by :func:`abchw.sim.build_simulator` on an input byte stream.

The executable (``harness.cpp``) does the whole cycle loop in C++; Python only writes the input
file, reads progress lines while it runs, and loads its result files into a :class:`SimRun`.

Activation-memory writes come back as one NumPy structured array, ``SimRun.writes``, with
fields ``cycle`` (uint64), ``stage`` (uint8), ``addr`` (uint32) and ``data``: a uint64 sub-array
of ``ceil(S / 64)`` little-endian words for ``S``-bit write data (word 0 holds bits 0..63), so
``run.writes["data"]`` has shape ``(n, ceil(S / 64))``; :func:`data_as_ints` turns it into Python
ints. Cycle 0 is the first cycle after reset; ``cycle`` is the cycle in which ``write_en`` was
high, i.e. the write happens at the rising edge that ends it.
"""

import dataclasses
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from ..errors import SimulationError, SimulationTimeout

__all__ = ["SimRun", "data_as_ints", "measure_speed", "run_simulator", "writes_dtype"]

STAGES = 16  # observe__stage is 4 bits
PHASE_NAMES = ("idle", "load", "compute", "other")
PROGRESS_PREFIX = "@abchw progress "
TIMEOUT_STATUS = 3


@dataclasses.dataclass
class SimRun:
    """What one simulator run recorded.

    ``cycles``: cycles simulated after reset. ``stage_cycles[s]``: cycles with phase 2
    (computing) and stage ``s``; ``stage_beats[s]``: how many of them had ``observe__beat``;
    both uint64 arrays of 16. ``load_cycles``: cycles with phase 1; ``phase_cycles``: cycles per
    phase 0..3. ``wall_seconds``: time of the C++ cycle loop alone (not the process start,
    model construction or file transfer), and ``cycles_per_second`` = cycles / wall_seconds.
    ``log``: what the design printed on stdout ($display), ``status``: ``"done"``,
    ``"finish"`` ($finish) or ``"max_cycles"``.
    """

    output: bytes
    writes: np.ndarray
    cycles: int
    stage_cycles: np.ndarray
    stage_beats: np.ndarray
    load_cycles: int
    phase_cycles: np.ndarray
    wall_seconds: float
    cycles_per_second: float
    input_consumed: int
    status: str
    final_phase: int
    final_stage: int
    log: str = ""
    waveform: Path | None = None


def writes_dtype(words):
    """The record layout of ``writes.bin`` for write data of ``words`` u64 words."""
    return np.dtype({"names": ["cycle", "addr", "stage", "data"],
                     "formats": ["<u8", "<u4", "u1", ("<u8", (words,))],
                     "offsets": [0, 8, 12, 16], "itemsize": 16 + 8 * words})


def data_as_ints(writes):
    """The ``data`` words of ``writes`` as a list of Python ints."""
    return [sum(int(word) << (64 * i) for i, word in enumerate(row)) for row in writes["data"]]


def _probability(name, value):
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise SimulationError(f"{name} must be a probability in [0, 1), not {value}")
    return value


def _count(name, value, minimum=0):
    if int(value) != value or value < minimum:
        raise SimulationError(f"{name} must be an integer >= {minimum}, not {value!r}")
    return int(value)


def run_simulator(exe, input_bytes, *, stall_in=0.0, stall_out=0.0, seed=0,
                  max_cycles=100_000_000, idle_cycles=1000, expect_output=None, waveform=None,
                  progress=None, record_writes=True, reset_cycles=4):
    """Feed ``input_bytes`` to the engine in ``exe`` and return a :class:`SimRun`.

    ``stall_in``: probability that the next command byte is withheld on a cycle (once offered,
    a byte stays offered until taken); ``stall_out``: probability that ``results__ready`` is low
    on a cycle; ``seed`` seeds both. The run stops when every input byte is taken and then, if
    ``expect_output`` is given, as soon as that many output bytes have arrived, else once
    ``idle_cycles`` cycles in a row had phase 0, no ``results__valid`` and no command taken.
    ``waveform``: a .vcd/.fst path to dump to (the executable must be built with that
    ``trace``). ``progress(output)`` is called with the output bytes so far (a bytes object) as
    they arrive and at least every 65536 cycles. ``record_writes=False`` skips the write
    records (``writes`` is then empty), for speed on long runs.

    Raises :class:`~abchw.errors.SimulationTimeout` (its ``run`` holds the partial record) after
    ``max_cycles`` cycles, :class:`~abchw.errors.SimulationError` when the executable fails.
    """
    exe = Path(exe)
    if not exe.is_file():
        raise SimulationError(f"simulator executable '{exe}' does not exist")
    command = [str(exe),
               "--stall-in", repr(_probability("stall_in", stall_in)),
               "--stall-out", repr(_probability("stall_out", stall_out)),
               "--seed", str(_count("seed", seed)),
               "--max-cycles", str(_count("max_cycles", max_cycles, 1)),
               "--idle-cycles", str(_count("idle_cycles", idle_cycles, 1)),
               "--reset-cycles", str(_count("reset_cycles", reset_cycles, 1))]
    if expect_output is not None:
        command += ["--expect-output", str(_count("expect_output", expect_output))]
    if waveform is not None:
        waveform = Path(waveform).resolve()
        command += ["--waveform", str(waveform)]
    if progress is not None:
        command.append("--progress")
    if not record_writes:
        command.append("--no-writes")

    with tempfile.TemporaryDirectory(prefix="abchw-sim-") as scratch:
        scratch = Path(scratch)
        (scratch / "input.bin").write_bytes(bytes(input_bytes))
        command += ["--input", str(scratch / "input.bin"), "--outdir", str(scratch)]
        returncode, log, stderr = _execute(command, scratch, progress)
        if returncode not in (0, TIMEOUT_STATUS) or not (scratch / "stats.json").is_file():
            raise SimulationError(f"simulator {exe} failed (exit status {returncode}):\n"
                                  f"{stderr[-4000:]}")
        stats = json.loads((scratch / "stats.json").read_text())
        output = (scratch / "output.bin").read_bytes()
        writes = np.fromfile(scratch / "writes.bin", dtype=writes_dtype(stats["write_words"]))
    if progress is not None:
        progress(output)

    run = SimRun(output=output, writes=writes, cycles=stats["cycles"],
                 stage_cycles=np.array(stats["stage_cycles"], dtype=np.uint64),
                 stage_beats=np.array(stats["stage_beats"], dtype=np.uint64),
                 load_cycles=stats["load_cycles"],
                 phase_cycles=np.array(stats["phase_cycles"], dtype=np.uint64),
                 wall_seconds=stats["wall_seconds"],
                 cycles_per_second=stats["cycles"] / max(stats["wall_seconds"], 1e-9),
                 input_consumed=stats["input_consumed"], status=stats["status"],
                 final_phase=stats["final_phase"], final_stage=stats["final_stage"],
                 log=log, waveform=waveform)
    if stats["status"] == "max_cycles":
        expected = "" if expect_output is None else f" of {expect_output} expected"
        raise SimulationTimeout(
            f"the simulation did not finish within max_cycles={max_cycles} cycles: "
            f"{run.input_consumed} of {stats['input_bytes']} input bytes taken, "
            f"{len(output)}{expected} output bytes received, engine in phase "
            f"{run.final_phase} ({PHASE_NAMES[run.final_phase]}) at stage {run.final_stage}",
            run)
    return run


def _execute(command, scratch, progress):
    """Run ``command``; pass progress lines to ``progress``; return (status, log, stderr)."""
    log, output = [], bytearray()
    with open(scratch / "stderr.txt", "w+") as stderr:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, text=True,
                                   cwd=scratch, env={**os.environ, "LC_ALL": "C"})
        try:
            for line in process.stdout:
                if not line.startswith(PROGRESS_PREFIX):
                    log.append(line)
                    continue
                fields = dict(item.split("=", 1) for item in line[len(PROGRESS_PREFIX):].split())
                if fields.get("new"):
                    output += bytes.fromhex(fields["new"])
                if progress is not None:
                    progress(bytes(output))
            returncode = process.wait()
        except BaseException:  # KeyboardInterrupt included: never leave the simulator running
            process.kill()
            process.wait()
            raise
        stderr.seek(0)
        return returncode, "".join(log), stderr.read()


def measure_speed(exe, input_bytes, *, repeat=3, label=None, **options):
    """Simulated cycles per second of ``exe`` on ``input_bytes``: the best of ``repeat`` runs.

    ``options`` go to :func:`run_simulator`. Prints one line: cycles, loop time, cycles/s, and
    the wall time of the whole call (process start and file transfer included).
    """
    best = None
    for _ in range(repeat):
        started = time.perf_counter()
        run = run_simulator(exe, input_bytes, **options)
        total = time.perf_counter() - started
        if best is None or run.cycles_per_second > best[0].cycles_per_second:
            best = run, total
    run, total = best
    print(f"{label or Path(exe).parent.name}: {run.cycles} cycles in {run.wall_seconds:.4f} s "
          f"= {run.cycles_per_second / 1e6:.2f} M cycles/s ({total:.3f} s with process start "
          f"and files)")
    return run.cycles_per_second
