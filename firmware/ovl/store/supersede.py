"""What newer nodes do to the log store's index when they supersede older
ones other than by appending: a rewrite inside a file or a truncation
(cuts in the extent map, the truncations a later write hides), a stamp
(a data node that also carries the inode's size and times), a deleted
inode, and the end of one of a node's roles.  A board that only creates
files never runs these (an append to a file written in an earlier
transaction stamps, and does), so they are imported at first use, through LogStore.__getattr__ (docs/STORE.md, "Code layout").  Each
function takes the LogStore first and is its method of the same name
with a leading underscore."""

from ovl.compat import const

# the fields of a stamp record (store.stamps, ovl.store's _STAMP_*)
_STAMP_VER = const(3)
_STAMP_ADDR = const(4)
_STAMP_NSIZE = const(5)


def role_dead(store, addr, nsize):
    """One role of a node ended; it is dead when its last one has."""
    n = store.roles.get(addr)
    if n is None:
        store._kill(addr, nsize)
    elif n > 2:
        store.roles[addr] = n - 1
    else:
        del store.roles[addr]


def stamp_add(store, ino, nd):
    """A stamped data node arrives (in version order per inode): does
    its stamp become the inode's size, mtime and ctime?"""
    st = store.stamps.get(ino)
    if store.replaying:       # the stamps are resident: only count roles
        return st is not None and st[_STAMP_ADDR] == nd.addr
    rec = store.inodes.get(ino)
    if rec is None or rec[0] is None or \
            store.mounting and nd.ver < store._rec_ver(rec) or \
            (st is not None and st[_STAMP_VER] > nd.ver):
        return False         # a newer NODE_INODE or stamp says more
    if st is not None:
        stamp_end(store, ino)
    ino_, off, length, stamp = nd.fields
    store.stamps[ino] = (off + length, stamp[0], stamp[1], nd.ver,
                        nd.addr, nd.size())
    return True


def stamp_end(store, ino):
    """The inode's stamp was overridden: its node loses that role (the
    map is loaded first: the node's other roles are counted there)."""
    st = store.stamps.get(ino)
    if st is None:
        return
    store._load(ino)
    del store.stamps[ino]
    role_dead(store, st[_STAMP_ADDR], st[_STAMP_NSIZE])


def cut(store, pieces, start, end):
    """Remove [start, end) from the map; returns the insert index."""
    i = store._first_piece(pieces, start)
    j = i
    keep = []
    while j < len(pieces) and pieces[j][0] < end:
        ps, pe, ent = pieces[j]
        ent[5] -= 1
        if ps < start:
            keep.append((ps, start, ent))
            ent[5] += 1
        if pe > end:
            keep.append((end, pe, ent))
            ent[5] += 1
        if ent[5] == 0:
            role_dead(store, ent[3], ent[4])
        j += 1
    if i < j:
        pieces[i:j] = keep
    if keep and keep[0][0] < start:
        i += 1
    return i


def trunc_add(store, ino, t):
    """A truncation at t[1] (t = [ver, size, addr, nsize]); a NODE_DATA
    with F_TRUNC is in the map already, up to that size."""
    pieces = store.extents.get(ino)
    size = t[1]
    if pieces:
        cut(store, pieces, size, 1 << 64)
        if not pieces:
            del store.extents[ino]
    truncs = store.truncs.get(ino)
    if truncs is None:
        truncs = store.truncs[ino] = []
    truncs.append(t)
    end_hidden_truncs(store, ino)


def end_hidden_truncs(store, ino):
    """End the role of each older truncation whose cut newer nodes
    now hide entirely: the map shows data from its size up to the
    least size a newer truncation cuts at (every piece past its size
    is newer than it).  Judged by what is hidden, not by which node
    hides it, so a replay without a dead node GC erased (a rewrite
    that hid it, itself hidden since) ends the same roles."""
    truncs = store.truncs.get(ino)
    if not truncs or len(truncs) < 2:
        return
    pieces = store.extents.get(ino) or ()
    limit = truncs[-1][1]
    keep = [truncs[-1]]
    for i in range(len(truncs) - 2, -1, -1):     # newest first
        o = truncs[i]
        if shown(store, pieces, o[1], limit):
            role_dead(store, o[2], o[3])
        else:
            keep.append(o)
        if o[1] < limit:
            limit = o[1]
    if len(keep) < len(truncs):
        keep.reverse()
        store.truncs[ino] = keep


def shown(store, pieces, start, end):
    """Does the map show data everywhere in [start, end)?"""
    i = store._first_piece(pieces, start)
    while start < end:
        if i >= len(pieces) or pieces[i][0] > start:
            return False
        start = pieces[i][1]
        i += 1
    return True


def forget_ino(store, ino):
    """An inode was deleted: everything scoped to it is dead."""
    ents = store.entries
    for r in ents.rows(ino):
        rec = ents.rec(r)
        store._kill(rec[2], rec[3])
        ents.drop(r, ino)
    for rec in (store.meta.pop(ino, None) or {}).values():
        store._kill(rec[2], rec[3])
    rec = store.links.pop(ino, None)
    if rec is not None:
        store._kill(rec[2], rec[3])
    store._load(ino)
    st = store.stamps.pop(ino, None)
    if st is not None:
        role_dead(store, st[_STAMP_ADDR], st[_STAMP_NSIZE])
    if ino in store.loaded:
        store.loaded.remove(ino)
    sets = store.data_blocks
    for b in sets.blocks(ino):      # (a tuple: the sets change under it)
        sets.discard(ino, b)
    pieces = store.extents.pop(ino, None)
    if pieces:
        seen = {}
        for ps, pe, ent in pieces:
            if id(ent) not in seen:
                seen[id(ent)] = True
                role_dead(store, ent[3], ent[4])
    for t in store.truncs.pop(ino, None) or ():
        role_dead(store, t[2], t[3])
