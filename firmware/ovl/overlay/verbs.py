"""The overlay's rarer verbs: layer_of, diff, revert, fsck, reset,
request_reset, reset_requested.

Imported at their first use (Overlay.diff and the others reach them
through Overlay.__getattr__), not by a boot's mount and file IO: a board's heap keeps only the
code it runs.  Each function takes the Overlay as its first argument.
"""

from ovl import compat
from ovl.compat import oserror
from ovl.paths import is_dir, is_reg, is_lnk, join, split_path, normalize
from ovl.overlay.meta import META_RESET, META_REPLACES, META_LOWER_ID, \
    INDEX_PREFIX, identity_bytes, utf8
from ovl.store import WHITEOUT
# (the format's name rule: the writer's, which a walk of the upper reports
# a damaged or edited store breaking)
from ovl.store.write import name_fault
from ovl.overlay import writing


def lower_root_attrs(lower):
    """The lower root's attributes, for an upper root that shows it (the
    first mount over a store gives its root the same: Overlay.__init__)."""
    root = lower.lookup("/")
    return {"mode": root.mode, "uid": root.uid, "gid": root.gid,
            "mtime": root.mtime, "ctime": root.mtime}


def layer_of(ovl, path):
    """'lower', 'upper' or 'copied-up' for the object at path (not
    following a final symlink); 'conflict' for a file whose reads
    fail after an upgrade (ovl.upgrade)."""
    node = ovl._walk(path, follow=False)
    if node.uino is None:
        return "lower"
    if node.origin is not None and ovl._upgrade_marked(node.uino):
        from ovl import upgrade
        if upgrade.is_stale(ovl, node.uino):
            return "conflict"
    if node.origin is not None or node.uino == ovl._root_ino or \
            _replaces_lower(ovl, node):
        return "copied-up"
    return "upper"


def _replaces_lower(ovl, node):
    """Whether upper-only node was put in place of the lower object its
    name hides (renamed over it, as `ovl remote put` does, or made over
    its whiteout: ovl.upgrade's REPLACES record): the user's version of a
    firmware file, as a copy-up is.  diff calls it modified, layer_of
    copied-up."""
    if node.origin is not None or is_dir(node.mode) or \
            ovl.store.get_meta(node.uino, META_REPLACES) is None:
        return False        # (ovl.upgrade not imported for most files)
    from ovl import upgrade
    return upgrade.replaced_here(ovl, node) is not None and \
        ovl._lower_entry(node.parent, node.name) is not None


def walk_upper(ovl, node, problems=None, unread=None):
    """Depth-first (path, 'whiteout'|'object', node) over the upper's
    own entries below directory node (sorted, streamed per dir).  With
    problems (a list, fsck's): a directory or entry that answers EIO
    (damage) is appended to it by path and the walk goes on without it
    (the directories it could not list also to unread).  A loop over a
    stack of the directories being listed, one a level: a deep tree
    costs heap, not call stack (a board's is small)."""
    stack = []      # (directory node, its entries not yet walked)
    walked = {node.uino: True}  # directories: a loop is walked once
    while True:
        if node is not None:
            try:
                stack.append((node, ovl.store.listdir(node.uino)))
            except OSError as e:
                if problems is None:
                    raise
                problems.append("%s: %s; not checked below it"
                                % (node.path, e))
                unread.append(node.path)
            node = None
        if not stack:
            return
        parent, entries = stack[-1]
        item = next(entries, None)
        if item is None:
            stack.pop()
            continue
        name, value = item
        why = name_fault(name.encode("utf-8", "surrogateescape"))
        if why:
            # a name the format forbids ("..", "a/b": a damaged or edited
            # upper), never followed: what is wrong said, as for a loop
            why = "%s: entry %r breaks the name rule (%s)" % (
                parent.path, name, why)
            if problems is None:
                raise oserror(compat.EIO, why)
            problems.append(why + "; not walked")
            continue
        path = join(parent.path, name)
        if value == WHITEOUT:
            yield path, "whiteout", None
            continue
        try:
            child = ovl._child(parent, name)
        except OSError as e:
            if problems is None:
                raise
            problems.append("%s: %s" % (path, e))
            continue
        if problems is not None and not writing.strict_utf8(name):
            # stored by an older ovl on MicroPython (no name made now is)
            problems.append("%s: name is not UTF-8 (an older ovl on"
                            " MicroPython stored it): rename or remove it"
                            % path)
        if child is None:
            continue
        if is_dir(child.mode) and child.uino in walked:
            # a second name of a directory (a damaged or hostile upper):
            # walked again, a loop would never end
            why = "%s: names directory %d, which has a name already" \
                % (path, child.uino)
            if problems is None:
                raise oserror(compat.EIO, why)
            problems.append(why + "; not walked below it")
            continue
        yield path, "object", child
        if is_dir(child.mode):
            walked[child.uino] = True
            node = child


