"""abchw.progress.Progress: drawn on a TTY or when forced, silent otherwise."""

import io

import pytest

from abchw.progress import Progress


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_draws_in_place_on_a_tty_and_ends_the_line():
    stream = FakeTTY()
    with Progress(total=4, label="images", stream=stream, width=8, interval=0) as bar:
        for _ in range(4):
            bar.update()
    frames = stream.getvalue().split("\r")
    assert frames[0] == ""
    assert frames[1] == "images [--------] 0/4   0%"
    assert frames[3] == "images [####----] 2/4  50%"
    assert frames[-1] == "images [########] 4/4 100%\n"


def test_silent_when_not_a_tty_unless_forced():
    quiet = io.StringIO()
    with Progress(total=10, stream=quiet, interval=0) as bar:
        bar.update(10)
    assert quiet.getvalue() == ""

    forced = io.StringIO()
    with Progress(total=10, label="x", stream=forced, force=True, width=4, interval=0) as bar:
        bar.update(3)
    assert forced.getvalue().endswith("\rx [#---] 3/10  30%\n")

    never = FakeTTY()
    with Progress(total=1, stream=never, force=False) as bar:
        bar.update()
    assert never.getvalue() == ""


def test_rate_limited_redraws_and_final_state():
    stream = FakeTTY()
    with Progress(total=1000, stream=stream, interval=3600) as bar:
        for _ in range(1000):
            bar.update()
    # The first draw on entry, nothing during the hour-long interval, the final one on exit.
    assert stream.getvalue() == "\r[------------------------------] 0/1000   0%" \
        "\r[##############################] 1000/1000 100%\n"


def test_unknown_total_shorter_lines_and_bad_total():
    stream = FakeTTY()
    bar = Progress(label="cycles", stream=stream, interval=0)
    bar.update(123456)
    bar.update(-123400)  # a shorter line must blank out the longer one
    bar.close()
    assert stream.getvalue() == "\rcycles 123456\rcycles 56    \rcycles 56\n"
    assert bar.text() == "cycles 56"
    assert Progress(total=0, force=True, stream=io.StringIO()).text() == \
        "[##############################] 0/0 100%"
    with pytest.raises(ValueError, match="total must be"):
        Progress(total=-1)


def test_metrics_follow_the_count():
    stream = io.StringIO()
    with Progress(total=2, label="fit", stream=stream, force=True, width=2, interval=0) as bar:
        bar.update(loss=0.123456, epoch=1)
        assert bar.text() == "fit [#-] 1/2  50% loss 0.1235 epoch 1"
