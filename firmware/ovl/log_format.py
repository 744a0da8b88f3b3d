"""Bytes on flash of the log store: block header, node header, node bodies.

The one place these layouts are declared; the store (reader and writer),
fsck and the host tools all import it.  docs/FORMAT.md describes the same
bytes for an independent reader.  All integers are little-endian.
"""

import struct

from ovl.compat import crc32

FORMAT_VERSION = 3      # 2: the block header records the block count
                        # 3: data nodes may carry a stamp (F_STAMP)

# ----- block header: the first bytes of every erase block, written after
# each erase.  A block without a valid one is "unknown" and is erased
# before use (an interrupted erase can leave cells that read 0xFF now and
# flip later, so an all-0xFF block is not trusted either).
BLOCK_MAGIC = 0x6B6C766F          # b"ovlk"
BLOCK_HDR = "<IBBHIIIII"
BLOCK_HDR_SIZE = 28
# magic, version, flags, prog_unit, erase_count, seq, erase_size,
# block_count, hdr_crc.  The block count lets mount tell a truncated copy
# or a resized partition from a smaller store.

# ----- node header: every record in the log starts with one.
NODE_MAGIC = 0x4E6F               # b"oN"
NODE_HDR = "<HBBIIIII"
NODE_HDR_SIZE = 24
# magic, type, flags, body_len, version, txn, body_crc, hdr_crc

F_COMMIT = 0x01        # last node of a transaction
F_TRUNC = 0x02         # NODE_DATA only: also truncates the file at its end
F_STAMP = 0x04         # NODE_DATA only: also sets size (its end), mtime, ctime
F_KEPT = F_TRUNC | F_STAMP  # flags a GC copy keeps (COMMIT is per txn)

NODE_INODE = 0x01
NODE_DELETE = 0x02
NODE_DIRENT = 0x03
NODE_DATA = 0x04
NODE_TRUNCATE = 0x05
NODE_SYMLINK = 0x06
NODE_META = 0x07
NODE_VOID = 0x08
NODE_RESET = 0x09
NODE_SUMMARY = 0x0A

NODE_NAMES = {
    NODE_INODE: "NODE_INODE", NODE_DELETE: "NODE_DELETE",
    NODE_DIRENT: "NODE_DIRENT", NODE_DATA: "NODE_DATA",
    NODE_TRUNCATE: "NODE_TRUNCATE", NODE_SYMLINK: "NODE_SYMLINK",
    NODE_META: "NODE_META", NODE_VOID: "NODE_VOID", NODE_RESET: "NODE_RESET",
    NODE_SUMMARY: "NODE_SUMMARY",
}

# ----- bodies
INODE_BODY = "<IIIIIIIIQqq"
INODE_BODY_SIZE = 56
# ino, birth, mode, uid, gid, nlink, flags, rdev, size, mtime, ctime
DELETE_BODY = "<I"                # ino
DIRENT_BODY = "<II"               # parent, ino; then the name (UTF-8)
DIRENT_PREFIX = 8
DIRENT_REMOVED = 0                # ino value of a deletion dirent
DIRENT_WHITEOUT = 0xFFFFFFFF      # ino value of a whiteout
DATA_BODY = "<IQ"                 # ino, offset; [stamp]; then the bytes
DATA_PREFIX = 12
STAMP_BODY = "<qq"                # mtime, ctime: after the prefix if F_STAMP
STAMP_SIZE = 16
TRUNCATE_BODY = "<IQ"             # ino, size
SYMLINK_BODY = "<I"               # ino; then the target (UTF-8)
META_BODY = "<IHH"                # ino, key_len, meta_flags; key; value
META_PREFIX = 8
META_DELETED = 0x0001
VOID_BODY = "<II"                 # first txn, last txn (inclusive)
# NODE_RESET has an empty body.

# NODE_SUMMARY: written as the last node of a block when it is closed.
# Body: count u32, then `count` entries, one per node of the block in log
# order: SUMMARY_ENTRY (offset in block, type, flags, body_len, version,
# txn) followed by keep_len(type, body_len) bytes: the node's whole body when
# it is at most SUMMARY_KEEP_MAX bytes, the 12-byte prefix of a data node,
# else nothing (the reader then reads what it needs from the node itself).
SUMMARY_COUNT = "<I"
SUMMARY_ENTRY = "<IBBIII"
SUMMARY_ENTRY_SIZE = 18
SUMMARY_KEEP_MAX = 300
# The block's last 8 bytes then say where the summary node starts:
SUMMARY_TAIL = "<II"              # summary offset, SUMMARY_MAGIC
SUMMARY_TAIL_SIZE = 8
SUMMARY_MAGIC = 0x6D6D7573        # b"summ"

NAME_MAX = 255
SYMLINK_MAX = 1024
META_KEY_MAX = 255
META_VALUE_MAX = 1024


class CorruptError(ValueError):
    """The medium holds something the store cannot make sense of."""


