"""What a power cut leaves of a file being rewritten while other calls
only look at the tree (stat, lstat, listdir, open and read of another
file, a second handle reading it): labelled results (tests/test_overlay.py
checks each label on both runtimes).  None of them is a commit point of
the file (docs/OVERLAY.md, "Transactions and the write-back rule").

Arguments: LOWER_DIR (holding etc/config and etc/other).
"""
import sys

from checklib import report
from ovl.dirlower import DirLower
from ovl.store import LogStore
from ovl.overlay import mount
from ovl_sim.simflash import SimFlash

lower = DirLower(sys.argv[1])
flash = SimFlash(1 << 18, 4096, 256)
LogStore.format(flash)
ticks = [100]
fs = mount(lower, flash, clock=lambda: ticks[0])


# the chip a cut leaves, made once: 256 KiB made again at each cut need
# a hole that large in micropython's heap, which the overlay's write half,
# imported at the first write, may have split
chip = SimFlash(1 << 18, 4096, 256)


def after_cut():
    """The overlay as a power cut now would leave it."""
    chip.mem[:] = flash.mem
    return mount(lower, chip)


out = {}
f = fs.open("/etc/config", "w")     # a rewrite: O_TRUNC, copied up first
ticks[0] = 200
f.write("rewritten, not committed")
st = fs.lstat("/etc/config")
out["its stat: pending size and time"] = [st.st_size, st.st_mtime,
                                          st.st_ctime]
fs.stat("/etc/other")
out["listdir"] = fs.listdir("/etc")
with fs.open("/etc/other") as g:
    out["another file read"] = g.read()
with fs.open("/etc/config") as g:
    out["a second handle reads the pending bytes"] = g.read()
out["after a cut"] = after_cut().read_bytes("/etc/config").decode()
f.close()
out["after its close"] = after_cut().read_bytes("/etc/config").decode()
# a file open() creates has no name in the tree before its first commit:
# a look at the tree commits its creation (what it wrote so far)
g = fs.open("/etc/new", "w")
g.write("abc")
out["a created file found"] = fs.stat("/etc/new").st_size
out["its creation committed"] = after_cut().read_bytes("/etc/new").decode()
g.close()
report(out)
