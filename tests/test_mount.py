"""`ovl mount` as a real Linux filesystem: real programs against the
mountpoint, compared with kernel overlayfs over the same lower; the
lifecycle (SIGTERM, ovl umount, umount, fusermount3 -u, a second mount,
kill -9 as a power cut); bad input.  Needs root and /dev/fuse (CI has both);
every subprocess has a timeout and every mount is undone in a finally."""

import json
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

import pytest

from test_kernel_diff import KernelOverlay, host_tree

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT = 60

if os.geteuid() != 0 or not os.path.exists("/dev/fuse"):
    pytest.skip("FUSE mounts need root and /dev/fuse (CI has both)",
                allow_module_level=True)


def ovl(*args, timeout=TIMEOUT, check=True):
    proc = subprocess.run([sys.executable, "-m", "host_tools"] + list(args),
                          cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        pytest.fail("ovl %s: exit %d: %s" % (" ".join(args), proc.returncode,
                                             proc.stderr), pytrace=False)
    return proc


def is_mounted(path):
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == path for line in f)


def wait_for(predicate, what, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting for %s" % what, pytrace=False)
        time.sleep(0.02)


class Server:
    """`ovl mount --foreground` as a child process we can signal."""

    def __init__(self, lower, upper, mnt, *options):
        self.mnt = mnt
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "host_tools", "mount", "--lower", lower,
             "--upper", upper, mnt, "--foreground"] + list(options),
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        wait_for(lambda: is_mounted(mnt) or self.proc.poll() is not None,
                 "the mount")
        if self.proc.poll() is not None:
            pytest.fail("ovl mount failed: %s" % self.proc.stderr.read(),
                        pytrace=False)

    def wait(self):
        try:
            _out, err = self.proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        return self.proc.returncode, err

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=TIMEOUT)
        cleanup_mount(self.mnt)


def cleanup_mount(mnt):
    while is_mounted(mnt):
        subprocess.run(["umount", "-l", mnt], capture_output=True,
                       timeout=TIMEOUT)