class NotFormattedError(CorruptError):
    """No block of the flash carries a log-store block header."""


class BlockCountError(CorruptError):
    """The flash has another number of erase blocks than the store was
    formatted with: a truncated image or the wrong partition."""

    def __init__(self, have, formatted):
        super().__init__("flash has %d blocks but its log store was formatted"
                         " with %d: truncated or wrong partition"
                         % (have, formatted))
        self.have = have
        self.formatted = formatted


def align(n, unit):
    return (n + unit - 1) // unit * unit


def node_size(body_len):
    """Bytes a node occupies in the log: header + body, padded to 4."""
    return align(NODE_HDR_SIZE + body_len, 4)


def pack_block_header(prog_unit, erase_count, seq, erase_size, block_count):
    head = struct.pack(BLOCK_HDR[:-1], BLOCK_MAGIC, FORMAT_VERSION, 0,
                       prog_unit, erase_count, seq, erase_size, block_count)
    return head + struct.pack("<I", crc32(head))


# Version 1 headers were 24 bytes (no block count): their CRC covers 0..19.
V1_HDR_CRC_AT = 20


def unpack_block_header(raw):
    """(prog_unit, erase_count, seq, erase_size, block_count) or None if not
    valid; CorruptError for a valid header of another format version."""
    if len(raw) < BLOCK_HDR_SIZE:
        return None
    magic, version, flags, prog_unit, ec, seq, es, count, crc = \
        struct.unpack(BLOCK_HDR, raw[:BLOCK_HDR_SIZE])
    if magic != BLOCK_MAGIC:
        return None
    if version != FORMAT_VERSION:
        v1_crc = struct.unpack("<I", raw[V1_HDR_CRC_AT:V1_HDR_CRC_AT + 4])[0]
        if crc == crc32(raw[:BLOCK_HDR_SIZE - 4]) or \
                v1_crc == crc32(raw[:V1_HDR_CRC_AT]):
            raise CorruptError("log store format version %d (this code reads"
                               " %d): format it again" % (version,
                                                          FORMAT_VERSION))
        return None
    if crc != crc32(raw[:BLOCK_HDR_SIZE - 4]):
        return None
    return prog_unit, ec, seq, es, count


def pack_node(ntype, flags, version, txn, body):
    """The node's bytes, padded with 0xFF to a multiple of 4."""
    head = struct.pack("<HBBIIII", NODE_MAGIC, ntype, flags, len(body),
                       version, txn, crc32(body))
    out = bytearray(head)
    out += struct.pack("<I", crc32(head))
    out += body
    pad = node_size(len(body)) - len(out)
    if pad:
        out += b"\xff" * pad
    return out


def unpack_node_header(raw):
    """(type, flags, body_len, version, txn, body_crc), or None when the
    bytes are not a node header with a good CRC."""
    magic, ntype, flags, blen, ver, txn, bcrc, hcrc = \
        struct.unpack(NODE_HDR, raw[:NODE_HDR_SIZE])
    if magic != NODE_MAGIC or hcrc != crc32(raw[:NODE_HDR_SIZE - 4]):
        return None
    return ntype, flags, blen, ver, txn, bcrc


def restamp_header(raw, txn, flags):
    """A copy of node header `raw` written by txn with flags (GC copies keep
    everything else, the version included)."""
    magic, ntype, _, blen, ver, _, bcrc, _ = \
        struct.unpack(NODE_HDR, raw[:NODE_HDR_SIZE])
    head = struct.pack("<HBBIIII", magic, ntype, flags, blen, ver, txn, bcrc)
    return head + struct.pack("<I", crc32(head))


def data_prefix(flags):
    """Bytes of a data node's body before its file bytes."""
    return DATA_PREFIX + STAMP_SIZE if flags & F_STAMP else DATA_PREFIX


def parse_len(ntype, flags, blen):
    """Bytes of a body parse_body needs: a data node's prefix (and stamp),
    every other node's whole body."""
    return data_prefix(flags) if ntype == NODE_DATA else blen


def parse_body(ntype, body, blen, flags=0):
    """The fields of a node body (of a data node only parse_len bytes are
    needed; blen is the full body length).  A data node gives (ino, offset,
    length, stamp) with stamp (mtime, ctime) or None."""
    if ntype == NODE_INODE:
        return struct.unpack(INODE_BODY, body)
    if ntype == NODE_DATA:
        ino, off = struct.unpack(DATA_BODY, body[:DATA_PREFIX])
        skip = data_prefix(flags)
        if blen < skip:
            raise ValueError("data node shorter than its prefix")
        stamp = struct.unpack(STAMP_BODY, body[DATA_PREFIX:skip]) \
            if flags & F_STAMP else None
        return ino, off, blen - skip, stamp
    if ntype == NODE_DIRENT:
        parent, ino = struct.unpack(DIRENT_BODY, body[:DIRENT_PREFIX])
        return parent, ino, bytes(body[DIRENT_PREFIX:])
    if ntype == NODE_DELETE:
        return struct.unpack(DELETE_BODY, body)
    if ntype == NODE_TRUNCATE:
        return struct.unpack(TRUNCATE_BODY, body)
    if ntype == NODE_SYMLINK:
        return struct.unpack(SYMLINK_BODY, body[:4])[0], bytes(body[4:])
    if ntype == NODE_META:
        ino, klen, mflags = struct.unpack(META_BODY, body[:META_PREFIX])
        key = bytes(body[META_PREFIX:META_PREFIX + klen])
        value = None if mflags & META_DELETED else \
            bytes(body[META_PREFIX + klen:])
        return ino, key, value
    if ntype == NODE_VOID:
        return struct.unpack(VOID_BODY, body)
    if ntype == NODE_RESET:
        return ()
    raise CorruptError("unknown node type 0x%02x" % ntype)


