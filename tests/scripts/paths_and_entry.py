"""What ovl.paths and ovl.lower give, as labelled results
(tests/test_paths.py checks each label on both runtimes).
"""
import sys

from checklib import outcome, report
import ovl.dirlower
from ovl import paths
from ovl.lower import Entry

out = {}
out["join under root"] = paths.join("/", "a")
out["join under a dir"] = paths.join("/a/b", "c")
out["split drops empty and dot"] = paths.split_path("//a/./b/")
out["split keeps dot-dot"] = paths.split_path("/a/../b")
out["normalize dot-dot"] = paths.normalize("/a/b/../c")
out["normalize above root"] = paths.normalize("/../../x")
out["normalize relative"] = paths.normalize("a//b/.")
out["normalize empty"] = paths.normalize("")
out["split bytes"] = outcome(paths.split_path, b"/a")

modes = {"dir": paths.S_IFDIR | 0o755, "file": paths.S_IFREG | 0o644,
         "symlink": paths.S_IFLNK | 0o777, "fifo": paths.S_IFIFO | 0o600}
for name in sorted(modes):
    m = modes[name]
    out["kinds of " + name] = [paths.is_dir(m), paths.is_reg(m),
                               paths.is_lnk(m)]
out["type bits all under S_IFMT"] = all(
    t & paths.S_IFMT == t and t & 0o7777 == 0
    for t in (paths.S_IFSOCK, paths.S_IFLNK, paths.S_IFREG, paths.S_IFBLK,
              paths.S_IFDIR, paths.S_IFCHR, paths.S_IFIFO))

e = Entry(7, paths.S_IFREG | 0o644, 1, 0, 0, 12, 1000, 0, "f", path="/f")
out["entry fields"] = [e.ino, e.mode, e.nlink, e.size, e.mtime, e.name,
                       e.path, e.loc]
out["entry repr"] = repr(e)
out["dirlower's Entry is ovl.lower's"] = ovl.dirlower.Entry is Entry
out["dirlower loads no image reader"] = "ovl.squashfs" not in sys.modules
report(out)
