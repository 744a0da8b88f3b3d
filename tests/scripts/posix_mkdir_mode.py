"""mkdir keeps the permission and sticky bits of its mode, not set-uid
or set-gid (Linux); the umask applies.

Arguments: LOWER_DIR.  Reports labelled results."""
import sys

from checklib import report
from ovl.dirlower import DirLower
from ovl.overlay import mount
from ovl.store import LogStore
from ovl_sim.simflash import SimFlash

flash = SimFlash(1 << 18, 4096, 256)
LogStore.format(flash)
fs = mount(DirLower(sys.argv[1]), flash)
results = {}
for mode in (0o4755, 0o2755, 0o1777, 0o7777):
    path = "/d%o" % mode
    fs.mkdir(path, mode)
    results["mkdir %o, mode" % mode] = "%o" % (fs.stat(path)[0] & 0o7777)
report(results)
