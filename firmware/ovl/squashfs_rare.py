"""The SquashFS reader's (ovl.squashfs) paths a board whose image stores
its metadata raw never runs, imported at their first use: a compressed
metadata block on MicroPython (the 8 KiB buffer and its inflate; CPython's
are ovl.squashfs_cpython's), an extended directory's index, and the
inodes of symlinks, devices, FIFOs and sockets, with readlink.  Keeping
them out of ovl.squashfs keeps their code off a board's mount path.

The functions are named after the reader's method each serves (names a
board's copy of the reader interns anyway): the reader calls
squashfs_rare.NAME(self, ...).  None is reached from an error path: each
runs where the reader meets such a block, index or inode, before any
failure.
"""

import io
from struct import unpack_from

from ovl import compat
from ovl.compat import const
from ovl.paths import S_IFMT, S_IFLNK
from ovl.squashfs import _error, _decode_name

# ovl.squashfs's consts of the same names (private there, so copied:
# tests/test_squashfs_layout.py checks each agrees), and the layout's
# own (_SYMLINK_TYPE ...: ovl.squashfs_format's SYMLINK_TYPE ...)
_METADATA_SIZE = const(8192)
_METADATA_SIZE_MASK = const(0x7FFF)
# Listing bytes _window copies out of the one compressed metadata block
# MicroPython keeps (at least a run header, an entry and the longest
# name): a listing walk inflates its block again once per this many bytes
# when the caller reads inodes between entries.
_LISTING_WINDOW = const(1024)
_NAME_MAX = const(256)
_SYMLINK_TYPE = const(3)
_BLKDEV_TYPE = const(4)
_CHRDEV_TYPE = const(5)
_MAX_SYMLINK = const(65535)     # far above PATH_MAX; bounds the allocation
_E_SYMLINK_SIZE = const(30)
_E_META_EMPTY = const(23)
_E_INDEX_NAME = const(37)
_E_INDEX_OFFSET = const(38)
_E_INDEX_UNSORTED = const(47)
_E_INDEX_BLOCK = const(48)
_E_INDEX_RUN = const(49)


if compat.MICROPYTHON:
    # Inflating a compressed metadata block into the reader's buffer: here,
    # not in ovl.compat, so that a board whose metadata is raw keeps none
    # of it (CPython's inflate() and inflate_run() return new bytes and
    # have no counterpart here).
    import deflate

    # In place, inflate_into copies out the packed bytes not read yet once
    # the output comes this close to them: a few bytes, near the end
    _ROOM_MIN = const(64)

    class _Packed(io.IOBase):
        # A packed block as a stream read where it lies (io.BytesIO copies
        # anything but bytes); the decoder asks for one byte at a time
        def __init__(self, data, pos):
            self.data = data
            self.pos = pos

        def readinto(self, buf):
            pos = self.pos
            if pos >= len(self.data):
                return 0            # the decoder raises EOFError
            buf[0] = self.data[pos]
            self.pos = pos + 1
            return 1

    def inflate_into(buf, size, wbits=0):
        """Inflate the zlib stream in the last `size` bytes of the
        bytearray buf into buf from its start; the byte count, refusing
        len(buf) bytes or more.

        Allocates the decoder, its state (about 1.3 KB) and its window,
        2**wbits bytes or the stream header's window if smaller (wbits 0:
        the header's; a block-sized window keeps a decoder from allocating
        32 KiB when the block itself is smaller), and a copy of the packed
        bytes for the decoder to read (io.BytesIO).  Where the heap has no
        room for that copy (late in a heap an upper index has cut up:
        docs/SQUASHFS.md, "Bounded memory") the decoder reads the packed
        bytes where they lie instead, a Python call per byte (several
        times as slow on the unix port: 0.7 ms an 8 KiB metadata block,
        a walk of a 600-file lower about 6 times as long).
        Read in place, the output grows towards the packed bytes not read
        yet: the decoder is given only the room before them, and when that
        runs short, the few packed bytes left are copied out first."""
        stream = None
        while True:
            try:
                if stream is None:
                    try:
                        stream = io.BytesIO(memoryview(buf)[len(buf) - size:])
                    except MemoryError:
                        stream = _Packed(buf, len(buf) - size)
                d = deflate.DeflateIO(stream, deflate.ZLIB, wbits)
                out = memoryview(buf)
                n = 0
                while True:
                    room = len(buf)
                    if getattr(stream, "data", None) is buf:
                        room = stream.pos
                        if room - n < _ROOM_MIN:
                            stream.data = bytes(out[room:])
                            stream.pos = 0
                            room = len(buf)
                    if n >= room:
                        break
                    n += d.readinto(out[n:room])
                    if n < room:
                        break           # the stream's end
                break
            except MemoryError:
                # before the decoder wrote a byte (its state and window are
                # allocated first): read in place, dropping the copy
                if type(stream) is _Packed:
                    raise
                stream = _Packed(buf, len(buf) - size)
            except (OSError, EOFError) as e:    # EOFError: cut short
                raise ValueError("bad zlib stream: %s"
                                 % (str(e) or "truncated"))
        if n >= len(buf):
            raise ValueError("inflated data exceeds %d bytes" % (len(buf) - 1))
        return n


