"""A one-line progress bar on stderr, drawn only where a person watches it (a TTY) or forced.

    with Progress(total=len(images), label="simulating") as bar:
        for image in images:
            ...
            bar.update()        # one more done; update(n) for n more

It redraws in place with a carriage return at most every ``interval`` seconds (and always at
the end), so calling :meth:`Progress.update` every cycle of a loop costs next to nothing. With
``total=None`` it shows a count only.
"""

import sys
import time

__all__ = ["Progress"]


class Progress:
    """Progress of ``total`` units of work (None: unknown), shown as ``label [###---] n/total``.

    ``stream``: where to draw (default ``sys.stderr``). ``force``: True draws even when the
    stream is not a TTY, False never draws, None (default) draws on a TTY only. ``width``: the
    bar's length in characters.
    """

    def __init__(self, total=None, label="", *, stream=None, force=None, width=30,
                 interval=0.1):
        if total is not None and total < 0:
            raise ValueError(f"total must be >= 0 or None, not {total}")
        self.total = total
        self.label = label
        self.stream = sys.stderr if stream is None else stream
        isatty = getattr(self.stream, "isatty", lambda: False)
        self.enabled = bool(isatty()) if force is None else bool(force)
        self.width = width
        self.interval = interval
        self.done = 0
        self._drawn_at = None  # monotonic time of the last draw; None: the line is not open
        self._last_length = 0
        self.metrics = {}

    def __enter__(self):
        self._draw()
        return self

    def __exit__(self, *exc_info):
        self.close()

    def update(self, n=1, **metrics):
        """``n`` more units are done; redraw if ``interval`` has passed since the last draw.
        ``metrics`` (name -> value) are shown after the count until the next update."""
        self.done += n
        self.metrics = metrics
        if self.enabled and (self._drawn_at is None
                             or time.monotonic() - self._drawn_at >= self.interval):
            self._draw()

    def text(self):
        """The line as it would be drawn now (without the carriage return)."""
        prefix = f"{self.label} " if self.label else ""
        if self.total is None:
            return f"{prefix}{self.done}"
        fraction = min(self.done / self.total, 1.0) if self.total else 1.0
        filled = round(fraction * self.width)
        bar = "#" * filled + "-" * (self.width - filled)
        shown = "".join(f" {name} {value:.4g}" if isinstance(value, float) else f" {name} {value}"
                        for name, value in self.metrics.items())
        return f"{prefix}[{bar}] {self.done}/{self.total} {fraction:4.0%}{shown}"

    def close(self):
        """Draw the final state and end the line (called on leaving the ``with`` block)."""
        if self.enabled and self._drawn_at is not None:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()
            self._drawn_at = None

    def _draw(self):
        if not self.enabled:
            return
        self._drawn_at = time.monotonic()
        line = self.text()
        # Blank out what is left of a longer previous line.
        self.stream.write("\r" + line + " " * max(0, self._last_length - len(line)))
        self.stream.flush()
        self._last_length = len(line)
