"""Copy-up of a lower path an ORIGIN record cannot hold: a SquashFS
lower holding EDGE (a directory whose path is exactly
meta_rare.ORIGIN_PATH_MAX bytes) and DEEP/f below it (DEEP: over the
limit).  Making, changing or chmod-ing something under DEEP fails with
ENAMETOOLONG naming the path and the limit, and programs nothing; EDGE
itself copies up; DEEP still reads from the lower.  NEAR, a file under
the limit, made again after its removal: its REPLACES record would not
fit a meta value, so it has none (judged as a created file by an
upgrade) rather than failing with E2BIG.

Arguments: IMAGE PATHS (a file holding EDGE, DEEP and NEAR, a line each:
MicroPython's unix port aborts on an argument of some hundred bytes).
Reports labelled results."""
import sys

from checklib import errno_outcome, report
from ovl.flash_host import BytesSource
from ovl import upgrade
from ovl.overlay import meta, meta_rare, mount
from ovl.squashfs import SquashFS
from ovl.store import LogStore
from ovl_sim.simflash import SimFlash

with open(sys.argv[2]) as f:
    edge, deep, near = f.read().split("\n")[:3]
with open(sys.argv[1], "rb") as f:
    lower = SquashFS(BytesSource(f.read()))
flash = SimFlash(1 << 18, 4096, 256)
LogStore.format(flash)
fs = mount(lower, flash)
programmed = flash.counters()["bytes_programmed"]
results = {"limit": meta_rare.ORIGIN_PATH_MAX,
           "edge bytes": len(edge.encode()),
           "deep bytes": len(deep.encode())}
for label, fn, args in (
        ("mkdir under deep", fs.mkdir, (deep + "/newdir",)),
        ("chmod deep file", fs.chmod, (deep + "/f", 0o600)),
        ("write_bytes under deep", fs.write_bytes, (deep + "/new", b"x")),
        ("append deep file", fs.write_bytes, (deep + "/f", b"y"))):
    results[label] = errno_outcome(fn, *args)
try:
    fs.mkdir(deep + "/newdir")
    message = ""
except OSError as e:
    message = str(e)
results["message names the path"] = deep in message
LIMIT_SAID = "longer than the %d a copy-up records"
results["message names the limit"] = \
    (LIMIT_SAID % meta_rare.ORIGIN_PATH_MAX) in message
results["programmed by the refusals"] = \
    flash.counters()["bytes_programmed"] - programmed
results["deep file reads"] = fs.read_bytes(deep + "/f").decode()
results["mkdir under edge"] = errno_outcome(fs.mkdir, edge + "/newdir")
results["edge lists"] = sorted(fs.listdir(edge))
results["near bytes"] = len(near.encode())
fs.remove(near)
results["near made again"] = errno_outcome(fs.write_bytes, near, b"again")
if fs.exists(near):
    results["near reads"] = fs.read_bytes(near).decode()
    results["near replaces record"] = upgrade.get_replaced(
        fs.store, fs.stat(near).st_ino - meta.UPPER_INO_BASE)
results["fsck"] = mount(lower, flash).fsck()
report(results)
