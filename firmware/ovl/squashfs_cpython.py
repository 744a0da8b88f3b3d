"""CPython's side of the SquashFS reader (ovl.squashfs): its decompressors
and the data path that reads runs of blocks at once.

ovl.squashfs imports this on CPython only, so a board loads none of this
code (MicroPython reads the bytes a read asks for, inflating data blocks
as streams: ovl.squashfs's own _read_blocks and _block_bytes).  The
functions the reader calls are named after the method each stands in for
(_meta_block, _read_blocks: names a board's copy of the reader interns
anyway; _load_block, a method CPython's reader alone has); open is its
open's (a builtin's name: a board interns none for it).  open() sets this
module's methods on the reader's class (CPython's _read_blocks, _window
and _block_bytes in place of MicroPython's, _load_block and _data_block
of its own), so that a board's copy of the reader spells none of them.  Errors are the reader's (imported where raised).
"""

import struct

from ovl import compat
from ovl import squashfs_format as F

# Source bytes fetched at once for back-to-back compressed data blocks: one
# read per run instead of per block.
RUN_BYTES = 1 << 18
# Inflated fragment blocks kept: files with the same contents share a
# fragment but are not neighbours in a walk.  (MicroPython keeps one block.)
FRAGMENT_CACHE_BYTES = 1 << 19


def open(self, compression):
    """The reader's CPython state, at open: the compressor's name, the
    decompressor, whether run
    reads call compat.inflate themselves (gzip: one call frame less per
    block), and the fragment blocks kept."""
    self.compression = F.COMPRESSION_NAMES[compression]
    self._inflate = decompressor(compression)
    self._zlib = compression == F.COMP_ZLIB
    self._frags = {}          # fragment block position -> data
    self._frag_newest = -1    # position of the last one used
    self._frag_limit = max(1, FRAGMENT_CACHE_BYTES >> self.block_log)
    self._kept_pos = -1       # the last data block read ...
    self._kept = None         # ... and its data
    # this module's methods on the reader's class: here, at every open,
    # not once as this module loads, so that a class made again (a reload
    # of ovl.squashfs) gets them too
    cls = type(self)
    if cls.__dict__.get("_load_block") is not _load_block:
        for name in ("_read_blocks", "_load_block", "_data_block",
                     "_block_bytes", "_window"):
            setattr(cls, name, globals()[name])


def _meta_block(self, pos, word, size):
    """SquashFS._meta_block's CPython side: the metadata block at pos (its
    header `word`, `size` stored bytes) read and inflated into new bytes,
    put first in the cache; returns (data, next_pos)."""
    cache = self._cache
    if len(cache) >= self.cache_blocks:
        cache.pop()             # before inflating: lowers the peak
    data = self._read(pos + 2, size)
    if not word & F.METADATA_UNCOMPRESSED:
        data = self._inflate(data, F.METADATA_SIZE)
    if not data:
        from ovl import squashfs as S
        raise S._error(S._E_META_EMPTY, pos)
    nxt = pos + 2 + size
    cache.insert(0, [pos, data, nxt])
    return data, nxt


def _window(self, pos, off, n, start, stop):
    """SquashFS._window on CPython: the whole metadata block (immutable, so
    it stays valid while the caller reads inodes)."""
    data, _ = self._meta_block(pos, start, stop)
    return data, 0, len(data), True


def _load_block(self, pos, word, what, fragment):
    """SquashFS._load_block (CPython only: MicroPython reads the bytes
    asked for, SquashFS._block_bytes): the decompressed data (fragment 0)
    or fragment (1) block at pos (a flag here, not a file's fragment
    index), with size word `word`, named `what` in errors.  A data block
    is kept as the last one read; a fragment block comes from the ones
    kept, moved to the most recently used end, or is inflated and kept
    among them."""
    if fragment == 0:
        if pos == self._kept_pos:
            return self._kept
        self._kept = None            # before inflating: lowers the peak
        self._kept_pos = -1
    # the size word's checks (SquashFS._block_bytes's too)
    from ovl import squashfs as S
    if word >> S._DATA_RESERVED_SHIFT:
        raise S._error(S._E_RESERVED_BITS, what, word)
    stored = word & F.DATA_SIZE_MASK
    if stored == 0 or stored > self.block_size:
        raise S._error(S._E_BLOCK_TOO_BIG, what, stored, self.block_size)
    frags = self._frags
    if fragment:
        data = frags.get(pos)
        if data is not None:
            if pos != self._frag_newest:
                del frags[pos]
                frags[pos] = data
                self._frag_newest = pos
            return data
        if len(frags) >= self._frag_limit:
            # the least recently used (dicts keep insertion order)
            del frags[next(iter(frags))]
    data = self._read(pos, stored)
    if not word & F.DATA_UNCOMPRESSED:
        data = self._inflate(data, self.block_size)
    if fragment == 0:
        self._kept_pos = pos
        self._kept = data
    else:
        frags[pos] = data
        self._frag_newest = pos
    return data


