"""The overlay's answers, as Linux's, to a path ending in "/", "/." or
"/..", or with ".." after a non-directory: the walk to the last name
first (ENOENT, ENOTDIR), then the operation's own refusal of "/", "." and
".." (tests/test_overlay.py, both runtimes; the VFS hands such paths over as
they are).  argv[1]: an empty directory, the lower."""
import sys

from checklib import errno_outcome, report
from ovl.dirlower import DirLower
from ovl.overlay import mount
from ovl.store import LogStore
from ovl_sim.simflash import SimFlash

flash = SimFlash(1 << 19, 4096, 256)
LogStore.format(flash)
fs = mount(DirLower(sys.argv[1]), flash)
fs.mkdir("/d")
fs.write_bytes("/f", b"F")


def create(path):
    fs.open(path, "w").close()


out = {}
for path in ("/", "/d/.", "/d/./", "/d/..", "/f/.", "/n/."):
    out["rmdir " + path] = errno_outcome(fs.rmdir, path)
    out["remove " + path] = errno_outcome(fs.remove, path)
    out["mkdir " + path] = errno_outcome(fs.mkdir, path)
    out["open for writing " + path] = errno_outcome(create, path)
    out["rename " + path] = errno_outcome(fs.rename, path, "/r")
    out["rename to " + path] = errno_outcome(fs.rename, "/f", path)
    out["link to " + path] = errno_outcome(fs.link, "/f", path)
    out["stat " + path] = errno_outcome(fs.stat, path)
out["stat f/../d"] = errno_outcome(fs.stat, "/f/../d")
out["names left"] = sorted(fs.listdir("/"))
report(out)
