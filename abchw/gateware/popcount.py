"""XNOR-popcount processing element: ``p = popcount(XNOR(a, w))`` over a K-bit vector.

The vector arrives in S-bit chunks (S = ``lanes``), the last chunk flagged ``last``; one
popcount leaves per vector. Lanes past K in the last chunk must carry *differing* bits (the
compiler stores weight 1 against activation 0) so they count nothing: the datapath has no lane
mask, which would cost a look-up-table input per lane.

Counting tree, shaped for iCE40 logic cells (one LUT4, one flip-flop and one carry each):

* A leaf counts up to 3 lanes into a full-range 2-bit number with 4 LUT4s (for 3 lanes: the
  XNOR-sum and XNOR-carry of two lanes, then the sum and carry with the third).
* A node adds two counts and *one more lane*: that lane's XNOR enters the ripple-carry adder as
  its carry-in, so a node counting ``n1 + n2 + 1`` lanes costs one logic cell per result bit
  plus the lane's XNOR. A tree of 2^k - 1 lanes thus yields a k-bit count with no unused code.
* The adders of one tree level share carry chains, two per chain while the operands are at most
  3 bits wide: a chain position whose two operand bits are both the next adder's carry-in lane
  ``u`` outputs the previous adder's top bit and carries ``maj(u, u, c) = u`` into the next
  adder, so one position serves both. Wider adders get a chain each, whose first position
  injects the lane the same way (static timing analysis follows the carry through a shared
  position, a path it cannot know to be false: pairing wide adders would lengthen the critical
  path to save a cell or two).
* All of it is plain Amaranth arithmetic, correct under any synthesis; the layout only lets
  Yosys map each adder onto one carry chain without extra cells.
* The accumulator is the last adder: the running sum plus the tree's count plus lane S-1 as the
  carry-in. It restarts after every ``last`` chunk by gating the running sum to zero. Only the
  low bits need that gate ahead of the carry chain: with a zero running sum the chunk's count
  (at most S) sends no carry above them, so the upper bits are masked after their adder instead.
  The accumulator is also the output register.

Registers: the tree's outputs after every second level, and the accumulator. There is *no input
register*: the first look-up tables read ``chunks.payload`` directly, so the producer should
drive it from registers (block-RAM outputs, a shift register), as any stream source does here.
The whole pipeline advances together (``EnableInserter``) whenever the output register is empty
or being read, so backpressure stalls it without losing or repeating a beat.
Latency (registers from input to output): ``depth // 2 + 1``, ``depth`` the tree's number of
levels (:func:`tree_depth` of S - 1 lanes): 2 for S = 16, 3 for S = 64, 4 for S = 256.
"""

from amaranth import Cat, Const, Module, Signal, unsigned
from amaranth.hdl import EnableInserter
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out
from amaranth.utils import bits_for

from ..network import K_MAX
from .delay import delay
from .params import check_int

__all__ = ["LANES_MAX", "ChunkLayout", "XnorPopcount", "tree_depth", "vector_chunks"]

#: Largest number of lanes a processing element may have.
LANES_MAX = 1024
#: Widest adder operands whose adders share a carry chain two by two.
PAIRED_WIDTH_MAX = 3


class ChunkLayout(data.StructLayout):
    """One S-bit chunk: weight bits, activation bits (bit i = lane i) and end-of-vector."""

    def __init__(self, lanes):
        super().__init__({"weights": unsigned(lanes), "activations": unsigned(lanes),
                          "last": unsigned(1)})


class _Count:
    """Node of the counting tree over ``lanes`` (a range): a leaf of at most 3 lanes, or the
    sum of two subtrees plus the XNOR of ``lanes[0]`` as a carry-in."""

    def __init__(self, lanes):
        self.lanes = lanes
        if len(lanes) <= 3:
            self.children = ()
            self.depth = 1
        else:
            rest = lanes[1:]
            half = (len(rest) + 1) // 2
            self.children = (_Count(rest[:half]), _Count(rest[half:]))
            self.depth = 1 + max(child.depth for child in self.children)

    def nodes(self):
        """This node and every node below it."""
        yield self
        for child in self.children:
            yield from child.nodes()


def tree_depth(lanes):
    """Levels of the counting tree over ``lanes`` lanes (0 for none)."""
    return _Count(range(lanes)).depth if lanes else 0


