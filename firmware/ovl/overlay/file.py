"""Open files: the file object (reads, writes, the text layer) and the
write-back, what files wrote and has not been committed yet.

Overlay.open() parses the mode, resolves the path and creates or copies up
the file; an OverlayFile then reads and writes through the overlay's
public interface (read_upper, truncate_open; a file only the lower holds
is read from the lower) and its write-back (WriteBack, below, which holds
what the file's handles wrote until a commit point).  The text layer
(characters, not bytes) is this one's but for reading n characters,
which with lines, seek and tell, truncate, flush and fileno is in
fileops.py, imported at its first use.

On MicroPython the same object is what open() returns from a VFS mount
(ovl.vfs): MicroPython's C stream layer (import, print(file=f), builtin
open) drives a Python file object only if it subclasses io.IOBase and has
readinto, write and ioctl, so there OverlayFile does.  CPython's IOBase
would bring its own close, seek and readline, so there it is a plain class.

The write-back: one WriteBuffer per upper inode, shared by every handle
of that inode: an open upper transaction holding what they wrote,
committed whole on flush(), close(), Overlay.sync(), or before any other
overlay operation that changes the tree; one that only looks at it
(stat, listdir, open for reading, reads of the same file, which go
through the transaction) commits nothing but a file open() is creating
(flush_all(created=True)).  However much is
written, RAM holds at most Overlay.write_buffer bytes of it: the rest is
streamed to flash as provisional nodes that count only if the
transaction commits.  A file
created by open() is created in that same transaction, so after a power
cut it is absent or complete.  A failed write or commit aborts the whole
transaction: each handle that had something in it is told once, then
refuses writes (OverlayFile._take_loss).

WriteBack owns the buffers; the overlay and its file objects go through
its methods, but for open(), which puts the buffer of a file it creates
or truncates in WriteBack.buffers (and in its handle's buf).  (It
lives here, not in a module of its own: a module keeps its object and
its names on every board's heap.)
"""

import io

from ovl import compat
from ovl.compat import const
from ovl.overlay import meta

# MicroPython stream ioctl requests the file answers
_IOCTL_FLUSH = const(1)
_IOCTL_CLOSE = const(4)
_IOCTL_BUFFER_SIZE = const(11)


