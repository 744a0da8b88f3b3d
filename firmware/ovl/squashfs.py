"""SquashFS 4.0 reader with bounded memory: the read-only lower layer.

SquashFS(source) opens an image held by anything with `read(addr, n)` and
`size` (ovl.flash.Region, ovl.flash_host.BytesSource).  Nothing is loaded
whole: compressed metadata is read one 8 KiB block at a time through a
small LRU cache (one block on MicroPython), metadata stored raw on
MicroPython a few hundred bytes at a time where it lies, lookup tables
(ids, fragments) are consulted entry by entry, and file data is
decompressed a block at a time (CPython: the last data block and recent
fragment blocks are kept, and back-to-back compressed blocks are fetched
with one source read of up to 256 KiB, by ovl.squashfs_cpython, which a
board never imports; MicroPython inflates a block as a stream, a read
taking the bytes it asks for and the next read continuing it).  The
byte layout is declared in ovl.squashfs_format, of which the reader keeps
private copies (below); docs/SQUASHFS.md describes both.

Damaged images raise a subclass of CorruptImageError (a ValueError) naming
the cause; a compressor this runtime lacks raises UnsupportedCompressorError.
Filesystem-level misuse (missing path, reading a directory) raises OSError
with a Linux errno, as the Lower contract in docs/DEVELOPING.md says.
"""

from struct import unpack_from

from ovl import compat
# (compat.MICROPYTHON, not a global of this module's: its 12 globals, with
# __name__ and __file__, fill a dict of 12 slots; one more takes 17)
from ovl.compat import const
from ovl import lower
# (paths.S_IFMT ...: the names imported as globals of this module would be
# four globals more on a board)
from ovl import paths

# The layout, mirrored from ovl.squashfs_format (the one declaration, which
# the image writer and docs/SQUASHFS.md follow) as private consts and
# inline struct formats: a board then never imports that module, whose 40
# public names, layout tuples and field-name strings cost about 5 KB of
# heap from ROMFS.  `_NAME` here is squashfs_format's `NAME`;
# tests/test_squashfs_layout.py checks every one and every format against it.
_METADATA_SIZE = const(8192)
_METADATA_UNCOMPRESSED = const(0x8000)
_METADATA_SIZE_MASK = const(0x7FFF)
_DATA_UNCOMPRESSED = const(0x1000000)
_DATA_SIZE_MASK = const(0xFFFFFF)
_FRAGMENT_NONE = const(0xFFFFFFFF)
_DIR_RUN_MAX = const(256)
_DIR_SIZE_EXTRA = const(3)
_NAME_MAX = const(256)
_DIR_TYPE = const(1)
_REG_TYPE = const(2)
_PERMISSION_MASK = const(0o7777)
_DIR_HEADER_SIZE = const(12)      # "<III": count start_block inode_number
_DIR_ENTRY_SIZE = const(8)        # "<HhHH": offset inode_number type size
# INODE_BODY's formats, indexed by inode type (0 is no type)
# (a const: no global name)
_INODE_BODIES = const((None, "<IIHHI", "<IIII", "<II", "<II", "<II", "<I",
                       "<I", "<IIIIHHI", "<QQQIIII", "<II", "<III", "<III",
                       "<II", "<II"))
# TYPE_TO_S_IF: the file-type bits of each basic inode type (a global:
# the bits are ovl.paths' names, spelled nowhere else)
_TYPE_TO_S_IF = (0, paths.S_IFDIR, paths.S_IFREG, paths.S_IFLNK,
                 paths.S_IFBLK, paths.S_IFCHR, paths.S_IFIFO, paths.S_IFSOCK)


def _error(kind, *args):
    """The reader's exception for failure `kind` (an `_E_` const below: its
    index in ovl.squashfs_errors.FAILURES, which holds the class and the
    message, formatted with args).  That module is imported at the first
    failure (or when a caller names a class, through __getattr__ below), so
    a board whose image is sound keeps none of the 13 classes (about 240 B
    of heap each), their names or the 50 messages (about 40 B each from
    ROMFS, 90 B from .mpy)."""
    from ovl import squashfs_errors
    cls, message = squashfs_errors.FAILURES[kind]
    return cls(message % args)


