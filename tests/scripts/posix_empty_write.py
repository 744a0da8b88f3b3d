"""write(b"") changes nothing, as on Linux: not the size after a seek
past the end, not a firmware file's mtime (a zero-byte append made diff
list it).

Arguments: LOWER_DIR (with f).  Reports labelled results."""
import sys

from checklib import report
from ovl.dirlower import DirLower
from ovl.overlay import mount
from ovl.store import LogStore
from ovl_sim.simflash import SimFlash

flash = SimFlash(1 << 18, 4096, 256)
LogStore.format(flash)
fs = mount(DirLower(sys.argv[1]), flash, clock=lambda: 1000)
results = {}
with fs.open("/new", "wb") as f:
    f.write(b"abc")
    f.seek(10)
    results["write b'' past the end returns"] = f.write(b"")
    results["size while open"] = fs.stat("/new")[6]
results["size after close"] = fs.stat("/new")[6]
mtime = fs.stat("/f")[8]
with fs.open("/f", "ab") as f:
    f.write(b"")
results["firmware file's mtime kept"] = fs.stat("/f")[8] == mtime
results["changes"] = fs.diff()
report(results)
