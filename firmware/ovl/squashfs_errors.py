"""The SquashFS reader's exceptions (ovl.squashfs raises them).

Damaged images raise a subclass of CorruptImageError (a ValueError) naming
the cause; a compressor this runtime lacks raises UnsupportedCompressorError;
data blocks over the caller's limit raise BlockSizeLimitError.  Kept apart
so a board's heap holds these 13 classes and the reader's messages
(FAILURES, below them) only once one is needed: the reader imports this
module at its first failure, and callers that name a class
(`squashfs.CorruptImageError`) reach it through ovl.squashfs's module
__getattr__.
"""


class CorruptImageError(ValueError):
    """The image is damaged or not a SquashFS 4.0 image."""


class BadMagicError(CorruptImageError):
    """The superblock magic is not "hsqs"."""


class BadSuperblockError(CorruptImageError):
    """A superblock field is impossible (version, block size, table order)."""


class TruncatedImageError(CorruptImageError):
    """The image ends before the data the superblock says it holds."""


class MetadataHeaderError(CorruptImageError):
    """A metadata block header or its decompressed size is impossible."""


class OutOfRangeError(CorruptImageError):
    """An offset, index or size points outside its table or the image."""


class BadInodeError(CorruptImageError):
    """An inode has an unknown type or impossible fields."""


class BadDirectoryError(CorruptImageError):
    """A directory listing is malformed (counts, names, order, types)."""


class DirectoryLoopError(CorruptImageError):
    """A directory contains itself or one of its ancestors."""


class DecompressionError(CorruptImageError):
    """A compressed block is not a valid stream of the image's compressor."""


class DecompressionBombError(DecompressionError):
    """A block inflates to more than the block (or metadata) size."""


class UnsupportedCompressorError(ValueError):
    """The image is valid but this runtime cannot decompress its compressor."""


class BlockSizeLimitError(ValueError):
    """The image is valid but its data blocks are larger than the limit the
    caller (a board's lower_block_size) allows: reading it would need more
    RAM per block than the board has."""


