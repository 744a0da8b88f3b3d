"""Garbage collection of the log store, and the space and wear figures
it works from: which block to collect, copying its live nodes to the
head of the log, erasing it; what GC could free within its bound
(free_bytes, statvfs) and the store's counters.  A board's mount, reads
and writes collect nothing until the store fills: this is imported at
first use, through LogStore.__getattr__, so the mount path does not
carry it (docs/FIT.md, "Code size and import heap").  Each function
takes the LogStore first and is its method of the same name with a
leading underscore where that is private (store._gc_one(...),
store.gc(steps) ...)."""

from ovl import compat
from ovl.compat import crc32, const
from ovl.store import NoSpace, RESERVED_BLOCKS
from ovl.store.blocks import FREE, OPEN, FULL, UNKNOWN, BAD, STATE_NAMES
from ovl.store.format import (
    NODE_HDR_SIZE, NODE_INODE, NODE_DELETE, NODE_DIRENT, NODE_DATA,
    NODE_TRUNCATE, NODE_SYMLINK, NODE_META, NODE_VOID, NODE_RESET,
    NODE_COMMIT, F_PROV, F_TRUNC, F_WIDE, F_KEPT, NAME_MAX,
    SUMMARY_TAIL_SIZE, DIRENT_REMOVED, DATA_PREFIX, INODE_BODY_SIZE,
    STAMP_SIZE, hdr_size, header_fields, data_at)
from ovl.store.index import NOLDER_MAX

_GC_COPY_PER_BYTE = const(3)  # GC copies at most 3 bytes per byte it frees
# GC erases a block only to free at least a KiB (half a block's log on
# blocks under 2 KiB): once written, the freed space pays for it (WA <= 4,
# <= 1 erase per KiB written)
_GC_ERASE_BYTES = const(1024)
_GC_STALLS = const(3)         # collections in a row that free nothing: stop
_WEAR_PERIOD = const(16)      # every Nth collection considers a cold block
_WEAR_SPREAD = const(8)       # ... when erase counts differ by more than this
# fields of ovl.store's stamp and stream records (_STAMP_*, _STREAM_*)
_STAMP_ADDR = const(4)
_STREAM_ADDR = const(1)
_STREAM_NSIZE = const(2)
_STREAM_BLOCKS = const(3)


def gc_until_fits(store, items, keep, bounded):
    """GC until items (see _fits) fit, or ENOSPC; store._make_room calls
    it when they do not fit now."""
    tries = 0
    best = writable(store)
    stalls = 0
    while not store._fits(items, keep):
        if not tries and bounded and \
                need(store, items) > usable(store, keep):
            # GC within the bound cannot free enough: refuse before
            # collecting for a write that would fail anyway
            store.stats["gc_refused"] += 1
            raise compat.oserror(compat.ENOSPC, "log store full")
        tries += 1
        if tries > 2 * store.nblocks or stalls >= _GC_STALLS or \
                not gc_one(store, for_space=True, bounded=bounded):
            raise compat.oserror(compat.ENOSPC, "log store full")
        # copies of large nodes may not fit the open block's end, which
        # is then lost: collections can chase each other's copies round
        # the same blocks without ever freeing one (measured: 512
        # erases for one failing 3 KB write at 75% fill)
        now = writable(store)
        if now > best:
            best = now
            stalls = 0
        else:
            stalls += 1


def writable(store):
    """Bytes writable without GC (free blocks whole, the open block's
    room)."""
    return store.blocks.count(FREE) * (store.log_end - store.data_start) \
        + store._room()


def gc(store, steps=1):
    """Run up to `steps` collections (e.g. when idle)."""
    if store.readonly:
        raise compat.oserror(compat.EROFS, "log store mounted read-only")
    done = 0
    for _ in range(steps):
        if not gc_one(store, for_space=True):
            break
        done += 1
    return done


def gc_one(store, for_space=False, bounded=False):
    """Collect one block.  Returns False when nothing can be gained
    (bounded: within the credit)."""
    b, cold = pick_victim(store, for_space)
    if b is None:
        return False
    # a wear-levelling move (one in _WEAR_PERIOD collections at most)
    # is outside the bound: static data must move now and then
    if collect(store, b, bounded and not cold):
        return True
    # a cold block whose live data does not fit now: take the best one
    b2 = pick_victim(store, for_space, True)[0]
    return b2 is not None and b2 != b and collect(store, b2, bounded)


