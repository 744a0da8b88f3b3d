"""The operations that take a name away: remove (unlink), rmdir, rename.

A boot's mount and file IO never run them, so Overlay imports this module
at their first use (Overlay.__getattr__ answers these names) and a board's
heap keeps none of it until then.  Each function takes the Overlay as its
first argument and is reached as the Overlay's method of the same name.
A name taken from the lower leaves a whiteout in the upper directory;
which lower entry a name hides (Overlay._lower_entry) is asked here too.
"""

from ovl import compat
from ovl.paths import join, is_dir
from ovl.overlay.meta import META_REPLACES, INDEX_PREFIX
from ovl.overlay import writing
from ovl.overlay.writing import note_change, upper_name


def remove(ovl, path):
    def op(txn):
        parent, name, node = existing(ovl, path, False, compat.EISDIR)
        if path.endswith("/"):
            raise compat.oserror(compat.ENOTDIR, path)
        writing._copy_up(ovl, txn, parent)
        drop_name(ovl, txn, parent, name, node)
        release(ovl, txn, node)
        _touch_dir(ovl, txn, parent)
    writing._mutate(ovl, path, op)


unlink = remove


def rmdir(ovl, path):
    # Linux: "/" is EBUSY, a last name "." EINVAL and ".." ENOTEMPTY
    end = path.rstrip("/")
    errno = compat.EINVAL if end.endswith("/.") else \
        compat.ENOTEMPTY if end.endswith("/..") else compat.EBUSY

    def op(txn):
        parent, name, node = existing(ovl, path, True, errno)
        if not is_empty(ovl, node):
            raise compat.oserror(compat.ENOTEMPTY, path)
        writing._copy_up(ovl, txn, parent)
        purge_whiteouts(ovl, txn, node)
        drop_name(ovl, txn, parent, name, node)
        if node.uino is not None:
            txn.delete_inode(node.uino)
        _touch_dir(ovl, txn, parent)
    writing._mutate(ovl, path, op)


def rename(ovl, src, dst):
    def op(txn):
        # Linux resolves both parents before looking at either name
        sparent, sname = ovl._walk_parent(src)
        dparent, dname = ovl._walk_parent(dst)
        snode = ovl._child(sparent, sname)
        if snode is None:
            raise compat.oserror(compat.ENOENT, src)
        dnode = ovl._child(dparent, dname)
        # (before the same name's no-op: rename("/f", "/f/") too)
        if (src.endswith("/") or dst.endswith("/")) and not is_dir(snode.mode):
            raise compat.oserror(compat.ENOTDIR, src)
        if snode.path == (dnode.path if dnode else join(dparent.path,
                                                        dname)):
            return
        if is_dir(snode.mode) and (dparent.path + "/").startswith(
                snode.path + "/"):
            raise compat.oserror(compat.EINVAL, dst)
        if dnode is not None:
            if dnode.path == "/" or (snode.path + "/").startswith(
                    dnode.path + "/"):
                raise compat.oserror(compat.ENOTEMPTY, dst)
            if snode.uino is not None and snode.uino == dnode.uino:
                return
            if (snode.uino is None and dnode.uino is None and
                    not is_dir(snode.mode) and snode.lentry.ino ==
                    dnode.lentry.ino):
                return      # two lower names of one file: POSIX no-op
            if is_dir(snode.mode):
                if not is_dir(dnode.mode):
                    raise compat.oserror(compat.ENOTDIR, dst)
                if not is_empty(ovl, dnode):
                    raise compat.oserror(compat.ENOTEMPTY, dst)
            elif is_dir(dnode.mode):
                raise compat.oserror(compat.EISDIR, dst)
        # both names go in the upper (the source's as a whiteout when
        # the lower has it): EINVAL before the store looks them up; a
        # source only the upper holds just goes (one an older ovl stored
        # that is not UTF-8 too)
        whiteout = _lower_entry(ovl, sparent, sname) is not None
        if whiteout:
            upper_name(sname)
        upper_name(dname)
        # copy up both parents; the source gets an upper inode but is
        # never copied whole: a directory keeps its ORIGIN (a redirect)
        writing._copy_up(ovl, txn, sparent)
        writing._copy_up(ovl, txn, dparent)
        writing._ensure_upper(ovl, txn, snode)
        if snode.origin is not None and not is_dir(snode.mode) and \
                lower_path(dparent, dname) != snode.origin.path:
            # moved off the firmware name whose bytes it reads: its base
            # lets an upgrade tell whether they changed (ovl.upgrade)
            note_change(ovl, txn, snode.uino, snode.origin)
        if dnode is not None:
            if dnode.dirent:
                txn.unlink(dparent.uino, dname)
            if is_dir(dnode.mode):
                purge_whiteouts(ovl, txn, dnode)
                if dnode.uino is not None:
                    txn.delete_inode(dnode.uino)
            else:
                release(ovl, txn, dnode)
        elif not dparent.fresh and \
                ovl.store.lookup(dparent.uino, dname) is not None:
            txn.unlink(dparent.uino, dname)       # a whiteout
        txn.link(dparent.uino, dname, snode.uino)
        if snode.origin is None:
            note_replaced(ovl, txn, snode.uino, dparent, dname)
        if snode.dirent:
            txn.unlink(sparent.uino, sname)
        if whiteout:
            txn.whiteout(sparent.uino, sname)
        writing._put(ovl, txn, snode, ctime=writing._now(ovl))
        _touch_dir(ovl, txn, sparent)
        if dparent.uino != sparent.uino:
            _touch_dir(ovl, txn, dparent)
    writing._mutate(ovl, dst, op)


