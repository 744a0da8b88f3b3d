"""The overlay: a writable union of a read-only lower and a log-store upper.

Lookup goes upper first, then lower, unless a whiteout hides the name or
the upper directory does not merge (see below).  Every mutating call is one
upper transaction, so a power cut leaves the merged tree before or after
it.  File data written through open() is buffered in RAM and committed on
flush, close, sync, or when the buffer fills (file.py's WriteBack).

How the upper records the union (all in store meta, see docs/OVERLAY.md):
  * an upper directory merges with exactly one lower directory, named by
    its ORIGIN meta (an absolute lower path).  No ORIGIN = opaque (made by
    mkdir).  A renamed lower directory keeps its ORIGIN, so a directory
    rename is a redirect, not a copy.
  * an upper non-directory copied up from the lower keeps ORIGIN too: the
    lower inode number (st_ino stays stable), a fingerprint, the lower path
    its unchanged bytes still come from, and the "lower limit": bytes below
    it that the upper does not store read from the lower, bytes above it
    read as zeros.  So a 1-byte edit of a big file stores 1 byte.
  * ROOT meta holds the lower identity, the reset-at-next-boot flag and the
    hard-link index (lower ino -> upper ino) that keeps links shared.

Path resolution (Overlay._walk, _child) makes a Node per name, upper
first, then lower; a lower name of a hard-linked file finds the file's
upper copy through the link index (read by ovl.overlay.hostops, imported
only when a lower file has more than one name).  Directories list as the
merge of two sorted streams (Overlay._listing).

Copy-up (ovl.overlay.writing's _copy_up, in the mutation's transaction:
_mutate) gives a node an upper inode linked at its name, parents first,
metadata only (its ORIGIN); a copied-up hard-linked lower file is
entered in the link index on the root inode (link:<lower ino> -> upper
ino), so its other lower names share it.

The package by concern: meta (meta keys, ORIGIN, limits), file (the
file object and its reads, the write-back's buffers as reads see them);
writing (transactions, copy-up, new names, open() for writing, writes
and their commits: imported at the first write, since a mount and
reads never run it), verbs (layer_of, diff, revert, fsck, reset,
request_reset), hostops (stat with named fields, lstat, listdir, links,
symlinks, modes, statvfs ...: what a board's boot, mount and file IO
never call), truncate and unlink (remove, rmdir, rename) are imported
at first use.  This module is the Overlay: its os-like interface, path
resolution, reads and mount().
"""

from ovl import compat, paths
from ovl.compat import const
from ovl.store import ROOT_INO, WHITEOUT
# file with the rest, not at the first open(): imported then, its code
# stayed for good above the first mount's objects, splitting the heap a
# remount frees.  Its classes are reached as file.X: the package's
# namespace holds each submodule anyway, and a name imported from one
# would be one more global on a board's heap.
from ovl.overlay import meta, file

# A mode's r (open()): its place in the string of mode letters "rwax"
_MODE_R = const(0)


class Node:
    """One resolved name: its upper side, its lower side, or both.

    uino/inode: the upper inode (None if the object lives only in the
    lower).  dirent: True if the parent's upper directory holds the name
    (False for a lower name reached through the hard-link index).
    lentry/lpath: for a directory, the lower directory it merges with; for
    a non-directory, the lower object (its origin when copied up).
    """

    # Defaults as class attributes: an instance holds only what was set on
    # it (a lookup makes a Node per component, and each attribute an
    # instance holds grows its table: allocation the collector must sweep).
    uino = inode = origin = lentry = lpath = None
    dirent = False
    fresh = False       # upper inode created by the current txn

    def __init__(self, parent, name, path):
        self.parent = parent
        self.name = name
        self.path = path

    @property
    def mode(self):
        # (a directory: paths.is_dir(node.mode), as for any other mode)
        return self.inode.mode if self.inode is not None else self.lentry.mode