def pick_victim(store, for_space, wear_skip=False):
    """(the block to collect next, whether it was picked as the coldest):
    a block with no header first (nothing to copy), then a bad block
    still holding live nodes, then, now and then (unless wear_skip), the
    coldest block for wear levelling, else the one with most dead
    bytes."""
    best = None
    for b in range(store.nblocks):
        if store.blocks.state[b] == UNKNOWN:
            return b, False
    for b in range(store.nblocks):
        if store.blocks.state[b] == BAD and b not in store.pins and \
                store.blocks.used[b] - store.data_start > \
                store.blocks.dead[b]:
            return b, False
    # never a block holding an open txn's provisional nodes (its own
    # fresh data: nothing to gain, and the txn reads them back) or a
    # damaged node (erasing it would erase the evidence)
    full = [b for b in range(store.nblocks) if store.blocks.state[b] == FULL and
            b not in store.pins and b not in store.damaged_blocks]
    if not store.blocks.count(FREE):
        # no free block to copy into (a cut during a collection that
        # took the last one): only a block whose live bytes fit the
        # open block's room can go
        room = store._room()
        full = [b for b in full
                if store.es - store.data_start - store.blocks.dead[b] <= room]
    if not full:
        return None, False
    store.gc_runs += 1
    if store.gc_runs % _WEAR_PERIOD == 0 and not wear_skip:
        cold = full[0]
        hot = max(store.blocks.ec)
        for b in full:
            if store.blocks.ec[b] < store.blocks.ec[cold]:
                cold = b
        if hot - store.blocks.ec[cold] > _WEAR_SPREAD:
            return cold, True
    for b in full:
        # most dead bytes; among equals the least worn (dynamic wear
        # levelling: blocks that filled and died together take turns)
        if best is None or store.blocks.dead[b] > store.blocks.dead[best] or \
                (store.blocks.dead[b] == store.blocks.dead[best] and
                 store.blocks.ec[b] < store.blocks.ec[best]):
            best = b
    if for_space and store.blocks.dead[best] < NODE_HDR_SIZE * 4:
        return None, False
    return best, False


