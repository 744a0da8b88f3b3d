"""Bytes on flash of the log store: block header, node header, node bodies.

The one place these layouts are declared; the store (reader and writer),
fsck and the host tools all import it.  docs/FORMAT.md describes the same
bytes for an independent reader.  All integers are little-endian.

What only a wrong chip, GC, damage handling, fsck or the host tools need
is ovl.store.format_rare's (a board's mount path never loads it), named
through this module too: see __getattr__ at the end.  The encoder of a
node (pack_node) and of a summary entry's size are the writer's
(ovl.store.write, loaded at the first write), from the layouts here
(its private copies of them: tests/test_store_block_columns.py checks
they agree).  Layouts and sizes
only this module uses are private consts (inlined, no name kept).
"""

import struct

from ovl.compat import crc32, const

_FORMAT_VERSION = const(4)        # 2: the block header records the block count
                            # 3: data nodes may carry a stamp (F_STAMP)
                            # 4: 48-bit versions and txn ids, per-transaction
                            #    commit (provisional nodes, NODE_COMMIT), the
                            #    node header CRC covers the body's key prefix

# ----- block header: the first bytes of every erase block, written after
# each erase.  A block without a valid one is "unknown" and is erased
# before use (an interrupted erase can leave cells that read 0xFF now and
# flip later, so an all-0xFF block is not trusted either).
_BLOCK_MAGIC = const(0x6B6C766F)  # b"ovlk"
_BLOCK_HDR = const("<IBBHIQIII")
_BLOCK_HDR_SIZE = const(32)
# magic, version, flags, prog_unit, erase_count, seq (u64), erase_size,
# block_count, hdr_crc.  The block count lets mount tell a truncated copy
# or a resized partition from a smaller store.

# ----- node header: every record in the log starts with one.
_NODE_MAGIC = const(0x4E6F)       # b"oN"
_NODE_HDR = const("<HBBIII")      # then body_crc, hdr_crc (u32 each)
_NODE_HDR_SIZE = const(24)
_NODE_HDR_WIDE = const(28)
# magic, type, flags, body_len, version (low u32), txn (low u32); with
# F_WIDE the high 16 bits of version and txn follow (u16 each); then
# body_crc, hdr_crc.  Versions and txn ids are 48-bit: a store writes at
# most one node per 24 bytes programmed, so 2**48 of them is more than any
# chip programs before it wears out (see docs/FORMAT.md).  Below 2**32 a
# header takes 24 bytes, as in format 3.
_KEY_PREFIX = const(12)
# hdr_crc covers the header's first 24 bytes and the body's first
# KEY_PREFIX bytes (its key: ino, parent, offset), so a node whose body is
# damaged still names what it damaged.
# COUNTER_MAX (the largest version or txn id, 2**48 - 1) is answered by
# __getattr__ below: the mount path never names it.

_F_COMMIT = const(0x01)  # last node of a transaction
_F_TRUNC = const(0x02)   # NODE_DATA only: also truncates the file at its end
_F_STAMP = const(0x04)   # NODE_DATA only: also sets size (its end), mtime,
                         # ctime
_F_PROV = const(0x08)    # provisional: counts only once a committed
                         # NODE_COMMIT names its txn (the data a long
                         # transaction streams)
_F_ONETIME = const(0x10)  # with F_STAMP: the stamp is one time (mtime =
                          # ctime)
_F_WIDE = const(0x20)    # the header carries the high bits of version and txn
_SUM_AT = const(0x80)  # summary entries only: an explicit offset follows
_SUM_DAMAGED = const(0x40)  # summary entries only: the node failed its body
                            # CRC; keep is its protected prefix

# The node types, flags, layouts and limits are private consts
# (_NODE_INODE ...): on the mount path only this module, the store's core
# and its mount name them (with private copies of their own:
# tests/test_store_block_columns.py checks they agree), so a board's mount
# path keeps no global or interned name for them; __getattr__ answers
# their public names (NODE_INODE ...) to the rest.
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
_NODE_CHECKPOINT = const(0x0C)  # a piece of an index checkpoint
                                 # (ovl.store.checkpoint)

