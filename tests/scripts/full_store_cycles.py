"""Fill a store to ENOSPC in every way, then empty it and fill it again,
over and over on one mount: nothing committed is lost, nothing wedges.

Runs under CPython and MicroPython (tests/test_full_store.py). Arguments:
LOWER_DIR CYCLES [vfs].  With `vfs`, files are written through builtin
open()/os.* on a mounted OvlVfs (MicroPython only) instead of the API.
Each check raises AssertionError naming what broke; the last line printed
is `ok CYCLES FILLS`.

The fills and checks go through an operations object (ApiOps here), so
tests/test_full_store_cli.py runs the same cycles through `ovl shell`,
`ovl fs` and `ovl remote` with operations of its own.
"""
import sys

from ovl import compat
from ovl_sim.simflash import Xorshift

S_IFMT, S_IFDIR, S_IFREG = 0o170000, 0o040000, 0o100000


def is_enospc(e):
    return isinstance(e, OSError) and compat.error_code(e) == compat.ENOSPC


class ApiOps:
    """The overlay's Python API (file contents through the MicroPython VFS
    when root is a VFS mount point).  appends / links: whether the
    interface can append to a file and make symlinks, hard links and
    chmod (`ovl remote` cannot)."""
    appends = True
    links = True

    def __init__(self, fs, root="/"):
        self.fs = fs
        self.root = root

    def _open(self, path, mode):
        if self.root != "/":
            return open(self.root + path[1:], mode)
        return self.fs.open(path, mode)

    def write_file(self, path, data, mode="wb"):
        with self._open(path, mode) as f:
            f.write(data)

    def matches(self, path, chunks):
        """(whether the file holds exactly the chunks, its length): read a
        chunk at a time, so a big file is never whole in RAM."""
        same = True
        length = 0
        with self._open(path, "rb") as f:
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

    def mode(self, path):
        """lstat's mode, None when the path does not exist"""
        if not self.fs.exists(path):
            return None
        return self.fs.lstat(path)[0]

    def mkdir(self, path):
        self.fs.mkdir(path)

    def symlink(self, target, path):
        self.fs.symlink(target, path)

    def readlink(self, path):
        return self.fs.readlink(path)

    def chmod(self, path, perm):
        self.fs.chmod(path, perm)

    def link(self, src, dst):
        self.fs.link(src, dst)

    def listdir(self, path):
        return self.fs.listdir(path)

    def layer_of(self, path):
        return self.fs.layer_of(path)

    def remove(self, path):
        self.fs.remove(path)

    def rmdir(self, path):
        self.fs.rmdir(path)

    def sync(self):
        self.fs.sync()

    def fsck(self):
        return self.fs.fsck()

    def free_blocks(self):
        return self.fs.statvfs("/")[3]


