"""Runtime shim: the few things CPython and MicroPython spell differently.

Everything in firmware/ovl that would otherwise test `sys.implementation`
goes through here, so the rest of the package reads as plain Python.
"""

import io

# (sys, hexlify: no globals of their own, so that this module's globals
# fit a dict of 17 slots, not 23)
MICROPYTHON = __import__("sys").implementation.name == "micropython"

# `_NAME = const(x)`: MicroPython's compiler puts x (an int, or a string
# such as a struct layout) in the code and keeps no name (a module-level
# name costs a board a global and an interned string); on CPython
# const(x) is x.
try:
    from micropython import const
except ImportError:
    def const(value):
        return value

# Bound once, here: on MicroPython an `import hashlib` inside a function
# searches sys.path for an override on every call, and with the overlay
# mounted at "/" that search re-entered the overlay in the middle of a
# write (a file's first write, hashing its base, came out empty).
from binascii import crc32
from hashlib import sha256

# Linux errno numbers, as " NAME number " in one string: compat.ENOENT is
# found in it by __getattr__ below (21 module globals cost a board about
# 0.8 KB of heap; the mount path names a few of them, at an error).
# MicroPython's errno module only carries a subset, and errno values must
# match Linux on every runtime (the overlay reports them to users and the
# differential tests compare them with the kernel).  CPython also has
# them as globals (ovl.compat_cpython): host tools import them by name.
_ERRNOS = const(" EPERM 1 ENOENT 2 EIO 5 ENXIO 6 E2BIG 7 EBADF 9 ENOMEM 12 "
                "EACCES 13 EBUSY 16 EEXIST 17 EXDEV 18 ENODEV 19 ENOTDIR 20 "
                "EISDIR 21 EINVAL 22 EFBIG 27 ENOSPC 28 ESPIPE 29 EROFS 30 "
                "EMLINK 31 ENAMETOOLONG 36 ENOSYS 38 ENOTEMPTY 39 ELOOP 40 "
                "ENODATA 61 EOVERFLOW 75 EOPNOTSUPP 95 ESTALE 116 ")


def __getattr__(name):
    # (a search, not a split: no list of 56 strings per lookup)
    at = _ERRNOS.find(" " + name + " ")
    # (not a number: " 2 "; not two words: " ENOENT 2 ")
    if at < 0 or name[:1] != "E" or " " in name:
        raise AttributeError(name)
    at += len(name) + 2
    return int(_ERRNOS[at:_ERRNOS.find(" ", at)])


def errno_name(code):
    """"ENOENT" for 2: the name of the number in the table above; "E<n>"
    for a number not listed."""
    at = _ERRNOS.find(" " + str(code) + " ") if type(code) is int else -1
    if at < 0:
        return "E" + str(code)      # (a format string would be a name more)
    return _ERRNOS[_ERRNOS.rfind(" ", 0, at) + 1:at]


def oserror(code, message=None):
    """An OSError carrying a Linux errno and its name (and the path or
    detail, if any: the argument's name is one the runtime interns
    already): str() gives "[Errno 2] ENOENT: /p" on CPython, and on
    MicroPython too, which prints the name of an errno it knows itself
    (then the name is left out of args[1])."""
    if MICROPYTHON and str(OSError(code))[0] == "[":
        return OSError(code) if message is None else OSError(code, message)
    if message is None:
        return OSError(code, errno_name(code))
    return OSError(code, "%s: %s" % (errno_name(code), message))


def error_code(e):
    """The errno of an OSError e on either runtime (MicroPython has no
    .errno)."""
    code = getattr(e, "errno", None)
    if code is None and e.args:
        code = e.args[0]
    return code


def call_released(module, attr, args, opt=None):
    """Function attr of the module named `module` (dotted: "ovl.store.mount"),
    called with args (and the keyword arguments in opt): for code a board
    runs at moments (a mount, an open, a format), imported for the call
    and, on MicroPython, dropped after it from sys.modules and from its
    package, so a gc.collect() frees its code once no function of it is
    referenced.  A module loaded before the call (held: by a test, or by
    an outer call of the same module) stays.  CPython keeps it: its heap is
    not the limit, and a module imported again is compiled again where
    bytecode is not cached (PYTHONDONTWRITEBYTECODE: a crash campaign's
    thousands of mounts).  Never on an error path: the import allocates
    (docs/STORE.md, "Code layout").  (Parameter names a board has interned
    already: each new one is a name in its qstr pools.  One function: a
    second for the release kept 96 B more of a board's heap.)"""
    import sys
    held = module in sys.modules
    try:
        attr = getattr(__import__(module, None, None, (attr,)), attr)
        return attr(*args) if opt is None else attr(*args, **opt)
    finally:
        if not held and MICROPYTHON:
            sys.modules.pop(module, None)
            at = module.rfind(".")
            sys.modules[module[:at]].__dict__.pop(module[at + 1:], None)


