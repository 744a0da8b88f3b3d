"""The overlay served to the Linux kernel over the FUSE protocol.

FuseServer turns each kernel request into calls on an ovl.overlay.Overlay
and answers it; `serve(fd)` is the loop over /dev/fuse (or, in tests, a
SOCK_SEQPACKET socket speaking the same bytes).  One thread: requests are
answered in the order they are read, so the store's log order is the order
the kernel asked in.

The overlay is addressed by path, the kernel by node id.  A node stands for
one object (one st_ino) and remembers every path the kernel looked it up
by, so hard links share a node and a removed name leaves the others.
Commit points: WRITE data waits in the overlay's write buffer until FLUSH
(every close), FSYNC, RELEASE or the next request that changes the tree;
one that only looks (LOOKUP, GETATTR, READDIR, OPEN for reading, READ
...), from whichever process, commits nothing.  Every other mutating
request is one overlay call, so one store transaction.
"""

import errno
import os
import stat
import sys
import time

from ovl.paths import join, S_IFMT, S_IFDIR, S_IFLNK, S_IFREG
from host_tools.fuse import wire as w

ENTRY_TIMEOUT = 1.0
ATTR_TIMEOUT = 1.0
MAX_WRITE = 128 * 1024
# A request larger than max_write + headers cannot arrive (the kernel checks
# the reader's buffer against this too).
READ_BUFFER = MAX_WRITE + 4096 * 2
DEFAULT_WRITE_BUFFER = 4 << 20
# Where a file removed while open keeps a hidden name until its last close
# (the overlay frees an inode with its last name).  Hidden from the root's
# listing and lookups; emptied at mount and at unmount.
ORPHANS = "/.ovl-orphans"

# open flags arrive as the kernel's own numbers: this host's
O_ACCMODE = os.O_RDONLY | os.O_WRONLY | os.O_RDWR


def fs_name(raw):
    """A name from the kernel as the overlay's str (undecodable bytes kept
    through surrogateescape, as the lower readers give them)."""
    return raw.decode("utf-8", "surrogateescape")


def wire_name(name):
    return name.encode("utf-8", "surrogateescape")


class Node:
    __slots__ = ("nodeid", "ino", "kind", "paths", "nlookup", "version",
                 "orphan", "removed")

    def __init__(self, nodeid, ino, kind, path):
        self.nodeid = nodeid
        self.ino = ino
        self.kind = kind      # S_IFMT bits: the kernel's inode never changes
        self.paths = {path}
        self.nlookup = 0
        self.version = 0      # bumped when the object may have been copied up
        self.orphan = None    # its hidden name under ORPHANS, if any
        # a removed directory's last attributes (nlink 0): what a process
        # whose current directory it was still stats, until FORGET
        self.removed = None


class Handle:
    """An open file: the overlay file and what it was opened for."""

    __slots__ = ("file", "node", "version", "writable", "flags")

    def __init__(self, file, node, writable, flags):
        self.file = file
        self.node = node
        self.version = node.version
        self.writable = writable
        self.flags = flags


class DirHandle:
    """A directory listing snapshot taken at OPENDIR: cookies are indices
    into it, so they stay valid while the directory changes."""

    __slots__ = ("path", "entries")

    def __init__(self, path, entries):
        self.path = path
        self.entries = entries


