"""Where a mount leaves the store's index on the heap, under MicroPython
(tests/test_store_mount_layout.py, docs/STORE.md "Mount").

    micropython store_mount_layout.py CHIP_FILE PRESIZE

Writes FILES files into DIRS directories through the store's API (the
chip: store_chip.py's), then mounts the store again from flash, with the
index laid out before pass 2 (PRESIZE 1) or, PRESIZE 0, grown insert by
insert as before (the mount module's _presize replaced by a no-op).
MicroPython's id() is an object's address: a table's chunks allocated
one after another, nothing between them, sit at a constant step (an
array's header, then its items).  Prints one JSON line: for the entry
rows and the inode pages, the chunks and the runs of them at that step.
"""
import gc
import json
import sys

from ovl.store import LogStore
from ovl.store import mount as mount_module
from store_chip import FileFlash, make_dirs, write_files

CHIP = sys.argv[-2]
PRESIZE = sys.argv[-1] == "1"
DIRS = 3
FILES = 400


def runs(chunks):
    """The runs of consecutive chunks at the step of the first two: 1
    when the table's chunks lie in one piece."""
    chunks = [c for c in chunks if c is not None]
    if len(chunks) < 2:
        return len(chunks)
    step = id(chunks[1]) - id(chunks[0])
    n = 1
    for i in range(1, len(chunks)):
        if id(chunks[i]) - id(chunks[i - 1]) != step:
            n += 1
    return n


def main():
    store = LogStore.format(FileFlash(CHIP))
    store.checkpoints = False
    dirs = make_dirs(store, DIRS)
    write_files(store, dirs, FILES)
    store.sync()
    store = None
    if not PRESIZE:
        mount_module._presize = lambda *args: None
    gc.collect()
    store = LogStore.mount(FileFlash(CHIP), checkpoints=False)
    ents, inodes = store.entries, store.inodes
    print(json.dumps({"rows": ents.count, "entry_chunks": len(ents.chunks),
                      "entry_runs": runs(ents.chunks),
                      "inodes": len(inodes),
                      "inode_pages": len(inodes.chunks) - inodes.holes,
                      "inode_runs": runs(inodes.chunks)}))


main()