# ----- bodies
INODE_BODY = "<IQIIIIIIQqq"
_INODE_BODY_SIZE = const(60)
# ino, birth, mode, uid, gid, nlink, flags, rdev, size, mtime, ctime
_DELETE_BODY = const("<I")        # ino
_DIRENT_BODY = const("<II")       # parent, ino; then the name (UTF-8)
_DIRENT_PREFIX = const(8)
_DIRENT_REMOVED = const(0)        # ino value of a deletion dirent
_DIRENT_WHITEOUT = const(0xFFFFFFFF)  # ino value of a whiteout
_DATA_BODY = const("<IQ")         # ino, offset; [stamp]; then the bytes
_DATA_PREFIX = const(12)
_STAMP_BODY = const("<qq")        # mtime, ctime: after the prefix if F_STAMP
_STAMP_SIZE = const(16)
_STAMP1_BODY = const("<q")        # with F_ONETIME: one time, mtime = ctime
_STAMP1_SIZE = const(8)
_TRUNCATE_BODY = const("<IQ")     # ino, size
_SYMLINK_BODY = const("<I")       # ino; then the target (UTF-8)
_META_BODY = const("<IHH")        # ino, key_len, meta_flags; key; value
_META_PREFIX = const(8)
_META_DELETED = const(0x0001)
_VOID_BODY = const("<QQI")        # first txn, last txn (inclusive),
                                  # block holding the torn tail or NO_BLOCK
_NO_BLOCK = const(0xFFFFFFFF)
_COMMIT_BODY = const("<Q")        # the txn whose provisional nodes count
# NODE_RESET has an empty body.

# NODE_SUMMARY: written as the last node of a block when it is closed.
# Body: count u32, then `count` entries, one per node of the block in log
# order: an entry (type, flags, body_len, version, txn, then the offset
# and the high bits when needed) followed by keep_len(type, body_len) bytes: the node's whole body when
# it is at most _SUMMARY_KEEP_MAX bytes, the 12-byte prefix of a data node,
# else nothing (the reader then reads what it needs from the node itself);
# with _SUM_DAMAGED, protected_len(type, flags, body_len) bytes instead
# (a damaged body's bytes past its key are never taken as true).
# The count is packed "<I", an entry as:
_SUMMARY_ENTRY = const("<BBIII")   # type, flags (| _SUM_AT), body_len,
_SUMMARY_ENTRY_SIZE = const(14)    # version (low), txn (low); then the
                                   # offset if _SUM_AT (else right after the
                                   # previous node), the high bits if F_WIDE
_SUMMARY_KEEP_MAX = const(300)
# The block's last 8 bytes then say where the summary node starts:
_SUMMARY_TAIL = const("<II")      # summary offset, SUMMARY_MAGIC
_SUMMARY_TAIL_SIZE = const(8)
_SUMMARY_MAGIC = const(0x6D6D7573)  # b"summ"

_NAME_MAX = const(255)
_SYMLINK_MAX = const(1024)
_META_KEY_MAX = const(255)
_META_VALUE_MAX = const(1024)

# What this module refuses (a malformed node), by its place in
# format_rare.MALFORMED: the error and its message are made there,
# imported at the raise (a healthy board never raises one); 0, a counter
# past 48 bits, is the encoder's (ovl.store.write.pack_node)
_BAD_DATA_PREFIX = const(1)
_BAD_NAME = const(2)
_BAD_TYPE = const(3)
_BAD_TYPE_AT = const(4)


def align(n, size):
    return (n + size - 1) // size * size


def hdr_size(flags):
    return _NODE_HDR_WIDE if flags & _F_WIDE else _NODE_HDR_SIZE


def node_size(blen, flags=_F_WIDE):
    """Bytes a node of blen body bytes occupies in the log: header + body,
    padded to 4 (with no flags given: at most)."""
    return align(hdr_size(flags) + blen, 4)


def pack_block_header(prog_unit, ec, txn, erase_size, block_count):
    head = struct.pack(_BLOCK_HDR[:-1], _BLOCK_MAGIC, _FORMAT_VERSION, 0,
                       prog_unit, ec, txn, erase_size, block_count)
    return head + struct.pack("<I", crc32(head))


