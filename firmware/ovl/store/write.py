"""The log store's writer: transactions (Txn, what LogStore.begin()
returns), the writer that places their nodes at the head of the log
(Writer), and the store's methods that write: the open block and its
room, the page buffer's programs, a transaction's nodes written and
indexed at its commit, the room made for them.  A board's mount and
reads never run any of it, so it is imported at the first begin() (and
the first write method GC, a reset, a stream or a checkpoint asks of
the store, through LogStore.__getattr__) and kept: a board that writes
writes again.  A MemoryError importing it is the write's, raised by
begin() before anything is placed.  Each function takes the LogStore
first and is its method of the same name with a leading underscore
(store._commit(txn) ...); docs/STORE.md, "Code layout"."""

import struct

from ovl import compat
from ovl.compat import const, crc32
from ovl.flash import BadBlockError
from ovl.store import format as fmt, Inode, NoSpace, RESERVED_BLOCKS, \
    Txn as TxnBase, LogStore, _u32, _key_bytes

_SHRINK_BYTES = const(1024)  # the most a txn that may take the reserve writes
_TXN_RAM = const(4096)       # data bytes a Txn holds before it streams them
                             # to flash as provisional nodes (LogStore.txn_ram)
_FF4 = const(b"\xff\xff\xff\xff")  # four bytes of erased flash
# The format's node types, flags, layouts and limits this module names
# (ovl.store.format's; tests/test_store_block_columns.py checks the
# private copies agree)
_NODE_INODE = const(0x01)
_NODE_DELETE = const(0x02)
_NODE_DIRENT = const(0x03)
_NODE_DATA = const(0x04)
_NODE_TRUNCATE = const(0x05)
_NODE_SYMLINK = const(0x06)
_NODE_META = const(0x07)
_NODE_VOID = const(0x08)
_NODE_RESET = const(0x09)
_NODE_SUMMARY = const(0x0A)
_NODE_COMMIT = const(0x0B)
_F_COMMIT = const(0x01)
_F_TRUNC = const(0x02)
_F_STAMP = const(0x04)
_F_PROV = const(0x08)
_F_ONETIME = const(0x10)
_F_WIDE = const(0x20)
_NODE_MAGIC = const(0x4E6F)
_NODE_HDR = const("<HBBIII")
_SUMMARY_ENTRY_SIZE = const(14)
_BLOCK_HDR_SIZE = const(32)
_SUMMARY_TAIL = const("<II")
_SUMMARY_TAIL_SIZE = const(8)
_SUMMARY_MAGIC = const(0x6D6D7573)
_NAME_MAX = const(255)
_DELETE_BODY = const("<I")
_DIRENT_BODY = const("<II")
_DIRENT_REMOVED = const(0)
_DIRENT_WHITEOUT = const(0xFFFFFFFF)
_DATA_BODY = const("<IQ")
_DATA_PREFIX = const(12)
_STAMP_BODY = const("<qq")
_STAMP_SIZE = const(16)
_STAMP1_BODY = const("<q")
_STAMP1_SIZE = const(8)
_TRUNCATE_BODY = const("<IQ")
_SYMLINK_BODY = const("<I")
_META_BODY = const("<IHH")
_META_DELETED = const(0x0001)
_VOID_BODY = const("<QQI")
_NO_BLOCK = const(0xFFFFFFFF)
_COMMIT_BODY = const("<Q")
_META_KEY_MAX = const(255)
_META_VALUE_MAX = const(1024)
# block states (ovl.store.blocks')
_FREE = const(0)
_OPEN = const(1)
_FULL = const(2)

# The errors it raises, by their place in ovl.store.errors' FAILURES
_E_NEGATIVE_OFFSET = const(3)
_E_NO_GOOD_BLOCK = const(5)
_E_FULL = const(6)
_E_NODE_SIZE = const(7)
_E_DONE = const(8)
_E_NO_INO = const(9)
_E_ATTRIBUTE = const(10)
_E_LINK = const(11)
_E_META_KEY = const(12)
_E_META_VALUE = const(13)
# The format's refusal pack_node raises, by its place in
# ovl.store.format_rare.MALFORMED
_BAD_COUNTER = const(0)


