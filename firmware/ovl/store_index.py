"""Packed tables of the log store's RAM index (docs/STORE.md, "RAM").

Records live in bytearrays and arrays, not in Python tuples, dicts or big
ints: the same code runs on CPython and on MicroPython boards, where an
int above 2**30 allocates and every tuple costs a header.
"""

import struct
from array import array

from ovl.log_format import Node, NODE_TRUNCATE, F_STAMP, F_ONETIME

# One data or truncate node awaiting its replay at mount: ino, effective
# version, version, txn id (48-bit counters as 16 + 32 bits), address,
# type, flags, body length, offset (a truncation: the size), length, a
# data node's stamp (mtime, ctime) if it has one, and the record of the
# same inode added before it (NO_LINK: none).
MOUNT_REC = ">IHIHIHIIBBIQIqqI"
MOUNT_REC_SIZE = struct.calcsize(MOUNT_REC)     # 64
# Records per buffer: mount keeps them in 2 KiB pieces, never one buffer of
# them all (at 500 files that was a 60 KB block, which a heap fragmented by
# small live objects often no longer has in one piece).
MOUNT_CHUNK = 32


class MountData:
    """The data and truncate nodes mount found, packed (64 bytes a node
    instead of a Node object) in a list of fixed-size buffers: mount
    replays them inode by inode once it knows which inodes live, building
    Node records for one inode at a time."""

    def __init__(self, count):
        # all at once, from the count pass 1 took: allocated together, the
        # pieces lie together, and leave one free stretch when dropped
        self.chunks = [bytearray(MOUNT_CHUNK * MOUNT_REC_SIZE)
                       for _ in range((count + MOUNT_CHUNK - 1) // MOUNT_CHUNK)]
        self.n = 0

    def _at(self, i):
        return self.chunks[i // MOUNT_CHUNK], i % MOUNT_CHUNK * MOUNT_REC_SIZE

    def add(self, nd):
        f = nd.fields
        if nd.type == NODE_TRUNCATE:
            length, stamp = 0, None
        else:
            length, stamp = f[2], f[3]
        mt, ct = stamp if stamp is not None else (0, 0)
        if self.n == len(self.chunks) * MOUNT_CHUNK:    # past pass 1's count
            self.chunks.append(bytearray(MOUNT_CHUNK * MOUNT_REC_SIZE))
        buf, off = self._at(self.n)
        struct.pack_into(MOUNT_REC, buf, off, f[0],
                         _hi(nd.eff), _lo(nd.eff), _hi(nd.ver), _lo(nd.ver),
                         _hi(nd.txn), _lo(nd.txn), nd.addr, nd.type,
                         nd.flags, nd.blen, f[1], length, mt, ct, NO_LINK)
        self.n += 1

    def per_inode(self, table):
        """(ino, its nodes in replay order) for each inode; the nodes are
        Node records with the fields their parse gave them.  table is the
        InodeTable: the records of an inode are chained from its row (the
        link field of each record, an array of heads by row: no dict, no
        sort of all records); a node of an inode the table does not know
        comes alone."""
        rows = table.rows
        head = array("I", b"\xff" * (4 * len(table.records.value)))
        link = MOUNT_REC_SIZE - 4
        for i in range(self.n):
            buf, off = self._at(i)
            ino = struct.unpack_from(">I", buf, off)[0]
            r = rows.get(ino)
            if r is None:
                yield ino, [self._node(i)]
                continue
            struct.pack_into(">I", buf, off + link, head[r])
            head[r] = i
        for ino in rows:
            i = head[rows[ino]]
            nodes = []
            while i != NO_LINK:
                nodes.append(self._node(i))
                buf, off = self._at(i)
                i = struct.unpack_from(">I", buf, off + link)[0]
            if nodes:
                nodes.sort(key=replay_key)
                yield ino, nodes

    def _node(self, i):
        buf, off = self._at(i)
        (n, eh, el, vh, vl, th, tl, addr, t, flags, blen, off, length,
         mt, ct, _) = struct.unpack_from(MOUNT_REC, buf, off)
        if t == NODE_TRUNCATE:
            fields = (n, off)
        else:
            fields = (n, off, length,
                      (mt, ct) if flags & (F_STAMP | F_ONETIME) else None)
        nd = Node(addr, t, flags, blen, vl | vh << 32, tl | th << 32,
                  fields, None)
        nd.eff = el | eh << 32
        return nd


NO_LINK = 0xFFFFFFFF


def replay_key(nd):
    """Order in which data nodes of one inode are replayed, mount and run
    time alike (logstore.replay_order).  A provisional node takes the
    place of the NODE_COMMIT that made it count (eff), in its own version
    order among its stream's nodes.  A GC copy keeps its node's version
    but is written in a later transaction, so after a cut between copy and
    erase the copy wins in both places and the accounting agrees with
    fsck."""
    return (nd.eff, nd.ver, nd.txn, nd.addr)


def _hi(v):
    return v >> 32


def _lo(v):
    return v & 0xFFFFFFFF


NO_VALUE = 0           # Records.value of a tombstone
WHITEOUT_VALUE = 0xFFFFFFFF


class Records:
    """Rows of (value, version, address, node size, nolder), the record the
    store keeps per key, one array per field (about 20 bytes a row), so no
    tuple and no big int is stored (on a 32-bit MicroPython port an int
    above 2**30 allocates): 48-bit versions are kept as a 32-bit low and a
    16-bit high half.  value is a 32-bit number: an inode number, 0 for a
    tombstone.  with_birth adds the birth version of an inode."""

    def __init__(self, with_birth=False):
        self.free = []                 # rows of deleted records
        self.value = array("I")
        self.addr = array("I")
        self.ver_lo = array("I")
        self.ver_hi = array("H")
        self.nsize = array("H")
        self.nolder = array("I")
        self.cols = [self.value, self.addr, self.ver_lo, self.ver_hi,
                     self.nsize, self.nolder]
        if with_birth:
            self.birth_lo = array("I")
            self.birth_hi = array("H")
            self.cols += [self.birth_lo, self.birth_hi]

    def new(self):
        if self.free:
            return self.free.pop()
        for col in self.cols:
            col.append(0)
        return len(self.value) - 1

    def get(self, r, value):
        return (value, self.ver_lo[r] | self.ver_hi[r] << 32, self.addr[r],
                self.nsize[r], self.nolder[r])

    def put(self, r, value, rec):
        self.value[r] = value
        self.ver_lo[r] = _lo(rec[1])
        self.ver_hi[r] = _hi(rec[1])
        self.addr[r] = rec[2]
        self.nsize[r] = rec[3]
        self.nolder[r] = rec[4]


class KeyedView:
    """key -> record, as a dict of row numbers (small ints: no allocation)
    into Records shared with other views.  It answers like the dict of
    5-tuples it replaces: get, [], del, len, iteration, items, values."""

    def __init__(self, records):
        self.records = records
        self.rows = {}

    def decode(self, v):
        return v

    def encode(self, value, r):
        return value

    def __len__(self):
        return len(self.rows)

    def __contains__(self, key):
        return key in self.rows

    def __iter__(self):
        return iter(list(self.rows))

    def keys(self):
        return list(self.rows)

    def get(self, key, default=None):
        r = self.rows.get(key)
        if r is None:
            return default
        return self.records.get(r, self.decode(self.records.value[r]))

    def __getitem__(self, key):
        rec = self.get(key)
        if rec is None:
            raise KeyError(key)
        return rec

    def items(self):
        for key in list(self.rows):
            yield key, self.get(key)

    def values(self):
        for key in list(self.rows):
            yield self.get(key)

    def __setitem__(self, key, rec):
        r = self.rows.get(key)
        if r is None:
            r = self.rows[key] = self.records.new()
        self.records.put(r, self.encode(rec[0], r), rec)

    def __delitem__(self, key):
        self.records.free.append(self.rows.pop(key))

    def pop(self, key, default=None):
        rec = self.get(key, default)
        if key in self.rows:
            del self[key]
        return rec

    def clear(self):
        for key in list(self.rows):
            del self[key]


class DirView(KeyedView):
    """One directory's entries: name bytes -> (ino, WHITEOUT (-1) or None
    for a removed name, version, address, node size, nolder)."""

    def decode(self, v):
        if v == NO_VALUE:
            return None
        return -1 if v == WHITEOUT_VALUE else v

    def encode(self, value, r):
        if value is None:
            return NO_VALUE
        return WHITEOUT_VALUE if value == -1 else value


class InodeTable(KeyedView):
    """ino -> (True for a live inode, None for a deletion (a tombstone),
    version, address, node size, nolder).  The attributes are not kept:
    the store reads them from flash at the address.  Setting a record
    whose first field is the inode node's field tuple (ino, birth, ...)
    also sets the birth (the version that created the inode)."""

    def __init__(self):
        KeyedView.__init__(self, Records(with_birth=True))

    def decode(self, v):
        return True if v else None

    def encode(self, value, r):
        if isinstance(value, tuple):
            self.records.birth_lo[r] = _lo(value[1])
            self.records.birth_hi[r] = _hi(value[1])
        return 0 if value is None else 1

    def birth(self, ino):
        """The birth version of a live inode, or None."""
        r = self.rows.get(ino)
        recs = self.records
        if r is None or not recs.value[r]:
            return None
        return recs.birth_lo[r] | recs.birth_hi[r] << 32


class BlockSets:
    """ino -> the blocks holding its data nodes.  Most files sit in one
    block: a dict then holds the block number itself (a small int, no
    allocation), else an array of them.  The inodes are spread over
    BLOCKSET_DICTS dicts by number: one dict of them all needs a block of
    16 bytes per inode in one piece each time it grows (8 KB at 500
    files), which a fragmented heap may no longer have."""

    def __init__(self):
        self.sets = [{} for _ in range(BLOCKSET_DICTS)]

    def add(self, ino, b):
        sets = self.sets[ino % BLOCKSET_DICTS]
        cur = sets.get(ino)
        if cur is None:
            sets[ino] = b
        elif isinstance(cur, int):
            if cur != b:
                sets[ino] = array("I", (cur, b))
        else:
            for x in cur:
                if x == b:
                    return
            cur.append(b)

    def blocks(self, ino):
        cur = self.sets[ino % BLOCKSET_DICTS].get(ino)
        if cur is None:
            return ()
        if isinstance(cur, int):
            return (cur,)
        return tuple(cur)

    def discard(self, ino, b):
        sets = self.sets[ino % BLOCKSET_DICTS]
        cur = sets.get(ino)
        if cur is None:
            return
        if isinstance(cur, int):
            if cur == b:
                del sets[ino]
            return
        rest = [x for x in cur if x != b]
        if not rest:
            del sets[ino]
        elif len(rest) == 1:
            sets[ino] = rest[0]
        else:
            sets[ino] = array("I", rest)

    def pop(self, ino):
        self.sets[ino % BLOCKSET_DICTS].pop(ino, None)


BLOCKSET_DICTS = 16