class FuseServer:
    """Answers FUSE requests from an Overlay.

    write_buffer: the most of a file's uncommitted data held in RAM (the
    overlay's; the rest streams to flash in the same transaction), at
    least MAX_WRITE.
    """

    def __init__(self, ovl, write_buffer=DEFAULT_WRITE_BUFFER, log=None):
        self.ovl = ovl
        ovl.umask = 0                # the kernel applied the caller's umask
        self.write_buffer = max(write_buffer, MAX_WRITE)
        ovl.write_buffer = self.write_buffer
        self.log = log or (lambda msg: None)
        root = Node(w.ROOT_ID, ovl.lstat("/")[1], S_IFDIR, "/")
        root.nlookup = 1
        self.nodes = {w.ROOT_ID: root}
        self.by_ino = {root.ino: root}
        self.next_nodeid = w.ROOT_ID + 1
        self.handles = {}
        self.next_fh = 1
        self.initialized = False
        self.destroyed = False
        self.minor = w.KERNEL_MINOR
        self.failures = []           # commits that failed at shutdown
        self.next_orphan = 1
        if not ovl.readonly:
            self.drop_orphans()

    # ----- nodes ------------------------------------------------------------

    def node(self, nodeid):
        node = self.nodes.get(nodeid)
        if node is None:
            raise OSError(errno.ESTALE, "unknown node %d" % nodeid)
        return node

    def path_of(self, nodeid):
        node = self.node(nodeid)
        if not node.paths:
            if node.orphan is not None:
                return node.orphan       # removed, still open
            raise OSError(errno.ESTALE, "node %d has no name left" % nodeid)
        return min(node.paths)

    def child_path(self, nodeid, raw_name):
        name = fs_name(raw_name)
        if not name or "/" in name or name in (".", ".."):
            raise OSError(errno.EINVAL, "bad name %r" % name)
        path = join(self.path_of(nodeid), name)
        if path == ORPHANS:
            raise OSError(errno.EPERM, "%s is ovl's own" % path)
        return path

    def remember(self, path, st):
        """The node of the object at path (counted as one more lookup)."""
        ino = st[1]
        kind = st[0] & S_IFMT
        node = self.by_ino.get(ino)
        if node is not None and node.kind != kind:
            node = None          # a different object took the number
        if node is None:
            node = Node(self.next_nodeid, ino, kind, path)
            self.next_nodeid += 1
            self.nodes[node.nodeid] = node
            self.by_ino[ino] = node
        node.paths.add(path)
        node.nlookup += 1
        return node

    def forget(self, nodeid, count):
        node = self.nodes.get(nodeid)
        if node is None or nodeid == w.ROOT_ID:
            return
        node.nlookup -= count
        if node.nlookup <= 0:
            del self.nodes[nodeid]
            if self.by_ino.get(node.ino) is node:
                del self.by_ino[node.ino]

    def name_gone(self, path, st):
        """path no longer names the object st described."""
        node = self.by_ino.get(st[1])
        if node is None:
            return
        node.paths.discard(path)
        if st[0] & S_IFMT == S_IFDIR and not node.paths:
            node.removed = self.attr(path, st, nlink=0)
        if (st[0] & S_IFMT == S_IFDIR or st[3] <= 1) and \
                self.by_ino.get(node.ino) is node:
            # the object is gone: a new one may get its number
            del self.by_ino[node.ino]

    def moved(self, old, new):
        """Every node path at or under old is now at or under new."""
        prefix = old + "/"
        for node in self.nodes.values():
            if not node.paths:
                continue
            changed = set()
            for p in node.paths:
                if p == old:
                    changed.add(new)
                elif p.startswith(prefix):
                    changed.add(new + p[len(old):])
                else:
                    changed.add(p)
            node.paths = changed

    # ----- attributes -------------------------------------------------------

    def attr(self, path, st=None, nlink=None):
        if st is None:
            st = self.ovl.lstat(path)
        mode = st[0]
        rdev = 0
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            rdev = self.ovl.rdev(path)
        size = st[6]
        stored = None
        if mode & S_IFMT == S_IFLNK:
            size = len(wire_name(self.ovl.readlink(path)))
        elif mode & S_IFMT == S_IFREG:
            # st_blocks counts what is stored: a sparse file's holes not
            stored = self.ovl.stored_bytes(path)
        if nlink is None:
            nlink = st[3]
            if path.startswith(ORPHANS + "/"):
                # a removed file still open: its hidden name is no link
                # of the user's (the kernel's fstat says 0)
                nlink -= 1
        return w.pack_attr(st[1], mode, nlink, st[4], st[5], size,
                           int(st[7]), int(st[8]), int(st[9]), rdev, stored)

    def entry(self, path):
        st = self.ovl.lstat(path)
        node = self.remember(path, st)
        return w.pack_entry_out(node.nodeid, 0, self.attr(path, st),
                                ENTRY_TIMEOUT, ATTR_TIMEOUT)

    def as_caller(self, req):
        """New objects belong to the calling process's uid/gid."""
        self.ovl.uid = req.uid
        self.ovl.gid = req.gid

    # ----- dispatch ---------------------------------------------------------

    def handle(self, raw):
        """One request in, one reply out (None when none is due)."""
        req = w.Request(raw)
        op = req.opcode
        if op in (w.FORGET, w.BATCH_FORGET, w.INTERRUPT):
            # never answered: FORGETs have no reply, and a serial server has
            # always finished the request an INTERRUPT names
            if op == w.FORGET:
                self.forget(req.nodeid, w.FORGET_IN.unpack_from(req.body)[0])
            elif op == w.BATCH_FORGET:
                count = w.BATCH_FORGET_IN.unpack_from(req.body)[0]
                for i in range(count):
                    nodeid, n = w.FORGET_ONE.unpack_from(
                        req.body, w.BATCH_FORGET_IN.size + i * 16)
                    self.forget(nodeid, n)
            return None
        method = self.OPS.get(op)
        if method is None:
            return w.reply(req.unique, error=errno.ENOSYS)
        if op != w.INIT and not self.initialized:
            return w.reply(req.unique, error=errno.EIO)
        try:
            payload = method(self, req)
        except OSError as e:
            code = e.errno if isinstance(e.errno, int) and \
                0 < e.errno < 1000 else errno.EIO
            return w.reply(req.unique, error=code)
        except Exception as e:
            # damaged media, a malformed request or a bug: the caller gets
            # EIO and the mount stays up
            self.log("ovl mount: %s: %s: %s" % (w.OPCODE_NAMES.get(op, op),
                                                 e.__class__.__name__, e))
            return w.reply(req.unique, error=errno.EIO)
        return w.reply(req.unique, payload or b"")

    # ----- session ----------------------------------------------------------

    def op_init(self, req):
        major, minor, readahead, flags = w.INIT_IN.unpack_from(req.body)
        if major < w.KERNEL_VERSION:
            raise OSError(errno.EPROTO, "kernel FUSE %d.%d is too old"
                          % (major, minor))
        if major > w.KERNEL_VERSION:
            # answer with our version only: the kernel asks again with ours
            return w.INIT_OUT.pack(w.KERNEL_VERSION, w.KERNEL_MINOR,
                                   0, 0, 0, 0, 0, 0, 0, 0, 0)[:8]
        self.minor = min(minor, w.KERNEL_MINOR)
        want = w.INIT_ASYNC_READ | w.INIT_ATOMIC_O_TRUNC | \
            w.INIT_BIG_WRITES | w.INIT_DO_READDIRPLUS | \
            w.INIT_READDIRPLUS_AUTO
        self.initialized = True
        return w.INIT_OUT.pack(w.KERNEL_VERSION, w.KERNEL_MINOR, readahead,
                               flags & want, 16, 12, MAX_WRITE,
                               1000000000, 0, 0, 0)

    def op_destroy(self, req):
        self.shutdown()
        self.destroyed = True

    def shutdown(self):
        """Commit everything: every open file's data, then the store.  A
        failed commit (ENOSPC) is logged and kept in self.failures; the
        others still happen."""
        for fh in list(self.handles):
            h = self.handles.pop(fh)
            if isinstance(h, Handle):
                self.attempt("commit of %s" % h.file.name, h.file.close)
        if not self.ovl.readonly:
            self.attempt("removal of orphans", self.drop_orphans)
        self.attempt("sync", self.ovl.sync)

    def attempt(self, what, fn):
        try:
            fn()
        except (OSError, ValueError) as e:
            self.failures.append("%s: %s" % (what, e))
            self.log("ovl mount: %s failed: %s" % (what, e))

    # ----- files removed while open -----------------------------------------

    def drop_orphans(self):
        if not self.ovl.exists(ORPHANS):
            return
        for name in self.ovl.listdir(ORPHANS):
            self.ovl.remove(ORPHANS + "/" + name)
        self.ovl.rmdir(ORPHANS)

    def open_upper(self, node):
        """Is node open through a handle that reads its upper inode?"""
        for h in self.handles.values():
            if isinstance(h, Handle) and h.node is node and \
                    h.file.uino is not None:
                return True
        return False

    def keep_if_open(self, path, st):
        """Before path's last name goes: a file still open keeps a hidden
        name (its own transaction; a cut after it only leaves the orphan,
        which the next mount removes)."""
        node = self.by_ino.get(st[1])
        if node is None or st[0] & S_IFMT == S_IFDIR or st[3] > 1 or \
                node.orphan or not self.open_upper(node):
            return
        if not self.ovl.exists(ORPHANS):
            self.ovl.mkdir(ORPHANS, 0o700)
        hidden = "%s/%d" % (ORPHANS, self.next_orphan)
        self.next_orphan += 1
        self.ovl.link(path, hidden)
        node.orphan = hidden

    def release_orphan(self, node):
        if node.orphan is None or any(
                isinstance(h, Handle) and h.node is node
                for h in self.handles.values()):
            return
        hidden, node.orphan = node.orphan, None
        self.ovl.remove(hidden)
        if not self.ovl.listdir(ORPHANS):
            self.ovl.rmdir(ORPHANS)

    # ----- reading the tree -------------------------------------------------

    def op_lookup(self, req):
        name, = req.names(1)
        path = self.child_path(req.nodeid, name)
        try:
            return self.entry(path)
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise
        # node id 0: the kernel caches the miss (every change comes through
        # it, so its negative dentry never goes stale)
        return w.pack_entry_out(0, 0, bytes(w.ATTR.size), ENTRY_TIMEOUT, 0)

    def op_getattr(self, req):
        node = self.node(req.nodeid)
        if node.removed is not None and not node.paths:
            return w.pack_attr_out(node.removed, ATTR_TIMEOUT)
        path = self.path_of(req.nodeid)
        return w.pack_attr_out(self.attr(path), ATTR_TIMEOUT)

    def op_readlink(self, req):
        return wire_name(self.ovl.readlink(self.path_of(req.nodeid)))

    def op_statfs(self, req):
        (bsize, frsize, blocks, bfree, bavail, files, ffree, _favail, _flag,
         namemax) = self.ovl.statvfs("/")
        return w.STATFS_OUT.pack(blocks, bfree, bavail, files, ffree, bsize,
                                 namemax, frsize)

    def op_access(self, req):
        if self.node(req.nodeid).removed is None:
            self.ovl.lstat(self.path_of(req.nodeid))

    def op_opendir(self, req):
        node = self.node(req.nodeid)
        if node.removed is not None and not node.paths:
            # removed, still a process's current directory: Linux lists
            # nothing, not even . and ..
            return self.new_handle(DirHandle(None, []))
        path = self.path_of(req.nodeid)
        st = self.ovl.lstat(path)
        parent = path.rsplit("/", 1)[0] or "/"
        entries = [(b".", st[1], S_IFDIR),
                   (b"..", self.ovl.lstat(parent)[1], S_IFDIR)]
        for name, kind, ino, _size in self.ovl.ilistdir(path):
            if path == "/" and "/" + name == ORPHANS:
                continue
            entries.append((wire_name(name), ino, kind))
        return self.new_handle(DirHandle(path, entries))

    def dir_handle(self, req):
        fh, offset, size = w.READ_IN.unpack_from(req.body)[:3]
        h = self.handles.get(fh)
        if not isinstance(h, DirHandle):
            raise OSError(errno.EBADF, "no directory handle %d" % fh)
        return h, offset, size

    def op_readdir(self, req):
        h, offset, size = self.dir_handle(req)
        out = bytearray()
        for i in range(offset, len(h.entries)):
            name, ino, kind = h.entries[i]
            d = w.pack_dirent(ino, i + 1, name, kind >> 12)
            if len(out) + len(d) > size:
                break
            out += d
        return bytes(out)

    def op_readdirplus(self, req):
        """READDIR with each entry's LOOKUP answer: `ls -l` and `find` save
        a round trip per name.  Every entry sent with a node id counts as
        a lookup (the kernel links them all, read or not), so an entry is
        remembered only once it is known to fit."""
        h, offset, size = self.dir_handle(req)
        no_entry = w.pack_entry_out(0, 0, bytes(w.ATTR.size), 0, 0)
        out = bytearray()
        for i in range(offset, len(h.entries)):
            name, ino, kind = h.entries[i]
            d = w.pack_direntplus(no_entry, ino, i + 1, name, kind >> 12)
            if len(out) + len(d) > size:
                break
            if name not in (b".", b".."):
                path = join(h.path, fs_name(name))
                try:
                    entry = self.entry(path)
                except OSError:
                    entry = no_entry     # gone since OPENDIR: no attributes
                d = w.pack_direntplus(entry, ino, i + 1, name, kind >> 12)
            out += d
        return bytes(out)

    def op_releasedir(self, req):
        self.handles.pop(w.RELEASE_IN.unpack_from(req.body)[0], None)

    def op_fsyncdir(self, req):
        self.ovl.sync()

    # ----- files ------------------------------------------------------------

    def new_handle(self, h):
        fh = self.next_fh
        self.next_fh += 1
        self.handles[fh] = h
        flags = w.FOPEN_KEEP_CACHE if isinstance(h, Handle) else 0
        return w.OPEN_OUT.pack(fh, flags, 0)

    def open_path(self, node, path, flags):
        acc = flags & O_ACCMODE
        writable = acc in (os.O_WRONLY, os.O_RDWR)
        if writable:
            mode = "w+b" if flags & os.O_TRUNC else "r+b"
            node.version += 1
        else:
            if flags & os.O_TRUNC:
                self.ovl.truncate(path, 0)
                node.version += 1
            mode = "rb"
        return Handle(self.ovl.open(path, mode), node, writable, flags)

    def op_open(self, req):
        flags = w.OPEN_IN.unpack_from(req.body)[0]
        node = self.node(req.nodeid)
        return self.new_handle(self.open_path(node, self.path_of(req.nodeid),
                                              flags))

    def op_create(self, req):
        flags, mode, _umask, _oflags = w.CREATE_IN.unpack_from(req.body)
        name, = req.names(1, w.CREATE_IN.size)
        path = self.child_path(req.nodeid, name)
        self.as_caller(req)
        try:
            self.ovl.mknod(path, S_IFREG | (mode & 0o7777))
        except OSError as e:
            if e.errno != errno.EEXIST or flags & os.O_EXCL:
                raise
        entry = self.entry(path)
        node = self.by_ino[self.ovl.lstat(path)[1]]
        return entry + self.new_handle(self.open_path(node, path, flags))

    def file_handle(self, fh):
        h = self.handles.get(fh)
        if not isinstance(h, Handle):
            raise OSError(errno.EBADF, "no file handle %d" % fh)
        return h

    def op_read(self, req):
        fh, offset, size = w.READ_IN.unpack_from(req.body)[:3]
        h = self.file_handle(fh)
        if not h.writable and h.version != h.node.version:
            # opened while it lived in the lower only; it has been copied
            # up since, and the kernel's cache shows the upper: follow it
            h.file.close()
            h.file = self.ovl.open(self.path_of(h.node.nodeid), "rb")
            h.version = h.node.version
        h.file.seek(offset)
        return h.file.read(size)

    def op_write(self, req):
        fh, offset, size = w.WRITE_IN.unpack_from(req.body)[:3]
        h = self.file_handle(fh)
        if not h.writable:
            raise OSError(errno.EBADF, "handle %d is read-only" % fh)
        data = req.body[w.WRITE_IN.size:w.WRITE_IN.size + size]
        # pending until a commit point, however much is written: past
        # write_buffer the overlay streams it to flash as provisional
        # nodes of the same transaction
        h.file.seek(offset)
        h.file.write(data)
        return w.WRITE_OUT.pack(len(data))

    def commit_handle(self, h):
        if h.writable:
            h.file.flush()

    def op_flush(self, req):
        h = self.file_handle(w.FLUSH_IN.unpack_from(req.body)[0])
        self.commit_handle(h)

    def op_fsync(self, req):
        h = self.file_handle(w.FSYNC_IN.unpack_from(req.body)[0])
        self.commit_handle(h)
        self.ovl.sync()

    def op_release(self, req):
        h = self.handles.pop(w.RELEASE_IN.unpack_from(req.body)[0], None)
        if isinstance(h, Handle):
            try:
                self.commit_handle(h)
            finally:
                h.file.close()
                self.release_orphan(h.node)

    # ----- changing the tree ------------------------------------------------

    def op_setattr(self, req):
        f = w.SETATTR_IN.unpack_from(req.body)
        valid, fh, size, atime, mtime = f[0], f[2], f[3], f[5], f[6]
        mode, uid, gid = f[11], f[13], f[14]
        node = self.node(req.nodeid)
        path = self.path_of(req.nodeid)
        ovl = self.ovl
        node.version += 1
        st = ovl.lstat(path)
        is_link = st[0] & S_IFMT == S_IFLNK
        # a mode or owner set to what it already is stores nothing (tar -x
        # as root chowns every file to root: a transaction saved per file)
        if valid & w.FATTR_MODE and st[0] & 0o7777 != mode & 0o7777:
            if is_link:
                raise OSError(errno.EOPNOTSUPP, "chmod of a symlink")
            ovl.chmod(path, mode & 0o7777)
        uid = uid if valid & w.FATTR_UID else st[4]
        gid = gid if valid & w.FATTR_GID else st[5]
        if (uid, gid) != (st[4], st[5]):
            ovl.chown(path, uid, gid, follow=False)
        if valid & w.FATTR_SIZE:
            h = self.handles.get(fh) if valid & w.FATTR_FH else None
            if isinstance(h, Handle) and h.writable:
                h.file.truncate(size)
            else:
                ovl.truncate(path, size)
        if valid & w.FATTR_MTIME:
            # the overlay keeps one time, the mtime; a change of the atime
            # alone has nothing to store
            t = int(time.time()) if valid & w.FATTR_MTIME_NOW else mtime
            if t >= 1 << 63:
                t -= 1 << 64             # the wire's u64 holds an s64
            ovl.utime(path, (t, t), follow=False)
        return w.pack_attr_out(self.attr(path), ATTR_TIMEOUT)

    def op_mknod(self, req):
        mode, rdev, _umask, _pad = w.MKNOD_IN.unpack_from(req.body)
        name, = req.names(1, w.MKNOD_IN.size)
        path = self.child_path(req.nodeid, name)
        self.as_caller(req)
        self.ovl.mknod(path, mode, rdev)
        return self.entry(path)

    def op_mkdir(self, req):
        mode, _umask = w.MKDIR_IN.unpack_from(req.body)
        name, = req.names(1, w.MKDIR_IN.size)
        path = self.child_path(req.nodeid, name)
        self.as_caller(req)
        self.ovl.mkdir(path, mode & 0o7777)
        return self.entry(path)

    def op_symlink(self, req):
        name, target = req.names(2)
        path = self.child_path(req.nodeid, name)
        self.as_caller(req)
        self.ovl.symlink(fs_name(target), path)
        return self.entry(path)

    def op_link(self, req):
        old, = w.LINK_IN.unpack_from(req.body)
        name, = req.names(1, w.LINK_IN.size)
        src = self.path_of(old)
        path = self.child_path(req.nodeid, name)
        self.node(old).version += 1
        self.ovl.link(src, path)
        return self.entry(path)

    def remove(self, req, verb):
        name, = req.names(1)
        path = self.child_path(req.nodeid, name)
        st = self.ovl.lstat(path)
        self.keep_if_open(path, st)
        verb(path)
        self.name_gone(path, st)

    def op_unlink(self, req):
        self.remove(req, self.ovl.remove)

    def op_rmdir(self, req):
        self.remove(req, self.ovl.rmdir)

    def rename(self, req, fixed, newdir, flags):
        if flags & ~w.RENAME_NOREPLACE:
            # RENAME_EXCHANGE and RENAME_WHITEOUT: as a Linux filesystem
            # that lacks them
            raise OSError(errno.EINVAL, "rename flags 0x%x" % flags)
        old, new = req.names(2, fixed)
        src = self.child_path(req.nodeid, old)
        dst = self.child_path(newdir, new)
        try:
            target = self.ovl.lstat(dst)
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise
            target = None
        if target is not None and flags & w.RENAME_NOREPLACE:
            raise OSError(errno.EEXIST, dst)
        moving = self.ovl.lstat(src)
        if target is not None and target[1] != moving[1]:
            self.keep_if_open(dst, target)
        self.ovl.rename(src, dst)
        if target is not None and target[1] != moving[1]:
            self.name_gone(dst, target)
        if src != dst and (target is None or target[1] != moving[1]):
            self.moved(src, dst)
        node = self.by_ino.get(moving[1])
        if node is not None:
            node.version += 1

    def op_rename(self, req):
        newdir, = w.RENAME_IN.unpack_from(req.body)
        self.rename(req, w.RENAME_IN.size, newdir, 0)

    def op_rename2(self, req):
        newdir, flags, _pad = w.RENAME2_IN.unpack_from(req.body)
        self.rename(req, w.RENAME2_IN.size, newdir, flags)

    OPS = {w.INIT: op_init, w.DESTROY: op_destroy, w.LOOKUP: op_lookup,
           w.GETATTR: op_getattr, w.READLINK: op_readlink,
           w.STATFS: op_statfs, w.ACCESS: op_access, w.OPENDIR: op_opendir,
           w.READDIR: op_readdir, w.READDIRPLUS: op_readdirplus,
           w.RELEASEDIR: op_releasedir,
           w.FSYNCDIR: op_fsyncdir, w.OPEN: op_open, w.CREATE: op_create,
           w.READ: op_read, w.WRITE: op_write, w.FLUSH: op_flush,
           w.FSYNC: op_fsync, w.RELEASE: op_release, w.SETATTR: op_setattr,
           w.MKNOD: op_mknod, w.MKDIR: op_mkdir, w.SYMLINK: op_symlink,
           w.LINK: op_link, w.UNLINK: op_unlink, w.RMDIR: op_rmdir,
           w.RENAME: op_rename, w.RENAME2: op_rename2}
    # Everything else (xattrs, locks, fallocate, lseek, copy_file_range,
    # ioctl, poll, bmap, tmpfile, ...) answers ENOSYS: the kernel then
    # answers EOPNOTSUPP (xattrs, fallocate), falls back to its own
    # generic code (lseek, copy_file_range, locks) or EINVAL.