class OverlayFile(io.IOBase if compat.MICROPYTHON else object):
    """A file object of the overlay (binary or text, per the mode).

    mode: open()'s, checked there; its letters tell what the file does
    (r reads, w, a and x write, + both; a appends, b is binary), looked
    up where a call needs one (no attribute of its own each)."""

    # the WriteBuffer holding what this handle wrote since its last commit
    # point (or open()'s creation or truncation of its file); True once
    # its loss was reported (_take_loss)
    buf = None

    def __init__(self, ovl, path, uino, lentry, mode):
        self.ovl = ovl
        self.name = path
        self.uino = uino
        self.lentry = lentry
        self.mode = mode
        self.pos = 0
        self.closed = False

    def __getattr__(self, name):
        # what a board's boot and whole-file reads and writes never call
        # (lines, seek and tell, truncate, flush, fileno):
        # ovl.overlay.fileops, imported at first use; each function found
        # is set on the class, a method from then on, so a loop of tell()
        # or lines looks it up once
        if name not in "readline readlines seek tell seekable truncate " \
                "flush fileno".split():
            raise AttributeError(name)
        from ovl.overlay import fileops
        setattr(type(self), name, getattr(fileops, name))
        return getattr(self, name)

    def __repr__(self):
        return "<OverlayFile %s>" % self.name

    # -- helpers --------------------------------------------------------------

    def _check(self, op=None):
        # op: "r" or "w", what the call needs the file open for; the
        # error of a call refused is fileops._check's (its messages off a
        # board)
        m = self.mode
        if self.closed or ("+" not in m and (
                op == "r" and "r" not in m or op == "w" and "r" in m)):
            from ovl.overlay import fileops
            fileops._check(self, op)

    def _take_loss(self, writing):
        # The transaction holding what this handle wrote was aborted (a
        # failed write or commit, its own or another handle's): its error
        # is raised once, by the call that failed or else the handle's
        # next write, flush or close; then writes get EIO, since they would
        # land on the file's old content (half a rewrite), and close, with
        # nothing to commit, succeeds (docs/OVERLAY.md).
        buf = self.buf
        if buf is True:
            if writing:
                raise compat.oserror(compat.EIO, self.name)
        elif buf is not None and buf.lost is not None:
            self.buf = True
            raise buf.lost

    def _read_bytes(self, n):
        try:
            if self.uino is None:
                # a lower file: its bytes [pos, pos+n), none past its end
                e = self.lentry
                data = b"" if self.pos >= e.size or n <= 0 else \
                    self.ovl.lower.read(e, self.pos,
                                        min(n, e.size - self.pos))
            else:
                # pending writes are read through their transaction: a
                # read is no commit point
                data = self.ovl.read_upper(self.uino, self.pos, n)
        except OSError as e:
            from ovl.overlay import fileops
            raise fileops.read_failed(self, e)
        self.pos += len(data)
        return data

    # -- reading --------------------------------------------------------------

    def read(self, n=-1):
        self._check("r")
        if n is None or n < 0:
            # to the end: a read stops at the file's size (its pending
            # writes counted)
            data = self._read_bytes(meta.MAX_FILE_SIZE)
            return data if "b" in self.mode else data.decode()
        if "b" in self.mode:
            return self._read_bytes(n)
        from ovl.overlay import fileops
        return fileops.read(self, n)

    def readinto(self, buf, n=-1):
        # n: at most n bytes, as MicroPython's streams take it
        self._check("r")
        data = self._read_bytes(len(buf) if n < 0 or n > len(buf) else n)
        buf[:len(data)] = data
        return len(data)

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
        binary = "b" in self.mode
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
        wb = self.ovl.writeback
        self._take_loss(True)
        if "a" in self.mode:
            self.pos = wb.size(self.uino, None, self.name)
        if self.pos + len(data) > meta.MAX_FILE_SIZE:
            raise compat.oserror(compat.EFBIG, self.name)
        wb.write(self, data)
        self.pos += len(data)
        return count

    # -- lifetime -------------------------------------------------------------

    def close(self):
        if self.closed:
            return
        try:
            m = self.mode
            if self.uino is not None and ("+" in m or "r" not in m):
                # open for writing: its pending writes commit, unless
                # what it wrote was lost (raised instead)
                self._take_loss(False)
                self.ovl.writeback.flush(self.uino, self)
        finally:
            self.closed = True
            self.buf = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def ioctl(self, op, arg):
        """MicroPython's stream protocol, for its C layer."""
        if op == _IOCTL_CLOSE:
            self.close()
            return 0
        if op == _IOCTL_FLUSH:
            self.flush()
            return 0
        if op == _IOCTL_BUFFER_SIZE:
            return self.ovl.write_buffer
        return -1


# -- the write-back ------------------------------------------------------

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
        self.txn = txn          # store Txn (Overlay.begin)
        self.beginning = False  # begin() is running (flush_all skips it)
        # its last change (open()'s, then each write's): the file's times
        # as a stat sees them before the commit stamps its own
        self.mtime = ovl._now()

    def begin(self):
        """The open transaction, begun (with the truncation at open, or the
        first-change bookkeeping of a copied-up file) if it was not.

        A buffer is made for a file that exists (WriteBack.write sizes it
        from its inode, open() with O_TRUNC copies it up first and the cut
        reads it again; ESTALE if it is gone), and any operation that could
        remove the file commits it first (flush_all), so a flush finds the
        inode without looking it up again."""
        if self.txn is None:
            ovl = self.ovl
            txn = ovl.begin()
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


