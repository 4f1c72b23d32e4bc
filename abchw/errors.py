"""The one exception type that reaches a user as a message rather than a traceback."""

__all__ = ["AbchwError", "NetworkError", "SimulationError", "SimulationTimeout",
           "SimulatorBuildError"]


class AbchwError(Exception):
    """A problem with the user's input: a bad file, option or network.

    Command-line entry points print its message on one line and exit with status 2.
    """


class NetworkError(AbchwError, ValueError):
    """A network (in memory or loaded from a model file) that abchw cannot run."""


class SimulatorBuildError(AbchwError):
    """Verilog that cannot become a simulator: wrong ports, or Verilator or the compiler failed.

    The message ends with the tail of the build log when a tool failed.
    """


class SimulationError(AbchwError):
    """A simulator run that failed: bad options, or the executable crashed."""


class SimulationTimeout(SimulationError):
    """A simulator run that reached ``max_cycles`` before its stop condition.

    ``run`` holds what was recorded until then (a :class:`abchw.sim.SimRun`).
    """

    def __init__(self, message, run):
        super().__init__(message)
        self.run = run
