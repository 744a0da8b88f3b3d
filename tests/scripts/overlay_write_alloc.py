"""What writing one small file through the VFS allocates, under
MicroPython (tests/test_store_write_heap.py, docs/FIT.md "The write
path's heap").

    micropython overlay_write_alloc.py CHIP_FILE LOWER_DIR

The board job's write in small: an overlay over a directory lower
(ovl.dirlower) and store_chip.py's chip, mounted with vfs.mount at /fw;
8 directories, 40 files of 100-300 bytes (open, write, close each), then
20 more, each measured with micropython.mem_total() (bytes allocated,
freed at once or not: frames too).  Prints one JSON line: "mean" and
"most" bytes a file, and "cached": the files whose extent maps and the
inodes whose attributes the store holds after the writes.
"""
import gc
import json
import os
import sys
import vfs

import micropython

from ovl.dirlower import DirLower
from ovl.overlay import mount
from ovl.store import LogStore
from ovl.vfs import OvlVfs
from store_chip import FileFlash, data_for

DIRS, WARM, FILES = 8, 40, 20

chip = FileFlash(sys.argv[-2])
LogStore.format(chip)
fs = mount(DirLower(sys.argv[-1]), chip, checkpoints=False)
vfs.mount(OvlVfs(fs), "/fw")
for d in range(DIRS):
    os.mkdir("/fw/u%d" % d)
paths = ["/fw/u%d/n%04d" % (i % DIRS, i) for i in range(WARM + FILES)]
datas = [data_for(i) for i in range(WARM + FILES)]


def write(i):
    with open(paths[i], "wb") as f:
        f.write(datas[i])


for i in range(WARM):
    write(i)
most = total = 0
for i in range(WARM, WARM + FILES):
    gc.collect()
    a = micropython.mem_total()
    write(i)
    n = micropython.mem_total() - a
    total += n
    most = max(most, n)
store = fs.store
print(json.dumps({"mean": total // FILES, "most": most,
                  "cached": [len(store.loaded), len(store.inode_lru)]}))
vfs.umount("/fw")
