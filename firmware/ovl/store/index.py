"""Packed tables of the log store's RAM index (docs/STORE.md, "RAM").

Records live in bytearrays and arrays, not in Python tuples, dicts or big
ints: the same code runs on CPython and on MicroPython boards, where an
int above 2**30 allocates and every tuple costs a header.
"""

from array import array

from ovl.compat import crc32, const

# (mount's packed records of data nodes waiting for their replay,
# MountData, are ovl.store.mount's: only a mount holds them)


def replay_key(nd):
    """Order in which data nodes of one inode are replayed, mount and run
    time alike (logstore.replay_order).  A provisional node takes the
    place of the NODE_COMMIT that made it count (eff), in its own version
    order among its stream's nodes.  A GC copy keeps its node's version
    but is written in a later transaction, so after a cut between copy and
    erase the copy wins in both places and the accounting agrees with
    fsck."""
    return (nd.eff, nd.ver, nd.txn, nd.addr)


# A row's packed word: nolder (4 bits, saturating: see NOLDER_MAX), the
# value's kind (2 bits, _KIND), the node size (10 bits: inode and dirent
# nodes are at most 292 bytes; never 0, so a word of 0 is a row not in
# use) and, from bit _BLOCK, in an inode's row the block of its data (14
# bits), in an entry's the low 14 bits of its link (EntryTable.link);
# under 2**30 all told: the word stays a small int on a 32-bit port.
# No version: the node at the address has it, and its birth, in its
# header and body (the store reads them where it compares them,
# docs/STORE.md "RAM").
_KIND = const(4)       # bit of the word where the value's kind starts
_SIZE = const(6)       # bit of the word where the node size starts
_BLOCK = const(16)     # bit of the word where an inode's block starts
# nolder counts up to NOLDER_MAX and then stays: a saturated count is
# never decremented (the store checks), so its tombstone is kept until a
# mount counts the older nodes afresh -- a few bytes kept, never a key
# that comes back.
NOLDER_MAX = 15


def _word(rec, old):
    """The packed word of record rec over old (whose block it keeps)."""
    if not 0 < rec[3] < 1024:
        raise ValueError("node size")
    return min(rec[4], NOLDER_MAX) | \
        (0 if rec[0] is None else 1 if rec[0] == -1 else 2) << _KIND | \
        rec[3] << _SIZE | old >> _BLOCK << _BLOCK


def fresh(code, n):
    """A new array(code) of n zeros, allocated alone: array(code,
    bytes(k)) allocates its bytes first, and that garbage, freed, left a
    hole beside every chunk the index kept (docs/STORE.md, "RAM")."""
    a = array(code, range(n))
    for i in range(n):
        a[i] = 0
    return a


def _rec(c, i):
    """The record of the row whose address is c[i], its word c[i + 1]."""
    hi = c[i + 1]
    # the value's 2 bits: 0 None (a tombstone), 1 WHITEOUT (-1), 2 True (a
    # name of an inode; a live inode)
    kind = hi >> _KIND & 3
    return (True if kind == 2 else -1 if kind else None, None, c[i],
            hi >> _SIZE & 0x3FF, hi & NOLDER_MAX)


# Inode rows sit in pages of PAGE consecutive inode numbers (the store
# hands them out densely), found by the page number: no key, no link, no
# hash.  A row is 2 words, the address and the packed word (0: no row);
# a row's number, for the mount's records, is its page's slot * PAGE +
# ino % PAGE.
PAGE = 32