def make_lower(root):
    os.makedirs(root + "/etc/sub")
    os.makedirs(root + "/lib/pkg")
    os.makedirs(root + "/empty")
    with open(root + "/etc/config", "w") as f:
        f.write("option=1\n")
    with open(root + "/etc/sub/deep", "w") as f:
        f.write("deep\n")
    with open(root + "/big", "wb") as f:
        f.write(bytes(range(256)) * 4096)
    os.link(root + "/big", root + "/big.link")
    os.symlink("etc/config", root + "/cfg")
    os.symlink("/nowhere", root + "/dangling")
    os.mkfifo(root + "/fifo")
    os.mknod(root + "/null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    for i in range(5):
        with open(root + "/lib/pkg/m%d.py" % i, "w") as f:
            f.write("VALUE = %d\n" % i)
    os.chmod(root + "/etc/config", 0o640)
    os.chown(root + "/etc/sub/deep", 12, 34)


@pytest.fixture
def layers(tmp_path):
    """(lower dir, lower image, upper image, base) with a formatted upper."""
    old = os.umask(0o022)
    lower = str(tmp_path / "lower")
    make_lower(lower)
    image = str(tmp_path / "lower.sqfs")
    subprocess.run(["mksquashfs", lower, image, "-noappend", "-quiet"],
                   check=True, capture_output=True, timeout=TIMEOUT)
    upper = str(tmp_path / "upper.img")
    ovl("format", upper, "--size", "4M", "--erase-size", "16k")
    yield lower, image, upper, str(tmp_path)
    os.umask(old)


WORKLOAD = r"""
set -e
cp -a etc etc.copy
cp big big.copy
mv etc/sub etc/moved
mv lib lib2
rm -rf etc.copy/sub
ln etc/config config.hard
ln -s ../big etc/big.sym
chmod 600 big.link
chmod 755 etc/moved
touch -d '2021-03-04 05:06:07' etc/config
truncate -s 1000 big.copy
truncate -s 5 big
mkfifo etc/pipe
mkdir -p a/b/c
echo hello > a/b/c/file
tar -cf t.tar a etc lib2
mkdir x
tar -xf t.tar -C x
rm t.tar
rm -f dangling
mv x/a/b/c/file x/a/renamed
"$PYTHON" -m compileall -q lib2 >/dev/null
"$PYTHON" - <<'EOF'
import os, sqlite3
db = sqlite3.connect("data.db")
db.execute("create table t (k integer primary key, v text)")
with db:
    for i in range(200):
        db.execute("insert into t values (?, ?)", (i, "v%d" % i * 10))
with db:
    db.execute("delete from t where k % 3 = 0")
try:
    with db:
        db.execute("insert into t values (1, 'dup')")
except sqlite3.IntegrityError:
    pass
db.close()
with open("py.txt", "w") as f:
    f.write("written")
    f.flush()
    os.fsync(f.fileno())
os.rename("py.txt", "py2.txt")
os.replace("cfg", "cfg2")
os.unlink("fifo")
os.rmdir("empty")
os.mkdir("empty")
os.makedirs("n1/n2")
os.rename("n1", "n3")
import tempfile
with tempfile.TemporaryFile(dir=".") as t:    # removed while open
    t.write(b"scratch" * 5000)
    t.seek(0)
    assert t.read() == b"scratch" * 5000
"""


def run_workload(cwd):
    proc = subprocess.run(["bash", "-c", WORKLOAD], cwd=cwd,
                          capture_output=True, text=True, timeout=TIMEOUT,
                          env=dict(os.environ, PYTHON=sys.executable,
                                   PYTHONDONTWRITEBYTECODE="1"))
    assert proc.returncode == 0, proc.stderr


def tree_with_rdev(root):
    tree = host_tree(root)
    for path, item in tree.items():
        st = os.lstat(root + path if path != "/" else root)
        if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            item["rdev"] = st.st_rdev
        if stat.S_ISREG(st.st_mode) and path.endswith("config"):
            item["mtime"] = int(st.st_mtime)
    return tree


@pytest.mark.slow
def test_real_programs_match_kernel_overlayfs(layers):
    lower, image, upper, base = layers
    kernel = None
    server = None
    mnt = os.path.join(base, "mnt")
    os.mkdir(mnt)
    try:
        try:
            kernel = KernelOverlay(os.path.join(base, "k"), lower)
        except (RuntimeError, OSError) as e:
            pytest.skip("cannot mount kernel overlayfs here: %s" % e)
        server = Server(image, upper, mnt)
        assert tree_with_rdev(mnt) == tree_with_rdev(kernel.mnt)
        run_workload(kernel.mnt)
        run_workload(mnt)
        expect = tree_with_rdev(kernel.mnt)
        assert tree_with_rdev(mnt) == expect
        assert os.stat(mnt + "/etc/config").st_mtime == 1614834367
        # remount both: the same trees again
        ovl("umount", mnt)
        assert server.wait()[0] == 0
        kernel.umount()
        kernel.mount()
        assert ovl("fsck", upper).returncode == 0
        server = Server(image, upper, mnt)
        assert tree_with_rdev(kernel.mnt) == expect
        assert tree_with_rdev(mnt) == expect
    finally:
        if server is not None:
            server.cleanup()
        if kernel is not None:
            kernel.close()


def write_file(path, data):
    with open(path, "w") as f:
        f.write(data)


def read_file(path):
    with open(path) as f:
        return f.read()


@pytest.mark.parametrize("how", ["SIGTERM", "ovl umount", "umount",
                                 "fusermount3 -u"])
@pytest.mark.slow
def test_every_way_of_stopping_commits_and_exits_0(layers, how):
    lower, image, upper, base = layers
    if how.startswith("fusermount3") and not shutil.which("fusermount3"):
        pytest.skip("fusermount3 not installed (Debian package fuse3)")
    mnt = os.path.join(base, "mnt")
    os.mkdir(mnt)
    server = Server(image, upper, mnt)
    try:
        write_file(mnt + "/etc/config", "changed\n")
        f = open(mnt + "/held", "w")
        f.write("open at the stop" if how == "SIGTERM" else "closed")
        if how == "SIGTERM":
            f.flush()            # reaches the server, but no close: no commit
            server.proc.send_signal(signal.SIGTERM)
        else:
            f.close()
            ovl_cmd = {"ovl umount": [sys.executable, "-m", "host_tools",
                                      "umount", mnt],
                       "umount": ["umount", mnt],
                       "fusermount3 -u": ["fusermount3", "-u", mnt]}[how]
            proc = subprocess.run(ovl_cmd, cwd=ROOT, capture_output=True,
                                  text=True, timeout=TIMEOUT)
            assert proc.returncode == 0, proc.stderr
        status, err = server.wait()
        assert status == 0, err
        assert not is_mounted(mnt)
        shown = ovl("fs", "cat", "--lower", image, "--upper", upper,
                    "/etc/config").stdout
        assert shown == "changed\n"
        held = ovl("fs", "cat", "--lower", image, "--upper", upper,
                   "/held").stdout
        assert held == ("open at the stop" if how == "SIGTERM" else "closed")
        assert ovl("fsck", upper).returncode == 0
    finally:
        server.cleanup()
        try:
            f.close()
        except OSError:
            pass                 # its mount is gone


@pytest.mark.slow
def test_background_mount_and_a_second_mount_of_the_upper(layers):
    lower, image, upper, base = layers
    mnt, mnt2 = os.path.join(base, "mnt"), os.path.join(base, "mnt2")
    os.mkdir(mnt)
    os.mkdir(mnt2)
    try:
        ovl("mount", "--lower", image, "--upper", upper, mnt)
        assert read_file(mnt + "/etc/config") == "option=1\n"
        write_file(mnt + "/new", "background")
        again = ovl("mount", "--lower", image, "--upper", upper, mnt2,
                    check=False)
        assert again.returncode != 0 and not is_mounted(mnt2)
        assert again.stderr.count("\n") == 1 and "in use" in again.stderr
        busy = ovl("mount", "--lower", lower, mnt, check=False)
        assert busy.returncode != 0 and "busy" in busy.stderr
        ovl("umount", mnt)           # returns once the upper is committed
        assert not is_mounted(mnt)
        assert not os.path.exists(os.path.join(base, ".upper.img.lock"))
        assert ovl("fs", "cat", "--lower", image, "--upper", upper,
                   "/new").stdout == "background"
    finally:
        cleanup_mount(mnt)
        cleanup_mount(mnt2)


def test_read_only_and_lower_only_mounts(layers):
    lower, image, upper, base = layers
    mnt = os.path.join(base, "mnt")
    os.mkdir(mnt)
    server = Server(image, upper, mnt, "-o", "ro")
    try:
        with pytest.raises(OSError) as e:
            write_file(mnt + "/x", "no")
        assert e.value.errno == 30       # EROFS
    finally:
        server.cleanup()
    proc = subprocess.Popen([sys.executable, "-m", "host_tools", "mount",
                             "--lower", lower, mnt, "--foreground"], cwd=ROOT,
                            stderr=subprocess.PIPE)
    try:
        wait_for(lambda: is_mounted(mnt) or proc.poll() is not None, "mount")
        assert read_file(mnt + "/etc/sub/deep") == "deep\n"
        assert os.lstat(mnt + "/null").st_rdev == os.makedev(1, 3)
        with pytest.raises(OSError) as e:
            os.mkdir(mnt + "/d")
        assert e.value.errno == 30
    finally:
        proc.kill()
        proc.communicate(timeout=TIMEOUT)
        cleanup_mount(mnt)


# ----- kill -9 ------------------------------------------------------------------

CRASH_WORKLOAD = r"""
import os, sys
root, log, count, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
    int(sys.argv[4])
sys.path[:0] = [%r, %r]
from test_mount import crash_ops
logf = open(log, "a")
for i, op in enumerate(crash_ops(seed, count)):
    kind = op[0]
    p = lambda n: os.path.join(root, n)
    if kind in ("write", "append"):
        fd = os.open(p(op[1]), os.O_WRONLY | os.O_CREAT |
                     (os.O_TRUNC if kind == "write" else os.O_APPEND), 0o644)
        os.write(fd, op[2])
        if op[3]:
            os.fsync(fd)
        os.close(fd)
    elif kind == "mkdir":
        os.mkdir(p(op[1]))
    elif kind == "rename":
        os.rename(p(op[1]), p(op[2]))
    elif kind == "unlink":
        os.unlink(p(op[1]))
    logf.write("%%d\n" %% i)
    logf.flush()
""" % (os.path.dirname(os.path.abspath(__file__)),
       os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                    "firmware"))


