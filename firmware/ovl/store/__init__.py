"""The writable upper layer: a log-structured store on raw flash.

Every change is a transaction: a run of nodes appended to the log (erase
blocks), the last one flagged COMMIT.  Mount rebuilds a RAM index from the
block summaries (or a full scan); a transaction whose commit never reached
flash is discarded, so each one is visible all-or-nothing.  Newest version
wins per key; garbage collection copies live nodes (keeping their version)
into the head of the log before it erases a block.  docs/STORE.md tells the
story, docs/FORMAT.md gives the bytes.
"""

import struct

from ovl import compat
from ovl.compat import const
from ovl.flash import BadBlockError
# (blocks and index by their names, which the package holds anyway as its
# submodules: each name imported from them was one more global, the
# package's dict of names growing to the next of its sizes, 29 and 37
# slots of 16 B)
from ovl.store import format as fmt, blocks, index

ROOT_INO = 1
WHITEOUT = -1          # lookup()/listdir() value of a whiteout entry

RESERVED_BLOCKS = 2    # free blocks plain writes leave alone: deletions
                       # may take one, GC the last (so it always progresses)
_EXTENT_CACHE = const(2)     # files whose extent maps stay in RAM
_INODE_CACHE = const(2)      # inodes whose attributes stay in RAM (the board
                             # job's write reads as much from flash with 2
                             # as with 4: a walk's root and directory; 4 of
                             # each kept 1.7 KB more through it, and it
                             # passed 1.5 KiB higher: docs/FIT.md)
_VERIFIED = const(8)         # data nodes whose CRCs a read remembers as checked
_TXN_RAM = const(4096)       # data bytes a Txn holds before it streams them
                             # to flash as provisional nodes

_FF4 = const(b"\xff\xff\xff\xff")  # four bytes of erased flash
# The format's node types, flags, layouts and limits this module names:
# private consts here and in ovl.store.format (which answers their public
# names to the rarer modules, the host tools and tests, through its
# __getattr__; tests/test_store_block_columns.py checks they agree), so a
# board's mount path keeps no global or interned name for them.
_NODE_INODE = const(0x01)
_NODE_DELETE = const(0x02)
_NODE_DIRENT = const(0x03)
_NODE_DATA = const(0x04)
_NODE_TRUNCATE = const(0x05)
_NODE_SYMLINK = const(0x06)
_NODE_META = const(0x07)
_NODE_VOID = const(0x08)
_NODE_SUMMARY = const(0x0A)
_F_TRUNC = const(0x02)
_F_PROV = const(0x08)
_F_WIDE = const(0x20)
_NODE_HDR_SIZE = const(24)
_SUMMARY_TAIL = const("<II")
_SUMMARY_TAIL_SIZE = const(8)
_SUMMARY_MAGIC = const(0x6D6D7573)
_KEY_PREFIX = const(12)
_INODE_BODY_SIZE = const(60)
_DIRENT_REMOVED = const(0)
_DIRENT_WHITEOUT = const(0xFFFFFFFF)
# a block's states (ovl.store.blocks: FREE, OPEN, FULL, UNKNOWN; the same
# numbers as private consts, so this module holds no name for each:
# tests/test_store_block_columns.py checks they agree)
_FREE = const(0)
_OPEN = const(1)
_FULL = const(2)
_UNKNOWN = const(3)

# The errors this module raises, by their place in ovl.store.errors'
# FAILURES (imported at the raise: their messages are that module's)
_E_U32 = const(0)
# 1, 2: a flash too small or with too small blocks (ovl.store.mount's
# init: _E_BLOCKS, _E_BLOCK_SIZE)
_E_NEGATIVE_OFFSET = const(3)
_E_READONLY = const(4)
# 5: no good block left to write to (ovl.store.write's)
# 6-13: a full store, a node too large, a finished txn, no inode
# number left, a bad attribute, link or meta key or value
# (ovl.store.write's)
# Fields of the records kept per committed stream (store.streams: txn id
# -> [version of its NODE_COMMIT, its addr, its size, blocks holding its
# provisional nodes]) and per newest stamp (store.stamps: ino -> (file
# size, mtime, ctime, version, addr, node size)).
_STREAM_VER = const(0)
_STREAM_ADDR = const(1)
_STREAM_NSIZE = const(2)
_STREAM_BLOCKS = const(3)
_STAMP_FSIZE = const(0)
_STAMP_MTIME = const(1)
_STAMP_CTIME = const(2)
_STAMP_VER = const(3)
_STAMP_ADDR = const(4)
_STAMP_NSIZE = const(5)