def pack_node(kind, flags, ver, txn, body, bcrc=None, data=None):
    """The node's bytes, padded with 0xFF to a multiple of 4 (F_WIDE set
    as the counters needed); bcrc: the body's CRC when the caller has it
    (GC's copies keep their node's).  One buffer the header is packed
    into and the body appended to, its CRCs taken over views of it (built
    from parts, a node took a dozen allocations of slices and sums).
    data: the body is body + data, and only the header and body come
    back: the caller writes data and then the padding after them (the
    writer streams a data node's payload and a summary's entries from
    where they are, no copy of them joined to their head).  (Here, not in
    ovl.store.format: only writing encodes a node, and a board that
    mounts and reads keeps none of it.)"""
    if ver < 0 or txn < 0 or (ver | txn) >> 48:
        from ovl.store import format_rare
        raise format_rare.malformed(_BAD_COUNTER)
    flags &= ~_F_WIDE
    if ver >> 32 or txn >> 32:
        flags |= _F_WIDE
    hl = fmt.hdr_size(flags)
    n = len(body)
    blen = n if data is None else n + len(data)
    out = bytearray(fmt.align(hl + blen, 4) if data is None else hl + n)
    struct.pack_into(_NODE_HDR, out, 0, _NODE_MAGIC, kind, flags, blen,
                     ver & 0xFFFFFFFF, txn & 0xFFFFFFFF)
    if flags & _F_WIDE:
        struct.pack_into("<HH", out, 16, ver >> 32, txn >> 32)
    out[hl:hl + n] = body
    for i in range(hl + blen, len(out)):
        out[i] = 0xFF
    if bcrc is None:
        bcrc = crc32(body)
        if data is not None:
            bcrc = crc32(data, bcrc)
    struct.pack_into("<I", out, hl - 8, bcrc)
    # hdr_crc covers the header before it and the body's protected prefix
    # (which may reach into data)
    mv = memoryview(out)
    k = fmt.protected_len(kind, flags, blen)
    crc = crc32(mv[hl:hl + min(k, n)], crc32(mv[:hl - 4]))
    if k > n:
        crc = crc32(memoryview(data)[:k - n], crc)
    struct.pack_into("<I", out, hl - 4, crc)
    return out


def wide(store):
    return (store.next_ver >> 32 or store.next_txn >> 32) and True


def nsize(store, blen):
    """Bytes a node with blen body bytes written now takes."""
    return fmt.node_size(blen, _F_WIDE if store._wide() else 0)


def esize(store, kind, blen):
    """Bytes its summary entry takes (at most)."""
    # an entry, then its explicit offset (a NAND page's padding before
    # the node) and its counters' high bits, 4 bytes each, and what it
    # keeps of the body
    return _SUMMARY_ENTRY_SIZE + (4 if store.prog_unit > 4 else 0) + \
        (4 if store._wide() else 0) + fmt.keep_len(kind, blen)


def room(store):
    """Bytes nodes and their summary entries may still take in the open
    block (its summary so far is set aside)."""
    if store.wblock is None:
        return 0
    # on NAND a commit pads to the page end: keep that much in hand so
    # the summary always fits after it
    pad = store.prog_unit if store.prog_unit > 4 else 0
    return store.log_end - store.wpos - store.wsum.size() - 4 - pad