def crash_ops(seed, count):
    """A deterministic list of whole operations on a small namespace."""
    rng = random.Random(seed)
    files, dirs = [], ["d0"]
    ops = [("mkdir", "d0")]
    while len(ops) < count:
        k = rng.random()
        if k < 0.45 or not files:
            name = rng.choice(dirs) + "/f%d" % rng.randrange(8)
            data = (b"%d:" % len(ops)) * rng.randrange(1, 30000)
            kind = "append" if name in files and rng.random() < 0.3 else \
                "write"
            ops.append((kind, name, data, rng.random() < 0.2))
            if name not in files:
                files.append(name)
        elif k < 0.55 and len(dirs) < 4:
            dirs.append("d%d" % len(dirs))
            ops.append(("mkdir", dirs[-1]))
        elif k < 0.8:
            src = rng.choice(files)
            dst = rng.choice(dirs) + "/f%d" % rng.randrange(8)
            if dst == src:
                continue
            ops.append(("rename", src, dst))
            files.remove(src)
            if dst not in files:
                files.append(dst)
        else:
            name = rng.choice(files)
            ops.append(("unlink", name))
            files.remove(name)
    return ops


def model_states(ops):
    """The tree ({path: bytes, or None for a directory}) after each prefix
    of ops, and the extra state each op may pass through: creating a file
    is its own syscall (open with O_CREAT) before the data's close."""
    state = {}
    states = [dict(state)]
    midway = []
    for op in ops:
        mid = None
        if op[0] in ("write", "append") and op[1] not in state:
            mid = dict(state)
            mid[op[1]] = b""
        if op[0] == "write":
            state[op[1]] = op[2]
        elif op[0] == "append":
            state[op[1]] = state.get(op[1], b"") + op[2]
        elif op[0] == "mkdir":
            state[op[1]] = None
        elif op[0] == "rename":
            state[op[2]] = state.pop(op[1])
        elif op[0] == "unlink":
            del state[op[1]]
        midway.append(mid)
        states.append(dict(state))
    return states, midway


