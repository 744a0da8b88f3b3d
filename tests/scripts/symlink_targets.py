"""A symlink's target as Linux takes it: empty is ENOENT, one holding
NUL (which no C string carries: a backup wrote the target cut there) or
one that is not strict UTF-8 (a surrogate) is EINVAL, and each refusal
writes nothing; a target of 2-, 3- and 4-byte characters is kept.

Arguments: LOWER_DIR.  Reports labelled results."""
import sys

from checklib import errno_outcome, report
from ovl_sim.simflash import SimFlash
from ovl.store import LogStore
from ovl.dirlower import DirLower
from ovl.overlay import mount

flash = SimFlash(1 << 18, 4096, 256)
LogStore.format(flash)
fs = mount(DirLower(sys.argv[1]), flash)
fs.write_bytes("/made", b"x")       # the root has its upper copy
programmed = flash.counters()["bytes_programmed"]
results = {
    "empty": errno_outcome(fs.symlink, "", "/s1"),
    "NUL": errno_outcome(fs.symlink, "t\0x", "/s2"),
    "NUL at the end": errno_outcome(fs.symlink, "t\0", "/s3"),
    "surrogate": errno_outcome(fs.symlink, "t\udcff", "/s4"),
    # the target is judged before the link's path, as Linux does
    "empty onto an existing name": errno_outcome(fs.symlink, "", "/made"),
}
results["programmed by the refusals"] = \
    flash.counters()["bytes_programmed"] - programmed
TARGET = "caf\u00e9/\u20ac/\U0001d11e"
results["proper"] = errno_outcome(fs.symlink, TARGET, "/s5")
results["proper reads back"] = fs.readlink("/s5") == TARGET
results["root"] = sorted(fs.listdir("/"))
results["fsck"] = mount(DirLower(sys.argv[1]), flash).fsck()
report(results)
