"""DirLower over a directory holding names that are not UTF-8 (argv[1]:
ok, d\\xfe/in, sub/bad\\xff, sub/good): the overlay mounts on it and lists
it on both runtimes.  CPython lists such names decoded with
surrogateescape; MicroPython has none, so there they are left out.
Reports labelled results."""
import sys

from checklib import outcome, report
from ovl.dirlower import DirLower
from ovl.store import LogStore
from ovl.overlay import mount
from ovl_sim.simflash import SimFlash

lower = DirLower(sys.argv[1])
out = {}
out["lower root"] = [n for n, e in lower.readdir(lower.lookup("/"))]
out["lower sub"] = [n for n, e in lower.readdir(lower.lookup("/sub"))]
out["identity"] = outcome(lower.identity)
flash = SimFlash(1 << 18, 4096, 256)
LogStore.format(flash)
out["mount"] = outcome(mount, lower, flash)
fs = mount(lower, flash)
out["root"] = fs.listdir("/")
# /sub gets an upper copy beside the name it cannot list
fs.write_bytes("/sub/new", b"new\n")
out["sub after a write"] = fs.listdir("/sub")
out["read /sub/good"] = fs.read_bytes("/sub/good").decode()
again = mount(lower, flash)
out["sub after remount"] = again.listdir("/sub")
out["fsck"] = again.fsck()
report(out)
