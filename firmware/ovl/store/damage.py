"""Damage on flash and the remains of a cut: what the store does with
nodes and block headers that fail their checks, a block that goes bad,
a torn tail and the voids that record the txn ids a cut may have used.
A healthy store's mount, reads and writes never run this: it is
imported at first use, through LogStore.__getattr__ (the store calls
in only once it knows of damage, a cut or a bad block), so a board's
mount path does not carry it (docs/STORE.md, "Code layout").  Each
function takes the LogStore first and is its method of the same name
with a leading underscore (store._note_damage(nd, what) ...)."""

import struct

from ovl import compat
from ovl.compat import const
from ovl.store.format import (
    NODE_HDR_SIZE, NODE_HDR_WIDE, NODE_MAGIC, NODE_INODE, NODE_DELETE,
    NODE_DIRENT, NODE_DATA, NODE_TRUNCATE, NODE_SYMLINK, NODE_META,
    DIRENT_PREFIX, KEY_PREFIX,
    META_PREFIX, VOID_BODY_SIZE, NODE_VOID, CorruptError, align,
    header_fields,
    protected_len, unpack_block_header, checked_header, read_summary, Node)
from ovl.store.blocks import NO_VER

HEADER_DAMAGE = -1     # damage list "type" of a damaged block header
HEADER_REBUILT = -2    # ... of one rebuilt at mount, until judge_rebuilt
_OPEN = const(1)       # block states (ovl.store.blocks' OPEN, FULL, BAD)
_FULL = const(2)
_BAD = const(4)
# the most a node header and the body prefix its CRC covers take (a wide
# header, a data node's prefix with a stamp)
_NODE_HEAD_MAX = const(56)
# the version of the damage record of a dirent node a read at mount found
# failing (damaged_dirent): settle_damage asks the index about it
_READ_AT_MOUNT = const(-1)


# What a damaged node damaged, from its key prefix: the inode whose
# attributes, data, target or metadata it held, or the directory whose
# entry it was.  None when the type says nothing (voids, commits, resets).
def damage_target(ntype, prefix):
    if len(prefix) < 4:
        return None
    n = struct.unpack("<I", prefix[:4])[0]
    if ntype in (NODE_INODE, NODE_DELETE, NODE_DATA, NODE_TRUNCATE,
                 NODE_SYMLINK, NODE_META):
        return ("inode", n)
    if ntype == NODE_DIRENT:
        return ("dir", n)
    return None


def mend_header(store, b, raw):
    """The header of block b when one flipped bit is all that is wrong
    with it and the block holds a log (reported as damage); else None
    (an interrupted erase or header program changes many bits, and a
    block without a log is erased before use anyway).  A block whose
    header is worse but which holds a good node is mounted all the same
    (FULL, listed HEADER_REBUILT with the offset of its first good node;
    judge_rebuilt decides after the mount what it is); one whose data
    start is erased, or that holds no good node, stays unknown, erased
    before use."""
    base = b * store.es
    if store._erased(base + store.data_start, 4):
        return None
    for i in range(len(raw) * 8):
        mended = bytearray(raw)
        mended[i >> 3] ^= 1 << (i & 7)
        try:
            hdr = unpack_block_header(mended)
        except CorruptError:
            hdr = None
        if hdr is not None:
            store.stats["corrupt_nodes"] += 1
            store.damage.append((b * store.es, HEADER_DAMAGE, 0,
                                "block header damaged (bit %d of byte"
                                " %d; mended)" % (i & 7, i >> 3),
                                None, None))
            return hdr
    start = store.data_start
    first = resync(store, base, start, start + _NODE_HEAD_MAX)
    if first != start:
        # the first node fails too: what an erase cut a few bytes into
        # the log leaves, or damage to the header and the first node;
        # the nodes after it are judged as a rebuilt block's
        first = resync(store, base, start, store.log_end)
    if first is None:
        store.repairs.append("block %d: header damaged and no node in it"
                             " readable; the block erased before use" % b)
        return None
    store.blocks.state[b] = _FULL
    store.damage.append((base, HEADER_REBUILT, first, "", None, None))
    return None


