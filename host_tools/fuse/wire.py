"""The FUSE kernel protocol's wire format: the subset `ovl mount` speaks.

Every struct is host-endian ("=" formats), as the kernel writes them.  Field
layouts follow the Linux uapi header <linux/fuse.h>; docs/MOUNT.md lists
each one with its offsets.  Nothing here touches a file descriptor: the
server (server.py) reads one request per read(2) and writes one reply
per write(2), and tests drive the same bytes over a socketpair.
"""

import struct

# ----- opcodes -------------------------------------------------------------

LOOKUP = 1
FORGET = 2
GETATTR = 3
SETATTR = 4
READLINK = 5
SYMLINK = 6
MKNOD = 8
MKDIR = 9
UNLINK = 10
RMDIR = 11
RENAME = 12
LINK = 13
OPEN = 14
READ = 15
WRITE = 16
STATFS = 17
RELEASE = 18
FSYNC = 20
SETXATTR = 21
GETXATTR = 22
LISTXATTR = 23
REMOVEXATTR = 24
FLUSH = 25
INIT = 26
OPENDIR = 27
READDIR = 28
RELEASEDIR = 29
FSYNCDIR = 30
ACCESS = 34
CREATE = 35
INTERRUPT = 36
DESTROY = 38
BATCH_FORGET = 42
READDIRPLUS = 44
RENAME2 = 45

OPCODE_NAMES = {v: k for k, v in globals().items()
                if k.isupper() and isinstance(v, int)}

# ----- INIT ----------------------------------------------------------------

KERNEL_VERSION = 7
# The minor version ovl implements: the kernel then behaves as
# min(its minor, this) and sends and expects the struct sizes of 7.31.
KERNEL_MINOR = 31

INIT_ASYNC_READ = 1 << 0
INIT_ATOMIC_O_TRUNC = 1 << 3
INIT_BIG_WRITES = 1 << 5
INIT_DO_READDIRPLUS = 1 << 13
INIT_READDIRPLUS_AUTO = 1 << 14
INIT_MAX_PAGES = 1 << 22

# ----- reply flags and request bits ----------------------------------------

FOPEN_KEEP_CACHE = 1 << 1

FATTR_MODE = 1 << 0
FATTR_UID = 1 << 1
FATTR_GID = 1 << 2
FATTR_SIZE = 1 << 3
FATTR_ATIME = 1 << 4
FATTR_MTIME = 1 << 5
FATTR_FH = 1 << 6
FATTR_ATIME_NOW = 1 << 7
FATTR_MTIME_NOW = 1 << 8

FSYNC_FDATASYNC = 1 << 0

RENAME_NOREPLACE = 1 << 0
RENAME_EXCHANGE = 1 << 1

# ----- structs -------------------------------------------------------------

IN_HEADER = struct.Struct("=IIQQIIIHH")      # len opcode unique nodeid uid
#                                              gid pid total_extlen padding
OUT_HEADER = struct.Struct("=IiQ")           # len error unique
INIT_IN = struct.Struct("=IIII")             # major minor max_readahead flags
INIT_OUT = struct.Struct("=IIIIHHIIHHI28x")  # ... 64 bytes
ATTR = struct.Struct("=QQQQQQIIIIIIIIII")   # fuse_attr, 88 bytes
ENTRY_OUT = struct.Struct("=QQQQII")         # nodeid generation entry_valid
#                                              attr_valid, their nsecs; +attr
ATTR_OUT = struct.Struct("=QI4x")            # attr_valid nsec; + attr
OPEN_IN = struct.Struct("=II")               # flags open_flags
OPEN_OUT = struct.Struct("=QII")             # fh open_flags backing_id
READ_IN = struct.Struct("=QQIIQII")          # fh offset size read_flags
#                                              lock_owner flags padding
WRITE_IN = struct.Struct("=QQIIQII")         # fh offset size write_flags
#                                              lock_owner flags padding
WRITE_OUT = struct.Struct("=I4x")
RELEASE_IN = struct.Struct("=QIIQ")          # fh flags release_flags owner
FLUSH_IN = struct.Struct("=QIIQ")            # fh unused padding lock_owner
FSYNC_IN = struct.Struct("=QI4x")            # fh fsync_flags
GETATTR_IN = struct.Struct("=IIQ")          # flags dummy fh
SETATTR_IN = struct.Struct("=IIQQQQQQIIIIIIII")
#   valid padding fh size lock_owner atime mtime ctime atimensec mtimensec
#   ctimensec mode unused4 uid gid unused5
MKNOD_IN = struct.Struct("=IIII")            # mode rdev umask padding
MKDIR_IN = struct.Struct("=II")              # mode umask
CREATE_IN = struct.Struct("=IIII")           # flags mode umask open_flags
RENAME_IN = struct.Struct("=Q")              # newdir
RENAME2_IN = struct.Struct("=QII")           # newdir flags padding
LINK_IN = struct.Struct("=Q")                # oldnodeid
FORGET_IN = struct.Struct("=Q")              # nlookup
BATCH_FORGET_IN = struct.Struct("=II")       # count dummy
FORGET_ONE = struct.Struct("=QQ")            # nodeid nlookup
STATFS_OUT = struct.Struct("=QQQQQIII4x24x")  # blocks bfree bavail files
#                                               ffree bsize namelen frsize
DIRENT = struct.Struct("=QQII")              # ino off namelen type; + name