def explain(states, got, ops):
    def diff(k):
        want = states[k]
        return {p: (summary(want.get(p)), summary(got.get(p)))
                for p in set(want) | set(got) if want.get(p) != got.get(p)}
    best = min(range(len(states)), key=lambda k: len(diff(k)))
    return "closest prefix %d (op %r), differing: %r" % (
        best, [o[:2] for o in ops[max(0, best - 3):best + 3]], diff(best))


def summary(data):
    return data if data is None else (len(data), data[:12])


def mounted_tree(root):
    out = {}
    for name in os.listdir(root):
        if not (name[:1] == "d" and name[1:].isdigit()):
            continue             # the lower's own names
        out[name] = None
        for sub in os.listdir(os.path.join(root, name)):
            with open(os.path.join(root, name, sub), "rb") as f:
                out[name + "/" + sub] = f.read()
    return out


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_9_mid_workload_is_a_power_cut(layers, seed):
    lower, image, upper, base = layers
    mnt = os.path.join(base, "mnt")
    os.mkdir(mnt)
    log = os.path.join(base, "log")
    count = 80
    ops = crash_ops(seed, count)
    states, midway = model_states(ops)
    kill_after = random.Random(seed).randrange(5, count - 10)
    server = Server(image, upper, mnt)
    worker = None
    try:
        worker = subprocess.Popen(
            [sys.executable, "-c", CRASH_WORKLOAD, mnt, log, str(count),
             str(seed)], stderr=subprocess.DEVNULL)

        def logged():
            if not os.path.exists(log):
                return 0
            with open(log) as f:
                return f.read().count("\n")
        wait_for(lambda: logged() >= kill_after or worker.poll() is not None,
                 "the workload")
        server.proc.kill()
        server.proc.communicate(timeout=TIMEOUT)
        worker.communicate(timeout=TIMEOUT)
        cleanup_mount(mnt)
        with open(log) as f:
            lines = [int(ln) for ln in f]
        completed = len(lines)
        assert lines == list(range(completed))
        assert ovl("fsck", upper).returncode == 0
        server = Server(image, upper, mnt)
        got = mounted_tree(mnt)
        # every op that returned is there (fsync'd or not: each close
        # committed); the op in flight is there, absent, or midway
        allowed = [states[completed]]
        if completed < count:
            allowed += [states[completed + 1], midway[completed]]
        print("seed %d: killed after %d of %d ops" % (seed, completed, count))
        assert got in allowed, "tree after kill -9 after %d ops: %s" % (
            completed, explain(states, got, ops))
    finally:
        if worker is not None and worker.poll() is None:
            worker.kill()
            worker.communicate(timeout=TIMEOUT)
        server.cleanup()


