"""The overlay: a writable union of a read-only lower and a log-store upper.

Lookup goes upper first, then lower, unless a whiteout hides the name or
the upper directory does not merge (see below).  Every mutating call is one
upper transaction, so a power cut leaves the merged tree before or after
it.  File data written through open() is buffered in RAM and committed on
flush, close, sync, or when the buffer fills (overlay_file.py).

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
"""

import time

from ovl import compat
from ovl.compat import oserror
from ovl.paths import S_IFMT, S_IFDIR, S_IFREG, S_IFLNK, is_dir, is_reg, \
    is_lnk, join, split_path, normalize

# Upper-only objects get st_ino from a range no lower image reaches, so
# numbers stay unique and a copied-up object keeps its lower st_ino.
UPPER_INO_BASE = 1 << 40

META_ORIGIN = "origin"
META_LOWER_ID = "lower_id"
META_RESET = "reset_next_boot"
META_BASE = "base"          # ovl.upgrade: digest of the lower bytes used
META_CONFLICT = "conflict"  # ovl.upgrade: what an upgrade did to a file
INDEX_PREFIX = "link:"      # + lower ino -> upper ino, on the root inode

MAX_SYMLINKS = 40           # Linux's limit before ELOOP
NAME_MAX = 255
# Limits of the on-flash fields (docs/FORMAT.md): sizes and offsets are
# u64 but kept to Linux's signed off_t; ids are u32; times are s64.
MAX_FILE_SIZE = (1 << 63) - 1
MAX_ID = 0xFFFFFFFF
TIME_MIN = -(1 << 63)
TIME_MAX = (1 << 63) - 1


def utf8(name):
    try:
        name.encode()
        return True
    except UnicodeError:
        return False


def upper_name(name):
    """name, if the upper can store it (its names are UTF-8)."""
    if not utf8(name):
        raise oserror(compat.EINVAL, "name %r is not UTF-8, which the upper"
                      " stores" % name)
    return name


class StatResult(tuple):
    """os.stat_result order: (mode, ino, dev, nlink, uid, gid, size,
    atime, mtime, ctime) - MicroPython's 10-tuple, with attribute names."""

    @property
    def st_mode(self):
        return self[0]

    @property
    def st_ino(self):
        return self[1]

    @property
    def st_dev(self):
        return self[2]

    @property
    def st_nlink(self):
        return self[3]

    @property
    def st_uid(self):
        return self[4]

    @property
    def st_gid(self):
        return self[5]

    @property
    def st_size(self):
        return self[6]

    @property
    def st_atime(self):
        return self[7]

    @property
    def st_mtime(self):
        return self[8]

    @property
    def st_ctime(self):
        return self[9]


class Origin:
    """Where an upper object came from in the lower (the ORIGIN meta).

    Encoded as "ino size mtime lowlim path": the fingerprint (ino, size,
    mtime) tells whether the lower still holds the same object; lowlim is
    the lower limit of a partially copied-up file (unused for others).
    """

    def __init__(self, ino, size, mtime, lowlim, path):
        self.ino = ino
        self.size = size
        self.mtime = mtime
        self.lowlim = lowlim
        self.path = path

    def encode(self):
        return ("%d %d %d %d %s" % (self.ino, self.size, self.mtime,
                                    self.lowlim, self.path)).encode()

    @classmethod
    def decode(cls, raw):
        try:
            f = bytes(raw).decode().split(" ", 4)
            return cls(int(f[0]), int(f[1]), int(f[2]), int(f[3]), f[4])
        except (ValueError, IndexError, UnicodeError):
            raise ValueError("bad origin meta %r" % (raw,))

    @classmethod
    def of(cls, entry, path):
        return cls(entry.ino, entry.size, entry.mtime, entry.size, path)

    def matches(self, entry):
        return (entry is not None and entry.ino == self.ino
                and entry.size == self.size and entry.mtime == self.mtime)


class Node:
    """One resolved name: its upper side, its lower side, or both.

    uino/inode: the upper inode (None if the object lives only in the
    lower).  dirent: True if the parent's upper directory holds the name
    (False for a lower name reached through the hard-link index).
    lentry/lpath: for a directory, the lower directory it merges with; for
    a non-directory, the lower object (its origin when copied up).
    """

    def __init__(self, parent, name, path):
        self.parent = parent
        self.name = name
        self.path = path
        self.uino = None
        self.inode = None
        self.dirent = False
        self.origin = None
        self.lentry = None
        self.lpath = None
        self.fresh = False      # upper inode created by the current txn

    @property
    def mode(self):
        return self.inode.mode if self.inode is not None else self.lentry.mode

    def isdir(self):
        return is_dir(self.mode)