class Unmounted(Exception):
    """The kernel closed the connection (umount, fusermount3 -u)."""


def read_request(fd, buf):
    """One request from fd (bytes), or raise Unmounted."""
    while True:
        try:
            n = os.readv(fd, [buf])
        except InterruptedError:
            continue
        except OSError as e:
            if e.errno in (errno.ENOENT, errno.EAGAIN, errno.EINTR):
                continue         # an aborted request: read the next
            if e.errno in (errno.ENODEV, errno.ECONNABORTED, errno.EPERM,
                           errno.EBADF):
                raise Unmounted()
            raise
        if n == 0:
            raise Unmounted()
        return bytes(buf[:n])


def write_reply(fd, data):
    try:
        os.write(fd, data)
    except OSError as e:
        # ENOENT: the request was interrupted and is gone; ENODEV: unmounted
        if e.errno == errno.ENODEV:
            raise Unmounted()
        if e.errno != errno.ENOENT:
            raise


def serve(server, fd, stop=None, waiting=None):
    """Answer requests on fd until unmounted (or stop() says so between
    requests); then commit everything.  waiting.waiting is True exactly
    while the loop waits for a request (a signal handler may then raise)."""
    buf = bytearray(READ_BUFFER)
    try:
        while not server.destroyed:
            if waiting is not None:
                waiting.waiting = True
            try:
                if stop is not None and stop():
                    break
                raw = read_request(fd, buf)
            finally:
                if waiting is not None:
                    waiting.waiting = False
            out = server.handle(raw)
            if out is not None:
                write_reply(fd, out)
    except Unmounted:
        pass
    finally:
        if not server.destroyed:
            server.shutdown()


def log_stderr(msg):
    print(msg, file=sys.stderr)
