"""The network-programmable ABC-Net engine: the blocks of :mod:`abchw.gateware` put to work on a
program of layer descriptors (see ``docs/engine.md``)."""
