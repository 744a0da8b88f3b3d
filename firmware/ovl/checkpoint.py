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
from ovl.store_index import ROWS, BUCKETS

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
SEC_STATE = 7               # the whole state as snapshot() gives it
SEC_END = 0xFF
END_BODY = "<HI"            # pieces before the end piece, their CRC; then
END_BODY_SIZE = 6           # u16 blocks holding them, in order

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

    def finish(self, extra=b""):
        self._piece(SEC_END, struct.pack(END_BODY, self.count, self.crc) +
                    extra, PIECE_LAST)


class PieceReader:
    """Checks piece bodies handed over in order: feed(body) gives
    (section, payload) of a data piece, None for the end piece (complete
    is then True), and raises CheckpointError for anything out of place."""

    def __init__(self, ckpt_id):
        self.id = ckpt_id & 0xFFFFFFFF
        self.count = 0
        self.crc = 0
        self.complete = False
        self.extra = b""        # the end piece's bytes after END_BODY

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
        if section != SEC_END or len(payload) < END_BODY_SIZE or \
                (len(payload) - END_BODY_SIZE) % 2:
            raise CheckpointError("checkpoint end piece malformed")
        count, crc = struct.unpack(END_BODY, payload[:END_BODY_SIZE])
        self.extra = bytes(payload[END_BODY_SIZE:])
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


# ----- the index tables (ovl.store_index), as they are in RAM, one chunk
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
STATE = ("state", "ec", "used", "dead", "minver", "garbage_blocks",
         "void_recs", "reset_rec", "pending_void", "meta", "links", "truncs",
         "roles", "stamps", "void_ranges", "streams", "damage", "damaged",
         "damaged_blocks", "extents", "loaded", "seen_max", "reset_ver",
         "next_ver", "next_txn", "next_ino", "wblock", "wpos", "pend_addr")


def _words_only(v):
    """Whether list v holds only ints that fit a u32 (bools excluded)."""
    for x in v:
        if not isinstance(x, int) or x is True or x is False or \
                not 0 <= x <= 0xFFFFFFFF:
            return False
    return True


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
        elif isinstance(v, list) and _words_only(v):
            # the block table's lists: 4 bytes an entry, not 9
            w(b"L" + struct.pack("<I", len(v)))
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
        if tag == b"A" or tag == b"L":
            a = array("I") if tag == b"A" else []
            for _ in range(self._n()):
                a.append(struct.unpack("<I", self.read(4))[0])
            return a
        if tag == b"t" or tag == b"l" or tag == b"S":
            items = [self.value() for _ in range(self._n())]
            return tuple(items) if tag == b"t" else \
                set(items) if tag == b"S" else items
        raise CheckpointError("checkpoint value tag %r" % tag)


def snapshot(store, put, over=None):
    """Hand the state a mount of store rebuilt to put(bytes), in pieces
    of at most PIECE_MAX bytes: the tables, the block sets, the summary
    being built for the open block, then each STATE attribute (over:
    values to give instead of the store's, by name; "wsum" as the tuple)."""
    over = over or {}
    save_table(store.inodes, put)
    save_table(store.entries, put)
    out = _Out(put)
    out.value(store.data_blocks.sets)
    if "wsum" in over:
        out.value(over["wsum"])
    else:
        ws = store.wsum
        out.value(None if ws is None else
                  (ws.parts, ws.total, ws.n, ws.next_off))
    for name in STATE:
        out.value(over[name] if name in over else getattr(store, name))
    out.flush()


def restore(store, take):
    """Set store (a LogStore made but not mounted) to the state snapshot()
    gave, take() returning each piece in turn."""
    from ovl.log_format import SummaryBuilder
    restore_table(store.inodes, take)
    restore_table(store.entries, take)
    inp = _In(take)
    store.data_blocks.sets = inp.value()
    ws = inp.value()
    if ws is not None:
        store.wsum = SummaryBuilder(store.data_start)
        store.wsum.parts, store.wsum.total, store.wsum.n, \
            store.wsum.next_off = ws
    for name in STATE:
        setattr(store, name, inp.value())
    if not inp.drained():
        raise CheckpointError("checkpoint state longer than its sections")


