"""A tree far deeper than either runtime's call stack: the walks over the
upper (the rebase at a mount over a new lower, diff, fsck, revert, reset
keeping a path) and the copy-up of a deep lower path iterate, so depth
costs heap, not stack.

Arguments: LOWER_OLD LOWER_NEW DEPTH LOWER_DEPTH: the upper's own chain
is DEPTH levels deep; both lowers hold d/d/.../d/x (LOWER_DEPTH levels:
each name a walk meets there is looked up from the lower's root, so a
deep lower costs the square of its depth) and v, whose bytes differ (a
new firmware).  CPython's recursion limit is cut to 150 calls, which
the lower chain passes (MicroPython's unix port stops near 300).  Reports
labelled results."""
import sys

from checklib import errno_outcome, report
from ovl_sim.simflash import SimFlash
from ovl.store import LogStore
from ovl.dirlower import DirLower
from ovl.overlay import mount

old, new = sys.argv[1], sys.argv[2]
depth, lower_depth = int(sys.argv[3]), int(sys.argv[4])
if hasattr(sys, "setrecursionlimit"):
    sys.setrecursionlimit(150)
flash = SimFlash(4 << 20, 4096, 256)
LogStore.format(flash)
fs = mount(DirLower(old), flash)
# the upper's chain grown from its bottom, each step walking two levels
# (mkdir at each depth would walk the whole chain: the square of depth)
fs.mkdir("/c")
fs.write_bytes("/c/f", b"deep")
for _ in range(depth - 1):
    fs.mkdir("/n")
    fs.rename("/c", "/n/q")
    fs.rename("/n", "/c")
fs.rename("/c", "/q")
upper_dir = "/q" * depth
lower_file = "/d" * lower_depth + "/x"
results = {"copy up a deep lower file":
           errno_outcome(fs.write_bytes, lower_file, b"user")}
fs.sync()

fs = mount(DirLower(new), flash)
results["lower changed"] = fs.lower_changed
results["conflicts"] = fs.conflicts
results["deep upper file"] = fs.read_bytes(upper_dir + "/f").decode()
diff = fs.diff()
kinds = {}
for kind, _ in diff:
    kinds[kind] = kinds.get(kind, 0) + 1
results["diff kinds"] = kinds
results["diff deepest"] = diff[-1][1] == upper_dir + "/f"
results["fsck"] = fs.fsck()

fs.reset(keep=[lower_file])
results["after reset: root"] = sorted(fs.listdir("/"))
results["after reset: kept"] = fs.read_bytes(lower_file).decode()
results["after reset: fsck"] = fs.fsck()
fs.revert("/d")
results["after revert: lower"] = fs.read_bytes(lower_file).decode()
results["after revert: diff"] = fs.diff()
fs.sync()
fs = mount(DirLower(new), flash)
results["remounted: diff"] = fs.diff()
results["remounted: fsck"] = fs.fsck()
report(results)
