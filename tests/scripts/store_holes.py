"""The log store writing files through a heap cut into small holes, under
MicroPython (tests/test_store_write_holes.py, docs/STORE.md "Writing").

    micropython store_holes.py CHIP_FILE HOLE_BYTES

The chip is store_chip.py's (1 MiB NOR in a file, off the heap, 4 KiB
erase blocks).  WARM files of 100-300 bytes go into 10 directories
through the store's API, one transaction each (the store's buffers reach
their size, the index its rows for what follows).  Then the free heap is
cut into holes: objects of HOLE_BYTES fill it, small ones fill what is
left, and every other filler is freed, so no free stretch is much larger
than HOLE_BYTES.  Then FILES more files are written into the holes, and
the store is mounted again from flash and each file read back.  Prints
one JSON line: {"written": files written before a MemoryError (FILES when
none), "error", "holes": free stretches cut, "read": files read back}.
"""
import gc
import json
import sys

from ovl.store import LogStore
from store_chip import FileFlash, data_for, make_dirs

CHIP = sys.argv[-2]
HOLE = int(sys.argv[-1])
DIRS = 10
WARM = 150
FILES = 60


def new_file(store, parent, i):
    t = store.begin()
    ino = t.new_ino()
    t.put_inode(ino, mode=0o100644, mtime=i, ctime=i)
    t.link(parent, "file%04d.txt" % i, ino)
    t.write(ino, 0, data_for(i))
    t.commit()
    return ino


def cut_heap(fillers, small):
    """Fill the free heap with HOLE-byte objects, then with small ones,
    then free every other big one: holes of HOLE bytes between live
    objects (the lists were made at their full length)."""
    n = k = 0
    try:
        while n < len(fillers):
            fillers[n] = bytearray(HOLE)
            n += 1
        while k < len(small):
            small[k] = bytearray(8)
            k += 1
    except MemoryError:
        pass
    try:
        while k < len(small):
            small[k] = bytearray(8)
            k += 1
    except MemoryError:
        pass
    for i in range(0, n, 2):
        fillers[i] = None
    gc.collect()
    return (n + 1) // 2


def main():
    # the lists that hold the fillers, made first: later the heap has no
    # stretch that long
    fillers = [None] * 2048
    small = [None] * 8192
    store = LogStore.format(FileFlash(CHIP))
    store.checkpoints = False
    dirs = make_dirs(store, DIRS)
    inos = [new_file(store, dirs[i % DIRS], i) for i in range(WARM)]
    inos.extend([0] * FILES)
    out = {"written": 0, "error": None}
    out["holes"] = cut_heap(fillers, small)
    try:
        for i in range(WARM, WARM + FILES):
            inos[i] = new_file(store, dirs[i % DIRS], i)
            out["written"] += 1
    except MemoryError as e:
        out["error"] = "MemoryError: %s" % e
    fillers = small = None
    gc.collect()
    store.sync()
    store = LogStore.mount(FileFlash(CHIP))
    n = 0
    for i in range(WARM + out["written"]):
        got = b"".join(p[2] for p in store.read(inos[i], 0, 400))
        if got == data_for(i):
            n += 1
    out["read"] = n
    print(json.dumps(out))


main()
