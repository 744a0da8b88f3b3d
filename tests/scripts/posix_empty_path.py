"""An empty path names nothing (Linux: ENOENT in every call); the overlay
split it into no names, that is the root, so chmod(700, "") changed "/".

Arguments: LOWER_DIR.  Reports labelled results."""
import sys

from checklib import errno_outcome, report
from ovl.dirlower import DirLower
from ovl.overlay import mount
from ovl.store import LogStore
from ovl_sim.simflash import SimFlash

flash = SimFlash(1 << 18, 4096, 256)
LogStore.format(flash)
fs = mount(DirLower(sys.argv[1]), flash)
root_mode = fs.stat("/")[0]
results = {}
for name, call in (
        ("chmod", lambda: fs.chmod("", 0o700)),
        ("chown", lambda: fs.chown("", 5, 5)),
        ("utime", lambda: fs.utime("", (1, 1))),
        ("stat", lambda: fs.stat("")),
        ("lstat", lambda: fs.lstat("")),
        ("listdir", lambda: fs.listdir("")),
        ("open r", lambda: fs.open("", "r")),
        ("open w", lambda: fs.open("", "w")),
        ("mkdir", lambda: fs.mkdir("")),
        ("rmdir", lambda: fs.rmdir("")),
        ("remove", lambda: fs.remove("")),
        ("rename from", lambda: fs.rename("", "/x")),
        ("rename to", lambda: fs.rename("/f", "")),
        ("symlink at", lambda: fs.symlink("/f", "")),
        ("link to", lambda: fs.link("/f", "")),
        ("readlink", lambda: fs.readlink(""))):
    results[name + " ''"] = errno_outcome(call)
results["root mode unchanged"] = fs.stat("/")[0] == root_mode
results["changes"] = fs.diff()
report(results)
