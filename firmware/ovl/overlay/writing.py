"""The overlay's write half: what only a change to the tree runs.

One upper transaction per operation (_mutate; begin gives the store Txn
the copy-up memo), copy-up (entering a hard-linked file in the link
index) and links, new inodes and names (_create, mkdir), open() for
writing (creating the file, copying it up, the cut of O_TRUNC), an open
file's write, and the write-back's write and commit half: each
WriteBuffer (an open transaction per upper file), writes added to it,
its commit, and what a failed one leaves.  A board's mount and reads run
none of it, so the overlay imports this module at the first write
(Overlay.__getattr__, through ovl.overlay.rare; OverlayFile.__getattr__
for write): a MemoryError while importing it is that call's error, and
nothing has changed yet.

Each Overlay function takes the Overlay first and is reached as its
method of the same name; here they call each other directly (no lookup
through the class, which could import or grow a class mid-operation).
The write-back's half is set on file.WriteBack when this module is
imported, before any buffer exists, so a flush (a close in a with
block's exit while a MemoryError unwinds) never imports.
"""

import time

from ovl import compat, paths
from ovl.store import Inode
from ovl.overlay import meta, file


# -- what the upper stores: names, origins ----------------------------------
# (here, not in ovl.overlay.meta: only a change applies them)

def strict_utf8(text):
    """Can the upper store text (a name made, a symlink's target)?  Only
    strict UTF-8: a MicroPython str may hold surrogates, overlong forms
    and code points past U+10FFFF, which a CPython one cannot encode
    (ovl.overlay.meta_rare checks one that is not ASCII)."""
    if not compat.MICROPYTHON:
        try:
            text.encode()
            return True
        except UnicodeError:
            return False
    raw = text.encode()
    if not raw or max(raw) < 0x80:
        return True
    from ovl.overlay import meta_rare
    return meta_rare.well_formed(raw)


def upper_name(name):
    """name, if the upper can store it (strict_utf8)."""
    if not strict_utf8(name):
        raise compat.oserror(compat.EINVAL, "name %r is not UTF-8, which"
                             " the upper stores" % name)
    return name


def origin_bytes(origin):
    """The ORIGIN meta's value for origin (a meta.Origin)."""
    return ("%d %d %d %d %s" % (origin.ino, origin.size, origin.mtime,
                                origin.lowlim, origin.path)).encode()


# -- transactions and copy-up -----------------------------------------------

def _now(ovl):
    return int(time.time()) if ovl.clock is None else ovl.clock()


def begin(ovl):
    """A store Txn (its ram: the overlay's write_buffer) carrying the
    overlay's memo of the paths it copied up (copied: path -> node given
    an upper inode in it), so that two nodes of one path, looked up
    before the copy-up, get one inode.  The names given to its link,
    whiteout and unlink are the callers' to check (upper_name: the
    upper stores UTF-8 names only; one found in the upper is UTF-8
    already): _link and rename check theirs first."""
    txn = ovl.store.begin()
    if txn.ram != ovl.write_buffer:     # (else the Txn class's)
        txn.ram = ovl.write_buffer
    txn.copied = {}
    return txn


def _mutate(ovl, path, op, keep=False):
    """Run op(txn) as one upper transaction and commit it (keep: return
    (result, txn) uncommitted, for a file's write-back)."""
    ovl._writable(path)
    ovl.flush_all()
    txn = begin(ovl)
    try:
        result = op(txn)
    except BaseException:
        txn.abort()
        raise
    if keep:
        return result, txn
    txn.commit()    # (one that did nothing writes nothing)
    ovl._origins.clear()    # an origin it changed is cached no more
    return result


def _put(ovl, txn, node, **changes):
    """Update the upper inode of node (in txn, and in the node as the
    store's Inode record)."""
    attrs = node.inode.attrs()
    attrs.update(changes)
    txn.put_inode(node.uino, **attrs)
    node.inode = Inode(node.uino, **attrs)


def _new_inode(ovl, txn, mode, size=0, nlink=1, uid=None, gid=None,
               mtime=None, rdev=0):
    """A new upper inode (in txn): (its ino, its attributes), from which a
    caller that keeps it makes the Inode record (most do not: a file
    open() creates)."""
    now = _now(ovl)
    uino = txn.new_ino()
    attrs = {"mode": mode, "uid": ovl.uid if uid is None else uid,
             "gid": ovl.gid if gid is None else gid,
             "mtime": now if mtime is None else mtime, "ctime": now,
             "size": size, "nlink": nlink, "flags": 0, "rdev": rdev}
    txn.put_inode(uino, **attrs)
    return uino, attrs


