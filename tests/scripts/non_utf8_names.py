"""A name that is not UTF-8, made or renamed to in a directory that
already has an upper copy, is refused with EINVAL (an OSError: it was a
UnicodeEncodeError from the store's lookup) and writes nothing.  Through
OvlVfs with bytes paths on both runtimes (MicroPython's VFS refuses such
bytes itself, CPython's hands the overlay a surrogateescape name), and on
CPython through the overlay API with such a name too (a MicroPython str
holds UTF-8 only).

Arguments: LOWER_DIR (holding etc/a and, on CPython, nu/bad\xff).  Reports labelled results."""
import sys

from checklib import errno_outcome, report
from ovl import compat
from ovl_sim.simflash import SimFlash
from ovl.store import LogStore
from ovl.dirlower import DirLower
from ovl.overlay import mount
from ovl.vfs import OvlVfs

flash = SimFlash(1 << 18, 4096, 256)
LogStore.format(flash)
fs = mount(DirLower(sys.argv[1]), flash)
fs.write_bytes("/etc/new", b"new\n")      # /etc has an upper copy now
fs.remove("/etc/a")                       # and a whiteout
vfs = OvlVfs(fs)
BAD = b"/etc/bad\xff"
programmed = flash.counters()["bytes_programmed"]

results = {
    "vfs open w": errno_outcome(vfs.open, BAD, "w"),
    "vfs mkdir": errno_outcome(vfs.mkdir, BAD),
    "vfs rename to": errno_outcome(vfs.rename, b"/etc/new", BAD),
    "vfs rename from": errno_outcome(vfs.rename, BAD, b"/etc/x"),
    "vfs stat": errno_outcome(vfs.stat, BAD),
}
if not compat.MICROPYTHON:
    bad = BAD.decode("utf-8", "surrogateescape")
    NU = b"/nu/bad\xff".decode("utf-8", "surrogateescape")
    results["api read a lower one"] = fs.read_bytes(NU).decode()
    for label, fn, args in (
            ("write_bytes", fs.write_bytes, (bad, b"x")),
            ("open x", fs.open, (bad, "x")),
            ("mkdir", fs.mkdir, (bad,)),
            ("rename to", fs.rename, ("/etc/new", bad)),
            ("symlink", fs.symlink, ("new", bad)),
            ("link", fs.link, ("/etc/new", bad)),
            ("mknod", fs.mknod, (bad, 0o10644)),
            ("revert", fs.revert, (bad,)),
            # a lower name that is not UTF-8 reads, but moving it away
            # needs a whiteout of it in the upper
            ("rename a lower one away", fs.rename, (NU, "/nu/good")),
            ("remove a lower one", fs.remove, (NU,))):
        results["api " + label] = errno_outcome(fn, *args)
results["programmed by the refusals"] = \
    flash.counters()["bytes_programmed"] - programmed
results["etc"] = sorted(fs.listdir("/etc"))
again = mount(DirLower(sys.argv[1]), flash)
results["etc after remount"] = sorted(again.listdir("/etc"))
results["fsck"] = again.fsck()
report(results)
