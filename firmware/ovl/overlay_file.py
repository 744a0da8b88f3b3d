"""Open files of the overlay: mode parsing, copy-up at open, buffered writes.

Write-back rule: what a file's handles write (one WriteBuffer per upper
inode, shared by every handle of that inode) goes into one open upper
transaction, committed whole on flush(), close(), Overlay.sync(), or before
any other overlay operation that looks at or changes the tree (reads of the
same file go through the transaction and commit nothing).  However much is
written, RAM holds at most Overlay.write_buffer bytes of it: the rest is
streamed to flash as provisional nodes that count only if the transaction
commits.  A file created by open() is created in that same transaction, so
after a power cut it is absent or complete.  Opening an existing file for
write copies it up (metadata only) before open() returns.
"""

from ovl import compat
from ovl.compat import oserror
from ovl.overlay import (is_dir, is_reg, is_lnk, join, MAX_SYMLINKS,
                         MAX_FILE_SIZE)

READ_CHUNK = 256


class WriteBuffer:
    """What the handles of one upper file wrote since its last commit
    point: an open upper transaction, begun at the first change."""

    def __init__(self, ovl, uino, size, txn=None):
        self.ovl = ovl
        self.uino = uino
        self.base_size = size
        self.size = size
        self.touched = txn is not None
        self.cut = None         # a truncation committed with the data
        self.created = txn is not None   # the txn also creates the file
        self.txn = txn          # overlay _Txn
        self.beginning = False  # begin() is running (flush_all skips it)

    def begin(self):
        """The open transaction, begun (with the truncation at open, or the
        first-change bookkeeping of a copied-up file) if it was not."""
        if self.txn is None:
            ovl = self.ovl
            txn = ovl._begin_txn()
            self.beginning = True
            try:
                if self.cut is not None:
                    ovl._truncate_node(txn, ovl._node_of_ino(self.uino),
                                       self.cut)
                else:
                    ovl._note_change(txn, self.uino,
                                     ovl._get_origin(self.uino))
            except BaseException:
                txn.abort()
                raise
            finally:
                self.beginning = False
            self.txn = txn
        return self.txn

    def view(self):
        """The store Txn to read the file through, or None (no change)."""
        return None if self.txn is None else self.txn.txn

    def truncate(self, size):
        """Cut the file at size when the buffer commits (O_TRUNC at open:
        the rewrite then commits as one transaction, old or new content)."""
        self.cut = size if self.cut is None else min(self.cut, size)
        self.size = size
        self.touched = True

    def add(self, offset, data):
        txn = self.begin()
        step = max(1, self.ovl.write_buffer)
        view = memoryview(data)
        for at in range(0, len(data), step):
            # the Txn streams what it holds past write_buffer to flash
            txn.write(self.uino, offset + at, bytes(view[at:at + step]))
        self.touched = True
        if offset + len(data) > self.size:
            self.size = offset + len(data)

    def abort(self):
        if self.txn is not None:
            self.txn.abort()
            self.txn = None


def parse_mode(mode):
    """(readable, writable, append, create, exclusive, truncate, binary)."""
    kinds = [c for c in mode if c in "rwax"]
    if len(kinds) != 1 or len(mode) != len(set(mode)) or \
            [c for c in mode if c not in "rwaxbt+"] or \
            ("b" in mode and "t" in mode):
        raise ValueError("invalid mode: %r" % mode)
    k = kinds[0]
    plus = "+" in mode
    return (k == "r" or plus, k != "r" or plus, k == "a", k != "r", k == "x",
            k == "w", "b" in mode)