def _meta_block(self, pos, size):
    """MicroPython: (data, next_pos) of the compressed metadata block at
    pos (`size` bytes stored), inflated into the reader's cache.  The
    block goes into a kept buffer, allocated at the first compressed block
    met (images of stock mksquashfs; `ovl mkimage` stores a board's
    metadata raw); the packed block is read into the buffer's tail, where
    inflate_into reads it (in place if the heap has no room for a
    copy)."""
    cache = self._cache
    # a metadata buffer not in the cache (the attribute made here: a name
    # a board whose metadata is raw never interns)
    free = getattr(self, "_free", None)
    if free is None:
        free = self._free = []
    if len(cache) >= self.cache_blocks:
        old = cache.pop()       # before inflating: lowers the peak
        free.append(old[3])     # its buffer takes the new block
    if not free:
        free.append(bytearray(_METADATA_SIZE + 1))
    buf = free[-1]
    data = memoryview(buf)
    self._read(pos + 2, size, data[len(buf) - size:])
    try:
        n = inflate_into(buf, size, 13)
    except ValueError as e:
        from ovl import squashfs_errors
        raise squashfs_errors.inflate_error(e, _METADATA_SIZE,
                                            self.compression)
    if not n:
        raise _error(_E_META_EMPTY, pos)
    item = [pos, data[:n], pos + 2 + size, free.pop()]
    cache.insert(0, item)
    return item[1], item[2]


def _window(data, off, n):
    """SquashFS._window for a compressed block (MicroPython), `data` a view
    of the cache's buffer: a copy of at most _LISTING_WINDOW bytes from
    off of the `n` bytes of listing left, since the caller's next inode
    read takes the buffer over."""
    whole = min(off + n, len(data))
    end = min(whole, off + _LISTING_WINDOW)
    if end <= off:
        return b"", off, off, True
    return bytes(data[off:end]), off, end, end == whole


