"""statvfs and the refusal before collecting, on a store below its
two-block reserve (docs/STORE.md, "What statvfs says"): a 64 KiB NOR
store filled with 3,500-byte files, chmods until one took a reserve
block (removals, renames, truncations and chmods may), one file removed.
The dead bytes GC would free first refill the reserve, so they are not
space for a new file.  Labels -> values (see tests/test_statvfs.py).

Runs under CPython and MicroPython.  Argument: LOWER_DIR.
"""
import sys

import checklib
from ovl import compat
from ovl_sim.simflash import SimFlash
from ovl.store import LogStore
from ovl.dirlower import DirLower
from ovl.overlay import mount

LOWER = sys.argv[1]
FILE = 3500


def fits(fs, path, size):
    """Whether a new file of size bytes is written (ENOSPC: it is not)."""
    try:
        fs.write_bytes(path, b"p" * size)
    except OSError as e:
        if compat.error_code(e) != compat.ENOSPC:
            raise
        return False
    return True


flash = SimFlash(64 * 1024, 4096, 256, "nor")
LogStore.format(flash)
fs = mount(DirLower(LOWER), flash)
n = 0
while fits(fs, "/f%d" % n, FILE):
    n += 1
i = 0
while fs.store.counters()["blocks_free"] > 1:
    fs.chmod("/f%d" % (i % n), 0o600 + i % 64)
    i += 1
fs.remove("/f0")
snap = flash.snapshot()
c = fs.store.counters()
sv = fs.statvfs("/")
avail = sv[0] * sv[4]
res = {"files, chmods": [n, i],
       "free blocks": c["blocks_free"],
       "free_bytes": c["bytes_free"],
       "statvfs avail": avail,
       "avail fits": fits(fs, "/probe", avail)}
# a file larger than the open block's room: only GC could make room,
# and what it frees goes to the reserve first
flash.restore(snap)
fs = mount(DirLower(LOWER), flash)
before = fs.store.counters()
refused = not fits(fs, "/probe", 4000)
after = fs.store.counters()
res["4000 B refused"] = refused
res["erases, gc runs, programmed, refusals"] = [
    after[k] - before[k] for k in ("erases", "gc_runs", "bytes_programmed",
                                   "gc_refused")]
res["fsck"] = fs.fsck()
checklib.report(res)
