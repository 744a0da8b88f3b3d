"""Walk a SquashFS image as tests/test_squashfs_mpy.py compares it: one
JSON line per entry [path, mode, uid, gid, mtime, size (None for a
directory), nlink, rdev, sha256 of the data read in 1000-byte steps or
the link target], then ["identity", ...].  An image this runtime cannot
decompress prints ["unsupported", message] alone.

Arguments: IMAGE CACHE_BLOCKS.
"""
import binascii
import hashlib
import json
import sys

from ovl.flash import BytesSource
from ovl.paths import S_IFMT, S_IFDIR, S_IFLNK, S_IFREG
from ovl.squashfs import SquashFS, UnsupportedCompressorError
from ovl import squashfs_walk

f = open(sys.argv[1], "rb")
try:
    fs = SquashFS(BytesSource(f), cache_blocks=int(sys.argv[2]))
except UnsupportedCompressorError as e:
    print(json.dumps(["unsupported", str(e)]))
    sys.exit(0)
for path, e in squashfs_walk.walk(fs, "/"):
    kind = e.mode & S_IFMT
    payload = None
    size = e.size
    if kind == S_IFREG:
        h = hashlib.sha256()
        off = 0
        while off < e.size:
            h.update(fs.read(e, off, 1000))
            off += 1000
        payload = binascii.hexlify(h.digest()).decode()
    elif kind == S_IFLNK:
        payload = fs.readlink(e)
    elif kind == S_IFDIR:
        size = None
    print(json.dumps([path, e.mode, e.uid, e.gid, e.mtime, size, e.nlink,
                      e.rdev, payload]))
print(json.dumps(["identity", fs.identity()]))
