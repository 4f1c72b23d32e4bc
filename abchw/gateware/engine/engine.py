"""The engine: a byte-stream-programmed ABC-Net accelerator that runs any network that fits it.

Datapath of one stage (``docs/engine.md`` has the diagram)::

    sequencer -> activation + weight memories -> PE array (PEs + accumulators) -> value buffer
      -> max-pool -> slice -> threshold fetch -> comparator bank -> queue -> slice
                          \\-> (last stage) byte serializer -> results
      -> plane writer -> activation memory

(each slice a :class:`~abchw.gateware.stream_slice.StreamSlice`, cutting the ready path; the
plane writer's slice also takes the image bytes; the queue has room for every value the
comparators hold, so they never stall).

Control: the ``commands`` byte stream carries (little-endian integers)

* ``0x01 mem addr[3] count[3] words...``: write ``count`` words from ``addr`` into memory
  ``mem`` (:data:`MEMORIES`); each word takes ``ceil(width / 8)`` bytes, little-endian;
* ``0x02 pixels...``: run one inference on the image that follows (``image_bytes`` of the first
  descriptor, pixel by pixel, the channels of a pixel together). The engine loads its 8
  bit-planes, runs the stages of the program one after the other until the one marked
  ``final`` (its scores go out as ``score_bytes`` bytes each, position by position, channel
  by channel), then sends its :data:`~.config.COUNTERS` (8 bytes each).

Any other command byte is ignored. Feature maps of consecutive stages live in different regions
of the activation memory (the compiler's allocation), so a stage reads one while writing the
next. ``busy`` is high while the engine makes progress without more command bytes (computing,
finishing a word, or sending results): a command stream has been carried out once all its bytes
are taken and ``busy`` is low. ``observe`` exposes the activation writes and the stage being
run, for simulation.
"""

from itertools import pairwise

from amaranth import Cat, Module, Mux, Shape, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from ...network import INPUT_BITS
from ..block_ram import BlockRam
from ..comparator import ComparatorBank
from ..delay import delay
from ..maxpool import MaxPoolUnit
from ..stream_slice import StreamSlice
from .config import COUNTERS, check_config
from .descriptor import LEVELS, DescriptorLayout, StepLayout, descriptor_rows, stage_rows
from .pe_array import PeArray
from .plane_writer import PlaneWriter
from .sequencer import Sequencer
from .serializer import WORD_BYTES, ByteSerializer
from .threshold_fetch import ThresholdFetch, ThresholdLayout
from .value_buffer import ValueBuffer
from .weight_memory import WeightMemory

__all__ = ["MEMORIES", "PHASES", "RUN", "WRITE", "Engine"]

#: Command bytes.
WRITE, RUN = 0x01, 0x02
#: Memory numbers of the WRITE command.
MEMORIES = ("descriptors", "weights", "coefficients", "thresholds")
#: ``observe.phase`` values.
PHASES = {"idle": 0, "load": 1, "compute": 2, "other": 3}
#: Width of the counters (sent as 8 bytes each): 89 s of cycles at 48 MHz for one inference.
COUNTER_BITS = 32
HEADER_BYTES = 7


def memory_shapes(config):
    """``{name: (shape of a word, depth)}`` of the memories a WRITE command may fill."""
    return {
        "descriptors": (unsigned(StepLayout(config).size),
                        config.stages_max * stage_rows(config)),
        "weights": (unsigned(config.pes * config.lanes), config.weight_words),
        "coefficients": (data.ArrayLayout(signed(config.coef_bits), config.pes),
                         config.coef_words),
        "thresholds": (ThresholdLayout(config), config.threshold_words),
    }


