"""DirLower meets the Lower contract: run by tests/test_dirlower.py on both
runtimes over the tree it builds (argv[1]); reports labelled results."""
import sys

from checklib import report
from ovl import compat
from ovl.dirlower import DirLower


def errno_of(fn, *args):
    """The errno fn(*args) fails with, or None."""
    try:
        fn(*args)
    except OSError as e:
        return compat.error_code(e)
    return None


d = DirLower(sys.argv[1])
out = {}
root = d.lookup("/")
out["root listing [name, mode, size, nlink, ino]"] = [
    [n, e.mode, e.size, e.nlink, e.ino] for n, e in d.readdir(root)]
out["sub listing"] = [n for n, e in d.readdir(d.lookup("/sub"))]
f = d.lookup("/file")
out["read across the end"] = d.read(f, 4995, 10).decode()
out["read at the start"] = d.read(f, 0, 3).decode()
out["read more than the file"] = len(d.read(f, 0, 100000))
out["read past the end"] = d.read(f, 6000, 5).decode()
out["mode of /link"] = d.lookup("/link").mode
for p in ("/nope", "/file/x", "/link/x", "/sub/../file", "relative"):
    out["lookup " + p] = errno_of(d.lookup, p)
out["read of a directory"] = errno_of(d.read, d.lookup("/sub"), 0, 1)
try:
    out["readlink /link"] = d.readlink(d.lookup("/link"))
except OSError as e:
    out["readlink /link"] = compat.error_code(e)
out["identity"] = d.identity()
report(out)
