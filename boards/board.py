"""What abchw needs to know about a development board to build and load a bitstream for it."""

import shutil
from dataclasses import dataclass
from types import MappingProxyType

from amaranth.vendor import LatticeECP5Platform, LatticeICE40Platform

__all__ = ["FAMILIES", "RESOURCES", "Board"]

#: FPGA families abchw builds for, and the amaranth-boards platform base class of each.
FAMILIES = {"ice40": LatticeICE40Platform, "ecp5": LatticeECP5Platform}
#: The device resources a build is sized against: logic cells (iCE40 LUT4 + flip-flop pairs,
#: ECP5 LUT4s), block RAMs, single-port RAMs (UltraPlus only) and multipliers (DSP blocks).
RESOURCES = ("lcs", "ebr", "spram", "dsp")


@dataclass(frozen=True, eq=False)
class Board:
    """One board (every field keyword-only):

    ``name`` (command-line name) and ``title``; ``platform``, its amaranth-boards platform class;
    ``family`` (a key of :data:`FAMILIES`); ``budget``, the device's count of each of
    :data:`RESOURCES`; ``clock``, the resource name of the oscillator that feeds the PLL;
    ``default_mhz`` and ``max_mhz``, the default and the highest clock a build may ask for;
    ``uart`` (resource name, number), the UART of the USB bridge; ``default_baud``; ``leds``,
    ``{role: (resource name, number)}`` with roles ``"heartbeat"`` and ``"activity"``;
    ``synth_options`` for Yosys ``synth_<family>``; ``nextpnr_options`` (device and package);
    ``programmers``, commands that load a bitstream, tried in order, ``{bitstream}`` standing
    for its path.

    The device name and the oscillator's frequency come from the platform class. Boards compare
    and hash by identity: each exists once, in :data:`boards.BOARDS`.
    """
    name: str
    title: str
    platform: type
    family: str
    budget: MappingProxyType
    clock: str
    default_mhz: float
    max_mhz: float
    uart: tuple
    default_baud: int
    leds: MappingProxyType
    synth_options: tuple
    nextpnr_options: tuple
    sizer_fill: float
    programmers: tuple

    def __post_init__(self):
        if self.family not in FAMILIES:
            raise ValueError(f"family must be one of {', '.join(FAMILIES)}, not {self.family!r}")
        if not issubclass(self.platform, FAMILIES[self.family]):
            raise TypeError(f"platform {self.platform.__name__} is not a {self.family} platform")
        if set(self.budget) != set(RESOURCES):
            raise ValueError(f"budget must count exactly {', '.join(RESOURCES)}, "
                             f"not {sorted(self.budget)}")
        if set(self.leds) != {"heartbeat", "activity"}:
            raise ValueError(f"leds must name 'heartbeat' and 'activity', not {sorted(self.leds)}")
        if not 0 < self.sizer_fill <= 1:
            raise ValueError(f"sizer_fill must be in (0, 1], not {self.sizer_fill!r}")
        if not 0 < self.default_mhz <= self.max_mhz:
            raise ValueError(f"default_mhz must be in (0, max_mhz], not {self.default_mhz!r}")
        for resource in (self.clock, 0), self.uart, *self.leds.values():
            self._resource(*resource)  # raises if the platform lacks it
        # Frozen: keep the mappings read-only too.
        object.__setattr__(self, "budget", MappingProxyType(dict(self.budget)))
        object.__setattr__(self, "leds", MappingProxyType(dict(self.leds)))

    def _resource(self, name, number):
        for resource in self.platform.resources:
            if (resource.name, resource.number) == (name, number):
                return resource
        raise ValueError(f"platform {self.platform.__name__} has no resource {name}#{number}")

    @property
    def device(self):
        """The FPGA's part name, e.g. ``"iCE40UP5K-SG48"``."""
        platform = self.platform
        if self.family == "ecp5":
            return f"{platform.device}-{platform.speed}{platform.package}{platform.grade}"
        return f"{platform.device}-{platform.package}"

    @property
    def clock_mhz(self):
        """Frequency of the oscillator on :attr:`clock`, from the platform's resource."""
        return self._resource(self.clock, 0).clock.frequency / 1e6

    def programmer_command(self, bitstream):
        """The first of :attr:`programmers` whose program is on ``PATH``, with ``bitstream``
        filled in, or ``None``."""
        for command in self.programmers:
            if shutil.which(command[0]):
                return [word.format(bitstream=bitstream) for word in command]
        return None

    def programmer_names(self):
        """``"iceprog or openFPGALoader"``: the programs :meth:`programmer_command` looks for."""
        return " or ".join(dict.fromkeys(command[0] for command in self.programmers))
