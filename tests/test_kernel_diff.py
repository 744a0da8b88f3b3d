"""Differential tests: ovl against the Linux kernel's overlayfs.

The same seeded random operation sequence runs on a kernel overlay mount
(lower = a host directory, upper+work on a tmpfs mounted here, options
redirect_dir=on,index=on so directory renames and hard links behave as in
ovl) and on ovl (lower = DirLower of the same directory, or a SquashFS image
of it).  Every operation's result or errno must match, and so must the final
merged tree, before and after a remount of both.

Compared: type, permission bits, uid/gid, size, contents (sha256), symlink
targets, nlink of non-directories.  Not compared (documented in
docs/OVERLAY.md): timestamps (clocks differ), st_ino and st_dev (the
kernel's depend on xino and on the filesystems under it), nlink of
directories (the kernel reports 1 for merged directories).
"""

import hashlib
import os
import shutil
import stat as st_mod
import subprocess
import tempfile

import pytest

from ovl import compat
from ovl.dirlower import DirLower
from ovl.store import LogStore
from ovl.overlay import mount
from ovl_sim.simflash import SimFlash, Xorshift

OPS_PER_RUN = 400
SEEDS = (1, 2, 3, 4, 5, 6)


# ----- the two sides -----------------------------------------------------------

def run_op(fs, op):
    """Apply op to a side; ('ok', value) or ('err', ERRNO_NAME)."""
    try:
        return ("ok", fs.apply(op))
    except OSError as e:
        code = compat.error_code(e)
        return ("err", compat.errno_name(code))


class KernelSide:
    def __init__(self, root):
        self.root = root

    def p(self, path):
        return self.root + path

    def apply(self, op):
        verb, args = op[0], op[1:]
        if verb == "write":
            path, mode, offset, data = args
            with open(self.p(path), mode + "b") as f:
                if mode != "a":
                    f.seek(offset)
                f.write(data)
            return None
        if verb == "read":
            with open(self.p(args[0]), "rb") as f:
                return hashlib.sha256(f.read()).hexdigest()
        if verb == "truncate":
            os.truncate(self.p(args[0]), args[1])
        elif verb == "mkdir":
            os.mkdir(self.p(args[0]))
        elif verb == "rmdir":
            os.rmdir(self.p(args[0]))
        elif verb == "unlink":
            os.unlink(self.p(args[0]))
        elif verb == "rename":
            os.rename(self.p(args[0]), self.p(args[1]))
        elif verb == "link":
            os.link(self.p(args[0]), self.p(args[1]), follow_symlinks=False)
        elif verb == "symlink":
            os.symlink(args[0], self.p(args[1]))
        elif verb == "chmod":
            os.chmod(self.p(args[0]), args[1])
        elif verb == "listdir":
            return sorted(os.listdir(self.p(args[0])))
        elif verb == "stat":
            s = os.lstat(self.p(args[0]))
            return (s.st_mode, s.st_size)
        return None

    def tree(self):
        return host_tree(self.root)


class OvlSide:
    def __init__(self, ovl):
        self.ovl = ovl

    def apply(self, op):
        o = self.ovl
        verb, args = op[0], op[1:]
        if verb == "write":
            path, mode, offset, data = args
            with o.open(path, mode + "b") as f:
                if mode != "a":
                    f.seek(offset)
                f.write(data)
            return None
        if verb == "read":
            return hashlib.sha256(o.read_bytes(args[0])).hexdigest()
        if verb == "truncate":
            o.truncate(args[0], args[1])
        elif verb == "mkdir":
            o.mkdir(args[0])
        elif verb == "rmdir":
            o.rmdir(args[0])
        elif verb == "unlink":
            o.remove(args[0])
        elif verb == "rename":
            o.rename(args[0], args[1])
        elif verb == "link":
            o.link(args[0], args[1])
        elif verb == "symlink":
            o.symlink(args[0], args[1])
        elif verb == "chmod":
            o.chmod(args[0], args[1])
        elif verb == "listdir":
            return sorted(o.listdir(args[0]))
        elif verb == "stat":
            s = o.lstat(args[0])
            return (s[0], s[6])
        return None

    def tree(self):
        out = {}
        pending = ["/"]
        o = self.ovl
        while pending:
            path = pending.pop()
            s = o.lstat(path)
            out[path] = describe(s[0], s[3], s[4], s[5], s[6],
                                 lambda: o.read_bytes(path),
                                 lambda: o.readlink(path))
            if st_mod.S_ISDIR(s[0]):
                pending.extend(join(path, n) for n in o.listdir(path))
        return out


def join(parent, name):
    return "/" + name if parent == "/" else parent + "/" + name


def describe(mode, nlink, uid, gid, size, read, readlink):
    item = {"mode": oct(mode), "uid": uid, "gid": gid}
    if st_mod.S_ISREG(mode):
        item.update(size=size, nlink=nlink,
                    sha=hashlib.sha256(read()).hexdigest())
    elif st_mod.S_ISLNK(mode):
        item.update(target=readlink(), nlink=nlink)
    elif not st_mod.S_ISDIR(mode):
        item.update(nlink=nlink)
    return item


