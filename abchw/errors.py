"""The one exception type that reaches a user as a message rather than a traceback."""

__all__ = ["AbchwError", "NetworkError"]


class AbchwError(Exception):
    """A problem with the user's input: a bad file, option or network.

    Command-line entry points print its message on one line and exit with status 2.
    """


class NetworkError(AbchwError, ValueError):
    """A network (in memory or loaded from a model file) that abchw cannot run."""