def diff(ovl, path="/"):
    """What the upper changes against the lower, as sorted
    (kind, path): kind is 'added', 'modified' (data), 'metadata'
    (attributes only), 'deleted' or 'conflict'."""
    ovl.flush_all()
    if ovl.store is None:
        return []
    node = ovl._walk(path, follow=False)
    out = []
    if node.uino is None:
        return out
    if path != "/" and node.dirent:
        kind = _diff_kind(ovl, node)
        if kind:
            out.append((kind, node.path))
    if is_dir(node.mode) and node.uino is not None:
        for p, kind, child in walk_upper(ovl, node):
            if kind == "whiteout":
                out.append(("deleted", p))
                continue
            k = _diff_kind(ovl, child)
            if k:
                out.append((k, p))
    out.sort(key=lambda item: item[1])
    return out


def _diff_kind(ovl, node):
    origin = node.origin
    if _replaces_lower(ovl, node):
        return "modified"       # put in place of the firmware's file
    if origin is None:
        return "added"          # upper-only
    i = node.inode
    if is_reg(i.mode) and ovl._upgrade_marked(node.uino):
        from ovl import upgrade
        if upgrade.is_stale(ovl, node.uino):
            # reads fail (ovl.upgrade), wherever its lower name went
            return "conflict"
    e = node.lentry
    if origin.path != node.path:
        # moved here, unless the lower holds the same file at this name: a
        # hard link copied up through another name records that name
        e = ovl._lower_entry(node.parent, node.name)
        if e and e.ino != origin.ino:
            e = None
    if e is None:
        return "added"
    if is_reg(i.mode):
        from ovl import upgrade
        if upgrade.data_changed(ovl, node):
            return "modified"
    elif is_lnk(i.mode):
        if ovl.store.readlink(node.uino) != ovl.lower.readlink(e):
            return "modified"
    if i.mode != e.mode or i.uid != e.uid or i.gid != e.gid:
        return "metadata"
    # a directory's mtime moves with every entry made in it: not a change
    if not is_dir(i.mode) and i.mtime != e.mtime:
        return "metadata"
    return None


def revert(ovl, path):
    """Drop the upper's changes for path (a subtree for a directory),
    atomically, so the lower version shows again.  Only "/" itself (a
    path of slashes) is the whole upper, reset(); any other path is
    resolved first, as Linux would ("", "/nope/.." ENOENT, "/file/.."
    ENOTDIR), and a last name "." or ".." is EINVAL: "." or "/etc/.."
    normalised to "/" and reset everything."""
    if path and not path.strip("/"):
        ovl.reset()
        return

    def op(txn):
        parent, name = ovl._walk_parent(path, compat.EINVAL)
        found = None
        # (meta.utf8: a name is looked up by its bytes)
        if parent.uino is not None and utf8(name) and (
                parent.dirent or parent.uino == ovl._root_ino):
            found = ovl.store.lookup(parent.uino, name)
        if found is None:
            # nothing in the upper: fine for a lower name, a typo else
            node = ovl._child(parent, name)
            if node is None:
                raise oserror(compat.ENOENT, path)
            if node.uino is not None:
                # a lower hard-link name showing the copy of another
                # name through the link index: revert the file
                drop_links(ovl, txn, node.uino, 0, True)
            return
        dropped = {}
        if found != WHITEOUT:
            _drop_upper_tree(ovl, txn, ovl._child(parent, name), dropped)
        else:
            _relink_lower_name(ovl, txn, parent, name)
        txn.unlink(parent.uino, name)
        for uino in dropped:
            count, lower_named = dropped[uino]
            drop_links(ovl, txn, uino, count, lower_named)
    writing._mutate(ovl, path, op)