def unpack_block_header(raw):
    """(prog_unit, erase_count, seq, erase_size, block_count) or None if not
    valid; CorruptError (format_rare's) for a valid header of another
    format version."""
    if len(raw) < _BLOCK_HDR_SIZE:
        return None
    magic, version, flags, prog_unit, ec, seq, es, count, crc = \
        struct.unpack(_BLOCK_HDR, raw[:_BLOCK_HDR_SIZE])
    if magic != _BLOCK_MAGIC:
        return None
    if version != _FORMAT_VERSION:
        from ovl.store import format_rare
        format_rare.check_other_version(raw, version, _FORMAT_VERSION)
        return None
    if crc != crc32(raw[:_BLOCK_HDR_SIZE - 4]):
        return None
    return prog_unit, ec, seq, es, count


def protected_len(kind, flags, blen):
    """Bytes of the body hdr_crc covers: its key (and a data node's stamp,
    which sets the inode's size and times)."""
    if kind == _NODE_DATA:
        return min(blen, data_prefix(flags))
    return min(blen, _KEY_PREFIX)


def header_fields(raw):
    """(type, flags, body_len, version, txn, body_crc, hdr_crc, hdr_len)
    of a node header, unchecked; None when the magic is wrong or raw is
    shorter than the header."""
    if len(raw) < _NODE_HDR_SIZE:
        return None
    # unpacked in place: no slice (a copy) per field group
    magic, ntype, flags, blen, vlo, tlo = struct.unpack_from(_NODE_HDR, raw)
    if magic != _NODE_MAGIC:
        return None
    at = 16
    if flags & _F_WIDE:
        if len(raw) < _NODE_HDR_WIDE:
            return None
        vhi, thi = struct.unpack_from("<HH", raw, 16)
        vlo |= vhi << 32
        tlo |= thi << 32
        at = 20
    bcrc, hcrc = struct.unpack_from("<II", raw, at)
    return ntype, flags, blen, vlo, tlo, bcrc, hcrc, at + 8


def checked_header(raw, body=None):
    """header_fields(raw) when it is a node header with a good CRC, else
    None.  The CRC covers the body's protected prefix: body's, or else
    what raw holds after the header (too short: None)."""
    h = header_fields(raw)
    if h is None:
        return None
    hl = h[7]
    plen = protected_len(h[0], h[1], h[2])
    mv = memoryview(raw)    # the CRC chained over views: no copies
    body = mv[hl:hl + plen] if body is None else memoryview(body)[:plen]
    if len(body) < plen or h[6] != crc32(body, crc32(mv[:hl - 4])):
        return None
    return h


def data_prefix(flags):
    """Bytes of a data node's body before its file bytes."""
    if flags & _F_STAMP:
        return _DATA_PREFIX + (_STAMP1_SIZE if flags & _F_ONETIME
                               else _STAMP_SIZE)
    return _DATA_PREFIX


def parse_body(kind, body, blen, flags=0):
    """The fields of a node body (of a data node only its prefix and stamp,
    data_prefix(flags) bytes, are needed; blen is the full body length).  A data node gives (ino, offset,
    length, stamp) with stamp (mtime, ctime) or None."""
    if kind == _NODE_INODE:
        return struct.unpack(INODE_BODY, body)
    if kind == _NODE_DATA:
        ino, off = struct.unpack_from(_DATA_BODY, body)
        skip = data_prefix(flags)
        if blen < skip:
            from ovl.store import format_rare
            raise format_rare.malformed(_BAD_DATA_PREFIX)
        stamp = None
        if flags & _F_ONETIME:
            t = struct.unpack_from(_STAMP1_BODY, body, _DATA_PREFIX)[0]
            stamp = (t, t)
        elif flags & _F_STAMP:
            stamp = struct.unpack_from(_STAMP_BODY, body, _DATA_PREFIX)
        return ino, off, blen - skip, stamp
    if kind == _NODE_DIRENT:
        parent, ino = struct.unpack_from(_DIRENT_BODY, body)
        if len(body) > _DIRENT_PREFIX + _NAME_MAX:   # (the index needs it)
            from ovl.store import format_rare
            raise format_rare.malformed(_BAD_NAME)
        return parent, ino, bytes(body[_DIRENT_PREFIX:])
    if kind == _NODE_DELETE:
        return struct.unpack(_DELETE_BODY, body)
    if kind == _NODE_TRUNCATE:
        return struct.unpack(_TRUNCATE_BODY, body)
    if kind == _NODE_SYMLINK:
        return struct.unpack_from(_SYMLINK_BODY, body)[0], bytes(body[4:])
    if kind == _NODE_META:
        ino, klen, mflags = struct.unpack_from(_META_BODY, body)
        key = bytes(body[_META_PREFIX:_META_PREFIX + klen])
        value = None if mflags & _META_DELETED else \
            bytes(body[_META_PREFIX + klen:])
        return ino, key, value
    if kind == _NODE_VOID:
        return struct.unpack(_VOID_BODY, body)
    if kind == _NODE_COMMIT:
        return struct.unpack(_COMMIT_BODY, body)
    if kind == _NODE_RESET or kind == _NODE_CHECKPOINT:
        return ()
    from ovl.store import format_rare
    raise format_rare.malformed(_BAD_TYPE, kind)


