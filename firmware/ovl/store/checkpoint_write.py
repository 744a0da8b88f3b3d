"""The checkpoint's writer (docs/STORE.md, "Checkpoint"): the pieces
cut and handed to the log one at a time, the index tables and the rest of
the state as they go into them, and the transaction that writes them.
Apart from ovl.store.checkpoint (the framing and the loader mount uses) so a
boot that only mounts and reads never loads this code.
"""

import struct
from array import array

from ovl.compat import crc32
from ovl.store.blocks import OPEN, FULL, UNKNOWN
from ovl.store.index import PAGE, ROWS
from ovl.store.checkpoint import (
    PIECE_HDR, PIECE_HDR_SIZE, PIECE_MAX, PIECE_LAST, PIECE_MAX_COUNT,
    SEC_POSITION, SEC_STATE, SEC_END, END_BODY, POS_HEAD, POS_HEAD_SIZE,
    POS_BLOCK, POS_BLOCK_SIZE, TABLE_HEAD, TABLE_INODES, TABLE_ENTRIES,
    HEADS_PIECE, _LITTLE, STATE, refused,
    BLOCK_COLUMNS, POS_FREE, POS_UNKNOWN, CheckpointError, _headers_now)


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


def pack_position(ver_max, seen_max, commit_max, blocks):
    """The position section: blocks is a sequence of (erase count, seq,
    used end) per block, used end 0 for a block without a log."""
    out = bytearray(struct.pack(POS_HEAD, ver_max, seen_max, commit_max,
                                len(blocks)))
    for ec, seq, used in blocks:
        out += struct.pack(POS_BLOCK, ec, seq & 0xFFFFFFFF, used)
    return out


def save_table(table, put):
    """Hand an InodeTable or an EntryTable to put(bytes), piece by piece
    (docs/FORMAT.md, NODE_CHECKPOINT): its head (TABLE_HEAD), then an
    inode table's pages (each its page number and its rows) or an entry
    table's row chunks (and link chunks, when wide) and parent heads,
    little-endian words, whole
    chunks, every piece at most PIECE_MAX bytes.  An entry table's index
    is left out: the loader places the rows again."""
    if not _LITTLE:
        raise ValueError("table checkpoints need a little-endian host")
    heads = getattr(table, "heads", None)
    if heads is None:
        put(struct.pack(TABLE_HEAD, TABLE_INODES, 2, PAGE, len(table.pages),
                        table.count, 0, 0))
        _save_chunks((struct.pack("<I", p) + bytes(table.chunks[
            table.pages[p]]) for p in table.pages), put)
        return
    put(struct.pack(TABLE_HEAD, TABLE_ENTRIES, 3, ROWS, table.n, table.count,
                    table.free, table.mask + 1))
    # the chunks holding rows (one a failed insert added past them is not
    # written), then, past 0xFFFF rows, as many link chunks
    k = (table.n + ROWS - 1) // ROWS
    _save_chunks((table.chunks[j] for j in range(k)), put)
    if table.wide is not None:
        _save_chunks((table.wide[j] for j in range(k)), put)
    put(struct.pack("<I", len(heads)))
    out = bytearray()
    for parent in heads:
        out += struct.pack("<II", parent, heads[parent])
        if len(out) >= 8 * HEADS_PIECE:
            put(out)
            out = bytearray()
    if out:
        put(out)


def _save_chunks(chunks, put):
    """The chunks (arrays of one size) as pieces of as many whole chunks
    as PIECE_MAX holds: a piece of one chunk (an inode page)
    was small enough for its summary entry to carry it whole, read twice
    at mount, and each piece costs a header and an entry."""
    out = bytearray()
    for c in chunks:
        c = bytes(c)
        if out and len(out) + len(c) > PIECE_MAX:
            put(bytes(out))
            out = bytearray()
        out += c
    if out:
        put(bytes(out))


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


def summary_state(ws):
    """What a checkpoint saves of the open block's summary builder: its
    entries as a list of byte strings (a copy: the buffer grows in
    place), their bytes, their count, where the next node goes."""
    return [bytes(ws.buf)], ws.total, ws.n, ws.next_off


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
        out.value(None if ws is None else summary_state(ws))
    for name in BLOCK_COLUMNS:      # lists: u32 words where they fit
        out.value(over[name] if name in over else
                  list(getattr(store.blocks, name)))
    for name in STATE:
        out.value(over[name] if name in over else getattr(store, name))
    out.flush()


def write(store, small=False):
    """Write a checkpoint of store as one transaction; False (nothing
    written) when the store is where a checkpoint would not say what a
    scan finds (an open stream, a void to record, damage, a bad block),
    when it does not fit without GC, or (unless small) when it would be
    more than half the bytes of the log."""
    from ovl.store.format import NODE_CHECKPOINT
    from ovl.store import RESERVED_BLOCKS, NoSpace
    s = store
    if refused(s):
        return False
    ws = s.wsum
    bt = s.blocks
    over = {"state": list(bt.state), "ec": list(bt.ec), "used": list(bt.used),
            "dead": list(bt.dead), "minver": list(bt.minver),
            "garbage_blocks": set(s.garbage_blocks),
            "wblock": s.wblock, "wpos": s.wpos, "pend_addr": s.pend_addr,
            "next_ver": s.next_ver, "next_txn": s.next_txn,
            "wsum": None if ws is None else summary_state(ws),
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
        if bt.state[b] == FULL or bt.state[b] == OPEN:
            logged += bt.used[b] - s.data_start
    # refused for its size or room: sync tries again once the log has
    # moved on by as much (not at every sync)
    s.checkpoint_mark = (s.stats["bytes_programmed"], size[0])
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
        st = bt.state[b]
        h = hdrs[b]
        if st == FULL or st == OPEN:
            if h is None or h[0] != bt.ec[b]:
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
    tries = [0]

    def produce(w):
        # called again only by the writer's retry after a bad block, which
        # it retired and gave up as garbage: the state captured above says
        # otherwise, and a store with a bad block takes no checkpoint
        # (checkpoint.refused)
        tries[0] += 1
        if tries[0] > 1:
            raise CheckpointError("a block went bad under the checkpoint")
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
    except (NoSpace, CheckpointError):
        # a bad block (which may have eaten the room): given up, and what
        # was written must never count
        s.pending_void = (txn, txn)
        s.void_ranges.append(s.pending_void)
        return False
    total = 0
    for nd in placed:
        s._kill(nd.addr, nd.size())
        total += nd.size()
    s.checkpoint_mark = (s.stats["bytes_programmed"], total)
    return True
