"""The simulated board: the whole SoC, cycle by cycle, behind a TCP port that speaks its UART.

    with serve_board(config) as server:
        with Board(server.url) as board:          # abchw.host.Board, as for the real board
            board.load(program)

:func:`serve_board` converts :class:`abchw.gateware.soc.Soc` for the build to Verilog, compiles
it with ``soc_harness.cpp`` through the cached Verilator flow (:func:`~.build.build_simulator`)
and starts it. The harness turns the bytes a client sends into bits on the SoC's ``rx`` pin at
the SoC's divisor (8N1) and its ``tx`` pin back into bytes, so the link's gateware (UART, SLIP,
frame checks, sequence numbers) is exercised as on the board, at simulation speed: about a
thousand times slower than a 48 MHz board.
"""

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from ..errors import AbchwError, SimulationError
from ..protocol import MAX_PAYLOAD
from .build import SOC_HARNESS, build_simulator

__all__ = ["BoardServer", "serve_board", "soc_verilog"]

LISTENING = "@abchw listening "
START_SECONDS = 30.0  # for the listening line; the process starts in milliseconds when idle
STOP_SECONDS = 5.0


def soc_verilog(config, *, clock_hz, baud, max_payload=MAX_PAYLOAD):
    """The board's Verilog (top module ``soc``) and the SoC's UART divisor."""
    from amaranth.back import verilog

    from ..gateware.soc import Soc
    soc = Soc(config=config, clock_hz=clock_hz, baud=baud, max_payload=max_payload)
    return verilog.convert(soc, name=SOC_HARNESS.top, emit_src=False), soc.divisor


class BoardServer:
    """A running simulated board (see :func:`serve_board`): ``url`` (``socket://HOST:PORT``),
    ``host``, ``port``, ``divisor``; :meth:`close` stops it (also on leaving a ``with``);
    :meth:`wait` blocks until it stops; ``log`` is what the simulator printed."""

    def __init__(self, executable, *, host, port, divisor):
        self.divisor = divisor
        self.host = host
        self._final_log = None
        self._scratch = tempfile.TemporaryDirectory(prefix="abchw-board-")
        self._log_path = Path(self._scratch.name) / "soc-sim.log"
        with open(self._log_path, "w") as log:
            self._process = subprocess.Popen(
                [str(executable), "--host", host, "--port", str(port), "--divisor", str(divisor)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                # Its own process group: a Ctrl-C in a terminal reaches Python, which stops it.
                start_new_session=True)
        try:
            self.port = self._wait_listening()
        except BaseException:
            self.close()
            raise

    def _wait_listening(self):
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            for line in self.log.splitlines():
                if line.startswith(LISTENING):
                    return int(line[len(LISTENING):])
            if self._process.poll() is not None:
                raise SimulationError(f"the simulated board did not start (exit status "
                                      f"{self._process.returncode}): {self.log.strip()}")
            time.sleep(0.01)
        raise SimulationError(f"the simulated board did not start listening within "
                              f"{START_SECONDS:g} s")

    @property
    def url(self):
        return f"socket://{self.host}:{self.port}"

    @property
    def log(self):
        if self._final_log is not None:
            return self._final_log
        with contextlib.suppress(FileNotFoundError):
            return self._log_path.read_text(errors="replace")
        return ""

    @property
    def pid(self):
        """The simulator's process id."""
        return self._process.pid

    @property
    def running(self):
        return self._process.poll() is None

    def wait(self):
        """Block until the simulator exits; its exit status."""
        return self._process.wait()

    def close(self):
        """Stop the simulator (SIGTERM, then SIGKILL after :data:`STOP_SECONDS`); idempotent."""
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait()
        if self._final_log is None:
            self._final_log = self.log
            self._scratch.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def serve_board(config, *, port=0, host="127.0.0.1", clock_hz=48_000_000, baud=3_000_000,
                max_payload=MAX_PAYLOAD, cache_dir=None):
    """Build (or take from the cache) the simulated board of the build ``config`` and start it
    listening on ``host``:``port`` (0: a free port); a :class:`BoardServer`.

    ``clock_hz`` and ``baud`` are the board's: the UART divisor is ``round(clock_hz / baud)``,
    and the simulation takes ``10 * divisor`` cycles a byte. Raises
    :class:`~abchw.errors.AbchwError` for a baud rate the clock cannot make, a port out of range
    or in use, or a failed build.
    """
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 0xFFFF:
        raise SimulationError(f"port must be an integer in 0..65535, not {port!r}")
    try:
        text, divisor = soc_verilog(config, clock_hz=clock_hz, baud=baud,
                                    max_payload=max_payload)
    except ValueError as error:   # the SoC's checks of clock_hz, baud and max_payload
        if isinstance(error, AbchwError):
            raise
        raise SimulationError(str(error)) from None
    executable = build_simulator(text, harness=SOC_HARNESS, cache_dir=cache_dir)
    return BoardServer(executable, host=host, port=port, divisor=divisor)