class NoSpace(Exception):
    """Internal: the writer ran out of erased blocks."""


class Inode:
    """Attributes of one upper inode (treat as read-only)."""

    # An attribute at its usual value is the class's: each one an instance
    # sets grows its table (MicroPython reallocates it 6 times for 11)
    uid = gid = flags = rdev = 0
    nlink = 1
    # (and the rest at 0, so that Inode.attrs(Inode) gives a new inode's
    # attributes without an instance made for them: put_inode)
    mode = mtime = ctime = size = 0

    def __init__(self, ino, mode=0, uid=0, gid=0, mtime=0, ctime=0, size=0,
                 nlink=1, flags=0, rdev=0, birth=0):
        self.ino = ino
        self.mode = mode
        self.mtime = mtime
        self.ctime = ctime
        self.size = size
        self.birth = birth     # version of the node that created it
        if uid:
            self.uid = uid
        if gid:
            self.gid = gid
        if nlink != 1:
            self.nlink = nlink
        if flags:
            self.flags = flags
        if rdev:
            self.rdev = rdev

    def attrs(self):
        return {"mode": self.mode, "uid": self.uid, "gid": self.gid,
                "mtime": self.mtime, "ctime": self.ctime, "size": self.size,
                "nlink": self.nlink, "flags": self.flags, "rdev": self.rdev}


def _key_bytes(key):
    """The bytes of a name or meta key: a str's UTF-8, a name listdir
    decoded with surrogateescape back to its own bytes (MicroPython
    ignores the handler: its str holds them as they are)."""
    if isinstance(key, str):
        return key.encode("utf-8", "surrogateescape")
    return bytes(key)


def _u32(value, what):
    if not isinstance(value, int) or value < 0 or value > 0xFFFFFFFF:
        from ovl.store import errors
        raise errors.error(_E_U32, what, value)
    return value