def _find_target(ovl, path, excl=False):
    """(node or None, path to create) for open(): a final symlink is
    followed, and a dangling one names the file O_CREAT makes.  With
    O_EXCL the final name is never followed: any existing name is EEXIST
    (POSIX; what makes O_EXCL safe for temporary files)."""
    if excl:
        # Linux's order: the root, then a trailing slash, then the name
        parent, name = ovl._walk_parent(path, compat.EEXIST)
        if path.endswith("/"):
            raise oserror(compat.EISDIR, path)
        if ovl._child(parent, name) is not None:
            raise oserror(compat.EEXIST, path)
        return None, join(parent.path, name)
    for _ in range(MAX_SYMLINKS + 1):
        parent, name = ovl._walk_parent(path, compat.EISDIR)
        node = ovl._child(parent, name)
        if node is None:
            if path.endswith("/"):
                raise oserror(compat.EISDIR, path)
            return None, join(parent.path, name)
        if not is_lnk(node.mode):
            if path.endswith("/") and not node.isdir():
                raise oserror(compat.ENOTDIR, path)
            return node, node.path
        target = ovl._readlink_node(node)
        path = target if target.startswith("/") else join(parent.path, target)
    raise oserror(compat.ELOOP, path)


def open_file(ovl, path, mode="r"):
    readable, writable, append, create, excl, trunc, binary = parse_mode(mode)
    ovl.flush_all()
    if writable:
        ovl._writable(path)
    node, target = _find_target(ovl, path, excl)
    if node is None:
        if not create:
            raise oserror(compat.ENOENT, path)
        # created in the write transaction: absent or complete after a cut
        uino, txn = ovl._create_file(target, keep_open=True)
        ovl._buffers[uino] = WriteBuffer(ovl, uino, 0, txn)
        return OverlayFile(ovl, target, uino, None, readable, writable,
                           append, binary)
    if excl:
        raise oserror(compat.EEXIST, path)
    if path.endswith("/") and not node.isdir():
        raise oserror(compat.ENOTDIR, path)
    if node.isdir():
        raise oserror(compat.EISDIR, path)
    if not is_reg(node.mode):
        # device nodes and fifos are presented, not emulated
        raise oserror(compat.EOPNOTSUPP, path)
    if writable:
        def op(txn):
            n = ovl._walk(target)
            ovl._copy_up(txn, n)
            return n.uino
        uino = ovl._mutate(path, op)
        if trunc:
            buf = WriteBuffer(ovl, uino, ovl.store.get(uino).size)
            buf.truncate(0)
            ovl._buffers[uino] = buf
        return OverlayFile(ovl, target, uino, None, readable, writable,
                           append, binary)
    return OverlayFile(ovl, target, node.uino, node.lentry, readable, False,
                       False, binary)


