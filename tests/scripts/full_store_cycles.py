"""Fill a store to ENOSPC in every way, then empty it and fill it again,
over and over on one mount: nothing committed is lost, nothing wedges.

Runs under CPython and MicroPython (tests/test_full_store.py). Arguments:
LOWER_DIR CYCLES [vfs].  With `vfs`, files are written through builtin
open()/os.* on a mounted OvlVfs (MicroPython only) instead of the API.
Each check raises AssertionError naming what broke; the last line printed
is `ok CYCLES FILLS`.
"""
import sys

from ovl import compat
from ovl_sim.simflash import SimFlash, Xorshift
from ovl.logstore import LogStore
from ovl.dirlower import DirLower
from ovl.overlay import mount

LOWER = sys.argv[1]
CYCLES = int(sys.argv[2])
VIA_VFS = len(sys.argv) > 3 and sys.argv[3] == "vfs"

flash = SimFlash(256 * 1024, 4096, 256)
LogStore.format(flash)
# the default write buffer: writes of 10-160 KB stream to flash past it and
# must still fail whole
fs = mount(DirLower(LOWER), flash)
ROOT = "/"
if VIA_VFS:
    import os
    import vfs
    from ovl.vfs import OvlVfs
    vfs.mount(OvlVfs(fs), "/ovl")
    ROOT = "/ovl/"


def is_enospc(e):
    return isinstance(e, OSError) and compat.error_code(e) == compat.ENOSPC


def write_file(path, data, mode="wb"):
    if VIA_VFS:
        with open(ROOT + path[1:], mode) as f:
            f.write(data)
    else:
        with fs.open(path, mode) as f:
            f.write(data)


def open_file(path):
    if VIA_VFS:
        return open(ROOT + path[1:], "rb")
    return fs.open(path, "rb")


def matches(path, chunks):
    """(whether the file holds exactly the chunks, its length): read a
    chunk at a time, so a big file is never whole in RAM."""
    same = True
    length = 0
    with open_file(path) as f:
        for want in chunks:
            got = f.read(len(want))
            length += len(got)
            same = same and got == want
        while True:
            more = f.read(4096)
            if not more:
                break
            length += len(more)
            same = False
    return same, length


def exists(path):
    return fs.exists(path)


# expected state of everything the test made: path -> [bytes, ...] (a
# file's content in pieces), "dir", ("link", target), ("mode", pieces, perm)
model = {}
rng = Xorshift(7)


def payload(n):
    return bytes((rng.below(251) for _ in range(n)))


def fits(fn, *args):
    """fn(*args); False when the store is full (any other error raises)."""
    try:
        fn(*args)
    except OSError as e:
        if not is_enospc(e):
            raise
        return False
    return True


def fill_big(tag):
    """one file grown by appends of 10 KB until the store is full"""
    path = "/big%s" % tag
    model[path] = []
    while True:
        chunk = payload(10000)
        if not fits(write_file, path, chunk, "ab"):
            return path
        model[path].append(chunk)


def fill_small(tag):
    """many files of 1-3 KB"""
    i = 0
    while True:
        path = "/s%s_%d" % (tag, i)
        data = payload(1000 + rng.below(2000))
        if not fits(write_file, path, data):
            return path
        model[path] = [data]
        i += 1


def fill_dirs(tag):
    """directories, each with a symlink and a chmod-ed file"""
    i = 0
    while True:
        d = "/d%s_%d" % (tag, i)
        try:
            fs.mkdir(d)
            model[d] = "dir"
            fs.symlink("target-%d" % i, d + "/ln")
            model[d + "/ln"] = ("link", "target-%d" % i)
            write_file(d + "/f", b"x" * 900)
            model[d + "/f"] = [b"x" * 900]
            fs.chmod(d + "/f", 0o600)
            model[d + "/f"] = ("mode", [b"x" * 900], 0o600)
            fs.link(d + "/f", d + "/hard")
            model[d + "/hard"] = ("mode", [b"x" * 900], 0o600)
        except OSError as e:
            if not is_enospc(e):
                raise
            return d
        i += 1


def fill_rewrite(tag):
    """a large file rewritten whole until the rewrite no longer fits"""
    path = "/rw%s" % tag
    size = 20000
    while True:
        data = payload(size)
        if not fits(write_file, path, data):
            return path
        model[path] = [data]
        size += 20000


def check_model(where, failed):
    for path, want in model.items():
        if path == failed:
            continue
        if isinstance(want, str):
            assert fs.stat(path)[0] & 0o170000 == 0o040000, \
                "%s: %s is no longer a directory" % (where, path)
        elif isinstance(want, tuple) and want[0] == "link":
            assert fs.readlink(path) == want[1], \
                "%s: symlink %s changed" % (where, path)
        elif isinstance(want, tuple):
            assert matches(path, want[1])[0], \
                "%s: %s lost its content" % (where, path)
            assert fs.stat(path)[0] & 0o777 == want[2], \
                "%s: %s lost its mode" % (where, path)
        else:
            same, length = matches(path, want)
            assert same, "%s: %s reads %d bytes unlike the %d committed" % (
                where, path, length, sum(len(c) for c in want))


def check_failed(where, path):
    """The write that hit ENOSPC left its file as before it: a new file
    (created by that very open-write-close) is absent."""
    if path is None or not exists(path):
        return
    want = model.get(path)
    if want is None:
        is_file = fs.lstat(path)[0] & 0o170000 == 0o100000
        assert not is_file, "%s: failed new file %s exists (%d bytes)" % (
            where, path, matches(path, [])[1])
        return
    if isinstance(want, (str, tuple)):
        return
    same, length = matches(path, want)
    assert same, "%s: failed write tore %s (%d bytes, had %d)" % (
        where, path, length, sum(len(c) for c in want))


def rm_tree(path):
    if fs.lstat(path)[0] & 0o170000 == 0o040000:
        for name in fs.listdir(path):
            rm_tree(path + "/" + name)
        fs.rmdir(path)
    else:
        fs.remove(path)


def remove_all(where):
    """Remove everything the cycle made (leftovers of the failed operation
    included); every removal must work on the full store."""
    model.clear()
    for name in fs.listdir("/"):
        if fs.layer_of("/" + name) == "upper":
            rm_tree("/" + name)


FILLS = (fill_big, fill_small, fill_dirs, fill_rewrite)
free0 = {}
for cycle in range(CYCLES):
    fill = FILLS[cycle % len(FILLS)]
    where = "cycle %d (%s)" % (cycle, fill.__name__)
    failed = fill(str(cycle))
    # the tree works at once, on the full store, without a remount
    fs.listdir("/")
    fs.listdir("/etc")
    check_model(where, failed)
    check_failed(where, failed)
    fs.sync()
    remove_all(where)
    problems = fs.fsck()
    assert not problems, "%s: fsck after emptying: %s" % (where, problems)
    # each kind of fill leaves its own tombstones (live until GC erases
    # the older nodes they hide): compare a cycle with the first of its kind
    free = fs.statvfs("/")[3]
    if fill not in free0:
        free0[fill] = free
    assert free >= free0[fill] - 2, "%s: emptied store has %d free blocks," \
        " the first emptied after %s had %d" % (where, free, fill.__name__,
                                               free0[fill])

# the default write buffer: writes of 10-160 KB stream to flash past it and
# must still fail whole
fs = mount(DirLower(LOWER), flash)
assert not fs.fsck(), "fsck after remount: %s" % fs.fsck()
print("ok", CYCLES, len(FILLS))
