"""Flash bytes a 1-byte edit of a 1 MiB lower file costs through the
overlay API: its nodes, and the same plus the entries they add to their
block's summary (programmed when the block closes, whichever write closes
it), from the store's counters.  The first edit copies the file and its
directory up and records the file's base; a second edit of it writes its
data and inode only.

Arguments: LOWER_DIR (holding lib/big.bin, 1 MiB).  Reports labelled
results (checklib)."""
import sys

from checklib import report
from ovl_sim.simflash import SimFlash
from ovl.store import LogStore
from ovl.dirlower import DirLower
from ovl.overlay import mount

MIB = 1 << 20

flash = SimFlash(MIB // 4, 4096, 256)
LogStore.format(flash)
fs = mount(DirLower(sys.argv[1]), flash)


def spent():
    c = fs.store.counters()
    return (c["bytes_programmed"] + c["summary_due"],
            c["bytes_programmed"] - c["bytes_summary"])


def edit(offset, byte):
    before = spent()
    with fs.open("/lib/big.bin", "r+b") as f:
        f.seek(offset)
        f.write(bytes([byte]))
    fs.sync()
    after = spent()
    return {"with summary": after[0] - before[0],
            "nodes": after[1] - before[1]}


results = {"first edit": edit(MIB // 2, 0xEE),
           "second edit": edit(MIB // 4, 0xDD)}
again = mount(DirLower(sys.argv[1]), flash)
with again.open("/lib/big.bin", "rb") as f:
    f.seek(MIB // 4)
    quarter = f.read(1)
    f.seek(MIB // 2 - 1)
    half = f.read(3)
results["bytes after remount"] = [quarter[0], half[0], half[1], half[2],
                                  again.stat("/lib/big.bin")[6]]
report(results)
