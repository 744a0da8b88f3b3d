"""A trailing "/" as Linux reads it: on a name to create that is no
directory (ENOENT; EEXIST if it is there), in a rename of a file, in an
open (with O_CREAT, w a x: EISDIR; without, r r+: the name must be a
directory), and after a final symlink (followed: lstat("/sl_dir/") is the
directory).  Symlinks are made in the upper (MicroPython's DirLower has
none).

Arguments: LOWER_DIR (with f and etc/).  Reports labelled results."""
import sys

from checklib import errno_outcome, report
from ovl import paths
from ovl.dirlower import DirLower
from ovl.overlay import mount
from ovl.store import LogStore
from ovl_sim.simflash import SimFlash

flash = SimFlash(1 << 18, 4096, 256)
LogStore.format(flash)
fs = mount(DirLower(sys.argv[1]), flash)
fs.symlink("/etc", "/sl_dir")
fs.symlink("/f", "/sl_file")
fs.symlink("/etc/nowhere", "/etc/dangling")


def kind(path):
    mode = fs.lstat(path)[0]
    return "dir" if paths.is_dir(mode) else \
        "link" if paths.is_lnk(mode) else "file"


def opened(path, mode):
    fs.open(path, mode).close()


results = {}
for label, call in (
        ("symlink to a new name/", lambda: fs.symlink("x", "/new/")),
        ("symlink to an existing name/", lambda: fs.symlink("x", "/f/")),
        ("link to a new name/", lambda: fs.link("/f", "/x/")),
        ("mknod of a new name/", lambda: fs.mknod("/n/", 0o100644)),
        ("rename f to f/", lambda: fs.rename("/f", "/f/")),
        ("rename f/ to f", lambda: fs.rename("/f/", "/f")),
        ("open a dangling link/ a", lambda: opened("/etc/dangling/", "a")),
        ("open a missing name/ r", lambda: opened("/missing/", "r")),
        ("open a missing name/ r+", lambda: opened("/missing/", "r+")),
        ("open a missing name/ w", lambda: opened("/missing/", "w")),
        ("open a file/ r", lambda: opened("/f/", "r")),
        ("open a file/ r+", lambda: opened("/f/", "r+")),
        ("open a file/ w", lambda: opened("/f/", "w")),
        ("open a file/ a", lambda: opened("/f/", "a")),
        ("open a link to a file/ a", lambda: opened("/sl_file/", "a")),
        ("lstat a link to a dir/", lambda: kind("/sl_dir/")),
        ("lstat a link to a file/", lambda: kind("/sl_file/")),
        ("lstat a dangling link/", lambda: kind("/etc/dangling/")),
        ("readlink a link to a dir/", lambda: fs.readlink("/sl_dir/")),
        ("mkdir a new name/", lambda: fs.mkdir("/newdir/"))):
    results[label] = errno_outcome(call)


def value(fn, *args):
    """fn(*args), or the errno name it raised."""
    try:
        return fn(*args)
    except OSError:
        return errno_outcome(fn, *args)


results["lstat a link to a dir/, kind"] = value(kind, "/sl_dir/")
results["lstat a link to a dir, kind"] = value(kind, "/sl_dir")
results["listdir a link to a dir/"] = value(fs.listdir, "/sl_dir/")
results["changes"] = sorted(c[1] for c in fs.diff())
report(results)
