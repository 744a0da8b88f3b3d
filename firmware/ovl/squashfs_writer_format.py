"""SquashFS 4.0 layout that only a writer needs (host_tools/mkimage, tests):
superblock flags, the compressor-options, export and xattr layouts, the
encoders of metadata headers, references, block words and device
numbers, and decode (a structure into a dict by field name: tools and
tests; the reader unpacks the fields it needs itself).

ovl.squashfs_format keeps what the reader needs and names everything here
too (its module __getattr__ imports this module when a caller asks for one
of these), so `fmt.FLAG_NOI` and `fmt.encode(...)` read as before while a
board's heap keeps none of it.
"""

import struct

from ovl.squashfs_format import METADATA_SIZE, METADATA_UNCOMPRESSED, \
    METADATA_SIZE_MASK, DATA_UNCOMPRESSED, DATA_SIZE_MASK, TYPE_TO_S_IF, \
    INODE_HEADER, INODE_BODY, DIR_INDEX


def size_of(layout):
    return struct.calcsize(layout[0])


def decode(layout, buf, offset=0):
    """Unpack one structure into a dict of field name -> int."""
    values = struct.unpack_from(layout[0], buf, offset)
    out = {}
    names = layout[1].split()
    for i in range(len(names)):
        out[names[i]] = values[i]
    return out


PAD_MULTIPLE = 4096              # mksquashfs pads the image file to this
XATTR_NONE = 0xFFFFFFFF          # inode xattr index when the inode has none

# The inode types the reader does not name (ovl.squashfs_format has the
# others); an extended kind is the basic kind + 7.
FIFO_TYPE = 6
SOCKET_TYPE = 7
LDIR_TYPE = 8
LREG_TYPE = 9

# The inode bodies by name (ovl.squashfs_format.INODE_BODY, by type).
BASIC_DIR, BASIC_FILE, BASIC_SYMLINK, BASIC_DEV = INODE_BODY[1:5]
BASIC_IPC = INODE_BODY[6]
EXT_DIR, EXT_FILE, EXT_SYMLINK, EXT_DEV = INODE_BODY[8:12]
EXT_IPC = INODE_BODY[13]
SYMLINK_XATTR = ("<I", "xattr")     # after an extended symlink's target

# Superblock flags (only COMPRESSOR_OPTIONS changes how the image is read).
FLAG_NOI = 0x0001                # inodes uncompressed
FLAG_NOD = 0x0002                # data uncompressed
FLAG_NOF = 0x0008                # fragments uncompressed
FLAG_NO_FRAGMENTS = 0x0010
FLAG_ALWAYS_FRAGMENTS = 0x0020
FLAG_DUPLICATES = 0x0040         # duplicates removed
FLAG_EXPORTABLE = 0x0080
FLAG_NOX = 0x0100                # xattrs uncompressed
FLAG_NO_XATTRS = 0x0200
FLAG_COMPRESSOR_OPTIONS = 0x0400
FLAG_NOID = 0x0800               # id table uncompressed

# The basic inode type for each POSIX file type (TYPE_TO_S_IF reversed).
S_IF_TO_TYPE = {}
for _t in range(1, len(TYPE_TO_S_IF)):
    S_IF_TO_TYPE[TYPE_TO_S_IF[_t]] = _t

# Compressor options block for gzip (after the superblock, in a raw metadata
# block, only when FLAG_COMPRESSOR_OPTIONS is set).
GZIP_OPTIONS = ("<IHH", "compression_level window_size strategy")
# ... and for xz: the LZMA2 dictionary size, and a bit mask of the branch
# (BCJ) filters tried on data blocks (0: none).
XZ_OPTIONS = ("<II", "dictionary_size executable_filters")

BLOCK_SIZE_WORD = ("<I", "size")     # one entry of a file's block list
EXPORT_ENTRY = ("<Q", "inode_ref")
TABLE_POINTER = ("<Q", "block")      # the uncompressed index of a lookup table

XATTR_ID_TABLE = ("<QII", "xattr_table_start xattr_ids unused")
XATTR_ID_ENTRY = ("<QII", "xattr count size")
XATTR_KEY = ("<HH", "type size")     # then the name
XATTR_VALUE = ("<I", "vsize")        # then the value
XATTR_PREFIXES = {0: "user.", 1: "trusted.", 2: "security."}
XATTR_VALUE_OOL = 0x100

INODE_HEADER_SIZE = size_of(INODE_HEADER)  # 16
DIR_INDEX_SIZE = size_of(DIR_INDEX)        # 12
EXPORT_ENTRY_SIZE = size_of(EXPORT_ENTRY)  # 8


def encode(layout, values):
    """Pack a dict (or any mapping with every field) into bytes."""
    return struct.pack(layout[0],
                       *[values[name] for name in layout[1].split()])


def metadata_header(size, compressed):
    """The u16 header word that precedes a metadata block of `size` bytes."""
    if size <= 0 or size > METADATA_SIZE:
        raise ValueError("metadata block size %d out of range" % size)
    return size if compressed else size | METADATA_UNCOMPRESSED


def split_metadata_header(word):
    """(stored size, compressed?) from a metadata block header word."""
    return word & METADATA_SIZE_MASK, not (word & METADATA_UNCOMPRESSED)


def inode_ref(block, offset):
    """A 48-bit inode reference: metadata block (relative) and offset in it."""
    return (block << 16) | offset


def block_word(size, compressed):
    """The u32 data/fragment size word; size 0 (with compressed) = sparse."""
    return size if compressed else size | DATA_UNCOMPRESSED


def split_block_word(word):
    """(stored size, compressed?) from a data/fragment block size word."""
    return word & DATA_SIZE_MASK, not (word & DATA_UNCOMPRESSED)


def encode_rdev(major, minor):
    """Device number as stored in a dev inode (Linux new_encode_dev)."""
    return (minor & 0xFF) | ((major & 0xFFF) << 8) | ((minor & ~0xFF) << 12)
