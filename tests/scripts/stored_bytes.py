"""The bytes a file holds (Overlay.stored_bytes, st_blocks' source under
`ovl mount`), as labelled results (tests/test_overlay.py checks each
label on both runtimes): holes are not counted, nor the lower's bytes a
copy-up does not read.

Arguments: LOWER_DIR (holding etc/config, 9 bytes).
"""
import sys

from checklib import errno_outcome, report
from ovl.dirlower import DirLower
from ovl.store import LogStore
from ovl.overlay import mount
from ovl_sim.simflash import SimFlash

FAR = 100 << 20           # 100 MB: far past what the 256 KiB chip holds

out = {}
flash = SimFlash(1 << 18, 4096, 256)
LogStore.format(flash)
fs = mount(DirLower(sys.argv[1]), flash)

with fs.open("/sparse", "wb") as f:
    f.seek(FAR)
    f.write(b"x")
out["sparse: size, stored"] = [fs.lstat("/sparse").st_size,
                               fs.stored_bytes("/sparse")]
with fs.open("/sparse", "r+b") as f:
    f.seek(4096)
    f.write(b"y" * 100)
out["a second island: stored"] = fs.stored_bytes("/sparse")
with fs.open("/dense", "wb") as f:
    f.write(b"twelve bytes")
out["dense: stored"] = fs.stored_bytes("/dense")
fs.truncate("/dense", 5)
out["cut: stored"] = fs.stored_bytes("/dense")
# a lower file: what the lower holds (its size: a lower's holes count)
out["lower only: stored"] = fs.stored_bytes("/etc/config")
# copied up for its metadata: its bytes still come from the lower
fs.chmod("/etc/config", 0o600)
out["copied up, data in the lower: stored"] = fs.stored_bytes("/etc/config")
# cut to 2 bytes of the lower, then one byte written far past them
with fs.open("/etc/config", "r+b") as f:
    f.truncate(2)
    f.seek(1 << 20)
    f.write(b"z")
out["lower head and an upper byte: stored"] = fs.stored_bytes("/etc/config")
# data still pending in an open file counts whole (its size); a file
# being created is committed first, as lstat commits it
f = fs.open("/pending", "wb")
f.seek(500)
f.write(b"p")
out["created: stored"] = fs.stored_bytes("/pending")
f.close()
f = fs.open("/pending", "r+b")
f.seek(1000)
f.write(b"p")
out["pending: stored"] = fs.stored_bytes("/pending")
f.close()
out["pending committed: stored"] = fs.stored_bytes("/pending")
out["a directory: its size"] = fs.stored_bytes("/etc") == fs.lstat(
    "/etc").st_size
out["missing"] = errno_outcome(fs.stored_bytes, "/nope")
report(out)