ROOT_ID = 1


class Request:
    """One decoded request: the header's fields and a view of the body."""

    __slots__ = ("opcode", "unique", "nodeid", "uid", "gid", "pid", "body")

    def __init__(self, raw):
        if len(raw) < IN_HEADER.size:
            raise ValueError("short FUSE request (%d bytes)" % len(raw))
        (length, self.opcode, self.unique, self.nodeid, self.uid, self.gid,
         self.pid, _ext, _pad) = IN_HEADER.unpack_from(raw, 0)
        if length != len(raw):
            raise ValueError("FUSE request says %d bytes, read %d"
                             % (length, len(raw)))
        self.body = memoryview(raw)[IN_HEADER.size:]

    def names(self, count, fixed=0):
        """count NUL-terminated names (bytes) after `fixed` body bytes."""
        parts = bytes(self.body[fixed:]).split(b"\0", count)
        if len(parts) <= count:
            raise ValueError("FUSE request lacks its names")
        return parts[:count]


def reply(unique, payload=b"", error=0):
    """One reply message: out header + payload (none for an error)."""
    if error:
        return OUT_HEADER.pack(OUT_HEADER.size, -error, unique)
    return OUT_HEADER.pack(OUT_HEADER.size + len(payload), 0, unique) + payload


def split_time(t):
    """(seconds, nanoseconds) of a float timeout."""
    sec = int(t)
    return sec, int((t - sec) * 1e9)


def pack_attr(ino, mode, nlink, uid, gid, size, atime, mtime, ctime, rdev,
              stored=None):
    """stored: the bytes the object holds (st_blocks counts them in
    512-byte units); default its size."""
    blocks = ((size if stored is None else stored) + 511) // 512
    return ATTR.pack(ino, size, blocks, atime & 0xFFFFFFFFFFFFFFFF,
                     mtime & 0xFFFFFFFFFFFFFFFF, ctime & 0xFFFFFFFFFFFFFFFF,
                     0, 0, 0, mode, nlink, uid, gid, rdev, 4096, 0)


def pack_attr_out(attr, valid):
    sec, nsec = split_time(valid)
    return ATTR_OUT.pack(sec, nsec) + attr


def pack_entry_out(nodeid, generation, attr, entry_valid, attr_valid):
    es, ens = split_time(entry_valid)
    as_, ans = split_time(attr_valid)
    return ENTRY_OUT.pack(nodeid, generation, es, as_, ens, ans) + attr


def pack_dirent(ino, next_off, name, kind):
    """One dirent, padded to 8 bytes; kind is the S_IFMT bits >> 12."""
    raw = DIRENT.pack(ino, next_off, len(name), kind) + name
    return raw + b"\0" * (-len(raw) % 8)


def pack_direntplus(entry_out, ino, next_off, name, kind):
    """entry_out (128 bytes, node id 0 = no attributes) + a dirent."""
    return entry_out + pack_dirent(ino, next_off, name, kind)


def unpack_attr(raw):
    """The fields of a packed fuse_attr as a dict (tests and tools)."""
    f = ATTR.unpack_from(raw, 0)
    keys = ("ino", "size", "blocks", "atime", "mtime", "ctime", "atimensec",
            "mtimensec", "ctimensec", "mode", "nlink", "uid", "gid", "rdev",
            "blksize", "flags")
    return dict(zip(keys, f))