def _copy_up(ovl, txn, node):
    """Give node an upper inode linked at its name (parents first).  Data
    is not copied: the upper file reads the lower below its lower limit.
    Returns node (updated).  The names to copy up are gathered from node
    up first (a loop: a deep path costs heap, not call stack)."""
    todo = []
    n = node
    while True:
        done = txn.copied.get(n.path)
        if done is not None:
            n.uino, n.inode, n.dirent = done.uino, done.inode, True
            n.origin, n.fresh = done.origin, done.fresh
            break
        if n.uino is not None and n.dirent:
            break
        todo.append(n)
        n = n.parent
    while todo:
        n = todo.pop()
        upper_name(n.name)     # before its origin records the path
        _ensure_upper(ovl, txn, n)
        _link(ovl, txn, n.parent, n.name, n.uino)
        n.dirent = True
        txn.copied[n.path] = n
    return node


def _ensure_upper(ovl, txn, node):
    """Give node an upper inode (metadata only), not linked anywhere."""
    if node.uino is not None:
        return
    e = node.lentry
    if len(node.lpath) > 240:   # may be over meta_rare.ORIGIN_PATH_MAX
        from ovl.overlay import meta_rare   # (UTF-8: 4 bytes a char)
        meta_rare.origin_path(node.lpath)   # before anything is made
    dir_ = paths.is_dir(e.mode)
    uino, attrs = _new_inode(ovl, txn, e.mode, size=0 if dir_ else e.size,
                             nlink=2 if dir_ else e.nlink, uid=e.uid,
                             gid=e.gid, mtime=e.mtime, rdev=e.rdev)
    inode = Inode(uino, **attrs)
    # a directory has no lower limit; a file's is all its lower bytes
    origin = meta.Origin(e.ino, e.size, e.mtime, 0 if dir_ else e.size,
                         node.lpath)
    txn.set_meta(uino, meta.META_ORIGIN, origin_bytes(origin))
    if paths.is_lnk(e.mode):
        txn.set_symlink(uino, ovl.lower.readlink(e))
    if e.nlink > 1 and not dir_:
        # the other lower names of this file must find this inode
        txn.set_meta(ovl._root_ino, meta.INDEX_PREFIX + str(e.ino),
                     str(uino).encode())
    node.uino, node.inode, node.origin, node.fresh = uino, inode, origin, \
        True


def _link(ovl, txn, parent, name, uino):
    """Point parent/name at uino in the upper, replacing a whiteout; True
    if it replaced one."""
    upper_name(name)   # EINVAL unless the upper can store it
    replaced = not parent.fresh and \
        ovl.store.lookup(parent.uino, name) is not None
    if replaced:
        txn.unlink(parent.uino, name)
    txn.link(parent.uino, name, uino)
    return replaced


# -- new names ------------------------------------------------------------

def _create(ovl, path, mode, make=None, keep=False, parent=None):
    """Create a new name at path; make(txn, parent, name) -> uino, or with
    no make a new inode of mode (a directory or a regular file, umask
    applied).  mode: its S_IFMT bits tell a directory.  parent: path's
    directory node, where the caller (open) walked already and found no
    such name (the walk made a dozen objects a file)."""
    def op(txn):
        if parent is None:
            at, name = ovl._walk_parent(path, compat.EEXIST)
            if ovl._child(at, name) is not None:
                raise compat.oserror(compat.EEXIST, path)
        else:
            at, name = parent, path[path.rfind("/") + 1:]
        upper_name(name)   # EINVAL before the store looks it up
        _copy_up(ovl, txn, at)
        if make is None:
            uino, _ = _new_inode(ovl, txn, mode,
                                 nlink=2 if paths.is_dir(mode) else 1)
        else:
            uino = make(txn, at, name)
        # a name the upper holds here is a whiteout (_child found none): a
        # removed lower name made again
        if _link(ovl, txn, at, name, uino):
            from ovl.overlay import unlink
            unlink.note_replaced(ovl, txn, uino, at, name)
        now = _now(ovl)     # the directory's entries changed
        _put(ovl, txn, at, mtime=now, ctime=now)
        return uino
    return _mutate(ovl, path, op, keep)