class Cycles:
    """The fills, the checks and the emptying, over one ops object; the
    model is the expected state of everything made: path -> [bytes, ...]
    (a file's content in pieces), "dir", ("link", target), ("mode",
    pieces, perm)."""

    def __init__(self, ops, seed=7, dir_file=900):
        self.ops = ops
        self.model = {}
        self.rng = Xorshift(seed)
        self.dir_file = dir_file    # bytes of the file in each directory
        self.fills = (self.fill_big, self.fill_small, self.fill_dirs,
                      self.fill_rewrite)
        self.free0 = {}

    def payload(self, n):
        # filled in place: bytes() of a generator grows its buffer by
        # copies, which fragments a MicroPython heap (a 200 KB rewrite
        # then needs several times its size)
        out = bytearray(n)
        rng = self.rng
        for i in range(n):
            out[i] = rng.below(251)
        return out

    def fits(self, fn, *args):
        """fn(*args); False when the store is full (any other error
        raises)."""
        try:
            fn(*args)
        except OSError as e:
            if not is_enospc(e):
                raise
            return False
        return True

    def fill_big(self, tag):
        """one file grown by appends of 10 KB until the store is full
        (without appends: written whole again, 10 KB longer each time)"""
        path = "/big%s" % tag
        model = self.model
        model[path] = []
        while True:
            chunk = self.payload(10000)
            if self.ops.appends:
                ok = self.fits(self.ops.write_file, path, chunk, "ab")
            else:
                ok = self.fits(self.ops.write_file, path,
                               b"".join(model[path]) + chunk)
            if not ok:
                return path
            model[path].append(chunk)

    def fill_small(self, tag):
        """many files of 1-3 KB"""
        i = 0
        while True:
            path = "/s%s_%d" % (tag, i)
            data = self.payload(1000 + self.rng.below(2000))
            if not self.fits(self.ops.write_file, path, data):
                return path
            self.model[path] = [data]
            i += 1

    def fill_dirs(self, tag):
        """directories, each with a file, and where the interface has them
        a symlink, a chmod and a hard link"""
        ops, model = self.ops, self.model
        i = 0
        data = b"x" * self.dir_file
        while True:
            d = "/d%s_%d" % (tag, i)
            try:
                ops.mkdir(d)
                model[d] = "dir"
                ops.write_file(d + "/f", data)
                model[d + "/f"] = [data]
                if ops.links:
                    ops.symlink("target-%d" % i, d + "/ln")
                    model[d + "/ln"] = ("link", "target-%d" % i)
                    ops.chmod(d + "/f", 0o600)
                    model[d + "/f"] = ("mode", [data], 0o600)
                    ops.link(d + "/f", d + "/hard")
                    model[d + "/hard"] = ("mode", [data], 0o600)
            except OSError as e:
                if not is_enospc(e):
                    raise
                return d
            i += 1

    def fill_rewrite(self, tag):
        """a large file rewritten whole until the rewrite no longer fits"""
        path = "/rw%s" % tag
        size = 20000
        while True:
            data = self.payload(size)
            if not self.fits(self.ops.write_file, path, data):
                return path
            self.model[path] = [data]
            size += 20000

    def check_model(self, where, failed):
        ops = self.ops
        for path, want in self.model.items():
            if path == failed:
                continue
            if isinstance(want, str):
                assert (ops.mode(path) or 0) & S_IFMT == S_IFDIR, \
                    "%s: %s is no longer a directory" % (where, path)
            elif isinstance(want, tuple) and want[0] == "link":
                assert ops.readlink(path) == want[1], \
                    "%s: symlink %s changed" % (where, path)
            elif isinstance(want, tuple):
                assert ops.matches(path, want[1])[0], \
                    "%s: %s lost its content" % (where, path)
                assert ops.mode(path) & 0o777 == want[2], \
                    "%s: %s lost its mode" % (where, path)
            else:
                same, length = ops.matches(path, want)
                assert same, "%s: %s reads %d bytes unlike the %d " \
                    "committed" % (where, path, length,
                                   sum(len(c) for c in want))

    def check_failed(self, where, path):
        """The write that hit ENOSPC left its file as before it: a new file
        (created by that very open-write-close) is absent."""
        mode = None if path is None else self.ops.mode(path)
        if mode is None:
            return
        want = self.model.get(path)
        if want is None:
            assert mode & S_IFMT != S_IFREG, \
                "%s: failed new file %s exists (%d bytes)" % (
                    where, path, self.ops.matches(path, [])[1])
            return
        if isinstance(want, (str, tuple)):
            return
        same, length = self.ops.matches(path, want)
        assert same, "%s: failed write tore %s (%d bytes, had %d)" % (
            where, path, length, sum(len(c) for c in want))

    def rm_tree(self, path):
        if self.ops.mode(path) & S_IFMT == S_IFDIR:
            for name in self.ops.listdir(path):
                self.rm_tree(path + "/" + name)
            self.ops.rmdir(path)
        else:
            self.ops.remove(path)

    def remove_all(self):
        """Remove everything the cycle made (leftovers of the failed
        operation included); every removal must work on the full store."""
        self.model.clear()
        for name in self.ops.listdir("/"):
            if self.ops.layer_of("/" + name) == "upper":
                self.rm_tree("/" + name)

    def cycle(self, n):
        """Fill one way (by turns) to ENOSPC, check, empty, check."""
        ops = self.ops
        fill = self.fills[n % len(self.fills)]
        where = "cycle %d (%s)" % (n, fill.__name__)
        failed = fill(str(n))
        # the tree works at once, on the full store, without a remount
        ops.listdir("/")
        ops.listdir("/etc")
        self.check_model(where, failed)
        self.check_failed(where, failed)
        ops.sync()
        self.remove_all()
        problems = ops.fsck()
        assert not problems, "%s: fsck after emptying: %s" % (where,
                                                              problems)
        # each kind of fill leaves its own tombstones (live until GC erases
        # the older nodes they hide): compare a cycle with the first of its
        # kind
        free = ops.free_blocks()
        if free is None:
            return
        kind = n % len(self.fills)
        if kind not in self.free0:
            self.free0[kind] = free
        assert free >= self.free0[kind] - 2, "%s: emptied store has %d " \
            "free blocks, the first emptied after %s had %d" % (
                where, free, fill.__name__, self.free0[kind])


def main():
    from ovl_sim.simflash import SimFlash
    from ovl.store import LogStore
    from ovl.dirlower import DirLower
    from ovl.overlay import mount
    lower = sys.argv[1]
    cycles = int(sys.argv[2])
    via_vfs = len(sys.argv) > 3 and sys.argv[3] == "vfs"
    flash = SimFlash(256 * 1024, 4096, 256)
    LogStore.format(flash)
    # the default write buffer: writes of 10-160 KB stream to flash past it
    # and must still fail whole
    fs = mount(DirLower(lower), flash)
    root = "/"
    if via_vfs:
        import vfs
        from ovl.vfs import OvlVfs
        vfs.mount(OvlVfs(fs), "/ovl")
        root = "/ovl/"
    run = Cycles(ApiOps(fs, root))
    for n in range(cycles):
        run.cycle(n)
    fs = mount(DirLower(lower), flash)
    assert not fs.fsck(), "fsck after remount: %s" % fs.fsck()
    print("ok", cycles, len(run.fills))


if __name__ == "__main__":
    main()