def word_bytes(shape):
    """Bytes a word of ``shape`` takes on the command stream."""
    return -(-Shape.cast(shape).width // 8)


class Engine(wiring.Component):
    """The engine of a build :class:`~.config.EngineConfig` ``config`` (see module documentation).

    Ports: ``commands`` (in) and ``results`` (out) byte streams; ``busy`` (out, see module
    documentation); ``observe`` (out): the
    activation memory's write port (``write_en``, ``write_addr``, ``write_data``), ``stage``
    (the stage being run), ``phase`` (:data:`PHASES`), ``beat`` (the PE array took a beat).
    """

    def __init__(self, *, config):
        self.config = check_config(config)
        super().__init__({
            "commands": In(stream.Signature(8)),
            "results": Out(stream.Signature(8)),
            "busy": Out(1),
            "observe": Out(wiring.Signature({
                "write_en": Out(1), "write_addr": Out(config.act_addr_bits),
                "write_data": Out(config.lanes), "stage": Out(4), "phase": Out(2),
                "beat": Out(1)})),
        })

    def elaborate(self, platform):
        m = Module()
        config = self.config
        shapes = memory_shapes(config)
        memories = {name: BlockRam(shape=shape, depth=depth)
                    for name, (shape, depth) in shapes.items() if name != "weights"}
        memories["activations"] = BlockRam(shape=config.lanes, depth=config.act_words)
        for name, memory in memories.items():
            m.submodules[name] = memory
        m.submodules.weights = weights = WeightMemory(config=config)

        m.submodules.sequencer = sequencer = Sequencer(config=config)
        m.submodules.pe_array = pe_array = PeArray(config=config)
        m.submodules.value_buffer = value_buffer = ValueBuffer(config=config)
        m.submodules.maxpool = maxpool = MaxPoolUnit(m=config.m, n=config.n,
                                                     coef_bits=config.coef_bits)
        m.submodules.maxima_slice = maxima_slice = StreamSlice(shape=signed(config.acc_bits))
        m.submodules.threshold_fetch = fetch = ThresholdFetch(config=config)
        m.submodules.comparator = comparator = ComparatorBank(m=config.m, n=config.n,
                                                              coef_bits=config.coef_bits)
        m.submodules.writer_slice = writer_slice = StreamSlice(shape=INPUT_BITS)
        m.submodules.plane_writer = writer = PlaneWriter(config=config)
        m.submodules.serializer = serializer = ByteSerializer()

        # The running stage's descriptor, a register loaded row by row from the descriptor
        # memory (a descriptor is hundreds of bits wide, too wide for block RAM); while the
        # stage runs, the memory's read port serves the sequencer's step table.
        descriptor_port = memories["descriptors"].read_port()
        layout = DescriptorLayout(config)
        descriptor_bits = Signal(StepLayout(config).size * descriptor_rows(config))
        descriptor = data.View(layout, descriptor_bits[:layout.size])
        stage = Signal(config.stage_bits)

        # Beats: the activation memory is read in the cycle the sequencer fires and its word,
        # a multiplexer over many block RAMs, is registered once more; the weights are
        # addressed a cycle later to match (from a register: the address reaches four SPRAMs).
        # The PE array takes both two cycles after the beat, the coefficients
        # ``coefficient_delay`` cycles after that.
        act_read = memories["activations"].read_port()
        coef_read = memories["coefficients"].read_port()
        act_word = Signal(config.lanes)
        weight_addr = Signal.like(sequencer.weight_addr)
        m.d.sync += [act_word.eq(act_read.data), weight_addr.eq(sequencer.weight_addr)]
        m.d.comb += [sequencer.descriptor.eq(descriptor), sequencer.step.eq(descriptor_port.data),
                     act_read.addr.eq(sequencer.act_addr), weights.read_addr.eq(weight_addr)]
        m.d.comb += [
            coef_read.addr.eq(delay(m, sequencer.coef_addr, 1 + pe_array.coefficient_delay,
                                    name="coef_addr")),
            Cat(pe_array.valid, pe_array.first, pe_array.last).eq(
                delay(m, Cat(sequencer.fire, sequencer.first, sequencer.group_last), 2,
                      name="beat")),
        ]
        m.d.comb += [pe_array.weights.eq(weights.read_data),
                     pe_array.activations.eq(act_word),
                     pe_array.coefficients.eq(coef_read.data), pe_array.k.eq(descriptor.k)]

        # Values: buffer, max-pool, then thresholds and comparators, or the score bytes. The
        # maxima's slice ends the ready paths of the threshold fetch and the serializer there,
        # short of the max-pool unit and the value buffer.
        pool_window = Signal.like(value_buffer.window)
        m.d.comb += [
            value_buffer.write_valid.eq(pe_array.values_valid),
            value_buffer.write_values.eq(pe_array.values),
            value_buffer.reserve.eq(sequencer.reserve),
            sequencer.can_reserve.eq(value_buffer.can_reserve),
            pool_window.eq(descriptor.pool * descriptor.pool),
            value_buffer.window.eq(pool_window),
            value_buffer.channels.eq(descriptor.channels),
        ]
        wiring.connect(m, value_buffer.values, maxpool.values)
        threshold_port = memories["thresholds"].read_port()
        m.d.comb += [fetch.base.eq(descriptor.threshold_base),
                     fetch.channels.eq(descriptor.channels),
                     threshold_port.addr.eq(fetch.read_addr), threshold_port.en.eq(fetch.read_en),
                     fetch.read_data.eq(threshold_port.data)]
        # The comparators never stall: their bits go to a queue with room for every value
        # let in (one credit per entry), so no ready runs back through their pipeline and the
        # threshold fetch in one path.
        bits_queue = SyncFIFO(width=config.n, depth=comparator.latency + 2)
        m.submodules.bits_queue = bits_queue
        credits = Signal(range(bits_queue.depth + 1), init=bits_queue.depth)
        let_in = fetch.values.valid & fetch.values.ready
        m.d.comb += [comparator.values.payload.eq(fetch.values.payload),
                     comparator.values.valid.eq(fetch.values.valid & (credits != 0)),
                     fetch.values.ready.eq(credits != 0),
                     comparator.bits.ready.eq(1),
                     bits_queue.w_data.eq(comparator.bits.payload),
                     bits_queue.w_en.eq(comparator.bits.valid)]
        m.d.sync += credits.eq(credits - let_in + (bits_queue.r_en & bits_queue.r_rdy))

        wiring.connect(m, maxpool.maxima, maxima_slice.input)
        final = descriptor.final
        score_valid = Signal()
        m.d.comb += [fetch.maxima.payload.eq(maxima_slice.output.payload),
                     fetch.maxima.valid.eq(maxima_slice.output.valid & ~final),
                     score_valid.eq(maxima_slice.output.valid & final),
                     maxima_slice.output.ready.eq(
                         final & serializer.words.ready | ~final & fetch.maxima.ready)]

        # The activation memory's one write port: the plane writer, fed by the image loader or
        # by the comparators.
        act_write = memories["activations"].write_port()
        m.d.comb += [act_write.addr.eq(writer.write_addr), act_write.data.eq(writer.write_data),
                     act_write.en.eq(writer.write_en),
                     self.observe.write_en.eq(writer.write_en),
                     self.observe.write_addr.eq(writer.write_addr),
                     self.observe.write_data.eq(writer.write_data),
                     self.observe.stage.eq(stage), self.observe.beat.eq(sequencer.fire)]

        self._control(m, memories, weights, shapes, descriptor_port, descriptor_bits, descriptor,
                      stage, sequencer, value_buffer, fetch, bits_queue, maxima_slice,
                      writer_slice, writer, serializer, score_valid)
        return m

    def _control(self, m, memories, weights, shapes, descriptor_port, descriptor_bits,
                 descriptor, stage, sequencer, value_buffer, fetch, bits_queue, maxima_slice,
                 writer_slice, writer, serializer, score_valid):
        config = self.config
        command = self.commands
        serializer_words = serializer.words
        m.d.comb += [self.results.payload.eq(serializer.bytes.payload),
                     self.results.valid.eq(serializer.bytes.valid),
                     serializer.bytes.ready.eq(self.results.ready)]

        # Command bytes shift in at the top of ``shift`` as they arrive, whatever the state: a
        # WRITE's header and its words are read from there. ``full``: the byte on top is not
        # taken yet. The input's ``ready`` is that register, and the wide shift register's
        # enable is one gate from registers: the FSM's decisions reach neither (the engine
        # takes a byte every other cycle at most, far faster than the link delivers them).
        widths = {name: Shape.cast(shape).width for name, (shape, _) in shapes.items()}
        shift_bits = 8 * max(HEADER_BYTES, *(word_bytes(shape) for shape, _ in shapes.values()))
        shift = Signal(shift_bits)
        full, take = Signal(), Signal()
        byte = shift[-8:]
        # What the byte on top means as a command, decoded as it arrives: the FSM's decisions
        # in IDLE are then one gate from flip-flops.
        byte_is_write, byte_is_run = Signal(), Signal()
        m.d.comb += command.ready.eq(~full)
        with m.If(command.valid & ~full):
            m.d.sync += [shift.eq(Cat(shift[8:], command.payload)), full.eq(1),
                         byte_is_write.eq(command.payload == WRITE),
                         byte_is_run.eq(command.payload == RUN)]
        with m.Elif(take):
            m.d.sync += full.eq(0)

        # WRITE: the header, then words; counts end on sign bits.
        header = shift[-8 * HEADER_BYTES:]
        header_left = Signal(range(-1, HEADER_BYTES))
        memory_select = Signal(len(shapes))    # one-hot: the header's memory
        write_addr = Signal(24)
        words_left = Signal(signed(25))
        bytes_left = Signal(range(shift_bits // 8))        # of the word, minus one
        word_last_byte = Signal.like(bytes_left)
        word_done = Signal()
        ports = {}
        for name in shapes:
            if name == "weights":
                ports[name] = (weights.write_addr, weights.write_data, weights.write_en)
            else:
                port = memories[name].write_port()
                ports[name] = (port.addr, port.data, port.en)
        for number, (name, (addr, word, en)) in enumerate(ports.items()):
            start = shift_bits - 8 * word_bytes(shapes[name][0])
            m.d.comb += [addr.eq(write_addr), word.eq(shift[start:start + widths[name]]),
                         en.eq(word_done & memory_select[number])]
        last_byte = Signal.like(bytes_left)    # of a word of the header's memory, from 0
        header_select = Signal.like(memory_select)
        with m.Switch(header[:8]):
            for number, name in enumerate(ports):
                with m.Case(number):
                    m.d.comb += [last_byte.eq(word_bytes(shapes[name][0]) - 1),
                                 header_select.eq(1 << number)]

        # Counters of the current inference.
        counters = {name: Signal(COUNTER_BITS, name=name) for name in COUNTERS}
        counter_index = Signal(range(len(COUNTERS)))
        # The serializer's word is a score of the final stage (sign-extended), or a counter
        # while ``sending_counters``, a flip-flop the FSM sets and clears: the choice reaches
        # the word's 64 bits from a register, and the scores' ``valid`` only the serializer's
        # ``empty`` flag.
        sending_counters = Signal()
        order = [counters[name] for name in COUNTERS]
        m.d.comb += serializer_words.valid.eq(score_valid | sending_counters)
        with m.If(sending_counters):
            m.d.comb += [serializer_words.payload.word.eq(order[0]),
                         serializer_words.payload.count.eq(WORD_BYTES)]
        with m.Else():
            m.d.comb += [serializer_words.payload.word.eq(maxima_slice.output.payload),
                         serializer_words.payload.count.eq(config.score_bytes)]

        # The end of a stage: every group issued and read out of the value buffer, every
        # pooled value through the comparators and written (or sent).
        # The handshakes are counted a cycle late, from flip-flops, so they reach no adder: a
        # window sent is counted (``window_sent``) before the value buffer's ``idle`` can end
        # the stage, and a value done late only holds the stage a cycle longer.
        in_flight = Signal(range(1 << 12))
        window_sent, value_taken, value_done = Signal(), Signal(), Signal()
        m.d.sync += [window_sent.eq(value_buffer.values.valid & value_buffer.values.ready
                                    & value_buffer.values.payload.last),
                     value_done.eq(value_taken),
                     in_flight.eq(in_flight + window_sent - value_done)]
        # ``stage_done`` is registered too, so the FSM's decision and the descriptor load it
        # starts are one cycle later: nothing moves once a stage is done. ``start`` keeps it
        # low in the stage's first cycle (the sequencer's ``running`` rises then).
        start, load_start = Signal(), Signal()
        stage_done = Signal()
        m.d.sync += stage_done.eq(~start & ~sequencer.running & value_buffer.idle & ~window_sent
                                  & (in_flight == 0) & writer.idle & serializer.idle)

        # ``loading``: the image is being loaded (a flip-flop, set and cleared by the FSM),
        # which selects the plane writer's geometry. The writer starts a cycle after the stage
        # or the image, from a flip-flop: the FSM reaches none of its many enables.
        loading = Signal()
        writer_start = Signal()
        m.d.sync += writer_start.eq(start | load_start)
        m.d.comb += [sequencer.start.eq(start), value_buffer.start.eq(start),
                     fetch.start.eq(start), writer.start.eq(writer_start)]
        # The plane writer's source and geometry: the image, or the comparators' bits, through a
        # slice: the control (``loading``) and the command stream reach only its registers, not
        # the writer's many enables, and its ready, a flip-flop, is the bits queue's read enable.
        # The queue is empty while the image loads (the inference before is done), so the
        # slice's ``valid`` is an OR of the two sources': ``loading`` only picks the payload.
        wiring.connect(m, writer_slice.output, writer.bits)
        image_offer = Signal()
        m.d.comb += [writer_slice.input.valid.eq(bits_queue.r_rdy | image_offer),
                     writer_slice.input.payload.eq(Mux(loading, byte, bits_queue.r_data)),
                     bits_queue.r_en.eq(writer_slice.input.ready)]
        with m.If(loading):
            m.d.comb += [writer.channels.eq(descriptor.in_channels),
                         writer.planes.eq(INPUT_BITS), writer.base.eq(descriptor.in_base),
                         writer.plane_stride.eq(descriptor.plane_stride)]
        with m.Else():
            m.d.comb += [writer.channels.eq(descriptor.channels),
                         writer.planes.eq(descriptor.out_planes),
                         writer.base.eq(descriptor.out_base),
                         writer.plane_stride.eq(descriptor.out_plane_stride)]
        # Image bytes still to come, minus one: the sign bit (not a wide comparison) says the
        # image is in, on the path to the slice's enables.
        image_left = Signal(signed(len(descriptor.image_bytes) + 1))
        image_in = image_left[-1]

        # Descriptor loading: row ``descriptor_word`` is read while the previous one, read the
        # cycle before, shifts in at the top; ``words + 1`` cycles in all.
        words = descriptor_rows(config)
        descriptor_word = Signal(range(words + 1))
        descriptor_loaded = descriptor_word == words    # the last row shifts in
        row = Signal(range(stage_rows(config)))
        m.d.comb += [row.eq(sequencer.step_level), descriptor_port.en.eq(sequencer.step_en),
                     descriptor_port.addr.eq(Cat(row, stage))]

        def load_descriptor(next_state):
            m.d.comb += [row.eq(len(LEVELS) + descriptor_word), descriptor_port.en.eq(1)]
            m.d.sync += descriptor_word.eq(descriptor_word + 1)
            with m.If(descriptor_word != 0):
                m.d.sync += descriptor_bits.eq(
                    Cat(descriptor_bits[len(descriptor_port.data):], descriptor_port.data))
            with m.If(descriptor_loaded):
                m.d.sync += descriptor_word.eq(0)
                m.next = next_state
        waiting = Signal()  # for command bytes, with nothing left to do
        # ``busy`` is registered, so that the FSM does not reach into the link. Late by a
        # cycle, it is still never low while work remains: it only rises from a state that
        # waits for a byte, when one arrives, and ``full`` covers that cycle.
        busy_before = Signal()
        m.d.sync += busy_before.eq(~waiting | ~serializer.idle | serializer.bytes.valid)
        m.d.comb += self.busy.eq(full | busy_before)

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += [take.eq(full), waiting.eq(~full),
                             self.observe.phase.eq(PHASES["idle"])]
                with m.If(full):
                    with m.If(byte_is_write):
                        m.d.sync += header_left.eq(HEADER_BYTES - 1)
                        m.next = "HEADER"
                    with m.If(byte_is_run):
                        m.d.sync += stage.eq(0)
                        m.next = "IMAGE_DESCRIPTOR"
            with m.State("HEADER"):
                # The header is read the cycle after its last byte is taken, before the
                # next byte can shift in.
                m.d.comb += [take.eq(full & ~header_left[-1]), waiting.eq(~full),
                             self.observe.phase.eq(PHASES["other"])]
                with m.If(take):
                    m.d.sync += header_left.eq(header_left - 1)
                with m.If(header_left[-1]):
                    m.d.sync += [memory_select.eq(header_select), write_addr.eq(header[8:32]),
                                 words_left.eq(header[32:56] - 1), bytes_left.eq(last_byte),
                                 word_last_byte.eq(last_byte)]
                    m.next = "WORDS"
            with m.State("WORDS"):
                m.d.comb += [take.eq(full), waiting.eq(~full & ~words_left[-1] & ~word_done),
                             self.observe.phase.eq(PHASES["other"])]
                m.d.sync += word_done.eq(0)
                with m.If(word_done):
                    m.d.sync += write_addr.eq(write_addr + 1)
                with m.If(words_left[-1]):
                    m.d.comb += take.eq(0)
                    with m.If(~word_done):
                        m.next = "IDLE"
                with m.Elif(full):
                    # The word is written the cycle after its last byte is taken, from the
                    # top of ``shift`` (no byte can arrive in between).
                    m.d.sync += bytes_left.eq(bytes_left - 1)
                    with m.If(bytes_left == 0):
                        m.d.sync += [bytes_left.eq(word_last_byte), word_done.eq(1),
                                     words_left.eq(words_left - 1)]
            with m.State("IMAGE_DESCRIPTOR"):
                # Cleared here, where none of them counts, rather than on the RUN byte: the
                # counters' enables stay off the command decoding.
                m.d.sync += [c.eq(0) for c in counters.values()]
                m.d.comb += self.observe.phase.eq(PHASES["load"])
                load_descriptor("IMAGE_START")
                with m.If(descriptor_loaded):
                    m.d.sync += loading.eq(1)
            with m.State("IMAGE_START"):
                m.d.comb += [load_start.eq(1), self.observe.phase.eq(PHASES["load"])]
                m.d.sync += [image_left.eq(descriptor.image_bytes - 1),
                             counters["load_cycles"].eq(counters["load_cycles"] + 1)]
                m.next = "IMAGE"
            with m.State("IMAGE"):
                m.d.comb += [self.observe.phase.eq(PHASES["load"]),
                             waiting.eq(~image_in & ~full),
                             image_offer.eq(full & ~image_in),
                             take.eq(full & writer_slice.input.ready & ~image_in)]
                m.d.sync += counters["load_cycles"].eq(counters["load_cycles"] + 1)
                with m.If(take):
                    m.d.sync += image_left.eq(image_left - 1)
                # The image's last bytes may still be in the slice (empty when its output is).
                with m.If(image_in & ~writer_slice.output.valid & writer.idle):
                    m.d.sync += loading.eq(0)
                    m.next = "STAGE_DESCRIPTOR"
            with m.State("STAGE_DESCRIPTOR"):
                m.d.comb += self.observe.phase.eq(PHASES["compute"])
                m.d.sync += counters["compute_cycles"].eq(counters["compute_cycles"] + 1)
                load_descriptor("STAGE_START")
            with m.State("STAGE_START"):
                m.d.comb += [start.eq(1), self.observe.phase.eq(PHASES["compute"])]
                m.d.sync += counters["compute_cycles"].eq(counters["compute_cycles"] + 1)
                m.next = "STAGE"
            with m.State("STAGE"):
                m.d.comb += self.observe.phase.eq(PHASES["compute"])
                m.d.sync += counters["compute_cycles"].eq(counters["compute_cycles"] + 1)
                with m.If(sequencer.fire):
                    m.d.sync += counters["busy_cycles"].eq(counters["busy_cycles"] + 1)
                with m.If(stage_done):
                    m.d.sync += stage.eq(stage + 1)
                    with m.If(descriptor.final):
                        m.d.sync += [counter_index.eq(0), sending_counters.eq(1)]
                        m.next = "COUNTERS"
                    with m.Else():
                        m.next = "STAGE_DESCRIPTOR"
            with m.State("COUNTERS"):
                # The counters leave through the first one, shifted along: no multiplexer
                # between them and the serializer.
                m.d.comb += self.observe.phase.eq(PHASES["other"])
                with m.If(serializer_words.ready):
                    m.d.sync += [counter.eq(after) for counter, after in pairwise(order)]
                    m.d.sync += counter_index.eq(counter_index + 1)
                    with m.If(counter_index == len(COUNTERS) - 1):
                        m.d.sync += sending_counters.eq(0)
                        m.next = "IDLE"
        m.d.comb += value_taken.eq(
            writer.bits.valid & writer.bits.ready & ~loading
            | score_valid & serializer_words.ready)