class XnorPopcount(wiring.Component):
    """S-lane XNOR-popcount processing element (see module documentation).

    Parameters (keyword-only): ``lanes`` S in 1..1024; ``k_max``, the longest vector, in
    1..K_MAX (sets the popcount width ``bits_for(k_max)``).

    Interface: ``chunks`` (in) stream of :class:`ChunkLayout`; ``popcounts`` (out) stream of
    ``unsigned(bits_for(k_max))``.
    """

    def __init__(self, *, lanes, k_max=K_MAX):
        check_int("lanes", lanes, 1, LANES_MAX)
        check_int("k_max", k_max, 1, K_MAX)
        self.lanes = lanes
        self.k_max = k_max
        self.count_bits = bits_for(k_max)
        super().__init__({
            "chunks": In(stream.Signature(ChunkLayout(lanes))),
            "popcounts": Out(stream.Signature(unsigned(self.count_bits))),
        })

    @property
    def latency(self):
        """Registers between an accepted one-chunk vector and its popcount: the tree's (one
        per two levels) and the accumulator."""
        return tree_depth(self.lanes - 1) // 2 + 1

    def elaborate(self, platform):
        m = Module()
        advance = ~self.popcounts.valid | self.popcounts.ready
        m.d.comb += self.chunks.ready.eq(advance)
        m.submodules.pipeline = EnableInserter(advance)(self._pipeline())
        return m

    def _pipeline(self):
        m = Module()
        chunk = self.chunks.payload
        matches = Signal(self.lanes)
        m.d.comb += matches.eq(~(chunk.weights ^ chunk.activations))
        out_stage = self.latency - 1  # register stages before the accumulator's

        def lane(index, stage):
            """Lane ``index``'s XNOR, computed in stage 0, as seen in ``stage``."""
            return delay(m, matches[index], stage, name=f"lane{index}")

        def count(node, stage):
            """``node``'s count as seen in ``stage``."""
            bits, produced = counts[node]
            return delay(m, bits, stage - produced, name=f"count{node.lanes[0]}_s{produced}")

        # The tree, level by level; ``counts`` maps a node to (its count's bits, its stage).
        counts = {}
        root = _Count(range(self.lanes - 1)) if self.lanes > 1 else None
        levels = {}
        for node in root.nodes() if root else ():
            levels.setdefault(node.depth, []).append(node)
        for depth in sorted(levels):
            stage = (depth - 1) // 2
            adders = []
            for node in levels[depth]:
                if node.children:
                    left, right = (count(child, stage) for child in node.children)
                    adders.append((node, left, right, lane(node.lanes[0], stage)))
                else:
                    leaf = _leaf([matches[i] for i in node.lanes])
                    bits = Signal(len(leaf), name=f"leaf{node.lanes[0]}")
                    m.d.comb += bits.eq(leaf)
                    counts[node] = (bits, stage)
            for index, chain in enumerate(_chains(adders)):
                _add_chain(m, chain, counts, stage, f"level{depth}_{index}")
            if depth % 2 == 0:  # pipeline register after every second level
                for node in levels[depth]:
                    counts[node] = (count(node, stage + 1), stage + 1)
        tree = count(root, out_stage) if root else Const(0, 1)

        # Accumulator: running sum (gated to 0 when fresh) + tree + last lane as carry-in.
        valid = delay(m, self.chunks.valid, out_stage, name="valid")
        last = delay(m, chunk.last, out_stage, name="last")
        carry_in = lane(self.lanes - 1, out_stage)
        running = self.popcounts.payload
        fresh = Signal(init=1)
        gated = min(len(tree) + 1, self.count_bits)  # a count <= S carries no higher
        upper = range(gated, self.count_bits)
        operand = Cat(running[:gated] & ~fresh.replicate(gated), *(running[i] for i in upper))
        chain = Signal(self.count_bits + 1)
        m.d.comb += chain.eq(Cat(carry_in, operand) + Cat(carry_in, tree))
        total = Cat(chain[1:gated + 1], *(chain[i + 1] & ~fresh for i in upper))
        with m.If(valid):
            m.d.sync += [running.eq(total), fresh.eq(last)]
        m.d.sync += self.popcounts.valid.eq(valid & last)
        return m


def _add_chain(m, chain, counts, stage, name):
    """One carry chain computing ``left + right + lane`` for each adder of ``chain``, a list of
    ``(node, left count bits, right count bits, lane XNOR)``; stores each sum in ``counts``.

    Layout: the first adder's lane on both operands (a position whose carry-out is that
    lane), then per adder its operand bits and one more position holding the *next* adder's
    lane on both operands (after the last adder, its own bit 0, never a constant, which
    Yosys would trim into a carry-out needing an extra cell to leave the chain). That
    position's sum is the adder's top bit, its carry-out the next lane.
    """
    augend, addend, spans = [chain[0][3]], [chain[0][3]], []
    for index, (node, left, right, _) in enumerate(chain):
        start = len(augend)
        augend += list(left)
        addend += [right[i] if i < len(right) else Const(0, 1) for i in range(len(left))]
        follower = chain[index + 1][3] if index + 1 < len(chain) else left[0]
        augend.append(follower)
        addend.append(follower)
        spans.append((node, start, len(left) + 1))
    sums = Signal(len(augend), name=name)
    m.d.comb += sums.eq(Cat(*augend) + Cat(*addend))
    for node, start, width in spans:
        counts[node] = (sums[start:start + width], stage)


def _leaf(matches):
    """Count of 1 to 3 XNOR bits, as bits of a full-range number (3 lanes: 2 bits)."""
    if len(matches) == 1:
        return Cat(matches[0])
    pair_sum, pair_carry = matches[0] ^ matches[1], matches[0] & matches[1]
    if len(matches) == 2:
        return Cat(pair_sum, pair_carry)
    return Cat(pair_sum ^ matches[2], pair_carry | (pair_sum & matches[2]))


def _chains(adders):
    """Group one level's adders into carry chains: two by two while operands are narrow."""
    chains = []
    for adder in adders:
        if (chains and len(chains[-1]) == 1
                and max(len(chains[-1][0][1]), len(adder[1])) <= PAIRED_WIDTH_MAX):
            chains[-1].append(adder)
        else:
            chains.append([adder])
    return chains


def vector_chunks(weights, activations, lanes):
    """Split one K-bit weight and activation vector (bool arrays) into the PE's input beats.

    Returns a list of dicts for :class:`ChunkLayout`; lanes past K carry weight 1 against
    activation 0, so they count nothing.
    """
    k = len(weights)
    chunks = -(-k // lanes)
    padded_w = [1] * (chunks * lanes)
    padded_a = [0] * (chunks * lanes)
    padded_w[:k] = [int(bit) for bit in weights]
    padded_a[:k] = [int(bit) for bit in activations]

    def word(bits):
        return sum(bit << lane for lane, bit in enumerate(bits))

    return [{"weights": word(padded_w[c * lanes:(c + 1) * lanes]),
             "activations": word(padded_a[c * lanes:(c + 1) * lanes]),
             "last": int(c == chunks - 1)} for c in range(chunks)]
