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

from ovl.compat import crc32, const, call_released
from ovl.store.blocks import OPEN, FULL, BAD, NO_VER
from ovl.store.index import ROWS, PAGE

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
# the whole state as snapshot() gives it, tables of TABLE_HEAD's layout
# (7 was the state with the tables as chained hashes, before 2026-12-06's
# inode pages and open addressing; 8 had entry rows of 4 words, before
# that afternoon's 3: a section this code does not know is refused, so
# such a checkpoint is never read, and mount scans)
SEC_STATE = 9
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

# A table's head: its kind (TABLE_INODES, TABLE_ENTRIES), words a row,
# rows a chunk, then four counts: an InodeTable's pages and rows in use
# (0, 0); an EntryTable's rows used, rows in use, first free row + 1 and
# index slots.  Kind, width and chunk must be what this code's tables
# are: a table of another layout is refused, never read as this one.
TABLE_HEAD = "<BBHIIII"
TABLE_HEAD_SIZE = 20
TABLE_INODES = 1        # pages: u32 page number, then PAGE rows of 2 words
TABLE_ENTRIES = 2       # row chunks of ROWS rows of 3 words, link chunks
                        # of ROWS words past 0xFFFF rows, then heads
HEADS_PIECE = 128       # parent heads a piece of an entry table holds
_LITTLE = bytes(array("I", [1]))[0] == 1


def _words(raw, n):
    """raw (n little-endian words) as an array('I')."""
    if len(raw) != 4 * n:
        raise CheckpointError("table chunk of %d bytes, not %d"
                              % (len(raw), 4 * n))
    return array("I", bytes(raw))


def _chunks(take, count, n, got):
    """count chunks of n words, each handed to got(its bytes), from
    pieces of whole chunks (save_table's _save_chunks: as many a piece as
    PIECE_MAX holds)."""
    done = 0
    while done < count:
        raw = take()
        if not raw or len(raw) % (4 * n):
            raise CheckpointError("table piece of %d bytes, not chunks of %d"
                                  % (len(raw), 4 * n))
        for j in range(0, len(raw), 4 * n):
            if done == count:
                raise CheckpointError("table piece past its chunks")
            got(raw[j:j + 4 * n])
            done += 1
        raw = None      # not held while the next piece is read