def keep_len(ntype, blen):
    """Bytes of a node's body its summary entry carries (an inode body and
    a data node's stamp are read from the node itself: summaries stay small
    for rewrite-heavy logs)."""
    if ntype == NODE_DATA:
        return DATA_PREFIX
    if ntype == NODE_INODE:
        return 0
    return blen if blen <= SUMMARY_KEEP_MAX else 0


def summary_entry_size(ntype, blen):
    return SUMMARY_ENTRY_SIZE + keep_len(ntype, blen)


class Node:
    """One node of a block: where it is, its header fields, its parsed body
    (fields) and the body bytes a summary keeps of it (keep)."""

    def __init__(self, addr, ntype, flags, blen, ver, txn, fields, keep):
        self.addr = addr
        self.type = ntype
        self.flags = flags
        self.blen = blen
        self.ver = ver
        self.txn = txn
        self.fields = fields
        self.keep = keep

    def size(self):
        return node_size(self.blen)


class SummaryBuilder:
    """The summary of the open block, grown as nodes are appended."""

    def __init__(self):
        self.parts = []
        self.total = 0

    def add(self, off, nd):
        self.parts.append(struct.pack(SUMMARY_ENTRY, off, nd.type, nd.flags,
                                      nd.blen, nd.ver, nd.txn))
        self.parts.append(nd.keep)
        self.total += SUMMARY_ENTRY_SIZE + len(nd.keep)

    def count(self):
        return len(self.parts) // 2

    def size(self):
        """Bytes the summary node takes if written now."""
        return node_size(4 + self.total)

    def pack(self):
        body = struct.pack(SUMMARY_COUNT, self.count()) + b"".join(self.parts)
        return pack_node(NODE_SUMMARY, 0, 0, 0, body)


def read_summary(read, base, erase_size, data_start):
    """(nodes, end) from the summary of the block at base, or None if it
    has none or it is damaged.  read(addr, n) reads the flash."""
    log_end = erase_size - SUMMARY_TAIL_SIZE
    off, magic = struct.unpack(SUMMARY_TAIL, read(base + log_end,
                                                  SUMMARY_TAIL_SIZE))
    if magic != SUMMARY_MAGIC or off < data_start or \
            off + NODE_HDR_SIZE > log_end or off % 4:
        return None
    hdr = unpack_node_header(read(base + off, NODE_HDR_SIZE))
    if hdr is None or hdr[0] != NODE_SUMMARY or \
            off + node_size(hdr[2]) > log_end:
        return None
    body = read(base + off + NODE_HDR_SIZE, hdr[2])
    if crc32(body) != hdr[5] or len(body) < 4:
        return None
    count = struct.unpack(SUMMARY_COUNT, body[:4])[0]
    pos = 4
    nodes = []
    try:
        for _ in range(count):
            o, ntype, flags, blen, ver, txn = \
                struct.unpack(SUMMARY_ENTRY, body[pos:pos + SUMMARY_ENTRY_SIZE])
            pos += SUMMARY_ENTRY_SIZE
            klen = keep_len(ntype, blen)
            keep = bytes(body[pos:pos + klen])
            pos += klen
            if o < data_start or o + node_size(blen) > off:
                return None
            full = keep
            need = parse_len(ntype, flags, blen)
            if klen < need and ntype == NODE_DATA:
                # only the stamp: like file bytes it is read unchecked
                # (fsck's scan checks the whole body)
                full = read(base + o + NODE_HDR_SIZE, need)
            elif klen < need:
                # a whole body the summary does not carry: check its CRC,
                # an inode's size must not come from a flipped bit
                raw = read(base + o, NODE_HDR_SIZE + blen)
                hdr = unpack_node_header(raw)
                full = raw[NODE_HDR_SIZE:]
                if hdr is None or hdr[0] != ntype or hdr[2] != blen or \
                        crc32(full) != hdr[5]:
                    return None
            nodes.append(Node(base + o, ntype, flags, blen, ver, txn,
                              parse_body(ntype, full, blen, flags), keep))
    except (struct.error, ValueError):
        return None
    if pos != len(body):
        return None
    return nodes, off
