"""Bringing the log store up from flash: a store's state before its
mount (init, LogStore.__init__'s), format and mount (the block headers,
the two passes over the blocks, the replay of data per inode, the
settling after it).  A board runs it at boot and after a format, then
never again: LogStore.mount and LogStore.format import it for the call
and release it (ovl.compat.call_released), so its code does not stay on
the heap (docs/STORE.md, "Code layout").  Each function takes the LogStore first.
"""

import gc
import struct
from array import array

from ovl.compat import const
from ovl.store import ROOT_INO, RESERVED_BLOCKS, blocks, index
from ovl.store.index import replay_key, ROWS, PAGE, SLOTS
from ovl.store import format as fmt
from ovl.store.format import Node, data_prefix

_VOID_MARGIN = const(16)     # txn ids skipped after a crash (see mount)
# the format's node types and flags the mount names, private consts (no
# global each in a module a board loads at every mount; the format's
# public names answer the same: tests/test_store_block_columns.py)
_NODE_DIRENT = const(3)
_NODE_DATA = const(4)
_NODE_TRUNCATE = const(5)
_NODE_VOID = const(8)
_NODE_RESET = const(9)
_NODE_COMMIT = const(11)
_NODE_CHECKPOINT = const(12)
_BLOCK_HDR_SIZE = const(32)
_SUMMARY_TAIL_SIZE = const(8)
# init's refusals: their places in ovl.store.errors.FAILURES
_E_BLOCKS = const(1)
_E_BLOCK_SIZE = const(2)
_F_COMMIT = const(1)
_F_STAMP = const(4)
_F_PROV = const(8)
_F_ONETIME = const(16)
# What a mount reaches only on damage, a cut, a reset, or a blank or
# wrong chip (the store's lazy methods, the format's rare errors) it
# names by getattr with a string of 11 characters or more: mpy-cross
# keeps such a string as an object, not an interned name (one of 10 or
# fewer is interned at load), so a healthy board's mount interns none of
# them (the getattr interns the name when it runs; docs/STORE.md, "Code
# layout").
# ovl.store's block states and record fields (blocks.FREE ..., _STREAM_*,
# _STAMP_*), private here too
_FREE = const(0)
_OPEN = const(1)
_FULL = const(2)
_UNKNOWN = const(3)
_STREAM_VER = const(0)
_STREAM_ADDR = const(1)
_STREAM_NSIZE = const(2)
_STREAM_BLOCKS = const(3)
_STAMP_MTIME = const(1)
_STAMP_VER = const(3)
_STAMP_ADDR = const(4)

# One data or truncate node awaiting its replay at mount, 22 bytes: the
# ino (24 bits) and flags (8: with _MOUNT_TRUNC for a truncation; node
# flags use the low 6 bits), the low 32 bits of its version and txn id,
# its address in 4-byte units (nodes are aligned to 4; 24 bits) and the
# top 8 bits of its offset (a truncation: the size), the offset's low 16
# bits, the body length (16 bits), and the number + 1 of the next record
# of its bucket (or of the next free record; 0: none; 16 bits: a mount
# whose first pass counts _LINK16 data nodes or more takes a 32-bit
# link).  A node whose fields do not fit (rare: counters past 2**32, a
# file past 16 MiB, an ino past 2**24, a chip past 64 MiB) has
# _MOUNT_WIDE set and (ino, version, txn, length, offset, address) in
# MountData.extra.  The rest is derived at replay: the length from the
# body length, the effective version from the version or the stream,
# the stamp read from flash by mount for the one node per inode whose
# stamp wins ((0, 0) stands in until then).
_MOUNT_REC = const(">IIIIHHH")     # 22 bytes
_LINK16 = const(0x7FFF)     # records a mount takes with 16-bit links
_MOUNT_TRUNC = const(0x80)
_MOUNT_WIDE = const(0x40)
# Records per buffer: mount keeps them in pieces of under 2 KiB, never one
# buffer of them all (at 500 files that was a 60 KB block, which a heap fragmented by
# small live objects often no longer has in one piece).
MOUNT_CHUNK = 75
_MOUNT_FIRST = const(8)     # records of the first piece
_ROWS_MAX = const(4096)     # entry rows a mount lays out before pass 2
_PASS2_ROOM = const(8192)   # heap _presize leaves free for pass 2


def last_blocks(nblocks):
    """The array of the last block + 1 of each bucket of inodes that the
    first pass of mount fills (see MountData), zeroed: 4 bytes for each
    of twice the blocks (a power of two from 256 to 4,096), so 16-bit
    entries for twice as many buckets while block numbers fit them."""
    k = 256
    while k < 2 * nblocks and k < 4096:
        k *= 2
    return array("H" if nblocks < 0xFFFF else "I", bytes(4 * k))