def _relink_lower_name(ovl, txn, parent, name):
    """A whiteout over a lower hard-linked name goes: if the file's
    other names share an upper copy (the link index), count the name
    that comes back in its nlink."""
    entry = ovl._lower_entry(parent, name)
    if entry is None or entry.nlink < 2 or is_dir(entry.mode):
        return
    from ovl.overlay import hostops
    inode = hostops.lookup(ovl, entry)
    if inode is not None:
        txn.put_inode(inode.ino, nlink=inode.nlink + 1)


def _drop_upper_tree(ovl, txn, node, dropped):
    """Unlink everything below node; count dropped names per non-dir,
    and note whether one of them is the file's own lower name.  A loop
    over a stack of the directories being emptied, one a level (a deep
    tree costs heap, not call stack); each is deleted once empty, then
    its name in its parent (node's own name is the caller's)."""
    stack = []      # (directory node, its entries not yet dropped)
    while True:
        if is_dir(node.mode):
            stack.append((node, ovl.store.listdir(node.uino)))
        else:
            count, lower_named = dropped.get(node.uino, (0, False))
            own = False
            if node.origin is not None:
                below = ovl._lower_entry(node.parent, node.name)
                own = below is not None and below.ino == node.origin.ino
            dropped[node.uino] = (count + 1, lower_named or own)
            if stack:
                txn.unlink(node.parent.uino, node.name)
        node = None
        while node is None and stack:
            parent, entries = stack[-1]
            item = next(entries, None)
            if item is None:
                stack.pop()
                txn.delete_inode(parent.uino)
                if stack:
                    txn.unlink(stack[-1][0].uino, parent.name)
            elif item[1] == WHITEOUT:
                txn.unlink(parent.uino, item[0])
            else:
                node = ovl._child(parent, item[0])
        if node is None:
            return


def drop_links(ovl, txn, uino, count, lower_named):
    """count upper names of uino were reverted.  When one of them is
    the file's own lower name, a copied-up hard-linked file also loses
    its index entry, so all its lower names show the lower again; it
    lives on only if upper names elsewhere still use it.  Names it got
    in the upper only (a rename, a link) go as an unlink would."""
    inode = ovl.store.get(uino)
    origin = ovl._get_origin(uino)
    key = None if origin is None else INDEX_PREFIX + str(origin.ino)
    indexed = key is not None and \
        ovl.store.get_meta(ovl._root_ino, key) is not None
    if indexed and lower_named:
        txn.set_meta(ovl._root_ino, key, None)
        nlink = _count_upper_names(ovl, ovl._root_ino, uino) - count
    else:
        nlink = inode.nlink - count
        if nlink <= 0 and indexed:
            txn.set_meta(ovl._root_ino, key, None)
    if nlink <= 0:
        ovl.writeback.drop(uino)
        txn.delete_inode(uino)
    else:
        txn.put_inode(uino, nlink=nlink)


def _count_upper_names(ovl, dir_ino, uino):
    """How many upper names below directory dir_ino name uino (a stack
    of the directories still to list: a deep tree costs no call
    stack)."""
    n = 0
    todo = [dir_ino]
    while todo:
        for name, value in ovl.store.listdir(todo.pop()):
            if value == uino:
                n += 1
            elif value != WHITEOUT:
                child = ovl.store.get(value)
                if child is not None and is_dir(child.mode):
                    todo.append(value)
    return n


def fsck(ovl):
    """Problems found, as strings (empty list = clean): the store's own
    fsck, then the overlay's invariants over the upper tree.  (Copy-up
    is one transaction, so there are never copy-up temporaries.)  What
    answers EIO (damage on flash) is a problem too, named by its path,
    and the check goes on with the rest of the tree."""
    if ovl.store is None:
        return []
    report = ovl.store.fsck() or ()
    if isinstance(report, dict):        # {"errors": [...], "warnings"}
        report = report.get("errors") or ()
    problems = ["store: %s" % p for p in report]
    names = {}          # upper ino of a non-dir -> upper names seen
    unread = []         # directories the walk could not list
    for path, kind, node in _walk_upper_fsck(ovl, problems, unread):
        try:
            _fsck_object(ovl, path, kind, node, names, problems)
        except OSError as e:
            problems.append("%s: %s" % (path, e))
    try:
        _fsck_link_index(ovl, problems)
    except OSError as e:
        problems.append("link index: %s" % e)
    for uino, paths in names.items():
        try:
            inode = ovl.store.get(uino)
            origin = ovl._get_origin(uino)
            indexed = origin is not None and ovl.store.get_meta(
                ovl._root_ino, INDEX_PREFIX + str(origin.ino)) is not None
        except OSError as e:
            problems.append("%s: %s" % (paths[0], e))
            continue
        # (names in a directory that could not be listed are not counted:
        # then only a count below the names seen is wrong)
        if indexed or unread:
            if inode.nlink < len(paths):
                problems.append("%s: nlink %d below its %d upper names"
                                % (paths[0], inode.nlink, len(paths)))
        elif inode.nlink != len(paths):
            problems.append("%s: nlink %d but %d names"
                            % (paths[0], inode.nlink, len(paths)))
    return problems