# ----- the checkpoint in the log (docs/STORE.md, "Checkpoint"): written
# as one transaction of NODE_CHECKPOINT pieces, dead once written (GC never
# copies one); a mount uses it only when its end piece is the last node of
# the log, so nothing written after it needs replaying.

FREE, OPEN, FULL, UNKNOWN, BAD = 0, 1, 2, 3, 4     # as ovl.logstore
POS_FREE, POS_UNKNOWN = 0, 1    # position "used end" of a block with no log
CAUGHT = (CheckpointError, ValueError, KeyError, IndexError, TypeError,
          StopIteration)


def at_sync(store):
    """sync()'s rule: a checkpoint once the bytes programmed since the
    last one (or since mount) reach the last one's size, so checkpoints at
    most double what the store programs."""
    mark = getattr(store, "ckpt_mark", (0, 0))
    moved = store.stats["bytes_programmed"] - mark[0]
    if moved > 0 and moved >= mark[1]:
        write(store)


def write(store, small=False):
    """Write a checkpoint of store as one transaction; False (nothing
    written) when the store is where a checkpoint would not say what a
    scan finds (an open stream, a void to record, damage, a bad block),
    when it does not fit without GC, or (unless small) when it would be
    more than half the bytes of the log."""
    from ovl.log_format import NODE_CHECKPOINT, node_size
    from ovl.logstore import RESERVED_BLOCKS, NoSpace
    s = store
    if s.readonly or s.pins or s.pending_void is not None or s.damage or \
            BAD in s.state or s.mounting:
        return False
    ws = s.wsum
    over = {"state": list(s.state), "ec": list(s.ec), "used": list(s.used),
            "dead": list(s.dead), "minver": list(s.minver),
            "garbage_blocks": set(s.garbage_blocks),
            "wblock": s.wblock, "wpos": s.wpos, "pend_addr": s.pend_addr,
            "next_ver": s.next_ver, "next_txn": s.next_txn,
            "wsum": None if ws is None else (list(ws.parts), ws.total, ws.n,
                                             ws.next_off),
            # caches a scan leaves empty, and what only mount sets
            "extents": {}, "truncs": {}, "roles": {}, "loaded": [],
            "seen_max": 0}
    plen = POS_HEAD_SIZE + POS_BLOCK_SIZE * s.nblocks
    size = [plen, 0]

    def count(b):
        size[0] += len(b)
        size[1] += 1
    snapshot(s, count, over)
    logged = 0
    for b in range(s.nblocks):
        if s.state[b] == FULL or s.state[b] == OPEN:
            logged += s.used[b] - s.data_start
    # refused for its size or room: sync tries again once the log has
    # moved on by as much (not at every sync)
    s.ckpt_mark = (s.stats["bytes_programmed"], size[0])
    if 2 * size[0] > logged and not small:
        return False            # a scan of so small a log reads less
    n = size[1] + (plen + PIECE_MAX - 1) // PIECE_MAX + 1
    one = s._nsize(PIECE_HDR_SIZE + PIECE_MAX) + \
        s._esize(NODE_CHECKPOINT, PIECE_HDR_SIZE + PIECE_MAX)
    if 2 * one > s.log_end - s.data_start or not s._fits(
            [(one, 0)] * n + [(s.prog_unit, 0)], RESERVED_BLOCKS):
        return False    # blocks too small for two pieces; never GC for a cache
    try:
        hdrs = _headers_now(s)
    except CheckpointError:
        return False
    pos = []
    for b in range(s.nblocks):
        st = s.state[b]
        h = hdrs[b]
        if st == FULL or st == OPEN:
            if h is None or h[0] != s.ec[b]:
                return False
            pos.append((h[0], h[1], s.es if st == FULL else s.wpos))
        elif st == UNKNOWN:
            pos.append((0, 0, POS_UNKNOWN))
        else:
            pos.append((0, 0, POS_FREE))
    pos = pack_position(s.next_ver, s.next_txn, s.next_txn, pos)
    txn = s.next_txn
    s.next_txn += 1
    es = s.es

    def produce(w):
        pw = PieceWriter(txn, lambda body: w.node(NODE_CHECKPOINT, body))
        pw.section(SEC_POSITION, pos)
        snapshot(s, lambda b: pw.section(SEC_STATE, b), over)
        w._release(0)       # place the last piece: the end lists its block
        blocks = []
        for nd in w.placed:
            if not blocks or blocks[-1] != nd.addr // es:
                blocks.append(nd.addr // es)
        pw.finish(struct.pack("<%dH" % len(blocks), *blocks))
    try:
        placed = s._write_nodes(produce, txn, RESERVED_BLOCKS)
    except NoSpace:
        # bad blocks ate the room: what was written must never count
        s.pending_void = (txn, txn)
        s.void_ranges.append(s.pending_void)
        return False
    total = 0
    for nd in placed:
        s._kill(nd.addr, nd.size())
        total += nd.size()
    s.ckpt_mark = (s.stats["bytes_programmed"], total)
    return True


class _Headers:
    """(erase count, seq low 32 bits) of each block's header, None where
    it did not read."""

    def __init__(self, n):
        self.ec = array("I", bytes(4 * n))
        self.seq = array("I", bytes(4 * n))
        self.ok = bytearray(n)

    def set(self, b, ec, seq):
        self.ec[b] = ec
        self.seq[b] = seq & 0xFFFFFFFF
        self.ok[b] = 1

    def __getitem__(self, b):
        return (self.ec[b], self.seq[b]) if self.ok[b] else None

    def __iter__(self):
        for b in range(len(self.ok)):
            yield self[b]


def _probe(store):
    """Per block: 0 no log, 1 a log closed by a summary tail, 2 a log
    without one (the open block, or what a cut left)."""
    from ovl.log_format import SUMMARY_TAIL_SIZE
    es = store.es
    out = bytearray(store.nblocks)
    for b in range(store.nblocks):
        if store._read(b * es + store.data_start, 4) != b"\xff" * 4:
            tail = store._read(b * es + store.log_end, SUMMARY_TAIL_SIZE)
            out[b] = 2 if tail == b"\xff" * SUMMARY_TAIL_SIZE else 1
    return out


def mount_from(store, before):
    """Mount store from the checkpoint that ends its log; True when done.
    Anything torn, stale or odd leaves store as made (its read count
    kept) for the scan, with the reason in store.ckpt_why."""
    try:
        _load(store)
        store.stats["mount_checkpoint"] = 1
        store.stats["mount_bytes_read"] = store.stats["bytes_read"] - before
        store.mounting = False
        return True
    except CAUGHT as e:
        why = str(e) or e.__class__.__name__
    except Exception as e:      # CorruptError and kin: the scan says it
        why = "%s: %s" % (e.__class__.__name__, e)
    got = store.stats["bytes_read"]
    store.__init__(store.flash, store.readonly)
    store.stats["bytes_read"] = got
    store.stats["mount_checkpoint"] = 0
    store.ckpt_why = why
    store.mounting = True
    return False


def _headers_now(s):
    """The block headers as a _Headers; CheckpointError for what only
    the scan handles (a header to mend, another geometry)."""
    from ovl.logstore import BLOCK_HDR_SIZE, unpack_block_header
    es = s.es
    n = s.nblocks
    hdrs = _Headers(n)      # two words a block, not a tuple
    for b in range(n):
        raw = s._read(b * es, BLOCK_HDR_SIZE)
        h = unpack_block_header(raw)
        if h is None:
            if raw != b"\xff" * len(raw) and \
                    s._read(b * es + s.data_start, 4) != b"\xff" * 4:
                raise CheckpointError("a block header to mend")
            continue
        if h[3] != es or h[0] != s.prog_unit or h[4] != n:
            raise CheckpointError("blocks of another geometry")
        hdrs.set(b, h[1], h[2])
    return hdrs


def _load(s):
    from ovl.log_format import SummaryBuilder
    n = s.nblocks
    # the probes first: a log that does not end with a checkpoint costs
    # them and the open block, not the headers too (the scan reads those)
    probe = _probe(s)
    hdrs = []
    found = None
    why = "no open block"
    # a block left without a summary (all dead at a mount) is no head:
    # each candidate's checkpoint must check out against every block
    for e in range(n):
        if probe[e] == 2:
            try:
                found = _find(s, hdrs, probe, e)
                hdrs = hdrs[0]
                break
            except CheckpointError as err:
                why = str(err)
    if found is None:
        raise CheckpointError(why)
    e, end, run, txn, last, seq, w0, take, reader, pieces, minv = found
    found = probe = None
    hdrs.seq = None         # checked: only the erase counts are wanted now

    def take_state():
        sec, payload = take()
        if sec != SEC_STATE:
            raise CheckpointError("checkpoint section %d" % sec)
        return payload
    for name in ("state", "ec", "used", "dead", "minver"):
        setattr(s, name, None)      # not twice in RAM while restored
    restore(s, take_state)
    if reader.feed(_body(s, next(pieces), txn)) is not None or \
            not reader.complete:
        raise CheckpointError("checkpoint longer than its end says")
    for _ in pieces:
        raise CheckpointError("checkpoint pieces after its end")
    _settle(s, hdrs, seq, e, end, run, w0, txn, last, minv, SummaryBuilder)
    s.ckpt_mark = (0, sum(nd.size() for nd in run))


def _find(s, hdrs, probe, e):
    """The checkpoint ending the log of block e, its position checked
    against every block: what _load goes on with.  hdrs: a list holding
    the _Headers once read (read here the first time they are needed)."""
    from ovl.log_format import NODE_CHECKPOINT, F_COMMIT, read_summary
    es = s.es
    n = s.nblocks
    run = []                # the pieces ending the open block's log

    def tail_run(nd):
        if nd.type != NODE_CHECKPOINT or nd.damage is not None:
            del run[:]
        elif run and run[-1].txn != nd.txn:
            run[:] = [nd]
        else:
            run.append(nd)
    nodes, end, clean, junk = s._scan(e, tail_run)
    if not clean or junk or not run or not run[-1].flags & F_COMMIT:
        raise CheckpointError("the log does not end with a checkpoint")
    txn = run[0].txn
    last = run[-1]
    body = _body(s, last, txn)
    if len(body) < PIECE_HDR_SIZE + END_BODY_SIZE:
        raise CheckpointError("checkpoint end piece malformed")
    listed = struct.unpack("<%dH" % ((len(body) - PIECE_HDR_SIZE -
                                      END_BODY_SIZE) // 2),
                           body[PIECE_HDR_SIZE + END_BODY_SIZE:])
    seq = list(listed)
    if not seq or seq[-1] != e:
        seq.append(e)
    if len(set(seq)) != len(seq):
        raise CheckpointError("checkpoint blocks repeat")
    if not hdrs:
        hdrs.append(_headers_now(s))
    hdrs = hdrs[0]
    reader = PieceReader(txn)
    minv = {}               # block -> the lowest version of its pieces
    pieces = _pieces(s, seq, e, run, txn, read_summary, minv)
    # the position: every block as the checkpoint describes it, checked
    # record by record as its pieces come
    buf = b""
    b = -1
    w0 = None

    def take():
        sec, payload = reader.feed(_body(s, next(pieces), txn))
        return sec, payload
    while b < n:
        sec, payload = take()
        if sec != SEC_POSITION:
            raise CheckpointError("checkpoint position cut short")
        buf += payload
        if b < 0:
            if len(buf) < POS_HEAD_SIZE:
                continue
            if unpack_position_head(buf)[3] != n:
                raise CheckpointError("checkpoint of another chip")
            buf = buf[POS_HEAD_SIZE:]
            b = 0
        while len(buf) >= POS_BLOCK_SIZE and b < n:
            d = struct.unpack(POS_BLOCK, buf[:POS_BLOCK_SIZE])
            buf = buf[POS_BLOCK_SIZE:]
            if _stale(d, b, hdrs[b], probe[b], b in seq, es):
                raise CheckpointError("block %d changed since" % b)
            if POS_UNKNOWN < d[2] < es:
                w0 = b
            b += 1
        if b == n:
            break
    if w0 is not None and w0 not in seq and probe[w0] == 0:
        raise CheckpointError("the open block moved on")
    if w0 is not None and w0 in seq and seq[0] != w0:
        raise CheckpointError("checkpoint blocks out of order")
    return e, end, run, txn, last, seq, w0, take, reader, pieces, minv


def _stale(d, b, h, probe, in_seq, es):
    """Whether block b, described d (erase count, seq, used end) by the
    position, is not what the checkpoint said (h its header now, probe
    as _probe, in_seq: it holds pieces of the checkpoint)."""
    if d[2] > POS_UNKNOWN:          # a log then: the same one now
        if h is None or not position_matches(d, h[0], h[1], d[2]):
            return True
        return d[2] == es and (in_seq or probe == 0)
    if d[2] == POS_UNKNOWN:
        return h is not None
    return not in_seq and probe != 0


def _body(s, nd, txn):
    """The checked body of piece nd (header and body read again)."""
    from ovl.log_format import NODE_CHECKPOINT, hdr_size, node_from
    hl = hdr_size(nd.flags)
    raw = s._read(nd.addr, hl + nd.blen)
    got = node_from(nd.addr, raw[:hl], raw[hl:])
    if got is None or got.damage is not None or \
            got.type != NODE_CHECKPOINT or got.txn != txn:
        raise CheckpointError("checkpoint piece at %d unreadable" % nd.addr)
    return raw[hl:]


class _Piece:
    def __init__(self, addr, flags, blen, ver):
        self.addr = addr
        self.flags = flags
        self.blen = blen
        self.ver = ver


def _pieces(s, seq, e, run, txn, read_summary, minv):
    """The pieces in order: from the summaries of the closed blocks, then
    the run ending the open block (its last, the end piece, too)."""
    from ovl.log_format import NODE_CHECKPOINT
    es = s.es
    for b in seq:
        if b == e:
            for nd in run:
                _low(minv, b, nd.ver)
                yield nd
            return
        got = []

        def note(nd):
            if nd.type == NODE_CHECKPOINT and nd.txn == txn:
                got.append(_Piece(nd.addr, nd.flags, nd.blen, nd.ver))
            elif got:
                raise CheckpointError("checkpoint block %d holds more" % b)
        if read_summary(s._read, b * es, es, s.data_start, True,
                        note) is None:
            raise CheckpointError("checkpoint block %d has no summary" % b)
        if not got:
            raise CheckpointError("checkpoint block %d holds none" % b)
        for p in got:
            _low(minv, b, p.ver)
            yield p


def _low(minv, b, ver):
    if ver < minv.get(b, ver + 1):
        minv[b] = ver


def _settle(s, hdrs, seq, e, end, run, w0, txn, last, minv,
            SummaryBuilder):
    """The restored state (the store before the checkpoint was written)
    made what a scan finds after it: the checkpoint's blocks, its pieces
    dead, the counters past it, erase counts from the headers."""
    from ovl.logstore import NO_VER
    es = s.es
    ds = s.data_start
    total = known = 0
    for b in range(s.nblocks):
        if hdrs.ok[b]:
            total += hdrs.ec[b]
            known += 1
    mean = total // known
    for b in range(s.nblocks):
        s.ec[b] = hdrs.ec[b] if hdrs.ok[b] else mean
    live0 = 0
    ws = SummaryBuilder(ds)
    if w0 is not None:
        live0 = s.used[w0] - ds - s.dead[w0]
        if w0 == e:
            if s.wsum is None or run[0].addr != e * es + s.used[w0]:
                raise CheckpointError("checkpoint not where it began")
            ws = s.wsum
        if w0 not in seq:
            seq = [w0] + seq    # closed before the first piece went in
    if e != w0 and run[0].addr != e * es + ds:
        raise CheckpointError("checkpoint not where it began")
    for b in seq:
        if b != w0:
            s.minver[b] = NO_VER
        if minv.get(b, NO_VER) < s.minver[b]:
            s.minver[b] = minv[b]
        if b != e:
            s.state[b] = FULL
            s.used[b] = es
            s.dead[b] = es - ds - (live0 if b == w0 else 0)
    # the open block as a scan leaves it (see LogStore._mount)
    for nd in run:
        ws.add(nd.addr - e * es, nd)
    s.used[e] = end
    s.dead[e] = end - ds - (live0 if e == w0 else 0)
    s.wblock = s.wsum = None
    s.wpos = s.pend_addr = 0
    s.state[e] = FULL
    if end < s.log_end - 256 and end + ws.size() + 4 <= s.log_end:
        s.wpos = end
        s.pend_addr = e * es + end
        if s.dead[e] < end - ds:
            s.state[e] = OPEN
            s.wblock = e
            s.wsum = ws
    if s.state[e] == FULL:
        s.dead[e] += es - end
        s.used[e] = es
    s.seen_max = txn
    s.next_txn = txn + 1
    s.next_ver = max(s.next_ver, last.ver + 1)
    s.pending = bytearray()
