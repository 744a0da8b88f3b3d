"""Bytes allocated per metadata block read, under MicroPython.

    micropython squashfs_meta_alloc.py [--in-place] IMAGE

Opens IMAGE through a file-backed source with readinto (as a chip behind
ovl.flash: its bytes are not on the heap), then reads every metadata block
of the inode and directory tables once (each a cache miss) and prints one
JSON line: {"blocks": n, "max": most bytes one read allocated (the packed
block is read into a kept buffer and inflated from there), "packed": the
largest packed block, "open": bytes the open allocated, "kept": heap the
open reader keeps, its code aside}.
--in-place: as in a heap with no room for a copy of the packed block
(squashfs_rare.inflate_into then reads it where it lies).
"""

import gc
import json
import sys

import micropython

from image_file_source import FileSource
from ovl.squashfs import SquashFS
# (its code, imported at the first compressed block, is no part of what
# the reader keeps: imported before counting; so for the open's module,
# which the open imports and releases: compiled from source here, its
# names stay interned, 4 KB and more)
from ovl import squashfs_rare   # noqa: F401
from ovl import squashfs_open   # noqa: F401

if "--in-place" in sys.argv:
    import inflate_in_place     # noqa: F401 (it patches ovl.compat ...)


src = FileSource(sys.argv[-1])
gc.collect()
k0 = gc.mem_alloc()
a0 = micropython.mem_total()
fs = SquashFS(src)
opened = micropython.mem_total() - a0
gc.collect()
kept = gc.mem_alloc() - k0
worst = 0
packed = 0
blocks = 0
for low, high in ((fs.inode_table_start, fs.directory_table_start),
                  (fs.directory_table_start, fs._dir_end)):
    pos = low
    while pos < high:
        size = int.from_bytes(fs._read(pos, 2), "little") & 0x7FFF
        packed = max(packed, size)
        gc.collect()
        a0 = micropython.mem_total()
        data, nxt = fs._meta_block(pos, low, high)
        used = micropython.mem_total() - a0
        worst = max(worst, used)
        blocks += 1
        pos = nxt
print(json.dumps({"blocks": blocks, "max": worst, "packed": packed,
                  "open": opened, "kept": kept}))
