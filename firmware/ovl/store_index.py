"""Packed tables of the log store's RAM index (docs/STORE.md, "RAM").

Records live in bytearrays and arrays, not in Python tuples, dicts or big
ints: the same code runs on CPython and on MicroPython boards, where an
int above 2**30 allocates and every tuple costs a header.
"""

import struct
from array import array

from ovl.log_format import Node, NODE_TRUNCATE, F_STAMP, F_ONETIME

# One data or truncate node awaiting its replay at mount: type, flags,
# body length, address, offset (a truncation: the size), length, version,
# effective version, txn id, mtime, ctime (a data node's stamp, if any).
MOUNT_REC = "<BBIIQIQQQqq"
MOUNT_REC_SIZE = struct.calcsize(MOUNT_REC)


class MountData:
    """The data and truncate nodes mount found, per inode, packed (62
    bytes a node instead of a Node object): mount replays them inode by
    inode once it knows which inodes live, and only then builds Node
    records, for one inode at a time."""

    def __init__(self):
        self.per_ino = {}         # ino -> bytearray of MOUNT_REC records

    def add(self, nd):
        f = nd.fields
        if nd.type == NODE_TRUNCATE:
            off, length, stamp = f[1], 0, None
        else:
            off, length, stamp = f[1], f[2], f[3]
        mt, ct = stamp if stamp is not None else (0, 0)
        rec = struct.pack(MOUNT_REC, nd.type, nd.flags, nd.blen, nd.addr,
                          off, length, nd.ver, nd.eff, nd.txn, mt, ct)
        buf = self.per_ino.get(f[0])
        if buf is None:
            self.per_ino[f[0]] = bytearray(rec)
        else:
            buf.extend(rec)

    def inos(self):
        return list(self.per_ino)

    def take(self, ino):
        """The nodes of ino as Node records (fields as the node's parse
        gave them), dropped from the table."""
        buf = self.per_ino.pop(ino)
        out = []
        for at in range(0, len(buf), MOUNT_REC_SIZE):
            t, flags, blen, addr, off, length, ver, eff, txn, mt, ct = \
                struct.unpack(MOUNT_REC, buf[at:at + MOUNT_REC_SIZE])
            if t == NODE_TRUNCATE:
                fields = (ino, off)
            else:
                fields = (ino, off, length, (mt, ct) if flags & (F_STAMP | F_ONETIME)
                          else None)
            nd = Node(addr, t, flags, blen, ver, txn, fields, None)
            nd.eff = eff
            out.append(nd)
        return out


def _hi(v):
    return v >> 32


def _lo(v):
    return v & 0xFFFFFFFF


class InodeTable:
    """ino -> (live, version, address, node size, nolder), the record the
    store keeps per inode, packed: a dict from ino to a row number (a small
    int: no allocation) and one array per field, about 21 bytes a row.
    live is True for an inode node (its attributes are read from flash at
    the address) and None for a deletion (a tombstone).  The version and
    the birth (the version that created the inode) are 48-bit: kept as a
    32-bit low and a 16-bit high half, so no big int is stored (on a 32-bit
    MicroPython port an int above 2**30 allocates)."""

    def __init__(self):
        self.rows = {}                 # ino -> row
        self.free = []                 # rows of deleted records
        self.addr = array("I")
        self.ver_lo = array("I")
        self.birth_lo = array("I")
        self.ver_hi = array("H")
        self.birth_hi = array("H")
        self.nsize = array("H")
        self.nolder = array("I")
        self.live = bytearray()

    def __len__(self):
        return len(self.rows)

    def __contains__(self, ino):
        return ino in self.rows

    def __iter__(self):
        return iter(list(self.rows))

    def keys(self):
        return list(self.rows)

    def get(self, ino, default=None):
        r = self.rows.get(ino)
        if r is None:
            return default
        return (True if self.live[r] else None,
                self.ver_lo[r] | self.ver_hi[r] << 32, self.addr[r],
                self.nsize[r], self.nolder[r])

    def __getitem__(self, ino):
        rec = self.get(ino)
        if rec is None:
            raise KeyError(ino)
        return rec

    def items(self):
        for ino in list(self.rows):
            yield ino, self.get(ino)

    def values(self):
        for ino in list(self.rows):
            yield self.get(ino)

    def birth(self, ino):
        """The birth version of a live inode, or None."""
        r = self.rows.get(ino)
        if r is None or not self.live[r]:
            return None
        return self.birth_lo[r] | self.birth_hi[r] << 32

    def __setitem__(self, ino, rec):
        """rec as get() gives it; its first field may also be the inode
        node's field tuple (ino, birth, ...), which sets the birth."""
        value, ver, addr, nsize, nolder = rec
        r = self.rows.get(ino)
        if r is None:
            if self.free:
                r = self.free.pop()
            else:
                r = len(self.live)
                for col in (self.addr, self.ver_lo, self.birth_lo,
                            self.ver_hi, self.birth_hi, self.nsize,
                            self.nolder):
                    col.append(0)
                self.live.append(0)
            self.birth_lo[r] = 0
            self.birth_hi[r] = 0
            self.rows[ino] = r
        if isinstance(value, tuple):
            self.birth_lo[r] = _lo(value[1])
            self.birth_hi[r] = _hi(value[1])
        self.live[r] = 0 if value is None else 1
        self.ver_lo[r] = _lo(ver)
        self.ver_hi[r] = _hi(ver)
        self.addr[r] = addr
        self.nsize[r] = nsize
        self.nolder[r] = nolder

    def __delitem__(self, ino):
        self.free.append(self.rows.pop(ino))

    def pop(self, ino, default=None):
        rec = self.get(ino, default)
        if ino in self.rows:
            del self[ino]
        return rec


class BlockSets:
    """ino -> the blocks holding its data nodes.  Most files sit in one
    block: the dict then holds the block number itself (a small int, no
    allocation), else an array of them."""

    def __init__(self):
        self.sets = {}

    def add(self, ino, b):
        cur = self.sets.get(ino)
        if cur is None:
            self.sets[ino] = b
        elif isinstance(cur, int):
            if cur != b:
                self.sets[ino] = array("I", (cur, b))
        else:
            for x in cur:
                if x == b:
                    return
            cur.append(b)

    def blocks(self, ino):
        cur = self.sets.get(ino)
        if cur is None:
            return ()
        if isinstance(cur, int):
            return (cur,)
        return tuple(cur)

    def discard(self, ino, b):
        cur = self.sets.get(ino)
        if cur is None:
            return
        if isinstance(cur, int):
            if cur == b:
                del self.sets[ino]
            return
        rest = [x for x in cur if x != b]
        if not rest:
            del self.sets[ino]
        elif len(rest) == 1:
            self.sets[ino] = rest[0]
        else:
            self.sets[ino] = array("I", rest)

    def pop(self, ino):
        self.sets.pop(ino, None)