def _fsck_object(ovl, path, kind, node, names, problems):
    """The union's checks of one upper entry (names: see fsck)."""
    if kind == "whiteout":
        parent_path = path.rsplit("/", 1)[0] or "/"
        parent = ovl._walk(parent_path, follow=False)
        if ovl._lower_entry(parent, path.rsplit("/", 1)[1]) is None:
            problems.append("%s: whiteout over nothing" % path)
        return
    if is_dir(node.mode):
        if node.origin is not None and node.lentry is None:
            problems.append("%s: redirect to missing lower dir %s"
                            % (path, node.origin.path))
        return
    if node.uino not in names:
        _fsck_replaced(ovl, path, node, problems)
        before = len(problems)
        _fsck_origin(ovl, path, node, problems)
        # a conflict whose origin is gone is already named above
        if len(problems) == before and node.origin is not None and \
                ovl._upgrade_marked(node.uino):
            from ovl import upgrade
            if upgrade.is_stale(ovl, node.uino):
                problems.append(
                    "%s: conflict: the firmware's bytes under this"
                    " partly changed file changed (reads fail with"
                    " EIO); revert it or rewrite it whole" % path)
    names.setdefault(node.uino, []).append(path)


def _fsck_origin(ovl, path, node, problems):
    """A partly copied-up file whose lower original is gone reads
    zeros where its unchanged bytes were."""
    # (a copied-up node's lentry: what its origin names in the lower)
    origin, entry = node.origin, node.lentry
    if entry is not None and not is_reg(entry.mode):
        entry = None
    if origin is None or entry is not None or not is_reg(node.inode.mode):
        return
    below = min(origin.lowlim, node.inode.size)
    for _, _, data in ovl.store.read(node.uino, 0, below):
        if data is None:
            problems.append("%s: origin %s is missing from the lower;"
                            " its unchanged bytes read as zeros"
                            % (path, origin.path))
            return


def _fsck_replaced(ovl, path, node, problems):
    """A REPLACES record an upgrade could not read: the file would be
    judged as created, a conflict at every upgrade."""
    if node.origin is None and \
            ovl.store.get_meta(node.uino, META_REPLACES) is not None:
        from ovl import upgrade
        try:
            upgrade.get_replaced(ovl.store, node.uino)
        except ValueError as e:
            problems.append("%s: %s" % (path, e))


def _index_entries(ovl):
    """(key, value) of each hard-link index entry (link:<lower ino>)."""
    for key in ovl.store.meta_keys(ovl._root_ino):
        if key.startswith(INDEX_PREFIX):
            yield key, ovl.store.get_meta(ovl._root_ino, key)


def linked_inodes(ovl):
    """The upper inodes the hard-link index names: copies of lower files
    with several names, whose nlink counts the lower's names too, which
    the store's own fsck (upper names only) cannot see; fsck bounds them
    by their upper names.  (A value that is no number is fsck's problem.)"""
    found = []
    for _, raw in _index_entries(ovl):
        try:
            found.append(int(raw))
        except ValueError:
            pass
    return found


def _fsck_link_index(ovl, problems):
    """Each link:<lower ino> entry names a live upper non-directory
    copied up from that lower inode."""
    for key, raw in _index_entries(ovl):
        try:
            uino = int(raw)
        except ValueError:
            uino = None
        inode = None if uino is None else ovl.store.get(uino)
        origin = None if inode is None else ovl._get_origin(uino)
        if inode is None or is_dir(inode.mode):
            problems.append("link index %s: upper inode %r is missing or"
                            " a directory" % (key, bytes(raw)))
        elif origin is None or INDEX_PREFIX + str(origin.ino) != key:
            problems.append("link index %s: upper inode %d was not"
                            " copied up from that lower inode"
                            % (key, uino))


