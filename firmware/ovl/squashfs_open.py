"""The SquashFS reader's (ovl.squashfs) open: the superblock's checks, the
tables' positions and limits, the compressor, the root.

It runs once per reader, so ovl.squashfs imports this module for the
call and drops it after (on MicroPython: ovl.compat.call_released), and
a board keeps none of its code once the lower is open.  Never reached
from an error path: it runs before any failure of the reader's.  (The
lower identity stays in ovl.squashfs: a mount asks for it after the
open, and importing this module a second time a mount left the boards'
heap edges worse: docs/FIT.md.)

open takes the reader as `self` (a name a board interns anyway) and
raises the reader's errors (ovl.squashfs._error), with the messages of
ovl.squashfs_errors.FAILURES.
"""

from struct import unpack_from

from ovl import compat
from ovl.compat import const
from ovl import paths
from ovl.squashfs import _error

# ovl.squashfs_format's names (private here, as in ovl.squashfs, so a
# board keeps no name for them: tests/test_squashfs_layout.py checks
# each against the format) and the reader's consts of the same names
_MAGIC = const(0x73717368)
_VERSION_MAJOR = const(4)
_VERSION_MINOR = const(0)
_SUPERBLOCK_SIZE = const(96)
_METADATA_SIZE = const(8192)
_METADATA_SIZE_MASK = const(0x7FFF)
_MIN_BLOCK_LOG = const(12)
_MAX_BLOCK_LOG = const(20)
_COMP_ZLIB = const(1)
_COMPRESSION_IDS_END = const(7)    # len(COMPRESSION_NAMES)
# the reader's failures raised here, rows of squashfs_errors.FAILURES
# (ovl.squashfs names the others: tests/test_squashfs_layout.py checks
# the two modules' `_E_` consts number the rows together)
_E_BLOCKS_OVER_LIMIT = const(4)
_E_ROOT_NOT_DIR = const(5)
_E_NO_SUPERBLOCK = const(6)
_E_SHORT_SUPERBLOCK = const(7)
_E_MAGIC = const(8)
_E_VERSION = const(9)
_E_BLOCK_SIZE = const(10)
_E_IMAGE_SHORT = const(11)
_E_USED_TOO_SMALL = const(12)
_E_TABLE_ORDER = const(13)
_E_NO_IDS = const(14)
_E_TABLE_INDEX = const(15)
_E_ROOT_REF = const(16)
_E_COMPRESSOR_ID = const(17)
_E_COMPRESSOR = const(18)


def open(self, max_block_size):
    """SquashFS.__init__'s checks: the reader `self`'s superblock (96
    bytes kept), the tables' positions, the compressor, the block size
    against max_block_size, and the root's inode."""
    source = self.source
    # -- the superblock: checked at open, 96 bytes kept
    size = source.size
    if size < _SUPERBLOCK_SIZE:
        raise _error(_E_NO_SUPERBLOCK, size)
    raw = source.read(0, _SUPERBLOCK_SIZE)
    if len(raw) != _SUPERBLOCK_SIZE:
        raise _error(_E_SHORT_SUPERBLOCK)
    # The fields in SUPERBLOCK's order, as locals: a dict of them would
    # keep each field's name as a string constant on a board.
    (magic, _inodes, _mkfs_time, block_size, fragments, compression, log,
     _flags, no_ids, major, minor, root, used, id_start, xattr_start,
     itab, dtab, fragment_start, lookup_start) = unpack_from(
        "<IIIIIHHHHHHQQQQQQQQ", raw)
    if magic != _MAGIC:
        raise _error(_E_MAGIC, magic)
    if major != _VERSION_MAJOR or minor != _VERSION_MINOR:
        raise _error(_E_VERSION, major, minor)
    if (log < _MIN_BLOCK_LOG or log > _MAX_BLOCK_LOG
            or block_size != 1 << log):
        raise _error(_E_BLOCK_SIZE, block_size, log)
    if used > size:
        raise _error(_E_IMAGE_SHORT, size, used)
    if used < _SUPERBLOCK_SIZE:
        raise _error(_E_USED_TOO_SMALL, used)
    if not (_SUPERBLOCK_SIZE <= itab < dtab < used):
        raise _error(_E_TABLE_ORDER)
    # The directory table runs up to the first of the later tables (an
    # absent one, at TABLE_ABSENT, lies past any image's end).
    dir_end = used
    for start in (fragment_start, lookup_start, id_start, xattr_start):
        if dtab < start < dir_end:
            dir_end = start
    if no_ids == 0:
        raise _error(_E_NO_IDS)
    # the lookup tables' indexes (a table of no fragments has none; an
    # absent one's TABLE_ABSENT lies past the image's end)
    for what, count, start, entry_size in (
            ("id", no_ids, id_start, 4),       # ID_ENTRY "<I"
            ("fragment", fragments, fragment_start, 16)):  # "<QII"
        # the table's metadata blocks
        nblocks = (count * entry_size + _METADATA_SIZE
                   - 1) // _METADATA_SIZE
        if count and (start < dtab or start + 8 * nblocks > used):
            raise _error(_E_TABLE_INDEX, what)
    # root: metadata block (from the table start) << 16 | offset in it
    if itab + (root >> 16) >= dtab or root & 0xFFFF >= _METADATA_SIZE:
        raise _error(_E_ROOT_REF)
    # the lookup tables: the ids' index position and entry count, then
    # the fragments'
    self._tables = (id_start, no_ids, fragment_start, fragments)
    self.block_size = block_size
    self.block_log = log
    self.bytes_used = used
    self.inode_table_start = itab
    self.directory_table_start = dtab
    self._dir_end = dir_end
    self._raw_superblock = raw
    # (ids 1-6: gzip lzma lzo xz lz4 zstd)
    if not 0 < compression < _COMPRESSION_IDS_END:
        raise _error(_E_COMPRESSOR_ID, compression)
    # MicroPython inflates gzip blocks (squashfs_rare.inflate_into,
    # compat.inflate_stream) and has no other decompressor; CPython's
    # decompressor and fragment cache are squashfs_cpython's, which names
    # the compressor
    if not compat.MICROPYTHON:
        from ovl import squashfs_cpython
        squashfs_cpython.open(self, compression)
    else:
        # COMPRESSION_NAMES[1:] as bytes: as str constants they would be
        # six names interned at import
        name = str(b"gzip lzma lzo xz lz4 zstd".split()[compression - 1],
                   "utf-8")
        if compression != _COMP_ZLIB:
            raise _error(_E_COMPRESSOR, name)
        self.compression = name
    if max_block_size is not None and block_size > max_block_size:
        limit = max_block_size >> 10
        raise _error(_E_BLOCKS_OVER_LIMIT, block_size >> 10, limit, limit)
    self.root = self._inode(root, "")
    if self.root.mode & paths.S_IFMT != paths.S_IFDIR:
        raise _error(_E_ROOT_NOT_DIR)