class WriteBack:
    """The overlay's pending writes: {upper ino: WriteBuffer}."""

    def __init__(self, ovl):
        self.ovl = ovl
        self.buffers = {}

    def size(self, uino, size=None, name=None):
        """Upper file uino's size with its pending writes; size: its
        committed size, without them, if the caller has it (else read from
        the store; name: the file's, for the error when the inode is
        gone)."""
        buf = self.buffers.get(uino)
        if buf is not None:
            return buf.size
        if size is None:
            inode = self.ovl.store.get(uino)
            if inode is None:
                raise compat.oserror(compat.ESTALE, name)
            size = inode.size
        return size

    def write(self, f, data):
        """Add data at OverlayFile f's position to its file's pending
        writes.  On a failure (out of space streaming it) the transaction
        is aborted: the file keeps its committed content, and nothing is
        left behind to fail again later."""
        if not len(data):   # no size, no mtime: nothing changes (Linux)
            return
        uino = f.uino
        offset = f.pos
        buf = self.buffers.get(uino)
        if buf is None:
            buf = WriteBuffer(self.ovl, uino, self.size(uino, None, f.name))
            self.buffers[uino] = buf
        # whether f has more in the transaction, lost with it if this write
        # fails: its earlier writes, open()'s creation or truncation
        held = f.buf is buf
        f.buf = buf
        try:
            txn = buf.begin()
            step = max(1, self.ovl.write_buffer)
            if len(data) <= step:
                # (the Txn copies what it is given: no copy made here)
                txn.write(uino, offset, data)
            else:
                view = memoryview(data)
                for at in range(0, len(data), step):
                    # the Txn streams what it holds past write_buffer to
                    # flash
                    txn.write(uino, offset + at, view[at:at + step])
        except BaseException as e:
            self.buffers.pop(uino, None)
            self._lose(buf, e)
            # told by this call; refused further writes if it lost more
            f.buf = True if held else None
            raise
        if offset + len(data) > buf.size:
            buf.size = offset + len(data)
        buf.mtime = self.ovl._now()

    def flush_all(self, created=False):
        """Commit every file's buffered data (one transaction per file);
        created: only the files open() is creating, whose names no
        committed directory holds yet (what a call that only looks at the
        tree needs to find them; docs/OVERLAY.md, "commit point").

        A file whose commit fails is dropped and its error kept for its
        handles (see below): the operation that happened to trigger the
        flush is not refused for another file's data.  Returns the first
        such error, for sync() to report."""
        first = None
        if self.buffers:
            for uino in list(self.buffers):
                if self.buffers[uino].beginning:
                    # reached from inside that file's own begin() (a lookup
                    # made while its first change is being recorded, e.g.
                    # by an import through the VFS): flushing it here would
                    # commit it early and lose what it writes next
                    continue
                if created and self.ovl.store.get(uino) is not None:
                    continue
                # Linux reports a failed writeback at the file's next fsync
                # or close; so does this: each of its handles' next write,
                # flush or close raises it (OverlayFile._take_loss).  One
                # that is no OSError still stops the operation.
                try:
                    self.flush(uino)
                except OSError as e:
                    if first is None:
                        first = e
        return first

    def flush(self, uino, f=None):
        """Commit uino's pending writes: their one transaction (f: the
        OverlayFile whose flush or close this is, told by its failure).

        On any failure (a full store, most often) the transaction is
        aborted (what it streamed is dead space) and the file keeps its
        last committed content: a buffer left behind would be flushed again
        by every later operation, and fail again, wedging the whole tree."""
        buf = self.buffers.pop(uino, None)
        if buf is None:
            return
        ovl = self.ovl
        try:
            txn = buf.begin()
            now = ovl._now()
            # the Txn keeps the attributes not named
            txn.put_inode(uino, size=buf.size, mtime=now, ctime=now)
            txn.commit()
        except BaseException as e:
            self._lose(buf, e)
            if f is not None and f.buf is buf:
                f.buf = True    # told by this call
            raise
        # (a handle keeps its buffer: not the committed data)
        buf.txn = None
        ovl._origins.clear()    # an origin it changed is cached no more

    def _lose(self, buf, e):
        """Abort buf's transaction, failed with e, and keep for its other
        handles the error to report: e, or EIO for one that is no OSError,
        a failed write-back as Linux reports one, not the same interrupt
        again (a Ctrl-C pressed once); but a MemoryError as it is: making
        another exception on a full heap could raise a new MemoryError
        here instead, and the handles would be told nothing."""
        if buf.txn is not None:
            buf.txn.abort()
        buf.lost = e if isinstance(e, (OSError, MemoryError)) else \
            compat.oserror(compat.EIO)

    def drop(self, uino):
        """Forget uino's pending writes (the file was deleted, or its data
        was lost): abort their transaction."""
        buf = self.buffers.pop(uino, None)
        if buf is not None and buf.txn is not None:
            buf.txn.abort()