def mkdir(ovl, path, mode=0o777):
    """Overlay.mkdir."""
    # permission and sticky bits: set-uid/gid are not mkdir's (Linux)
    _create(ovl, path, paths.S_IFDIR | (mode & ~ovl.umask & 0o1777))


def open_for_writing(ovl, path, mode, how):
    """open(path, mode) of a mode that writes (how: its r, w, a or x;
    Overlay.open checked the mode and committed what open() creates
    elsewhere; a read-only overlay refused it)."""
    # O_EXCL: ovl.overlay.hostops (a board's file IO never asks)
    node, target = ovl._excl_target(path) if how == "x" else \
        ovl._find_target(path)
    if how != "r" and path.endswith("/"):
        # O_CREAT with a final "/", whatever is there (Linux)
        raise compat.oserror(compat.EISDIR, path)
    if node is None:
        if how == "r":
            raise compat.oserror(compat.ENOENT, path)
        # created in the write transaction: absent or complete after a
        # cut, in the directory the lookup walked to
        parent, name = target
        target = paths.join(parent.path, name)
        uino, txn = _create(ovl, target,
                            paths.S_IFREG | (0o666 & ~ovl.umask), None,
                            True, parent)
        f = file.OverlayFile(ovl, target, uino, None, mode)
        f.buf = ovl.writeback.buffers[uino] = WriteBuffer(ovl, uino, 0, txn)
        return f
    ovl._file_node(path, node)

    def op(txn):
        n = ovl._walk(target)
        _copy_up(ovl, txn, n)
        return n.uino
    uino = _mutate(ovl, path, op)
    f = file.OverlayFile(ovl, target, uino, None, mode)
    if how == "w":      # O_TRUNC
        f.buf = ovl.writeback.buffers[uino] = WriteBuffer(ovl, uino, 0, None,
                                                          0)
    return f


# -- an open file's write -------------------------------------------------

def write(f, data):
    """OverlayFile.write: data added to the file's pending writes at its
    position (at its end when open for appending)."""
    f._check("w")
    count = len(data)
    binary = "b" in f.mode
    # (a refusal's TypeError: fileops.wrong_type, its messages off a
    # board)
    if isinstance(data, str):
        if binary:
            from ovl.overlay import fileops
            fileops.wrong_type(binary)
        data = data.encode()
    else:
        if not binary and not compat.MICROPYTHON:
            # MicroPython's own text files take bytes too, and its C
            # stream layer (print(file=f) ...) hands them bytes
            from ovl.overlay import fileops
            fileops.wrong_type(binary)
        # bytes-like whatever its size, refused before anything is
        # buffered (a TypeError in the write back drops the file's
        # pending writes)
        memoryview(data)
    wb = f.ovl.writeback
    f._take_loss(True)
    if "a" in f.mode:
        f.pos = wb.size(f.uino, None, f.name)
    if f.pos + len(data) > meta.MAX_FILE_SIZE:
        raise compat.oserror(compat.EFBIG, f.name)
    _write_back(wb, f, data)
    f.pos += len(data)
    return count


# -- the write-back's write and commit half -----------------------------------

def note_change(ovl, txn, uino, origin):
    """The first change to a copied-up file's data (in txn): its base is
    recorded (ovl.upgrade.note_change, of the same name)."""
    if origin is not None and origin.lowlim > 0 and \
            ovl.store.get_meta(uino, meta.META_BASE) is None:
        from ovl import upgrade
        upgrade.note_change(ovl, txn, uino, origin)


