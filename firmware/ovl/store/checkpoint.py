"""Framing of a checkpoint of the log store's index (docs/STORE.md,
"Checkpoint"): sections cut into numbered pieces, each the body of one
node, the last carrying a CRC over all before it; and the position
section that lets mount tell a stale checkpoint from a good one.

A checkpoint is a cache of what the log says: anything wrong with one is
a CheckpointError, and mount then reads the log instead.  Nothing here
holds more than one piece: the writer hands each out as it is cut, the
reader checks each as it comes.
"""

import struct
from array import array

from ovl.compat import crc32
from ovl.store.index import ROWS, BUCKETS

PIECE_HDR = "<IHBB"         # checkpoint id, piece number, section, flags
PIECE_HDR_SIZE = 8
PIECE_MAX = 1024            # payload bytes a piece carries at most
PIECE_LAST = 0x01           # flags: the end piece
PIECE_MAX_COUNT = 0xFFFF

SEC_POSITION = 1
SEC_INODES = 2
SEC_ENTRIES = 3
SEC_BLOCKSETS = 4
SEC_STAMPS = 5
SEC_SMALL = 6               # meta, symlinks, streams, roles, damage
SEC_END = 0xFF
END_BODY = "<HI"            # pieces before the end piece, their CRC

# The position: highest version, highest txn id seen, highest committed
# (48-bit counters as u64), the number of blocks; then per block its
# erase count, the low 32 bits of its header's seq, the used end (0: the
# block held no log when the checkpoint was written).
POS_HEAD = "<QQQI"
POS_HEAD_SIZE = 28
POS_BLOCK = "<III"
POS_BLOCK_SIZE = 12


class CheckpointError(Exception):
    """The checkpoint is torn, damaged or stale: mount scans instead."""


class PieceWriter:
    """Cuts section payloads into piece bodies and hands each to emit(body)
    at once; finish() emits the end piece."""

    def __init__(self, ckpt_id, emit, piece_max=PIECE_MAX):
        self.id = ckpt_id & 0xFFFFFFFF
        self.emit = emit
        self.max = piece_max
        self.count = 0
        self.crc = 0

    def _piece(self, section, payload, flags=0):
        if self.count >= PIECE_MAX_COUNT:
            raise ValueError("checkpoint past %d pieces" % PIECE_MAX_COUNT)
        body = struct.pack(PIECE_HDR, self.id, self.count, section,
                           flags) + payload
        if not flags & PIECE_LAST:
            self.crc = crc32(body, self.crc)
        self.count += 1
        self.emit(body)

    def section(self, section, data):
        """Emit data (any buffer) as pieces of section; a section may be
        written in several calls, each call's pieces following the last."""
        if section == SEC_END or not 0 < section < 0xFF:
            raise ValueError("bad checkpoint section %r" % section)
        mv = memoryview(data)
        for at in range(0, len(mv), self.max):
            self._piece(section, bytes(mv[at:at + self.max]))

    def finish(self):
        self._piece(SEC_END, struct.pack(END_BODY, self.count, self.crc),
                    PIECE_LAST)


class PieceReader:
    """Checks piece bodies handed over in order: feed(body) gives
    (section, payload) of a data piece, None for the end piece (complete
    is then True), and raises CheckpointError for anything out of place."""

    def __init__(self, ckpt_id):
        self.id = ckpt_id & 0xFFFFFFFF
        self.count = 0
        self.crc = 0
        self.complete = False

    def feed(self, body):
        if self.complete:
            raise CheckpointError("checkpoint piece after its end")
        if len(body) < PIECE_HDR_SIZE:
            raise CheckpointError("checkpoint piece of %d bytes" % len(body))
        cid, n, section, flags = struct.unpack(PIECE_HDR,
                                               body[:PIECE_HDR_SIZE])
        if cid != self.id:
            raise CheckpointError("piece of checkpoint %d in checkpoint %d"
                                  % (cid, self.id))
        if n != self.count:
            raise CheckpointError("checkpoint piece %d where %d belongs"
                                  % (n, self.count))
        if flags & ~PIECE_LAST:
            raise CheckpointError("checkpoint piece flags 0x%02x" % flags)
        self.count += 1
        payload = body[PIECE_HDR_SIZE:]
        if not flags & PIECE_LAST:
            if section == SEC_END:
                raise CheckpointError("checkpoint end piece not marked last")
            self.crc = crc32(body, self.crc)
            return section, payload
        if section != SEC_END or len(payload) != struct.calcsize(END_BODY):
            raise CheckpointError("checkpoint end piece malformed")
        count, crc = struct.unpack(END_BODY, payload)
        if count != n or crc != self.crc:
            raise CheckpointError("checkpoint CRC or piece count wrong")
        self.complete = True
        return None


def pack_position(ver_max, seen_max, commit_max, blocks):
    """The position section: blocks is a sequence of (erase count, seq,
    used end) per block, used end 0 for a block without a log."""
    out = bytearray(struct.pack(POS_HEAD, ver_max, seen_max, commit_max,
                                len(blocks)))
    for ec, seq, used in blocks:
        out += struct.pack(POS_BLOCK, ec, seq & 0xFFFFFFFF, used)
    return out