def set_gc_threshold(threshold):
    """MicroPython: collect garbage after every `threshold` bytes allocated (a
    board's gc_threshold) instead of only when the heap is full, so that
    what stays lands near the bottom of the heap rather than wherever a
    sweep through the whole heap had got to (docs/FIT.md,
    "Fragmentation").  None or 0 leaves the runtime's default; CPython's
    collector neither moves nor fragments this way: nothing to do."""
    if threshold and MICROPYTHON:
        import gc
        gc.threshold(threshold)


# Decompression.  SquashFS "gzip" blocks are zlib streams (RFC 1950).
# CPython's side (zlib) is ovl.compat_cpython, so that a board loads none
# of its code.

if MICROPYTHON:
    import deflate

    # Packed bytes _FlashStream reads at a time: a 4 KiB block that packs
    # to 1.5 KB takes 12 reads
    _CHUNK = const(128)

    class _FlashStream(io.IOBase):
        # A packed block where it lies in the source, for a decoder that
        # asks for one byte at a time (the fallback where the heap has no
        # room for a copy of the block): fetched _CHUNK bytes a read(pos,
        # n, buf) into a small buffer of its own, so a block costs a
        # source read per _CHUNK bytes and a Python call per byte
        def __init__(self, read, pos, end):
            self.source = read
            self.pos = pos          # where the next chunk starts
            self.end = end
            self.buf = bytearray(_CHUNK)
            self.i = self.n = 0

        def readinto(self, buf):
            i = self.i
            if i >= self.n:
                k = self.end - self.pos
                if k <= 0:
                    return 0        # the decoder raises EOFError
                if k >= _CHUNK:
                    k = _CHUNK
                    self.source(self.pos, k, self.buf)
                else:               # the last piece: a view, not a buffer
                    self.source(self.pos, k, memoryview(self.buf)[:k])
                self.pos += k
                self.n = k
                i = 0
            buf[0] = self.buf[i]
            self.i = i + 1
            return 1

    def inflate_stream(read, pos, size, wbits):
        """A decoder (deflate.DeflateIO: read(n) gives the next n bytes, or
        fewer at the stream's end) of the zlib stream of `size` bytes at
        `pos` of a source whose read(pos, n) returns them (and read(pos,
        n, buf) fills buf), with a window of 2**wbits bytes or the stream
        header's if smaller, read with stream_read.  It reads a copy of
        the packed bytes, or where the heap has no room for one, reads
        them from the source as it goes (_FlashStream: a Python call a
        byte, about 3 times as slow on the unix port)."""
        try:
            # a copy of the packed bytes, where the heap has room for it:
            # the decoder then reads them without a Python call a byte
            packed = io.BytesIO(read(pos, size))
        except MemoryError:
            packed = _FlashStream(read, pos, pos + size)
        return deflate.DeflateIO(packed, deflate.ZLIB, wbits)

    def stream_read(stream, offset, n):
        """The n bytes of decoder `stream` (inflate_stream) `offset` bytes
        on from where it stands, fewer at the stream's end; dropping the
        bytes before them takes at most 256 B of heap at a time.
        ValueError for a damaged stream.  (Parameters and locals here are
        names MicroPython interns anyway: a board keeps none for them.)"""
        try:
            if offset > 0:
                buf = bytearray(256 if offset > 256 else offset)
                while offset > 0:
                    k = stream.readinto(buf if offset >= len(buf)
                                        else memoryview(buf)[:offset])
                    if not k:
                        return b""
                    offset -= k
            return stream.read(n)
        except (OSError, EOFError) as e:    # EOFError: cut short
            raise ValueError("bad zlib stream: %s"
                             % (str(e) or "truncated"))

else:
    # inflate, inflate_run, inflate_xz, inflate_lzma: by a star, so that a
    # board's copy of this module interns none of their names
    from ovl.compat_cpython import *


def hexdigest(h):
    """hexdigest() for hashlib objects on both runtimes (MicroPython's have
    only digest(); its bytes.hex() comes at the feature level of binascii
    and hashlib)."""
    return h.digest().hex()