def keep_len(kind, blen):
    """Bytes of a node's body its summary entry carries: a data node's
    12-byte prefix, an inode's number (its body and a data node's stamp are
    read from the node itself: summaries stay small for rewrite-heavy logs),
    every other body whole when it is small, else its key prefix (an
    entry with _SUM_DAMAGED keeps protected_len bytes instead)."""
    if kind == _NODE_DATA:
        return _DATA_PREFIX
    if kind == _NODE_INODE:
        return 4
    return blen if blen <= _SUMMARY_KEEP_MAX else min(blen, _KEY_PREFIX)


class Node:
    """One node of a block: where it is, its header fields, its parsed body
    (fields) and the body bytes a summary keeps of it (keep).  A damaged
    node (damage = what failed) has fields None; keep still holds its key
    when the summary or its header CRC vouches for it."""

    def __init__(self, addr, kind, flags, blen, ver, txn, fields, keep,
                 damage=None):
        self.addr = addr
        self.type = kind
        self.flags = flags
        self.blen = blen
        self.ver = ver
        self.txn = txn
        self.fields = fields
        self.keep = keep
        self.damage = damage
        self.eff = ver        # replay position: see logstore.replay_order

    def size(self):
        return node_size(self.blen, self.flags)


class SummaryBuilder:
    """The summary of the open block, grown as nodes are appended."""

    def __init__(self, data_start):
        # the entries, one after the other, in one buffer (a bytearray an
        # entry, each with its object and list slot, took about three
        # times their bytes); the mount hands it the buffer it read the
        # summaries into, whose room clear keeps
        self.buf = bytearray()
        self.clear(data_start)

    def clear(self, data_start):
        """Empty, for the next block: the buffer is cut in place, so it
        keeps its allocation (the largest summary so far) and a block's
        entries are appended without reallocating it once per entry (a
        fresh buffer a block grew by realloc through a fragmented heap)."""
        self.buf[:] = b""
        self.total = 0
        self.n = 0
        self.next_off = data_start   # where a node right after the last goes

    def add(self, off, nd):
        # (a node's reserved bits 6-7 mean nothing: an entry's own)
        flags = nd.flags & 0x3F
        if nd.damage is not None:
            # its keep is what the header CRC vouches for: its protected
            # prefix (format_rare.damaged_node)
            flags |= _SUM_DAMAGED
        at = off != self.next_off
        if at:
            flags |= _SUM_AT
        # packed in place at the end of buf, grown by constant zeros (no
        # entry object a node: buf keeps its room, see clear; the rare
        # offset and high bits grow it by a fresh 4 bytes)
        buf = self.buf
        start = len(buf)
        try:
            buf += b"\0\0\0\0\0\0\0\0\0\0\0\0\0\0"    # _SUMMARY_ENTRY_SIZE
            struct.pack_into(_SUMMARY_ENTRY, buf, start, nd.type, flags,
                             nd.blen, nd.ver & 0xFFFFFFFF,
                             nd.txn & 0xFFFFFFFF)
            if at:
                buf += struct.pack("<I", off)
            if flags & _F_WIDE:
                buf += struct.pack("<HH", nd.ver >> 32, nd.txn >> 32)
            buf += nd.keep
        except BaseException:
            # (a MemoryError growing buf: no part of an entry left in it)
            buf[start:] = b""
            raise
        self.total += len(buf) - start
        self.n += 1
        self.next_off = off + nd.size()

    def size(self):
        """Bytes the summary node takes if written now."""
        return node_size(4 + self.total, 0)