def unpack_position_head(raw):
    """(ver_max, seen_max, commit_max, block count) of a position."""
    if len(raw) < POS_HEAD_SIZE:
        raise CheckpointError("checkpoint position cut short")
    return struct.unpack(POS_HEAD, raw[:POS_HEAD_SIZE])


def position_block(raw, b):
    """(erase count, seq low 32 bits, used end) of block b in a position."""
    at = POS_HEAD_SIZE + b * POS_BLOCK_SIZE
    if len(raw) < at + POS_BLOCK_SIZE:
        raise CheckpointError("checkpoint position cut short")
    return struct.unpack(POS_BLOCK, raw[at:at + POS_BLOCK_SIZE])


def position_matches(described, ec, seq, used):
    """Whether a block the checkpoint described as described (erase count,
    seq, used end) can be what mount finds now (ec and seq from its header,
    used its end of log): a log is only appended to, and an erase changes
    the erase count and seq.  A block without a log then may hold anything
    new (it is read as written after the checkpoint)."""
    d_ec, d_seq, d_used = described
    if d_used == 0:
        return True
    return d_ec == ec and d_seq == seq & 0xFFFFFFFF and used >= d_used


# ----- the index tables (ovl.store.index), as they are in RAM, one chunk
# a piece, so neither side needs a buffer of the whole table.  Kept here,
# not as methods, so the mount path's code carries them only when a
# checkpoint is written or read.

TABLE_HEAD = "<IIIII"   # row width, rows used, in use, free, bucket chunks
TABLE_HEAD_SIZE = 20
HEADS_PIECE = 128       # parent heads a piece of an entry table holds
_LITTLE = bytes(array("I", [1]))[0] == 1


def _words(raw, n):
    """raw (n little-endian words) as an array('I')."""
    if len(raw) != 4 * n:
        raise CheckpointError("table chunk of %d bytes, not %d"
                              % (len(raw), 4 * n))
    return array("I", bytes(raw))


def save_table(table, put):
    """Hand a Table (an EntryTable with its parent heads) to put(bytes),
    piece by piece: its counts, each row chunk, each bucket chunk,
    little-endian words; every piece is at most PIECE_MAX bytes."""
    if not _LITTLE:
        raise ValueError("table checkpoints need a little-endian host")
    put(struct.pack(TABLE_HEAD, table.w, table.n, table.count, table.free,
                    len(table.buckets)))
    for c in table.chunks:
        put(bytes(c))
    for bc in table.buckets:
        put(bytes(bc))
    heads = getattr(table, "heads", None)
    if heads is None:
        return
    put(struct.pack("<I", len(heads)))
    out = bytearray()
    for parent in heads:
        out += struct.pack("<II", parent, heads[parent])
        if len(out) >= 8 * HEADS_PIECE:
            put(out)
            out = bytearray()
    if out:
        put(out)


