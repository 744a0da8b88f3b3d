"""What the lower's metadata cache costs a listing, a lookup and a walk:
metadata blocks inflated, image bytes read and source reads, on either
runtime.

    python|micropython squashfs_listing_cost.py IMAGE DIR FILE [CACHE_BLOCKS]

Prints one JSON line: {op: [metadata blocks inflated, bytes read,
reads]} for
"readdir" (DIR's names and each child's inode, as the overlay lists it),
"listdir" (DIR's names alone), "lookup" (FILE's lookup, then reading it
whole), "again" (the same lookup and read a second time) and "walk" (every
entry of the image), each from a fresh open; "open" is the open itself.
"""

import json
import sys

from image_file_source import FileSource
from ovl.squashfs import SquashFS
from ovl import squashfs_walk


class CountingSource(FileSource):
    def __init__(self, path):
        FileSource.__init__(self, path)
        self.bytes_read = 0
        self.reads = 0

    def readinto(self, addr, buf):
        self.bytes_read += len(buf)
        self.reads += 1
        FileSource.readinto(self, addr, buf)

    def read(self, addr, n):
        self.bytes_read += n
        self.reads += 1
        return FileSource.read(self, addr, n)


def counted(fs):
    """Count fs's metadata-block misses (the cache's inflates or raw reads)."""
    meta_block = fs._meta_block
    fs.misses = 0

    def wrapper(pos, low, high, *word):
        cache = fs._cache
        for item in cache:
            if item[0] == pos:
                break
        else:
            fs.misses += 1
        return meta_block(pos, low, high, *word)
    fs._meta_block = wrapper
    return fs


def opened():
    args = [int(sys.argv[4])] if len(sys.argv) > 4 else []
    src = CountingSource(sys.argv[1])
    return counted(SquashFS(src, *args)), src


def cost(op):
    fs, src = opened()
    fs.misses = 0
    src.bytes_read = src.reads = 0
    op(fs)
    return [fs.misses, src.bytes_read, src.reads]


def readdir(fs):
    for _name, _entry in fs.readdir(fs.lookup(sys.argv[2])):
        pass


def listdir(fs):
    for _name in squashfs_walk.listdir(fs, fs.lookup(sys.argv[2])):
        pass


def lookup(fs):
    e = fs.lookup(sys.argv[3])
    fs.read(e, 0, e.size)


def again(fs):
    lookup(fs)
    fs.misses = 0
    fs.source.bytes_read = fs.source.reads = 0
    lookup(fs)


def walk(fs):
    for _path, _entry in squashfs_walk.walk(fs, "/"):
        pass


fs, src = opened()
out = {"open": [fs.misses, src.bytes_read, src.reads]}
for name, op in (("readdir", readdir), ("listdir", listdir),
                 ("lookup", lookup), ("again", again), ("walk", walk)):
    out[name] = cost(op)
print(json.dumps(out))
