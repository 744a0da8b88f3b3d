"""Heap of the log store under MicroPython: kept after a mount and the
peak during it (tests/test_store_ram.py, docs/STORE.md "RAM").

Arguments: CHIP_FILE FILES [checkpoints].  Without "checkpoints" the store
is written and mounted as the MCU boards run it (no checkpoint: the mount
scans); with it, the last sync writes a checkpoint and the mount loads
it.  The chip is store_chip.py's (1 MiB NOR in a file, off the GC heap,
as on a device).  FILES files of 100-300 bytes are written
through the store's API into 10 directories, then the store is mounted
again.  Heap figures are gc.mem_alloc() after gc.collect(), above what
was allocated just before the mount; the peak is sampled (with a
collection) at every flash read and every node the mount indexes.
Prints one JSON line: {"files", "kept", "peak", "mount_read"}.
"""
import gc
import json
import sys

from ovl.store import LogStore
from store_chip import FileFlash, make_dirs, write_files

CKPT = sys.argv[-1] == "checkpoints"
if CKPT:
    sys.argv.pop()
CHIP = sys.argv[-2]
FILES = int(sys.argv[-1])
DIRS = 10


def fill(chip):
    store = LogStore.format(chip)
    store.checkpoints = CKPT
    dirs = make_dirs(store, DIRS)
    write_files(store, dirs, FILES)
    store.sync()


PEAK = [0]
BASE = [0]


def probe():
    gc.collect()
    used = gc.mem_alloc() - BASE[0]
    if used > PEAK[0]:
        PEAK[0] = used


class ProbedStore(LogStore):
    """The store, sampling the heap at every node it indexes."""

    def _index(self, nd):
        if self.mounting:
            probe()
        LogStore._index(self, nd)


chip = FileFlash(CHIP)
fill(chip)
chip.probe = None
# The mount's code (ovl.store.mount) is imported for the mount and
# released after it (ovl.store._release): its heap is the code's,
# measured apart (tests/test_store_code_release.py, `python -m
# host_tools.bench.fit --code`).  Loaded here, before the base, it stays
# through the mount, so these figures are the store's data (and so is
# the checkpoint code, loaded by the first sync before as it was).
from ovl.store import mount, checkpoint, checkpoint_write  # noqa: E402,F401
gc.collect()
BASE[0] = gc.mem_alloc()
chip.probe = probe
store = ProbedStore.mount(chip, checkpoints=CKPT)
chip.probe = None
gc.collect()
kept = gc.mem_alloc() - BASE[0]
c = store.counters()
assert bool(c.get("mount_checkpoint")) == (CKPT and FILES > 0), c
assert c["inodes"] == FILES + DIRS + 1, c["inodes"]
print(json.dumps({"files": FILES, "kept": kept, "peak": max(PEAK[0], kept),
                  "mount_read": c["mount_bytes_read"]}))