class Overlay:
    """A mounted union.  store=None (or a read-only store) gives a
    read-only overlay: every write raises OSError(EROFS)."""

    def __init__(self, lower, store, uid=0, gid=0, umask=0o022,
                 write_buffer=4096, clock=None):
        self.lower = lower
        self.store = store
        self.uid = uid
        self.gid = gid
        self.umask = umask
        self.write_buffer = write_buffer
        self.clock = clock or (lambda: int(time.time()))
        self.readonly = store is None or bool(getattr(store, "readonly", False))
        self.lower_changed = False
        self.conflicts = []         # paths changed in the lower and the upper
        self._buffers = {}          # upper ino -> pending data (overlay_file)
        self._write_errors = {}     # upper ino -> OSError of a lost flush
        self._bases_checked = {}    # upper inos whose base digest held
        self._origins = {}          # upper ino -> (Origin, lower Entry) cache
        self._lroot = lower.lookup("/")
        self._root_ino = None
        if store is not None:
            from ovl import logstore
            self._logstore = logstore
            self._root_ino = logstore.ROOT_INO
            self._check_lower_identity()

    # ----- small helpers -----------------------------------------------------

    def _now(self):
        return self.clock()

    def _writable(self, path=None):
        if self.readonly:
            raise oserror(compat.EROFS, path)

    def _whiteout(self, value):
        return value is self._logstore.WHITEOUT or \
            value == self._logstore.WHITEOUT

    def _get_origin(self, uino):
        raw = self.store.get_meta(uino, META_ORIGIN)
        return None if raw is None else Origin.decode(raw)

    def _lower_lookup(self, path):
        try:
            return self.lower.lookup(path)
        except OSError as e:
            if compat.error_code(e) in (compat.ENOENT, compat.ENOTDIR):
                return None
            raise

    # ----- resolution --------------------------------------------------------

    def _root(self):
        node = Node(None, "", "/")
        node.lpath = "/"
        node.lentry = self._lroot
        if self._root_ino is not None:
            node.uino = self._root_ino
            node.inode = self.store.get(self._root_ino)
            node.dirent = True
        return node

    def _child(self, parent, name):
        """The node for name inside directory node parent, or None."""
        if not parent.isdir():
            raise oserror(compat.ENOTDIR, parent.path)
        in_upper = utf8(name)
        if len(name) > NAME_MAX or \
                len(name.encode("utf-8", "surrogateescape")) > NAME_MAX:
            raise oserror(compat.ENAMETOOLONG, name)
        path = join(parent.path, name)
        node = Node(parent, name, path)
        # the upper holds UTF-8 names only: a lower name that is not (CPython
        # decodes it with surrogateescape) has no upper entry to find
        if parent.uino is not None and in_upper:
            found = self.store.lookup(parent.uino, name)
            if found is not None and self._whiteout(found):
                return None
            if found is not None:
                node.uino = found
                node.inode = self.store.get(found)
                node.dirent = True
                node.origin = self._get_origin(found)
                if node.origin is not None:
                    node.lpath = node.origin.path
                    entry = self._lower_lookup(node.lpath)
                    if is_dir(node.inode.mode):
                        if entry is not None and not is_dir(entry.mode):
                            entry = None
                    node.lentry = entry
                return node
        if parent.lentry is None or not is_dir(parent.lentry.mode):
            return None
        lpath = join(parent.lpath, name)
        entry = self._lower_lookup(lpath)
        if entry is None:
            return None
        node.lentry = entry
        node.lpath = lpath
        if self.store is not None and entry.nlink > 1 and not is_dir(entry.mode):
            # another name of this lower file may have been copied up
            mapped = self.store.get_meta(self._root_ino,
                                         INDEX_PREFIX + str(entry.ino))
            if mapped is not None:
                node.uino = int(mapped)
                node.inode = self.store.get(node.uino)
                node.origin = self._get_origin(node.uino)
                if node.inode is None:   # stale index: show the lower
                    node.uino = None
                    node.origin = None
        return node

    def _walk(self, path, follow=True, parent_only=False):
        """Resolve path.  Returns the node, or with parent_only=True the
        pair (parent directory node, final name).  Raises ENOENT/ENOTDIR/
        ELOOP like Linux."""
        comps = split_path(path)
        stack = [self._root()]
        budget = [MAX_SYMLINKS]
        trailing_slash = path.endswith("/") and len(comps) > 0
        node = self._resolve(stack, comps, follow, parent_only, budget, path)
        if parent_only:
            return node
        if trailing_slash and not node.isdir():
            raise oserror(compat.ENOTDIR, path)
        return node

    def _resolve(self, stack, comps, follow, parent_only, budget, path):
        n = len(comps)
        for i in range(n):
            name = comps[i]
            last = i == n - 1
            if name == "..":
                if len(stack) > 1:
                    stack.pop()
                continue
            if last and parent_only:
                if not stack[-1].isdir():
                    raise oserror(compat.ENOTDIR, path)
                return stack[-1], name
            child = self._child(stack[-1], name)
            if child is None:
                raise oserror(compat.ENOENT, path)
            if is_lnk(child.mode) and (not last or follow):
                budget[0] -= 1
                if budget[0] < 0:
                    raise oserror(compat.ELOOP, path)
                target = self._readlink_node(child)
                if target.startswith("/"):
                    del stack[1:]
                self._resolve(stack, split_path(target), True, False,
                              budget, path)
                continue
            stack.append(child)
        return stack[-1]

    def _walk_parent(self, path, root_error=compat.EBUSY):
        """(parent node, name) of a path whose last component is created or
        removed; the final component is not followed.  "/" (or a path
        ending in "..") has no such pair: root_error, as Linux reports for
        the calling operation."""
        comps = split_path(path)
        if not comps or comps[-1] == "..":
            raise oserror(root_error, path)
        return self._walk(path, parent_only=True)

    # ----- reading -----------------------------------------------------------

    def _readlink_node(self, node):
        if node.uino is not None:
            return self.store.readlink(node.uino)
        return self.lower.readlink(node.lentry)

    def _stat_node(self, node):
        if node.inode is not None:
            i = node.inode
            if node.origin is not None:
                ino = node.origin.ino
            else:
                ino = UPPER_INO_BASE + node.uino
            nlink = i.nlink
            if is_dir(i.mode) and node.lentry is not None:
                nlink = 1   # merged directory: unknown link count (as Linux)
            size = i.size
            buf = self._buffers.get(node.uino)
            if buf is not None:
                size = buf.size
            return StatResult((i.mode, ino, 0, nlink, i.uid, i.gid, size,
                               i.mtime, i.mtime, i.ctime))
        e = node.lentry
        return StatResult((e.mode, e.ino, 0, e.nlink, e.uid, e.gid, e.size,
                           e.mtime, e.mtime, e.mtime))

    def stat(self, path):
        self.flush_all()
        return self._stat_node(self._walk(path))

    def lstat(self, path):
        self.flush_all()
        return self._stat_node(self._walk(path, follow=False))

    def exists(self, path):
        try:
            self._walk(path, follow=False)
            return True
        except OSError:
            return False

    def rdev(self, path):
        """Device number of the device node at path (a final symlink is not
        followed); 0 for anything else.  Kept apart from lstat, whose
        result is MicroPython's 10-tuple."""
        node = self._walk(path, follow=False)
        if node.inode is not None:
            return node.inode.rdev
        return node.lentry.rdev

    def readlink(self, path):
        node = self._walk(path, follow=False)
        if not is_lnk(node.mode):
            raise oserror(compat.EINVAL, path)
        return self._readlink_node(node)

    def _iter_dir(self, node):
        """Merged entries of a directory node, sorted by name, streamed:
        yields (name, mode, st_ino, size).  Two sorted streams (upper
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
                if self._whiteout(uino):
                    continue
                yield self._entry_upper(name, uino)
            else:
                name, entry = lw
                lw = next(lower, None)
                yield self._entry_lower(node, name, entry)

    def _entry_upper(self, name, uino):
        inode = self.store.get(uino)
        origin = self._get_origin(uino)
        ino = origin.ino if origin is not None else UPPER_INO_BASE + uino
        size = inode.size
        buf = self._buffers.get(uino)
        if buf is not None:
            size = buf.size
        return (name, inode.mode, ino, size)

    def _entry_lower(self, parent, name, entry):
        size = entry.size
        if entry.nlink > 1 and self.store is not None and not is_dir(entry.mode):
            mapped = self.store.get_meta(self._root_ino,
                                         INDEX_PREFIX + str(entry.ino))
            if mapped is not None:
                inode = self.store.get(int(mapped))
                if inode is not None:
                    size = inode.size
        return (name, entry.mode, entry.ino, size)

    def ilistdir(self, path="/"):
        """Iterator of (name, type, ino, size); type is the S_IFMT bits."""
        self.flush_all()
        node = self._walk(path)
        if not node.isdir():
            raise oserror(compat.ENOTDIR, path)
        return self._ilist(node)

    def _ilist(self, node):
        for name, mode, ino, size in self._iter_dir(node):
            yield (name, mode & S_IFMT, ino, size)

    def listdir(self, path="/"):
        return [e[0] for e in self.ilistdir(path)]

    def statvfs(self, path="/"):
        self._walk(path)
        if self.store is None:
            return (4096, 4096, 0, 0, 0, 0, 0, 0, 1, NAME_MAX)
        return tuple(self.store.statvfs())

    def layer_of(self, path):
        """'lower', 'upper' or 'copied-up' for the object at path (not
        following a final symlink); 'conflict' for a file whose reads
        fail after an upgrade (ovl.upgrade)."""
        node = self._walk(path, follow=False)
        if node.uino is None:
            return "lower"
        if node.origin is not None and self._upgrade_marked(node.uino):
            from ovl import upgrade
            if upgrade.is_stale(self, node.uino):
                return "conflict"
        if node.origin is not None or (node.uino == self._root_ino):
            return "copied-up"
        return "upper"

    # ----- file data (used by overlay_file) ----------------------------------

    def _origin_entry(self, uino):
        cached = self._origins.get(uino)
        if cached is None:
            origin = self._get_origin(uino)
            cached = (origin, self._origin_lower(origin))
            self._origins[uino] = cached
        return cached

    def _origin_lower(self, origin):
        """The lower regular file an origin names, or None."""
        entry = None if origin is None else self._lower_lookup(origin.path)
        if entry is not None and not is_reg(entry.mode):
            entry = None
        return entry

    def _read_upper(self, uino, offset, n):
        """Bytes [offset, offset+n) of upper regular file uino: stored
        extents from the upper, the rest from the lower below the lower
        limit, zeros above it.  Pending writes are read through their open
        transaction."""
        buf = self._buffers.get(uino)
        view = None if buf is None else buf.view()
        if view is None:
            inode = self.store.get(uino)
            if inode is None:
                raise oserror(compat.ESTALE, "inode %d" % uino)
            size = inode.size
            origin, entry = self._origin_entry(uino)
            view = self.store
        else:
            size = buf.size
            raw = view.get_meta(uino, META_ORIGIN)
            origin = None if raw is None else Origin.decode(raw)
            entry = self._origin_lower(origin)
        if offset >= size or n <= 0:
            return b""
        n = min(n, size - offset)
        if origin is not None and self._upgrade_marked(uino):
            from ovl import upgrade
            upgrade.check_readable(self, uino, origin.path)
        lowlim = origin.lowlim if (origin is not None and entry is not None) \
            else 0
        if lowlim and uino not in self._bases_checked and \
                self.store.get_meta(uino, META_BASE) is not None:
            from ovl import upgrade
            if not upgrade.base_still_below(self, uino, entry):
                raise oserror(compat.EIO, "%s: the firmware's bytes under"
                              " this changed file changed; revert it or"
                              " rewrite it" % origin.path)
            self._bases_checked[uino] = True
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

    def _read_lower(self, entry, offset, n):
        if offset >= entry.size or n <= 0:
            return b""
        return self.lower.read(entry, offset, min(n, entry.size - offset))

    def flush_all(self):
        """Commit every file's buffered data (one transaction per file).

        A file whose commit fails is dropped and its error kept for its own
        handle (see _flush_quietly): the operation that happened to trigger
        the flush is not refused for another file's data.  Returns the first
        such error, for sync() to report."""
        first = None
        if self._buffers:
            for uino in list(self._buffers):
                if self._buffers[uino].beginning:
                    # reached from inside that file's own begin() (a lookup
                    # made while its first change is being recorded, e.g.
                    # by an import through the VFS): flushing it here would
                    # commit it early and lose what it writes next
                    continue
                err = self._flush_quietly(uino)
                if first is None:
                    first = err
        return first

    def _flush_quietly(self, uino):
        """Flush uino; on failure keep the error for the file's handle.

        Linux reports a failed writeback at the file's next fsync or close;
        so does this: the handle's next write, flush or close raises it
        (take_write_error).  The buffer itself is gone either way."""
        try:
            self._flush_ino(uino)
        except OSError as e:
            self._write_errors[uino] = e
            return e
        return None

    def take_write_error(self, uino):
        """Raise, once, the error of a failed flush of uino's data."""
        err = self._write_errors.pop(uino, None)
        if err is not None:
            raise err

    def _flush_ino(self, uino):
        """Commit uino's pending writes: their one transaction.

        On any failure (a full store, most often) the transaction is
        aborted (what it streamed is dead space) and the file keeps its
        last committed content: a buffer left behind would be flushed again
        by every later operation, and fail again, wedging the whole tree."""
        buf = self._buffers.pop(uino, None)
        if buf is None:
            return
        if not buf.touched:
            buf.abort()
            return
        try:
            txn = buf.begin()
            now = self._now()
            if buf.created:
                txn.put_inode(uino, size=buf.size, mtime=now, ctime=now)
            else:
                inode = self.store.get(uino)
                if inode is None:
                    raise oserror(compat.ESTALE, "inode %d" % uino)
                txn.put_inode(uino, **self._attrs(inode, size=buf.size,
                                                  mtime=now, ctime=now))
            txn.commit()
        except BaseException:
            buf.abort()
            raise
        for changed in txn.origins_changed:
            self._origins.pop(changed, None)

    def _drop_buffer(self, uino):
        """Forget uino's pending writes (the file was deleted, or its data
        was lost): abort their transaction."""
        buf = self._buffers.pop(uino, None)
        if buf is not None:
            buf.abort()

    def _begin_txn(self):
        txn = _Txn(self.store.begin())
        txn.txn.ram = self.write_buffer
        return txn

    # ----- transactions ------------------------------------------------------

    def _attrs(self, inode, **changes):
        attrs = inode.attrs()
        attrs.update(changes)
        return attrs

    def _mutate(self, path, fn, keep_open=False):
        """Run fn(txn) as one upper transaction and commit it (keep_open:
        return (result, txn) uncommitted, for a file's write-back)."""
        self._writable(path)
        self.flush_all()
        txn = self._begin_txn()
        try:
            result = fn(txn)
        except BaseException:
            txn.abort()
            raise
        if keep_open:
            return result, txn
        if txn.dirty:
            txn.commit()
        else:
            txn.abort()     # nothing to do: no flash write at all
        for uino in txn.origins_changed:
            self._origins.pop(uino, None)
        return result

    def _put(self, txn, node, **changes):
        """Update the upper inode of node (in txn and in the node)."""
        attrs = self._attrs(node.inode, **changes)
        txn.put_inode(node.uino, **attrs)
        node.inode = _TxnInode(node.uino, attrs)

    def _set_origin(self, txn, uino, origin):
        txn.set_meta(uino, META_ORIGIN,
                     None if origin is None else origin.encode())
        txn.origins_changed.append(uino)

    def _new_inode(self, txn, mode, size=0, nlink=1, uid=None, gid=None,
                   mtime=None, rdev=0):
        now = self._now()
        uino = txn.new_ino()
        attrs = {"mode": mode, "uid": self.uid if uid is None else uid,
                 "gid": self.gid if gid is None else gid,
                 "mtime": now if mtime is None else mtime, "ctime": now,
                 "size": size, "nlink": nlink, "flags": 0, "rdev": rdev}
        txn.put_inode(uino, **attrs)
        return uino, _TxnInode(uino, attrs)

    def _copy_up(self, txn, node):
        """Give node an upper inode linked at its name (parents first).
        Data is not copied: the upper file reads the lower below its lower
        limit.  Returns node (updated)."""
        done = txn.copied.get(node.path)
        if done is not None:
            node.uino, node.inode, node.dirent = done.uino, done.inode, True
            node.origin, node.fresh = done.origin, done.fresh
            return node
        if node.uino is not None and node.dirent:
            return node
        self._copy_up(txn, node.parent)
        upper_name(node.name)          # before its origin records the path
        self._ensure_upper(txn, node)
        self._link_name(txn, node.parent, node.name, node.uino)
        node.dirent = True
        txn.copied[node.path] = node
        return node

    def _ensure_upper(self, txn, node):
        """Give node an upper inode (metadata only), not linked anywhere."""
        if node.uino is not None:
            return
        e = node.lentry
        dir_ = is_dir(e.mode)
        uino, inode = self._new_inode(txn, e.mode, size=0 if dir_ else e.size,
                                      nlink=2 if dir_ else e.nlink,
                                      uid=e.uid, gid=e.gid, mtime=e.mtime,
                                      rdev=e.rdev)
        origin = Origin.of(e, node.lpath)
        if dir_:
            origin.lowlim = 0
        self._set_origin(txn, uino, origin)
        if is_lnk(e.mode):
            txn.set_symlink(uino, self.lower.readlink(e))
        if e.nlink > 1 and not dir_:
            # the other lower names of this file must find this inode
            txn.set_meta(self._root_ino, INDEX_PREFIX + str(e.ino),
                         str(uino).encode())
        node.uino, node.inode, node.origin, node.fresh = uino, inode, origin, \
            True

    def _link_name(self, txn, parent, name, uino):
        """Point parent/name at uino in the upper, replacing a whiteout."""
        if not parent.fresh and self.store.lookup(parent.uino, name) is not None:
            txn.unlink(parent.uino, name)
        txn.link(parent.uino, name, uino)

    def _lower_entry(self, parent, name):
        """The entry name has in the lower directory parent merges with, or
        None."""
        if parent.lentry is None or not is_dir(parent.lentry.mode):
            return None
        return self._lower_lookup(join(parent.lpath, name))

    def _lower_has(self, parent, name):
        """Does the lower directory parent merges with hold name?"""
        return self._lower_entry(parent, name) is not None

    def _drop_name(self, txn, parent, name, node):
        """Remove parent/name from the merged view (parent is upper)."""
        has_lower = self._lower_has(parent, name)
        if node is not None and node.dirent:
            txn.unlink(parent.uino, name)
        if has_lower:
            txn.whiteout(parent.uino, name)

    def _touch_dir(self, txn, parent):
        now = self._now()
        self._put(txn, parent, mtime=now, ctime=now)

    def _release(self, txn, node):
        """One name of non-directory node went away: drop a link."""
        if node.uino is None:
            if node.lentry is None or node.lentry.nlink < 2:
                return
            # a lower file with other names: they must count one link
            # fewer, so it gets an upper inode (metadata only) that they
            # find through the hard-link index, as overlayfs with index=on
            self._ensure_upper(txn, node)
        nlink = node.inode.nlink - 1
        if nlink <= 0:
            self._drop_buffer(node.uino)
            if node.origin is not None:
                key = INDEX_PREFIX + str(node.origin.ino)
                if self.store.get_meta(self._root_ino, key) is not None:
                    txn.set_meta(self._root_ino, key, None)
            txn.delete_inode(node.uino)
        else:
            self._put(txn, node, nlink=nlink, ctime=self._now())

    def _purge_whiteouts(self, txn, node):
        if node.uino is None or node.fresh:
            return
        for name, value in self.store.listdir(node.uino):
            txn.unlink(node.uino, name)

    def _is_empty(self, node):
        for _ in self._iter_dir(node):
            return False
        return True

    def _remove_dir(self, txn, parent, node):
        self._purge_whiteouts(txn, node)
        self._drop_name(txn, parent, node.name, node)
        if node.uino is not None:
            txn.delete_inode(node.uino)

    # ----- namespace operations ----------------------------------------------

    def _create(self, path, mode, make, keep_open=False):
        """Create a new name at path; make(txn, parent) -> uino."""
        def op(txn):
            parent, name = self._walk_parent(path)
            if self._child(parent, name) is not None:
                raise oserror(compat.EEXIST, path)
            self._copy_up(txn, parent)
            uino = make(txn, parent, name)
            self._link_name(txn, parent, name, uino)
            self._touch_dir(txn, parent)
            return uino
        return self._mutate(path, op, keep_open)

    def mkdir(self, path, mode=0o777):
        def make(txn, parent, name):
            uino, _ = self._new_inode(txn, S_IFDIR | (mode & ~self.umask
                                                      & 0o7777), nlink=2)
            return uino
        self._create(path, mode, make)

    def symlink(self, target, path):
        def make(txn, parent, name):
            data = target.encode()
            uino, _ = self._new_inode(txn, S_IFLNK | 0o777, size=len(data))
            txn.set_symlink(uino, target)
            return uino
        self._create(path, 0, make)

    def mknod(self, path, mode, rdev=0):
        if mode & S_IFMT in (0, S_IFREG):
            mode = S_IFREG | (mode & 0o7777)
        elif mode & S_IFMT == S_IFDIR:
            raise oserror(compat.EINVAL, path)

        def make(txn, parent, name):
            uino, _ = self._new_inode(txn, (mode & S_IFMT) |
                                      (mode & ~self.umask & 0o7777),
                                      rdev=rdev)
            return uino
        self._create(path, mode, make)

    def _create_file(self, path, perm=0o666, keep_open=False):
        def make(txn, parent, name):
            uino, _ = self._new_inode(txn, S_IFREG | (perm & ~self.umask
                                                      & 0o7777))
            return uino
        return self._create(path, perm, make, keep_open)

    def remove(self, path):
        def op(txn):
            parent, name = self._walk_parent(path)
            node = self._child(parent, name)
            if node is None:
                raise oserror(compat.ENOENT, path)
            if node.isdir():
                raise oserror(compat.EISDIR, path)
            if path.endswith("/"):
                raise oserror(compat.ENOTDIR, path)
            self._copy_up(txn, parent)
            self._drop_name(txn, parent, name, node)
            self._release(txn, node)
            self._touch_dir(txn, parent)
        self._mutate(path, op)

    unlink = remove

    def rmdir(self, path):
        def op(txn):
            parent, name = self._walk_parent(path)
            node = self._child(parent, name)
            if node is None:
                raise oserror(compat.ENOENT, path)
            if not node.isdir():
                raise oserror(compat.ENOTDIR, path)
            if not self._is_empty(node):
                raise oserror(compat.ENOTEMPTY, path)
            self._copy_up(txn, parent)
            self._remove_dir(txn, parent, node)
            self._touch_dir(txn, parent)
        self._mutate(path, op)

    def link(self, src, dst):
        def op(txn):
            # Linux's order: source lookup, target name, then "a directory"
            node = self._walk(src, follow=False)
            parent, name = self._walk_parent(dst)
            if self._child(parent, name) is not None:
                raise oserror(compat.EEXIST, dst)
            if node.isdir():
                raise oserror(compat.EPERM, src)
            self._copy_up(txn, node)
            self._copy_up(txn, parent)
            self._link_name(txn, parent, name, node.uino)
            self._put(txn, node, nlink=node.inode.nlink + 1, ctime=self._now())
            self._touch_dir(txn, parent)
        self._mutate(dst, op)

    def rename(self, src, dst):
        def op(txn):
            # Linux resolves both parents before looking at either name
            sparent, sname = self._walk_parent(src)
            dparent, dname = self._walk_parent(dst)
            snode = self._child(sparent, sname)
            if snode is None:
                raise oserror(compat.ENOENT, src)
            dnode = self._child(dparent, dname)
            if snode.path == (dnode.path if dnode else join(dparent.path,
                                                            dname)):
                return
            if (src.endswith("/") or dst.endswith("/")) and not snode.isdir():
                raise oserror(compat.ENOTDIR, src)
            if snode.isdir() and (dparent.path + "/").startswith(
                    snode.path + "/"):
                raise oserror(compat.EINVAL, dst)
            if dnode is not None:
                if dnode.path == "/" or (snode.path + "/").startswith(
                        dnode.path + "/"):
                    raise oserror(compat.ENOTEMPTY, dst)
                if snode.uino is not None and snode.uino == dnode.uino:
                    return
                if (snode.uino is None and dnode.uino is None and
                        not snode.isdir() and snode.lentry.ino ==
                        dnode.lentry.ino):
                    return      # two lower names of one file: POSIX no-op
                if snode.isdir():
                    if not dnode.isdir():
                        raise oserror(compat.ENOTDIR, dst)
                    if not self._is_empty(dnode):
                        raise oserror(compat.ENOTEMPTY, dst)
                elif dnode.isdir():
                    raise oserror(compat.EISDIR, dst)
            # copy up both parents; the source gets an upper inode but is
            # never copied whole: a directory keeps its ORIGIN (a redirect)
            self._copy_up(txn, sparent)
            self._copy_up(txn, dparent)
            self._ensure_upper(txn, snode)
            if dnode is not None:
                if dnode.dirent:
                    txn.unlink(dparent.uino, dname)
                if dnode.isdir():
                    self._purge_whiteouts(txn, dnode)
                    if dnode.uino is not None:
                        txn.delete_inode(dnode.uino)
                else:
                    self._release(txn, dnode)
            elif not dparent.fresh and \
                    self.store.lookup(dparent.uino, dname) is not None:
                txn.unlink(dparent.uino, dname)       # a whiteout
            txn.link(dparent.uino, dname, snode.uino)
            if snode.dirent:
                txn.unlink(sparent.uino, sname)
            if self._lower_has(sparent, sname):
                txn.whiteout(sparent.uino, sname)
            self._put(txn, snode, ctime=self._now())
            self._touch_dir(txn, sparent)
            if dparent.uino != sparent.uino:
                self._touch_dir(txn, dparent)
        self._mutate(dst, op)

    def chmod(self, path, mode):
        def op(txn):
            node = self._copy_up(txn, self._walk(path))
            self._put(txn, node, mode=(node.inode.mode & S_IFMT) |
                      (mode & 0o7777), ctime=self._now())
        self._mutate(path, op)

    def chown(self, path, uid, gid, follow=True):
        for v in (uid, gid):
            if v != -1 and not 0 <= v <= MAX_ID:
                raise oserror(compat.EINVAL, path)

        def op(txn):
            node = self._copy_up(txn, self._walk(path, follow=follow))
            i = node.inode
            self._put(txn, node, uid=i.uid if uid == -1 else uid,
                      gid=i.gid if gid == -1 else gid, ctime=self._now())
        self._mutate(path, op)

    def lchown(self, path, uid, gid):
        self.chown(path, uid, gid, follow=False)

    def utime(self, path, times=None, follow=True):
        """times = (atime, mtime) or None for now.  Only mtime is kept.
        follow=False sets a final symlink's own time (lutimes)."""
        mtime = None if times is None else int(times[1])
        if mtime is not None and not TIME_MIN <= mtime <= TIME_MAX:
            raise oserror(compat.EINVAL, path)

        def op(txn):
            node = self._copy_up(txn, self._walk(path, follow=follow))
            now = self._now()
            self._put(txn, node, mtime=now if mtime is None else mtime,
                      ctime=now)
        self._mutate(path, op)

    def truncate(self, path, size):
        if size < 0:
            raise oserror(compat.EINVAL, path)
        if size > MAX_FILE_SIZE:
            raise oserror(compat.EFBIG, path)
        node = self._walk(path)
        if node.isdir():
            raise oserror(compat.EISDIR, path)
        if not is_reg(node.mode):
            raise oserror(compat.EINVAL, path)

        def op(txn):
            self._truncate_node(txn, self._walk(path), size)
        self._mutate(path, op)

    def _node_of_ino(self, uino):
        """A node for an open upper file (its name may have changed)."""
        node = Node(None, "", "#%d" % uino)
        node.uino = uino
        node.inode = self.store.get(uino)
        if node.inode is None:
            raise oserror(compat.ESTALE, node.path)
        node.dirent = True
        node.origin = self._get_origin(uino)
        return node

    # ovl.upgrade is imported only for files it has business with: its code
    # costs a board heap it may not have to spare
    def _upgrade_marked(self, uino):
        return self.store.get_meta(uino, META_CONFLICT) is not None or \
            getattr(self, "_upgrade_marks", None) is not None

    def _note_change(self, txn, uino, origin):
        """First change to a copied-up file's data: record its base."""
        if origin is not None and origin.lowlim > 0 and \
                self.store.get_meta(uino, META_BASE) is None:
            from ovl import upgrade
            upgrade.note_change(self, txn, uino, origin)

    def _truncate_node(self, txn, node, size):
        """Copy-up keeps nothing: bytes below min(lower limit, size) still
        read from the lower, so a truncate stores no data at all."""
        self._copy_up(txn, node)
        self._note_change(txn, node.uino, node.origin)
        if node.origin is not None and size < node.origin.lowlim:
            node.origin.lowlim = size
            self._set_origin(txn, node.uino, node.origin)
            if size == 0 and self._upgrade_marked(node.uino):
                from ovl import upgrade
                upgrade.note_lowlim(self, txn, node.uino, size)
        if size < node.inode.size:
            txn.truncate(node.uino, size)
        now = self._now()
        self._put(txn, node, size=size, mtime=now, ctime=now)

    # ----- files -------------------------------------------------------------

    def open(self, path, mode="r", buffering=-1, encoding=None):
        from ovl.overlay_file import open_file
        return open_file(self, path, mode)

    def read_bytes(self, path):
        with self.open(path, "rb") as f:
            return f.read()

    def write_bytes(self, path, data):
        with self.open(path, "wb") as f:
            f.write(data)

    def sync(self):
        err = self.flush_all()
        if self.store is not None and not self.readonly:
            self.store.sync()
        if err is not None:
            raise err

    def close(self):
        self.sync()

    # ----- firmware verbs ----------------------------------------------------

    def _check_lower_identity(self):
        ident = identity_bytes(self.lower)
        stored = self.store.get_meta(self._root_ino, META_LOWER_ID)
        if stored is not None and bytes(stored) == ident:
            return
        if stored is not None:
            # a new firmware: see ovl.upgrade (before the new identity is
            # recorded, so a power cut makes the next mount do it again)
            from ovl import upgrade
            self.lower_changed = True
            self.conflicts = [p for _, p in upgrade.rebase(self)]
        if not self.readonly:
            txn = self.store.begin()
            txn.set_meta(self._root_ino, META_LOWER_ID, ident)
            if stored is None:
                # first mount over this store: its root takes the lower
                # root's attributes, as a reset would give it
                attrs = self.store.get(self._root_ino).attrs()
                attrs.update(lower_root_attrs(self.lower))
                txn.put_inode(self._root_ino, **attrs)
            try:
                txn.commit()
            except OSError as e:
                # a full upper over a new firmware still mounts (its
                # conflicts marked in RAM); the next mount rebases again
                if stored is None or compat.error_code(e) != compat.ENOSPC:
                    raise

    def _walk_upper(self, node):
        """Depth-first (path, 'whiteout'|'object', node) over the upper's
        own entries below directory node (sorted, streamed per dir)."""
        for name, value in self.store.listdir(node.uino):
            path = join(node.path, name)
            if self._whiteout(value):
                yield path, "whiteout", None
                continue
            child = self._child(node, name)
            if child is None:
                continue
            yield path, "object", child
            if child.isdir():
                for item in self._walk_upper(child):
                    yield item

    def diff(self, path="/"):
        """What the upper changes against the lower, as sorted
        (kind, path): kind is 'added', 'modified' (data), 'metadata'
        (attributes only) or 'deleted'."""
        self.flush_all()
        if self.store is None:
            return []
        node = self._walk(path, follow=False)
        out = []
        if node.uino is None:
            return out
        if path != "/" and node.dirent:
            kind = self._diff_kind(node)
            if kind:
                out.append((kind, node.path))
        if node.isdir() and node.uino is not None:
            for p, kind, child in self._walk_upper(node):
                if kind == "whiteout":
                    out.append(("deleted", p))
                    continue
                k = self._diff_kind(child)
                if k:
                    out.append((k, p))
        out.sort(key=lambda item: item[1])
        return out

    def _diff_kind(self, node):
        origin = node.origin
        if origin is None or origin.path != node.path:
            return "added"          # upper-only, or moved here
        e = node.lentry
        if e is None:
            return "added"
        i = node.inode
        if is_reg(i.mode):
            from ovl import upgrade
            if upgrade.is_stale(self, node.uino):
                return "conflict"       # reads fail: see ovl.upgrade
            if upgrade.data_changed(self, node):
                return "modified"
        elif is_lnk(i.mode):
            if self.store.readlink(node.uino) != self.lower.readlink(e):
                return "modified"
        if i.mode != e.mode or i.uid != e.uid or i.gid != e.gid:
            return "metadata"
        # a directory's mtime moves with every entry made in it: not a change
        if not is_dir(i.mode) and i.mtime != e.mtime:
            return "metadata"
        return None

    def revert(self, path):
        """Drop the upper's changes for path (a subtree for a directory),
        atomically, so the lower version shows again."""
        if normalize(path) == "/":
            self.reset()
            return

        def op(txn):
            parent, name = self._walk_parent(path)
            found = None
            if parent.uino is not None and (parent.dirent or
                                            parent.uino == self._root_ino):
                found = self.store.lookup(parent.uino, name)
            if found is None:
                # nothing in the upper: fine for a lower name, a typo else
                node = self._child(parent, name)
                if node is None:
                    raise oserror(compat.ENOENT, path)
                if node.uino is not None:
                    # a lower hard-link name showing the copy of another
                    # name through the link index: revert the file
                    self._drop_links(txn, node.uino, 0, True)
                return
            dropped = {}
            if not self._whiteout(found):
                self._drop_upper_tree(txn, self._child(parent, name), dropped)
            else:
                self._relink_lower_name(txn, parent, name)
            txn.unlink(parent.uino, name)
            for uino in dropped:
                count, lower_named = dropped[uino]
                self._drop_links(txn, uino, count, lower_named)
        self._mutate(path, op)

    def _relink_lower_name(self, txn, parent, name):
        """A whiteout over a lower hard-linked name goes: if the file's
        other names share an upper copy (the link index), count the name
        that comes back in its nlink."""
        entry = self._lower_entry(parent, name)
        if entry is None or entry.nlink < 2 or is_dir(entry.mode):
            return
        mapped = self.store.get_meta(self._root_ino,
                                     INDEX_PREFIX + str(entry.ino))
        inode = None if mapped is None else self.store.get(int(mapped))
        if inode is not None:
            txn.put_inode(inode.ino, **self._attrs(inode,
                                                   nlink=inode.nlink + 1))

    def _drop_upper_tree(self, txn, node, dropped):
        """Unlink everything below node; count dropped names per non-dir,
        and note whether one of them is the file's own lower name."""
        if node.isdir():
            for name, value in self.store.listdir(node.uino):
                if not self._whiteout(value):
                    self._drop_upper_tree(txn, self._child(node, name),
                                          dropped)
                txn.unlink(node.uino, name)
            txn.delete_inode(node.uino)
        else:
            count, lower_named = dropped.get(node.uino, (0, False))
            own = False
            if node.origin is not None:
                below = self._lower_entry(node.parent, node.name)
                own = below is not None and below.ino == node.origin.ino
            dropped[node.uino] = (count + 1, lower_named or own)

    def _drop_links(self, txn, uino, count, lower_named):
        """count upper names of uino were reverted.  When one of them is
        the file's own lower name, a copied-up hard-linked file also loses
        its index entry, so all its lower names show the lower again; it
        lives on only if upper names elsewhere still use it.  Names it got
        in the upper only (a rename, a link) go as an unlink would."""
        inode = self.store.get(uino)
        origin = self._get_origin(uino)
        key = None if origin is None else INDEX_PREFIX + str(origin.ino)
        indexed = key is not None and \
            self.store.get_meta(self._root_ino, key) is not None
        if indexed and lower_named:
            txn.set_meta(self._root_ino, key, None)
            nlink = self._count_upper_names(self._root_ino, uino) - count
        else:
            nlink = inode.nlink - count
            if nlink <= 0 and indexed:
                txn.set_meta(self._root_ino, key, None)
        if nlink <= 0:
            self._drop_buffer(uino)
            txn.delete_inode(uino)
        else:
            txn.put_inode(uino, **self._attrs(inode, nlink=nlink))

    def _count_upper_names(self, dir_ino, uino):
        n = 0
        for name, value in self.store.listdir(dir_ino):
            if value == uino:
                n += 1
            elif not self._whiteout(value):
                child = self.store.get(value)
                if child is not None and is_dir(child.mode):
                    n += self._count_upper_names(value, uino)
        return n

    def fsck(self):
        """Problems found, as strings (empty list = clean): the store's own
        fsck, then the overlay's invariants over the upper tree.  (Copy-up
        is one transaction, so there are never copy-up temporaries.)"""
        if self.store is None:
            return []
        report = self.store.fsck() or ()
        if isinstance(report, dict):        # {"errors": [...], "warnings"}
            report = report.get("errors") or ()
        problems = ["store: %s" % p for p in report]
        names = {}          # upper ino of a non-dir -> upper names seen
        for path, kind, node in self._walk_upper_fsck(problems):
            if kind == "whiteout":
                parent_path = path.rsplit("/", 1)[0] or "/"
                parent = self._walk(parent_path, follow=False)
                if not self._lower_has(parent, path.rsplit("/", 1)[1]):
                    problems.append("%s: whiteout over nothing" % path)
                continue
            if node.isdir():
                if node.origin is not None and node.lentry is None:
                    problems.append("%s: redirect to missing lower dir %s"
                                    % (path, node.origin.path))
                continue
            if node.uino not in names:
                before = len(problems)
                self._fsck_origin(path, node, problems)
                # a conflict whose origin is gone is already named above
                if len(problems) == before and node.origin is not None and \
                        self._upgrade_marked(node.uino):
                    from ovl import upgrade
                    if upgrade.is_stale(self, node.uino):
                        problems.append(
                            "%s: conflict: the firmware's bytes under this"
                            " partly changed file changed (reads fail with"
                            " EIO); revert it or rewrite it whole" % path)
            names.setdefault(node.uino, []).append(path)
        self._fsck_link_index(problems)
        for uino, paths in names.items():
            inode = self.store.get(uino)
            origin = self._get_origin(uino)
            indexed = origin is not None and self.store.get_meta(
                self._root_ino, INDEX_PREFIX + str(origin.ino)) is not None
            if indexed:
                if inode.nlink < len(paths):
                    problems.append("%s: nlink %d below its %d upper names"
                                    % (paths[0], inode.nlink, len(paths)))
            elif inode.nlink != len(paths):
                problems.append("%s: nlink %d but %d names"
                                % (paths[0], inode.nlink, len(paths)))
        return problems

    def _fsck_origin(self, path, node, problems):
        """A partly copied-up file whose lower original is gone reads
        zeros where its unchanged bytes were."""
        origin, entry = self._origin_entry(node.uino)
        if origin is None or entry is not None or not is_reg(node.inode.mode):
            return
        below = min(origin.lowlim, node.inode.size)
        for _, _, data in self.store.read(node.uino, 0, below):
            if data is None:
                problems.append("%s: origin %s is missing from the lower;"
                                " its unchanged bytes read as zeros"
                                % (path, origin.path))
                return

    def _fsck_link_index(self, problems):
        """Each link:<lower ino> entry names a live upper non-directory
        copied up from that lower inode."""
        for key in self.store.meta_keys(self._root_ino):
            if not key.startswith(INDEX_PREFIX):
                continue
            raw = self.store.get_meta(self._root_ino, key)
            try:
                uino = int(raw)
            except ValueError:
                uino = None
            inode = None if uino is None else self.store.get(uino)
            origin = None if inode is None else self._get_origin(uino)
            if inode is None or is_dir(inode.mode):
                problems.append("link index %s: upper inode %r is missing or"
                                " a directory" % (key, bytes(raw)))
            elif origin is None or INDEX_PREFIX + str(origin.ino) != key:
                problems.append("link index %s: upper inode %d was not"
                                " copied up from that lower inode"
                                % (key, uino))

    def _walk_upper_fsck(self, problems):
        try:
            for item in self._walk_upper(self._root()):
                yield item
        except ValueError as e:
            problems.append("upper tree: %s" % e)

    def reset(self, keep=()):
        """Factory reset: the upper becomes empty, atomically.  keep: paths
        whose upper entries (a changed file, a subtree, a whiteout) survive,
        with the upper directories above them; then the reset is one
        transaction that drops everything else (OpenWrt keeps /etc/config
        across a sysupgrade)."""
        self._writable()
        keep = [split_path(normalize(p)) for p in keep]
        if keep:
            if [] not in keep:          # keeping "/" keeps everything
                self._mutate("/", lambda txn: self._reset_keeping(txn, keep))
            return
        for uino in list(self._buffers):
            self._drop_buffer(uino)
        self._write_errors.clear()
        self._bases_checked.clear()
        self._origins.clear()
        # the new root shows the firmware's root, in the same transaction
        self.store.reset(**lower_root_attrs(self.lower))
        self._check_lower_identity()

    def _reset_keeping(self, txn, keep):
        dropped = {}
        self._drop_except(txn, self._root(), keep, dropped)
        for uino in dropped:
            count, lower_named = dropped[uino]
            self._drop_links(txn, uino, count, lower_named)
        attrs = self.store.get(self._root_ino).attrs()
        attrs.update(lower_root_attrs(self.lower))
        txn.put_inode(self._root_ino, **attrs)
        txn.set_meta(self._root_ino, META_RESET, None)

    def _drop_except(self, txn, node, keep, dropped):
        """Unlink node's upper entries except those on a kept path (keep:
        component lists relative to node)."""
        for name, value in self.store.listdir(node.uino):
            tails = [k[1:] for k in keep if k[0] == name]
            if [] in tails:
                continue
            child = None if self._whiteout(value) else self._child(node, name)
            if tails and child is not None and child.isdir():
                self._drop_except(txn, child, tails, dropped)
                continue
            if child is not None:
                self._drop_upper_tree(txn, child, dropped)
            txn.unlink(node.uino, name)

    def request_reset(self, on=True, keep=()):
        """Ask the next mount() to perform a factory reset (keeping the
        paths in keep, as reset(keep) does)."""
        flag = "\n".join(normalize(p) for p in keep).encode() or b"1"

        def op(txn):
            txn.set_meta(self._root_ino, META_RESET, flag if on else None)
        self._mutate("/", op)

    def reset_requested(self):
        return self.store is not None and \
            self.store.get_meta(self._root_ino, META_RESET) is not None


