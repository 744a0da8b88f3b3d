"""CPython's side of ovl.compat's decompression: zlib, and xz and lzma
(SquashFS images a board cannot read, but tools can).

ovl.compat imports these on CPython only, so a board loads none of this
code (MicroPython has `deflate` instead: its side is in ovl.compat).
The errors are compat's: ValueError naming the cause.  It also gives
compat its errno numbers as globals (ENOENT ...: a board finds them in
compat's table at each use).
"""

import zlib

# what ovl.compat takes (by a star import)
__all__ = ("inflate", "inflate_run", "inflate_xz", "inflate_lzma")

# Deflate expands at most 1032:1, so a stream of up to this many bytes
# inflates to at most ~4 MiB however hostile: small enough to inflate
# in one call and check the size afterwards.  That call finishes the
# stream at once, so zlib skips copying the output into a 32 KiB
# window; 4 KiB blocks pay that copy on every block otherwise.
_ONE_SHOT_INPUT = 4096


def inflate(data, limit, wbits=0, _decompress=zlib.decompress,
            _error=zlib.error):
    """Inflate one zlib stream, refusing output beyond `limit` bytes."""
    if len(data) <= _ONE_SHOT_INPUT:
        try:
            out = _decompress(data, 15, limit + 1)
        except _error as e:
            raise ValueError("bad zlib stream: %s" % e)
        if len(out) > limit:
            raise ValueError("inflated data exceeds %d bytes" % limit)
        return out
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, limit + 1)
    except zlib.error as e:
        raise ValueError("bad zlib stream: %s" % e)
    if len(out) > limit:
        raise ValueError("inflated data exceeds %d bytes" % limit)
    if not d.eof:
        raise ValueError("truncated zlib stream")
    return out


def inflate_run(buf, sizes, limit, wbits=0):
    """inflate() each zlib stream lying back to back in buf (sizes[i]
    bytes each); the list of their outputs.

    4 KiB blocks come by the thousand: small streams are inflated here
    directly, without a Python call each.
    """
    view = memoryview(buf)
    outs = []
    append = outs.append
    at = 0
    if sizes and max(sizes) > _ONE_SHOT_INPUT:
        for n in sizes:
            append(inflate(view[at:at + n], limit))
            at += n
        return outs
    bufsize = limit + 1
    decompress = zlib.decompress
    try:
        for n in sizes:
            end = at + n
            out = decompress(view[at:end], 15, bufsize)
            if len(out) > limit:
                raise ValueError("inflated data exceeds %d bytes" % limit)
            append(out)
            at = end
    except zlib.error as e:
        raise ValueError("bad zlib stream: %s" % e)
    return outs


def _unxz(data, limit, fmt):
    import lzma         # here: a CPython built without it still reads gzip
    d = lzma.LZMADecompressor(getattr(lzma, fmt))
    try:
        out = d.decompress(data, limit + 1)
    except lzma.LZMAError as e:
        raise ValueError(str(e))
    if len(out) > limit:
        raise ValueError("inflated data exceeds %d bytes" % limit)
    if not d.eof:
        raise ValueError("truncated stream")
    return out


def inflate_xz(data, limit, wbits=0):
    """One .xz stream (a SquashFS "xz" block), as inflate() (wbits unused:
    the stream names its dictionary)."""
    return _unxz(data, limit, "FORMAT_XZ")


def inflate_lzma(data, limit, wbits=0):
    """One "lzma-alone" stream (a legacy SquashFS "lzma" block: 13 bytes of
    properties and size, then the data), as inflate()."""
    return _unxz(data, limit, "FORMAT_ALONE")


def _errno_globals():
    # {name: number} of ovl.compat's table (imported here, at the end: compat
    # star-imports this module once its table is defined)
    from ovl.compat import _ERRNOS
    words = _ERRNOS.split()
    return dict((words[i], int(words[i + 1]))
                for i in range(0, len(words), 2))


_ERRNO_GLOBALS = _errno_globals()
globals().update(_ERRNO_GLOBALS)
__all__ += tuple(_ERRNO_GLOBALS)
