"""abchw.cli.command: errors, Ctrl-C and SIGTERM end a command cleanly, with their exit status."""

import os
import signal
import time

from abchw.cli import command
from abchw.errors import AbchwError


def run(body, capsys):
    """Run ``body`` as the command ``prog``: its exit status, its stderr, whether it cleaned up."""
    cleaned = []

    @command("prog")
    def main(argv=None):
        try:
            return body()
        finally:
            cleaned.append(True)
    status = main([])
    return status, capsys.readouterr().err, cleaned == [True]


def test_a_user_error_is_one_line_and_status_2(capsys):
    def body():
        raise AbchwError("the board 'x' is unknown")
    assert run(body, capsys) == (2, "prog: error: the board 'x' is unknown\n", True)


def test_ctrl_c_is_status_130(capsys):
    def body():
        raise KeyboardInterrupt
    assert run(body, capsys) == (130, "prog: interrupted\n", True)


def test_sigterm_cleans_up_and_is_status_143_and_the_handler_is_restored(capsys):
    before = signal.getsignal(signal.SIGTERM)

    def body():
        assert signal.getsignal(signal.SIGTERM) is not before
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)           # interrupted by the handler's Terminated
        return 0
    started = time.monotonic()
    assert run(body, capsys) == (143, "prog: terminated\n", True)
    assert time.monotonic() - started < 4
    assert signal.getsignal(signal.SIGTERM) is before