def _block_bytes(self, pos, word, what, start, end, n):
    """SquashFS._block_bytes on CPython, which calls it for a file's tail
    only (n 0: a fragment block; data blocks take read_run): bytes [start,
    end) of the fragment block at pos, out of the ones kept (_load_block),
    short if the block is (a whole block comes back as it is)."""
    return self._load_block(pos, word, what, 1)[start:end]


def _data_block(self, pos, word, n, entry):
    """SquashFS._data_block (CPython only: MicroPython's _block_bytes
    reads any block): the n bytes of the data block at pos, checked to be
    that many; a sparse block's zeros."""
    from ovl import squashfs as S
    if word & F.DATA_SIZE_MASK == 0:
        if word >> S._DATA_RESERVED_SHIFT:
            raise S._error(S._E_RESERVED_BITS, entry.name, word)
        return bytes(n)                 # sparse block
    data = self._load_block(pos, word, entry.name, 0)
    if len(data) != n:
        raise S._error(S._E_BLOCK_LENGTH, entry.name, pos, len(data), n)
    return data


def decompressor(compression):
    """inflate(data, limit) for the image's compressor (a valid id); the
    errors are the reader's.  (CPython's zlib needs no window size.)"""
    from ovl import squashfs as S
    name = F.COMPRESSION_NAMES[compression]
    if compression == F.COMP_ZLIB:
        inflate = compat.inflate
    elif compression == F.COMP_XZ:
        inflate = compat.inflate_xz
    elif compression == F.COMP_LZMA:
        inflate = compat.inflate_lzma
    else:
        from ovl.squashfs_errors import UnsupportedCompressorError
        raise UnsupportedCompressorError(
            "image uses the %s compressor, which this Python cannot "
            "decompress" % name)

    def inflate_block(data, limit):
        try:
            return inflate(data, limit)
        except ValueError as e:
            from ovl import squashfs_errors
            raise squashfs_errors.inflate_error(e, limit, name)
    return inflate_block


def _read_blocks(self, entry, first, stop, offset, end, pieces):
    """SquashFS._read_blocks on CPython: append the file bytes [offset,
    end) that data blocks first..stop of the file `entry` hold to `pieces`,
    following the file's block list from its cursor (see
    SquashFS._block_words), so consecutive reads continue the walk instead
    of summing every earlier block size again."""
    f = entry.loc
    count = stop + 1 - first
    index, data_pos, pos, off = (getattr(f, "cursor", None) or (
        0, f.start, f.pos, f.off))[:4]
    head = self._cache[0] if self._cache else None
    if (first == index and head is not None and head[0] == pos
            and off + 4 * count <= len(head[1])):
        # The usual case: a read continuing where the last one stopped,
        # its words in the newest metadata block (the inode's, just read
        # by the walk).
        words = struct.unpack_from("<%dI" % count, head[1], off)
        list_cursor = (pos, off + 4 * count)
    else:
        words = self._block_words(f, first, count)
        data_pos = f.cursor[1]      # block `first`'s
        list_cursor = f.cursor[4:]  # the list after the words
    head = None
    data_pos = read_run(self, words, data_pos, first << self.block_log,
                        offset, end, entry, pieces)
    # Only after a complete read: the cursor stays consistent if a damaged
    # block raised.
    f.cursor = (stop + 1, data_pos) + list_cursor


