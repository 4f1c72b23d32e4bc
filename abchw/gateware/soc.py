"""The board's system: the engine behind the board link, on a serial line.

::

    rx pin -> UartRx -> Link -> commands -> Engine (reset by the link's RESET)
    tx pin <- UartTx <- Link <- results  <-

The engine has a clock domain of its own, whose reset is the board's or the link's
``engine_reset``; its memories keep their contents (a RESET does not unload a program). The UART's divisor is
``round(clock_hz / baud)``; a baud rate the clock cannot make within 2 % is refused
(:func:`~.link.uart.uart_divisor`).
"""

from amaranth import ClockDomain, ClockSignal, DomainRenamer, Module, ResetSignal, Signal
from amaranth.lib import wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from ..protocol import MAX_PAYLOAD
from .engine.config import check_config
from .engine.engine import Engine
from .link.link import Link
from .link.uart import UartRx, UartTx, uart_divisor

__all__ = ["Soc"]


class Soc(wiring.Component):
    """The top of a board build: keyword-only ``config`` (an
    :class:`~abchw.gateware.engine.config.EngineConfig`), ``clock_hz`` (of the ``sync``
    domain), ``baud``, ``max_payload`` (of the link's frames).

    Ports: ``rx`` (in: the serial line from the host, idle high), ``tx`` (out: to the host, idle
    high), ``activity`` (out: high while an EXEC runs, for an LED). ``divisor``: clock cycles
    per bit.
    """

    rx: In(1, init=1)
    tx: Out(1, init=1)
    activity: Out(1)

    def __init__(self, *, config, clock_hz, baud, max_payload=MAX_PAYLOAD):
        self.config = check_config(config)
        self.divisor = uart_divisor(clock_hz=clock_hz, baud=baud)
        self.link = Link(config=config, clock_hz=clock_hz, baud=baud, max_payload=max_payload)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.uart_rx = uart_rx = UartRx(divisor=self.divisor)
        m.submodules.uart_tx = uart_tx = UartTx(divisor=self.divisor)
        m.submodules.link = link = self.link
        engine = Engine(config=self.config)
        # The engine runs in its own domain, on the same clock, reset by the board's reset or
        # the link's: a domain reset also reaches the accumulators' explicit ResetSignal(),
        # which ResetInserter would not. The reset is one register (reset-less, so it is high
        # while ``sync`` is reset): the link's frame decoding and the OR would otherwise lie
        # on every path to every engine register, and a register's net can take a global.
        m.domains.engine = ClockDomain()
        engine_reset = Signal(init=1, reset_less=True)
        m.d.sync += engine_reset.eq(ResetSignal("sync") | link.engine_reset)
        m.d.comb += [ClockSignal("engine").eq(ClockSignal("sync")),
                     ResetSignal("engine").eq(engine_reset)]
        m.submodules.engine = DomainRenamer("engine")(engine)
        # Command bytes pass through a two-entry FIFO: its registered handshake keeps the
        # link's frame logic and the engine's command decoding off one combinational path. It
        # is the engine's (a RESET drops the bytes in it).
        commands = SyncFIFO(width=8, depth=2)
        m.submodules.commands = DomainRenamer("engine")(commands)
        m.d.comb += [uart_rx.rx.eq(self.rx), self.tx.eq(uart_tx.tx),
                     self.activity.eq(link.executing),
                     link.busy.eq(engine.busy | commands.r_rdy)]
        wiring.connect(m, uart_rx.bytes, link.rx_bytes)
        wiring.connect(m, link.tx_bytes, uart_tx.bytes)
        wiring.connect(m, link.commands, commands.w_stream)
        wiring.connect(m, commands.r_stream, engine.commands)
        wiring.connect(m, engine.results, link.results)
        return m
