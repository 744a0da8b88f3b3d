"""Bytes allocated per data or fragment block read, under MicroPython.

    micropython squashfs_data_alloc.py [--in-place] IMAGE

Opens IMAGE through a file-backed source with readinto (as a chip behind
ovl.flash: its bytes are not on the heap), then reads every regular file
one block-sized piece at a time (after one first read), each from a new
stream (each read reaches its block's end, which drops the stream), and
prints one JSON line: {"reads": n, "max": most bytes one read allocated
besides the bytes it returned (the packed block is inflated as a stream
from the source: compat.inflate_stream), "packed": the largest packed
block, "open": bytes the open allocated, "block_size": the image's}.
--in-place: as in a heap with no room for a copy of a packed metadata
block (squashfs_rare.inflate_into then reads it where it lies).
"""

import gc
import json
import sys

import micropython

from image_file_source import FileSource
from ovl.squashfs import SquashFS

if "--in-place" in sys.argv:
    import inflate_in_place     # noqa: F401 (it patches ovl.compat)
from ovl import squashfs_walk


gc.collect()
a0 = micropython.mem_total()
fs = SquashFS(FileSource(sys.argv[-1]))
opened = micropython.mem_total() - a0
bs = fs.block_size
files = [e for _, e in squashfs_walk.walk(fs, "/") if e.mode & 0o170000 == 0o100000]
fs.read(files[0], 0, 1)     # a first block read
worst = 0
packed = 0
reads = 0
for e in files:
    loc = e.loc
    for index in range((e.size + bs - 1) // bs):
        if index < loc.nblocks:
            word = fs._block_words(loc, index, 1)[0]
        else:
            word = fs._fragment(loc.fragment)[1]
        stored = word & 0xFFFFFF
        packed = max(packed, stored)
        fs._stream = None       # a new stream (were one left)
        gc.collect()
        a0 = micropython.mem_total()
        got = fs.read(e, index * bs, bs)
        used = micropython.mem_total() - a0 - len(got)
        worst = max(worst, used)
        reads += 1
print(json.dumps({"reads": reads, "max": worst, "packed": packed,
                  "open": opened, "block_size": bs}))