def read_summary(read, base, erase_size, data_start, headers_only=False,
                 visit=None, only=None, kept=None):
    """(nodes, end) from the summary of the block at base, or None if it
    has none or it is damaged.  read(addr, n) reads the flash.  A node the
    summary does not carry whole is read and checked: when that fails it
    comes back damaged (its key from the summary), the others unharmed.
    headers_only: such nodes are not read (their fields are None, damage
    unknown), and only voids, commits and resets have fields and keep:
    the first pass of mount needs only their bodies, the headers and
    each node's key word (`key`: the first 4 bytes of what the summary
    carries of its body, None if fewer; an inode's or data node's ino).
    visit: each node is handed to it instead of listed (a summary found
    broken half-way has then handed out its first nodes); all but voids,
    commits and resets as one Node object updated for each, which the
    visitor must not keep (a Node built per entry, its attributes' table
    grown six times, was most of what a mount allocated).  only: an
    inode number: only its data and truncate nodes come back (loading one
    file's extent map: each other node cost a Node and a copy of its
    kept bytes, an inode node also a read).  kept: the store's
    blocks.read_kept, or None (read for everything): the body is read
    into the summary buffer a mount lends it (read_kept's body), the
    nodes the summary does not carry whole into read_kept's own (views,
    no copies; what a node handed out keeps is copied from them).  A
    visitor may then read_kept, but not read a summary with kept (the
    body is valid until this returns)."""
    log_end = erase_size - _SUMMARY_TAIL_SIZE
    if kept is None:
        kept = read
    off, magic = struct.unpack(_SUMMARY_TAIL, read(base + log_end,
                                                  _SUMMARY_TAIL_SIZE))
    if magic != _SUMMARY_MAGIC or off < data_start or \
            off + _NODE_HDR_SIZE > log_end or off % 4:
        return None
    raw = read(base + off, _NODE_HDR_SIZE)
    hf = header_fields(raw)
    if hf is None or hf[0] != _NODE_SUMMARY or hf[7] != _NODE_HDR_SIZE or \
            off + node_size(hf[2], 0) > log_end:
        return None
    body = read(base + off + _NODE_HDR_SIZE, hf[2]) if kept is read else \
        kept(base + off + _NODE_HDR_SIZE, hf[2], True)
    if checked_header(raw, body) is None or \
            crc32(body) != hf[5] or len(body) < 4:
        return None
    count = struct.unpack_from("<I", body)[0]
    pos = 4
    at = data_start
    nodes = []
    out = nodes.append if visit is None else visit
    scratch = None if visit else False
    stray = None        # where a node of an unknown type is: refused
    try:
        for _ in range(count):
            # unpacked in place: a slice per field was a copy per field
            ntype, flags, blen, ver, txn = \
                struct.unpack_from(_SUMMARY_ENTRY, body, pos)
            pos += _SUMMARY_ENTRY_SIZE
            if flags & _SUM_AT:
                o = struct.unpack_from("<I", body, pos)[0]
                pos += 4
                flags &= ~_SUM_AT
                if o < at:
                    # the writer lists nodes in log order: one starting
                    # inside the previous is no summary it wrote (and
                    # would count bytes twice in the block's dead bytes)
                    return None
                at = o
            if flags & _F_WIDE:
                vhi, thi = struct.unpack_from("<HH", body, pos)
                ver |= vhi << 32
                txn |= thi << 32
                pos += 4
            o = at
            damage = None
            if flags & _SUM_DAMAGED:
                flags &= ~_SUM_DAMAGED
                klen = protected_len(ntype, flags, blen)
                damage = "body CRC"
            else:
                klen = keep_len(ntype, blen)
            pos += klen
            if o + node_size(blen, flags) > off or \
                    pos > len(body) or o % 4:
                return None
            at = o + node_size(blen, flags)
            if not _NODE_INODE <= ntype <= _NODE_CHECKPOINT:
                # refused below, once the whole summary parses (one that
                # does not is no summary: the block is read node by node)
                stray = stray or (base + o, ntype)
                continue
            if only is not None and (
                    ntype != _NODE_DATA and ntype != _NODE_TRUNCATE or
                    klen < 4 or
                    struct.unpack_from("<I", body, pos - klen)[0] != only):
                continue
            keep = b""
            fields = None
            reuse = scratch is not False and ntype != _NODE_VOID and \
                ntype != _NODE_COMMIT and ntype != _NODE_RESET
            if not (reuse and headers_only):
                keep = full = bytes(body[pos - klen:pos])
                # bytes parse_body needs: a data node's prefix (and stamp),
                # every other body whole (a checkpoint piece: none, the
                # index never reads one)
                need = 0 if ntype == _NODE_CHECKPOINT else \
                    data_prefix(flags) if ntype == _NODE_DATA else blen
                if klen < need and damage is None and not headers_only:
                    # a stamp (under the header CRC) or a whole body the
                    # summary does not carry: a size must never come from
                    # a flipped bit
                    whole = ntype != _NODE_DATA
                    hl = hdr_size(flags)
                    n = hl + (blen if whole else need)
                    raw = kept(base + o, n)
                    hdr = checked_header(raw)
                    full = raw[hl:]
                    if hdr is None or hdr[0] != ntype or hdr[2] != blen or \
                            hdr[3] != ver or (whole and crc32(full) != hdr[5]):
                        damage = "node CRC"
                if (damage is None or ntype == _NODE_DATA) and \
                        (klen >= need or not headers_only):
                    # (a damaged data node's prefix and stamp are its
                    # protected prefix: its fields stand)
                    fields = parse_body(ntype, full, blen, flags)
            if reuse:
                if scratch is None:
                    scratch = Node(0, 0, 0, 0, 0, 0, None, b"")
                scratch.addr = base + o
                scratch.type = ntype
                scratch.flags = flags
                scratch.blen = blen
                scratch.ver = scratch.eff = ver
                scratch.txn = txn
                scratch.fields = fields
                scratch.keep = keep
                scratch.damage = damage
                if headers_only:
                    # the key's first word (an inode node's, a data
                    # node's ino), read where the summary carries it
                    scratch.key = struct.unpack_from(
                        "<I", body, pos - klen)[0] if klen >= 4 else None
                visit(scratch)
            else:
                out(Node(base + o, ntype, flags, blen, ver, txn, fields, keep,
                         damage))
    except (ValueError, getattr(struct, "error", ValueError)):
        # what unpacking malformed bytes raises (MicroPython's struct has
        # no struct.error: it raises ValueError)
        return None
    if pos != len(body):
        return None
    if stray is not None:
        from ovl.store import format_rare
        raise format_rare.malformed(_BAD_TYPE_AT, stray[0], stray[1])
    return nodes, off