# The reader's failures, named for what is wrong (squashfs_errors.FAILURES
# has each one's class and message, in this order; tests/
# test_squashfs_layout.py checks the two agree)
_E_INODE_TYPE = const(0)
_E_NAME_NOT_UTF8 = const(1)
_E_INFLATES_TOO_FAR = const(2)
_E_BAD_STREAM = const(3)
# (4-18: the open's refusals, ovl.squashfs_open's consts)
_E_READ_PAST_END = const(19)
_E_SHORT_READ = const(20)
_E_META_OUTSIDE = const(21)
_E_META_SIZE = const(22)
_E_META_EMPTY = const(23)
_E_META_OFFSET = const(24)
_E_ID_INDEX = const(25)
_E_FRAGMENT_INDEX = const(26)
_E_INODE_REF = const(27)
_E_FRAGMENT_OFFSET = const(28)
_E_LISTING_OFFSET = const(29)
_E_SYMLINK_SIZE = const(30)
_E_RUN_HEADER_CUT = const(31)
_E_RUN_LENGTH = const(32)
_E_ENTRY_CUT = const(33)
_E_NAME_OVERRUNS = const(34)
_E_ILLEGAL_NAME = const(35)
_E_UNSORTED = const(36)
_E_INDEX_NAME = const(37)
_E_INDEX_OFFSET = const(38)
_E_ENTRY_INODE = const(39)
_E_ENTRY_TYPE = const(40)
_E_CONTAINS_ITSELF = const(41)
_E_RESERVED_BITS = const(42)
_E_BLOCK_TOO_BIG = const(43)
_E_BLOCK_LENGTH = const(44)
_E_LIST_SHORT = const(45)
_E_TAIL_PAST_FRAGMENT = const(46)
_E_INDEX_UNSORTED = const(47)
_E_INDEX_BLOCK = const(48)
_E_INDEX_RUN = const(49)


def __getattr__(name):
    # squashfs.CorruptImageError and the others, as callers name them; any
    # other missing name (getattr(module, "__path__", None) ...) imports
    # nothing
    if name.endswith("Error"):
        from ovl import squashfs_errors
        return getattr(squashfs_errors, name)
    raise AttributeError(name)


# inode type -> struct.calcsize of its body's format (a constant: no loop
# variable or table built at import; tests/test_squashfs_layout.py checks
# it against _INODE_BODIES)
_BODY_SIZES = const(
    b"\x00\x10\x10\x08\x08\x08\x04\x04\x18\x28\x08\x0c\x0c\x08\x08")
_LONGEST_INODE = const(56)      # the header and the longest body (40 B)
_MEMO_LIMIT = const(64)         # entries in each small lookup memo
# Block-list words MicroPython keeps with a file's entry (a tuple of ints,
# read from the first block a read wants on), so a read does not go back
# to the list's metadata block for each data block.
_WORDS_KEPT = const(32)
# Bytes of a raw metadata block _meta_at reads at a time into its one kept
# window (MicroPython): an inode (at most _LONGEST_INODE) and the block
# list or inodes after it (docs/SQUASHFS.md, "Raw metadata").
_RAW_WINDOW = const(256)
# The listing window read from flash out of a raw block: half the copy a
# compressed block's listing takes (a listing window was the board job's
# last allocation to fail, just below its edge), at least a run header, an
# entry and the longest name
_RAW_LISTING_WINDOW = const(512)
# What only the reader needs of the format (private consts: a board keeps
# no name for them).  An extended inode's type is its basic type + 7.
_EXTENDED_OFFSET = const(7)
# A data or fragment block's size word with a bit at or above 25 set is
# invalid (bit 24: stored raw; bits 0-23: the stored size).
_DATA_RESERVED_SHIFT = const(25)
# MicroPython (CPython inflates into new bytes):
# - reads a metadata block stored raw where it lies, through _win (the
#   MCU boards' images: docs/SQUASHFS.md, "Bounded memory");
# - inflates a compressed metadata block into the cache's buffer
#   (ovl.squashfs_rare, imported at the first such block), allocated at
#   the first one met, so a block costs a copy of its packed
#   bytes (none where the heap has no room for one), the decoder's state
#   (about 1.3 KB) and window (2**13 bytes, or the stream header's window
#   if smaller: 512 B in images of `ovl mkimage`);
# - inflates a data or fragment block as a stream (_block_bytes), a read
#   costing the decoder (a window of the block size, or the header's: a
#   quarter of the block in images of `ovl mkimage`), a copy of the packed
#   block where the heap has room, and the bytes it asks for.
# (The tests of MICROPYTHON below are these paths'.)
# identity() reads at most this many bytes besides the superblock (read at
# open), so superblock + identity reads stay within 4 KiB.
_IDENTITY_READ_LIMIT = const(4000)  # 4096 - _SUPERBLOCK_SIZE
_IDENTITY_TAIL_MIN = const(1024)  # image-end bytes hashed after a long walk


def _decode_name(raw):
    if compat.MICROPYTHON:
        try:
            return str(raw, "utf-8")
        except UnicodeError:
            raise _error(_E_NAME_NOT_UTF8, raw)
    return raw.decode("utf-8", "surrogateescape")