def restore_table(table, take):
    """Replace the rows of table by what save_table gave, take() returning
    each piece in turn; CheckpointError when the pieces do not make a
    table of this kind (the checkpoint's CRC vouches for the rest)."""
    if not _LITTLE:
        raise ValueError("table checkpoints need a little-endian host")
    head = take()
    if len(head) != TABLE_HEAD_SIZE:
        raise CheckpointError("table head of %d bytes" % len(head))
    w, n, count, free, nb = struct.unpack(TABLE_HEAD, head)
    if w != table.w or count > n or free > n or nb == 0 or nb & (nb - 1):
        raise CheckpointError("table head does not fit the table")
    chunks = [_words(take(), ROWS * w) for _ in range((n + ROWS - 1) // ROWS)]
    buckets = [_words(take(), BUCKETS) for _ in range(nb)]
    heads = None
    if hasattr(table, "heads"):
        raw = take()
        if len(raw) != 4:
            raise CheckpointError("entry table heads count missing")
        left = struct.unpack("<I", raw)[0]
        heads = {}
        while left:
            raw = take()
            k = len(raw) // 8
            if len(raw) % 8 or not 0 < k <= left:
                raise CheckpointError("entry table heads malformed")
            for j in range(0, len(raw), 8):
                parent, r = struct.unpack("<II", raw[j:j + 8])
                heads[parent] = r
            left -= k
        table.heads = heads
    table.chunks = chunks
    table.buckets = buckets
    table.n = n
    table.count = count
    table.free = free
    table.ck = None
    table.cr = -1


# ----- the rest of the store's state after a mount, as a stream of tagged
# values cut into pieces (one piece and one value held at a time).

# The LogStore attributes a mount sets, besides the two tables and the
# block sets: what a checkpoint must give back for the store to go on as
# after a scan.
# The block table's columns (ovl.store.blocks), saved as lists.
BLOCK_COLUMNS = ("state", "ec", "used", "dead", "minver")
STATE = ("garbage_blocks",
         "void_recs", "reset_rec", "pending_void", "meta", "links", "truncs",
         "roles", "stamps", "void_ranges", "streams", "damage", "damaged",
         "damaged_blocks", "extents", "loaded", "seen_max", "reset_ver",
         "next_ver", "next_txn", "next_ino", "wblock", "wpos", "pend_addr")


class _Out:
    """Bytes put in order, handed on in pieces of PIECE_MAX."""

    def __init__(self, put):
        self.put = put
        self.buf = bytearray()

    def write(self, raw):
        self.buf += raw
        while len(self.buf) >= PIECE_MAX:
            self.put(bytes(self.buf[:PIECE_MAX]))
            self.buf = self.buf[PIECE_MAX:]

    def flush(self):
        if self.buf:
            self.put(bytes(self.buf))
            self.buf = bytearray()

    def value(self, v):
        w = self.write
        if v is None or v is True or v is False:
            w(b"N" if v is None else b"T" if v else b"F")
        elif isinstance(v, int):
            w(b"i" + struct.pack("<q", v))
        elif isinstance(v, (bytes, bytearray, str)):
            raw = v.encode() if isinstance(v, str) else v
            w((b"s" if isinstance(v, str) else b"b") +
              struct.pack("<I", len(raw)))
            w(raw)
        elif isinstance(v, dict):
            w(b"d" + struct.pack("<I", len(v)))
            for k in v:
                self.value(k)
                self.value(v[k])
        elif isinstance(v, array):
            w(b"A" + struct.pack("<I", len(v)))
            for x in v:
                w(struct.pack("<I", x))
        else:
            tag = b"t" if isinstance(v, tuple) else \
                b"S" if isinstance(v, set) else b"l"
            if tag == b"l" and not isinstance(v, list):
                raise ValueError("no checkpoint encoding for %r" % (v,))
            w(tag + struct.pack("<I", len(v)))
            for x in v:
                self.value(x)


class _In:
    """Bytes taken in order from pieces take() gives."""

    def __init__(self, take):
        self.take = take
        self.buf = b""
        self.at = 0

    def read(self, n):
        out = b""
        while len(out) < n:
            if self.at == len(self.buf):
                self.buf = bytes(self.take())
                self.at = 0
                if not self.buf:
                    raise CheckpointError("empty checkpoint piece")
            k = min(n - len(out), len(self.buf) - self.at)
            out += self.buf[self.at:self.at + k]
            self.at += k
        return out

    def drained(self):
        return self.at == len(self.buf)

    def _n(self):
        return struct.unpack("<I", self.read(4))[0]

    def value(self):
        tag = self.read(1)
        if tag == b"N":
            return None
        if tag == b"T" or tag == b"F":
            return tag == b"T"
        if tag == b"i":
            return struct.unpack("<q", self.read(8))[0]
        if tag == b"b" or tag == b"s":
            raw = self.read(self._n())
            return raw.decode() if tag == b"s" else raw
        if tag == b"d":
            d = {}
            for _ in range(self._n()):
                k = self.value()
                d[k] = self.value()
            return d
        if tag == b"A":
            a = array("I")
            for _ in range(self._n()):
                a.append(struct.unpack("<I", self.read(4))[0])
            return a
        if tag == b"t" or tag == b"l" or tag == b"S":
            items = [self.value() for _ in range(self._n())]
            return tuple(items) if tag == b"t" else \
                set(items) if tag == b"S" else items
        raise CheckpointError("checkpoint value tag %r" % tag)


def snapshot(store, put):
    """Hand the state a mount of store rebuilt to put(bytes), in pieces
    of at most PIECE_MAX bytes: the tables, the block sets, the summary
    being built for the open block, then each STATE attribute."""
    save_table(store.inodes, put)
    save_table(store.entries, put)
    out = _Out(put)
    out.value(store.data_blocks.sets)
    ws = store.wsum
    out.value(None if ws is None else (ws.parts, ws.total, ws.n, ws.next_off))
    for name in BLOCK_COLUMNS:
        out.value(list(getattr(store.blocks, name)))
    for name in STATE:
        out.value(getattr(store, name))
    out.flush()


def restore(store, take):
    """Set store (a LogStore made but not mounted) to the state snapshot()
    gave, take() returning each piece in turn."""
    from ovl.store.format import SummaryBuilder
    restore_table(store.inodes, take)
    restore_table(store.entries, take)
    inp = _In(take)
    store.data_blocks.sets = inp.value()
    ws = inp.value()
    if ws is not None:
        store.wsum = SummaryBuilder(store.data_start)
        store.wsum.parts, store.wsum.total, store.wsum.n, \
            store.wsum.next_off = ws
    for name in BLOCK_COLUMNS:
        column = getattr(store.blocks, name)
        for b, v in enumerate(inp.value()):
            column[b] = v
    for name in STATE:
        setattr(store, name, inp.value())
    if not inp.drained():
        raise CheckpointError("checkpoint state longer than its sections")
