"""SquashFS 4.0 on-disk layout: the one place its bytes are declared.

Every structure is a `(FORMAT, FIELDS)` pair: a little-endian struct format
and the field names in on-disk order (the kernel's names, from
fs/squashfs/squashfs_fs.h), space-separated in one string: a board keeps
the string's text in flash (ROMFS, frozen), where a tuple of names would
intern each name on the heap.  The image builder (host_tools/image/mkimage.py)
imports these; docs/SQUASHFS.md describes the same layouts in prose.  The
reader (ovl.squashfs) keeps what it reads of them as private consts and
inline formats of its own (`_METADATA_SIZE` is METADATA_SIZE), so a board
never imports this module (about 5 KB of heap from ROMFS, 7 KB from .mpy);
tests/test_squashfs_layout.py checks that each copy equals the declaration
here.  Inode layouts cover only the bytes after the 16-byte
common header (INODE_HEADER), because every reader first needs the header to
learn which kind follows.

What only a writer needs (superblock flags, the compressor-options, export
and xattr layouts, encode and the other encoders, decode and size_of)
lives in ovl.squashfs_writer_format, imported when a caller first names
one of its names here (module __getattr__ below).  What only the reader
needs (the extended-inode offset, the size word's reserved bits) is
ovl.squashfs's, as private consts.
"""

import struct

from ovl import paths


def __getattr__(name):
    # FLAG_NOI, encode and the rest of what only a writer needs
    if name.startswith("__"):
        raise AttributeError(name)
    from ovl import squashfs_writer_format
    return getattr(squashfs_writer_format, name)


MAGIC = 0x73717368          # "hsqs" on disk
VERSION_MAJOR = 4
VERSION_MINOR = 0

METADATA_SIZE = 8192        # uncompressed size of every metadata block but the last
METADATA_UNCOMPRESSED = 0x8000   # metadata header bit: block stored raw
METADATA_SIZE_MASK = 0x7FFF

DATA_UNCOMPRESSED = 1 << 24      # data/fragment size word bit: block stored raw
DATA_SIZE_MASK = 0xFFFFFF

MIN_BLOCK_LOG = 12               # 4 KiB
MAX_BLOCK_LOG = 20               # 1 MiB

FRAGMENT_NONE = 0xFFFFFFFF       # inode fragment index when the file has none
TABLE_ABSENT = 0xFFFFFFFFFFFFFFFF  # superblock offset of a table not present

DIR_RUN_MAX = 256                # entries per directory run (count field is n-1)
DIR_SIZE_EXTRA = 3               # dir file_size = listing bytes + 3 ("." and "..")
NAME_MAX = 256                   # longest name the format (and kernel) allows

# Compressor ids (kernel values; some third-party specs swap 2 and 3);
# lzo (3), lz4 (5) and zstd (6) are only named, in COMPRESSION_NAMES.
COMP_ZLIB = 1
COMP_LZMA = 2
COMP_XZ = 4
# Their names, indexed by id (a tuple: a dict's entries cost a board's heap
# at import, the tuple's strings stay in flash).
COMPRESSION_NAMES = (None, "gzip", "lzma", "lzo", "xz", "lz4", "zstd")

# Inode types the reader names.  Extended kinds are the basic kind + 7: the
# writer's names for the others (FIFO_TYPE 6, SOCKET_TYPE 7, LDIR_TYPE 8,
# LREG_TYPE 9) are ovl.squashfs_writer_format's.
DIR_TYPE = 1
REG_TYPE = 2
SYMLINK_TYPE = 3
BLKDEV_TYPE = 4
CHRDEV_TYPE = 5

# POSIX file-type bits (st_mode & S_IFMT, from ovl.paths) of each basic
# inode type, indexed by type (0 is no type).
TYPE_TO_S_IF = (0, paths.S_IFDIR, paths.S_IFREG, paths.S_IFLNK,
                paths.S_IFBLK, paths.S_IFCHR, paths.S_IFIFO, paths.S_IFSOCK)
PERMISSION_MASK = 0o7777         # inode mode keeps only these bits


# --- Structures: (struct format, field names in on-disk order) -------------

SUPERBLOCK = (
    "<IIIIIHHHHHHQQQQQQQQ",
    "s_magic inodes mkfs_time block_size fragments compression block_log "
    "flags no_ids s_major s_minor root_inode bytes_used id_table_start "
    "xattr_id_table_start inode_table_start directory_table_start "
    "fragment_table_start lookup_table_start")

INODE_HEADER = ("<HHHHII", "inode_type mode uid guid mtime inode_number")

def _inode_bodies():
    # Bodies after INODE_HEADER, indexed by inode type (0 is no type).  A
    # tuple, where a dict's entries would cost a board's heap at import,
    # built here: locals keep no global each, as module-level names would.
    # The writer's names for them (BASIC_DIR ...) are
    # ovl.squashfs_writer_format's.
    basic_dev = ("<II", "nlink rdev")
    basic_ipc = ("<I", "nlink")
    # (basic and extended) then the target bytes; extended: then
    # SYMLINK_XATTR
    symlink = ("<II", "nlink symlink_size")
    ext_dev = ("<III", "nlink rdev xattr")
    ext_ipc = ("<II", "nlink xattr")
    return (
        None,
        ("<IIHHI", "start_block nlink file_size offset parent_inode"),
        # both files' bodies are followed by the u32 block list
        ("<IIII", "start_block fragment offset file_size"),
        symlink, basic_dev, basic_dev, basic_ipc, basic_ipc,
        # then i_count DIR_INDEX entries
        ("<IIIIHHI", "nlink file_size start_block parent_inode i_count "
         "offset xattr"),
        ("<QQQIIII", "start_block file_size sparse nlink fragment offset "
         "xattr"),
        symlink, ext_dev, ext_dev, ext_ipc, ext_ipc)


INODE_BODY = _inode_bodies()
del _inode_bodies       # run once: a board keeps no function object for it

# Directory table: a listing is runs of DIR_HEADER + (count+1) DIR_ENTRY+name.
DIR_HEADER = ("<III", "count start_block inode_number")
DIR_ENTRY = ("<HhHH", "offset inode_number type size")
# Extended-dir index entry (follows an EXT_DIR inode), then size+1 name bytes.
DIR_INDEX = ("<III", "index start_block size")

FRAGMENT_ENTRY = ("<QII", "start_block size unused")
ID_ENTRY = ("<I", "id")
# An image of `ovl mkimage` whose metadata is stored raw (a board's lower
# with "lower_metadata": "raw", or --comp none) ends its id table
# with one entry no inode names: the CRC-32 of every byte between the
# superblock and the id table's first block (data, inode, directory and
# fragment tables), so that identity(), which hashes the image's last bytes
# but only 4 bytes of each raw metadata block, sees any change to them
# (docs/SQUASHFS.md, "Identity").  no_ids counts it; readers ignore it.


SUPERBLOCK_SIZE = struct.calcsize(SUPERBLOCK[0])      # 96
DIR_HEADER_SIZE = struct.calcsize(DIR_HEADER[0])      # 12
DIR_ENTRY_SIZE = struct.calcsize(DIR_ENTRY[0])        # 8