def open_block(store, keep):
    b = store.wblock
    if b is not None:       # close the open block: summary, tail
        ws = store.wsum
        if ws.n:
            # programmed from the entries' buffer after its head: the
            # node packed whole, then joined to pending, took two
            # allocations of its size (~1 KB) as a block closed
            raw = pack_node(_NODE_SUMMARY, 0, 0, 0,
                                struct.pack("<I", ws.n), None, ws.buf)
            store.stats["bytes_summary"] += ws.size() + \
                _SUMMARY_TAIL_SIZE
            store._flush(False, raw)
            store._flush(False, ws.buf)
            store._flush(True, _FF4[:ws.size() - len(raw) - ws.total])
            store.blocks.program(b * store.es + store.log_end,
                                 struct.pack(_SUMMARY_TAIL, store.wpos,
                                             _SUMMARY_MAGIC))
        else:
            store._flush(True)
        store.blocks.dead[b] += store.es - store.wpos
        store.blocks.used[b] = store.es
        store.blocks.state[b] = _FULL
        store.wblock = None
    while True:
        if store.blocks.count(_FREE) <= keep:
            raise NoSpace()
        b = None            # the free block erased least
        ec = store.blocks.ec
        for c in range(store.nblocks):
            if store.blocks.state[c] == _FREE and \
                    (b is None or ec[c] < ec[b]):
                b = c
        if b not in store.blocks.verified:
            # a block found free at mount: erase it again unless it
            # reads erased and its header reads the same as at mount
            # (an interrupted header program can read unstably)
            hdr = fmt.unpack_block_header(store.blocks.read(
                b * store.es, _BLOCK_HDR_SIZE))
            if hdr is None or hdr[1] != store.blocks.ec[b] or \
                    not store._erased(b * store.es + store.data_start,
                                      store.es - store.data_start):
                store._erase(b)
                continue
        store.blocks.state[b] = _OPEN
        store.wblock = b
        store.wpos = store.data_start
        store.blocks.used[b] = store.wpos
        store.pend_addr = b * store.es + store.wpos
        store.pending[:] = b""
        # one builder kept for the blocks opened, emptied in place
        if store.wsum is None:
            store.wsum = fmt.SummaryBuilder(store.data_start)
        else:
            store.wsum.clear(store.data_start)
        return


def flush(store, final, data=None):
    """Program the pending bytes and data (bytes or a view) after them,
    each page once it is full; final: the last partial page too.  So
    pending never holds more than a page, in one buffer cut in place
    (it grew by each node up to 8 pages, and was copied at each cut).
    The programs are the same as ever: from the first pending byte to
    the page's end, whole pages, then the rest at a final flush."""
    p = store.pending
    ps = store.flash.page_size
    pos = 0
    n = 0 if data is None else len(data)
    while True:
        # a page is programmed before more is added: one whose program
        # raised (a cut, a MemoryError) is tried again, never joined
        # to the next
        if p and ((store.pend_addr + len(p)) % ps == 0 or
                  pos == n and final):
            # a Flash copies what it programs: the buffer is reused
            store.blocks.program(store.pend_addr, p)
            store.pend_addr += len(p)
            p[:] = b""
        if pos == n:
            return
        k = min(n - pos, ps - (store.pend_addr + len(p)) % ps)
        p += memoryview(data)[pos:pos + k]
        pos += k


