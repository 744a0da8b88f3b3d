"""An open file's rarer operations: lines, positions, truncation, flush,
and reading a count of characters from a text file.

A board's boot, its imports and its whole-file reads and writes call none
of these (MicroPython's C stream layer drives a file through readinto,
write and ioctl), so OverlayFile imports this module at the first use
(OverlayFile.__getattr__ answers these names).  Each function takes the
file first and is reached as its method of the same name.  The
refusals of a bad mode (open) and of a write of the wrong type keep
their messages here too: a board never meets them.
"""

from ovl import compat
from ovl.compat import const
from ovl.overlay.meta import MAX_FILE_SIZE

_READ_CHUNK = const(256)


def _check(f, mode):
    """The error of a call file f refuses (OverlayFile._check, which
    names it by its own name): f is closed, or not open for mode ("r" or
    "w")."""
    if f.closed:
        raise ValueError("I/O operation on closed file")
    raise compat.oserror(compat.EBADF, "not open for reading" if mode == "r"
                         else "not open for writing")


def invalid_mode(mode):
    """Overlay.open's refusal of a mode that is not one of r, w, a and x,
    then any of b, t and +, each at most once (not both b and t)."""
    raise ValueError("invalid mode: %r" % mode)


def wrong_type(binary):
    """OverlayFile.write's refusal of a str to a binary file, or of bytes
    to a text file on CPython."""
    raise TypeError("a bytes-like object is required" if binary
                    else "write() argument must be str")


def read_failed(f, e):
    """The error to raise for OSError e from a read of file f: an EIO
    (damage, a conflict) names the file's path before what the layer
    below said (the store knows inodes, not paths)."""
    if compat.error_code(e) != compat.EIO or len(e.args) < 2:
        return e
    detail = str(e.args[1])
    if detail.startswith("EIO: "):
        detail = detail[5:]
    if detail.startswith(f.name + ":"):
        return e
    return compat.oserror(compat.EIO, "%s: %s" % (f.name, detail))


def read(f, n):
    """n characters of text file f (OverlayFile.read(n) in text mode):
    whole UTF-8 characters, however many bytes they take."""
    out = bytearray()
    chars = 0
    while chars < n:
        chunk = f._read_bytes(n - chars)
        if not chunk:
            break
        out += chunk
        # complete a multi-byte character cut by the chunk end
        while True:
            try:
                text = bytes(out).decode()
                break
            except UnicodeError:
                more = f._read_bytes(1)
                if not more:
                    raise
                out += more
        chars = len(text)
    return bytes(out).decode()


def readline(f, limit=-1):
    f._check("r")
    out = bytearray()
    while limit < 0 or len(out) < limit:
        want = _READ_CHUNK if limit < 0 else min(_READ_CHUNK,
                                                 limit - len(out))
        start = f.pos
        chunk = f._read_bytes(want)
        if not chunk:
            break
        nl = chunk.find(b"\n")
        if nl >= 0:
            out += chunk[:nl + 1]
            f.pos = start + nl + 1
            break
        out += chunk
    return bytes(out) if "b" in f.mode else bytes(out).decode()


def readlines(f):
    return list(f)


def seek(f, offset, whence=0):
    f._check()
    if whence == 0:
        pos = offset
    elif whence == 1:
        pos = f.pos + offset
    elif whence == 2:
        # the size with pending writes (OverlayFile.read(-1) reads to it)
        pos = offset + (f.lentry.size if f.uino is None else
                        f.ovl.writeback.size(f.uino, None, f.name))
    else:
        raise compat.oserror(compat.EINVAL, "whence %r" % whence)
    if pos < 0 or pos > MAX_FILE_SIZE:
        raise compat.oserror(compat.EINVAL, f.name)
    f.pos = pos
    return pos


def tell(f):
    f._check()
    return f.pos


def seekable(f):
    return True


def truncate(f, size=None):
    f._check("w")
    # ovl.overlay.truncate, imported at the first truncation
    return f.ovl.truncate_open(f, size)


def flush(f):
    """Commit what f's handles wrote (a commit point of the write-back)."""
    f._check()
    if f.uino is not None:
        f._take_loss(False)
        f.ovl.writeback.flush(f.uino, f)


def fileno(f):
    raise compat.oserror(compat.EOPNOTSUPP, "no file descriptor")