def host_tree(root):
    out = {}
    pending = ["/"]
    while pending:
        path = pending.pop()
        host = root + path if path != "/" else root
        s = os.lstat(host)

        def read(h=host):
            with open(h, "rb") as f:
                return f.read()
        out[path] = describe(s.st_mode, s.st_nlink, s.st_uid, s.st_gid,
                             s.st_size, read, lambda h=host: os.readlink(h))
        if st_mod.S_ISDIR(s.st_mode):
            pending.extend(join(path, n) for n in os.listdir(host))
    return out


# ----- fixtures ------------------------------------------------------------------

def make_lower(root, seed):
    rng = Xorshift(seed)
    dirs = ["/"]
    files = []
    os.makedirs(root)
    for i in range(6):
        d = join(dirs[rng.below(len(dirs))], "d%d" % i)
        os.mkdir(root + d)
        dirs.append(d)
    for i in range(14):
        f = join(dirs[rng.below(len(dirs))], "f%d" % i)
        size = [0, 5, 300, 5000][rng.below(4)]
        with open(root + f, "wb") as fh:
            fh.write(bytes((rng.next() & 0xFF for _ in range(size))))
        files.append(f)
    os.link(root + files[0], root + join(dirs[rng.below(len(dirs))], "hl"))
    os.symlink("f1", root + "/s_rel")
    # relative only: the kernel resolves an absolute target against the
    # host's root, ovl against the overlay's
    os.symlink("d1", root + "/s_dir")
    os.symlink("nowhere", root + "/s_dangling")
    os.chmod(root, 0o755)
    return dirs, files


NAMES = ("a", "b", "f1", "f3", "d1", "d2", "hl", "s_rel", "x")


def current_paths(root):
    """(dirs, others) present now under a host tree, sorted (no symlink
    following: a symlink counts as an 'other')."""
    dirs, others = [], []
    for top, subdirs, files in os.walk(root):
        rel = top[len(root):] or "/"
        dirs.append(rel)
        for n in files:
            others.append(join(rel, n))
        for n in list(subdirs):
            if os.path.islink(os.path.join(top, n)):
                others.append(join(rel, n))
    return sorted(dirs), sorted(others)


def random_ops(rng, root, count):
    """Operations drawn mostly from what exists now on the kernel side (a
    deterministic function of the seed), so most of them succeed."""
    for _ in range(count):
        dirs, others = current_paths(root)
        everything = dirs[1:] + others

        def fresh():
            return join(dirs[rng.below(len(dirs))], NAMES[rng.below(len(NAMES))])

        def existing():
            return everything[rng.below(len(everything))] if everything \
                and rng.below(4) else fresh()

        def a_file():
            return others[rng.below(len(others))] if others and rng.below(4) \
                else fresh()

        k = rng.below(15)
        if k < 3:
            mode = ("w", "a", "r+")[rng.below(3)]
            data = bytes([65 + rng.below(26)]) * (1 + rng.below(600))
            yield ("write", a_file(), mode, rng.below(400), data)
        elif k == 3:
            yield ("read", a_file())
        elif k == 4:
            yield ("truncate", a_file(), rng.below(700))
        elif k == 5:
            yield ("mkdir", fresh())
        elif k == 6:
            yield ("rmdir", existing())
        elif k == 7:
            yield ("unlink", existing())
        elif k in (8, 9):
            yield ("rename", existing(), existing() if rng.below(2) else fresh())
        elif k == 10:
            # "/" is the mount point on the kernel side (EXDEV/EBUSY there)
            src = dirs[1 + rng.below(len(dirs) - 1)] if len(dirs) > 1 \
                else fresh()
            yield ("rename", src, fresh())
        elif k == 11:
            yield ("link", a_file(), fresh())
        elif k == 12:
            yield ("symlink", NAMES[rng.below(len(NAMES))], fresh())
        elif k == 13:
            yield ("chmod", existing(), 0o600 + rng.below(0o177))
        else:
            yield ("listdir", dirs[rng.below(len(dirs))])


class KernelOverlay:
    def __init__(self, base, lower):
        self.lower = lower
        self.tmpfs = os.path.join(base, "t")
        self.mnt = os.path.join(base, "m")
        os.makedirs(self.tmpfs)
        os.makedirs(self.mnt)
        self.run(["mount", "-t", "tmpfs", "ovltest", self.tmpfs])
        os.makedirs(os.path.join(self.tmpfs, "u"))
        os.makedirs(os.path.join(self.tmpfs, "w"))
        self.mount()

    @staticmethod
    def run(argv):
        proc = subprocess.run(argv, capture_output=True, text=True)
        if proc.returncode:
            raise RuntimeError("%s: %s" % (" ".join(argv),
                                           proc.stderr.strip()))

    def mount(self):
        self.run(["mount", "-t", "overlay", "overlay", "-o",
                  "lowerdir=%s,upperdir=%s/u,workdir=%s/w,redirect_dir=on,"
                  "index=on" % (self.lower, self.tmpfs, self.tmpfs), self.mnt])

    def umount(self):
        self.run(["umount", self.mnt])

    def close(self):
        for target in (self.mnt, self.tmpfs):
            subprocess.run(["umount", target], capture_output=True)


