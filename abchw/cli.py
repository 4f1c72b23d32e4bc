"""What every abchw command shares: user errors become one line on stderr and exit status 2."""

import functools
import sys

from .errors import AbchwError

__all__ = ["command"]


def command(prog):
    """Decorate ``main(argv=None)``: an :class:`AbchwError` prints ``prog: error: ...``, exits 2."""
    def decorate(main):
        @functools.wraps(main)
        def wrapper(argv=None):
            try:
                return main(argv)
            except AbchwError as error:
                print(f"{prog}: error: {error}", file=sys.stderr)
                return 2
            except KeyboardInterrupt:
                print(f"{prog}: interrupted", file=sys.stderr)
                return 130
        return wrapper
    return decorate
