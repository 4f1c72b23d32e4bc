"""A plain progress bar on stderr, no dependency: one line redrawn in a terminal, and a line per
tenth of the work (plus the last) when stderr is a file or a pipe."""

import sys
import time

__all__ = ["Progress"]


class Progress:
    """``Progress(total=..., label=...)``; call :meth:`update` after each unit of work with the
    metrics to show, and :meth:`close` at the end. ``enabled=False`` prints nothing."""

    WIDTH = 24

    def __init__(self, *, total, label, stream=None, enabled=True):
        self.total, self.label = max(int(total), 1), label
        self.stream = sys.stderr if stream is None else stream
        self.enabled = enabled
        self.done, self.start = 0, time.perf_counter()
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_tenth = 0

    def _line(self, metrics):
        filled = self.WIDTH * self.done // self.total
        bar = "#" * filled + "." * (self.WIDTH - filled)
        elapsed = time.perf_counter() - self.start
        eta = elapsed / self.done * (self.total - self.done) if self.done else 0.0
        shown = "  ".join(f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}"
                          for key, value in metrics.items())
        return (f"{self.label} [{bar}] {self.done}/{self.total}  {shown}  "
                f"{elapsed:.0f}s (eta {eta:.0f}s)")

    def update(self, step=1, **metrics):
        self.done = min(self.done + step, self.total)
        if not self.enabled:
            return
        if self.tty:
            self.stream.write("\r" + self._line(metrics) + "\x1b[K")
            self.stream.flush()
            return
        tenth = 10 * self.done // self.total
        if tenth > self._last_tenth or self.done == self.total:
            self._last_tenth = tenth
            self.stream.write(self._line(metrics) + "\n")
            self.stream.flush()

    def close(self):
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()
