"""Fixtures shared by the tests of the tool runner (test_synthesis.py) and of the seed sweep
(test_build_cli.py)."""

import pytest

from abchw import synthesis

#: The log the looping tool writes in its working directory.
LOOP_LOG = "nextpnr.log"


@pytest.fixture
def looping_tool(tmp_path, monkeypatch):
    """Every tool :func:`abchw.synthesis.run_tool` starts becomes a process that appends a
    numbered line to :data:`LOOP_LOG` every 10 ms, for 10 s (much longer than any test waits:
    a tool left running shows as a log still growing); the watch looks every 0.1 s. Its value:
    the log's name."""
    script = tmp_path / "loop"
    script.write_text(f'#!/bin/sh\ni=0\nwhile [ $i -lt 1000 ]; do i=$((i+1)); '
                      f'echo "iter=$i" >> {LOOP_LOG}; sleep 0.01; done\n')
    script.chmod(0o755)
    monkeypatch.setattr(synthesis, "tool", lambda name: str(script))
    monkeypatch.setattr(synthesis, "WATCH_SECONDS", 0.1)
    return LOOP_LOG
