"""fsck --repair of the log store: what fsck's report says a repair can
mend, mended in one transaction (a power cut leaves the store as before
or after it).  The orphans are deleted; an entry naming a directory that
has a name already (a loop) is dropped; each directory that answers EIO
for a damaged entry is made anew under its inode number with the
entries that still read, and the damaged entry restored where its name
and inode are known; an inode no readable name reaches that damage may
have named goes into /lost+found as #<ino> (docs/STORE.md, "A directory
with a damaged entry"); an entry whose name breaks the format's rule is
unlinked, and its inode, when no other name reaches it, put in
/lost+found as #<ino> too; an inode that loses a name and keeps another
gets its link count put right.  Imported only by a repair (`ovl fsck
--repair`): never on a board's mount path."""

from ovl import compat
from ovl.paths import S_IFDIR, is_dir
from ovl.store import ROOT_INO, WHITEOUT, _key_bytes
from ovl.store.check import LOST_FOUND, meta_keys, readable_entries
from ovl.store.format import DIRENT_REMOVED, DIRENT_WHITEOUT
from ovl.store.txn_rare import drop_inode, unlink_misnamed
from ovl.store.write import name_fault


def repair(store, report, now=None):
    """Mend what fsck's report (store.fsck()) says can be, in one
    transaction; what was done, as lines ([] when nothing was).  now:
    the time /lost+found gets if it is made (default: the root's mtime;
    the store has no clock).  OSError(EEXIST) when /lost+found is needed
    and names no directory: nothing is done."""
    done = []
    txn = store.begin()
    for ino in report["orphans"]:
        txn.delete_inode(ino)
        done.append("deleted orphan inode %d (unreachable from the root)"
                    % ino)
    dropped = {}        # (directory, name bytes) -> True: unlinked here
    recount = {}        # ino -> the names it keeps, None for a directory
    for d, path, name in report.get("extra_names", ()):
        ino = store.lookup(d, name)
        txn.unlink(d, name)
        dropped[(d, _key_bytes(name))] = True
        recount[ino] = None
        done.append("dropped entry %s (a second name of directory %d)"
                    % (path, ino))
    by_dir = {}
    for entry in report["lost_entries"]:
        by_dir.setdefault(entry[0], []).append(entry)
    named = {}          # ino -> True: a restored entry names it
    remade = {}         # directory -> its readable entries
    for d in sorted(by_dir):
        got = _remake(store, txn, d, by_dir[d], named, done)
        if got is not None:
            remade[d] = got
    homeless = [ino for ino in report["unlisted"] if ino not in named]
    misnamed = report.get("misnamed", ())
    lf = None
    if homeless or [m for m in misnamed if m[4]]:
        lf = _lost_found(store, txn, remade.get(ROOT_INO), now, done)
    for ino in homeless:
        txn.link(lf, "#%d" % ino, ino)
        done.append("inode %d: its name lost, now /%s/#%d"
                    % (ino, LOST_FOUND, ino))
    for d, where, name, ino, homeless_ino, names in misnamed:
        unlink_misnamed(txn, d, _key_bytes(name))
        if ino != WHITEOUT and not homeless_ino:
            kept = recount.get(ino, names)
            recount[ino] = None if kept is None else kept - 1
        line = "dropped entry %r of %s (it breaks the name rule)" % (name,
                                                                     where)
        if homeless_ino:
            txn.link(lf, "#%d" % ino, ino)
            line += ": inode %d now /%s/#%d" % (ino, LOST_FOUND, ino)
        done.append(line)
    for ino in recount:
        _put_nlink(store, txn, ino, recount[ino], dropped)
    if not done:
        txn.abort()
        return done
    txn.commit()
    for d in remade:
        # (a remount finds the damaged entries older than d: no damage)
        store.damaged.pop(("dir", d), None)
    return done