BIG_WRITER = r"""
import os, sys, time
f = open(sys.argv[1], "wb")
f.write(os.urandom(1 << 20))        # eight 128 KiB requests, all answered
open(sys.argv[2], "w").close()      # written: the server may die now
time.sleep(60)
"""


@pytest.mark.slow
def test_kill_9_mid_big_file_leaves_it_absent_or_empty(layers):
    # a new file written past write_buffer and not yet closed is one
    # pending transaction: after kill -9 it holds nothing, never a prefix
    lower, image, upper, base = layers
    mnt = os.path.join(base, "mnt")
    os.mkdir(mnt)
    mark = os.path.join(base, "written")
    server = Server(image, upper, mnt, "-o", "write_buffer=128K")
    writer = None
    try:
        writer = subprocess.Popen([sys.executable, "-c", BIG_WRITER,
                                   os.path.join(mnt, "new"), mark])
        wait_for(lambda: os.path.exists(mark) or writer.poll() is not None,
                 "the writer")
        assert os.path.exists(mark), "the writer failed"
        server.proc.kill()
        server.proc.communicate(timeout=TIMEOUT)
        writer.kill()
        writer.communicate(timeout=TIMEOUT)
        cleanup_mount(mnt)
        assert ovl("fsck", upper).returncode == 0
        listing = ovl("fs", "ls", "-l", "/", "--lower", image, "--upper",
                      upper).stdout
        new = [line for line in listing.splitlines()
               if line.split()[-1:] == ["new"]]
        assert new == [] or new[0].split()[4] == "0", listing
    finally:
        if writer is not None and writer.poll() is None:
            writer.kill()
            writer.communicate(timeout=TIMEOUT)
        server.cleanup()


# ----- bad input ------------------------------------------------------------------

@pytest.mark.slow
def test_bad_input_is_one_line_and_nothing_half_mounted(layers, tmp_path):
    lower, image, upper, base = layers
    mnt = os.path.join(base, "mnt")
    os.mkdir(mnt)
    notsq = str(tmp_path / "not.sqfs")
    with open(notsq, "wb") as f:
        f.write(b"hello" * 1000)
    other = str(tmp_path / "other.img")
    ovl("format", other, "--size", "1M", "--erase-size", "4k")
    with open(other, "ab") as f:            # one block more than formatted
        f.write(b"\xff" * 4096)
    cases = [
        (["--lower", image, "--upper", upper, base + "/missing"],
         "does not exist"),
        (["--lower", image, "--upper", upper, upper], "not a directory"),
        (["--lower", notsq, "--upper", upper, mnt], "not a SquashFS"),
        (["--lower", image, "--upper", other, mnt], "blocks"),
        (["--lower", image, "--upper", base + "/nope.img", mnt],
         "does not exist"),
        (["--lower", image, "--upper", upper, mnt, "-o", "bogus"],
         "unknown mount option"),
        (["--lower", lower, lower], "overlaps the lower"),
        (["--lower", lower, lower + "/etc"], "overlaps the lower"),
        (["--lower", image, "--upper", mnt + "/u.img", mnt],
         "overlaps the upper"),
    ]
    for argv, words in cases:
        proc = ovl("mount", *argv, check=False)
        assert proc.returncode != 0, argv
        lines = proc.stderr.splitlines()
        if proc.returncode == 2:    # an argument error: usage, one line
            assert lines[0].startswith("usage: ") and \
                lines[-1].startswith("ovl mount: error: ") and \
                words in lines[-1], (argv, proc.stderr)
        else:
            assert len(lines) == 1 and words in proc.stderr, \
                (argv, proc.stderr)
        assert not is_mounted(mnt)
    proc = ovl("umount", mnt, check=False)
    assert proc.returncode == 1 and "not an ovl mount" in proc.stderr
    # nothing was left locked or mounted: a good mount works
    server = Server(image, upper, mnt)
    try:
        assert read_file(mnt + "/etc/config") == "option=1\n"
        busy = ovl("mount", "--lower", image, mnt, check=False)
        assert busy.returncode == 1 and "busy" in busy.stderr
    finally:
        server.cleanup()


