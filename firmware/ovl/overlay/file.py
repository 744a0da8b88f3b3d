"""The overlay's file object: reads, writes, the text layer.

Overlay.open() parses the mode, resolves the path and creates or copies up
the file; an OverlayFile then reads and writes through the overlay's
public interface (read_upper, truncate_open; a file only the lower holds
is read from the lower) and its write-back (writeback.py, which holds
what the file's handles wrote until a commit point).  The text layer
(characters, not bytes) is this one's but for reading n characters,
which with lines, seek and tell, truncate, flush and fileno is in
fileops.py, imported at its first use.

On MicroPython the same object is what open() returns from a VFS mount
(ovl.vfs): MicroPython's C stream layer (import, print(file=f), builtin
open) drives a Python file object only if it subclasses io.IOBase and has
readinto, write and ioctl, so there OverlayFile does.  CPython's IOBase
would bring its own close, seek and readline, so there it is a plain class.
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

    def _read_bytes(self, n):
        if self.uino is None:
            # a lower file: its bytes [pos, pos+n), none past its end
            e = self.lentry
            data = b"" if self.pos >= e.size or n <= 0 else \
                self.ovl.lower.read(e, self.pos, min(n, e.size - self.pos))
        else:
            # pending writes are read through their transaction: a read is
            # no commit point
            data = self.ovl.read_upper(self.uino, self.pos, n)
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

    def readinto(self, buf):
        self._check("r")
        data = self._read_bytes(len(buf))
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
        wb.take_error(self.uino)
        if "a" in self.mode:
            self.pos = wb.size(self.uino, None, self.name)
        if self.pos + len(data) > meta.MAX_FILE_SIZE:
            raise compat.oserror(compat.EFBIG, self.name)
        wb.write(self.uino, self.pos, data, self.name)
        self.pos += len(data)
        return count

    # -- lifetime -------------------------------------------------------------

    def close(self):
        if self.closed:
            return
        try:
            m = self.mode
            if self.uino is not None and ("+" in m or "r" not in m):
                # open for writing: its pending writes commit, unless data
                # a handle wrote was lost already (a failed flush), which
                # is raised instead: what came after it is not committed
                # as if it were whole
                wb = self.ovl.writeback
                if self.uino in wb.errors:
                    wb.drop(self.uino)
                    wb.take_error(self.uino)
                wb.flush(self.uino)
        finally:
            self.closed = True

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