class InodeTable:
    """ino -> (True for a live inode, None for a deletion (a tombstone),
    None, address, node size, nolder), like the dict of 5-tuples it
    replaces (get, [] =, del; no version: it stays on flash in the node
    at the address, setting a record ignores it).  The attributes, the
    version and the birth are not kept: the store reads them from flash
    at the address.  Set with the inode node's field tuple, True or
    None.  A page is freed with its last row."""

    def __init__(self):
        self.pages = {}       # ino // PAGE -> slot of its page in chunks
        self.chunks = []      # by slot: array('I') of PAGE rows, or None
        self.holes = 0        # slots of None
        self.n = 0            # rows the slots hold: row numbers are below
        self.count = 0        # rows in use

    def _find(self, ino):
        """The row of ino, or -1."""
        s = self.pages.get(ino // PAGE)
        if s is None or not self.chunks[s][ino % PAGE * 2 + 1]:
            return -1
        return s * PAGE + ino % PAGE

    def rec(self, r):
        return _rec(self.chunks[r // PAGE], r % PAGE * 2)

    def get(self, ino, default=None):
        r = self._find(ino)
        return default if r < 0 else self.rec(r)

    def __setitem__(self, ino, rec):
        p = ino // PAGE
        s = self.pages.get(p)
        if s is None:
            _word(rec, 0)           # (a bad size refused before a page)
            c = fresh("I", 2 * PAGE)
            if self.holes:
                s = self.chunks.index(None)
                self.chunks[s] = c
                self.holes -= 1
            else:
                s = len(self.chunks)
                self.chunks.append(c)
                self.n += PAGE
            self.pages[p] = s
        c = self.chunks[s]
        i = ino % PAGE * 2
        old = c[i + 1]
        c[i + 1] = _word(rec, old)
        c[i] = rec[2]
        if not old:
            self.count += 1

    def __delitem__(self, ino):
        r = self._find(ino)
        if r < 0:
            raise KeyError(ino)
        c = self.chunks[r // PAGE]
        c[r % PAGE * 2] = c[r % PAGE * 2 + 1] = 0
        self.count -= 1
        self.trim((ino // PAGE,))

    def trim(self, pages=None):
        """Free each of pages (page numbers; None: all) that holds no row,
        and the slots past the last page in use (a deletion; the end of a
        mount, for the pages ovl.store.mount laid out unused)."""
        for p in list(self.pages) if pages is None else pages:
            c = self.chunks[self.pages[p]]
            for i in range(1, 2 * PAGE, 2):
                if c[i]:
                    break
            else:
                self.chunks[self.pages.pop(p)] = None
                self.holes += 1
        while self.chunks and self.chunks[-1] is None:
            self.chunks.pop()
            self.holes -= 1
            self.n -= PAGE

    def live(self, ino):
        """Is ino a live inode (not unknown, not a tombstone)?"""
        return self.addr(ino) >= 0

    def addr(self, ino):
        """The address of a live inode's node, or -1 (no tuple made)."""
        r = self._find(ino)
        if r < 0:
            return -1
        c = self.chunks[r // PAGE]
        i = r % PAGE * 2
        return c[i] if c[i + 1] >> _KIND & 3 == 2 else -1

    def block(self, ino, new=None):
        """ino's block field (BlockSets; MANY when it has no row), set to
        new if given."""
        r = self._find(ino)
        if r < 0:
            return MANY
        c = self.chunks[r // PAGE]
        i = r % PAGE * 2 + 1
        if new is not None:
            c[i] = c[i] & (1 << _BLOCK) - 1 | new << _BLOCK
        return c[i] >> _BLOCK

    def __len__(self):
        return self.count

    def items(self):
        """(ino, record) of each row, page by page, over a list of the
        page numbers only (a word a page, not one a row): rows may be
        deleted meanwhile (no list() of the table needed for that); a row
        added may or may not be met."""
        for p in list(self.pages):
            s = self.pages.get(p)
            if s is not None:
                c = self.chunks[s]
                for j in range(PAGE):
                    if c[2 * j + 1]:
                        yield p * PAGE + j, _rec(c, 2 * j)

    def __iter__(self):
        for ino, rec in self.items():
            yield ino


# An entry row is 3 words in an array('I') chunk of ROWS rows: a 28-bit
# hash of its parent and name (_HASH), the address and the packed word
# (in a free row: no hash, word 0, and the address word holds the next
# free row + 1).  The link to the next entry of the same parent (row + 1,
# 0 none) shares the row while row numbers fit 16 bits: its low 14 bits
# over the packed word's 16 (where an inode's row has its block), its top
# 2 over the hash, every word under 2**30 (a small int on a 32-bit port).
# Past that the links move to chunks of ROWS words of their own (wide),
# 4 words a row as before.  Rows are found by open addressing: an index
# of slots (row + 1; 0 empty) probed linearly from the hash, in chunks of
# up to SLOTS, 16-bit while the row numbers fit, at most 3/4 full
# (doubled past that).  Heads hold row + 1 (0: none).
ROWS = 32              # rows per chunk (the table grows one chunk at a time)
SLOTS = const(256)     # index slots per chunk of the index
_SHIFT = const(8)      # log2 of SLOTS
_HASH = const(0xFFFFFFF)   # the hash's bits of a row's first word
_NARROW = const(0xFFFF)    # rows up to which links share the rows


class EntryTable:
    """(parent, name bytes) -> (True for a name of an inode, WHITEOUT (-1)
    or None for a removed name, None, address, node size, nolder); set
    with an ino, True or WHITEOUT or None.  The names and inode numbers
    stay on flash: a row keeps a 28-bit hash of parent and name and the
    entry's kind, and a row whose hash matches is compared by reading its
    dirent node (read(addr, nsize, parent) gives its fields (parent, ino,
    name), or None when it fails its CRCs; parent None: fails quietly);
    the fields of the last node so read are `f` (lookup takes the ino
    from there).  A key (parent, name, address) matches only the row
    pointing at that very node, without a read (the row of a live node
    points at it).  Each parent's entries are chained (heads: parent ->
    first row + 1) for listdir."""

    def __init__(self, read):
        self.read = read
        self.heads = {}
        self.f = None
        self.chunks = []
        self.n = 0            # rows ever used: rows are below it
        self.count = 0        # rows in use
        self.free = 0         # first free row + 1, chained through addresses
        self.wide = None      # past _NARROW rows: the link chunks
        self.slots = None
        self._index(32)       # (empty: no rows yet)
        self.ck = None        # the key last looked for, its row and the
        self.cr = -1          # slot found for it: a get then a set of the
        self.cs = 0           # same key object finds once
        self.k = 0            # ... and its hash

    def _grown(self, cap, wide):
        """The slot chunks of an index of cap slots (a power of two; 32-bit
        if wide): the present ones with chunks added, when they are whole
        chunks of that width (an index that doubles frees none, a hole),
        else new ones.  It only allocates: a MemoryError here leaves the
        index as it was (chunks past its mask are unused)."""
        per = min(cap, SLOTS)
        sl = self.slots
        if sl is None or len(sl[0]) != per or \
                wide != (self.wide is not None):
            sl = []
        while len(sl) < cap // per:
            sl.append(fresh("I" if wide else "H", per))
        return sl

    def _index(self, cap, sl=None, wide=None):
        """An empty index of cap slots for the caller to place the rows in
        (again, from their hashes in the rows: no second index is held),
        in the chunks sl of _grown (made here if None; 32-bit if wide,
        by default past _NARROW rows)."""
        if wide is None:
            wide = self.n >= _NARROW
        if sl is None:
            sl = self._grown(cap, wide)
        per = min(cap, SLOTS)
        for a in sl:
            for i in range(per):
                a[i] = 0
        self.slots = sl
        self.mask = cap - 1

    def _place(self, r):
        """Put row r in the first empty slot from its hash on (the mask is
        under 2**28: a link's bits over the hash are not in it)."""
        m = self.mask
        s = self.chunks[r // ROWS][r % ROWS * 3] & m
        while self.slots[s >> _SHIFT][s & SLOTS - 1]:
            s = (s + 1) & m
        self.slots[s >> _SHIFT][s & SLOTS - 1] = r + 1

    def hash(self, key):
        return crc32(key[1], key[0]) & _HASH

    def link(self, r, new=None):
        """Row r's link (the next row + 1 of its parent's chain, 0 none),
        set to new if given."""
        w = self.wide
        if w is not None:
            c = w[r // ROWS]
            if new is not None:
                c[r % ROWS] = new
            return c[r % ROWS]
        c = self.chunks[r // ROWS]
        i = r % ROWS * 3
        if new is not None:
            c[i] = c[i] & _HASH | new >> 14 << 28
            c[i + 2] = c[i + 2] & 0xFFFF | (new & 0x3FFF) << _BLOCK
        return c[i] >> 28 << 14 | c[i + 2] >> _BLOCK

    def _find(self, key):
        """The row of key, or -1 (self.cs: its slot, or the empty slot
        that ended the probe)."""
        if key is self.ck:
            return self.cr
        k = self.k = self.hash(key)
        m = self.mask
        s = k & m
        while True:
            r = self.slots[s >> _SHIFT][s & SLOTS - 1] - 1
            if r < 0:
                break
            c = self.chunks[r // ROWS]
            i = r % ROWS * 3
            if c[i] & _HASH == k:
                if len(key) > 2:
                    if c[i + 1] == key[2]:
                        break
                else:
                    f = self.f = self.read(c[i + 1], c[i + 2] >> _SIZE &
                                           0x3FF, key[0])
                    if f is not None and f[0] == key[0] and f[2] == key[1]:
                        break
            s = (s + 1) & m
        self.ck = key
        self.cr = r
        self.cs = s
        return r

    def rec(self, r):
        return _rec(self.chunks[r // ROWS], r % ROWS * 3 + 1)

    def get(self, key, default=None):
        r = self._find(key)
        return default if r < 0 else self.rec(r)

    def __setitem__(self, key, rec):
        r = self._find(key)
        if r < 0:
            _word(rec, 0)           # (a bad size refused before a row)
            r = self._new(key)
        c = self.chunks[r // ROWS]
        i = r % ROWS * 3 + 1
        c[i + 1] = _word(rec, c[i + 1])     # (keeps the link's bits)
        c[i] = rec[2]

    def _new(self, key):
        """A row for key (whose hash and empty slot _find left), first of
        its parent's chain.  What it allocates (a row chunk, link chunks,
        the index's new chunks, the parent's head) comes first: a
        MemoryError leaves the table as it was."""
        r = self.free - 1
        if r < 0:
            r = self.n
            if r // ROWS == len(self.chunks):
                self.chunks.append(fresh("I", 3 * ROWS))
        cap = self.mask + 1
        # past _NARROW rows: 32-bit slots, and links in chunks of their
        # own (a chunk for each row chunk)
        wide = max(self.n, r + 1) >= _NARROW
        links = self.wide
        if wide:
            if links is None:
                links = []
            while len(links) < len(self.chunks):
                links.append(fresh("I", ROWS))
        sl = None
        if 4 * (self.count + 1) > 3 * cap:
            cap *= 2                        # past 3/4 full: twice the slots
            sl = self._grown(cap, wide)
        elif wide and self.wide is None:
            sl = self._grown(cap, wide)
        head = self.heads.get(key[0], 0)
        self.heads[key[0]] = r + 1
        # nothing allocates from here on
        if r == self.n:
            self.n += 1
        else:
            self.free = self.chunks[r // ROWS][r % ROWS * 3 + 1]
        if links is not self.wide:
            # the links out of the rows, whose words keep the rest
            for q in range(self.n):
                c = self.chunks[q // ROWS]
                i = q % ROWS * 3
                if c[i + 2]:
                    links[q // ROWS][q % ROWS] = self.link(q)
                    c[i] &= _HASH
                    c[i + 2] &= 0xFFFF
            self.wide = links
        c = self.chunks[r // ROWS]
        i = r % ROWS * 3
        c[i] = self.k
        c[i + 1] = 0
        self.link(r, head)
        self.count += 1
        self.cr = r
        if sl is not None:
            self._index(cap, sl, wide)
            for q in range(self.n):
                if q == r or self.chunks[q // ROWS][q % ROWS * 3 + 2]:
                    self._place(q)
        else:
            self.slots[self.cs >> _SHIFT][self.cs & SLOTS - 1] = r + 1
        return r

    def rows(self, parent):
        """The rows of parent's entries, newest first, walked as they are
        used (no list: a directory of any size); the row just handed out
        may be dropped, nothing else."""
        r = self.heads.get(parent, 0)
        while r:
            nxt = self.link(r - 1)
            yield r - 1
            r = nxt

    def fields(self, r, parent):
        """The fields (parent, ino, name) of row r's dirent node (an entry
        of parent) read from flash, or None when it fails its CRCs."""
        c = self.chunks[r // ROWS]
        i = r % ROWS * 3
        return self.read(c[i + 1], c[i + 2] >> _SIZE & 0x3FF, parent)

    def drop(self, r, parent=None):
        """Free row r, an entry of parent (by default: of the key just
        looked up, as del does)."""
        if parent is None:
            parent = self.ck[0]
        nxt = self.link(r)
        p = self.heads[parent] - 1
        if p == r:
            if nxt:
                self.heads[parent] = nxt
            else:
                del self.heads[parent]
        else:
            while True:
                q = self.link(p)
                if q == r + 1:
                    self.link(p, nxt)
                    break
                p = q - 1
        # out of the index; the rows placed after it in its run of full
        # slots are placed again (linear probing's deletion: no
        # tombstone slots)
        c = self.chunks[r // ROWS]
        i = r % ROWS * 3
        m = self.mask
        sl = self.slots
        s = c[i] & m
        while sl[s >> _SHIFT][s & SLOTS - 1] != r + 1:
            s = (s + 1) & m
        sl[s >> _SHIFT][s & SLOTS - 1] = 0
        while True:
            s = (s + 1) & m
            v = sl[s >> _SHIFT][s & SLOTS - 1]
            if not v:
                break
            sl[s >> _SHIFT][s & SLOTS - 1] = 0
            self._place(v - 1)
        c[i] = c[i + 2] = 0
        c[i + 1] = self.free
        self.free = r + 1
        self.count -= 1
        self.ck = None

    def __delitem__(self, key):
        r = self._find(key)
        if r < 0:
            raise KeyError(key)
        self.drop(r)


# An inode's block field (_BLOCK): 0 none, b + 1 block b alone, MANY
# BlockSets.sets.
MANY = 0x3FFF


class BlockSets:
    """ino -> the blocks holding its data nodes.  Most files sit in one
    block: its number is then 14 bits of the inode's row (no
    allocation); the others (and an inode without a row, or a block past
    the 14 bits) have an array of them in a dict."""

    def __init__(self, inodes):
        self.t = inodes
        self.sets = {}

    def add(self, ino, b):
        w = self.t.block(ino)
        if w == 0 and b + 1 < MANY:
            self.t.block(ino, b + 1)
        elif w == MANY or w == 0:
            if w == 0:
                self.t.block(ino, MANY)
            cur = self.sets.get(ino)
            if cur is None:
                self.sets[ino] = cur = array("I")
            for x in cur:           # (arrays have no `in` on MicroPython)
                if x == b:
                    return
            cur.append(b)
        elif w != b + 1:
            self.sets[ino] = array("I", (w - 1, b))
            self.t.block(ino, MANY)

    def blocks(self, ino):
        w = self.t.block(ino)
        if w == MANY:
            return tuple(self.sets.get(ino, ()))
        return (w - 1,) if w else ()

    def discard(self, ino, b):
        w = self.t.block(ino)
        if w == b + 1:
            self.t.block(ino, 0)
        cur = self.sets.get(ino)
        if w != MANY or cur is None:
            return
        rest = array("I", [x for x in cur if x != b])
        if len(rest) > 1 or rest and (self.t._find(ino) < 0 or
                                      rest[0] + 1 >= MANY):
            self.sets[ino] = rest
        else:
            del self.sets[ino]
            self.t.block(ino, rest[0] + 1 if rest else 0)