class OverlayFile:
    """A file object of the overlay (binary or text, per the mode)."""

    def __init__(self, ovl, path, uino, lentry, readable, writable, append,
                 binary):
        self.ovl = ovl
        self.name = path
        self.uino = uino
        self.lentry = lentry
        self.readable = readable
        self.writable = writable
        self.append = append
        self.binary = binary
        self.pos = 0
        self.closed = False

    def __repr__(self):
        return "<OverlayFile %s>" % self.name

    # -- helpers --------------------------------------------------------------

    def _check(self, want=None):
        if self.closed:
            raise ValueError("I/O operation on closed file")
        if want == "r" and not self.readable:
            raise oserror(compat.EBADF, "not open for reading")
        if want == "w" and not self.writable:
            raise oserror(compat.EBADF, "not open for writing")

    def _size(self):
        if self.uino is None:
            return self.lentry.size
        buf = self.ovl._buffers.get(self.uino)
        if buf is not None:
            return buf.size
        inode = self.ovl.store.get(self.uino)
        if inode is None:
            raise oserror(compat.ESTALE, self.name)
        return inode.size

    def _read_bytes(self, n):
        if self.uino is None:
            data = self.ovl._read_lower(self.lentry, self.pos, n)
        else:
            # pending writes are read through their transaction: a read is
            # no commit point
            data = self.ovl._read_upper(self.uino, self.pos, n)
        self.pos += len(data)
        return data

    # -- reading --------------------------------------------------------------

    def read(self, n=-1):
        self._check("r")
        if n is None or n < 0:
            n = max(0, self._size() - self.pos)
            data = self._read_bytes(n)
            return data if self.binary else data.decode()
        if self.binary:
            return self._read_bytes(n)
        return self._read_text(n)

    def _read_text(self, n):
        out = bytearray()
        chars = 0
        while chars < n:
            chunk = self._read_bytes(n - chars)
            if not chunk:
                break
            out += chunk
            # complete a multi-byte character cut by the chunk end
            while True:
                try:
                    text = bytes(out).decode()
                    break
                except UnicodeError:
                    more = self._read_bytes(1)
                    if not more:
                        raise
                    out += more
            chars = len(text)
        return bytes(out).decode()

    def readinto(self, buf):
        self._check("r")
        data = self._read_bytes(len(buf))
        buf[:len(data)] = data
        return len(data)

    def readline(self, limit=-1):
        self._check("r")
        out = bytearray()
        while limit < 0 or len(out) < limit:
            want = READ_CHUNK if limit < 0 else min(READ_CHUNK,
                                                     limit - len(out))
            start = self.pos
            chunk = self._read_bytes(want)
            if not chunk:
                break
            nl = chunk.find(b"\n")
            if nl >= 0:
                out += chunk[:nl + 1]
                self.pos = start + nl + 1
                break
            out += chunk
        return bytes(out) if self.binary else bytes(out).decode()

    def readlines(self):
        return list(self)

    def __iter__(self):
        return self

    def __next__(self):
        line = self.readline()
        if not line:
            raise StopIteration
        return line

    # -- writing --------------------------------------------------------------

    def write(self, data):
        self._check("w")
        count = len(data)
        if isinstance(data, str):
            if self.binary:
                raise TypeError("a bytes-like object is required")
            data = data.encode()
        elif not self.binary:
            raise TypeError("write() argument must be str")
        ovl = self.ovl
        ovl.take_write_error(self.uino)
        if self.append:
            self.pos = self._size()
        if self.pos + len(data) > MAX_FILE_SIZE:
            raise oserror(compat.EFBIG, self.name)
        buf = ovl._buffers.get(self.uino)
        if buf is None:
            buf = WriteBuffer(ovl, self.uino, self._size())
            ovl._buffers[self.uino] = buf
        try:
            buf.add(self.pos, data)
        except BaseException:
            # out of space streaming it: the file keeps its committed
            # content, and nothing is left behind to fail again later
            ovl._drop_buffer(self.uino)
            raise
        self.pos += len(data)
        return count

    def truncate(self, size=None):
        self._check("w")
        if size is None:
            size = self.pos
        if size < 0:
            raise oserror(compat.EINVAL, self.name)
        if size > MAX_FILE_SIZE:
            raise oserror(compat.EFBIG, self.name)
        ovl = self.ovl
        uino = self.uino

        def op(txn):
            ovl._truncate_node(txn, ovl._node_of_ino(uino), size)
        ovl._mutate(self.name, op)
        return size

    def flush(self):
        self._check()
        if self.uino is not None:
            self.ovl.take_write_error(self.uino)
            self.ovl._flush_ino(self.uino)

    # -- position -------------------------------------------------------------

    def seek(self, offset, whence=0):
        self._check()
        if whence == 0:
            pos = offset
        elif whence == 1:
            pos = self.pos + offset
        elif whence == 2:
            pos = self._size() + offset
        else:
            raise oserror(compat.EINVAL, "whence %r" % whence)
        if pos < 0 or pos > MAX_FILE_SIZE:
            raise oserror(compat.EINVAL, self.name)
        self.pos = pos
        return pos

    def tell(self):
        self._check()
        return self.pos

    def seekable(self):
        return True

    # -- lifetime -------------------------------------------------------------

    def close(self):
        if self.closed:
            return
        try:
            if self.writable and self.uino is not None:
                if self.uino in self.ovl._write_errors:
                    # data this handle wrote was already lost: do not
                    # commit what came after it as if it were whole
                    self.ovl._drop_buffer(self.uino)
                    self.ovl.take_write_error(self.uino)
                self.ovl._flush_ino(self.uino)
        finally:
            self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def fileno(self):
        raise oserror(compat.EOPNOTSUPP, "no file descriptor")