def judge_rebuilt(store):
    """After the mount, the blocks whose header mend_header rebuilt.  An
    interrupted erase only ever hits a block whose nodes are all dead (a
    collection's victim once its live nodes are copied, a block a reset
    erases), and its nodes changed nothing at the mount: each lost to
    (or tied with: a copy, same version) a node elsewhere, or the reset
    obsoleted it.  A block holding a live node without such a copy, or
    other damage, is damage: reported (fsck: an error), kept by GC as
    evidence.  One holding nothing live is what an interrupted erase
    leaves: named in a warning (store.repairs), collected as any block.
    Its erase count, lost with the header, is the mean of the others'.
    A block whose first node failed too (the walk found junk before its
    first good node) is judged on the nodes after it: an erase cut a
    few bytes into the log leaves that junk, so when nothing after it is
    live the junk is no damage, only part of the warning."""
    es = store.es
    blocks = store.blocks
    rebuilt = [rec[0] // es for rec in store.damage
               if rec[1] == HEADER_REBUILT]
    if not rebuilt:
        return
    firsts = {}
    for rec in store.damage:
        if rec[1] == HEADER_REBUILT:
            firsts[rec[0] // es] = rec[2]
    store.damage = [rec for rec in store.damage if rec[1] != HEADER_REBUILT]
    total = known = 0
    for c in range(store.nblocks):
        if c not in rebuilt and blocks.state[c] in (_OPEN, _FULL, _BAD):
            total += blocks.ec[c]
            known += 1
    for b in rebuilt:
        blocks.ec[b] = total // known if known else 0
        if store.wblock == b:
            # never written again: a header that does not check out
            # stays so (the mount reopened it as the head of the log)
            blocks.state[b] = _FULL
            blocks.dead[b] += es - blocks.used[b]
            blocks.used[b] = es
            store.wblock = store.wsum = None
        live = live_alone(store, b)
        first = firsts[b] != store.data_start
        if first and not live:
            _excuse_leading_junk(store, b)
        if live or b in store.damaged_blocks:
            store.damaged_blocks[b] = True
            store.stats["corrupt_nodes"] += 1
            store.damage.append((b * es, HEADER_DAMAGE, 0,
                                 "header%s damaged; %d live nodes kept"
                                 % (" and first node" if first else "",
                                    len(live)), None, None))
        else:
            store.repairs.append("block %d: header%s damaged, nothing in it"
                                 " live (what an interrupted erase leaves)"
                                 % (b, " and first node" if first else ""))


def live_alone(store, b):
    """{(version, type): True} of block b's live nodes that no other block
    holds a node of (a collection's copy has the version of its node, and
    may be what the index points at when the two tie)."""
    blocks = store.blocks
    nodes = store._block_nodes(b)[0]
    alive = store._data_liveness(nodes, b)
    live = {}
    for nd in nodes:
        if nd.fields is not None and (
                alive.get(nd.addr) or nd.addr not in alive and
                store._is_live(nd)):
            live[(nd.ver, nd.type)] = True
    nodes = alive = None
    if live:
        for c in range(store.nblocks):
            if c != b and blocks.state[c] in (_OPEN, _FULL, _BAD):
                for nd in store._block_nodes(c, headers_only=True)[0]:
                    live.pop((nd.ver, nd.type), None)
    return live


def _excuse_leading_junk(store, b):
    """Forget the junk the mount's walk of rebuilt block b found before its
    first good node (note_junk's record at its data start): no damage
    when the block holds nothing live.  The block stays damaged when
    anything else in it is."""
    es = store.es
    start = b * es + store.data_start
    kept = [rec for rec in store.damage
            if not (rec[0] == start and rec[1] is None)]
    if len(kept) == len(store.damage):
        return
    store.stats["corrupt_nodes"] -= len(store.damage) - len(kept)
    store.damage = kept
    if not [rec for rec in kept if rec[0] // es == b]:
        store.damaged_blocks.pop(b, None)


def resync(store, base, start, limit):
    """Offset of the first good node header in [start, limit) of the
    block at base (4-byte steps), or None."""
    start = align(start, 4)
    if start + NODE_HDR_SIZE > limit:
        return None
    area = store.blocks.read(base + start, limit - start)
    magic = struct.pack("<H", NODE_MAGIC)
    at = area.find(magic)
    while at >= 0:
        if at % 4 == 0:
            hf = header_fields(area[at:at + NODE_HDR_WIDE])
            if hf is not None and checked_header(
                    area[at:at + hf[7] +
                         protected_len(hf[0], hf[1], hf[2])]) is not None:
                return start + at
        at = area.find(magic, at + 1)
    return None


def note_damage(store, nd, what):
    """Damage found after mount (a data read, a GC copy).  Counted and
    listed; a data node's file keeps answering EIO where it reads the
    node (its size and attributes are elsewhere, intact)."""
    for rec in store.damage:
        if rec[0] == nd.addr:
            return
    store.damage.append((nd.addr, nd.type, nd.ver, what, None, nd.keep))
    store.stats["corrupt_nodes"] += 1


def mount_damage(store, nd):
    """A committed node that fails its CRC: remember what it damaged
    (settled against newer nodes at the end of mount).  A data node
    whose key and range survived is indexed as usual instead: a read
    of what still shows of it checks its CRC and answers EIO."""
    store.stats["corrupt_nodes"] += 1
    store.damaged_blocks[nd.addr // store.es] = True
    target = None
    if nd.keep is not None and nd.fields is None:
        target = damage_target(nd.type, nd.keep)
    store.damage.append((nd.addr, nd.type, nd.ver, nd.damage, target,
                        nd.keep))


def settle_damage(store, mounted=False):
    """Which damaged nodes took something that would show: their
    inode or directory answers EIO (not ENOENT, not an older version).
    One a newer node of the same key overrides took nothing.  mounted:
    the mount is over: judge_rebuilt instead."""
    if mounted:
        judge_rebuilt(store)
        return
    for addr, ntype, ver, what, target, keep in store.damage:
        if target is None:
            continue
        kind, n = target
        birth = store._birth(n)
        if ver == _READ_AT_MOUNT:
            # damaged_dirent's: it took something if the index kept it
            hit = False
            for r in store.entries.rows(n):
                if store.entries.rec(r)[2] == addr:
                    hit = True
        elif ntype == NODE_INODE or ntype == NODE_DELETE:
            rec = store.inodes.get(n)
            hit = rec is None or store._rec_ver(rec) < ver
        elif birth is None or ver < birth:
            hit = False
        elif ntype == NODE_SYMLINK:
            rec = store.links.get(n)
            hit = rec is None or rec[1] < ver
        elif ntype == NODE_DIRENT and len(keep) > DIRENT_PREFIX and \
                len(keep) > KEY_PREFIX:
            # the summary kept the whole body: the name is known
            rec = store.entries.get((n, bytes(keep[8:])))
            hit = rec is None or store._rec_ver(rec) < ver
        elif ntype == NODE_META and len(keep) >= META_PREFIX:
            klen = struct.unpack("<H", keep[4:6])[0]
            key = bytes(keep[META_PREFIX:META_PREFIX + klen])
            rec = (store.meta.get(n) or {}).get(key) \
                if len(key) == klen else None
            hit = rec is None or rec[1] < ver
        else:
            hit = True
        if hit and target not in store.damaged:
            store.damaged[target] = "%s at 0x%x" % (what, addr)


def damage_name(store, ntype, prefix):
    """': inode 5' / ': an entry of dir 3' for a damage message."""
    t = damage_target(ntype, prefix or b"")
    if t is None:
        return ""
    if t[0] == "dir":
        return ": an entry of directory inode %d" % t[1]
    return ": inode %d" % t[1]


def retire(store, b):
    """Block b went bad: retired in the block table (BAD, counted once).
    Never the open block: the writer gives a block that failed to
    program up first (LogStore._write_nodes), and erases only blocks
    it has not opened."""
    blocks = store.blocks
    if blocks.state[b] != _BAD:
        store.stats["blocks_retired"] += 1
    blocks.state[b] = _BAD
    blocks.verified.discard(b)


def rescan_torn(store, b, seen, visit):
    """Mount's second pass over block b, which holds the remains of a cut:
    only the nodes at the addresses seen (what the first pass read) go to
    visit (those remains may read differently now)."""
    seen = {a: 1 for a in seen}

    def visit_seen(nd):
        if nd.addr in seen:
            visit(nd)
    store._scan(b, visit_seen)


def check_damage(store, kind, n):
    """EIO when a damaged node took what (kind, n) names (the store
    calls this only once it knows of some damage)."""
    why = store.damaged.get((kind, n))
    if why is not None:
        raise compat.oserror(compat.EIO, "%s %d: damaged on flash (%s)" % (
            "directory" if kind == "dir" else "inode", n, why))


def drop_voids(store):
    """The NODE_VOIDs a cut made are dead once no block holds garbage
    (the nodes of the txns they void are gone)."""
    for addr, nsize in store.void_recs:
        store._kill(addr, nsize)
    store.void_recs = []


def void_items(store):
    """_fits items for the NODE_VOID the next txn carries after a cut
    (store.pending_void)."""
    return [(store._nsize(VOID_BODY_SIZE) +
             store._esize(NODE_VOID, VOID_BODY_SIZE), 0)]


def summary_ver(store, addr):
    """The version of the node at addr whose header fails its CRC
    (LogStore._rec_ver): its block's summary gives it under the
    summary's own CRC; failing that too, NO_VER (the record counts as
    newest)."""
    found = [NO_VER]

    def visit(nd):
        if nd.addr == addr:
            found[0] = nd.ver
    b = addr // store.es
    read_summary(store.blocks.read, b * store.es, store.es, store.data_start,
                 True, visit)
    return found[0]


# The damage the store's reads find (a node failing its CRCs), noted
# here: the store calls in only once a check has failed.

def note_junk(store, b, junk):
    """Bytes of block b that are no node, (addr, length) each, found at
    mount: damage."""
    for addr, n in junk:
        store.stats["corrupt_nodes"] += 1
        store.damaged_blocks[b] = True
        store.damage.append((addr, None, 0, "%d unreadable bytes" % n, None,
                             None))


def damaged_inode(store, addr, ino):
    """ino's inode node at addr fails its CRCs: noted; the EIO to raise."""
    note_damage(store, Node(addr, NODE_INODE, 0, 0, 0, 0, None,
                            struct.pack("<I", ino)), "inode CRC")
    return compat.oserror(compat.EIO, "inode %d: damaged on flash at 0x%x"
                          % (ino, addr))


def damaged_data(store, addr, ino, ver):
    """ino's data node at addr (version ver) fails its CRCs: noted; the
    EIO to raise."""
    note_damage(store, Node(addr, NODE_DATA, 0, 0, ver, 0, None,
                            struct.pack("<I", ino)), "data CRC")
    return compat.oserror(compat.EIO, "inode %d: data damaged on flash at"
                          " 0x%x" % (ino, addr))


def damaged_dirent(store, addr, parent):
    """The dirent node at addr, an entry of parent, fails its CRCs: noted,
    and parent answers EIO from then on.  Read at mount (a name compare
    of a newer node of parent), it may be one the index drops before the
    mount is over (older than its directory, which a repair made anew):
    settle_damage decides then (its record's version _READ_AT_MOUNT)."""
    if store.mounting:
        for rec in store.damage:
            if rec[0] == addr:
                return
        store.stats["corrupt_nodes"] += 1
        store.damage.append((addr, NODE_DIRENT, _READ_AT_MOUNT, "dirent CRC",
                             ("dir", parent), struct.pack("<I", parent)))
        return
    note_damage(store, Node(addr, NODE_DIRENT, 0, 0, 0, 0, None,
                            struct.pack("<I", parent)), "dirent CRC")
    if ("dir", parent) not in store.damaged:
        store.damaged[("dir", parent)] = "dirent CRC at 0x%x" % addr
