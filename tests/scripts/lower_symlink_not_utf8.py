"""A lower (SquashFS) symlink whose target is not UTF-8: what the
device's reader and the overlay over it answer.  The link lists and
stats; its target reads on CPython (decoded with surrogateescape) but
not on MicroPython, whose str holds UTF-8 only: readlink raises the
reader's BadDirectoryError there, so `ovl flash` and `ovl mkimage
--board` refuse such an image for a board running MicroPython.

Arguments: IMAGE (holding /ok and /link -> b"caf\\xe9").  Reports
labelled results."""
import sys

from checklib import outcome, report
from ovl.flash_host import BytesSource
from ovl.overlay import mount
from ovl.squashfs import SquashFS
from ovl.store import LogStore
from ovl_sim.simflash import SimFlash

with open(sys.argv[1], "rb") as f:
    lower = SquashFS(BytesSource(f.read()))
flash = SimFlash(1 << 18, 4096, 256)
LogStore.format(flash)
fs = mount(lower, flash)
results = {
    "reader lists /": sorted(name for name, _ in
                             lower.readdir(lower.lookup("/"))),
    "reader readlink": outcome(lower.readlink, lower.lookup("/link")),
    "overlay lstat": outcome(fs.lstat, "/link"),
    "overlay readlink": outcome(fs.readlink, "/link"),
}
report(results)
