"""A handle whose file went since it was opened (a rename over its name,
a remove) answers ESTALE to a write and to a read: the upper keeps no
unlinked inode for it, as Linux would until the last close
(docs/OVERLAY.md, errno table).  The file that took its name keeps its
own bytes, and the upper checks clean.

Arguments: LOWER_DIR.  Reports labelled results."""
import sys

from checklib import errno_outcome, report
from ovl_sim.simflash import SimFlash
from ovl.store import LogStore
from ovl.dirlower import DirLower
from ovl.overlay import mount

flash = SimFlash(1 << 18, 4096, 256)
LogStore.format(flash)
fs = mount(DirLower(sys.argv[1]), flash)
results = {}
for how in ("renamed over", "removed"):
    fs.write_bytes("/a", b"old")
    fs.write_bytes("/b", b"new")
    f = fs.open("/a", "r+b")
    f.write(b"1")           # pending in the handle's buffer
    if how == "renamed over":
        fs.rename("/b", "/a")
    else:
        fs.remove("/a")
    results[how + ": write"] = errno_outcome(f.write, b"2")
    f.seek(0)
    results[how + ": read"] = errno_outcome(f.read)
    results[how + ": close"] = errno_outcome(f.close)
    results[how + ": /a"] = fs.read_bytes("/a").decode() \
        if fs.exists("/a") else None
    fs.write_bytes("/b", b"")
    fs.remove("/b")
    if fs.exists("/a"):
        fs.remove("/a")
results["fsck"] = fs.fsck()
report(results)
