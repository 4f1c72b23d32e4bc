"""A description of the machine a benchmark ran on, for its report."""

import os
import platform
from pathlib import Path

__all__ = ["cpu_name", "machine_description"]


def cpu_name():
    """The CPU model from ``/proc/cpuinfo``, else what :mod:`platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_description():
    """e.g. ``"Intel(R) Xeon(R) Processor, 2 CPUs"``."""
    return f"{cpu_name()}, {os.cpu_count()} CPUs"