def _put_nlink(store, txn, ino, names, dropped):
    """ino's link count put right in txn after the repair took names of
    it away: names, the names a file keeps; for a directory (names
    None) 2 + its subdirectories, the entries naming one that the repair
    keeps (dropped: those it unlinks; a name breaking the rule goes
    too)."""
    try:
        inode = store.get(ino)
    except OSError:
        return                  # damaged: fsck goes on reporting it
    if names is None or is_dir(inode.mode):
        names = 2
        for raw, v in readable_entries(store, ino)[0]:
            if v == WHITEOUT or name_fault(raw) or (ino, raw) in dropped:
                continue
            try:
                child = store.get(v)
            except OSError:
                continue        # damaged: fsck goes on reporting it
            if child is not None and is_dir(child.mode):
                names += 1
    if names != inode.nlink:
        txn.put_inode(ino, nlink=names)


def _answers_eio(store, d):
    try:
        for _ in store.listdir(d):
            pass
    except OSError as e:
        return compat.error_code(e) == compat.EIO
    return False


def _remake(store, txn, d, lost, named, done):
    """Make directory d anew in txn when it answers EIO for a damaged
    entry: its inode deleted and put again under its number (a new birth:
    every entry node older than it, the damaged ones too, is dropped at
    the commit and at each mount after), its metadata set again, its
    readable entries linked again and the damaged entries of lost
    (fsck's lost_entries of d) restored where their name and inode are
    known.  Its readable entries ({name bytes: ino or WHITEOUT}), or None
    when d is not made anew (it reads, it is gone, or its own inode is
    damaged too: fsck goes on reporting it)."""
    birth = store._birth(d)
    if not birth or not _answers_eio(store, d):
        return None
    try:
        inode = store.get(d)
    except OSError:
        return None
    path = lost[0][1] or "directory inode %d" % d
    entries, bad = readable_entries(store, d)
    keep = {}
    for name, v in entries:
        keep[name] = v
    meta = [(k, store.get_meta(d, k)) for k in meta_keys(store, d)]
    drop_inode(txn, d)
    txn.put_inode(d, **inode.attrs())
    for k, value in meta:
        txn.set_meta(d, k, value)
    for name, v in entries:
        if v == WHITEOUT:
            txn.whiteout(d, name)
        else:
            txn.link(d, name, v)
    done.append("%s made anew with its %d readable entries"
                % (path, len(entries)))
    for parent, where, ino, name, ver, addr in lost:
        # one older than d's birth was dropped before (a repair's)
        if ver < birth or name is None or ino == DIRENT_REMOVED:
            continue
        raw = name.encode("utf-8", "surrogateescape")
        full = path.rstrip("/") + "/" + name
        if raw in keep:
            done.append("entry %s damaged at 0x%x: a readable one of the"
                        " name kept" % (full, addr))
        elif ino == DIRENT_WHITEOUT:
            txn.whiteout(d, raw)
            keep[raw] = WHITEOUT
            done.append("restored whiteout %s" % full)
        elif store.inodes.live(ino):
            txn.link(d, raw, ino)
            keep[raw] = ino
            named[ino] = True
            done.append("restored entry %s (inode %d)" % (full, ino))
        else:
            done.append("entry %s damaged at 0x%x named inode %d, which is"
                        " gone: not restored" % (full, addr, ino))
    return keep


def _lost_found(store, txn, root_entries, now, done):
    """The inode of /lost+found, made in txn when the root has none
    (root_entries: the root's readable entries when the root is made
    anew in txn, whose lookup may answer EIO)."""
    raw = LOST_FOUND.encode()
    if root_entries is not None:
        v = root_entries.get(raw)
    else:
        v = store.lookup(ROOT_INO, LOST_FOUND)
    if v is not None and v != WHITEOUT:
        inode = store.get(v)
        if inode is not None and is_dir(inode.mode):
            return v
        raise compat.oserror(compat.EEXIST, "/%s is not a directory: rename"
                             " it and repair again" % LOST_FOUND)
    if now is None:
        now = store.get(ROOT_INO).mtime
    lf = txn.new_ino()
    txn.put_inode(lf, mode=S_IFDIR | 0o700, nlink=2, mtime=now, ctime=now)
    txn.link(ROOT_INO, LOST_FOUND, lf)
    done.append("made /%s" % LOST_FOUND)
    return lf
