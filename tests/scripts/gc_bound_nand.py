# The GC bound on NAND, measured as docs/STORE.md ("Bounded GC near full")
# defines it: a store on a NAND SimFlash (args: size, erase size, page
# size) is filled with files of 100-4,000 B to FILL% of its free bytes
# (seed: FILL), then takes OPS rewrites (100-4,000 B) and appends
# (10-400 B) through the store API, a file deleted at each ENOSPC.  A byte
# written is a byte of log a write takes: what it programs, and its
# commit's padding to the page end; GC's cost is what it copies, and its
# own commits' padding.  Figures go to stderr.
import sys

import checklib
from ovl import compat
from ovl.store import LogStore
from ovl_sim.simflash import SimFlash, Xorshift

size, erase_size, page_size, fill, ops = [int(a) for a in sys.argv[1:6]]


def enospc(txn):
    try:
        txn.commit()
    except OSError as e:
        if compat.error_code(e) != compat.ENOSPC:
            raise
        txn.abort()
        return True
    return False


store = LogStore.format(SimFlash(size, erase_size, page_size, kind="nand"))
rng = Xorshift(fill)
target = store.free_bytes() * fill // 100
files = []
while store.counters()["bytes_in_use"] < target:
    name = "f%d" % len(files)
    ino = checklib.create_file(store, name, bytes([len(files) & 255]) *
                               (100 + rng.below(3900)))
    files.append((name, ino))
stats = store.stats
before = dict(stats)
refused = 0
for i in range(ops):
    ino = files[rng.below(len(files))][1]
    txn = store.begin()
    if rng.below(2):
        txn.truncate(ino, 0)
        txn.write(ino, 0, bytes([i & 255]) * (100 + rng.below(3900)))
    else:
        txn.write(ino, store.get(ino).size,
                  bytes([i & 255]) * (10 + rng.below(400)))
    if enospc(txn):
        refused += 1
        # what fails for space frees some: a file is deleted
        name, victim = files.pop(rng.below(len(files)))
        txn = store.begin()
        txn.unlink(1, name)
        txn.delete_inode(victim)
        txn.commit()


def grew(key):
    return stats[key] - before[key]


copied = grew("gc_copied_bytes")
gc_log = copied + grew("gc_padded_bytes")
written = grew("bytes_programmed") - copied + \
    grew("bytes_padded") - grew("gc_padded_bytes")
erases = grew("erases")
bank = 2 * erase_size     # dead bytes the fill left may pay for some copies
programmed = grew("bytes_programmed") - copied    # padding left out
print(size, erase_size, page_size, fill, "gc log bytes", gc_log,
      "written", written, "ratio %.2f" % (gc_log / written),
      "copied per byte programmed %.2f" % (copied / programmed),
      "erases", erases, "refused", refused, file=sys.stderr)
checklib.report({
    "gc log bytes <= 3 x log bytes written": gc_log <= 3 * written + bank,
    "erases <= KiB of log written": erases <= written // 1024 + 2,
    "most writes went through": refused < ops // 10,
    "fsck errors": store.fsck()["errors"],
})