class _Txn:
    """The store's Txn plus what the overlay tracks about it: whether
    anything was done, which origins changed, which paths were copied up."""

    def __init__(self, txn):
        self.txn = txn
        self.dirty = False
        self.origins_changed = []
        self.copied = {}        # path -> node given an upper inode here

    def _use(self):
        self.dirty = True
        return self.txn

    def new_ino(self):
        return self._use().new_ino()

    def put_inode(self, ino, **attrs):
        self._use().put_inode(ino, **attrs)

    def link(self, dir_ino, name, ino):
        self._use().link(dir_ino, upper_name(name), ino)

    def whiteout(self, dir_ino, name):
        self._use().whiteout(dir_ino, upper_name(name))

    def unlink(self, dir_ino, name):
        self._use().unlink(dir_ino, upper_name(name))

    def write(self, ino, offset, data):
        self._use().write(ino, offset, data)

    def truncate(self, ino, size):
        self._use().truncate(ino, size)

    def set_symlink(self, ino, target):
        self._use().set_symlink(ino, target)

    def set_meta(self, ino, key, value):
        self._use().set_meta(ino, key, value)

    def delete_inode(self, ino):
        self._use().delete_inode(ino)

    def commit(self):
        self.txn.commit()

    def abort(self):
        self.txn.abort()


