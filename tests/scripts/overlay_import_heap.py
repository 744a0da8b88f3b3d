"""What a board's plain job imports of the overlay package, and the rare
names still answering once asked, as labelled results
(tests/test_overlay_import_heap.py checks each label on both runtimes).

Arguments: IMAGE (a SquashFS lower holding etc/config).
"""
import sys

from checklib import errno_outcome, report
from ovl.flash_host import BytesSource
from ovl.squashfs import SquashFS
from ovl.store import LogStore
from ovl.overlay import mount
from ovl.vfs import OvlVfs
from ovl_sim.simflash import SimFlash


def overlay_modules():
    return sorted(m for m in sys.modules if m.startswith("ovl.overlay"))


def read(fs, path):
    with fs.open(path, "rb") as f:
        return f.read().decode()


def write(fs, path, data, mode="wb"):
    with fs.open(path, mode) as f:
        f.write(data)


with open(sys.argv[1], "rb") as f:
    image = f.read()
flash = SimFlash(1 << 18, 4096, 256)
LogStore.format(flash)
ovl = mount(SquashFS(BytesSource(image)), flash)
fs = OvlVfs(ovl)
out = {}
# the board job's calls: a new directory and file, a lower file copied up
# by an append, listings, reads, a remount
fs.mkdir("/new")
write(fs, "/new/a", b"new file")
write(fs, "/etc/config", b"option=2\n", "ab")
out["listing"] = [sorted(e[0] for e in fs.ilistdir(d))
                  for d in ("/", "/etc", "/new")]
fs.umount()
ovl = mount(SquashFS(BytesSource(image)), flash)
fs = OvlVfs(ovl)
# a copied-up file's read asks whether an upgrade marked it
out["reads"] = [read(fs, "/etc/config"), read(fs, "/new/a")]
out["lower changed"] = ovl.lower_changed
out["after the board's job"] = overlay_modules()
# a rare operation, found through ovl.overlay.rare
out["stat"] = [ovl.stat("/etc/config")[6], ovl.exists("/new/b")]
out["after a stat"] = overlay_modules()
out["no such operation"] = errno_outcome(getattr, ovl, "no_such_op")
# writes of the wrong type, their messages off the mount path
with fs.open("/new/b", "wb") as f:
    try:
        f.write("text")
        out["str to a binary file"] = "ok"
    except TypeError as e:
        out["str to a binary file"] = str(e)
with fs.open("/new/c", "w") as f:
    out["bytes to a text file"] = errno_outcome(f.write, b"bytes")
    out["str to a text file"] = f.write("text")
try:
    fs.open("/new/a", "rwb")
    out["a bad mode"] = "ok"
except ValueError as e:
    out["a bad mode"] = str(e)
out["written"] = [read(fs, "/new/b"), read(fs, "/new/c")]
report(out)
