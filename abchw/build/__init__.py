"""Bitstreams of the accelerator for a board: ``python -m abchw.build --board icebreaker --M 3 --N 3``.

* :mod:`.sizer`: the largest engine that fits the board (before any tool runs);
* :mod:`.pll` and :mod:`.clocks`: the PLL's divider settings, its hard macro, the reset;
* :mod:`.top`: the board's design (PLL, reset, SoC, LEDs on the board's pins);
* :mod:`.flow`: elaborate, synthesize, place & route and pack, with the YoWASP tools;
* :mod:`.report` and :mod:`.bitstream`: the report and the products in the output directory;
* :mod:`.__main__`: the command line.

The boards themselves are the top-level package :mod:`boards`.
"""