class _TxnInode:
    """Attributes of an upper inode as changed inside the current txn."""

    def __init__(self, ino, attrs):
        self.ino = ino
        self._attrs = dict(attrs)
        for k in attrs:
            setattr(self, k, attrs[k])

    def attrs(self):
        return dict(self._attrs)


def identity_bytes(lower):
    """lower.identity() as the bytes the upper records."""
    ident = lower.identity()
    return ident if isinstance(ident, bytes) else str(ident).encode()


def lower_root_attrs(lower):
    """The lower root's attributes, for an upper root that shows it."""
    root = lower.lookup("/")
    return {"mode": root.mode, "uid": root.uid, "gid": root.gid,
            "mtime": root.mtime, "ctime": root.mtime}


def mount(lower, flash, readonly=False, previous=None, **options):
    """Mount the log store on flash over lower and return an Overlay.

    The store repairs itself at mount; a reset requested for this boot
    (Overlay.request_reset) is performed here, before anything is read.
    previous: the lower the upper was last mounted over, if it is still
    readable (the other slot of an A/B board): files the new lower would
    break are completed from it first (ovl.upgrade.carry_over).
    """
    from ovl.logstore import LogStore, ROOT_INO
    store = LogStore.mount(flash, readonly=readonly)
    flag = None if readonly else store.get_meta(ROOT_INO, META_RESET)
    keep = None
    if flag is not None:
        keep = [] if bytes(flag) == b"1" else bytes(flag).decode().split("\n")
        if not keep:
            store.reset(**lower_root_attrs(lower))
    if previous is not None and not readonly:
        # before any Overlay over the new lower records its identity
        from ovl import upgrade
        upgrade.carry_over_from(previous, lower, store, options)
    fs = Overlay(lower, store, **options)
    if keep:
        fs.reset(keep)
    return fs