def read_run(self, words, pos, block_start, offset, end, entry, pieces):
    """Append file bytes [offset, end) of the blocks with size `words`, the
    first stored at `pos` and holding file offset `block_start`, to
    `pieces`; return the position after the last block.

    Compressed gzip blocks lying back to back are fetched with one source
    read of up to RUN_BYTES and inflated together by compat.inflate_run
    (4 KiB images have tens of thousands of blocks: no Python call per
    block); xz blocks one at a time.  Any other block (sparse, stored raw,
    the kept one, damaged) takes _data_block.
    """
    bs = self.block_size
    first_start = block_start
    if self._zlib:
        inflate = compat.inflate        # errors translated below
        inflate_run = compat.inflate_run
        run_bytes = RUN_BYTES
    else:
        # xz costs far more than a source read: a block at a time.
        inflate = self._inflate
        run_bytes = 0
    append = pieces.append
    kept_pos = self._kept_pos
    last_pos = -1               # the last block inflated here ...
    last_data = None            # ... and its data
    n = len(words)
    i = 0
    try:
        while i < n:
            word = words[i]
            # 0 < word <= bs: compressed (bit 24 clear), size sane.
            if 0 < word <= bs and pos != kept_pos:
                # A run: this block and the compressed blocks after it,
                # up to run_bytes of source.  Whole reads of a
                # compressed stretch (the usual case) are one run.
                rest = words[i:] if i else words
                if (run_bytes and min(rest) > 0 and max(rest) <= bs
                        and sum(rest) <= run_bytes):
                    j = n
                    size = sum(rest)
                else:
                    j = i + 1
                    size = word
                    while j < n:
                        w = words[j]
                        if not 0 < w <= bs or size + w > run_bytes:
                            break
                        size += w
                        j += 1
                run = self._read(pos, size)
                if j == i + 1:
                    data = inflate(run, bs)
                    if len(data) != bs:
                        check_short(self, pos, word, data, block_start,
                                    entry)
                    append(data)
                    last_pos = pos
                else:
                    sizes = words[i:j]
                    outs = inflate_run(run, sizes, bs)
                    # Each holds at most bs bytes, so if the last one
                    # has its expected length (the file's last block
                    # may be short) and the total adds up, all do.
                    whole = bs * (j - i - 1)
                    tail = entry.size - block_start - whole
                    if tail > bs:
                        tail = bs
                    if (len(outs[-1]) != tail
                            or sum(map(len, outs)) != whole + tail):
                        at, start = pos, block_start
                        for k in range(len(sizes)):
                            if len(outs[k]) != bs:
                                check_short(self, at, sizes[k], outs[k],
                                            start, entry)
                            at += sizes[k]
                            start += bs
                    pieces.extend(outs)
                    data = outs[-1]
                    last_pos = pos + size - sizes[-1]
                    outs = None
                run = None
                last_data = data
                block_start += bs * (j - i)
                pos += size
                i = j
            else:
                if last_data is not None:
                    self._kept_pos = last_pos
                    self._kept = last_data
                    last_data = None
                expected = entry.size - block_start
                if expected > bs:
                    expected = bs
                append(self._data_block(pos, word, expected, entry))
                pos += word & F.DATA_SIZE_MASK
                block_start += bs
                i += 1
    except ValueError as e:
        from ovl import squashfs_errors
        if isinstance(e, squashfs_errors.CorruptImageError):
            raise
        raise squashfs_errors.inflate_error(e, bs, self.compression)
    finally:
        # Keep the last block for a following small read within it (a
        # slow-path block keeps itself, after this run's blocks).
        if last_data is not None:
            self._kept_pos = last_pos
            self._kept = last_data
    # Trim the first and last blocks to [offset, end).
    hi = end - (block_start - bs)
    if hi < len(pieces[-1]):
        pieces[-1] = pieces[-1][:hi]
    if offset > first_start:
        pieces[0] = pieces[0][offset - first_start:]
    return pos


def check_short(self, pos, word, data, block_start, entry):
    """A block inflated to less than the block size: only the last
    block of a file without a fragment may."""
    expected = entry.size - block_start
    if len(data) != expected:
        self._data_block(pos, word, min(expected, self.block_size), entry)
