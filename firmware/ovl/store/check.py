"""fsck of the log store: every block read in full, every CRC and summary
checked, the tree walked from the root, link counts and the space
accounting compared; the meta keys of an inode, which fsck of the overlay
lists.  Imported only when one runs (LogStore.fsck, .meta_keys, through
LogStore.__getattr__), so a board's mount path never pays for it."""

from ovl.store import ROOT_INO, WHITEOUT
from ovl.store.damage import HEADER_DAMAGE
from ovl.store.blocks import FREE, UNKNOWN, BAD
from ovl.store.format import NODE_NAMES, read_summary


def fsck(store):
    """fsck: read every block in full, check every CRC and summary, walk the
    tree from the root, check link counts and the space accounting.
    Returns a report dict; report["errors"] is empty for a healthy store."""
    from ovl.paths import is_dir, is_lnk
    errors = []
    warnings = []
    es = store.es
    nodes_total = 0
    live_total = 0
    for b in range(store.nblocks):
        st = store.blocks.state[b]
        if st in (FREE, UNKNOWN, BAD):
            continue
        scanned, end, clean, junk = store._scan(b)
        nodes_total += len(scanned)
        listed = {}
        for addr, n in junk:
            errors.append("block %d offset %d: %d damaged bytes (no node"
                          " header)" % (b, addr - b * es, n))
        if b != store.wblock:
            summ = read_summary(store.blocks.read, b * es, es,
                                store.data_start)
            if summ is not None:
                a = [(nd.addr, nd.type, nd.ver, nd.txn) for nd in summ[0]]
                c = [(nd.addr, nd.type, nd.ver, nd.txn) for nd in scanned]
                for nd in summ[0]:
                    listed[nd.addr] = nd
                if a != c:
                    errors.append("block %d: summary disagrees with the "
                                  "nodes (%d listed, %d found)"
                                  % (b, len(a), len(c)))
            elif end < store.log_end and not clean and \
                    b not in store.garbage_blocks:
                errors.append("block %d: damaged node at offset %d"
                              % (b, end))
        live = 0
        for nd in scanned:
            if nd.damage is not None:
                errors.append("block %d offset %d: %s fails its %s%s"
                              % (b, nd.addr - b * es,
                                 NODE_NAMES.get(nd.type, "node"), nd.damage,
                                 store._damage_name(nd.type, nd.keep)))
                if nd.fields is None:
                    # (a damaged data node keeps its fields: its prefix is
                    # under the header CRC; other kinds take the summary's)
                    nd = listed.get(nd.addr)
                    if nd is None or nd.fields is None:
                        continue
            if store._is_live(nd):
                live += nd.size()
        live_total += live
        accounted = store.blocks.used[b] - store.data_start - \
            store.blocks.dead[b]
        if live != accounted:
            errors.append("block %d: %d live bytes but the accounting says"
                          " %d (%s)" % (b, live, accounted,
                                        "leak" if accounted > live
                                        else "over-counted dead"))
    # the tree (a damaged inode or directory answers EIO: named here)
    reachable = {ROOT_INO: True}
    paths = {ROOT_INO: "/"}
    refs = {}
    todo = [ROOT_INO]
    while todo:
        d = todo.pop()
        try:
            entries = list(store.listdir(d))
        except OSError as e:
            errors.append("%s: %s" % (paths.get(d, "inode %d" % d), e))
            continue
        for name, v in entries:
            if v == WHITEOUT:
                continue
            path = paths.get(d, "/").rstrip("/") + "/" + name
            try:
                inode = store.get(v)
            except OSError as e:
                errors.append("%s: %s" % (path, e))
                reachable[v] = True
                continue
            if inode is None:
                errors.append("dir %d: entry %r names missing inode %d"
                              % (d, name, v))
                continue
            refs[v] = refs.get(v, 0) + 1
            if is_dir(inode.mode):
                if v in reachable:
                    errors.append("directory %d has more than one name" % v)
                    continue
                todo.append(v)
                paths[v] = path
            reachable[v] = True
    for (kind, n), why in store.damaged.items():
        if n not in reachable:
            errors.append("%s %d: damaged on flash (%s)"
                          % ("directory" if kind == "dir" else "inode", n,
                             why))
    for addr, ntype, ver, what, target, keep in store.damage:
        if ntype == HEADER_DAMAGE:
            errors.append("block %d: %s" % (addr // es, what))
    orphans = []
    for ino, rec in store.inodes.items():
        try:
            inode = store.get(ino)
        except OSError:
            continue                # reported above
        if inode is None:
            continue
        if ino not in reachable:
            orphans.append(ino)
            continue
        # link counts of files and symlinks (a directory's is the
        # overlay's business: it shows merged directories with 1)
        if not is_dir(inode.mode) and \
                inode.nlink != refs.get(ino, 0):
            warnings.append("inode %d: nlink %d, %d names" %
                            (ino, inode.nlink, refs.get(ino, 0)))
        if is_lnk(inode.mode) and ino not in store.links:
            errors.append("symlink inode %d has no target" % ino)
    for ino in orphans:
        warnings.append("inode %d is not reachable from the root (orphan)"
                        % ino)
    for r in store.repairs:
        warnings.append("mount repaired: " + r)
    return {"errors": errors, "warnings": warnings, "orphans": sorted(orphans),
            "nodes": nodes_total, "live_bytes": live_total,
            "inodes": len(reachable), "repairs": list(store.repairs)}


def meta_keys(store, ino):
    """The meta keys set on ino (str), sorted (fsck lists indexes)."""
    m = store.meta.get(ino) or {}
    return sorted(k.decode() for k, rec in m.items() if rec[0] is not None)