def kernel_overlay_or_skip(base, lower):
    if os.geteuid() != 0:
        pytest.skip("kernel overlayfs needs root (CI runs as root)")
    try:
        return KernelOverlay(base, lower)
    except (RuntimeError, OSError) as e:
        subprocess.run(["umount", os.path.join(base, "t")],
                       capture_output=True)
        pytest.skip("cannot mount kernel overlayfs here: %s" % e)


@pytest.fixture
def umask022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def ovl_over(lower_kind, lower_dir, tmp):
    if lower_kind == "dir":
        lower = DirLower(lower_dir)
    else:
        if not shutil.which("mksquashfs"):
            pytest.skip("mksquashfs not installed")
        image = os.path.join(tmp, "lower.sqfs")
        subprocess.run(["mksquashfs", lower_dir, image, "-noappend",
                        "-quiet"], check=True, capture_output=True)
        from ovl.squashfs import SquashFS
        from ovl.flash import BytesSource
        with open(image, "rb") as f:
            lower = SquashFS(BytesSource(f.read()))
    flash = SimFlash(1 << 21, 4096, 256)
    LogStore.format(flash)
    return lower, flash


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("lower_kind", ["dir", "squashfs"])
def test_same_results_as_kernel_overlayfs(seed, lower_kind, umask022):
    base = tempfile.mkdtemp(prefix="ovl-kdiff-")
    try:
        lower_dir = os.path.join(base, "lower")
        make_lower(lower_dir, seed)
        kernel = kernel_overlay_or_skip(base, lower_dir)
        try:
            lower, flash = ovl_over(lower_kind, lower_dir, base)
            ovl = mount(lower, flash)
            ks, os_ = KernelSide(kernel.mnt), OvlSide(ovl)
            ops = random_ops(Xorshift(seed * 7919), kernel.mnt, OPS_PER_RUN)
            mismatches = []
            for i, op in enumerate(ops):
                want = run_op(ks, op)
                got = run_op(os_, op)
                if want != got:
                    mismatches.append("op %d %r: kernel %r, ovl %r"
                                      % (i, op[:3], want, got))
            assert not mismatches, "\n".join(mismatches[:10])
            assert os_.tree() == ks.tree()
            # remount both: the state must survive unchanged
            kernel.umount()
            kernel.mount()
            ovl.sync()
            os_ = OvlSide(mount(lower, flash))
            assert os_.tree() == ks.tree()
        finally:
            kernel.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)


# ----- fixed sequences: cases the random runs found -------------------------------

FIXED_SEQUENCES = {
    # a lower hard-linked name removed (or renamed over) before another
    # name is copied up: the other names count one link fewer
    "hardlink-removed-first": [("unlink", "/h1"), ("write", "/h2", "r+", 0,
                                                     b"S"),
                               ("rename", "/f", "/h3"), ("unlink", "/h2")],
    "hardlink-renamed-over": [("rename", "/f", "/h1"),
                              ("write", "/h3", "a", 0, b"+")],
    # O_EXCL never follows a final symlink, dangling or not
    "exclusive-open": [("write", "/deep/x", "x", 0, b"z"),
                       ("write", "/deep/ok", "x", 0, b"z"),
                       ("write", "/s_dangling", "x", 0, b"z"),
                       ("write", "/f", "x", 0, b"z"),
                       ("write", "/deep", "x", 0, b"z"),
                       ("write", "/deep/", "x", 0, b"z"),
                       ("write", "/f/", "x", 0, b"z")],
}


def make_fixed_lower(root):
    os.makedirs(root + "/deep")
    for name, data in (("/h1", b"shared\n"), ("/f", b"plain\n")):
        with open(root + name, "wb") as f:
            f.write(data)
    os.link(root + "/h1", root + "/h2")
    os.link(root + "/h1", root + "/h3")
    os.symlink("config", root + "/deep/x")      # dangling, relative
    os.symlink("nowhere", root + "/s_dangling")
    os.chmod(root, 0o755)


@pytest.mark.parametrize("name", sorted(FIXED_SEQUENCES))
def test_fixed_sequences_match_kernel_overlayfs(name, umask022):
    base = tempfile.mkdtemp(prefix="ovl-kdiff-")
    try:
        lower_dir = os.path.join(base, "lower")
        make_fixed_lower(lower_dir)
        kernel = kernel_overlay_or_skip(base, lower_dir)
        try:
            lower, flash = ovl_over("dir", lower_dir, base)
            ks, os_ = KernelSide(kernel.mnt), OvlSide(mount(lower, flash))
            for op in FIXED_SEQUENCES[name]:
                assert run_op(os_, op) == run_op(ks, op), op
                assert os_.tree() == ks.tree(), op
            kernel.umount()
            kernel.mount()
            os_.ovl.sync()
            assert OvlSide(mount(lower, flash)).tree() == ks.tree()
        finally:
            kernel.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)