def test_no_dev_fuse_and_no_permission(layers, monkeypatch):
    lower, image, upper, base = layers
    from host_tools.commands import mount as cmd_mount
    from host_tools.fuse import mount as fuse_mount
    from host_tools.cli import CliError
    mnt = os.path.join(base, "mnt")
    os.mkdir(mnt)
    monkeypatch.setattr(fuse_mount, "FUSE_DEVICE", base + "/no-fuse")
    parser = __import__("argparse").ArgumentParser()
    cmd_mount.add_mount_args(parser)
    args = parser.parse_args(["--lower", image, "--upper", upper, mnt])
    with pytest.raises(CliError) as e:
        cmd_mount.run_mount(args)
    assert "no FUSE" in str(e.value)
    assert not is_mounted(mnt)
    with pytest.raises(CliError) as e:
        fuse_mount.open_device()
    assert "does not exist" in str(e.value)


def test_lower_on_a_block_device(layers):
    lower, image, upper, base = layers
    proc = subprocess.run(["losetup", "-f", "--show", "-r", image],
                          capture_output=True, text=True, timeout=TIMEOUT)
    if proc.returncode:
        pytest.skip("no loop device here: %s" % proc.stderr.strip())
    loop = proc.stdout.strip()
    mnt = os.path.join(base, "mnt")
    os.mkdir(mnt)
    server = None
    try:
        server = Server(loop, upper, mnt)
        assert read_file(mnt + "/etc/sub/deep") == "deep\n"
        assert os.readlink(mnt + "/cfg") == "etc/config"
        write_file(mnt + "/etc/sub/deep", "changed\n")
        assert read_file(mnt + "/etc/sub/deep") == "changed\n"
    finally:
        if server is not None:
            server.cleanup()
        subprocess.run(["losetup", "-d", loop], capture_output=True,
                       timeout=TIMEOUT)


@pytest.fixture
def mounted(layers):
    """The mountpoint of `ovl mount` over the layers, unmounted after."""
    _lower, image, upper, base = layers
    mnt = os.path.join(base, "mnt")
    os.mkdir(mnt)
    server = Server(image, upper, mnt)
    try:
        yield mnt
    finally:
        server.cleanup()


def test_st_blocks_count_what_a_sparse_file_stores(mounted):
    mnt = mounted
    far = 100 << 20
    with open(mnt + "/sparse", "wb") as f:
        f.seek(far)
        f.write(b"x" * 3000)
    with open(mnt + "/dense", "wb") as f:
        f.write(b"d" * 5000)
    sparse = os.stat(mnt + "/sparse")
    assert sparse.st_size == far + 3000
    # at least the data written, far less than the size (Linux counts
    # whole filesystem blocks: a few KiB here)
    assert 3000 <= sparse.st_blocks * 512 <= 64 * 1024
    assert os.stat(mnt + "/dense").st_blocks * 512 >= 5000
    # a lower file holds its size
    assert os.stat(mnt + "/big").st_blocks * 512 >= 256 * 4096


REMOVED_CWD = r"""
import json, os, stat, sys
os.chdir(sys.argv[1])
print("in", flush=True)
sys.stdin.readline()               # the directory is removed meanwhile
st = os.stat(".")
print(json.dumps([st.st_nlink, stat.S_ISDIR(st.st_mode), os.listdir(".")]))
"""