def _find(self, entry, target):
    """The listing of the extended directory `entry` (SquashFS._listing's
    items) from where `target` (bytes) can first be, by its index of the
    runs that begin a new metadata block: from the last one whose first
    name <= target, so a lookup reads about one metadata block of a large
    listing.

    A lookup trusts the index to say where to start, so what it relies
    on is checked (BadDirectoryError), rather than a damaged index making
    a listed name answer ENOENT: the names read rise, the offsets rise
    within the listing, the block the chosen entry names is the one the
    listing's chain of block headers reaches at its offset, and the run
    found there begins at or before the entry's name.  (A listing read
    from too early a run still finds every name after it.)"""
    start = self.directory_table_start
    chosen = None
    floor = 0           # the least offset the next index entry may have
    prev = None
    for index, start_block, first in index_entries(self, entry):
        if prev is not None and first <= prev:
            raise _error(_E_INDEX_UNSORTED, first)
        if first > target:
            break
        if index >= entry.listing_size or index < floor:
            raise _error(_E_INDEX_OFFSET, index)
        chosen = index, start_block, first
        floor = index + 1
        prev = first
    pos = start + entry.start_block
    if chosen is None:
        return self._listing(entry, pos, entry.offset, 0)
    index, start_block, first = chosen
    at = entry.offset + index
    # The listing's blocks hold _METADATA_SIZE bytes each but its last:
    # its byte `at` is in the block the chain reaches after
    # at // _METADATA_SIZE headers (each read alone, no block inflated).
    want = start + start_block
    for _ in range(at // _METADATA_SIZE):
        if pos >= want:
            break
        size = unpack_from("<H", self._read(pos, 2))[0] & _METADATA_SIZE_MASK
        if size == 0 or size > _METADATA_SIZE:
            break           # not a block: the chain cannot reach `want`
        pos += 2 + size
    if pos != want:
        raise _error(_E_INDEX_BLOCK, first, index, want)
    return _from_run(self._listing(entry, pos, at % _METADATA_SIZE, index),
                     first)


def index_entries(self, entry):
    """Yield the extended directory `entry`'s index entries as (index,
    start_block, name bytes), as they read (_find checks them)."""
    ipos, ioff = entry.pos, entry.off
    low, high = self.inode_table_start, self.directory_table_start
    for _ in range(entry.index_count):
        # a DIR_INDEX entry ("<III": index start_block size)
        raw, ipos, ioff = self._meta_bytes(12, ipos, ioff, low, high)
        index, start_block, nsize = unpack_from("<III", raw)
        nsize += 1
        if nsize > _NAME_MAX:
            raise _error(_E_INDEX_NAME, nsize)
        name, ipos, ioff = self._meta_bytes(nsize, ipos, ioff, low, high)
        yield index, start_block, name


def _from_run(listing, first):
    """The listing items from an index entry's run, its first name checked
    not to come after the index entry's name `first`."""
    item = next(listing, None)
    if item is None or item[0] > first:
        raise _error(_E_INDEX_RUN, first, item and item[0])
    yield item
    for item in listing:
        yield item


def _inode(loc, kind, body):
    """The fields of a symlink's, a device's, a FIFO's or a socket's inode
    (basic type `kind`, its body's values) on its Entry `loc`."""
    if kind == _SYMLINK_TYPE:
        nlink, size = body
        if size > _MAX_SYMLINK:
            raise _error(_E_SYMLINK_SIZE, loc.ino, size)
        loc.nlink = nlink
        loc.size = size
    elif kind == _BLKDEV_TYPE or kind == _CHRDEV_TYPE:
        nlink, word = body[0], body[1]
        # the word is Linux's new_encode_dev: minor bits 0-7, major
        # bits 8-19, minor's high bits from bit 20
        major = (word & 0xFFF00) >> 8
        minor = (word & 0xFF) | ((word >> 12) & 0xFFF00)
        # Linux (glibc) makedev encoding of a device number
        loc.rdev = (((major & 0xFFFFF000) << 32)
                    | ((major & 0xFFF) << 8)
                    | ((minor & 0xFFFFFF00) << 12) | (minor & 0xFF))
        loc.nlink = nlink
    else:
        loc.nlink = body[0]


def readlink(self, entry):
    """The target of the symlink `entry` (SquashFS.readlink)."""
    loc = entry.loc
    if entry.mode & S_IFMT != S_IFLNK:
        raise compat.oserror(compat.EINVAL, entry.name)
    raw, _, _ = self._meta_bytes(entry.size, loc.pos, loc.off,
                                 self.inode_table_start,
                                 self.directory_table_start)
    return _decode_name(raw)