class LogStore:
    # files whose extent maps stay loaded (tests set 1 to evict on every
    # use); CPython (embedded Linux, the host tools, the crash campaign's
    # thousands of reads) keeps 8: a map dropped is read again from flash
    extent_cache = _EXTENT_CACHE if compat.MICROPYTHON else 8
    txn_ram = _TXN_RAM               # data bytes a Txn holds before spilling

    def __init__(self, flash, readonly=False, checkpoints=True):
        # the store's state is set up once a mount or format, by
        # ovl.store.mount's init: loaded for it and released after, as
        # for the mount itself (held by LogStore.mount and format, which
        # have it loaded), so its code leaves the heap (docs/STORE.md,
        # "Code layout").  The counters' dict is made here: keys of over
        # 10 characters are string objects of the module whose code makes
        # the dict, so one made there kept 512 B of the released module
        self.stats = {"bytes_read": 0, "bytes_programmed": 0, "programs": 0,
                      "erases": 0, "gc_runs": 0, "gc_copied_bytes": 0,
                      "mount_bytes_read": 0, "blocks_retired": 0,
                      "summaries_used": 0, "blocks_scanned": 0,
                      "corrupt_nodes": 0, "torn_tails": 0,
                      "gc_refused": 0, "bytes_summary": 0,
                      "bytes_padded": 0, "gc_padded_bytes": 0}
        compat.call_released(__name__ + ".mount", "init",
                             (self, flash, readonly, checkpoints))

    # ===== erase and retire: the block table's, then the caches' ========

    def _erase(self, b):
        """Erase block b and write its header; False if it went bad."""
        if not self.blocks.erase(b, self.next_txn):
            self._retire(b)         # it went bad: retired (ovl.store.damage)
            return False
        self.garbage_blocks.discard(b)
        self.verified_nodes = [a for a in self.verified_nodes
                               if a // self.es != b]
        for ino in list(self.inode_lru):
            if self.inode_cache[ino][0] // self.es == b:   # reused later
                del self.inode_cache[ino]
                self.inode_lru.remove(ino)
        return True

    def _kill(self, addr, nsize):
        if not self.replaying:
            self.blocks.dead[addr // self.es] += nsize

    def __getattr__(self, name):
        """LogStore's and Txn's __getattr__: what a healthy store's mount,
        reads and writes never run lives in modules imported at first use;
        ovl.store.lazy, imported at the first name the class lacks, says
        which (docs/STORE.md, "Code layout")."""
        from ovl.store import lazy
        return lazy.method(self, name, isinstance(self, Txn))

    # ===== format and mount: ovl.store.mount =============================

    @classmethod
    def format(cls, flash, first_counter=1):
        """Erase every block (keeping erase counts found in old headers) and
        write an empty store with a root directory.  Returns it mounted.
        first_counter starts versions and txn ids elsewhere than 1 (tests
        run stores across 2**32 with it).  (ovl.store.mount, imported
        for the call.)"""
        # the writer first (the format writes the root with it): loaded
        # below the mount module, whose release then leaves its room
        # whole at the top, not a hole under the writer
        from ovl.store import write
        return compat.call_released(__name__ + ".mount", "format",
                                    (cls, flash, first_counter))

    @classmethod
    def mount(cls, flash, readonly=False, checkpoints=True):
        # compat.call_released's import and release, inline: the module
        # is held across the construction (init) and the mount, and the
        # mount's peak holds no frame of the helper
        held = "mount" in globals()
        try:
            from ovl.store import mount
            s = cls(flash, readonly, checkpoints)   # (mount.init: loaded)
            mount.mount(s)          # (docs/STORE.md, "Mount")
        finally:
            if not held and compat.MICROPYTHON:
                import sys
                sys.modules.pop(__name__ + ".mount", None)
                globals().pop("mount", None)
        return s

    def _block_nodes(self, b, mounting=False, headers_only=False,
                     again=False, visit=None, only=None):
        """(nodes, end, clean, summarized) of block b: from its summary when
        it has a good one, else by reading node after node.  mounting: junk
        is reported as damage; headers_only: see read_summary; again: the
        second read at mount (counted once); visit: see _scan; only: see
        read_summary (a run-time read of a whole block's log)."""
        if b != self.wblock:
            got = fmt.read_summary(self.blocks.read, b * self.es, self.es,
                               self.data_start, headers_only, visit, only,
                               self.blocks.read_kept)
            if got is not None:
                if not again:
                    self.stats["summaries_used"] += 1
                nodes, end = got
                return nodes, end, True, True
        nodes, end, clean, junk = self._scan(b, visit, only)
        if not again:
            self.stats["blocks_scanned"] += 1
        if mounting and junk:
            self._note_junk(b, junk)        # damage: ovl.store.damage
        return nodes, end, clean, False

    def _scan(self, b, visit=None, only=None, heads=False):
        """Walk block b's log from its start, checking every CRC.  Returns
        (nodes, end, clean, junk) (with visit, each node is handed to it
        instead of listed; with only, see read_summary, a node whose header
        checks out and is no data or truncation of inode `only` is passed
        over unread: the open block holds only whole nodes).  A node whose
        header checks out but whose body does not comes back damaged (its
        key is under the header CRC); bytes that are no node are skipped up
        to the next good header and listed in junk as (addr, length) -- damage, since a cut never leaves
        good nodes after its remains -- or, when no good node follows, end
        the log there (clean is then False: a torn tail).  heads: a node
        type whose nodes are handed over unread when their header (with
        its protected prefix) checks out, fields None: the checkpoint
        loader's pieces, each read whole, and checked, when it uses it;
        every other node is read whole, so a torn one (a summary too)
        still ends the log."""
        es = self.es
        base = b * es
        pos = self.data_start
        unit = self.prog_unit
        nodes = []
        found = 0
        out = nodes.append if visit is None else visit
        junk = []
        limit = self.log_end
        closed = False
        raw = b""
        while pos + _NODE_HDR_SIZE <= limit:
            # the first 4 bytes say whether anything is there at all
            raw = self.blocks.read(base + pos, 4)
            if raw == _FF4:
                if pos % unit == 0:
                    break                   # the end of the log
                pos = fmt.align(pos, unit)      # padding up to the next unit
                continue
            raw += self.blocks.read(base + pos + 4, _NODE_HDR_SIZE - 4)
            if raw[3] & _F_WIDE:
                raw += self.blocks.read(base + pos + _NODE_HDR_SIZE,
                                        fmt.hdr_size(_F_WIDE) -
                                        _NODE_HDR_SIZE)
            nd = None
            hf = fmt.header_fields(raw)
            if heads and hf is not None and hf[0] == heads and \
                    pos + fmt.node_size(hf[2], hf[1]) <= limit and \
                    fmt.checked_header(raw, self.blocks.read_kept(
                        base + pos + hf[7],
                        fmt.protected_len(hf[0], hf[1], hf[2]))) is not None:
                found += 1
                out(fmt.Node(base + pos, hf[0], hf[1], hf[2], hf[3], hf[4],
                             None, None))
                pos += fmt.node_size(hf[2], hf[1])
                continue
            if only is not None and hf is not None and \
                    pos + fmt.node_size(hf[2], hf[1]) <= limit:
                head = self.blocks.read_kept(base + pos, hf[7] + fmt.
                                             protected_len(hf[0], hf[1],
                                                           hf[2]))
                if fmt.checked_header(head) is not None and \
                        hf[0] != _NODE_SUMMARY and \
                        (hf[0] != _NODE_DATA and hf[0] != _NODE_TRUNCATE or
                         hf[2] >= 4 and struct.unpack_from(
                             "<I", head, hf[7])[0] != only):
                    found += 1
                    pos += fmt.node_size(hf[2], hf[1])
                    continue
            if hf is not None and pos + fmt.node_size(hf[2], hf[1]) <= limit:
                body = self.blocks.read(base + pos + hf[7], hf[2])
                nd = fmt.node_from(base + pos, raw, body)
            if nd is None:
                nxt = self._resync(base, pos + 4, limit)
                if nxt is None:
                    break                   # nothing good after: a tail
                junk.append((base + pos, nxt - pos))
                pos = nxt
                continue
            if nd.damage is not None and self._resync(
                    base, pos + nd.size(), limit) is None:
                break       # its program never completed: a torn tail
            if nd.type == _NODE_SUMMARY:
                # written only when a block is closed: a cut before its
                # tail must not leave the block open for appends
                closed = True
            else:
                found += 1
                out(nd)
            pos += nd.size()
        end = pos
        if not found and not junk and end == self.data_start and raw == _FF4:
            # looks unused since its erase: checked in full when opened
            return nodes, end, True, junk
        # junk after the log end means a program was cut there; a summary
        # tail alone means the block was closed (its summary is damaged)
        clean = self._erased(base + end, limit - end)
        if not clean:
            tail = struct.unpack(_SUMMARY_TAIL, self.blocks.read(
                base + limit, _SUMMARY_TAIL_SIZE))
            if tail[1] == _SUMMARY_MAGIC and tail[0] == end:
                # the summary itself is what fails: its tail was written
                # after it, so this is damage, not the remains of a cut
                junk.append((base + end, limit - end))
                return nodes, limit, True, junk
        if clean and (closed or
                      not self._erased(base + limit, _SUMMARY_TAIL_SIZE)):
            end = limit
        return nodes, end, clean, junk

    def _erased(self, addr, n):
        # one buffer read into again and again: checking a 4 KiB block
        # through read() allocated 12 KB (each read copies twice)
        buf = bytearray(256)
        while n > 0:
            if n < len(buf):
                buf = bytearray(n)
            self.stats["bytes_read"] += len(buf)
            self.flash.readinto(addr, buf)
            if min(buf) != 0xFF:
                return False
            addr += len(buf)
            n -= len(buf)
        return True

    # ===== the index ======================================================

    def _put_keyed(self, table, key, value, ver, addr, nsize):
        """Newest version wins; nolder counts the older nodes of the key
        still on flash that give it a value (a tombstone must live while
        any does; an older tombstone brings nothing back, and GC counts
        none down: collect.forget_block).  After
        mount a node indexed is the newest of its key (a commit's); at
        mount the nodes come in any order, and a row's version is read
        from its node when the block's lowest version does not decide."""
        old = table.get(key)
        if old is None:
            if value is None and not self.mounting:
                self._kill(addr, nsize)     # deletes nothing: not needed
                return
            table[key] = (value, ver, addr, nsize, 0)
        elif not self.mounting or old[1] is None and \
                ver >= self.blocks.minver[old[2] // self.es] and \
                ver >= self._rec_ver(old) or \
                old[1] is not None and ver >= old[1]:
            self._kill(old[2], old[3])
            table[key] = (value, ver, addr, nsize,
                          old[4] + (old[0] is not None))
        else:
            self._kill(addr, nsize)
            table[key] = (old[0], old[1], old[2], old[3],
                          old[4] + (value is not None))

    def _index(self, nd):
        t = nd.type
        f = nd.fields
        addr = nd.addr
        nsize = nd.size()
        if t == _NODE_INODE:
            # the body's field tuple is the index value: small in RAM
            self._put_keyed(self.inodes, f[0], f, nd.ver, addr, nsize)
            st = self.stamps.get(f[0])
            if st is not None and st[_STAMP_VER] < nd.ver:
                self._stamp_end(f[0])
        elif t == _NODE_DELETE:
            self._put_keyed(self.inodes, f[0], None, nd.ver, addr, nsize)
        elif t == _NODE_DIRENT:
            parent, ino, name = f
            if ino == _DIRENT_REMOVED:
                value = None
            elif ino == _DIRENT_WHITEOUT:
                value = WHITEOUT
            else:
                value = ino
            self._put_keyed(self.entries, (parent, name), value, nd.ver,
                            addr, nsize)
        elif t == _NODE_META:
            ino, key, value = f
            m = self.meta.get(ino)
            if m is None:
                m = self.meta[ino] = {}
            self._put_keyed(m, key, value, nd.ver, addr, nsize)
        elif t == _NODE_SYMLINK:
            self._put_keyed(self.links, f[0], f[1], nd.ver, addr, nsize)
        elif t == _NODE_VOID:
            self.void_recs.append((addr, nsize))
        elif t == _NODE_DATA:
            self._load(f[0])
            self.data_blocks.add(f[0], addr // self.es)
            roles = 1
            if nd.flags & _F_TRUNC:
                roles += 1
            if f[3] is not None and self._stamp_add(f[0], nd):
                roles += 1
            if roles > 1:
                self.roles[addr] = roles
            # into the extent map (see "data extents" below)
            # (the last: where its file bytes start, format_rare.data_at)
            ent = [nd.ver, f[1], f[2], addr, nsize, 0,
                   fmt.hdr_size(nd.flags) + fmt.data_prefix(nd.flags)]
            pieces = self.extents.get(f[0])
            if pieces is None:
                pieces = self.extents[f[0]] = []
            start = f[1]
            end = start + f[2]
            if f[2] == 0:
                self._role_dead(addr, nsize)
            else:
                if not pieces or pieces[-1][1] <= start:
                    pieces.append((start, end, ent))      # the common append
                else:
                    pieces.insert(self._cut(pieces, start, end),
                                  (start, end, ent))
                ent[5] = 1
                if len(self.truncs.get(f[0]) or ()) > 1:
                    self._end_hidden_truncs(f[0])   # (a rewrite: none to end)
            if nd.flags & _F_TRUNC:
                self._trunc_add(f[0], [nd.ver, f[1] + f[2], addr, nsize])
        elif t == _NODE_TRUNCATE:
            self._load(f[0])
            self.data_blocks.add(f[0], addr // self.es)
            self._trunc_add(f[0], [nd.ver, f[1], addr, nsize])

    def _counts(self, nd):
        """Is a node on flash part of the committed state (at run time)?
        (A provisional node gets its replay position, eff, on the way.)"""
        if nd.flags & _F_PROV:
            st = self.streams.get(nd.txn)
            if st is None:
                return False
            nd.eff = st[_STREAM_VER]
            return nd.eff >= self.reset_ver
        if nd.ver < self.reset_ver or nd.txn >= self.next_txn or \
                nd.txn == self.indexing:
            return False
        for first, last in self.void_ranges:
            if first <= nd.txn <= last:
                return False
        return True

    def _load(self, ino):
        """Make ino's extent map resident: replay its data and truncate
        nodes, read from the blocks that hold them, in version order."""
        if self.mounting or self.replaying:
            return
        if ino in self.loaded:
            if self.loaded[-1] != ino:
                self.loaded.remove(ino)
                self.loaded.append(ino)
            return
        nodes = []
        held_in = self.data_blocks.blocks(ino)
        # (a new file has no blocks: no birth read at its first write)
        birth = self._birth(ino) if held_in else None
        if birth is not None:
            for b in held_in:
                for nd in self._block_nodes(b, only=ino)[0]:
                    if (nd.type == _NODE_DATA or nd.type == _NODE_TRUNCATE) \
                            and nd.fields is not None \
                            and nd.fields[0] == ino and self._counts(nd) \
                            and nd.eff >= birth:
                        nodes.append(nd)
        nodes.sort(key=index.replay_key)   # as mount replays (index.py)
        self.loaded.append(ino)
        self.replaying = True
        try:
            for nd in nodes:
                self._index(nd)
        finally:
            self.replaying = False
        # Forget the blocks that hold only dead nodes of ino.  A dead node
        # changes nothing when replayed (newer nodes hide all it did: the
        # same reasoning that lets GC erase it), so the next load need not
        # read those blocks' summaries -- without this, every load (GC
        # checks liveness by loading) re-read each block a file had ever
        # been rewritten into and not yet collected.
        es = self.es
        keep = {}
        for ps, pe, ent in self.extents.get(ino) or ():
            keep[ent[3] // es] = True
        for t in self.truncs.get(ino) or ():
            keep[t[2] // es] = True
        st = self.stamps.get(ino)
        if st is not None:
            keep[st[_STAMP_ADDR] // es] = True
        for b in self.data_blocks.blocks(ino):
            if b not in keep:
                self.data_blocks.discard(ino, b)
        while len(self.loaded) > self.extent_cache:
            self._evict(self.loaded[0])

    def _evict(self, ino):
        if ino in self.loaded:
            self.loaded.remove(ino)
        for ps, pe, ent in self.extents.pop(ino, None) or ():
            self.roles.pop(ent[3], None)
        for t in self.truncs.pop(ino, None) or ():
            self.roles.pop(t[2], None)

    def _rec_ver(self, rec):
        """The version of an index record: a dict's keeps it; a table
        row's is in the header of its node, read from flash here.  When
        that header fails its CRC the node came from its block's summary
        (a scan indexes no such node), which gives the version under its
        own CRC; failing that too, NO_VER: the record counts as newest,
        so a damaged node is never outvoted by an older one (a deleted
        file or a removed name coming back) and its damage shows when it
        is read."""
        if rec[1] is not None:
            return rec[1]
        addr = rec[2]
        if self.hdr_addr == addr:
            return self.hdr_ver     # the node a name compare just read
        hf = self._node_key(addr)[0]
        if hf is not None:
            return hf[3]
        return self._summary_ver(addr)      # damage: ovl.store.damage

    def _node_key(self, addr):
        """(header fields, raw bytes) of the node at addr, reading only
        its header and the body's key prefix (KEY_PREFIX bytes: an inode
        node's ino and birth), which the header CRC covers: 36 bytes (40
        with a wide header).  The fields are None when the CRC fails."""
        n = _NODE_HDR_SIZE + _KEY_PREFIX
        raw = self.blocks.read_kept(addr, n)
        if raw[3] & _F_WIDE:
            raw = self.blocks.read_kept(addr, n - _NODE_HDR_SIZE +
                                        fmt.hdr_size(_F_WIDE))
        return fmt.checked_header(raw), raw

    def _birth(self, ino):
        """The birth version of a live inode (None: not live), from its
        inode node (the index keeps no version): the inode cache's body,
        else the node's key prefix read from flash.  0 when that fails
        its CRC (a get reports the damage): nothing of the inode is then
        taken for older than it."""
        addr = self.inodes.addr(ino)
        if addr < 0:
            return None
        got = self.inode_cache.get(ino)
        if got is not None and got[0] == addr:
            return got[1][1]
        hf, raw = self._node_key(addr)
        if hf is None or hf[0] != _NODE_INODE or hf[2] < _KEY_PREFIX:
            return 0
        return struct.unpack_from("<Q", raw, hf[7] + 4)[0]

    # ----- data extents ---------------------------------------------------
    # extents[ino] is the visible map: sorted, non-overlapping pieces
    # (start, end, entry); entry = [ver, off, length, addr, nsize, npieces].
    # A data node is live while it shows in at least one piece.

    def _first_piece(self, pieces, pos):
        """Index of the first piece ending after pos."""
        lo, hi = 0, len(pieces)
        while lo < hi:
            mid = (lo + hi) // 2
            if pieces[mid][1] <= pos:
                lo = mid + 1
            else:
                hi = mid
        return lo

    # ===== reading ========================================================

    def get(self, ino):
        """ino's attributes (an Inode), or None.  The body of its newest
        inode node is read from flash and checked (the last _INODE_CACHE
        inodes read are kept); EIO when the node fails its CRC."""
        if self.damaged:
            self._check_damage("inode", ino)
        rec = self.inodes.get(ino)
        if rec is None or rec[0] is None:
            return None
        addr = rec[2]
        lru = self.inode_lru
        got = self.inode_cache.get(ino)
        if got is not None and got[0] == addr:
            body = got[1]
            if lru[-1] != ino:
                lru.remove(ino)
                lru.append(ino)
        else:
            raw = self.blocks.read_kept(addr, rec[3])
            hf = fmt.checked_header(raw)
            body = None
            if hf is not None and hf[0] == _NODE_INODE and \
                    hf[2] == _INODE_BODY_SIZE and \
                    len(raw) >= hf[7] + hf[2] and \
                    compat.crc32(raw[hf[7]:hf[7] + hf[2]]) == hf[5]:
                body = struct.unpack_from(fmt.INODE_BODY, raw, hf[7])
            raw = None
            if body is None or body[0] != ino:
                raise self._damaged_inode(addr, ino)    # (ovl.store.damage)
            if got is None:
                lru.append(ino)
                if len(lru) > _INODE_CACHE:
                    del self.inode_cache[lru.pop(0)]
            elif lru[-1] != ino:
                lru.remove(ino)
                lru.append(ino)
            self.inode_cache[ino] = (addr, body)
        i, birth, mode, uid, gid, nlink, flags, rdev, size, mt, ct = body
        st = self.stamps.get(ino)
        if st is not None:
            size, mt, ct = st[_STAMP_FSIZE], st[_STAMP_MTIME], st[_STAMP_CTIME]
        return Inode(i, mode, uid, gid, mt, ct, size, nlink, flags, rdev,
                     birth)

    def lookup(self, parent, name):
        """The ino (or WHITEOUT) parent names name, or None.  Reads the
        dirent node of each entry whose name hash matches (one, unless
        two names collide) to compare names; EIO if it is damaged."""
        if self.damaged:
            self._check_damage("dir", parent)
        if parent not in self.entries.heads:
            return None
        rec = self.entries.get((parent, _key_bytes(name)))
        if self.damaged:
            self._check_damage("dir", parent)     # the read may have found some
        if rec is None or rec[0] is not True:
            return None if rec is None else rec[0]
        return self.entries.f[1]    # the dirent node the match read

    def listdir(self, parent):
        """(name, ino or WHITEOUT) of parent's entries in name order; the
        names are read from flash, one dirent node each, all of them
        before the first is handed out (to sort them)."""
        if self.damaged:
            self._check_damage("dir", parent)
        ents = self.entries
        out = []
        for r in ents.rows(parent):
            v = ents.rec(r)[0]
            if v is not None:
                f = ents.fields(r, parent)
                if f is None:
                    break
                out.append((f[2], f[1] if v is True else v))
        if self.damaged:
            self._check_damage("dir", parent)
        out.sort()      # by name: a directory's names are unique
        # (one an older MicroPython ovl stored that is not UTF-8 decodes
        # as the host's do; MicroPython ignores the handler)
        return ((name.decode("utf-8", "surrogateescape"), v)
                for name, v in out)

    def _dirent_at(self, addr, nsize, parent):
        """The fields (parent, ino, name) of the dirent node at addr (an
        entry of parent), read from flash and checked.  None when it fails
        its CRCs: that is noted as damage, and parent answers EIO, as for
        damage mount finds (parent None: only None)."""
        raw = self.blocks.read_kept(addr, nsize)
        hf = fmt.checked_header(raw)
        if self.mounting:
            self.hdr_addr = -1 if hf is None else addr
            self.hdr_ver = -1 if hf is None else hf[3]
        if hf is not None and hf[0] == _NODE_DIRENT:
            body = raw[hf[7]:hf[7] + hf[2]]
            if len(body) == hf[2] and compat.crc32(body) == hf[5]:
                return fmt.parse_body(_NODE_DIRENT, body, hf[2])
        if parent is not None:
            self._damaged_dirent(addr, parent)      # (ovl.store.damage)
        return None

    def get_meta(self, ino, key):
        m = self.meta.get(ino)
        if m is None:
            return None
        rec = m.get(_key_bytes(key))
        return None if rec is None else rec[0]

    def read(self, ino, offset, n):
        """Pieces (offset, length, bytes or None) covering [offset,
        offset+n) clipped to the inode's size; None = not stored here."""
        inode = self.get(ino)
        if inode is None:
            raise compat.oserror(compat.ENOENT, "inode %d" % ino)
        end = min(offset + n, inode.size)
        out = []
        if offset < 0:
            from ovl.store import errors
            raise errors.error(_E_NEGATIVE_OFFSET)
        if end <= offset:
            return out
        self._load(ino)
        pieces = self.extents.get(ino) or []
        pos = offset
        i = self._first_piece(pieces, offset)
        while pos < end and i < len(pieces):
            ps, pe, ent = pieces[i]
            if ps >= end:
                break
            if ps > pos:
                out.append((pos, ps - pos, None))
                pos = ps
            stop = min(pe, end)
            addr = ent[3]
            if addr not in self.verified_nodes:
                # check the data node's CRCs before its bytes are handed
                # out (the last _VERIFIED nodes checked are not read
                # twice); EIO if they fail
                raw = self.blocks.read_kept(addr, ent[4])
                hf = fmt.checked_header(raw)
                ok = hf is not None and \
                    compat.crc32(raw[hf[7]:hf[7] + hf[2]]) == hf[5]
                raw = None
                if not ok:
                    raise self._damaged_data(addr, ino, ent[0])   # (damage)
                self.verified_nodes.append(addr)
                if len(self.verified_nodes) > _VERIFIED:
                    del self.verified_nodes[0]
            out.append((pos, stop - pos,
                        self.blocks.read(ent[3] + ent[6] + pos - ent[1],
                                   stop - pos)))
            pos = stop
            i += 1
        if pos < end:
            out.append((pos, end - pos, None))
        return out

    # ===== writing: ovl.store.write, imported at the first begin() =====

    def begin(self):
        if self.readonly:
            from ovl.store import errors
            raise errors.error(_E_READONLY)
        # the writer is imported at the first transaction, so a board that
        # mounts and reads never holds it; a MemoryError importing it is
        # this call's, raised before anything is placed (and the import
        # is tried again at the next)
        from ovl.store import write
        return write.Txn(self)

    # ===== reset, sync, statistics ========================================

    def sync(self):
        if self.checkpoints and not self.readonly:
            # the checkpoint code is imported only once the log moved on
            # by the last checkpoint's size (ovl.store.checkpoint.at_sync)
            # (a name of 11 characters or more in a string is no
            # interned name until the getattr runs: on a board that
            # writes no checkpoint, never)
            mark = getattr(self, "checkpoint_mark", None)
            moved = self.stats["bytes_programmed"] - (mark[0] if mark else 0)
            if moved > 0 and (mark is None or moved >= mark[1]):
                # ("checkpoint" apart: a string of 10 characters or
                # fewer is an interned name, one longer an object kept)
                compat.call_released(__name__ + "." + "checkpoint",
                                     "at_sync", (self,))
        self.flash.sync()


class Txn:
    """A transaction: what begin() returns is ovl.store.write.Txn, this
    class's subclass, loaded with the writer.  This base stays on the
    mount path for the lazy lookup of a transaction's rare calls (its
    __getattr__: ovl.store.txn_rare's) and for isinstance."""

    __getattr__ = LogStore.__getattr__