def test_a_removed_current_directory_stats_nlink_0_and_lists_nothing(mounted):
    mnt = mounted
    for made in ("made", "empty"):       # one the upper made, a lower one
        if made == "made":
            os.mkdir(mnt + "/made")
        child = subprocess.Popen(
            [sys.executable, "-c", REMOVED_CWD, mnt + "/" + made],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        try:
            assert child.stdout.readline() == "in\n"
            os.rmdir(mnt + "/" + made)
            out, err = child.communicate("go\n", timeout=TIMEOUT)
        finally:
            if child.poll() is None:
                child.kill()
                child.communicate(timeout=TIMEOUT)
        assert child.returncode == 0, err
        assert json.loads(out) == [0, True, []], made


USER_DRIVER = r"""
import argparse, sys
sys.path.insert(0, %r)
from host_tools.commands import mount as cmd_mount
from host_tools.cli import CliError, one_line
verb = sys.argv[1]
p = argparse.ArgumentParser()
cmd_mount.COMMANDS[verb][1](p)
try:
    sys.exit(cmd_mount.COMMANDS[verb][2](p.parse_args(sys.argv[2:])) or 0)
except (CliError, OSError, ValueError) as e:
    print("ovl: error: %%s" %% one_line(e), file=sys.stderr)
    sys.exit(1)
""" % ROOT


@pytest.mark.slow
def test_a_user_mounts_through_fusermount3():
    """Not root: fusermount3 mounts and passes the /dev/fuse descriptor
    back; `ovl umount` goes through `fusermount3 -u`.  Run as nobody with
    the system python (the venv's may sit where nobody cannot read)."""
    if not shutil.which("fusermount3"):
        pytest.skip("fusermount3 not installed (Debian package fuse3)")
    python = shutil.which("python3", path="/usr/bin:/bin")
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534",
                 "--clear-groups", "env", "HOME=/tmp"]
    probe = subprocess.run(as_nobody + [python, "-c", "import os; "
                                        "os.listdir(%r)" % ROOT],
                           capture_output=True, timeout=TIMEOUT)
    if python is None or probe.returncode:
        pytest.skip("nobody cannot run python3 on this checkout")
    # pytest's tmp_path sits under a root-only directory
    base = tempfile.mkdtemp(prefix="ovl-user-mount-")
    try:
        user_mount(python, as_nobody, base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def user_mount(python, as_nobody, base):
    os.chmod(base, 0o755)
    lower = base + "/lower"
    os.makedirs(lower + "/pub")
    os.chmod(lower + "/pub", 0o777)
    image = base + "/lower.sqfs"
    subprocess.run(["mksquashfs", lower, image, "-noappend", "-quiet"],
                   check=True, capture_output=True, timeout=TIMEOUT)
    upper = base + "/upper.img"
    ovl("format", upper, "--size", "1M", "--erase-size", "4k")
    mnt = base + "/mnt"
    os.mkdir(mnt)
    for path in (base, upper, mnt):
        os.chown(path, 65534, 65534)

    def user(*argv):
        return subprocess.run(as_nobody + [python, "-c", USER_DRIVER] +
                              list(argv), capture_output=True, text=True,
                              timeout=TIMEOUT)
    mode = os.stat("/dev/fuse").st_mode & 0o777
    try:
        if mode & 0o006 != 0o006:
            # as this machine has it: no permission is one line, no mount
            proc = user("mount", "--lower", image, "--upper", upper, mnt)
            assert proc.returncode == 1 and \
                proc.stderr.count("\n") == 1, proc.stderr
            assert "fusermount3 could not mount" in proc.stderr
            assert not is_mounted(mnt)
            os.chmod("/dev/fuse", 0o666)         # as udev sets it
        proc = user("mount", "--lower", image, "--upper", upper, mnt)
        assert proc.returncode == 0, proc.stderr
        with open("/proc/self/mountinfo") as f:
            line = [ln for ln in f if ln.split()[4] == mnt][0]
        assert "user_id=65534" in line and "fuse.ovl" in line
        done = subprocess.run(as_nobody + ["sh", "-c", "echo mine > %s/pub/f"
                                           % mnt], capture_output=True,
                              timeout=TIMEOUT)
        assert done.returncode == 0, done.stderr
        proc = user("umount", mnt)
        assert proc.returncode == 0, proc.stderr
        assert not is_mounted(mnt)
    finally:
        os.chmod("/dev/fuse", mode)
        cleanup_mount(mnt)
    st = ovl("fs", "stat", "--lower", image, "--upper", upper,
             "/pub/f").stdout
    assert '"uid": 65534' in st
    assert ovl("fs", "cat", "--lower", image, "--upper", upper,
               "/pub/f").stdout == "mine\n"
