"""A lookup made while a file's first change is being recorded (what an
import through the VFS does when the overlay is mounted at /) must not
commit that file early: its data was lost (the file read back empty).

Arguments: LOWER_DIR (holding etc/other).  Prints labelled results."""
import sys

from ovl import upgrade
from ovl_sim.simflash import SimFlash
from ovl.store import LogStore
from ovl.dirlower import DirLower
from ovl.overlay import mount

flash = SimFlash(1 << 18, 4096, 256)
LogStore.format(flash)
fs = mount(DirLower(sys.argv[1]), flash)
real_digest = upgrade.lower_digest


def digest_after_a_lookup(*args):
    try:
        fs.stat("/not-there")
    except OSError:
        pass
    return real_digest(*args)


upgrade.lower_digest = digest_after_a_lookup
with fs.open("/etc/other", "w") as f:        # a lower file, rewritten
    f.write("new content\n")
with fs.open("/etc/new", "w") as f:          # and a new one beside it
    f.write("made\n")
print("read", repr(fs.read_bytes("/etc/other")), repr(fs.read_bytes("/etc/new")))
again = mount(DirLower(sys.argv[1]), flash)
print("remounted", repr(again.read_bytes("/etc/other")),
      repr(again.read_bytes("/etc/new")))
print("fsck", again.fsck())