def node_from(addr, raw, body):
    """The Node whose header bytes are raw and body bytes body, or None
    when the header (with its protected prefix) does not check out.  A body
    failing its CRC gives a damaged node: a data node keeps its fields (its
    prefix and stamp are under the header CRC), others keep only their
    key prefix."""
    hdr = checked_header(raw, body)
    if hdr is None or len(body) != hdr[2]:
        return None
    ntype, flags, blen, ver, txn, bcrc = hdr[:6]
    if not _NODE_INODE <= ntype <= _NODE_CHECKPOINT:
        # CRCs right: a newer writer's node, not a torn tail (FORMAT.md)
        from ovl.store import format_rare
        raise format_rare.malformed(_BAD_TYPE_AT, addr, ntype)
    keep = bytes(body[:keep_len(ntype, blen)])
    try:
        if crc32(body) != bcrc:
            from ovl.store import format_rare
            return format_rare.damaged_node(addr, hdr, body)
        fields = None if ntype == _NODE_SUMMARY else \
            parse_body(ntype, body, blen, flags)
    except (ValueError, getattr(struct, "error", ValueError)):
        # what unpacking malformed bytes raises (MicroPython's struct has
        # no struct.error: it raises ValueError)
        return None
    return Node(addr, ntype, flags, blen, ver, txn, fields, keep)

