"""The board link: the UART, SLIP framing and the frame protocol of :mod:`abchw.protocol` in
gateware, between the host's serial line and the engine's byte streams (``docs/protocol.md``)."""
