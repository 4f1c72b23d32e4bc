"""What every abchw command shares: user errors become one line on stderr and exit status 2;
Ctrl-C and SIGTERM stop it cleanly."""

import functools
import signal
import sys
import threading

from .errors import AbchwError

__all__ = ["Terminated", "command"]


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the command is, as Ctrl-C raises :class:`KeyboardInterrupt`: every
    ``with`` and ``finally`` on the way out runs, so scratch directories are removed and tool
    and simulator processes stopped (a SIGTERM reaches this process only, not its children)."""


def _terminate(signum, frame):
    raise Terminated


def command(prog):
    """Decorate ``main(argv=None)``: an :class:`AbchwError` prints ``prog: error: ...``, exits 2;
    Ctrl-C exits 130 and SIGTERM 143 (128 + the signal), after cleaning up."""
    def decorate(main):
        @functools.wraps(main)
        def wrapper(argv=None):
            in_main_thread = threading.current_thread() is threading.main_thread()
            if in_main_thread:      # only the main thread may set a handler
                previous = signal.signal(signal.SIGTERM, _terminate)
            try:
                return main(argv)
            except AbchwError as error:
                print(f"{prog}: error: {error}", file=sys.stderr)
                return 2
            except KeyboardInterrupt as interrupt:
                terminated = isinstance(interrupt, Terminated)
                print(f"{prog}: {'terminated' if terminated else 'interrupted'}",
                      file=sys.stderr)
                return 128 + (signal.SIGTERM if terminated else signal.SIGINT)
            finally:
                if in_main_thread:
                    signal.signal(signal.SIGTERM, previous)
        return wrapper
    return decorate