# what format_rare exports, answered by __getattr__ (checked by
# tests/test_store_format_rare.py against format_rare's own names)
_RARE_NAMES = const("F_KEPT VOID_BODY_SIZE NODE_NAMES CorruptError "
                    "NotFormattedError BlockCountError restamp data_at")


def __getattr__(name):
    """The format's names the mount path never asks for at run time (a
    wrong chip, GC, damage handling, fsck, the host tools): the private
    constants above by their public names, each set as a global once asked
    for (GC asks in its loops), the rest (NODE_NAMES, restamp, F_KEPT,
    NotFormattedError ...) from ovl.store.format_rare, imported at the
    first such name.  Each global fewer keeps this module's dict of names
    in a smaller allocation."""
    names = ("NODE_MAGIC DIRENT_PREFIX META_PREFIX NODE_HDR_WIDE COUNTER_MAX"
             " KEY_PREFIX F_TRUNC NODE_INODE NODE_DELETE NODE_DIRENT"
             " NODE_SYMLINK NODE_META INODE_BODY_SIZE DELETE_BODY DIRENT_BODY"
             " DIRENT_REMOVED DIRENT_WHITEOUT DATA_BODY DATA_PREFIX"
             " STAMP_BODY STAMP_SIZE STAMP1_BODY STAMP1_SIZE TRUNCATE_BODY"
             " SYMLINK_BODY META_BODY META_DELETED VOID_BODY NO_BLOCK"
             " COMMIT_BODY SYMLINK_MAX META_KEY_MAX META_VALUE_MAX"
             " BLOCK_HDR_SIZE NODE_HDR_SIZE F_COMMIT F_STAMP F_PROV F_ONETIME"
             " F_WIDE NODE_DATA NODE_TRUNCATE NODE_VOID NODE_RESET NODE_SUMMARY"
             " NODE_COMMIT NODE_CHECKPOINT SUMMARY_TAIL SUMMARY_TAIL_SIZE"
             " SUMMARY_MAGIC NAME_MAX").split()
    if name in names:
        # (name leads the tuple so it is built here at a call: a tuple of
        # constants alone would be one object made at import, on the heap)
        value = (name, _NODE_MAGIC, _DIRENT_PREFIX, _META_PREFIX,
                 _NODE_HDR_WIDE, (1 << 48) - 1, _KEY_PREFIX, _F_TRUNC,
                 _NODE_INODE, _NODE_DELETE, _NODE_DIRENT, _NODE_SYMLINK,
                 _NODE_META, _INODE_BODY_SIZE, _DELETE_BODY, _DIRENT_BODY,
                 _DIRENT_REMOVED, _DIRENT_WHITEOUT, _DATA_BODY, _DATA_PREFIX,
                 _STAMP_BODY, _STAMP_SIZE, _STAMP1_BODY, _STAMP1_SIZE,
                 _TRUNCATE_BODY, _SYMLINK_BODY, _META_BODY, _META_DELETED,
                 _VOID_BODY, _NO_BLOCK, _COMMIT_BODY, _SYMLINK_MAX,
                 _META_KEY_MAX, _META_VALUE_MAX, _BLOCK_HDR_SIZE,
                 _NODE_HDR_SIZE, _F_COMMIT, _F_STAMP, _F_PROV, _F_ONETIME,
                 _F_WIDE, _NODE_DATA, _NODE_TRUNCATE, _NODE_VOID, _NODE_RESET,
                 _NODE_SUMMARY, _NODE_COMMIT, _NODE_CHECKPOINT, _SUMMARY_TAIL,
                 _SUMMARY_TAIL_SIZE, _SUMMARY_MAGIC,
                 _NAME_MAX)[names.index(name) + 1]
        globals()[name] = value
        return value
    if name[:1] == "_" or name not in _RARE_NAMES:
        # CPython's import asks for __path__; a misspelt name is not
        # looked for in format_rare (its import is a board's heap)
        raise AttributeError(name)
    from ovl.store import format_rare
    return getattr(format_rare, name)