def _walk_upper_fsck(ovl, problems, unread):
    """walk_upper from the root for fsck, going on past damage."""
    try:
        root = ovl._walk("/")
    except OSError as e:            # the root's own inode is damaged
        problems.append("/: %s; not checked below it" % e)
        unread.append("/")
        return
    try:
        for item in walk_upper(ovl, root, problems, unread):
            yield item
    except ValueError as e:
        problems.append("upper tree: %s" % e)


def mount(store, lower, flag):
    """ovl.overlay.mount()'s half of a reset requested for this boot
    (request_reset;
    flag: the request, as recorded): the paths to keep, for Overlay.reset
    once the overlay is up, or [] when the store was reset here whole,
    before anything is read."""
    flag = bytes(flag)
    keep = [] if flag == b"1" else flag.decode().split("\n")
    if not keep:
        store.reset(**lower_root_attrs(lower))
    return keep


def reset(ovl, keep=()):
    """Factory reset: the upper becomes empty, atomically.  keep: paths
    whose upper entries (a changed file, a subtree, a whiteout) survive,
    with the upper directories above them; then the reset is one
    transaction that drops everything else (OpenWrt keeps /etc/config
    across a sysupgrade)."""
    ovl._writable()
    keep = [split_path(normalize(p)) for p in _absolute(keep)]
    if keep:
        if [] not in keep:          # keeping "/" keeps everything
            writing._mutate(ovl, "/",
                            lambda txn: _reset_keeping(ovl, txn, keep))
        return
    # every pending write is forgotten
    wb = ovl.writeback
    for uino in list(wb.buffers):
        wb.drop(uino)
    ovl._bases_checked.clear()
    ovl._origins.clear()
    # the new root shows the firmware's root, in the same transaction
    ovl.store.reset(**lower_root_attrs(ovl.lower))
    # and records the firmware's identity, as a first mount does
    txn = ovl.store.begin()
    txn.set_meta(ovl._root_ino, META_LOWER_ID, identity_bytes(ovl.lower))
    txn.commit()


def _absolute(keep):
    """keep, refused (EINVAL) unless every path is absolute and holds no
    "." or ".." name: "" or "/nope/.." would normalize to "/", and keeping
    "/" keeps everything, so a reset given an empty shell variable would
    reset nothing and say it had."""
    for p in keep:
        if not p.startswith("/"):
            raise oserror(compat.EINVAL, "keep path %r is not absolute" % p)
        for c in p.split("/"):
            if c in (".", ".."):
                raise oserror(compat.EINVAL, "keep path %r holds %r" % (p, c))
    return keep


def _reset_keeping(ovl, txn, keep):
    dropped = {}
    _drop_except(ovl, txn, ovl._walk("/"), keep, dropped)
    for uino in dropped:
        count, lower_named = dropped[uino]
        drop_links(ovl, txn, uino, count, lower_named)
    attrs = ovl.store.get(ovl._root_ino).attrs()
    attrs.update(lower_root_attrs(ovl.lower))
    txn.put_inode(ovl._root_ino, **attrs)
    txn.set_meta(ovl._root_ino, META_RESET, None)


def _drop_except(ovl, txn, node, keep, dropped):
    """Unlink node's upper entries except those on a kept path (keep:
    component lists relative to node).  A stack of the directories on
    kept paths being gone through, one a level: a deep kept path costs
    no call stack."""
    stack = [(node, ovl.store.listdir(node.uino), keep)]
    while stack:
        node, entries, keep = stack[-1]
        item = next(entries, None)
        if item is None:
            stack.pop()
            continue
        name, value = item
        tails = [k[1:] for k in keep if k[0] == name]
        if [] in tails:
            continue
        child = None if value == WHITEOUT else ovl._child(node, name)
        if tails and child is not None and is_dir(child.mode):
            stack.append((child, ovl.store.listdir(child.uino), tails))
            continue
        if child is not None:
            _drop_upper_tree(ovl, txn, child, dropped)
        txn.unlink(node.uino, name)


def request_reset(ovl, on=True, keep=()):
    """Ask the next mount() to perform a factory reset (keeping the
    paths in keep, as reset(keep) does)."""
    flag = "\n".join(normalize(p) for p in _absolute(keep)).encode() or b"1"

    def op(txn):
        txn.set_meta(ovl._root_ino, META_RESET, flag if on else None)
    writing._mutate(ovl, "/", op)


def reset_requested(ovl):
    return ovl.store is not None and \
        ovl.store.get_meta(ovl._root_ino, META_RESET) is not None