def inode_of(nd):
    """The ino of an inode, delete, data or truncate node (the nodes an
    inode's data replay depends on), None when unknown (damaged), 0 (no
    inode's number) for another node.  The first pass of mount, reading
    summaries without bodies, has it as the node's key word
    (format.read_summary)."""
    if nd.type in (1, 2, 4, 5):     # NODE_INODE, _DELETE, _DATA, _TRUNCATE
        if nd.fields is not None:
            return nd.fields[0]
        return getattr(nd, "key", None)
    return 0


class MountData:
    """The data and truncate nodes mount found, packed (22 bytes a node
    instead of a Node object) in a list of fixed-size buffers, chained by
    the bucket of their inode (ino % buckets).  last (last_blocks', or
    None: every record waits to the end) holds, for each bucket, the
    last block + 1 in which mount's first pass saw a node of its inodes
    (inode, delete, data, truncate): once that block is read, the
    bucket's inodes have all their nodes indexed or waiting here and
    mount replays them (seen lists the bucket in pending, per_inode(True)
    replays it), and their records are free for the next ones.  Only
    the records of inodes whose nodes lie in blocks yet to be read wait:
    most files' nodes share a block."""

    def __init__(self, count, last=None):
        buckets = 256 if last is None else len(last)
        # last folded to the fewest buckets, a power of two from 16, not
        # fewer than the nodes (a bucket's last block is the latest of
        # those folded into it): a small store keeps small arrays, a big
        # one little more waiting than its buckets
        if last is not None:
            while buckets > 16 and buckets >= 2 * count:
                buckets //= 2
                for h in range(buckets):    # the upper half into the lower
                    if last[h + buckets] > last[h]:
                        last[h] = last[h + buckets]
            last = last[:buckets]
        self.last = last
        self.pending = []   # buckets whose last block pass 2 has read
        # 16-bit links while pass 1's count is well below their end (pass
        # 2 reads the same nodes)
        wide = count >= _LINK16
        self.fmt = _MOUNT_REC[:-1] + "I" if wide else _MOUNT_REC
        self.size = size = struct.calcsize(self.fmt)
        self.w, self.lf = (4, ">I") if wide else (2, ">H")
        self.heads = array(self.lf[1], bytes(self.w * buckets))
        self.mask = buckets - 1
        # one small piece at first (a store written once has few records
        # waiting at a time: 9 at 100 and at 500 files, where a first piece
        # of 75 records was 1.6 KB of the mount's peak), doubled while
        # records wait, more pieces past MOUNT_CHUNK records
        self.chunks = [bytearray(min(count, _MOUNT_FIRST) * size)]
        self.n = 0          # records handed out, free ones included
        self.free = 0       # the first free record + 1
        self.extra = {}     # record -> its fields that do not fit

    def pos(self, i):
        return self.chunks[i // MOUNT_CHUNK], i % MOUNT_CHUNK * self.size

    def link(self, i, value=None):
        buf, off = self.pos(i)
        off += self.size - self.w
        if value is None:
            return struct.unpack_from(self.lf, buf, off)[0]
        struct.pack_into(self.lf, buf, off, value)

    def seen(self, nd, b):
        """The second pass of mount read nd in block b: its bucket is due
        (replayed once b is read) if b is the last block pass 1 saw a node
        of the bucket in.  Listed once: a node of it read later (pass 1
        read otherwise) waits to the end."""
        ino = inode_of(nd)
        if ino and self.last is not None:
            h = ino & self.mask
            if self.last[h] == b + 1:
                self.last[h] = 0
                self.pending.append(h)

    def add(self, nd):
        i = self.free - 1
        if i >= 0:
            self.free = self.link(i)
        else:
            i = self.n
            if self.w == 2 and i >= 0xFFFF:
                raise fmt.CorruptError("mount found 65,535 data nodes where"
                                       " its first pass counted under 32,767")
            if i % MOUNT_CHUNK == 0 and i // MOUNT_CHUNK == len(self.chunks):
                self.chunks.append(bytearray())
            buf, off = self.pos(i)
            if off == len(buf):                 # past what was allocated
                # doubled (a record at a time reallocated at every one)
                buf.extend(bytearray(min(max(off, self.size),
                                         MOUNT_CHUNK * self.size - off)))
            self.n += 1
        buf, off = self.pos(i)
        flags = nd.flags | (_MOUNT_TRUNC if nd.type == _NODE_TRUNCATE else 0)
        blen = nd.blen
        ino, at = nd.fields[0], nd.fields[1]
        addr = nd.addr
        h = ino & self.mask
        link = self.heads[h]
        self.heads[h] = i + 1
        if (nd.ver | nd.txn) >> 32 or blen >> 16 or (ino | at) >> 24 or \
                addr & 3 or addr >> 26:
            self.extra[i] = (ino, nd.ver, nd.txn, blen, at, addr)
            flags |= _MOUNT_WIDE
            ino &= 0xFFFFFF
            blen = at = addr = 0
        struct.pack_into(self.fmt, buf, off, ino << 8 | flags,
                         nd.ver & 0xFFFFFFFF, nd.txn & 0xFFFFFFFF,
                         addr >> 2 << 8 | at >> 16, at & 0xFFFF, blen, link)

    def per_inode(self, pending, streams):
        """(ino, its nodes in replay order) for the inodes of the buckets
        listed in pending (True: self.pending, each once; False: all buckets, the
        end of the mount), their records then free.  The
        nodes are Node records with the fields their parse gave them, but
        for a stamp ((0, 0) until mount reads it); one bucket's are built at a time.
        streams: the committed streams (sid -> [version, ...]) of
        provisional nodes."""
        if pending:
            pending = self.pending
            self.pending = []
        else:
            pending = range(self.mask + 1)
        for h in pending:
            i = self.heads[h]
            self.heads[h] = 0
            runs = {}
            while i:
                nd = self.node(i - 1, streams)
                run = runs.get(nd.fields[0])
                if run is None:
                    run = runs[nd.fields[0]] = []
                run.append(nd)
                nxt = self.link(i - 1)
                self.link(i - 1, self.free)
                self.free = i       # (a wide entry left is never read:
                i = nxt             # the flags say which are)
            for ino in runs:
                run = runs[ino]
                run.sort(key=replay_key)
                yield ino, run

    def node(self, i, streams):
        buf, off = self.pos(i)
        (a, ver, txn, b, lo, blen, _) = struct.unpack_from(self.fmt, buf, off)
        flags = a & 0xFF
        n = a >> 8
        addr = b >> 8 << 2
        off = (b & 0xFF) << 16 | lo
        if flags & _MOUNT_WIDE:
            n, ver, txn, blen, off, addr = self.extra[i]
            flags ^= _MOUNT_WIDE
        if flags & _MOUNT_TRUNC:
            t, flags, fields = _NODE_TRUNCATE, flags ^ _MOUNT_TRUNC, (n, off)
        else:
            t = _NODE_DATA
            fields = (n, off, blen - data_prefix(flags),
                      (0, 0) if flags & (_F_STAMP | _F_ONETIME) else None)
        nd = Node(addr, t, flags, blen, ver, txn, fields, None)
        if flags & _F_PROV:
            nd.eff = streams[txn][0]
        return nd


def init(s, flash, readonly=False, checkpoints=True):
    """LogStore.__init__: the state of a store not yet mounted.  Run
    once a store is made (a mount, a format, a checkpoint restored into
    a fresh store), never after: here, not in ovl.store, so its code
    leaves the heap with this module."""
    s.flash = flash
    s.readonly = readonly
    # mount from a checkpoint and write them at sync (ovl.store.checkpoint,
    # imported only then); off, a store with checkpoints still mounts
    # by the scan (docs/STORE.md, "Checkpoint")
    s.checkpoints = checkpoints
    s.es = flash.erase_size
    s.nblocks = flash.block_count
    # NAND takes few partial programs per page: every program there
    # starts on a page boundary and a commit pads to the next page.
    s.prog_unit = 4 if flash.kind == "nor" else flash.page_size
    s.data_start = fmt.align(_BLOCK_HDR_SIZE, s.prog_unit)
    s.log_end = s.es - _SUMMARY_TAIL_SIZE
    if s.nblocks < RESERVED_BLOCKS + 3:
        from ovl.store import errors
        raise errors.error(_E_BLOCKS, RESERVED_BLOCKS + 3, s.nblocks)
    if s.log_end - s.data_start < 512:
        from ovl.store import errors
        raise errors.error(_E_BLOCK_SIZE, s.es)
    s.garbage_blocks = set()  # hold nodes of discarded txns / junk
    s.void_recs = []          # (addr, nsize) of NODE_VOID records
    s.reset_rec = None        # (ver, addr, nsize) of the NODE_RESET
    s.pending_void = None     # (first, last) to record in next commit
    # ino -> (True|None, ver, addr, nsize, nolder), packed; attributes
    # are read from flash (the last _INODE_CACHE used are kept)
    s.inodes = index.InodeTable()
    s.inode_cache = {}        # ino -> (addr, fmt.INODE_BODY fields)
    s.inode_lru = []          # its inos, least recently used first
    # (parent, name bytes) -> (True|WHITEOUT|None, ver, addr, nsize,
    # nolder), packed; the names and an entry's ino are read from flash
    s.entries = index.EntryTable(s._dirent_at)
    s.meta = {}               # ino -> {key bytes: (value|None, ...)}
    s.links = {}              # ino -> (target bytes, ...)
    # Extent maps are loaded on demand (from the blocks holding a file's
    # nodes) and kept for the extent_cache files used last:
    s.extents = {}            # ino -> [(start, end, entry)] visible pieces
    s.truncs = {}             # ino -> [[ver, size, addr, nsize]]
    # A data node can have up to three roles: data (shows in the map),
    # truncation (F_TRUNC) and the inode's size/mtime/ctime (F_STAMP).
    # It is dead when all have ended; roles counts them while above 1.
    s.roles = {}              # addr -> live roles (2 or 3)
    # The newest stamp of each inode, when newer than its NODE_INODE
    # (resident, like the inodes it overrides):
    s.stamps = {}             # ino -> (size, mtime, ctime, ver, addr, nsize)
    s.loaded = []             # inos whose maps are resident, LRU first
    s.data_blocks = index.BlockSets(s.inodes)  # ino -> its blocks
    s.void_ranges = []        # (first, last) txn ids that never count
    # Committed streams still on flash: txn id -> [version of its
    # NODE_COMMIT, its addr, its size, blocks holding its provisional
    # nodes].  The NODE_COMMIT lives while any of those blocks does.
    s.streams = {}
    s.pins = {}               # block -> provisional nodes of open txns
    s.damage = []             # (addr, what, target) found so far
    s.damaged = {}            # ("inode"|"dir", n) -> first reason
    s.damaged_blocks = {}     # blocks GC keeps: they hold damage
    s.verified_nodes = []     # addrs of data nodes read and checked
    s.seen_max = 0
    s.reset_ver = 0
    s.replaying = False       # rebuilding a map: deaths already counted
    s.indexing = None         # txn id whose nodes _commit is indexing
    s.next_ver = 1
    s.next_txn = 1
    s.next_ino = ROOT_INO + 1
    s.wblock = None           # the open block
    s.wpos = 0
    # node bytes not yet programmed: at most a page, in one buffer
    # cut in place (_flush), so it keeps its allocation
    s.pending = bytearray()
    s.pend_addr = 0
    s.wsum = None             # summary entries of the open block
    s.gc_runs = 0
    s.mounting = False        # nodes arrive in any order
    s.hdr_addr = -1           # the last dirent node a mount read,
    s.hdr_ver = -1            # and its version (two ints: no tuple)
    s.repairs = []
    s.blocks = blocks.Blocks(flash, s.prog_unit, s.data_start,
                                s.stats)


def format(cls, flash, first_counter=1):
    """Erase every block (keeping erase counts found in old headers) and
    write an empty store with a root directory.  Returns it mounted.
    first_counter starts versions and txn ids elsewhere than 1 (tests
    run stores across 2**32 with it)."""
    s = cls(flash)
    s.next_ver = s.next_txn = first_counter
    for b in range(s.nblocks):
        try:
            hdr = fmt.unpack_block_header(flash.read(b * s.es, _BLOCK_HDR_SIZE))
        except fmt.CorruptError:   # (named only when one is raised)
            hdr = None
        if hdr is not None:
            s.blocks.ec[b] = hdr[1]
    good = 0
    for b in range(s.nblocks):
        if s._erase(b):
            good += 1
    if good < RESERVED_BLOCKS + 3:
        raise fmt.CorruptError("only %d good blocks: cannot format" % good)
    txn = s.begin()
    txn.put_inode(ROOT_INO, mode=0o40755, nlink=2)
    txn.commit()
    flash.sync()
    return s


def mount(s):
    s.mounting = True
    before = s.stats["bytes_read"]
    # the newest checkpoint if it is the log's last word and checks
    # out, else the scan below (docs/STORE.md)
    if s.checkpoints:
        # (kept once loaded: sync's rule is in it too; off on the MCU
        # boards, which never load it)
        from ovl.store import checkpoint
        if checkpoint.mount_from(s, before):
            return
        checkpoint = None
    es = s.es
    # One buffer for the summaries' bodies (blocks.read_kept's body: lent
    # empty, made at the first summary read, early in pass 1), so no
    # block's summary is read as a fresh copy freed among the index's
    # rows; then it holds the open block's summary entries (the writer's
    # builder's buffer, which the store keeps anyway).
    s.blocks.body = bytearray()
    known = ec_sum = 0           # headers read, their erase counts
    for b in range(s.nblocks):
        raw = s.blocks.read(b * es, _BLOCK_HDR_SIZE)
        hdr = fmt.unpack_block_header(raw)
        if hdr is None:
            hdr = getattr(s, "_mend_header")(b, raw)
        if hdr is None:
            continue
        prog_unit, ec, seq, esize, count = hdr
        if esize != es or prog_unit != s.prog_unit:
            raise fmt.CorruptError(
                "block %d was formatted for erase size %d, program unit %d"
                " (flash has %d, %d)" % (b, esize, prog_unit, es,
                                         s.prog_unit))
        if count != s.nblocks:
            # a shorter copy would mount as a smaller store and lose
            # the blocks cut off without a word
            raise getattr(fmt, "BlockCountError")(s.nblocks, count)
        s.blocks.ec[b] = ec
        s.blocks.state[b] = _FULL
        known += 1
        ec_sum += ec
    if not known:
        raise getattr(fmt, "NotFormattedError")(
            "no log store on this flash (no block header found): format "
            "it first")
    mean = ec_sum // known
    for b in range(s.nblocks):
        if s.blocks.state[b] == _UNKNOWN:
            s.blocks.ec[b] = mean   # lost with the header; UBI does the same

    # Pass 1: read the blocks one at a time (headers of the summary
    # entries, or a scan), each node handed over as it is read, keeping
    # only what decides which transactions count: the highest ids, the
    # voids, the NODE_COMMITs and RESETs (few: one per cut, per
    # committed stream, per reset), the head.
    n = s.nblocks
    summed = bytearray(n)        # 1: the block has a good summary
    torn_nodes = {}              # block -> addresses of its nodes, torn
    # commit_max, seen_max, ver_max, plain_max (the highest txn id of a
    # non-provisional node), head key, head block, current block, the
    # addresses of its nodes, data and truncate nodes seen, the last
    # block + 1 of each bucket of inodes (MountData; None: unknown), the
    # dirent nodes seen, the inode and delete nodes seen, the highest ino
    # of those (the index laid out from them: see below)
    top = [0, 0, 0, 0, (-1, 0), None, 0, None, 0, last_blocks(n), 0, 0, 0]
    buckets = len(top[9])
    voids = []                   # (txn, first, last) of NODE_VOIDs
    marks = []                   # NODE_COMMIT / NODE_RESET Nodes

    def update(nd):
        top[7].append(nd.addr)
        if nd.type == _NODE_DATA or nd.type == _NODE_TRUNCATE:
            top[8] += 1
        ino = inode_of(nd)
        if top[9] is not None:
            if ino is None:     # a node of some inode: replay at the end
                top[9] = None
            elif ino:
                top[9][ino % buckets] = top[6] + 1
        if nd.type == _NODE_DIRENT:
            top[10] += 1
        elif nd.type < _NODE_DIRENT and ino:    # an inode or a delete
            top[11] += 1
            if ino > top[12]:
                top[12] = ino
        txn = nd.txn
        prov = nd.flags & _F_PROV
        if nd.flags & _F_COMMIT and not prov and txn > top[0]:
            top[0] = txn
        if txn > top[1]:
            top[1] = txn
        if nd.ver > top[2]:
            top[2] = nd.ver
        if prov:
            return
        if txn > top[3]:
            top[3] = txn
        key = (txn, nd.flags & _F_COMMIT)
        if key > top[4]:
            top[4] = key
            top[5] = top[6]
        if nd.fields is None:
            return
        if nd.type == _NODE_VOID:
            voids.append((txn,) + nd.fields[:2])
        elif nd.type == _NODE_COMMIT or nd.type == _NODE_RESET:
            marks.append(nd)

    junk = False
    for b in range(n):
        if s.blocks.state[b] != _FULL:
            continue
        top[6] = b
        top[7] = addrs = []
        end, clean, summarized = s._block_nodes(
            b, mounting=True, headers_only=True, visit=update)[1:]
        if not addrs and end == s.data_start and clean:
            # nothing written since the erase (checked again, header
            # included, before the block is first written)
            s.blocks.state[b] = _FREE
            s.blocks.used[b] = s.data_start
            continue
        s.blocks.used[b] = end       # FULL: it holds nodes
        if summarized:
            summed[b] = 1
        if not clean:
            junk = True
            s.stats["torn_tails"] += 1    # the remains of a cut
            s.garbage_blocks.add(b)
            # what pass 2 indexes must be what this pass decided on:
            # the remains of a cut may read differently next time
            torn_nodes[b] = addrs
    commit_max, seen_max, ver_max, plain_max = top[:4]
    head = top[5]
    # data and truncations wait for their replay as packed records
    # (MountData) from pass 2 on, each bucket of inodes until the last
    # block holding a node of one of them is read (data.pending)
    _presize(s, top[10], top[11], top[12])
    data = MountData(top[8], top[9])
    update = addrs = top = None
    voids = [v[1:] for v in voids if v[0] <= commit_max]

    def kept(txn):
        if txn > commit_max:
            return False
        for first, last in voids:
            if first <= txn <= last:
                return False
        return True
    s.void_ranges = voids

    # Committed NODE_COMMITs: the streams whose provisional nodes count,
    # in version order where the commit stands.
    streams = s.streams
    reset_ver = 0
    for nd in marks:
        if not kept(nd.txn):
            continue
        if nd.type == _NODE_RESET:
            if nd.ver > reset_ver:
                reset_ver = nd.ver
            continue
        st = streams.get(nd.fields[0])
        if st is None or st[_STREAM_VER] < nd.ver:
            streams[nd.fields[0]] = [nd.ver, nd.addr, nd.size(), []]
    marks = None
    # a stream older than the newest RESET is dead with all it wrote, as
    # a reset that ran to its end leaves it (apply_reset); kept here, its
    # commit would be live for GC and fsck (collect.is_live) and killed a
    # second time when its last provisional node's block is erased
    for sid in list(streams):
        if streams[sid][_STREAM_VER] < reset_ver:
            del streams[sid]

    def live(nd):
        if nd.flags & _F_PROV:
            st = streams.get(nd.txn)
            if st is None:
                return False
            nd.eff = st[_STREAM_VER]
            return True
        return kept(nd.txn)

    # a transaction was cut short when a node of it is on flash
    # without its commit, or something unreadable follows the log
    torn = junk or plain_max > commit_max
    # Pass 2: read the blocks again, one at a time, and index the
    # committed nodes as they come (a block's nodes are never all in
    # RAM); data and truncations wait (data: MountData), and are
    # replayed in version order per inode.
    cur = [0, 0, 0, None, 0]    # block, its base, end, summary, nodes

    def visit(nd):
        b, base, end, wsum = cur[0], cur[1], cur[2], cur[3]
        if nd.addr - base >= end:
            return          # past what pass 1 read (a scan only)
        cur[4] += 1
        data.seen(nd, b)
        s.blocks.dead[b] -= nd.size()
        if wsum is not None:
            wsum.add(nd.addr - base, nd)
        if nd.ver < s.blocks.minver[b]:
            s.blocks.minver[b] = nd.ver
        if not live(nd):
            s._kill(nd.addr, nd.size())
            if not nd.flags & _F_PROV:
                s.garbage_blocks.add(b)
            return
        if nd.flags & _F_PROV:
            sb = streams[nd.txn][_STREAM_BLOCKS]
            if b not in sb:
                sb.append(b)
        if nd.type == _NODE_RESET:
            if nd.ver == reset_ver and s.reset_rec is None:
                s.reset_rec = (nd.ver, nd.addr, nd.size())
            else:
                s._kill(nd.addr, nd.size())
            return
        if nd.eff < reset_ver:
            s._kill(nd.addr, nd.size())
            return
        if nd.damage is not None:
            getattr(s, "_mount_damage")(nd)
            if nd.fields is None:
                return
        if nd.type == _NODE_DATA or nd.type == _NODE_TRUNCATE:
            data.add(nd)
        elif nd.type == _NODE_COMMIT:
            st = streams.get(nd.fields[0])
            if st is None or st[_STREAM_ADDR] != nd.addr:
                s._kill(nd.addr, nd.size())  # a dup or older
        elif nd.type == _NODE_CHECKPOINT:    # a cache, dead once
            s._kill(nd.addr, nd.size())  # written
        else:
            s._index(nd)

    for b in range(n):
        if s.blocks.state[b] != _FULL:
            continue
        end = s.blocks.used[b]
        wsum = None
        if b == head and not torn and not summed[b] and \
                end < s.log_end - 256:
            # the head's entries take the buffer (the summaries read
            # after it are read as copies)
            wsum = fmt.SummaryBuilder(s.data_start)
            wsum.buf = s.blocks.body
            s.blocks.body = None
            wsum.clear(s.data_start)
        cur[:] = [b, b * es, end, wsum, 0]
        # padding and summaries are dead space from the start
        s.blocks.dead[b] = end - s.data_start
        seen = torn_nodes.pop(b, None)
        if seen is not None:
            # only the nodes pass 1 read (the remains of a cut may read
            # differently now)
            getattr(s, "_rescan_torn")(b, seen, visit)
            seen = None
        elif not summed[b] or fmt.read_summary(
                s.blocks.read, b * es, es, s.data_start, False, visit, None,
                s.blocks.read_kept) is None:
            if cur[4]:
                raise fmt.CorruptError("block %d read differently by the "
                                       "two passes of mount" % b)
            s._scan(b, visit)
        if data.pending:
            _settle_mount(s, data, True)
        if wsum is not None and end + wsum.size() + 4 <= s.log_end:
            s.blocks.state[b] = _OPEN    # its summary still fits
            s.wblock = b
            s.wpos = end
            s.pend_addr = b * es + end
            s.wsum = wsum
    # the buffer lent no more (unless the open block's entries took it,
    # it is let go: with no open block the store keeps no builder, as a
    # checkpoint's mount leaves it)
    cur = visit = s.blocks.body = None
    for sid in list(streams):
        st = streams[sid]
        if not st[_STREAM_BLOCKS]:      # no provisional node left
            s._kill(st[_STREAM_ADDR], st[_STREAM_NSIZE])
            del streams[sid]
    s.next_ver = ver_max + 1
    s.seen_max = seen_max
    s.reset_ver = reset_ver
    _settle_mount(s, data)
    b = s.wblock
    if b is not None and \
            s.blocks.dead[b] >= s.blocks.used[b] - s.data_start:
        # The head holds nothing live: the copies of a collection cut
        # before it erased its victim, say, in what was the last free
        # block.  Writing on in it would spend the GC reserve; left
        # full, it is the first victim and is erased with no copy.
        s.blocks.state[b] = _FULL
        s.wblock = s.wsum = None
    for b in range(n):
        if s.blocks.state[b] == _FULL:    # a block holding nodes
            s.blocks.dead[b] += s.es - s.blocks.used[b]
            s.blocks.used[b] = s.es
    if torn:
        # A transaction was cut short.  Its nodes (and junk that may
        # read differently on a later boot) stay discarded for good: the
        # next commit records a VOID over every txn id it could have
        # used, and writing continues in a fresh block.
        s.next_txn = max(seen_max, commit_max) + _VOID_MARGIN
        s.pending_void = (commit_max + 1, s.next_txn - 1)
        s.void_ranges.append(s.pending_void)
    else:
        # past every id on flash: a stream cut before its commit (its
        # provisional nodes are whole, nothing is torn) is never reused
        s.next_txn = max(seen_max, commit_max) + 1
    rec = s.inodes.get(ROOT_INO)
    if rec is None or rec[0] is None:
        why = s.damaged.get(("inode", ROOT_INO))
        if why is not None:
            raise fmt.CorruptError("log store root directory damaged on "
                                   "flash (%s)" % why)
        raise fmt.CorruptError("log store has no root directory")
    s.stats["mount_bytes_read"] = s.stats["bytes_read"] - before
    s.mounting = False
    s.hdr_addr = -1
    if s.damage:
        # the index complete: a block whose header was rebuilt is judged
        getattr(s, "_settle_damage")(True)


def _presize(s, n, count, ino):
    """Lay the index out in one run before pass 2, whose transients (the
    waiting records, the nodes read, a block's lists) came and went
    between the inserts and, freed, left the index's chunks scattered
    among holes: entry rows for the n dirent nodes pass 1 counted (dead
    ones included, so at most _ROWS_MAX), the entry index at the size
    those rows take, inode pages (with the pages dict's keys) for the
    count inode and delete nodes, up to the page of the highest ino (the
    lowest pages: inode numbers are handed out densely).  Only on empty
    tables.  Everything is allocated before anything is set: a
    MemoryError leaves the tables as they were, to grow insert by insert
    as before.  _settle_mount gives back what stays unused.  (The
    argument names are ones the store interns anyway.)"""
    ents = s.entries
    ino_t = s.inodes
    if ents.n or ino_t.n:
        return
    # n counts dead dirents too: a file renamed over and over leaves
    # thousands of them for one name, and rows laid out for them all
    # (64 KB at the cap) left pass 2 short of heap; names follow the
    # inodes (a name an inode, bar links and whiteouts: more grow as
    # before)
    rows = min(n, _ROWS_MAX, 2 * ino + 32)
    cap = ents.mask + 1
    while 4 * rows > 3 * cap:
        cap *= 2
    pages = min(ino // PAGE + 1, (count + PAGE - 1) // PAGE + 1)
    per = min(cap, SLOTS)
    free = getattr(gc, "mem_free", None)
    if free is not None:
        # (MicroPython) only with _PASS2_ROOM left beside it for pass 2's
        # transients: else the tables grow insert by insert.  Not
        # collected first: the chunks would fill the holes of the
        # garbage freed, not one run (mem_free counting no garbage errs
        # on the safe side)
        if 12 * rows + 2 * cap + 8 * PAGE * pages + _PASS2_ROOM > free():
            return
    try:
        # the dict and the lists first, each chunk copied from one buffer
        # of zeros (array(code, range(n)) leaves a range and an iterator
        # freed beside each chunk: holes in the run)
        pd = {}
        for p in range(pages):
            pd[p] = p
        sl = [None] * (cap // per) if cap > ents.mask + 1 else None
        got = [None] * ((rows + ROWS - 1) // ROWS)
        got2 = [None] * pages
        zs = bytes(2 * per)
        zr = bytes(12 * ROWS)
        zp = bytes(8 * PAGE)
        for i in range(len(sl or ())):
            sl[i] = array("H", zs)
        for i in range(len(got)):
            got[i] = array("I", zr)
        for i in range(pages):
            got2[i] = array("I", zp)
        zs = zr = zp = None
    except MemoryError:
        return
    # nothing allocates from here on
    if sl is not None:
        ents._index(cap, sl, False)
    ents.chunks = got
    ino_t.chunks = got2
    ino_t.pages = pd
    ino_t.n = pages * PAGE


def _settle_mount(s, data, pending=False):
    """After mount indexing: replay data per inode in version order,
    drop what belongs to no live inode, and tombstones nothing needs.
    pending: replay only the buckets of inodes whose nodes are all read
    (data.pending, see MountData), during the second pass."""
    for ino, nodes in data.per_inode(pending, s.streams):
        birth = s._birth(ino)
        if birth is None:
            for nd in nodes:
                s._kill(nd.addr, nd.size())
            continue
        for nd in nodes:            # in replay_key order
            if nd.eff < birth:
                s._kill(nd.addr, nd.size())
            else:
                s._index(nd)
        st = s.stamps.get(ino)
        if st is not None:
            # the stamp that won: the records leave it on flash
            for nd in nodes:
                if nd.addr == st[_STAMP_ADDR]:
                    f = fmt.parse_body(_NODE_DATA, s.blocks.read(
                        nd.addr + fmt.hdr_size(nd.flags),
                        fmt.data_prefix(nd.flags)), nd.blen, nd.flags)
                    s.stamps[ino] = \
                        st[:_STAMP_MTIME] + f[3] + st[_STAMP_VER:]
        nodes = None
        # the replay counted its dead bytes; the map loads again on use
        s._evict(ino)
    if pending:
        return
    data.chunks = None
    # the tombstones to drop listed, not every ino (a list of them all
    # was one block of 8 KB at 1,000 inodes on a 64-bit port, in a
    # heap the mount leaves in small pieces)
    drop = []
    for ino in s.inodes:
        rec = s.inodes.get(ino)
        if rec[0] is None and rec[4] == 0:
            s._kill(rec[2], rec[3])
            drop.append(ino)
    for ino in drop:
        del s.inodes[ino]
    ents = s.entries
    for ino in list(ents.heads):
        birth = s._birth(ino)
        for r in ents.rows(ino):
            rec = ents.rec(r)
            if _stale(s, birth, rec):
                ents.drop(r, ino)
    for ino in list(s.meta):
        birth = s._birth(ino)
        sub = s.meta[ino]
        for key in list(sub):
            if _stale(s, birth, sub[key]):
                del sub[key]
        if not sub:
            del s.meta[ino]
    for ino in list(s.links):
        birth = s._birth(ino)
        rec = s.links[ino]
        if birth is None or rec[1] < birth:
            s._kill(rec[2], rec[3])
            del s.links[ino]
    if s.damage:     # only a mount that found some settles it
        getattr(s, "_settle_damage")()
    # a dirent naming an inode that does not exist can only come from
    # damage: drop it (fsck reports it) rather than hand out a dead ino
    # -- unless the damage is known: that inode answers EIO instead.
    # The ino is on flash: one dirent read per name (a node failing
    # its CRCs is left for the lookup that reads it to report).
    for parent in list(ents.heads):
        for r in ents.rows(parent):
            rec = ents.rec(r)
            f = ents.fields(r, None) if rec[0] is True else None
            if f is not None and not s.inodes.live(f[1]) and \
                    ("inode", f[1]) not in s.damaged:
                s.repairs.append("dropped dirent %r in dir %d: inode"
                                    " %d missing" % (f[2], parent, f[1]))
                s._kill(rec[2], rec[3])
                ents.drop(r, parent)
    top = 0
    for ino in s.inodes:
        if ino > top:
            top = ino
    s.next_ino = max(top + 1, ROOT_INO + 1)
    if s.void_recs and not s.garbage_blocks:
        getattr(s, "_drop_voids")()
    if s.reset_rec is not None:
        getattr(s, "_drop_reset_if_done")()
    # what _presize laid out that the mount left unused, given back: the
    # entry row chunks past the rows used, inode pages with no row
    ents = s.entries
    del ents.chunks[(ents.n + ROWS - 1) // ROWS:]
    cap = 32
    while 4 * ents.count > 3 * cap:
        cap *= 2
    if ents.mask + 1 > max(cap, 4 * ents.n):
        # laid out for dirent nodes most of which were dead: the index
        # sized for the rows (a checkpoint refuses one over 4 slots a row)
        try:
            sl = ents._grown(cap, ents.wide is not None)
        except MemoryError:
            # (only allocates: the larger index stays, and works; a
            # checkpoint of it is refused, the next mount scans)
            sl = None
        if sl is not None:
            del sl[cap // min(cap, SLOTS):]
            ents._index(cap, sl, ents.wide is not None)
            for q in range(ents.n):
                if ents.chunks[q // ROWS][q % ROWS * 3 + 2]:
                    ents._place(q)
            ents.ck = None      # (the slot it found is the old index's)
    s.inodes.trim()


def _stale(s, birth, rec):
    """At mount: is this entry or metadata record of an inode born at
    version birth (None: not live) dead (killed then)?  Older than
    the inode, or a tombstone no older node needs.  An entry's version
    is read from its node only when its block holds nodes older than
    the birth (the block's lowest version says so)."""
    if birth is None or (rec[0] is None and rec[4] == 0) or \
            (rec[1] < birth if rec[1] is not None else
             s.blocks.minver[rec[2] // s.es] < birth and
             s._rec_ver(rec) < birth):
        s._kill(rec[2], rec[3])
        return True
    return False
