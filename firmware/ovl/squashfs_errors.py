"""The SquashFS reader's exceptions (ovl.squashfs raises them).

Damaged images raise a subclass of CorruptImageError (a ValueError) naming
the cause; a compressor this runtime lacks raises UnsupportedCompressorError;
data blocks over the caller's limit raise BlockSizeLimitError.  Kept apart
so a board's heap holds these 13 classes only once one is needed: the
reader imports this module at its first failure, and callers that name one
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


# Indexed by ovl.squashfs's `_E_` consts: the reader names the class it
# raises by a number, so a board interns none of these names until one is
# raised.
KINDS = (BadMagicError, BadSuperblockError, TruncatedImageError,
         MetadataHeaderError, OutOfRangeError, BadInodeError,
         BadDirectoryError, DirectoryLoopError, DecompressionError,
         DecompressionBombError, UnsupportedCompressorError,
         BlockSizeLimitError)
