"""`ovl mkimage/ls/cat/extract` at the command line: output checked against
unsquashfs, one-line errors on bad input, hostile images refused."""

import os
import random
import re
import signal
import stat
import subprocess
import sys
import time

import pytest

from conftest import ROOT
from host_tools import cli
from host_tools.image.extract import extract, ExtractError

MTIME = 1600000000
# mode uid/gid size-or-"major, minor" date time path[ -> target]
UNSQUASHFS_LINE = re.compile(
    r"^(\S+) (\S+)\s+(.+?) (\d{4}-\d\d-\d\d \d\d:\d\d) (.*)$")


def ovl(capfd, *args):
    """Run the CLI in-process: (status, stdout, stderr)."""
    status = cli.main([str(a) for a in args])
    out, err = capfd.readouterr()
    return status, out, err


def assert_one_line_error(status, err, *fragments):
    assert status == 1, err
    assert err.startswith("ovl: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and "internal error" not in err, err
    for frag in fragments:
        assert frag in err, err


def small_tree(top):
    os.makedirs(top + "/etc/init.d")
    with open(top + "/etc/hostname", "w") as f:
        f.write("router\n")
    with open(top + "/etc/init.d/rcS", "w") as f:
        f.write("#!/bin/sh\necho boot\n" * 500)
    os.chmod(top + "/etc/init.d/rcS", 0o755)
    os.symlink("/etc/hostname", top + "/hostname-link")
    os.symlink("init.d/rcS", top + "/etc/rc")
    os.link(top + "/etc/hostname", top + "/etc/hostname.hl")
    with open(top + "/blob", "wb") as f:
        f.write(random.Random(1).randbytes(200000))
    for dirpath, dirnames, filenames in os.walk(top):
        for n in dirnames + filenames:
            os.utime(os.path.join(dirpath, n), (MTIME, MTIME),
                     follow_symlinks=False)
    os.utime(top, (MTIME, MTIME))


@pytest.fixture
def tree(tmp_path):
    top = str(tmp_path / "src")
    small_tree(top)
    return top


def test_ls_long_matches_unsquashfs(tree, tmp_path, capfd):
    image = tmp_path / "img.sqfs"
    status, out, err = ovl(capfd, "mkimage", tree, image, "-b", "4K",
                           "-p", "dev d 755 0 0", "-p",
                           "dev/ttyS0 c 620 0 5 4 64")
    assert status == 0, err
    assert "files" in out and "bytes out" in out
    status, out, err = ovl(capfd, "ls", "-lR", image)
    assert status == 0, err
    mine = {}
    for line in out.splitlines():
        words = line.split(None, 6)
        # mode nlink uid/gid size date time name[ -> target]
        mine[words[6]] = (words[0], words[2], words[3], words[4] + " " + words[5])
    env = dict(os.environ, TZ="UTC")
    proc = subprocess.run(["unsquashfs", "-lln", "-d", "R", str(image)],
                          capture_output=True, text=True, env=env)
    theirs = {}
    for line in proc.stdout.splitlines():
        m = UNSQUASHFS_LINE.match(line)
        if m and m.group(5).startswith("R/"):
            theirs[m.group(5)[2:]] = (m.group(1), m.group(2),
                                      m.group(3).replace(" ", ""), m.group(4))
    assert mine == theirs
    assert mine["hostname-link -> /etc/hostname"][0] == "lrwxrwxrwx"
    assert mine["dev/ttyS0"][2] == "4,64"
    status, out, err = ovl(capfd, "ls", image, "/etc")
    assert out.split() == ["hostname", "hostname.hl", "init.d", "rc"]


def test_cat_follows_image_symlinks(tree, tmp_path, capfdbinary):
    image = str(tmp_path / "img.sqfs")
    assert cli.main(["mkimage", "-q", tree, image]) == 0
    capfdbinary.readouterr()
    for path, src in (("/blob", "blob"), ("etc/rc", "etc/init.d/rcS"),
                      ("/hostname-link", "etc/hostname")):
        assert cli.main(["cat", image, path]) == 0
        out, _ = capfdbinary.readouterr()
        with open(os.path.join(tree, src), "rb") as f:
            assert out == f.read()


def test_extract_round_trip_and_refuses_non_empty_dest(tree, tmp_path, capfd):
    image = str(tmp_path / "img.sqfs")
    dest = str(tmp_path / "out")
    assert ovl(capfd, "mkimage", tree, image)[0] == 0
    status, out, err = ovl(capfd, "extract", image, dest)
    assert status == 0, err
    assert "hard links" in out
    diff = subprocess.run(["diff", "-r", "--no-dereference", tree, dest],
                          capture_output=True, text=True)
    assert diff.returncode == 0, diff.stdout
    assert os.stat(dest + "/etc/hostname").st_ino == \
        os.stat(dest + "/etc/hostname.hl").st_ino
    assert os.lstat(dest + "/etc/init.d/rcS").st_mtime == MTIME
    assert_one_line_error(*ovl(capfd, "extract", image, dest)[::2],
                          "not empty")


@pytest.mark.parametrize("args,message", [
    (["mkimage", "/nonexistent/src", "{tmp}/o.sqfs"], "cannot read source"),
    (["mkimage", "{tree}", "{tmp}/o.sqfs", "--comp", "lz4"],
     "unknown compressor 'lz4'"),
    (["mkimage", "{tree}", "{tmp}/o.sqfs", "-pf", "{tmp}/bad.pseudo"],
     "bad.pseudo line 3: bad mode '99'"),
    (["mkimage", "{tree}", "{tmp}/o.sqfs", "-p", "x f 644 0 0 cat /etc/passwd"],
     "type 'f' is not supported"),
    (["mkimage", "{tree}", "{tmp}/o.sqfs", "-p", "no/such/dir/x p 644 0 0"],
     "parent directory of /no/such/dir/x does not exist"),
    (["mkimage", "{tree}", "{tmp}/o.sqfs", "-p", "etc/hostname c 644 0 0 1 1"],
     "already exists"),
    (["mkimage", "{tree}", "{tmp}/o.sqfs", "-p", "dev/x c 644 0 0 1"],
     "needs 5 fields"),
    (["mkimage", "{tree}", "{tmp}/no/such/dir/o.sqfs"],
     "cannot write {tmp}/no/such/dir/o.sqfs: No such file"),
    (["ls", "{tmp}/missing.sqfs"], "cannot open image"),
    (["ls", "{tmp}/garbage.sqfs"], "magic"),
    (["cat", "{tmp}/garbage.sqfs", "/x"], "magic"),
    (["extract", "{tmp}/garbage.sqfs", "{tmp}/dest"], "magic"),
    (["ls", "{tmp}/short.sqfs"], ""),
    (["cat", "{tmp}/short.sqfs", "/blob"], ""),
    (["extract", "{tmp}/short.sqfs", "{tmp}/dest"], ""),
    (["cat", "{tmp}/good.sqfs", "/nope"], "ENOENT"),
    (["cat", "{tmp}/good.sqfs", "/etc"], "not a regular file"),
])
def test_bad_input_is_one_line_error(tree, tmp_path, capfd, args, message):
    tmp = str(tmp_path)
    (tmp_path / "bad.pseudo").write_text(
        "# comment\n\ndev d 7777777 0 0\n".replace("7777777", "99"))
    (tmp_path / "garbage.sqfs").write_bytes(b"\x00not an image" * 100)
    assert cli.main(["mkimage", "-q", tree, tmp + "/good.sqfs"]) == 0
    with open(tmp + "/good.sqfs", "rb") as f:
        good = f.read()
    (tmp_path / "short.sqfs").write_bytes(good[:len(good) // 2])
    capfd.readouterr()
    argv = [a.format(tmp=tmp, tree=tree) for a in args]
    status, _, err = ovl(capfd, *argv)
    assert_one_line_error(status, err, message.format(tmp=tmp))
    assert not os.path.exists(tmp + "/o.sqfs")


@pytest.mark.parametrize("args,message", [
    (["-b", "3K"], "bad block size"), (["-b", "2M"], "bad block size"),
    (["--mtime", "yesterday"], "bad --mtime"),
])
def test_bad_option_is_an_argument_error(tree, tmp_path, capfd, args,
                                         message):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["mkimage", tree, str(tmp_path / "o.sqfs")] + args)
    err = capfd.readouterr().err.splitlines()
    assert exit_.value.code == 2 and err[0].startswith("usage: ")
    assert err[-1].startswith("ovl mkimage: error: argument ") and \
        message in err[-1], err
    assert not os.path.exists(tmp_path / "o.sqfs")


def test_command_line_entry_point_has_no_traceback(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "host_tools", "mkimage",
                           str(tmp_path / "nope"), str(tmp_path / "o.sqfs")],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


# --- hostile images --------------------------------------------------------

def edited_image(tmp_path, capfd, make, old, new):
    """Build an uncompressed image of the tree `make` creates, then replace
    the one occurrence of the name `old` by `new` in its bytes."""
    src = str(tmp_path / "hostile-src")
    os.makedirs(src)
    make(src)
    image = str(tmp_path / "hostile.sqfs")
    # (a fixed time: the bytes of a build's times could hold `old` too)
    assert ovl(capfd, "mkimage", "-q", "--comp", "none", "--mtime",
               "1000000000", src, image)[0] == 0
    with open(image, "rb") as f:
        data = f.read()
    assert data.count(old) == 1 and len(old) == len(new)
    with open(image, "wb") as f:
        f.write(data.replace(old, new))
    return image


def make_file(rel):
    def make(src):
        os.makedirs(os.path.dirname(os.path.join(src, rel)), exist_ok=True)
        with open(os.path.join(src, rel), "w") as f:
            f.write("payload")
    return make


@pytest.mark.parametrize("make,old,new", [
    (make_file("d/QQ"), b"QQ", b".."),
    (make_file("d/Q"), b"\x00Q", b"\x00."),
    (make_file("d/Q_Q"), b"Q_Q", b"Q/Q"),
    (make_file("d/Q_Q"), b"Q_Q", b"Q\x00Q"),
])
def test_extract_refuses_bad_names(tmp_path, capfd, make, old, new):
    image = edited_image(tmp_path, capfd, make, old, new)
    dest = str(tmp_path / "dest")
    status, _, err = ovl(capfd, "extract", image, dest)
    assert_one_line_error(status, err)
    assert "name" in err
    assert not os.path.exists(str(tmp_path / "Q"))


def test_extract_refuses_write_through_symlink(tmp_path, capfd):
    outside = tmp_path / "outside"
    outside.mkdir()

    def make(src):
        os.symlink(str(outside), src + "/evil")   # sorts before "evim"
        make_file("evim/payload")(src)
    image = edited_image(tmp_path, capfd, make, b"evim", b"evil")
    status, _, err = ovl(capfd, "extract", image, str(tmp_path / "dest"))
    assert_one_line_error(status, err)
    assert os.listdir(str(outside)) == []


def test_extract_keeps_plain_absolute_symlinks(tmp_path, capfd):
    src = tmp_path / "src"
    src.mkdir()
    os.symlink("/etc/passwd", str(src / "passwd"))
    image = str(tmp_path / "i.sqfs")
    assert ovl(capfd, "mkimage", "-q", src, image)[0] == 0
    assert ovl(capfd, "extract", "-q", image, tmp_path / "d")[0] == 0
    assert os.readlink(str(tmp_path / "d" / "passwd")) == "/etc/passwd"


class FakeEntry:
    def __init__(self, ino, mode, name, children=(), target=""):
        self.ino, self.mode, self.name = ino, mode, name
        self.nlink, self.uid, self.gid, self.size = 1, 0, 0, 0
        self.mtime, self.rdev = MTIME, 0
        self.children, self.target = list(children), target


class FakeFS:
    """A reader that hands extract whatever a hostile image could decode
    to, so extract's own checks are tested without the reader's."""

    def __init__(self, root):
        self.root = root

    def lookup(self, path):
        return self.root

    def readdir(self, e):
        return [(c.name, c) for c in e.children]

    def readlink(self, e):
        return e.target

    def read(self, e, offset, n):
        return b""


def fdir(ino, name, *children):
    return FakeEntry(ino, stat.S_IFDIR | 0o755, name, children)


@pytest.mark.parametrize("children,message", [
    ([FakeEntry(2, stat.S_IFREG | 0o644, "..")], "named '..'"),
    ([FakeEntry(2, stat.S_IFREG | 0o644, ".")], "named '.'"),
    ([FakeEntry(2, stat.S_IFREG | 0o644, "")], "named ''"),
    ([FakeEntry(2, stat.S_IFREG | 0o644, "a/b")], "contains '/'"),
    ([FakeEntry(2, stat.S_IFLNK | 0o777, "x", target="{outside}"),
      fdir(3, "x", FakeEntry(4, stat.S_IFREG | 0o644, "f"))], "duplicate"),
    ([fdir(3, "x", FakeEntry(4, stat.S_IFREG | 0o644, "f")),
      FakeEntry(2, stat.S_IFLNK | 0o777, "w", target="{outside}")], "unsorted"),
    ([fdir(1, "again")], "appears twice"),
])
def test_extract_checks_do_not_rely_on_the_reader(tmp_path, children, message):
    outside = tmp_path / "outside"
    outside.mkdir()
    for c in children:
        if c.target:
            c.target = c.target.format(outside=outside)
    fs = FakeFS(fdir(1, "", *children))
    with pytest.raises(ExtractError, match=message):
        extract(fs, str(tmp_path / "dest"), as_root=False)
    assert os.listdir(str(outside)) == []


@pytest.mark.slow
def test_damaged_images_never_crash_the_reading_commands(tree, tmp_path, capfd):
    """Random byte damage in the metadata: every command either works or
    says one line; none raises an unexpected exception."""
    image = str(tmp_path / "img.sqfs")
    assert ovl(capfd, "mkimage", "-q", "-b", "4K", tree, image)[0] == 0
    with open(image, "rb") as f:
        good = f.read()
    tables = int.from_bytes(good[64:72], "little")    # inode_table_start
    used = int.from_bytes(good[40:48], "little")
    rng = random.Random(5)
    bad = str(tmp_path / "bad.sqfs")
    for case in range(60):
        data = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            if rng.random() < 0.15:
                data[rng.randrange(96)] ^= 1 << rng.randrange(8)
            else:
                data[rng.randrange(tables, used)] = rng.randrange(256)
        with open(bad, "wb") as f:
            f.write(data)
        dest = str(tmp_path / ("d%d" % case))
        for argv in (["ls", "-lR", bad], ["cat", bad, "/etc/rc"],
                     ["extract", "-q", bad, dest]):
            status, _, err = ovl(capfd, *argv)
            if status:
                assert_one_line_error(status, err)


def test_progress_only_when_asked_or_on_a_terminal(tree, tmp_path, capfd):
    image = tmp_path / "img.sqfs"
    status, out, err = ovl(capfd, "mkimage", tree, image)
    assert status == 0 and err == ""          # stderr is not a terminal here
    status, out, err = ovl(capfd, "mkimage", "--progress", tree, image)
    assert status == 0
    assert "mkimage: 3/3 files" in err and err.endswith("\n")
    assert "3 files, 3 dirs, 2 symlinks" in out   # a hard link is one file


def test_devices_and_non_utf8_names_extract(tmp_path, capfd):
    src = tmp_path / "src"
    src.mkdir()
    odd = os.fsencode(str(src)) + b"/caf\xe9"
    with open(odd, "wb") as f:
        f.write(b"latin-1 name")
    image = str(tmp_path / "img.sqfs")
    status, _, err = ovl(capfd, "mkimage", "-q", src, image,
                         "-p", "null c 666 0 0 1 3", "-p", "sda b 660 0 6 8 0")
    assert status == 0, err
    status, out, err = ovl(capfd, "ls", image)
    assert status == 0 and "caf" in out, err
    from host_tools.commands.image import open_image
    warnings = []
    dest = str(tmp_path / "user")
    extract(open_image(image), dest, as_root=False, warn=warnings.append)
    assert sorted(os.listdir(os.fsencode(dest))) == [b"caf\xe9"]
    assert len(warnings) == 2 and "device node skipped" in warnings[0]
    if os.geteuid() != 0:
        return
    dest = str(tmp_path / "root")
    extract(open_image(image), dest, as_root=True, warn=warnings.append)
    st = os.lstat(dest + "/sda")
    assert stat.S_ISBLK(st.st_mode) and st.st_gid == 6
    assert (os.major(st.st_rdev), os.minor(st.st_rdev)) == (8, 0)
    assert stat.S_IMODE(st.st_mode) == 0o660
    assert stat.S_ISCHR(os.lstat(dest + "/null").st_mode)


def test_mkimage_out_that_is_a_fifo_is_refused_and_kept(tree, tmp_path,
                                                        capfd):
    """The image is written beside OUT and renamed over it: over a FIFO or
    a device that rename would replace the node itself (as root, a
    /dev/... path), so such an OUT is refused."""
    import stat
    fifo = str(tmp_path / "pipe")
    os.mkfifo(fifo)
    status, _, err = ovl(capfd, "mkimage", "-q", tree, fifo)
    assert_one_line_error(status, err, "not a regular file")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_mkimage_for_a_micropython_board_refuses_what_it_cannot_read(
        tmp_path, capfd):
    """A board running MicroPython (a board JSON with a "heap": pico)
    cannot list a directory holding a name that is not UTF-8, nor read
    an xz image: `mkimage --board pico` refuses both (before: built, and
    the board's `ls /` failed); without --board, or for a Linux board,
    such a name is built with a warning naming it."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "ok").write_bytes(b"x\n")
    with open(os.fsencode(str(src)) + b"/caf\xe9", "wb") as f:
        f.write(b"x\n")
    image = tmp_path / "img.sqfs"
    status, out, err = ovl(capfd, "mkimage", "-q", "--board", "pico", src,
                           image)
    assert_one_line_error(status, err, "/caf\\xe9 is not UTF-8",
                          "MicroPython")
    assert not image.exists()
    warning = ("ovl mkimage: warning: /caf\\xe9 is not UTF-8: a board"
               " running MicroPython cannot list its directory\n")
    for board in ((), ("--board", "router-16mb")):
        status, out, err = ovl(capfd, "mkimage", "-q", *board, src, image)
        assert (status, out, err) == (0, "", warning), board
        assert image.exists()
    os.remove(os.fsencode(str(src)) + b"/caf\xe9")
    os.remove(image)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["mkimage", "-q", "--board", "pico", "--comp", "xz",
                  str(src), str(image)])
    err = capfd.readouterr().err
    assert exit_.value.code == 2 and err.startswith("usage: "), err
    assert not image.exists()
    assert err.splitlines()[-1] == (
        "ovl mkimage: error: --comp xz: board pico runs MicroPython, which"
        " decompresses only gzip (and reads --comp none)")
    for comp in ("gzip", "none"):
        status, out, err = ovl(capfd, "mkimage", "-q", "--board", "pico",
                               "--comp", comp, src, image)
        assert (status, err) == (0, ""), comp


def test_mkimage_for_a_micropython_board_refuses_a_link_target_not_utf8(
        tmp_path, capfd):
    """MicroPython's reader cannot read a symlink target that is not UTF-8
    (tests/test_serial_flash.py): `mkimage --board pico` refuses it in one
    line naming the link (before: built, and the board's readlink of it
    failed); without --board, or for a Linux board, it is built with a
    warning naming it."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "ok").write_bytes(b"x\n")
    os.symlink(b"caf\xe9", os.fsencode(str(src)) + b"/link")
    image = tmp_path / "img.sqfs"
    status, out, err = ovl(capfd, "mkimage", "-q", "--board", "pico", src,
                           image)
    assert_one_line_error(status, err, "/link is a symlink whose target is"
                          " not UTF-8: a board running MicroPython cannot"
                          " read it")
    assert not image.exists()
    warning = ("ovl mkimage: warning: /link is a symlink whose target is not"
               " UTF-8: a board running MicroPython cannot read it\n")
    for board in ((), ("--board", "router-16mb")):
        status, out, err = ovl(capfd, "mkimage", "-q", *board, src, image)
        assert (status, out, err) == (0, "", warning), board
        assert image.exists()


def test_mkimage_leaves_an_out_inside_src_out_of_the_image(tree, tmp_path,
                                                            capfd):
    out = os.path.join(tree, "etc", "root.sqfs")
    build = ("mkimage", "-q", "--mtime", MTIME, tree, out)
    assert ovl(capfd, *build)[0] == 0
    first = open(out, "rb").read()
    # a rebuild into the source tree: the old image is not part of the new
    assert ovl(capfd, *build)[0] == 0
    assert open(out, "rb").read() == first
    status, listing, err = ovl(capfd, "ls", out, "/etc")
    assert status == 0, err
    assert "hostname" in listing and "root.sqfs" not in listing, listing


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_mkimage_killed_mid_build_leaves_nothing(tmp_path, signum):
    src = tmp_path / "src"
    src.mkdir()
    rng = random.Random(2)
    for i in range(40):     # incompressible: long enough to be caught
        (src / ("f%02d" % i)).write_bytes(rng.randbytes(1 << 20))
    out = tmp_path / "o.sqfs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "host_tools", "mkimage", str(src), str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    tmp = tmp_path / ("o.sqfs.tmp-%d" % proc.pid)
    deadline = time.monotonic() + 60
    while not (tmp.exists() and tmp.stat().st_size > 0):
        assert proc.poll() is None, "the build ended before it was killed"
        assert time.monotonic() < deadline, "no temporary image appeared"
        time.sleep(0.005)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    assert os.listdir(tmp_path) == ["src"]