class WriteBuffer:
    """What the handles of one upper file wrote since its last commit
    point: an open upper transaction, begun at the first change."""

    # the error that aborted txn, for its handles (a class attribute until
    # then: one an instance sets grows its table on a board)
    lost = None

    def __init__(self, ovl, uino, size, txn=None, cut=None):
        # txn: open() created uino in it, and it stays open for the data;
        # cut: open() with O_TRUNC, so uino is cut to it when the buffer
        # commits and a rewrite is one transaction (old or new content)
        self.ovl = ovl
        self.uino = uino
        self.size = size
        self.cut = cut          # a truncation committed with the data
        self.txn = txn          # store Txn (begin)
        self.beginning = False  # begin() is running (flush_all skips it)
        # its last change (open()'s, then each write's): the file's times
        # as a stat sees them before the commit stamps its own
        self.mtime = _now(ovl)

    def begin(self):
        """The open transaction, begun (with the truncation at open, or the
        first-change bookkeeping of a copied-up file) if it was not.

        A buffer is made for a file that exists (_write_back sizes it from
        its inode, open() with O_TRUNC copies it up first and the cut reads
        it again; ESTALE if it is gone), and any operation that could
        remove the file commits it first (flush_all), so a flush finds the
        inode without looking it up again."""
        if self.txn is None:
            ovl = self.ovl
            txn = begin(ovl)
            self.beginning = True
            try:
                if self.cut is not None:
                    from ovl.overlay import truncate
                    truncate.cut(ovl, txn, self.uino, self.cut)
                else:
                    note_change(ovl, txn, self.uino,
                                ovl._get_origin(self.uino))
            except BaseException:
                txn.abort()
                raise
            finally:
                self.beginning = False
            self.txn = txn
        return self.txn


def _write_back(wb, f, data):
    """Add data at OverlayFile f's position to its file's pending writes
    (WriteBack wb's).  On a failure (out of space streaming it) the
    transaction is aborted: the file keeps its committed content, and
    nothing is left behind to fail again later."""
    if not len(data):   # no size, no mtime: nothing changes (Linux)
        return
    uino = f.uino
    offset = f.pos
    buf = wb.buffers.get(uino)
    if buf is None:
        buf = WriteBuffer(wb.ovl, uino, wb.size(uino, None, f.name))
        wb.buffers[uino] = buf
    # whether f has more in the transaction, lost with it if this write
    # fails: its earlier writes, open()'s creation or truncation
    held = f.buf is buf
    f.buf = buf
    try:
        txn = buf.begin()
        step = max(1, wb.ovl.write_buffer)
        if len(data) <= step:
            # (the Txn copies what it is given: no copy made here)
            txn.write(uino, offset, data)
        else:
            view = memoryview(data)
            for at in range(0, len(data), step):
                # the Txn streams what it holds past write_buffer to flash
                txn.write(uino, offset + at, view[at:at + step])
    except BaseException as e:
        wb.buffers.pop(uino, None)
        _lose(buf, e)
        # told by this call; refused further writes if it lost more
        f.buf = True if held else None
        raise
    if offset + len(data) > buf.size:
        buf.size = offset + len(data)
    buf.mtime = _now(wb.ovl)


def commit(wb, buf, f=None):
    """WriteBack.flush's commit of buf, taken from wb's buffers: its one
    transaction (f: the OverlayFile whose flush or close this is, told by
    its failure).

    On any failure (a full store, most often) the transaction is aborted
    (what it streamed is dead space) and the file keeps its last committed
    content: a buffer left behind would be flushed again by every later
    operation, and fail again, wedging the whole tree."""
    ovl = wb.ovl
    try:
        txn = buf.begin()
        now = _now(ovl)
        # the Txn keeps the attributes not named
        txn.put_inode(buf.uino, size=buf.size, mtime=now, ctime=now)
        txn.commit()
    except BaseException as e:
        _lose(buf, e)
        if f is not None and f.buf is buf:
            f.buf = True    # told by this call
        raise
    # (a handle keeps its buffer: not the committed data)
    buf.txn = None
    ovl._origins.clear()    # an origin it changed is cached no more


def _lose(buf, e):
    """Abort buf's transaction, failed with e, and keep for its other
    handles the error to report: e, or EIO for one that is no OSError, a
    failed write-back as Linux reports one, not the same interrupt again
    (a Ctrl-C pressed once); but a MemoryError as it is: making another
    exception on a full heap could raise a new MemoryError here instead,
    and the handles would be told nothing."""
    if buf.txn is not None:
        buf.txn.abort()
    buf.lost = e if isinstance(e, (OSError, MemoryError)) else \
        compat.oserror(compat.EIO)


def drop(wb, uino):
    """WriteBack.drop: forget uino's pending writes (the file was deleted,
    or its data was lost): abort their transaction."""
    buf = wb.buffers.pop(uino, None)
    if buf is not None and buf.txn is not None:
        buf.txn.abort()


file.OverlayFile.write = write
file.WriteBack.commit = commit
file.WriteBack.drop = drop