def restore_table(table, take):
    """Replace the rows of table by what save_table gave, take() returning
    each piece in turn; CheckpointError when the pieces do not make a
    table of this kind and layout (the checkpoint's CRC vouches for the
    rest).  An EntryTable's index is not in the pieces: it is placed
    again from the rows' hashes."""
    if not _LITTLE:
        raise ValueError("table checkpoints need a little-endian host")
    head = take()
    if len(head) != TABLE_HEAD_SIZE:
        raise CheckpointError("table head of %d bytes" % len(head))
    kind, w, per, a, count, free, cap = struct.unpack(TABLE_HEAD, head)
    inodes = not hasattr(table, "heads")
    if (kind, w, per) != ((TABLE_INODES, 2, PAGE) if inodes else
                          (TABLE_ENTRIES, 3, ROWS)) or count > a * per:
        raise CheckpointError("table head does not fit the table")
    if inodes:
        pages = {}
        chunks = []
        k = [0]

        def page(raw):
            p = struct.unpack("<I", raw[:4])[0]
            if p in pages:
                raise CheckpointError("inode page %d twice" % p)
            pages[p] = len(chunks)
            c = _words(raw[4:], 2 * PAGE)
            chunks.append(c)
            k[0] += sum(1 for i in range(1, 2 * PAGE, 2) if c[i])
        _chunks(take, a, 2 * PAGE + 1, page)
        if k[0] != count:
            raise CheckpointError("inode table rows do not add up")
        table.pages = pages
        table.chunks = chunks
        table.holes = 0
        table.n = a * PAGE
        table.count = count
        return
    # (the index only doubles past 3/4 full, so it stays under 8/3 of the
    # rows ever used: a larger one is a bad head, not a size to allocate)
    if count > a or free > a or cap < 32 or cap & (cap - 1) or \
            4 * count > 3 * cap or cap > 4 * a and cap > 32:
        raise CheckpointError("table head does not fit the table")
    chunks = []
    _chunks(take, (a + ROWS - 1) // ROWS, ROWS * w,
            lambda raw: chunks.append(_words(raw, ROWS * w)))
    # past 0xFFFF rows (the index's _NARROW) the links are chunks of
    # their own
    links = None
    if a >= 0xFFFF:
        links = []
        _chunks(take, (a + ROWS - 1) // ROWS, ROWS,
                lambda raw: links.append(_words(raw, ROWS)))
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
            if not 0 < r <= a:
                raise CheckpointError("entry table head past its rows")
            heads[parent] = r
        left -= k
    table.chunks = chunks
    table.wide = links
    _check_chains(table, heads, free, a, count)
    table.heads = heads
    table.n = a
    table.count = count
    table.free = free
    table.ck = None
    table.cr = -1
    table.slots = None
    table._index(cap)
    k = 0
    for r in range(a):
        if chunks[r // ROWS][r % ROWS * 3 + 2]:
            k += 1
            if k > count:
                break
            table._place(r)
    if k != count:
        raise CheckpointError("entry table rows do not add up")


def _check_chains(table, heads, free, a, count):
    """CheckpointError unless every directory's chain runs through rows in
    use and the free chain through free rows (a row's packed word is 0
    when free; its address word links the free chain), each row on one
    chain once and every row on one: a bad link would otherwise loop for
    ever or hand out a live row.  table has its rows (and links) set."""
    seen = bytearray((a + 7) >> 3)
    chunks = table.chunks

    def walk(r, free_chain):
        n = 0
        while r:
            r -= 1
            if r >= a or seen[r >> 3] & 1 << (r & 7):
                raise CheckpointError("entry table chains broken")
            seen[r >> 3] |= 1 << (r & 7)
            c = chunks[r // ROWS]
            i = r % ROWS * 3
            if (c[i + 2] == 0) != free_chain:
                raise CheckpointError("entry table chains broken")
            n += 1
            r = c[i + 1] if free_chain else table.link(r)
        return n
    used = 0
    for h in heads.values():
        used += walk(h, False)
    if used != count or walk(free, True) != a - count:
        raise CheckpointError("entry table chains broken")


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
                self.buf = b""      # not two pieces held while one is read
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

    def column(self, col, count):
        """The next value, a list of count words, put into col in place
        (None: read and dropped), so a block table column is not held
        twice while it is restored."""
        tag = self.read(1)
        n = self._n()
        if n != count:
            raise CheckpointError("block table of %d blocks" % n)
        if tag == b"A" or tag == b"L":
            for b in range(n):
                v = struct.unpack("<I", self.read(4))[0]
                if col is not None:
                    col[b] = v
        elif tag == b"l" or tag == b"t":
            for b in range(n):
                t = self.read(1)
                v = struct.unpack("<q", self.read(8))[0] if t == b"i" \
                    else self.value(t)
                if col is not None:
                    col[b] = v
        else:
            raise CheckpointError("block table column tag %r" % tag)

    def value(self, tag=None):
        if tag is None:
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


def restore(store, take, skip=()):
    """Set store (a LogStore made but not mounted) to the state snapshot()
    gave, take() returning each piece in turn; the block table columns
    named in skip, and "wsum" (the open block's summary builder) if
    there, are read but left as they are."""
    from ovl.store.format import SummaryBuilder
    restore_table(store.inodes, take)
    restore_table(store.entries, take)
    inp = _In(take)
    store.data_blocks.sets = inp.value()
    ws = inp.value()
    if ws is not None and "wsum" not in skip:
        store.wsum = SummaryBuilder(store.data_start)
        parts, store.wsum.total, store.wsum.n, store.wsum.next_off = ws
        store.wsum.buf = bytearray(b"".join(parts))
    ws = None
    blocks = store.blocks
    for name in BLOCK_COLUMNS:
        # a bytearray or array column is filled in place, its type (and so
        # its width) kept; a list column (_load let it go) is made anew
        col = getattr(blocks, name)
        if name in skip:
            col = None
        elif col is None or isinstance(col, list):
            setattr(blocks, name, None)
            col = [0] * store.nblocks
        inp.column(col, store.nblocks)
        if col is not None:
            setattr(blocks, name, col)
    for name in STATE:
        setattr(store, name, inp.value())
    if not inp.drained():
        raise CheckpointError("checkpoint state longer than its sections")


# ----- the checkpoint in the log (docs/STORE.md, "Checkpoint"): written
# as one transaction of NODE_CHECKPOINT pieces, dead once written (GC never
# copies one); a mount uses it only when its end piece is the last node of
# the log, so nothing written after it needs replaying.

# a checkpoint piece at the end of the log: (addr, flags, blen, version,
# txn id)
_P_ADDR = const(0)
_P_FLAGS = const(1)
_P_BLEN = const(2)
_P_VER = const(3)
_P_TXN = const(4)


POS_FREE, POS_UNKNOWN = 0, 1    # position "used end" of a block with no log
CAUGHT = (CheckpointError, ValueError, KeyError, IndexError, TypeError,
          StopIteration)


def at_sync(store):
    """sync()'s rule: a checkpoint once the bytes programmed since the
    last one (or since mount) reach the last one's size, so checkpoints at
    most double what the store programs (LogStore.sync checks that much
    before it imports this module, and calls this then).  The writer's code is imported
    only when the tables alone would not make it too big for the log."""
    s = store
    mark = getattr(s, "checkpoint_mark", (0, 0))
    moved = s.stats["bytes_programmed"] - mark[0]
    if moved <= 0 or moved < mark[1]:
        return
    est = 28 * s.nblocks        # the position and the block lists
    logged = 0
    for chunks in (s.inodes.chunks, s.entries.chunks, s.entries.wide or ()):
        for c in chunks:
            if c is not None:       # (a freed inode page)
                est += 4 * len(c)
    for b in range(s.nblocks):
        if s.blocks.state[b] == FULL or s.blocks.state[b] == OPEN:
            logged += s.blocks.used[b] - s.data_start
    if 2 * est > logged:
        s.checkpoint_mark = (s.stats["bytes_programmed"], est)
        return
    write(s)


def refused(s):
    """Is the store where a checkpoint would not say what a scan finds (an
    open stream, a void to record, damage, a bad block, a mount under
    way)?  Asked before the writer's code is imported: such a store stays
    so for many syncs (damage and bad blocks until GC or a remount)."""
    return s.readonly or s.pins or s.pending_void is not None or \
        s.damage or s.blocks.count(BAD) or s.mounting


def write(store, small=False):
    """See ovl.store.checkpoint_write.write (imported for the call unless
    the store refuses a checkpoint: False)."""
    if refused(store):
        return False
    # (ovl.store.checkpoint_write: released after the call)
    return call_released(__name__ + "_write", "write", (store, small))


class _Headers:
    """(erase count, seq low 32 bits) of each block's header, None where
    it did not read; ec: the array('I') of n words to keep the erase
    counts in (a new one when None)."""

    def __init__(self, n, ec=None):
        self.ec = array("I", bytes(4 * n)) if ec is None else ec
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
    from ovl.store.format import SUMMARY_TAIL_SIZE
    es = store.es
    out = bytearray(store.nblocks)
    for b in range(store.nblocks):
        if store.blocks.read(b * es + store.data_start, 4) != b"\xff" * 4:
            tail = store.blocks.read(b * es + store.log_end, SUMMARY_TAIL_SIZE)
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
    store.__init__(store.flash, store.readonly, store.checkpoints)
    store.stats["bytes_read"] = got
    store.stats["mount_checkpoint"] = 0
    store.ckpt_why = why
    store.mounting = True
    return False


def _headers_now(s, ec=None):
    """The block headers as a _Headers (ec: as _Headers takes it);
    CheckpointError for what only the scan handles (a header to mend,
    another geometry)."""
    from ovl.store.format import BLOCK_HDR_SIZE, unpack_block_header
    es = s.es
    n = s.nblocks
    hdrs = _Headers(n, ec)      # two words a block, not a tuple
    for b in range(n):
        raw = s.blocks.read(b * es, BLOCK_HDR_SIZE)
        h = unpack_block_header(raw)
        if h is None:
            if raw != b"\xff" * len(raw) and \
                    s.blocks.read(b * es + s.data_start, 4) != b"\xff" * 4:
                raise CheckpointError("a block header to mend")
            continue
        if h[3] != es or h[0] != s.prog_unit or h[4] != n:
            raise CheckpointError("blocks of another geometry")
        hdrs.set(b, h[1], h[2])
    return hdrs


def _load(s):
    from ovl.store.format import SummaryBuilder, node_size
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
    # set now, not after the restore: the headers' flags are not held
    # through it (restore leaves the column alone)
    _erase_counts(s, hdrs)
    hdrs = None

    def take_state():
        sec, payload = take()
        if sec != SEC_STATE:
            raise CheckpointError("checkpoint section %d" % sec)
        return payload
    for name in BLOCK_COLUMNS:
        if isinstance(getattr(s.blocks, name), list):
            setattr(s.blocks, name, None)   # not twice in RAM while restored
    # the open block's summary as the checkpoint began is wanted only when
    # that block is the one it ends in (_settle): not held otherwise
    restore(s, take_state, ("ec",) if w0 == e else ("ec", "wsum"))
    if reader.feed(_body(s, next(pieces), txn)) is not None or \
            not reader.complete:
        raise CheckpointError("checkpoint longer than its end says")
    for _ in pieces:
        raise CheckpointError("checkpoint pieces after its end")
    _settle(s, seq, e, end, run, w0, txn, last, minv, SummaryBuilder)
    s.checkpoint_mark = (0, sum(node_size(p[_P_BLEN], p[_P_FLAGS]) for p in run))


def _find(s, hdrs, probe, e):
    """The checkpoint ending the log of block e, its position checked
    against every block: what _load goes on with.  hdrs: a list holding
    the _Headers once read (read here the first time they are needed)."""
    from ovl.store.format import NODE_CHECKPOINT, F_COMMIT, read_summary
    es = s.es
    n = s.nblocks
    # the pieces ending the open block's log, as _P_ tuples (a Node each
    # held 300 bytes or more through the restore on the 64-bit port; what
    # its summary entry keeps is read again at the end)
    run = []

    def tail_run(nd):
        if nd.type != NODE_CHECKPOINT or nd.damage is not None:
            del run[:]
            return
        p = (nd.addr, nd.flags, nd.blen, nd.ver, nd.txn)
        if run and run[-1][_P_TXN] != nd.txn:
            run[:] = [p]
        else:
            run.append(p)
    # (the pieces by their headers only: each piece of the run is read
    # whole, and checked, when it is used)
    nodes, end, clean, junk = s._scan(e, tail_run, heads=NODE_CHECKPOINT)
    if not clean or junk or not run or not run[-1][_P_FLAGS] & F_COMMIT:
        raise CheckpointError("the log does not end with a checkpoint")
    txn = run[0][_P_TXN]
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
        # the erase counts straight into the block table's column, which
        # restore then leaves alone (_settle sets it from them): not a
        # second array of them while the tables are restored
        hdrs.append(_headers_now(s, s.blocks.ec))
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


def _body(s, piece, txn):
    """The checked body of piece (addr, flags, blen, ...), header and
    body read again."""
    from ovl.store.format import NODE_CHECKPOINT, hdr_size, node_from
    addr, flags, blen = piece[_P_ADDR], piece[_P_FLAGS], piece[_P_BLEN]
    hl = hdr_size(flags)
    raw = s.blocks.read(addr, hl + blen)
    body = raw[hl:]         # one copy of the body, checked and handed on
    got = node_from(addr, raw[:hl], body)
    raw = None
    if got is None or got.damage is not None or \
            got.type != NODE_CHECKPOINT or got.txn != txn:
        raise CheckpointError("checkpoint piece at %d unreadable" % addr)
    return body


def _pieces(s, seq, e, run, txn, read_summary, minv):
    """The pieces in order, each as (addr, flags, blen): from the
    summaries of the closed blocks, then the run ending the open block
    (its last, the end piece, too)."""
    from ovl.store.format import NODE_CHECKPOINT
    es = s.es
    for b in seq:
        if b == e:
            for p in run:
                _low(minv, b, p[_P_VER])
                yield p
            return
        got = []

        def note(nd):
            if nd.type == NODE_CHECKPOINT and nd.txn == txn:
                # read_summary hands out one Node it reuses: what _body
                # and _low want of it, not a copy of all of it
                got.append((nd.addr, nd.flags, nd.blen, nd.ver))
            elif got:
                raise CheckpointError("checkpoint block %d holds more" % b)
        if read_summary(s.blocks.read, b * es, es, s.data_start, True,
                        note) is None:
            raise CheckpointError("checkpoint block %d has no summary" % b)
        if not got:
            raise CheckpointError("checkpoint block %d holds none" % b)
        for p in got:
            _low(minv, b, p[_P_VER])
            yield p[:3]
        got = note = None       # not held while the next block's are read


def _low(minv, b, ver):
    if ver < minv.get(b, ver + 1):
        minv[b] = ver


def _erase_counts(s, hdrs):
    """The erase counts from the block headers (hdrs: _Headers), their
    mean where a header did not read (as a scan does)."""
    total = known = 0
    for b in range(s.nblocks):
        if hdrs.ok[b]:
            total += hdrs.ec[b]
            known += 1
    mean = total // known
    for b in range(s.nblocks):
        s.blocks.ec[b] = hdrs.ec[b] if hdrs.ok[b] else mean


def _settle(s, seq, e, end, run, w0, txn, last, minv, SummaryBuilder):
    """The restored state (the store before the checkpoint was written)
    made what a scan finds after it: the checkpoint's blocks, its pieces
    dead, the counters past it (the erase counts are set already)."""
    from ovl.store.format import Node, NODE_CHECKPOINT, hdr_size, keep_len
    es = s.es
    ds = s.data_start
    live0 = 0
    ws = SummaryBuilder(ds)
    if w0 is not None:
        live0 = s.blocks.used[w0] - ds - s.blocks.dead[w0]
        if w0 == e:
            if s.wsum is None or \
                    run[0][_P_ADDR] != e * es + s.blocks.used[w0]:
                raise CheckpointError("checkpoint not where it began")
            ws = s.wsum
        if w0 not in seq:
            seq = [w0] + seq    # closed before the first piece went in
    if e != w0 and run[0][_P_ADDR] != e * es + ds:
        raise CheckpointError("checkpoint not where it began")
    for b in seq:
        if b != w0:
            s.blocks.minver[b] = NO_VER
        if minv.get(b, NO_VER) < s.blocks.minver[b]:
            s.blocks.minver[b] = minv[b]
        if b != e:
            s.blocks.state[b] = FULL
            s.blocks.used[b] = es
            s.blocks.dead[b] = es - ds - (live0 if b == w0 else 0)
    # the open block as a scan leaves it (see LogStore._mount)
    for p in run:
        addr, flags, blen = p[_P_ADDR], p[_P_FLAGS], p[_P_BLEN]
        keep = s.blocks.read(addr + hdr_size(flags),
                             keep_len(NODE_CHECKPOINT, blen))
        ws.add(addr - e * es, Node(addr, NODE_CHECKPOINT, flags, blen,
                                   p[_P_VER], p[_P_TXN], None, keep))
    s.blocks.used[e] = end
    s.blocks.dead[e] = end - ds - (live0 if e == w0 else 0)
    s.wblock = s.wsum = None
    s.wpos = s.pend_addr = 0
    s.blocks.state[e] = FULL
    if end < s.log_end - 256 and end + ws.size() + 4 <= s.log_end:
        s.wpos = end
        s.pend_addr = e * es + end
        if s.blocks.dead[e] < end - ds:
            s.blocks.state[e] = OPEN
            s.wblock = e
            s.wsum = ws
    if s.blocks.state[e] == FULL:
        s.blocks.dead[e] += es - end
        s.blocks.used[e] = es
    s.seen_max = txn
    s.next_txn = txn + 1
    s.next_ver = max(s.next_ver, last[_P_VER] + 1)
    s.pending = bytearray()