def collect(store, b, bounded=False):
    store.stats["gc_runs"] += 1
    if store.blocks.state[b] == UNKNOWN:
        store._erase(b)
        return True
    nodes, end, clean, summarized = store._block_nodes(b)
    for nd in nodes:
        if nd.damage is not None:
            store.damaged_blocks[b] = True   # kept: it names the damage
            return False
    # provisional nodes first: they keep their stream's txn id, so the
    # GC txn's commit flag must land on a node of its own
    alive = data_liveness(store, nodes, b)
    live = [nd for nd in nodes if alive.get(nd.addr)
            or (nd.addr not in alive and is_live(store, nd))]
    alive = None
    live = [nd for nd in live if nd.flags & F_PROV] + \
        [nd for nd in live if not nd.flags & F_PROV]
    nprov = 0
    while nprov < len(live) and live[nprov].flags & F_PROV:
        nprov += 1
    cost = 0
    for nd in live:
        cost += nd.size()
    if 0 < nprov < len(live):
        # two commits, each padding its page on NAND (worth counts one)
        cost += commit_pad(store)
    if bounded and store.blocks.state[b] != BAD and \
            not worth(store, cost, store.blocks.dead[b]):
        # (moving live data off a bad block is exempt: it must go)
        # past the bound: the write gets ENOSPC, the flash is spared
        store.stats["gc_refused"] += 1
        return False
    if live:
        items = (store._void_items() if store.pending_void is not None
                 else []) + \
            [(nd.size() + store._esize(nd.type, nd.blen) +
              (4 if store._wide() and not nd.flags & F_WIDE else 0), 0)
             for nd in live]
        items.append((store.prog_unit, 0))
        if not store._fits(items, 0):
            return False
        raws = []
        for nd in live:
            raw = store.blocks.read(nd.addr, nd.size())
            hl = hdr_size(nd.flags)
            if crc32(raw[hl:hl + nd.blen]) != header_fields(raw)[5]:
                # a copy would hide the damage under a new header
                store._note_damage(nd, "body CRC")
                store.damaged_blocks[b] = True
                return False
            raws.append(raw)
        txn = store.next_txn
        store.next_txn += 1

        def produce(w, lo, hi):
            # a copy: the same bytes and version, this txn (a provisional
            # node keeps its stream's txn: it counts with it)
            for i in range(lo, hi):
                nd = live[i]
                w._hold(nd.type, None, nd.blen, nd.ver, nd.fields, nd.keep,
                        raws[i], nd.flags & F_KEPT,
                        nd.txn if nd.flags & F_PROV else None)
        placed = []
        padded = store.stats["bytes_padded"]
        try:
            if nprov:
                placed = store._write_nodes(
                    lambda w: produce(w, 0, nprov), txn, 0, True)
            if nprov < len(live):
                placed += store._write_nodes(
                    lambda w: produce(w, nprov, len(live)), txn, 0)
        except BaseException as e:
            # the second write failed (the writer counted its own nodes
            # dead): the first one's copies are indexed nowhere, dead too,
            # as LogStore._write_nodes counts them (the loop written
            # again: a method shared with it would cost the mount path)
            for nd in placed:
                store._kill(nd.addr, nd.size())
                store.garbage_blocks.add(nd.addr // store.es)
            if isinstance(e, NoSpace):
                return False
            raise
        store.stats["gc_padded_bytes"] += store.stats["bytes_padded"] - padded
        for old, new in zip(live, placed):
            moved(store, old, new)
            store.stats["gc_copied_bytes"] += old.size()
    if store.blocks.state[b] == BAD:
        store.blocks.dead[b] = store.blocks.used[b] - store.data_start
        return True
    if store._erase(b):
        forget_block(store, nodes, b, live)
    return True


def data_liveness(store, nodes, b):
    """addr -> live? for the data and truncate nodes of block b, being
    collected, file by file: each file's extent map is loaded once per
    collection, however its nodes interleave with those of more files
    than store.extent_cache holds, and not at all when b is no longer among
    the file's blocks (a load found only dead nodes of it there).
    RAM: one entry per such node of the block (at most a block's
    worth of node headers)."""
    per_ino = {}
    order = []          # first seen first: the same on every runtime
    for nd in nodes:
        if (nd.type == NODE_DATA or nd.type == NODE_TRUNCATE) and \
                nd.fields is not None:
            group = per_ino.get(nd.fields[0])
            if group is None:
                group = per_ino[nd.fields[0]] = []
                order.append(group)
            group.append(nd)
    alive = {}
    for group in order:
        held = b in store.data_blocks.blocks(group[0].fields[0])
        for nd in group:
            alive[nd.addr] = held and is_live(store, nd)
    return alive


def is_live(store, nd):
    t = nd.type
    f = nd.fields
    if t == NODE_INODE or t == NODE_DELETE:
        rec = store.inodes.get(f[0])
    elif t == NODE_DIRENT:
        rec = store.entries.get((f[0], f[2], nd.addr))
    elif t == NODE_META:
        rec = (store.meta.get(f[0]) or {}).get(f[1])
    elif t == NODE_SYMLINK:
        rec = store.links.get(f[0])
    elif t == NODE_DATA:
        st = store.stamps.get(f[0])
        if st is not None and st[_STAMP_ADDR] == nd.addr:
            return True
        store._load(f[0])
        for ps, pe, ent in store.extents.get(f[0]) or ():
            if ent[3] == nd.addr:
                return True
        if nd.flags & F_TRUNC:
            for tr in store.truncs.get(f[0]) or ():
                if tr[2] == nd.addr:
                    return True
        return False
    elif t == NODE_TRUNCATE:
        store._load(f[0])
        for tr in store.truncs.get(f[0]) or ():
            if tr[2] == nd.addr:
                return True
        return False
    elif t == NODE_VOID:
        for addr, nsize in store.void_recs:
            if addr == nd.addr:
                return True
        return False
    elif t == NODE_COMMIT:
        st = store.streams.get(f[0])
        return st is not None and st[_STREAM_ADDR] == nd.addr
    elif t == NODE_RESET:
        return store.reset_rec is not None and \
            store.reset_rec[1] == nd.addr and store._reset_needed(nd.addr)
    else:
        return False
    return rec is not None and rec[2] == nd.addr


def reclaimable(store, b):
    return store.blocks.dead[b] if store.blocks.state[b] == FULL else 0


def need(store, items):
    """The least space these _fits items take (block ends not counted)."""
    n = 0
    for fixed, payload in items:
        n += fixed + payload
    return n


def worth(store, live, dead):
    """Does collecting a block with these live and dead bytes stay
    within the GC bound?  Its dead bytes become free space; writing it
    pays _GC_COPY_PER_BYTE per byte for the copies and one erase per
    erase_cost bytes: a KiB, or half a block's log on small blocks, where
    a KiB does not even fill one.  All in log bytes: on NAND the copies'
    commit pads its last page, which the copies take from the space
    freed (with 2 KiB pages and 16 KiB blocks that alone broke the bound:
    3.1 bytes of log copied per byte of log written)."""
    erase_cost = min(_GC_ERASE_BYTES,
                     (store.log_end - store.data_start) // 2)
    pad = commit_pad(store)
    freed = dead - pad
    return freed >= erase_cost and live + pad <= _GC_COPY_PER_BYTE * freed


def commit_pad(store):
    """The most a commit's padding takes: on NAND a commit ends at a page
    end (a program unit); on NOR nothing."""
    return store.prog_unit if store.prog_unit > 4 else 0


def usable(store, keep, sure=False):
    """Bytes writable now or after GC within its bound, leaving keep
    free blocks alone.  sure: of a block GC may take, only its dead
    bytes beyond its live ones (see file_bytes).  Below keep free
    blocks (a removal may take one of the reserve), the blocks GC frees
    first refill it: only the open block's room is writable before."""
    total = 0
    cap = store.log_end - store.data_start
    nfree = 0
    for b in range(store.nblocks):
        st = store.blocks.state[b]
        if st == FREE or st == UNKNOWN:
            nfree += 1
        elif st == FULL and b not in store.pins and \
                b not in store.damaged_blocks:
            # only what GC may reclaim within its bound counts
            total += _gain(store, store.es - store.data_start -
                           store.blocks.dead[b], store.blocks.dead[b], sure)
    b = store.wblock
    # its dead bytes too, once it fills and if worth collecting
    if b is not None and b not in store.pins:
        dead = store.blocks.dead[b]
        total += min(_gain(store, store.wpos - store.data_start - dead,
                           dead + store.es - store.wpos, sure), dead)
    return max(total + (nfree - keep) * cap, 0) + store._room()


def _gain(store, live, dead, sure):
    """What collecting a block with these live and dead bytes frees
    (0 past the GC bound); sure: at least, its copies packed as badly
    as they may be (see file_bytes)."""
    if not worth(store, live, dead):
        return 0
    dead -= commit_pad(store)       # what the copies' commit pads
    return max(dead - live, 0) if sure else dead


def free_bytes(store):
    """Bytes writable now or after GC (not counting the reserve)."""
    return usable(store, RESERVED_BLOCKS)


def file_bytes(store):
    """The size of the largest new file that surely fits, written in
    one transaction through the overlay (docs/STORE.md, "What statvfs
    says"): the space usable within the GC bound, less what the file's
    data costs beside its bytes.

    - A block GC may take counts only its dead bytes beyond its live
      ones: its live nodes are copied whole, and each copy that does not
      fit the rest of the open block closes it, losing that rest.
    - Each block the file fills holds a summary (a node header, its
      count, the slack the writer keeps) and starts a data node; on NAND
      its last page is padded.
    - The writer spills the data to flash 2 x txn_ram bytes at a time
      (the overlay hands it 4 KiB at a time): each spill starts a node,
      may leave up to 256 bytes at a block's end (no smaller data node
      is started), and on NAND pads its last page.
    - The commit: the inode, a name of up to NAME_MAX bytes, the
      parent's inode, the stream's commit node, a stamp, a page's pad."""
    raw = usable(store, RESERVED_BLOCKS, True)
    cap = store.log_end - store.data_start
    pad = commit_pad(store)
    node = store._nsize(DATA_PREFIX) + 4 + store._esize(NODE_DATA, 0)
    blocks = raw // cap + 1
    spills = raw // (2 * store.txn_ram) + 1
    inode = store._nsize(INODE_BODY_SIZE) + store._esize(NODE_INODE, 0)
    commit = 2 * inode + \
        store._nsize(8 + NAME_MAX) + store._esize(NODE_DIRENT, 8 + NAME_MAX) + \
        store._nsize(8) + store._esize(NODE_COMMIT, 8) + STAMP_SIZE + pad
    cost = blocks * (NODE_HDR_SIZE + 8 + node + pad) + \
        spills * (node + 256 + pad) + commit
    return max(raw - cost, 0)


def statvfs(store):
    """(bsize, frsize, blocks, bfree, bavail, files, ffree, favail,
    flag, namemax), sizes in erase blocks; bfree and bavail: the largest
    new file that surely fits (file_bytes), in whole blocks."""
    good = store.nblocks - store.blocks.count(BAD)
    blocks = max(good - RESERVED_BLOCKS, 0)
    bfree = min(file_bytes(store) // store.es, blocks)
    return (store.es, store.es, blocks, bfree, bfree, len(store.inodes),
            0xFFFF, 0xFFFF, 1 if store.readonly else 0, NAME_MAX)


def counters(store):
    c = dict(store.stats)
    # what closing the open block will program for its summary: the
    # share of it an operation's nodes add is part of what they cost,
    # whichever later write happens to close the block
    c["summary_due"] = store.wsum.size() + SUMMARY_TAIL_SIZE \
        if store.wblock is not None and store.wsum.n else 0
    ecs = [store.blocks.ec[b] for b in range(store.nblocks)
           if store.blocks.state[b] != BAD]
    c["erase_max"] = max(ecs) if ecs else 0
    c["erase_min"] = min(ecs) if ecs else 0
    c["erase_mean"] = (sum(ecs) / len(ecs)) if ecs else 0
    c["erase_total"] = sum(store.blocks.ec)  # the chip's life (headers)
    states = [0] * len(STATE_NAMES)
    for st in store.blocks.state:
        states[st] += 1
    for i, name in enumerate(STATE_NAMES):
        c["blocks_" + name] = states[i]
    c["blocks"] = store.nblocks
    c["bytes_dead"] = sum(store.blocks.dead[b] for b in range(store.nblocks)
                          if store.blocks.state[b] in (FULL, OPEN))
    c["bytes_in_use"] = sum(store.blocks.used[b] - store.data_start - store.blocks.dead[b]
                            for b in range(store.nblocks)
                            if store.blocks.state[b] in (FULL, OPEN))
    c["bytes_reclaimable"] = sum(reclaimable(store, b)
                                 for b in range(store.nblocks))
    c["bytes_free"] = free_bytes(store)
    c["inodes"] = sum(1 for i, r in store.inodes.items() if r[0] is not None)
    return c


def moved(store, nd, new):
    """A live node was copied by GC to Node new: point the index at the
    copy (its size may differ: a copy made with wide counters has a
    wide header)."""
    t = nd.type
    f = nd.fields
    old = nd.addr
    new_addr = new.addr
    nsize = new.size()
    if t == NODE_DATA or t == NODE_TRUNCATE:
        store.data_blocks.add(f[0], new_addr // store.es)
        st = store.streams.get(nd.txn) if nd.flags & F_PROV else None
        nb = new_addr // store.es
        if st is not None and nb not in st[_STREAM_BLOCKS]:
            st[_STREAM_BLOCKS].append(nb)
        for ps, pe, ent in store.extents.get(f[0]) or ():
            if ent[3] == old:
                ent[3] = new_addr
                ent[4] = nsize
                ent[6] = data_at(new.flags)
        n = store.roles.pop(old, None)
        if n is not None:
            store.roles[new_addr] = n
        st = store.stamps.get(f[0])
        if st is not None and st[_STAMP_ADDR] == old:
            store.stamps[f[0]] = st[:_STAMP_ADDR] + (new_addr, nsize)
        for tr in store.truncs.get(f[0]) or ():
            if tr[2] == old:
                tr[2] = new_addr
                tr[3] = nsize
        return
    if t == NODE_VOID:
        store.void_recs = [(new_addr, nsize) if a == old else (a, s)
                           for a, s in store.void_recs]
        return
    if t == NODE_COMMIT:
        store.streams[f[0]][_STREAM_ADDR] = new_addr
        store.streams[f[0]][_STREAM_NSIZE] = nsize
        return
    if t == NODE_RESET:
        store.reset_rec = (store.reset_rec[0], new_addr, nsize)
        return
    table, key = table_of(store, nd, True)
    rec = table.get(key)
    table[key] = (rec[0], rec[1], new_addr, nsize, rec[4])


def table_of(store, nd, live=False):
    """The table and key of nd's record; live: nd is the node the
    record points at (an entry is then found by its address, without
    reading names)."""
    t = nd.type
    f = nd.fields
    if t == NODE_INODE or t == NODE_DELETE:
        return store.inodes, f[0]
    if t == NODE_DIRENT:
        return store.entries, ((f[0], f[2], nd.addr) if live
                               else (f[0], f[2]))
    if t == NODE_META:
        return store.meta.get(f[0]), f[1]
    if t == NODE_SYMLINK:
        return store.links, f[0]
    return None, None


def forget_block(store, nodes, b, live=()):
    """Block b was erased: older copies of keys it held are gone, so
    tombstones that were waiting for them may go too.  live: the nodes
    copied before the erase (their keys' records point at the copies)."""
    copied = {}
    for nd in live:
        copied[nd.addr] = True
    for nd in nodes:
        if nd.type == NODE_DATA or nd.type == NODE_TRUNCATE:
            store.data_blocks.discard(nd.fields[0], b)
            store._evict(nd.fields[0])
        if nd.type in (NODE_INODE, NODE_DELETE, NODE_DIRENT, NODE_META):
            table, key = table_of(store, nd)
            if table is None:
                continue
            # the older nodes nolder counts are those that count and give
            # their key a value (mount counts no others): not the node
            # copied (the record's own, moved), nor one of a txn that
            # never committed, nor a tombstone (a removed name's count
            # went down to 0 while an older tombstone stayed on flash, and
            # the name came back); the record is the newest that counts,
            # so no version is compared (the index keeps none).  A
            # saturated count stays (index.NOLDER_MAX).
            if nd.addr in copied or not store._counts(nd) or \
                    nd.type == NODE_DELETE or nd.type == NODE_DIRENT and \
                    nd.fields[1] == DIRENT_REMOVED or \
                    nd.type == NODE_META and nd.fields[2] is None:
                continue
            rec = table.get(key)
            if rec is None or rec[4] >= NOLDER_MAX:
                continue
            nolder = rec[4] - 1
            if nolder <= 0 and rec[0] is None:
                store._kill(rec[2], rec[3])
                del table[key]
            else:
                table[key] = rec[:4] + (max(nolder, 0),)
    for sid in list(store.streams):
        st = store.streams[sid]
        if b in st[_STREAM_BLOCKS]:
            st[_STREAM_BLOCKS].remove(b)
            if not st[_STREAM_BLOCKS]:  # no provisional node of it left
                store._kill(st[_STREAM_ADDR], st[_STREAM_NSIZE])
                del store.streams[sid]
    if not store.garbage_blocks and store.void_recs:
        store._drop_voids()
    if store.reset_rec is not None:
        store._drop_reset_if_done()


def restore_reserve(store):
    """Collect until GC has a free block to copy into again.  A cut
    during a collection that took the last one can leave none (a block
    going bad too); what a cut leaves can always be collected without
    one (docs/STORE.md, "Garbage collection"), and must be before
    writes eat the open block's room (store._make_room calls this when
    no block is free)."""
    for _ in range(store.nblocks):
        if store.blocks.count(FREE) or not gc_one(store, for_space=True):
            return


# A RESET's bookkeeping: GC asks it of every block it collects while a
# RESET is still needed, so it lives here (kept once loaded), not in the
# reset module, which is imported for each call and released
def reset_needed(store, addr):
    """Does a block other than the RESET's hold nodes older than it?"""
    home = addr // store.es
    ver = store.reset_rec[0]
    for b in range(store.nblocks):
        if b != home and store.blocks.state[b] in (FULL, OPEN, BAD) and \
                store.blocks.minver[b] < ver:
            return True
    return False


def drop_reset_if_done(store):
    """The RESET node is dead once no other block holds older nodes."""
    if store.reset_rec is not None and \
            not reset_needed(store, store.reset_rec[1]):
        store._kill(store.reset_rec[1], store.reset_rec[2])
        store.reset_rec = None