class Overlay:
    """A mounted union.  store=None (or a read-only store) gives a
    read-only overlay: every write raises OSError(EROFS)."""

    # whether this mount met a new firmware (ovl.upgrade.new_lower sets
    # it), and the conflict marks a read-only one keeps in RAM (set by
    # ovl.upgrade): class defaults, read without the rare names' lookup
    lower_changed = False
    _upgrade_marks = None

    def __init__(self, lower, store, uid=0, gid=0, umask=0o022,
                 write_buffer=4096, clock=None):
        self.lower = lower
        self.store = store
        self.uid = uid
        self.gid = gid
        self.umask = umask
        self.write_buffer = write_buffer
        self.clock = clock          # None: time.time()
        self.readonly = store is None or bool(getattr(store, "readonly", False))
        self.conflicts = []         # paths changed in the lower and the upper
        self.writeback = file.WriteBack(self)    # what open files wrote
        # flush_all(): commit every file's buffered data; returns the first
        # error of a file whose commit failed, for sync() (WriteBack's own
        # method, no function of the Overlay's to keep)
        self.flush_all = self.writeback.flush_all
        self._bases_checked = {}    # upper inos whose base digest held
        self._origins = {}          # upper ino -> (Origin, lower Entry), the
        # last few files read (read_upper)
        self._root_ino = None
        if store is not None:
            self._root_ino = ROOT_INO
            # the lower the upper was last mounted over
            ident = meta.identity_bytes(lower)
            stored = store.get_meta(self._root_ino, meta.META_LOWER_ID)
            if stored is not None:
                if bytes(stored) != ident:
                    # a new firmware: ovl.upgrade rebases the upper over it
                    # and then records its identity
                    from ovl import upgrade
                    upgrade.new_lower(self, ident)
            elif not self.readonly:
                # first mount over this store: its root takes the lower
                # root's attributes, as a reset gives it
                # (verbs.lower_root_attrs; the Txn keeps the attributes not
                # named)
                txn = store.begin()
                txn.set_meta(self._root_ino, meta.META_LOWER_ID, ident)
                r = lower.lookup("/")
                txn.put_inode(self._root_ino, mode=r.mode, uid=r.uid,
                              gid=r.gid, mtime=r.mtime, ctime=r.mtime)
                txn.commit()

    def _writable(self, path=None):
        if self.readonly:
            raise compat.oserror(compat.EROFS, path)

    def _stat_node(self, node):
        """MicroPython's stat 10-tuple of node: (mode, ino, dev, nlink, uid,
        gid, size, atime, mtime, ctime), as the VFS returns it
        (Overlay.stat and lstat name its fields: ovl.overlay.hostops)."""
        if node.inode is not None:
            i = node.inode
            if node.origin is not None:
                ino = node.origin.ino
            else:
                ino = meta.UPPER_INO_BASE + node.uino
            nlink = i.nlink
            if paths.is_dir(i.mode) and node.lentry is not None:
                nlink = 1   # merged directory: unknown link count (as Linux)
            # pending writes: their size and time, uncommitted
            buf = self.writeback.buffers.get(node.uino)
            size, mtime, ctime = (i.size, i.mtime, i.ctime) if buf is None \
                else (buf.size, buf.mtime, buf.mtime)
            return (i.mode, ino, 0, nlink, i.uid, i.gid, size, mtime, mtime,
                    ctime)
        e = node.lentry
        return (e.mode, e.ino, 0, e.nlink, e.uid, e.gid, e.size, e.mtime,
                e.mtime, e.mtime)

    def _upgrade_marked(self, uino):
        return self.store.get_meta(uino, meta.META_CONFLICT) is not None or \
            self._upgrade_marks is not None

    # -- resolution: a path to a Node, upper first, then lower ------------

    def _get_origin(self, uino, store=None):
        # store: where to read it (an open transaction); default the store
        if store is None:
            store = self.store
        raw = store.get_meta(uino, meta.META_ORIGIN)
        return None if raw is None else meta.Origin.decode(raw)

    def _lower_lookup(self, path):
        try:
            return self.lower.lookup(path)
        except OSError as e:
            if compat.error_code(e) in (compat.ENOENT, compat.ENOTDIR):
                return None
            raise

    def _child(self, parent, name):
        """The node for name inside directory node parent, or None."""
        if not paths.is_dir(parent.mode):
            raise compat.oserror(compat.ENOTDIR, parent.path)
        if not meta.followable(name):
            return None     # (a NUL in a path: no entry found by it)
        in_upper = meta.utf8(name)
        # (a character is at most 4 bytes: a short name is not encoded)
        if len(name) > meta.NAME_MAX or len(name) * 4 > meta.NAME_MAX and \
                len(name.encode("utf-8", "surrogateescape")) > meta.NAME_MAX:
            raise compat.oserror(compat.ENAMETOOLONG, name)
        path = paths.join(parent.path, name)
        node = Node(parent, name, path)
        # a name that is not UTF-8 (CPython decodes it with
        # surrogateescape) is found by its bytes: an older ovl stored some
        if parent.uino is not None and in_upper:
            found = self.store.lookup(parent.uino, name)
            if found == WHITEOUT:
                return None
            if found is not None:
                node.uino = found
                node.inode = self.store.get(found)
                node.dirent = True
                node.origin = self._get_origin(found)
                if node.origin is not None:
                    node.lpath = node.origin.path
                    entry = self._lower_lookup(node.lpath)
                    if paths.is_dir(node.inode.mode):
                        if entry is not None and not paths.is_dir(entry.mode):
                            entry = None
                    node.lentry = entry
                return node
        if parent.lentry is None or not paths.is_dir(parent.lentry.mode):
            return None
        lpath = paths.join(parent.lpath, name)
        entry = self._lower_lookup(lpath)
        if entry is None:
            return None
        node.lentry = entry
        node.lpath = lpath
        if self.store is not None and entry.nlink > 1 and \
                not paths.is_dir(entry.mode):
            # another name of this lower file may have been copied up (a
            # stale index entry shows the lower)
            from ovl.overlay import hostops
            inode = hostops.lookup(self, entry)
            if inode is not None:
                node.uino = inode.ino
                node.inode = inode
                node.origin = self._get_origin(inode.ino)
        return node

    def _walk(self, path, follow=True, parent=False):
        """Resolve path.  Returns the node, or with parent=True the
        pair (parent directory node, final name).  Raises ENOENT/ENOTDIR/
        ELOOP like Linux."""
        if not path:    # (split, it would be no names: the root)
            raise compat.oserror(compat.ENOENT, path)
        # the names still to walk, last first: a symlink's target is put
        # at the end, so that its names are walked next (and followed, but
        # for the path's own last name, which follow decides)
        todo = paths.split_path(path)
        # a final "/" or "/." names a directory, as on Linux
        trailing_slash = (path.endswith("/") or path.endswith("/.")) and \
            len(todo) > 0
        todo.reverse()
        # the root, where every walk starts (_walk("/") gives it)
        root = Node(None, "", "/")
        root.lpath = "/"
        root.lentry = self.lower.lookup("/")    # (kept by the lower)
        if self._root_ino is not None:
            root.uino = self._root_ino
            root.inode = self.store.get(self._root_ino)
            root.dirent = True
        stack = [root]
        links = 0       # symlinks followed
        while todo:
            name = todo.pop()
            last = not todo
            if name == "..":
                if not paths.is_dir(stack[-1].mode):
                    raise compat.oserror(compat.ENOTDIR, path)
                if len(stack) > 1:
                    stack.pop()
                continue
            if last and parent:
                if not paths.is_dir(stack[-1].mode):
                    raise compat.oserror(compat.ENOTDIR, path)
                return stack[-1], name
            child = self._child(stack[-1], name)
            if child is None:
                raise compat.oserror(compat.ENOENT, path)
            # (a final "/" follows a last link too, as Linux)
            if paths.is_lnk(child.mode) and (not last or follow or
                                             trailing_slash):
                # ovl.overlay.hostops: a tree without symlinks never needs it
                from ovl.overlay import hostops
                links = hostops.follow(self, child, stack, todo, links, path)
                continue
            stack.append(child)
        node = stack[-1]
        if parent:
            return node
        if trailing_slash and not paths.is_dir(node.mode):
            raise compat.oserror(compat.ENOTDIR, path)
        return node

    def _walk_parent(self, path, errno=compat.EBUSY):
        """(parent node, name) of a path whose last component is created or
        removed; the final component is not followed.  "/", or a path
        whose last name is "." or "..", has no such pair: OSError(errno),
        as Linux reports for the calling operation, once the names before
        it were found (ENOENT, ENOTDIR first)."""
        comps = paths.split_path(path)
        if not comps or comps[-1] == ".." or \
                path.rstrip("/").endswith("/."):
            self._walk(path)
            raise compat.oserror(errno, path)
        return self._walk(path, parent=True)

    def _find_target(self, path):
        """(node, its path) for open(), or (None, (directory node, name))
        when no such name is there, the file O_CREAT makes (Overlay._create
        given the directory walked here: no second walk): a final symlink
        is followed (ovl.overlay.hostops' _find_target), and a dangling
        one names that file (O_EXCL's is hostops' _excl_target)."""
        parent, name = self._walk_parent(path, compat.EISDIR)
        node = self._child(parent, name)
        if node is None:
            # (a final "/": open() says ENOENT, or EISDIR to create)
            return None, (parent, name)
        if paths.is_lnk(node.mode):
            from ovl.overlay import hostops
            return hostops._find_target(self, parent, node)
        return node, node.path

    def _listing(self, node):
        """Merged entries of a directory node, sorted by name, streamed:
        yields (name, type, st_ino, size), type the S_IFMT bits of its
        mode (what ilistdir returns).  Two sorted streams (upper
        listdir, lower readdir) are merged; neither is held whole."""
        upper = iter(()) if node.uino is None else self.store.listdir(node.uino)
        lower = iter(()) if node.lentry is None else \
            self.lower.readdir(node.lentry)
        u = next(upper, None)
        lw = next(lower, None)
        while u is not None or lw is not None:
            if lw is None or (u is not None and u[0] <= lw[0]):
                name, uino = u
                same = lw is not None and lw[0] == name
                u = next(upper, None)
                if same:
                    lw = next(lower, None)
                if uino == WHITEOUT or not meta.followable(name):
                    continue    # (a name the format forbids: fsck's)
                inode = self.store.get(uino)
                origin = self._get_origin(uino)
                yield (name, inode.mode & paths.S_IFMT,
                       origin.ino if origin is not None
                       else meta.UPPER_INO_BASE + uino,
                       self.writeback.size(uino, inode.size))
                continue
            name, entry = lw
            lw = next(lower, None)
            size = entry.size
            if entry.nlink > 1 and self.store is not None and \
                    not paths.is_dir(entry.mode):
                # a hard-linked lower file may have an upper copy (its size)
                from ovl.overlay import hostops
                inode = hostops.lookup(self, entry)
                if inode is not None:
                    size = inode.size
            yield (name, entry.mode & paths.S_IFMT, entry.ino, size)

    # -- the os-like interface ----------------------------------------------

    def __getattr__(self, name):
        # the operations a board's boot, mount and file IO never call:
        # ovl.overlay.rare says which module, imported at first use, holds
        # each (its lists of names are not kept on a board's heap)
        from ovl.overlay import rare
        return rare.method(self, name)

    def ilistdir(self, path="/"):
        """Iterator of (name, type, ino, size); type is the S_IFMT bits."""
        self.flush_all(True)
        node = self._walk(path)
        if not paths.is_dir(node.mode):
            raise compat.oserror(compat.ENOTDIR, path)
        return self._listing(node)

    def read_upper(self, uino, offset, n):
        """Bytes [offset, offset+n) of upper regular file uino: stored
        extents from the upper, the rest from the lower below the lower
        limit, zeros above it.  Pending writes are read through their open
        transaction."""
        buf = self.writeback.buffers.get(uino)
        # the open transaction to read a changed file through
        view = None if buf is None else buf.txn
        # (its Origin or None, the lower regular file that names or None):
        # a file read in pieces looks it up once; the cache is emptied when
        # it holds 8 files, so that reading every file of a board keeps no
        # entry per file; one with pending writes is read through its
        # transaction, uncached
        cached = None if view is not None else self._origins.get(uino)
        if cached is None:
            origin = self._get_origin(uino, view)
            entry = None if origin is None else self._lower_lookup(origin.path)
            if entry is not None and not paths.is_reg(entry.mode):
                entry = None
            cached = (origin, entry)
            if view is None:
                if len(self._origins) >= 8:
                    self._origins.clear()
                self._origins[uino] = cached
        origin, entry = cached
        if view is None:
            inode = self.store.get(uino)
            if inode is None:
                raise compat.oserror(compat.ESTALE, "inode %d" % uino)
            # a buffer of open() with O_TRUNC holds the cut size before
            # its first write begins the transaction
            size = inode.size if buf is None else buf.size
            view = self.store
        else:
            size = buf.size
        if offset >= size or n <= 0:
            return b""
        n = min(n, size - offset)
        lowlim = origin.lowlim if (origin is not None and entry is not None) \
            else 0
        if origin is not None and (self._upgrade_marked(uino) or (
                lowlim and uino not in self._bases_checked and
                self.store.get_meta(uino, meta.META_BASE) is not None)):
            # a file an upgrade concerns may read EIO (ovl.upgrade)
            from ovl import upgrade
            upgrade.check_read(self, uino, origin, entry)
        out = bytearray()
        for poff, plen, data in view.read(uino, offset, n):
            if data is not None:
                out += data
                continue
            fill = min(plen, max(0, lowlim - poff))
            if fill:
                got = self.lower.read(entry, poff, fill)
                out += got
                if len(got) < fill:      # lower shrank under us: zeros
                    out += bytes(fill - len(got))
            if plen > fill:
                out += bytes(plen - fill)
        return bytes(out)

    def mkdir(self, path, mode=0o777):
        # the write half, imported at the first write (here, not through
        # __getattr__: a board's job makes directories, and would import
        # ovl.overlay.rare for it)
        from ovl.overlay import writing
        writing.mkdir(self, path, mode)

    def open(self, path, mode="r", buffering=-1, encoding=None):
        """A file object (ovl.overlay.file.OverlayFile), binary or text per
        mode.  A file it creates is created in its write transaction (absent
        or complete after a power cut); opening an existing file for write
        copies it up (metadata only) before open() returns."""
        # the mode: one of r, w, a and x (k: its place in "rwax"), then any
        # of b, t and +, each at most once
        k = None
        for c in mode:
            i = "rwaxbt+".find(c)
            if i < 0 or mode.count(c) > 1 or (i < 4 and k is not None):
                k = -1
                break
            if i < 4:
                k = i
        if k is None or k < 0 or ("b" in mode and "t" in mode):
            from ovl.overlay import fileops     # (its message off a board)
            fileops.invalid_mode(mode)
        # (a change it makes commits the rest: _mutate)
        self.flush_all(True)
        if k != _MODE_R or "+" in mode:
            # (a read-only overlay refuses before the write half, which
            # it never imports)
            self._writable(path)
            # the write half, imported at the first write
            from ovl.overlay import writing
            return writing.open_for_writing(self, path, mode, "rwax"[k])
        node, target = self._find_target(path)
        if node is None:
            raise compat.oserror(compat.ENOENT, path)
        self._file_node(path, node)
        return file.OverlayFile(self, target, node.uino, node.lentry, mode)

    def _file_node(self, path, node):
        """Refuse to open node, found at path, unless it is a regular file
        (a trailing "/" names a directory)."""
        if path.endswith("/") and not paths.is_dir(node.mode):
            raise compat.oserror(compat.ENOTDIR, path)
        if paths.is_dir(node.mode):
            raise compat.oserror(compat.EISDIR, path)
        if not paths.is_reg(node.mode):
            # device nodes and fifos are presented, not emulated
            raise compat.oserror(compat.EOPNOTSUPP, path)

    def sync(self):
        err = self.flush_all()
        if self.store is not None and not self.readonly:
            self.store.sync()
        if err is not None:
            raise err

    close = sync


def mount(lower, flash, readonly=False, previous=None, checkpoints=True,
          **options):
    """Mount the log store on flash over lower and return an Overlay.

    The store repairs itself at mount; a reset requested for this boot
    (Overlay.request_reset) is performed here, before anything is read.
    previous: the lower the upper was last mounted over, if it is still
    readable (the other slot of an A/B board): files the new lower would
    break are completed from it first (ovl.upgrade.carry_over).
    checkpoints: the store's option (ovl.store.LogStore; boards name it
    "store_checkpoints").
    """
    from ovl.store import LogStore
    store = LogStore.mount(flash, readonly=readonly, checkpoints=checkpoints)
    flag = None if readonly else store.get_meta(ROOT_INO, meta.META_RESET)
    keep = None
    if flag is not None:
        from ovl.overlay import verbs
        keep = verbs.mount(store, lower, flag)
    if previous is not None and not readonly:
        # before any Overlay over the new lower records its identity
        from ovl import upgrade
        upgrade.carry_over_from(previous, lower, store, options)
    fs = Overlay(lower, store, **options)
    if keep:
        fs.reset(keep)
    return fs