def existing(ovl, path, directory, errno):
    """(parent node, name, node) of the name path removes, which must
    exist and be a directory exactly when directory is true; errno: the
    error of a path that names no such pair (Overlay._walk_parent)."""
    parent, name = ovl._walk_parent(path, errno)
    node = ovl._child(parent, name)
    if node is None:
        raise compat.oserror(compat.ENOENT, path)
    if is_dir(node.mode) != directory:
        raise compat.oserror(compat.ENOTDIR if directory else compat.EISDIR,
                             path)
    return parent, name, node


def is_empty(ovl, node):
    for _ in ovl._listing(node):
        return False
    return True


def drop_name(ovl, txn, parent, name, node):
    """Remove parent/name from the merged view (parent is upper)."""
    has_lower = _lower_entry(ovl, parent, name) is not None
    if node is not None and node.dirent:
        txn.unlink(parent.uino, name)
    if has_lower:
        txn.whiteout(parent.uino, upper_name(name))


def release(ovl, txn, node):
    """One name of non-directory node went away: drop a link."""
    if node.uino is None:
        if node.lentry is None or node.lentry.nlink < 2:
            return
        # a lower file with other names: they must count one link
        # fewer, so it gets an upper inode (metadata only) that they
        # find through the hard-link index, as overlayfs with index=on
        writing._ensure_upper(ovl, txn, node)
    nlink = node.inode.nlink - 1
    if nlink <= 0:
        ovl.writeback.drop(node.uino)
        if node.origin is not None:
            key = INDEX_PREFIX + str(node.origin.ino)
            if ovl.store.get_meta(ovl._root_ino, key) is not None:
                txn.set_meta(ovl._root_ino, key, None)
        txn.delete_inode(node.uino)
    else:
        if node.origin is not None and \
                lower_path(node.parent, node.name) == node.origin.path:
            # its other names no longer include the firmware name whose
            # bytes it reads: as a rename off it (above)
            note_change(ovl, txn, node.uino, node.origin)
        writing._put(ovl, txn, node, nlink=nlink, ctime=writing._now(ovl))


def purge_whiteouts(ovl, txn, node):
    if node.uino is None or node.fresh:
        return
    for name, value in ovl.store.listdir(node.uino):
        txn.unlink(node.uino, name)


def _touch_dir(ovl, txn, parent):
    """Directory node parent's entries changed (in txn): its mtime and
    ctime are now."""
    now = writing._now(ovl)
    writing._put(ovl, txn, parent, mtime=now, ctime=now)


def lower_path(parent, name):
    """The lower path name has in directory node parent, or None (parent
    merges with no lower directory)."""
    if parent is None or parent.lentry is None or not is_dir(parent.lentry.mode):
        return None
    return join(parent.lpath, name)


def _lower_entry(ovl, parent, name):
    """The entry name has in the lower directory parent merges with, or
    None (Overlay._lower_entry)."""
    path = lower_path(parent, name)
    return None if path is None else ovl._lower_lookup(path)


def note_replaced(ovl, txn, uino, parent, name):
    """Upper-only uino was just named parent/name (a rename over, a
    create over a whiteout): record which lower object that name
    hides, so an upgrade treats it as a modified firmware file, not a
    created one (ovl.upgrade.note_replaced)."""
    entry = _lower_entry(ovl, parent, name)
    if entry is None and ovl.store.get_meta(uino, META_REPLACES) is None:
        return      # hides nothing and never did: nothing to record
    from ovl import upgrade
    upgrade.note_replaced(ovl, txn, uino, parent, name, entry)
