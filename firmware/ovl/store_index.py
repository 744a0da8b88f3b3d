"""Packed tables of the log store's RAM index (docs/STORE.md, "RAM").

Records live in bytearrays and arrays, not in Python tuples, dicts or big
ints: the same code runs on CPython and on MicroPython boards, where an
int above 2**30 allocates and every tuple costs a header.
"""

import struct

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