class SquashFS:
    """A SquashFS 4.0 image as a read-only Lower.

    cache_blocks: how many decompressed 8 KiB metadata blocks to keep
    (MicroPython: 1, 8 KiB of heap from the first compressed metadata
    block on, none for an image whose metadata is stored raw; CPython 16).
    On MicroPython a listing is read from a copy of its bytes (_window),
    so a directory walk, which reads each child's inode from the other
    table, does not inflate a block per entry with one.
    max_block_size: refuse (BlockSizeLimitError) an image whose data blocks
    are larger, at open rather than with a MemoryError at the first read
    (a board's lower_block_size).
    """

    def __init__(self, source, cache_blocks=None, max_block_size=None):
        if cache_blocks is None:
            cache_blocks = 1 if compat.MICROPYTHON else 16
        self.source = source
        self.cache_blocks = max(1, cache_blocks)
        self._cache = []          # [pos, data, next_pos(, kept buffer)],
        #                           most recent first
        self._ids = {}            # id index -> uid/gid (bounded memo)
        self._pointers = {}       # lookup-table index slot -> block position
        # the last fragment looked up: [index, position, size word] (a
        # list, updated in place: a tuple of constants here would be an
        # object kept with the code)
        self._last_fragment = [-1, 0, 0]
        self._identity = None
        self._win = None          # MicroPython: the window on a raw
        #                           metadata block (_meta_at)
        self._stream = None       # MicroPython: the data or fragment block
        #                           being inflated (_block_bytes)
        # The superblock's checks, the tables and the root: the open's
        # module, imported for it and released after.  (After the state
        # above: the reader's objects made first, the code's release
        # leaves one hole, not holes between them; a board's heap edge
        # fell a KiB or two against the state made in the open.)
        compat.call_released(__name__ + "_open", "open",
                             (self, max_block_size))

    # -- raw reads ----------------------------------------------------------

    def _read(self, pos, n, buf=None):
        """n bytes at pos; with `buf` (a writable buffer of n bytes), read
        into it (the source's readinto, if it has one)."""
        if pos < 0 or n < 0 or pos + n > self.bytes_used:
            raise _error(_E_READ_PAST_END, n, pos, self.bytes_used)
        if buf is not None:
            readinto = getattr(self.source, "readinto", None)
            if readinto is not None:
                readinto(pos, buf)
                return buf
            buf[:] = self._read(pos, n)
            return buf
        data = self.source.read(pos, n)
        if len(data) != n:
            raise _error(_E_SHORT_READ, pos)
        return data

    # -- metadata -----------------------------------------------------------

    def _meta_block(self, pos, start, stop):
        """(data, next_pos) of the metadata block whose header is at pos,
        from the cache or read (and inflated) into it; on MicroPython
        (None, stored size) for a block stored raw, which is not loaded
        (_meta_at reads it where it lies)."""
        # (checked before the cache: a block kept for one table is not
        # read for another)
        if pos < start or pos + 2 > stop:
            raise _error(_E_META_OUTSIDE, pos, start, stop)
        cache = self._cache
        if cache and cache[0][0] == pos:
            item = cache[0]
            return item[1], item[2]
        for i in range(1, len(cache)):
            item = cache[i]
            if item[0] == pos:
                del cache[i]
                cache.insert(0, item)
                return item[1], item[2]
        word = unpack_from("<H", self._read(pos, 2))[0]
        size = word & _METADATA_SIZE_MASK
        if size == 0 or size > _METADATA_SIZE or pos + 2 + size > stop:
            raise _error(_E_META_SIZE, word, pos)
        if compat.MICROPYTHON:
            if word & _METADATA_UNCOMPRESSED:
                return None, size
            # a compressed block (stock mksquashfs images): its buffer and
            # inflate are squashfs_rare's
            from ovl import squashfs_rare
            return squashfs_rare._meta_block(self, pos, size)
        return squashfs_cpython._meta_block(self, pos, word, size)

    def _meta_at(self, pos, off, n, start, stop):
        """(data, base, end, size, next_pos): bytes of the metadata block at
        pos, data[k - base] being its byte k for base <= k < end, covering
        [off, off + n) as far as the block (of `size` bytes) and a window
        reach (at least a byte past off if off < size); next_pos is the
        next block's header.

        A compressed block (any block on CPython) comes whole from the
        cache (base 0, end size).  MicroPython reads a block stored raw
        where it lies: _RAW_WINDOW bytes from off into one small kept
        buffer, which the next call may refill (use the bytes before
        reading metadata again)."""
        if pos < start or pos + 2 > stop:   # as _meta_block, before a hit
            raise _error(_E_META_OUTSIDE, pos, start, stop)
        cache = self._cache
        if cache and cache[0][0] == pos:
            item = cache[0]             # the usual case, without a call
            data = item[1]
            return data, 0, len(data), len(data), item[2]
        w = self._win
        if w is None or w[0] != pos:
            data, nxt = self._meta_block(pos, start, stop)
            if data is not None:
                return data, 0, len(data), len(data), nxt
            if w is None:
                w = self._win = [0, 0, 0, 0, bytearray(_RAW_WINDOW)]
            w[0] = pos
            w[1] = w[2] = off
            w[3] = size = nxt       # (_meta_block's stored size, here)
        else:
            size = w[3]
            want = off + n
            if want > size:
                want = size
            if off >= size or (w[1] <= off and want <= w[2]):
                return w[4], w[1], w[2], size, pos + 2 + size
        if off < size:
            k = size - off
            if k > _RAW_WINDOW:
                k = _RAW_WINDOW
            self._read(pos + 2 + off, k, memoryview(w[4])[:k])
            w[1] = off
            w[2] = off + k
        return w[4], w[1], w[2], size, pos + 2 + size

    def _meta_bytes(self, n, pos, off, start, stop):
        """n raw bytes at (pos, off) of a metadata stream, possibly spanning
        blocks; returns (bytes, pos, off).  (Callers unpack a record out of
        the bytes _meta_at or _window hold, and come here for one that
        spans blocks or lies past them.)"""
        pieces = []
        while n > 0:
            data, base, end, size, nxt = self._meta_at(pos, off, n, start,
                                                       stop)
            if off >= size:
                if size != _METADATA_SIZE:
                    raise _error(_E_META_OFFSET, off, size, pos)
                off -= size
                pos = nxt
                continue
            take = min(n, end - off)
            pieces.append(bytes(data[off - base:off - base + take]))
            off += take
            n -= take
        return b"".join(pieces), pos, off

    def _table_entry(self, start, i, size):
        """Entry i of a lookup table (id, fragment) as raw bytes."""
        per_block = _METADATA_SIZE // size
        at = start + 8 * (i // per_block)
        pointer = self._pointers.get(at)
        if pointer is None:
            pointer = unpack_from("<Q", self._read(at, 8))[0]
            if len(self._pointers) >= _MEMO_LIMIT:
                self._pointers.clear()
            self._pointers[at] = pointer
        raw, _, _ = self._meta_bytes(size, pointer,
                                     (i % per_block) * size,
                                     self.directory_table_start, start)
        return raw

    def _id(self, index):
        value = self._ids.get(index)
        if value is None:
            start, count = self._tables[0], self._tables[1]
            if index >= count:
                raise _error(_E_ID_INDEX, index, count)
            raw = self._table_entry(start, index, 4)
            value = unpack_from("<I", raw)[0]      # ID_ENTRY
            if len(self._ids) >= _MEMO_LIMIT:
                self._ids.clear()
            self._ids[index] = value
        return value

    def _fragment(self, index):
        """(position, size word) of fragment block `index`."""
        last = self._last_fragment
        if index == last[0]:
            return last[1], last[2]
        start, count = self._tables[2], self._tables[3]
        if index >= count:
            raise _error(_E_FRAGMENT_INDEX, index, count)
        raw = self._table_entry(start, index, 16)
        start, word, _ = unpack_from("<QII", raw)     # FRAGMENT_ENTRY
        last[0], last[1], last[2] = index, start, word
        return start, word

    # -- inodes -------------------------------------------------------------

    def _inode(self, ref, name):
        """Entry for the inode at reference `ref`."""
        block, off = ref >> 16, ref & 0xFFFF
        low = self.inode_table_start
        high = self.directory_table_start
        pos = low + block
        if pos >= high or off >= _METADATA_SIZE:
            raise _error(_E_INODE_REF, ref)
        data, base, end, _, _ = self._meta_at(pos, off, _LONGEST_INODE, low,
                                              high)
        header = "<HHHHII"              # INODE_HEADER
        # Header and body inside these bytes (the common case): no
        # stitching, one block lookup.
        inside = base <= off and off + _LONGEST_INODE <= end
        if inside:
            head = unpack_from(header, data, off - base)
        else:
            raw, pos, off = self._meta_bytes(16, pos, off, low, high)
            head = unpack_from(header, raw)
        itype, perm, uid_index, gid_index, mtime, ino = head
        if not 0 < itype < len(_INODE_BODIES):
            raise _error(_E_INODE_TYPE, ref, itype)
        if inside:
            body = unpack_from(_INODE_BODIES[itype], data, off - base + 16)
            off += 16 + _BODY_SIZES[itype]
        else:
            raw, pos, off = self._meta_bytes(_BODY_SIZES[itype], pos, off,
                                             low, high)
            body = unpack_from(_INODE_BODIES[itype], raw)
        kind = itype - _EXTENDED_OFFSET if itype > _EXTENDED_OFFSET \
            else itype
        mode = _TYPE_TO_S_IF[kind] | (perm & _PERMISSION_MASK)
        ids = self._ids             # the memo first: a call less per inode
        uid = ids.get(uid_index)
        if uid is None:
            uid = self._id(uid_index)
        gid = ids.get(gid_index)
        if gid is None:
            gid = self._id(gid_index)
        # The entry is also the reader's location (entry.loc is the entry):
        # ref, its inode reference, and (pos, off), the metadata position
        # just after it (a file's block list, an extended directory's
        # index, a symlink's target); the branches below add a file's and
        # a directory's fields.  No second object per entry, and no class
        # for it (about 230 B of a board's heap).
        #
        # A file: start (its first data block), fragment, frag_offset,
        # nblocks, and once read from, a cursor for sequential reads
        # (_block_words: a block's index, its data position and its
        # block-list position, one tuple, so consecutive reads on CPython
        # continue the block-list walk instead of summing every earlier
        # block size again); on MicroPython, words: (index of a block, its
        # data position, up to _WORDS_KEPT words of the block list from
        # it), read() taking the block list from there.
        # A directory: start_block and offset (its listing), listing_size,
        # index_count (extended directories), parent.
        loc = lower.Entry(ino, mode, 1, uid, gid, 0, mtime, 0, name)
        loc.loc = loc
        loc.ref = ref
        loc.pos = pos
        loc.off = off
        if kind == _REG_TYPE:
            if itype == _REG_TYPE:
                start, fragment, frag_offset, size = body
                nlink = 1
            else:
                start, size, _sparse, nlink, fragment, frag_offset, _x = body
            bs = self.block_size
            if fragment == _FRAGMENT_NONE:
                nblocks = (size + bs - 1) >> self.block_log
            else:
                nblocks = size >> self.block_log
                # the tail within the fragment block (MicroPython's stream
                # would return bytes inflated past the block size)
                if frag_offset >= bs or frag_offset + (size & (bs - 1)) > bs:
                    raise _error(_E_FRAGMENT_OFFSET, ino, frag_offset)
            loc.nlink = nlink
            loc.size = size
            loc.start = start
            loc.fragment = fragment
            loc.frag_offset = frag_offset
            loc.nblocks = nblocks
        elif kind == _DIR_TYPE:
            if itype == _DIR_TYPE:
                start_block, nlink, size, doff, parent = body
                icount = 0
            else:
                nlink, size, start_block, parent, icount, doff, _x = body
            if doff >= _METADATA_SIZE:
                raise _error(_E_LISTING_OFFSET, ino, doff)
            listing = size - _DIR_SIZE_EXTRA if size >= 4 else 0
            loc.nlink = nlink
            loc.size = size
            loc.start_block = start_block
            loc.offset = doff
            loc.listing_size = listing
            loc.index_count = icount
            loc.parent = parent
        else:
            # a symlink, a device, a FIFO or a socket
            from ovl import squashfs_rare
            squashfs_rare._inode(loc, kind, body)
        return loc

    # -- directories --------------------------------------------------------

    def _window(self, pos, off, n, start, stop):
        """(bytes, base, end, last) for reading a listing from (pos, off)
        with `n` bytes of it left: bytes holding block pos's offsets
        [base, end), and whether the block holds no more of the listing
        after end.  CPython: the whole block (squashfs_cpython._window,
        in its place).  MicroPython: at most _RAW_LISTING_WINDOW bytes
        read from flash (a block stored raw), or a copy out of the one
        kept buffer (a compressed block: squashfs_rare._window)."""
        # A block stored raw: its size from the window on it or its header,
        # the listing's bytes from flash (the window stays the inodes').
        w = self._win
        if w is not None and w[0] == pos:
            if pos < start or pos + 2 > stop:   # as _meta_block would
                raise _error(_E_META_OUTSIDE, pos, start, stop)
            size = w[3]
        else:
            data, size = self._meta_block(pos, start, stop)
            if data is not None:
                # a compressed block: a copy out of the cache's buffer
                from ovl import squashfs_rare
                return squashfs_rare._window(data, off, n)
        end = off + n
        last = True
        if end > size:
            end = size
        if end - off > _RAW_LISTING_WINDOW:
            end = off + _RAW_LISTING_WINDOW
            last = False
        if end <= off:
            return b"", off, off, True
        return self._read(pos + 2 + off, end - off), off, end, last

    def _listing(self, entry, pos, off, used):
        """Yield (name_bytes, child ref, ino, type) from a listing, starting
        at (pos, off) with `used` bytes of it already behind; each name
        is checked legal and after the one before (from the start point).

        The listing is parsed from a window of its bytes (_window), taken
        again only when an entry may run past it, so a caller reading each
        child's inode between entries (readdir) inflates the listing's block
        once per window, not once per entry; entries crossing a block
        boundary are stitched together from the two blocks."""
        prev = None
        low = self.directory_table_start
        high = self._dir_end
        total = entry.listing_size
        run_header = "<III"             # DIR_HEADER
        entry_header = "<HhHH"          # DIR_ENTRY
        win_pos = -1        # the block the window is of ...
        base = end = 0      # ... its offsets [base, end) ...
        last = True         # ... and whether it reaches the listing's end
        while used < total:
            if used + _DIR_HEADER_SIZE > total:
                raise _error(_E_RUN_HEADER_CUT)
            if pos != win_pos or (off + _DIR_HEADER_SIZE > end
                                  and not last):
                win, base, end, last = self._window(pos, off, total - used,
                                                    low, high)
                win_pos = pos
            if off + _DIR_HEADER_SIZE <= end:
                head = unpack_from(run_header, win, off - base)
                off += _DIR_HEADER_SIZE
            else:
                raw, pos, off = self._meta_bytes(12, pos, off, low, high)
                head = unpack_from(run_header, raw)
            used += _DIR_HEADER_SIZE
            count, start_block, base_ino = head
            if count >= _DIR_RUN_MAX:
                raise _error(_E_RUN_LENGTH, count + 1, _DIR_RUN_MAX)
            for _ in range(count + 1):
                rest = total - used
                if rest < _DIR_ENTRY_SIZE:
                    raise _error(_E_ENTRY_CUT)
                # the entry and the longest name it can have
                need = 8 + _NAME_MAX if rest > 8 + _NAME_MAX else rest
                if pos != win_pos or (off + need > end and not last):
                    win, base, end, last = self._window(pos, off, rest, low,
                                                        high)
                    win_pos = pos
                raw = None
                if off + 8 <= end:
                    ioff, delta, etype, nsize = unpack_from(
                        entry_header, win, off - base)
                    nsize += 1
                    off += 8
                    if off + nsize <= end:
                        i = off - base
                        raw = bytes(win[i:i + nsize])
                        off += nsize
                else:
                    ent, pos, off = self._meta_bytes(8, pos, off, low, high)
                    ioff, delta, etype, nsize = unpack_from(entry_header,
                                                            ent)
                    nsize += 1
                used += _DIR_ENTRY_SIZE + nsize
                if nsize > _NAME_MAX or used > total:
                    raise _error(_E_NAME_OVERRUNS, nsize)
                if raw is None:     # the name crosses into the next block
                    raw, pos, off = self._meta_bytes(nsize, pos, off, low,
                                                     high)
                # 47 is "/": an int operand makes `in` a plain byte
                # search (a bytes one costs CPython a caught TypeError);
                # 46 is ".": "." and ".." told without bytes constants
                # (raw holds at least a byte)
                if 47 in raw or 0 in raw or \
                        (len(raw) <= 2 and raw[0] == 46 and raw[-1] == 46):
                    raise _error(_E_ILLEGAL_NAME, raw)
                if prev is not None and raw <= prev:
                    raise _error(_E_UNSORTED, raw)
                prev = raw
                yield (raw, (start_block << 16) | ioff,
                       (base_ino + delta) & 0xFFFFFFFF, etype)

    def _find(self, entry, target):
        """(ref, ino, type) of `target` (bytes) in dir entry, or None.

        Extended directories carry an index of the runs that begin a new
        metadata block; the listing is read from the last one whose first
        name <= target (squashfs_rare._find, which checks the index) so a
        lookup reads about one metadata block of a large listing.
        """
        if entry.index_count:
            from ovl import squashfs_rare
            listing = squashfs_rare._find(self, entry, target)
        else:
            listing = self._listing(
                entry, self.directory_table_start + entry.start_block,
                entry.offset, 0)
        for raw, ref, ino, etype in listing:
            if raw == target:
                return ref, ino, etype
            if raw > target:
                return None
        return None

    def _child(self, entry, raw, ref, ino, kind, name):
        """The Entry named `name` (`raw`, decoded) a listing entry points
        at, checked against it."""
        child = self._inode(ref, name)
        if child.ino != ino:
            raise _error(_E_ENTRY_INODE, raw, ino, child.ino)
        if kind >= len(_TYPE_TO_S_IF) or \
                _TYPE_TO_S_IF[kind] != child.mode & paths.S_IFMT:
            raise _error(_E_ENTRY_TYPE, raw, kind)
        if ref == entry.ref:
            raise _error(_E_CONTAINS_ITSELF, raw)
        return child

    # -- the Lower interface --------------------------------------------------

    def lookup(self, path):
        """Entry at absolute `path`; a final symlink is not followed."""
        if not path.startswith("/"):
            raise compat.oserror(compat.ENOENT, path)
        entry = self.root
        for name in path.split("/"):
            if not name:
                continue
            if entry.mode & paths.S_IFMT != paths.S_IFDIR:
                raise compat.oserror(compat.ENOTDIR, path)
            # (MicroPython ignores the error handler: its names are UTF-8;
            # CPython: a lone surrogate outside U+DC80-DCFF names nothing)
            try:
                raw = name.encode("utf-8", "surrogateescape")
            except UnicodeError:
                raise compat.oserror(compat.ENOENT, path)
            found = self._find(entry.loc, raw)
            if found is None:
                raise compat.oserror(compat.ENOENT, path)
            # (the name is `raw` decoded: no decode of it again)
            entry = self._child(entry.loc, raw, found[0], found[1], found[2],
                                name)
        return entry

    stat = lookup

    def readdir(self, entry):
        """(name, Entry) pairs in UTF-8 byte order, one inode at a time."""
        if entry.mode & paths.S_IFMT != paths.S_IFDIR:
            raise compat.oserror(compat.ENOTDIR, entry.name)
        d = entry.loc       # the entry itself: see _inode
        child = self._child
        for raw, ref, ino, etype in self._listing(
                d, self.directory_table_start + d.start_block, d.offset, 0):
            name = _decode_name(raw)
            yield name, child(d, raw, ref, ino, etype, name)

    def readlink(self, entry):
        from ovl import squashfs_rare
        return squashfs_rare.readlink(self, entry)

    def read(self, entry, offset, n):
        """Up to n bytes of a regular file from offset (short only at EOF)."""
        f = entry.loc
        kind = entry.mode & paths.S_IFMT
        if kind != paths.S_IFREG:
            raise compat.oserror(compat.EISDIR if kind == paths.S_IFDIR
                                 else compat.EINVAL, entry.name)
        if offset < 0 or n < 0:
            raise compat.oserror(compat.EINVAL, entry.name)
        size = entry.size
        end = offset + n
        if end > size:
            end = size
        if offset >= end:
            return b""
        log = self.block_log
        first = offset >> log
        last = (end - 1) >> log
        pieces = []
        if first < f.nblocks:
            self._read_blocks(entry, first,
                              last if last < f.nblocks else f.nblocks - 1,
                              offset, end, pieces)
        if last >= f.nblocks:
            # the file's last bytes, from its fragment block
            block_start = f.nblocks << log
            if f.fragment == _FRAGMENT_NONE:
                raise _error(_E_LIST_SHORT, entry.name)
            pos, word = self._fragment(f.fragment)
            start = f.frag_offset
            lo = offset - block_start if block_start < offset else 0
            # the bytes asked for (MicroPython: inflated as a stream;
            # CPython: out of the fragment blocks it keeps)
            data = self._block_bytes(pos, word, "fragment %d" % f.fragment,
                                     start + lo, start + end - block_start,
                                     0)
            if len(data) != end - block_start - lo:
                raise _error(_E_TAIL_PAST_FRAGMENT, entry.name, start,
                             size - block_start, start + lo + len(data))
            pieces.append(data)
        if end == size:
            # The file read to its end: its fragment block's stream, kept
            # otherwise, goes (its decoder and window, about 2.7 KB, would
            # stay until the next block read; a walk then inflates a
            # shared fragment block once per file, as before the streams)
            s = self._stream
            self._stream = None
            if s is not None and last >= f.nblocks and s[0] == pos and \
                    s[1] == word:
                # ... read to its end first, if it is this file's
                # (a raw fragment keeps none: the one kept may be another
                # file's): its Adler-32 checked (a
                # damaged block otherwise returns wrong bytes silently),
                # and no more of it than a block.  (stream_read, not a
                # function of its own: a name more would tip the board
                # job's qstr pool into a sixth, 7 KB, and its heap edge
                # up by 8 KiB.)
                try:
                    more = compat.stream_read(s[2], self.block_size - s[3],
                                              1)
                except ValueError as e:
                    from ovl import squashfs_errors
                    raise squashfs_errors.inflate_error(e, self.block_size,
                                                        self.compression)
                if more:
                    raise _error(_E_INFLATES_TOO_FAR, self.block_size)
        if len(pieces) == 1:
            return pieces[0]
        return b"".join(pieces)

    def identity(self):
        """A digest that changes whenever the image does in a way a reader
        sees, reading at most _IDENTITY_READ_LIMIT bytes (docs/SQUASHFS.md,
        "Identity"): the superblock; the size and last 4 bytes of each
        metadata block from the inode table up to the first lookup-table
        index (a compressed block ends with the Adler-32 of the 8 KiB it
        inflates to); and the image's last bytes (the lookup tables).
        """
        if self._identity is None:
            h = compat.sha256(self._raw_superblock)
            budget = _IDENTITY_READ_LIMIT
            end = self._dir_end
            pos = self.inode_table_start
            word = unpack_from("<H", self._read(pos, 2))[0]
            budget -= 2
            while pos < end and budget >= _IDENTITY_TAIL_MIN + 6:
                size = word & _METADATA_SIZE_MASK
                nxt = pos + 2 + size
                if size == 0 or size > _METADATA_SIZE or nxt > end:
                    raise _error(_E_META_SIZE, word, pos)
                # The block's last bytes and the next block's header (the
                # 2 bytes after the table, if it ends here) in one read.
                start = max(pos + 2, nxt - 4)
                raw = self._read(start, min(nxt + 2, self.bytes_used) - start)
                budget -= len(raw)
                h.update(raw)
                if len(raw) >= nxt + 2 - start:
                    word = unpack_from("<H", raw, nxt - start)[0]
                pos = nxt
            tail = min(budget, self.bytes_used - end)
            h.update(self._read(self.bytes_used - tail, tail))
            self._identity = "sqfs:" + compat.hexdigest(h)[:16]
        return self._identity

    # -- file data ----------------------------------------------------------

    def _block_words(self, f, index, count):
        """Size words of blocks index..index+count-1 (capped at nblocks).

        Leaves f.cursor at block `index`: (index, its data position, the
        block-list position of its word, then the block-list position
        after the returned words).
        """
        cursor = getattr(f, "cursor", None)
        if cursor is None or index < cursor[0]:     # from the first block
            cursor = (0, f.start, f.pos, f.off)
        i, data_pos, pos, off = cursor[0], cursor[1], cursor[2], cursor[3]
        low, high = self.inode_table_start, self.directory_table_start
        # Skip (summing sizes) up to `index`.
        while i < index:
            k = index - i
            words, pos, off = self._list_words(k, pos, off, low, high)
            for w in words:
                data_pos += w & _DATA_SIZE_MASK
            i += len(words)
        at_pos, at_off = pos, off
        if count > f.nblocks - index:
            count = f.nblocks - index
        out, pos, off = self._list_words(count, pos, off, low, high)
        if len(out) < count:
            # The list continues in the next metadata block(s).
            out = list(out)
            while len(out) < count:
                words, pos, off = self._list_words(count - len(out), pos,
                                                   off, low, high)
                out.extend(words)
        f.cursor = (i, data_pos, at_pos, at_off, pos, off)
        return out

    def _read_blocks(self, entry, start, stop, offset, end, pieces):
        """Append the file bytes [offset, end) that data blocks start..stop
        of the file `entry` hold to `pieces`.

        MicroPython: one block at a time, the part wanted of each
        (_block_bytes).  Up to _WORDS_KEPT words of the block list from the
        start block read on are kept with the entry, as (index of the
        start, its data position, words), so the next read need not go
        back to the list.  CPython replaces this with
        ovl.squashfs_cpython._read_blocks, which follows the block list with
        a cursor and fetches and inflates runs of blocks at once."""
        f = entry.loc
        kept = getattr(f, "words", None)
        if kept is None or start < kept[0] or \
                stop >= kept[0] + len(kept[2]):
            count = stop + 1 - start
            if count < _WORDS_KEPT:
                count = _WORDS_KEPT
            words = tuple(self._block_words(f, start, count))
            # (_block_words left f.cursor at block `start`)
            kept = (start, f.cursor[1], words)
            if len(kept[2]) <= _WORDS_KEPT:
                f.words = kept
        words = kept[2]
        pos = kept[1]
        for i in range(start - kept[0]):
            pos += words[i] & _DATA_SIZE_MASK
        bs = self.block_size
        base = start << self.block_log
        for word in words[start - kept[0]:stop + 1 - kept[0]]:
            n = min(entry.size - base, bs)
            lo = offset - base if offset > base else 0
            hi = min(end - base, n)
            pieces.append(self._block_bytes(pos, word, entry.name, lo, hi,
                                            n))
            pos += word & _DATA_SIZE_MASK
            base += bs

    def _list_words(self, k, pos, off, start, stop):
        """Up to k block-size words from the block list at (pos, off)."""
        data, base, end, _, _ = self._meta_at(pos, off, 4 * k, start, stop)
        avail = (end - off) >> 2
        if avail <= 0 or off < base:
            raw, pos, off = self._meta_bytes(4, pos, off, start, stop)
            return unpack_from("<I", raw), pos, off
        if k > avail:
            k = avail
        return unpack_from("<%dI" % k, data, off - base), pos, off + 4 * k

    def _block_bytes(self, pos, word, what, start, end, n):
        """MicroPython: bytes [start, end) of the data or fragment block at
        pos (size word `word`), short if the block ends first; n: the
        length a data block must inflate to (checked when a read reaches
        it), 0 for a fragment block.

        A sparse block makes the zeros asked for; a block stored raw is
        read where it lies.  A compressed one is
        inflated as a stream from flash (compat.inflate_stream): the
        decoder's state and window (the stream header's, at most the
        block size) and the bytes asked for, no block-sized buffer.  The
        stream is kept, so the next read of the same block at or after end
        (a file read in order) continues it; one before it starts the
        block again.  It goes at the block's end; a fragment block's goes when
        a file is read to its end, read through first (read())."""
        # (the size word's checks: squashfs_cpython._load_block's too)
        if word >> _DATA_RESERVED_SHIFT:
            raise _error(_E_RESERVED_BITS, what, word)
        stored = word & _DATA_SIZE_MASK
        if stored == 0 and n:
            # a sparse data block: only the zeros asked for, not a block
            return bytes(end - start)
        if stored == 0 or stored > self.block_size:
            raise _error(_E_BLOCK_TOO_BIG, what, stored, self.block_size)
        if word & _DATA_UNCOMPRESSED:
            if n and stored != n:
                raise _error(_E_BLOCK_LENGTH, what, pos, stored, n)
            if end > stored:
                end = stored
            return self._read(pos + start, end - start) if start < end \
                else b""
        if pos + stored > self.bytes_used:
            # the same error whether or not the heap has room for a copy
            raise _error(_E_READ_PAST_END, stored, pos, self.bytes_used)
        s = self._stream
        # Not kept while this read uses it: an exception part way (a
        # MemoryError included, the decoder then ahead of s[2]) leaves no
        # stream whose place is unknown.
        self._stream = None
        if s is None or s[0] != pos or s[1] != word or s[3] > start:
            s = None                    # before the new one: a lower peak
            s = [pos, word, compat.inflate_stream(
                self._read, pos, stored, min(15, self.block_log)), 0]
        more = b""
        try:
            data = compat.stream_read(s[2], start - s[3], end - start)
            at = start + len(data)
            if n and at == n:
                # the block's end: the stream must end here too (its
                # Adler-32 checked)
                more = compat.stream_read(s[2], 0, 1)
        except ValueError as e:
            from ovl import squashfs_errors
            raise squashfs_errors.inflate_error(e, self.block_size,
                                                self.compression)
        if more:
            raise _error(_E_INFLATES_TOO_FAR, n)
        if at < end or at == n:
            # nothing more to read of it
            if n and at != n:
                raise _error(_E_BLOCK_LENGTH, what, pos, at, n)
        else:
            s[3] = at
            self._stream = s
        return data


if not compat.MICROPYTHON:
    # CPython's decompressors and run reads (a board loads none of them):
    # squashfs_cpython's open() sets its methods on the reader's class
    from ovl import squashfs_cpython