# The reader's failures: (class, message), indexed by ovl.squashfs's `_E_`
# consts (each row names its const), so a board keeps neither the classes
# nor the messages until an image turns out damaged.
FAILURES = (
    # _E_INODE_TYPE
    (BadInodeError, "inode 0x%x has unknown type %d"),
    # _E_NAME_NOT_UTF8
    (BadDirectoryError, "name %r is not UTF-8"),
    # _E_INFLATES_TOO_FAR
    (DecompressionBombError, "block inflates beyond %d bytes"),
    # _E_BAD_STREAM
    (DecompressionError, "%s block: %s"),
    # _E_BLOCKS_OVER_LIMIT
    (BlockSizeLimitError,
     "lower image has %d KiB blocks, over this board's limit of "
     "%d KiB: rebuild it with `ovl mkimage --board` (or -b %dK)"),
    # _E_ROOT_NOT_DIR
    (BadInodeError, "root inode is not a directory"),
    # _E_NO_SUPERBLOCK
    (TruncatedImageError, "image of %d bytes is shorter than a superblock"),
    # _E_SHORT_SUPERBLOCK
    (TruncatedImageError, "short read of the superblock"),
    # _E_MAGIC
    (BadMagicError, "bad magic 0x%08x (not a SquashFS image)"),
    # _E_VERSION
    (BadSuperblockError, "SquashFS version %d.%d, only 4.0 is read"),
    # _E_BLOCK_SIZE
    (BadSuperblockError, "block size %d / log %d out of range"),
    # _E_IMAGE_SHORT
    (TruncatedImageError,
     "image is %d bytes but the superblock says %d are used"),
    # _E_USED_TOO_SMALL
    (BadSuperblockError, "bytes_used %d is smaller than the superblock"),
    # _E_TABLE_ORDER
    (BadSuperblockError, "inode/directory table offsets out of order"),
    # _E_NO_IDS
    (BadSuperblockError, "id table is empty"),
    # _E_TABLE_INDEX
    (BadSuperblockError, "%s table index out of range"),
    # _E_ROOT_REF
    (BadSuperblockError, "root inode reference out of range"),
    # _E_COMPRESSOR_ID
    (BadSuperblockError, "unknown compressor id %d"),
    # _E_COMPRESSOR
    (UnsupportedCompressorError,
     "image uses the %s compressor, which MicroPython cannot decompress"),
    # _E_READ_PAST_END
    (OutOfRangeError, "read of %d bytes at 0x%x beyond image end 0x%x"),
    # _E_SHORT_READ
    (TruncatedImageError, "short read at 0x%x"),
    # _E_META_OUTSIDE
    (OutOfRangeError, "metadata block at 0x%x outside its table [0x%x, 0x%x)"),
    # _E_META_SIZE
    (MetadataHeaderError, "metadata header 0x%04x at 0x%x: bad size"),
    # _E_META_EMPTY
    (MetadataHeaderError, "metadata block at 0x%x is empty"),
    # _E_META_OFFSET
    (OutOfRangeError, "offset %d past a %d-byte metadata block at 0x%x"),
    # _E_ID_INDEX
    (OutOfRangeError, "id index %d beyond the %d ids"),
    # _E_FRAGMENT_INDEX
    (OutOfRangeError, "fragment %d beyond the %d fragments"),
    # _E_INODE_REF
    (OutOfRangeError, "inode reference 0x%x outside the inode table"),
    # _E_FRAGMENT_OFFSET
    (BadInodeError,
     "inode %d: fragment tail at offset %d runs past the block size"),
    # _E_LISTING_OFFSET
    (BadInodeError, "inode %d: listing offset %d out of range"),
    # _E_SYMLINK_SIZE
    (BadInodeError, "inode %d: symlink of %d bytes"),
    # _E_RUN_HEADER_CUT
    (BadDirectoryError, "listing ends inside a run header"),
    # _E_RUN_LENGTH
    (BadDirectoryError, "directory run of %d entries (max %d)"),
    # _E_ENTRY_CUT
    (BadDirectoryError, "listing ends inside an entry"),
    # _E_NAME_OVERRUNS
    (BadDirectoryError, "entry name of %d bytes overruns the listing"),
    # _E_ILLEGAL_NAME
    (BadDirectoryError, "illegal name %r"),
    # _E_UNSORTED
    (BadDirectoryError, "listing not sorted at %r"),
    # _E_INDEX_NAME
    (BadDirectoryError, "index name of %d bytes"),
    # _E_INDEX_OFFSET
    (BadDirectoryError, "directory index offset %d out of range"),
    # _E_ENTRY_INODE
    (BadDirectoryError, "entry %r says inode %d, inode says %d"),
    # _E_ENTRY_TYPE
    (BadDirectoryError, "entry %r type %d does not match its inode"),
    # _E_CONTAINS_ITSELF
    (DirectoryLoopError, "directory %r contains itself"),
    # _E_RESERVED_BITS
    (OutOfRangeError, "%s: block size word 0x%x has reserved bits"),
    # _E_BLOCK_TOO_BIG
    (OutOfRangeError, "%s: block of %d bytes (block size %d)"),
    # _E_BLOCK_LENGTH
    (OutOfRangeError, "%s: block at 0x%x holds %d bytes, %d expected"),
    # _E_LIST_SHORT
    (OutOfRangeError, "%s: block list shorter than the file"),
    # _E_TAIL_PAST_FRAGMENT
    (OutOfRangeError, "%s: tail %d+%d beyond its %d-byte fragment"),
    # _E_INDEX_UNSORTED
    (BadDirectoryError, "directory index not sorted at %r"),
    # _E_INDEX_BLOCK
    (BadDirectoryError,
     "directory index entry %r: listing offset %d is not in the block at"
     " 0x%x it names"),
    # _E_INDEX_RUN
    (BadDirectoryError,
     "directory index entry %r: its run begins at %r, after it"),
)


# FAILURES' rows inflate_error raises (ovl.squashfs's consts of the same
# names: tests/test_reader_import_heap.py checks they agree)
_E_INFLATES_TOO_FAR = 2
_E_BAD_STREAM = 3


def inflate_error(e, size, name):
    """The reader's exception for the ValueError `e` of an inflate
    (compat.inflate, inflate_stream's decoder, inflate_xz, inflate_lzma) of
    a block of the image's compressor `name` that must inflate to at most
    `size` bytes.  (Here, not in ovl.squashfs: only a damaged block runs
    it, and this module is then imported anyway.)"""
    if "exceeds" in str(e):
        cls, message = FAILURES[_E_INFLATES_TOO_FAR]
        return cls(message % size)
    cls, message = FAILURES[_E_BAD_STREAM]
    return cls(message % (name, e))