def write_nodes(store, fill, txn, keep, prov=False):
    """Write one transaction.  fill(writer) hands the nodes to the
    writer; or fill is a list of node descriptions (Txn._nodes: a
    commit's, a spill's), written in order.  Returns the placed Nodes in order.  A block that fails to
    program is retired and the whole txn is written again elsewhere
    with the same txn id and versions (copies that made it out before
    are harmless duplicates)."""
    start_ver = store.next_ver
    top_ver = start_ver
    void = None if prov else store.pending_void
    for attempt in range(store.nblocks + 1):
        w = Writer(store, txn, keep, start_ver, prov)
        try:
            if void is not None:
                # Whatever commits first after a torn mount (a GC copy
                # too) records the dead txn ids: committing without
                # them would make the torn txn count at the next mount.
                w.node(_NODE_VOID, struct.pack(_VOID_BODY, void[0],
                                               void[1], _NO_BLOCK))
            if isinstance(fill, list):
                for t, body, extra in fill:
                    if t == _NODE_DATA:
                        w.data(body, extra[0], extra[1], extra[2])
                    elif t == _NODE_INODE and extra is not None:
                        w.node(t, body, fresh=extra)
                    else:
                        w.node(t, body)
            else:
                fill(w)
            w._release(_F_COMMIT)     # the last node commits
            store._flush(True)
            if store.prog_unit > 4 and store.wblock is not None:
                end = min(fmt.align(store.wpos, store.prog_unit),
                          store.log_end)
                store.blocks.dead[store.wblock] += end - store.wpos
                store.stats["bytes_padded"] += end - store.wpos
                store.wpos = end
                store.blocks.used[store.wblock] = end
                store.pend_addr = store.wblock * store.es + end
            store.next_ver = max(w.ver, top_ver)
            if void is None:
                return w.placed
            store.void_recs.append((w.placed[0].addr, w.placed[0].size()))
            store.pending_void = None
            return w.placed[1:]
        except BaseException as e:
            # any error (a bad block, no space, a driver's, a
            # MemoryError, an interrupt) may leave part of a node in
            # pending, ahead of wpos: the open block is given up as a
            # cut would leave it (no summary; _commit voids the txn
            # unless a bad block's is written again below)
            top_ver = store.next_ver = max(w.ver, top_ver)
            b = store.wblock
            # the block first (nothing here allocates before it is
            # given up), then the nodes placed counted dead, inline:
            # nothing is imported until the store is consistent (an
            # import while a MemoryError is handled raises another)
            store.pending[:] = b""
            if b is not None:
                store.wblock = None
                store.blocks.dead[b] += store.es - store.wpos
                store.blocks.used[b] = store.es
                store.blocks.state[b] = _FULL
                store.garbage_blocks.add(b)
            for nd in w.placed:
                store._kill(nd.addr, nd.size())
                store.garbage_blocks.add(nd.addr // store.es)
            if not isinstance(e, BadBlockError):
                raise
            # a program failed: the block is retired (ovl.store.damage,
            # imported only now: a MemoryError there leaves the block
            # given up, FULL, to go bad again at GC's erase or next
            # use) and the whole txn written again elsewhere
            store._retire(e.block)
    from ovl.store import errors
    raise errors.error(_E_NO_GOOD_BLOCK)


def fits(store, items, keep):
    """Could these nodes be written without GC?  items: (fixed bytes,
    splittable payload bytes) per node, summary entries included."""
    free = store.blocks.count(_FREE) - keep
    room = store._room()
    cap = store.log_end - store.data_start - fmt.node_size(4, 0) - 4
    opened = 0
    for fixed, payload in items:
        while True:
            want = fixed + min(payload, 256)
            if want > room:
                opened += 1
                if opened > free:
                    return False
                room = cap
            k = min(payload, room - fixed)
            payload -= k
            room -= fixed + k
            if payload <= 0:
                break
    return True


def items(store, ops):
    """_fits items for node descriptions (see Txn._nodes)."""
    items = []
    for t, body, extra in ops:
        if t == _NODE_DATA:
            # as _Writer.data's per-node bytes, the stamp's included
            st = extra[2]
            items.append((store._nsize(_DATA_PREFIX) + 4 +
                          (0 if st is None else _STAMP1_SIZE
                           if st[0] == st[1] else _STAMP_SIZE) +
                          store._esize(_NODE_DATA, 0), len(extra[0])))
        else:
            items.append((store._nsize(len(body)) +
                          store._esize(t, len(body)), 0))
    items.append((store.prog_unit, 0))   # NAND pads the commit's page
    return items


def make_room(store, items, keep, bounded=True):
    """GC until items fit, or ENOSPC.  bounded: only blocks whose
    collection stays within the GC bound (see _worth)."""
    if not store.blocks.count(_FREE):
        store._restore_reserve()
    if not store._fits(items, keep):
        store._gc_until_fits(items, keep, bounded)


def commit(store, txn):
    # txn: the Txn; tid: the id its nodes carry
    ops = txn._nodes()
    if not ops:
        if txn.spilled:
            store._end_stream(txn, False)
        return
    # in the order _write_nodes writes them: the void first
    items = (store._void_items() if store.pending_void is not None
             else []) + store._items(ops)
    # May this txn use a block of the reserve (so a full store can
    # still free space)?  Removals, renames, truncations and attribute
    # changes may: no data or symlink, no more names made than removed
    # or hidden (a whiteout hides one), and small (at most
    # _SHRINK_BYTES of nodes).
    shrinks = not txn.spilled
    names = 0
    size = 0
    for op in txn.ops:
        kind = op[0]
        if kind == _NODE_DATA or kind == _NODE_SYMLINK:
            shrinks = False
            break
        if kind == _NODE_DIRENT:
            names += -1 if op[3] == _DIRENT_REMOVED or \
                op[3] == _DIRENT_WHITEOUT else 1
            size += 64 + len(op[2])
        elif kind == _NODE_META:
            size += 64 + len(op[2]) + len(op[3] or b"")
        else:
            size += 96
    shrinks = shrinks and names <= 0 and size <= _SHRINK_BYTES
    keep = RESERVED_BLOCKS - 1 if shrinks else RESERVED_BLOCKS
    store._make_room(items, keep, not shrinks)
    tid = store.next_txn
    store.next_txn += 1
    try:
        placed = store._write_nodes(ops, tid, keep)
    except BaseException as e:
        # NoSpace: only possible when bad blocks ate the space the
        # check counted; anything else (a MemoryError, a failed
        # program) can leave its first nodes in pending, programmed
        # by the next write.  The nodes written so far must never
        # count: void the txn
        store.pending_void = (store.pending_void or (tid, tid))[0], tid
        store.void_ranges.append(store.pending_void)
        if isinstance(e, NoSpace):
            from ovl.store import errors
            raise errors.error(_E_FULL)
        raise
    # A map loaded while this txn is indexed must not replay the txn's
    # own nodes (they are on flash already): the loop indexes them once.
    store.indexing = tid
    try:
        for nd in placed:
            if nd.type == _NODE_VOID:
                continue
            if nd.type == _NODE_DELETE:
                store._forget_ino(nd.fields[0])
            if nd.type == _NODE_RESET:
                store._apply_reset(nd)
                continue
            if nd.type == _NODE_COMMIT:
                store._index_stream(txn, nd)
                continue
            store._index(nd)
            if nd.type == _NODE_INODE and nd.fields[0] >= store.next_ino:
                store.next_ino = nd.fields[0] + 1
    finally:
        store.indexing = None
        if txn.spilled:
            store._end_stream(txn, True)


class Writer:
    """Places one transaction's nodes at the head of the log.  Each node is
    held back until the next arrives, so the last one can carry COMMIT."""

    def __init__(self, store, txn, keep, ver, prov=False):
        self.s = store
        self.txn = txn
        self.prov = prov      # a spill: provisional nodes, no commit
        self.keep = keep      # free blocks this txn must leave
        self.ver = ver
        self.placed = []
        self.held = None

    def _hold(self, kind, body, blen, ver, fields, keep, raw=None,
              flags=0, txn=None, data=None):
        """data: a data node's payload (a view), after body (its prefix)."""
        self._release(0)
        self.held = (kind, body, blen, ver, fields, keep, raw, flags,
                     self.txn if txn is None else txn, data)

    def _release(self, flags):
        h = self.held
        if h is None:
            return
        self.held = None
        kind, body, blen, ver, fields, keep, raw, own, txn, data = h
        flags |= own
        if self.prov:
            flags |= _F_PROV
        if flags & _F_PROV:
            flags &= ~_F_COMMIT    # a stream commits with its NODE_COMMIT
        s = self.s
        need = s._nsize(blen) + s._esize(kind, blen)
        if s.wblock is None or s._room() < need:
            s._open_block(self.keep)
            if s._room() < need:
                from ovl.store import errors
                raise errors.error(_E_NODE_SIZE, need)
        if raw is None:
            raw = pack_node(kind, flags, ver, txn, body, None, data)
        else:
            raw = fmt.restamp(raw, txn, flags)
        flags = raw[3]          # F_WIDE as the counters needed
        nd = fmt.Node(0, kind, flags, blen, ver, txn, fields, keep)
        # append its bytes at the head (room was checked above)
        b = s.wblock
        off = s.wpos
        nd.addr = b * s.es + off
        # a data node's payload is programmed from the txn's buffer,
        # after its header and prefix, then the padding
        s._flush(False, raw)
        if data is not None:
            s._flush(False, data)
            s._flush(False, _FF4[:nd.size() - len(raw) - len(data)])
        s.wpos += nd.size()
        s.blocks.used[b] = s.wpos
        if ver < s.blocks.minver[b]:
            s.blocks.minver[b] = ver
        s.wsum.add(off, nd)
        self.placed.append(nd)

    def node(self, kind, body, fresh=None):
        ver = self.ver
        self.ver += 1
        if fresh:
            # a new inode is born at the version of its first node
            body = bytearray(body)
            struct.pack_into("<Q", body, 4, ver)
        fields = fmt.parse_body(kind, body, len(body))
        self._hold(kind, body, len(body), ver, fields,
                   bytes(body[:fmt.keep_len(kind, len(body))]))

    def data(self, head, data, trunc=False, stamp=None):
        """A data write, split across as many nodes as blocks need; with
        trunc the last one also truncates the file at its end, with a stamp
        (mtime, ctime) it also sets the inode's size to its end and those
        times."""
        ino, off = struct.unpack(_DATA_BODY, head)
        s = self.s
        pos = 0
        n = len(data)
        over = s._nsize(_DATA_PREFIX) + 4 + s._esize(_NODE_DATA, 0) + \
            (0 if stamp is None else _STAMP1_SIZE if stamp[0] == stamp[1]
             else _STAMP_SIZE)      # the stamp's bytes
        while pos < n:
            self._release(0)
            room = s._room() - over
            if s.wblock is None or room < min(256, n - pos):
                s._open_block(self.keep)
                room = s._room() - over
            k = min(room, n - pos)
            head = struct.pack(_DATA_BODY, ino, off + pos)
            last = pos + k == n
            flags = (_F_TRUNC if trunc and last else 0) | \
                (_F_STAMP if stamp and last else 0)
            body = head
            if flags & _F_STAMP and stamp[0] == stamp[1]:
                flags |= _F_ONETIME
                body += struct.pack(_STAMP1_BODY, stamp[0])
            elif flags & _F_STAMP:
                body += struct.pack(_STAMP_BODY, stamp[0], stamp[1])
            ver = self.ver
            self.ver += 1
            # the payload as a view: no copy of it joined to its prefix
            self._hold(_NODE_DATA, body, len(body) + k, ver,
                       (ino, off + pos, k, stamp if flags & _F_STAMP else None),
                       head, flags=flags, data=memoryview(data)[pos:pos + k])
            pos += k


def name_fault(raw):
    """What makes raw (bytes) no entry name by the format's rule
    (docs/FORMAT.md, NODE_DIRENT: 1..255 bytes, no "/" or NUL, not "."
    or ".."), or None.  The one copy of the rule: the writer refuses such
    a name; fsck (ovl.store.check) and the overlay's walks (ovl.overlay
    .verbs) report one a damaged or edited store holds (UTF-8 is the
    overlay's to judge: an older ovl stored names that are not)."""
    if not raw:
        return "empty"
    if len(raw) > _NAME_MAX:
        return "over %d bytes" % _NAME_MAX
    if raw == b"." or raw == b"..":
        return "'.' or '..'"
    if b"/" in raw:
        return "holds '/'"
    if b"\x00" in raw:
        return "holds NUL"
    return None


class Txn(TxnBase):
    """A set of changes that reach flash (and RAM) together at commit():
    what LogStore.begin() returns.  Its rare calls (truncate,
    set_symlink, delete_inode, size, unlink, whiteout, get_meta, read)
    are ovl.store.txn_rare's, reached through ovl.store.Txn's
    __getattr__; not abort, which runs where a MemoryError is being
    handled and must not import."""

    def abort(self):
        if self.done:
            return
        self.done = True
        if self.spilled:    # (allocates nothing: see write)
            self.store._end_stream(self, False)
        self.ops = []

    # What a plain file's txn never changes is the class's (each
    # attribute an instance sets grows its table: 13 of them took 7
    # tables, the last 272 B, for every file written).  cuts and deleted
    # are the class's empty dicts, only ever read through the class: a
    # txn that truncates or deletes gets its own first (ovl.store.
    # txn_rare, stream).
    stream = None       # txn id of its provisional nodes, once spilled
    spilled = ()        # their Nodes, in order (one per block's worth)
    held = 0            # data bytes held in ops
    ram = _TXN_RAM      # ... at most (then spilled)
    cuts = {}           # ino -> index in ops of a truncate just made
    deleted = {}        # inos deleted in this txn
    done = False
    _reset = False

    def __init__(self, store):
        self.store = store
        if store.txn_ram != _TXN_RAM:
            self.ram = store.txn_ram
        # the changes, in order, each led by the type of node it becomes
        # (NODE_INODE, ino, attrs, birth), (NODE_DATA, ino, offset, bytes
        # [, True: it truncates at its end]) ...
        self.ops = []
        self.puts = {}      # ino -> index in ops of its pending inode node
        self.appends = {}   # ino -> index in ops of its last data write

    def _check(self):
        if self.done:
            from ovl.store import errors
            raise errors.error(_E_DONE)

    def new_ino(self):
        self._check()
        ino = self.store.next_ino
        if ino >= _DIRENT_WHITEOUT:   # a dirent's whiteout, never an ino
            from ovl.store import errors
            raise errors.error(_E_NO_INO)
        self.store.next_ino += 1
        return ino

    def put_inode(self, ino, **attrs):
        self._check()
        _u32(ino, "ino")
        i = self.puts.get(ino)
        cur = None
        if i is not None:
            base = self.ops[i][2]
        else:
            cur = None if self._reset or ino in self.deleted else \
                self.store.get(ino)
            base = Inode.attrs(cur or Inode)
        for k in attrs:     # base holds every attribute (Inode.attrs)
            if k not in base:
                from ovl.store import errors
                raise errors.error(_E_ATTRIBUTE, k)
        base.update(attrs)
        if i is None:
            self.puts[ino] = len(self.ops)
            self.ops.append((_NODE_INODE, ino, base,
                             cur.birth if cur is not None else None))

    def _dirent(self, parent, name, ino):
        self._check()
        raw = _key_bytes(name)
        if name_fault(raw):
            raise compat.oserror(compat.ENAMETOOLONG if len(raw) > _NAME_MAX
                                 else compat.EINVAL, repr(name))
        self.ops.append((_NODE_DIRENT, _u32(parent, "parent"), raw, ino))

    def link(self, parent, name, ino):
        _u32(ino, "ino")
        if ino == _DIRENT_REMOVED or ino == _DIRENT_WHITEOUT:
            from ovl.store import errors
            raise errors.error(_E_LINK, ino)
        self._dirent(parent, name, ino)

    def write(self, ino, offset, data):
        self._check()
        _u32(ino, "ino")
        if offset < 0:
            from ovl.store import errors
            raise errors.error(_E_NEGATIVE_OFFSET)
        if not data:
            return
        i = self.appends.get(ino)
        last = self.ops[i] if i is not None else None
        j = self.cuts.pop(ino, None) if self.cuts else None
        if last is not None and last[2] + len(last[3]) == offset:
            last[3].extend(data)        # merge a run of appends
        elif j is not None and self.ops[j][2] == offset:
            # truncate + write from there (a whole-file rewrite): one data
            # node that also truncates at its end
            self.ops[j] = [_NODE_DATA, ino, offset, bytearray(data), True]
            self.appends[ino] = j
        else:
            self.appends[ino] = len(self.ops)
            self.ops.append([_NODE_DATA, ino, offset, bytearray(data)])
        end = offset + len(data)
        i = self.puts.get(ino)      # the file grows to end
        if i is not None:
            attrs = self.ops[i][2]
            if attrs["size"] < end:
                attrs["size"] = end
        else:
            cur = self.store.get(ino)
            if cur is not None and cur.size < end:
                self.put_inode(ino, size=end)
        self.held += len(data)
        if self.held > self.ram:
            # the stream's end looked up first, while no error is handled:
            # abort and a failed commit end a spilled txn's stream, and
            # the lookup there (LogStore.__getattr__, ~3 KB) could raise
            # MemoryError, leaving its blocks pinned and its nodes live
            self.store._end_stream
            self.store._spill(self)

    def set_meta(self, ino, key, value):
        self._check()
        k = _key_bytes(key)
        if not k or len(k) > _META_KEY_MAX:
            from ovl.store import errors
            raise errors.error(_E_META_KEY, _META_KEY_MAX)
        if value is not None:
            value = bytes(value)
            if len(value) > _META_VALUE_MAX:
                from ovl.store import errors
                raise errors.error(_E_META_VALUE, len(value),
                                   _META_VALUE_MAX)
        self.ops.append((_NODE_META, _u32(ino, "ino"), k, value))

    def _nodes(self):
        """The txn as (type, body, extra) node descriptions, in order."""
        out = []
        if self._reset:
            # (a list: a tuple of constants is an object made at import)
            out.append([_NODE_RESET, b"", None])
        # ino -> index of the data op that can carry the inode's new
        # attributes in place of a NODE_INODE: the file existed, only size,
        # mtime and ctime change, and its last data op ends at the new size
        # with no truncate after it (appends, whole-file rewrites).
        stamped = {}
        for ino, i in () if self._reset else self.puts.items():
            j = self.appends.get(ino)
            a = self.ops[i][2]
            if j is None or self.ops[i][3] is None:
                continue
            d = self.ops[j]
            cur = self.store.get(ino)
            if cur is None or d[2] + len(d[3]) != a["size"]:
                continue
            # (compared one by one: a tuple of their names would be an
            # object made at import, on the heap for good)
            if a["mode"] == cur.mode and a["uid"] == cur.uid and \
                    a["gid"] == cur.gid and a["nlink"] == cur.nlink and \
                    a["flags"] == cur.flags and a["rdev"] == cur.rdev:
                stamped[ino] = j
        for idx, op in enumerate(self.ops):
            kind = op[0]
            if kind == _NODE_INODE:
                ino, a, birth = op[1], op[2], op[3]
                if ino in stamped:
                    continue
                body = struct.pack(fmt.INODE_BODY, ino, birth or 0, a["mode"],
                                   a["uid"], a["gid"], a["nlink"], a["flags"],
                                   a["rdev"], a["size"], a["mtime"],
                                   a["ctime"])
                out.append((_NODE_INODE, body,
                            True if birth is None else None))
            elif kind == _NODE_DIRENT:
                out.append((_NODE_DIRENT,
                            struct.pack(_DIRENT_BODY, op[1], op[3]) + op[2],
                            None))
            elif kind == _NODE_DATA:
                stamp = None
                if stamped.get(op[1]) == idx:
                    a = self.ops[self.puts[op[1]]][2]
                    stamp = (a["mtime"], a["ctime"])
                out.append((_NODE_DATA, struct.pack(_DATA_BODY, op[1], op[2]),
                            (op[3], len(op) > 4, stamp)))
            elif kind == _NODE_TRUNCATE:
                out.append((_NODE_TRUNCATE,
                            struct.pack(_TRUNCATE_BODY, op[1], op[2]), None))
            elif kind == _NODE_SYMLINK:
                out.append((_NODE_SYMLINK, struct.pack(_SYMLINK_BODY, op[1]) +
                            op[2], None))
            elif kind == _NODE_META:
                ino, key, value = op[1], op[2], op[3]
                flags = _META_DELETED if value is None else 0
                out.append((_NODE_META, struct.pack(_META_BODY, ino, len(key),
                                                   flags) + key +
                            (value or b""), None))
            elif kind == _NODE_DELETE:
                out.append((_NODE_DELETE, struct.pack(_DELETE_BODY, op[1]),
                            None))
        if self.stream is not None:
            # The provisional nodes take the NODE_COMMIT's place in version
            # order: after this txn's inode, entry and metadata nodes (a new
            # inode's birth comes first), before the data it still held
            # (written after them).
            first = [d for d in out if d[0] != _NODE_DATA and
                     d[0] != _NODE_TRUNCATE]
            out = first + [(_NODE_COMMIT, struct.pack(_COMMIT_BODY,
                                                     self.stream), None)] + \
                [d for d in out if d[0] == _NODE_DATA or d[0] == _NODE_TRUNCATE]
        return out

    def commit(self):
        self._check()
        self.done = True
        try:
            self.store._commit(self)
        except BaseException:
            if self.spilled:    # its nodes are dead space
                self.store._end_stream(self, False)
            raise


# The writer's steps are the store's methods once this module is loaded
# (begin() imports it), so a write needs no lookup through ovl.store.lazy
# (whose table still names them, for a collection before any write)
LogStore._wide = wide
LogStore._nsize = nsize
LogStore._esize = esize
LogStore._room = room
LogStore._open_block = open_block
LogStore._flush = flush
LogStore._write_nodes = write_nodes
LogStore._fits = fits
LogStore._items = items
LogStore._make_room = make_room
LogStore._commit = commit
