"""The board job's lower reads (docs/FIT.md, "The board job") in a heap
with no free stretch of 8 KiB: /d00 and /d17 listed with their inodes,
/d17/f1217.txt read whole in 512-byte reads and a missing name looked up.

    micropython squashfs_small_heap.py IMAGE [HOLE]

After the imports the heap is filled with HOLE-byte pieces (default
3000) and every other one dropped, so plenty is free but nothing larger
than a piece fits (as in a board's heap that an upper index has cut up:
docs/FIT.md, "Fragmentation").  Prints "ok BYTES_READ METADATA_BUFFERS
FREE" (buffers: the 8 KiB metadata buffers the reader holds, in its cache
or free; FREE: bytes free after the cutting) or "MemoryError STEP FREE".
"""

import gc
import sys

from image_file_source import FileSource
from ovl.squashfs import SquashFS

hole = int(sys.argv[2]) if len(sys.argv) > 2 else 3000
source = FileSource(sys.argv[1])
gc.collect()
kept = []
try:
    while True:
        kept.append(bytearray(hole))
except MemoryError:
    pass
for i in range(0, len(kept), 2):
    kept[i] = None
gc.collect()
free = gc.mem_free()
step = "open"
try:
    fs = SquashFS(source)
    step = "list"
    for d in ("/d00", "/d17"):
        for _name, _entry in fs.readdir(fs.lookup(d)):
            pass
    step = "read"
    e = fs.lookup("/d17/f1217.txt")
    got = 0
    while got < e.size:
        got += len(fs.read(e, got, 512))
    step = "miss"
    try:
        fs.lookup("/d05/new.txt")
    except OSError:
        pass
    print("ok", got, len(fs._cache) + len(getattr(fs, "_free", ())), free)
except MemoryError:
    print("MemoryError", step, free)
