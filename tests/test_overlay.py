"""The overlay's union rules, copy-up, renames, links, verbs and persistence,
on a real LogStore (SimFlash) over a DirLower or a SquashFS image."""

import os
import stat as st_mod

import pytest

from ovl import compat
from ovl.dirlower import DirLower
from ovl.store import LogStore
from ovl.overlay import Overlay, mount
from ovl.overlay.meta import UPPER_INO_BASE
from ovl_sim.simflash import SimFlash

FLASH_SIZE = 1 << 20
ERASE = 4096
PAGE = 256


def build_lower(root):
    """A small firmware-like tree (also used by the VFS and CLI tests)."""
    def put(rel, data):
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    put("etc/config", b"option=1\n")
    put("etc/passwd", b"root:x:0:0\n")
    put("etc/init.d/boot", b"#!/bin/sh\necho boot\n")
    put("etc/init.d/net", b"#!/bin/sh\necho net\n")
    put("lib/big.bin", bytes(range(256)) * 4096)          # 1 MiB
    put("lib/mod.py", b"VALUE = 'from lower'\n")
    put("share/a/b/c.txt", b"deep\n")
    put("share/empty_file", b"")
    os.makedirs(os.path.join(root, "empty"))
    os.makedirs(os.path.join(root, "var/log"))
    os.link(os.path.join(root, "etc/passwd"), os.path.join(root, "etc/passwd.lnk"))
    os.symlink("config", os.path.join(root, "etc/cfg"))
    os.symlink("/share/a", os.path.join(root, "sa"))
    os.symlink("missing", os.path.join(root, "dangling"))
    os.mkfifo(os.path.join(root, "fifo"))
    for p in ("", "etc", "lib", "share", "empty", "var"):
        os.chmod(os.path.join(root, p), 0o755)
    return root


class Rig:
    """A lower, a SimFlash with a formatted store, and the overlay on it."""

    def __init__(self, lower_dir, **options):
        self.lower_dir = lower_dir
        self.flash = SimFlash(FLASH_SIZE, ERASE, PAGE)
        LogStore.format(self.flash)
        self.options = options
        self.ovl = mount(DirLower(lower_dir), self.flash, **options)

    def remount(self):
        self.ovl.sync()
        self.ovl = mount(DirLower(self.lower_dir), self.flash, **self.options)
        return self.ovl

    def written(self):
        return self.flash.counters()["bytes_programmed"]


@pytest.fixture
def lower(tmp_path):
    return build_lower(str(tmp_path / "lower"))


@pytest.fixture
def rig(lower):
    return Rig(lower)


def errno_of(fn, *args):
    with pytest.raises(OSError) as info:
        fn(*args)
    return compat.errno_name(compat.error_code(info.value))


# ----- lookup and readdir -------------------------------------------------------

def test_lower_shows_through_and_readdir_merges_sorted(rig):
    o = rig.ovl
    assert o.read_bytes("/etc/config") == b"option=1\n"
    o.write_bytes("/etc/zz_new", b"n")
    o.write_bytes("/etc/aa_new", b"n")
    o.mkdir("/etc/m_dir")
    names = o.listdir("/etc")
    assert names == sorted(names)
    assert names == ["aa_new", "cfg", "config", "init.d", "m_dir", "passwd",
                     "passwd.lnk", "zz_new"]
    # an upper file shadowing a lower one is listed once
    o.write_bytes("/etc/config", b"x")
    assert o.listdir("/etc").count("config") == 1


def test_unlink_lower_leaves_whiteout_and_mkdir_over_it_is_opaque(rig):
    o = rig.ovl
    o.remove("/etc/config")
    assert "config" not in o.listdir("/etc")
    assert errno_of(o.stat, "/etc/config") == "ENOENT"
    # rmdir of a populated lower dir is refused; emptying it first works
    assert errno_of(o.rmdir, "/share/a") == "ENOTEMPTY"
    o.remove("/share/a/b/c.txt")
    o.rmdir("/share/a/b")
    o.rmdir("/share/a")
    # mkdir over the whiteout: an opaque directory, lower contents hidden
    o.mkdir("/share/a")
    assert o.listdir("/share/a") == []
    o = rig.remount()
    assert o.listdir("/share/a") == []
    assert "config" not in o.listdir("/etc")


def test_readdir_streams_a_huge_lower_directory(tmp_path):
    lower = tmp_path / "big"
    (lower / "d").mkdir(parents=True)
    for i in range(400):
        (lower / "d" / ("f%04d" % i)).write_bytes(b"")
    r = Rig(str(lower))
    r.ovl.remove("/d/f0100")
    r.ovl.write_bytes("/d/f0100x", b"")
    it = r.ovl.ilistdir("/d")
    first = next(it)
    assert first[0] == "f0000"       # an iterator: nothing materialised
    names = [first[0]] + [e[0] for e in it]
    assert len(names) == 400 and "f0100" not in names and "f0100x" in names
    assert names == sorted(names)


def test_symlinks_devices_fifos_presented(rig):
    o = rig.ovl
    assert o.readlink("/etc/cfg") == "config"
    assert o.read_bytes("/etc/cfg") == b"option=1\n"
    assert o.listdir("/sa") == ["b"]
    assert st_mod.S_ISLNK(o.lstat("/dangling")[0])
    assert errno_of(o.stat, "/dangling") == "ENOENT"
    assert st_mod.S_ISFIFO(o.lstat("/fifo")[0])
    assert errno_of(o.readlink, "/etc/config") == "EINVAL"
    # symlink creation does not copy up the target
    o.symlink("/etc/passwd", "/pw")
    assert o.layer_of("/etc/passwd") == "lower"
    assert o.read_bytes("/pw") == b"root:x:0:0\n"


def test_symlinks_followed_inside_a_path(rig):
    # a link's target is walked in place of its name: relative or
    # absolute, a link inside another's target, ".." after a link (the
    # target's parent, as Linux), the last name followed unless lstat;
    # ELOOP past 40 links in one walk
    o = rig.ovl
    assert o.listdir("/sa/b") == ["c.txt"]
    assert o.listdir("/sa/..") == ["a", "empty_file"]
    o.mkdir("/l")
    o.symlink("../sa/b", "/l/rel")
    o.symlink("/l/rel/c.txt", "/l/file")
    assert o.read_bytes("/l/rel/c.txt") == b"deep\n"
    assert o.read_bytes("/l/file") == b"deep\n"
    assert st_mod.S_ISLNK(o.lstat("/l/file")[0])
    assert errno_of(o.listdir, "/l/file/") == "ENOTDIR"
    o.symlink("loop", "/l/loop")
    assert errno_of(o.stat, "/l/loop") == "ELOOP"
    for i in range(40):
        o.symlink("c%d" % (i + 1), "/l/c%d" % i)
    o.symlink("/etc/config", "/l/c40")
    assert o.read_bytes("/l/c1") == b"option=1\n"     # 40 links
    assert errno_of(o.read_bytes, "/l/c0") == "ELOOP"   # 41
    assert errno_of(o.stat, "/l/c0/x") == "ELOOP"


# ----- copy-up -------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["", "b", "t", "+", "rw", "rr", "rbb",
                                  "rbt", "r++", "U", "rU", "wx", "r ", "R"])
def test_an_invalid_open_mode_is_refused_and_writes_nothing(rig, mode):
    before = rig.written()
    with pytest.raises(ValueError):
        rig.ovl.open("/etc/config", mode)
    with pytest.raises(ValueError):
        rig.ovl.open("/new_file", mode)
    assert rig.written() == before
    assert "new_file" not in rig.ovl.listdir("/")
    with rig.ovl.open("/etc/config", "rb") as f:
        assert f.read() == b"option=1\n"


def test_a_write_of_what_is_not_bytes_is_refused_at_any_size(runtime,
                                                            tmp_path):
    """A list of ints is refused small or large (a small one went to the
    store, which took it), and the refusal keeps the file's pending
    writes (a large one's dropped them)."""
    got = runtime.run_checks("write_non_bytes.py", {
        "small list": "TypeError", "big list": "TypeError",
        "an int": "TypeError", "content": "abcd"}, args=[str(tmp_path)])
    assert len(got) == 4


def test_read_stat_readdir_do_not_copy_up(rig):
    o = rig.ovl
    before = rig.written()
    o.read_bytes("/etc/config")
    o.stat("/etc/config")
    o.listdir("/etc")
    with o.open("/etc/config", "r") as f:
        f.read()
    assert o.layer_of("/etc/config") == "lower"
    assert rig.written() == before


def test_an_operation_with_nothing_to_do_writes_nothing(rig):
    # its transaction commits empty, which the store writes nothing for
    o = rig.ovl
    o.write_bytes("/etc/config", b"changed\n")
    o.mkdir("/new")
    before = rig.written()
    with o.open("/etc/config", "r+b"):     # copied up already
        pass
    with o.open("/etc/config", "ab"):
        pass
    assert errno_of(o.mkdir, "/new") == "EEXIST"
    assert rig.written() == before
    assert o.read_bytes("/etc/config") == b"changed\n"


def test_partial_copy_up_one_byte_edit_of_1mib_file(rig):
    o = rig.ovl
    before = rig.written()
    with o.open("/lib/big.bin", "r+b") as f:
        f.seek(500000)
        f.write(b"\xee")
    cost = rig.written() - before
    assert cost < 4096, "a 1-byte edit programmed %d bytes" % cost
    expect = bytearray(bytes(range(256)) * 4096)
    expect[500000] = 0xEE
    assert o.read_bytes("/lib/big.bin") == bytes(expect)
    assert o.layer_of("/lib/big.bin") == "copied-up"
    assert rig.remount().read_bytes("/lib/big.bin") == bytes(expect)


# Budgets of a 1-byte edit of a 1 MiB lower file (docs/OVERLAY.md, the
# copy-up table).  The first edit's nodes (632 bytes): at open, the
# directory and the file copied up (inode 84, origin meta 68 and 88,
# dirent 36 and 40); at close its base (meta 108), the byte (data 40) and
# the inode (84).  The second edit writes the data and inode alone.  "with
# summary" adds the entries those nodes put in their block's summary.
FIRST_EDIT = {"nodes": 640, "with summary": 1000}
SECOND_EDIT = {"nodes": 128, "with summary": 176}


def test_one_byte_edit_programs_its_budget_on_both_runtimes(cpy, mpy,
                                                            tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "big.bin").write_bytes(bytes(range(256)) * 4096)
    got = {}
    for runtime in (cpy, mpy):
        got[runtime.name] = runtime.run_checks(
            "one_byte_edit_cost.py",
            {"bytes after remount": [0xDD, 255, 0xEE, 1, 1 << 20]},
            args=[str(tmp_path)])
    assert got["cpython"] == got["micropython"]
    for edit, budget in (("first edit", FIRST_EDIT),
                         ("second edit", SECOND_EDIT)):
        cost = got["cpython"][edit]
        over = [k for k in budget if cost[k] > budget[k]]
        assert not over, "%s: %r over the budget %r" % (edit, cost, budget)
        assert cost["nodes"] < cost["with summary"], cost


def test_truncate_lower_file_keeps_lower_bytes_and_zero_fills(rig):
    o = rig.ovl
    before = rig.written()
    o.truncate("/lib/big.bin", 1000)
    assert rig.written() - before < 4096
    o.truncate("/lib/big.bin", 3000)
    data = o.read_bytes("/lib/big.bin")
    assert data[:1000] == (bytes(range(256)) * 4)[:1000]
    assert data[1000:] == bytes(2000)
    assert rig.remount().read_bytes("/lib/big.bin") == data


def test_metadata_ops_copy_up_metadata_only(rig):
    o = rig.ovl
    ino = o.stat("/lib/big.bin")[1]
    before = rig.written()
    o.chmod("/lib/big.bin", 0o600)
    o.chown("/lib/big.bin", 5, 6)
    o.utime("/lib/big.bin", (100, 200))
    assert rig.written() - before < 4096
    s = o.stat("/lib/big.bin")
    assert (s[0] & 0o7777, s[4], s[5], s[8]) == (0o600, 5, 6, 200)
    assert s[1] == ino, "st_ino changed on copy-up"
    assert o.diff("/lib") == [("metadata", "/lib/big.bin")]


def test_open_modes(rig):
    o = rig.ovl
    with o.open("/etc/config", "a") as f:
        f.write("more\n")
    assert o.read_bytes("/etc/config") == b"option=1\nmore\n"
    with o.open("/etc/passwd", "w") as f:
        f.write("new")
    assert o.read_bytes("/etc/passwd") == b"new"
    assert errno_of(o.open, "/etc/passwd", "x") == "EEXIST"
    assert errno_of(o.open, "/nope/x", "w") == "ENOENT"
    assert errno_of(o.open, "/etc", "w") == "EISDIR"
    assert errno_of(o.open, "/missing", "r") == "ENOENT"
    # O_CREAT through a dangling symlink creates the target
    with o.open("/dangling", "w") as f:
        f.write("made")
    assert o.read_bytes("/missing") == b"made"
    with o.open("/etc/init.d/boot") as f:
        assert f.readline() == "#!/bin/sh\n"
        assert list(f) == ["echo boot\n"]
    with o.open("/t.txt", "w+") as f:
        f.write("héllo")
        f.seek(0)
        assert f.read() == "héllo"
        f.truncate(1)
    assert o.stat("/t.txt")[6] == 1


def test_write_back_rule_buffered_until_flush(lower):
    r = Rig(lower, write_buffer=1024)
    o = r.ovl
    f = o.open("/lib/mod.py", "r+b")
    f.seek(0)
    f.write(b"#")
    programmed = r.written()
    f.write(b"#")
    assert r.written() == programmed, "a small write went to flash at once"
    f.flush()
    assert r.written() > programmed
    f.write(b"x" * 1500)              # more than the buffer: committed
    assert r.flash.counters()["bytes_programmed"] > programmed
    f.close()


# ----- rename --------------------------------------------------------------------

def test_rename_file_leaves_whiteout_and_keeps_inode(rig):
    o = rig.ovl
    ino = o.stat("/etc/config")[1]
    o.rename("/etc/config", "/etc/config.old")
    assert errno_of(o.stat, "/etc/config") == "ENOENT"
    assert o.read_bytes("/etc/config.old") == b"option=1\n"
    assert o.stat("/etc/config.old")[1] == ino
    o = rig.remount()
    assert "config" not in o.listdir("/etc")
    assert o.stat("/etc/config.old")[1] == ino


def test_rename_lower_directory_is_a_redirect_not_a_copy(rig):
    o = rig.ovl
    before = rig.written()
    o.rename("/lib", "/lib2")
    assert rig.written() - before < 4096, "directory rename copied data"
    assert o.listdir("/lib2") == ["big.bin", "mod.py"]
    assert o.read_bytes("/lib2/mod.py") == b"VALUE = 'from lower'\n"
    assert errno_of(o.stat, "/lib") == "ENOENT"
    # nested rename of a merged subdirectory, then into another lower dir
    o.rename("/share/a", "/etc/moved")
    assert o.read_bytes("/etc/moved/b/c.txt") == b"deep\n"
    o.write_bytes("/etc/moved/b/new", b"1")
    o.rename("/etc/moved/b", "/b_top")
    assert sorted(o.listdir("/b_top")) == ["c.txt", "new"]
    o = rig.remount()
    assert o.read_bytes("/b_top/c.txt") == b"deep\n"
    assert o.listdir("/etc/moved") == []
    assert o.listdir("/lib2") == ["big.bin", "mod.py"]


def test_rename_posix_errors(rig):
    o = rig.ovl
    assert errno_of(o.rename, "/etc", "/etc/init.d/x") == "EINVAL"
    assert errno_of(o.rename, "/etc/config", "/etc/init.d") == "EISDIR"
    assert errno_of(o.rename, "/empty", "/etc/config") == "ENOTDIR"
    assert errno_of(o.rename, "/empty", "/etc") == "ENOTEMPTY"
    assert errno_of(o.rename, "/nope", "/x") == "ENOENT"
    # onto itself / another link of the same file: nothing happens
    before = rig.written()
    o.rename("/etc/config", "/etc/config")
    o.rename("/etc/passwd", "/etc/passwd.lnk")
    assert rig.written() == before
    assert o.listdir("/etc").count("passwd") == 1
    # over an empty lower dir: allowed, the old lower dir does not show
    o.mkdir("/newdir")
    o.write_bytes("/newdir/f", b"1")
    o.rename("/newdir", "/var/log")
    assert o.listdir("/var/log") == ["f"]
    # a file over a file
    o.rename("/etc/init.d/net", "/etc/init.d/boot")
    assert o.listdir("/etc/init.d") == ["boot"]
    assert o.read_bytes("/etc/init.d/boot") == b"#!/bin/sh\necho net\n"


# ----- hard links and inode numbers -------------------------------------------------

def test_lower_hard_links_survive_copy_up(rig):
    o = rig.ovl
    a = o.stat("/etc/passwd")
    assert a[1] == o.stat("/etc/passwd.lnk")[1] and a[3] == 2
    with o.open("/etc/passwd", "a") as f:
        f.write("user:x:1:1\n")
    assert o.read_bytes("/etc/passwd.lnk") == b"root:x:0:0\nuser:x:1:1\n"
    assert o.stat("/etc/passwd.lnk")[1] == a[1]
    o = rig.remount()
    assert o.read_bytes("/etc/passwd.lnk") == b"root:x:0:0\nuser:x:1:1\n"
    o.remove("/etc/passwd")
    assert o.stat("/etc/passwd.lnk")[3] == 1
    assert o.read_bytes("/etc/passwd.lnk") == b"root:x:0:0\nuser:x:1:1\n"


def test_revert_of_a_hard_link_name_depends_on_whose_name_it_is(rig):
    """Reverting a name the copied-up file got in the upper (a rename
    target) removes it like an unlink: the pair's other lower name keeps
    the copy.  Reverting one of its own lower names reverts the file: every
    lower name shows the lower again."""
    o = rig.ovl
    ino = o.stat("/etc/passwd")[1]
    with o.open("/etc/passwd", "a") as f:
        f.write("user:x:1:1\n")
    o.mkdir("/moved")
    o.rename("/etc/passwd", "/moved/pw")
    assert o.stat("/etc/passwd.lnk")[3] == 2
    o.revert("/moved")
    edited = b"root:x:0:0\nuser:x:1:1\n"
    assert o.read_bytes("/etc/passwd.lnk") == edited
    assert o.stat("/etc/passwd.lnk")[1:4:2] == (ino, 1)
    assert errno_of(o.stat, "/etc/passwd") == "ENOENT"
    o = rig.remount()
    assert o.read_bytes("/etc/passwd.lnk") == edited
    assert o.fsck() == []
    o.revert("/etc/passwd.lnk")
    assert o.read_bytes("/etc/passwd.lnk") == b"root:x:0:0\n"
    assert o.stat("/etc/passwd.lnk")[1] == ino
    assert o.fsck() == []


def test_link_and_inode_numbers(rig):
    o = rig.ovl
    o.link("/etc/config", "/cfg2")
    assert o.stat("/cfg2")[1] == o.stat("/etc/config")[1]
    assert o.stat("/cfg2")[3] == 2
    o.write_bytes("/u", b"")
    assert o.stat("/u")[1] >= UPPER_INO_BASE
    assert errno_of(o.link, "/etc", "/etc2") == "EPERM"
    assert errno_of(o.link, "/etc/config", "/u") == "EEXIST"


# ----- errors, read-only -------------------------------------------------------------

def test_errno_values(rig):
    o = rig.ovl
    assert errno_of(o.mkdir, "/etc") == "EEXIST"
    assert errno_of(o.rmdir, "/etc/config") == "ENOTDIR"
    assert errno_of(o.remove, "/etc") == "EISDIR"
    assert errno_of(o.remove, "/nope") == "ENOENT"
    assert errno_of(o.listdir, "/etc/config") == "ENOTDIR"
    assert errno_of(o.stat, "/etc/config/x") == "ENOTDIR"
    assert errno_of(o.mkdir, "/a/b/c") == "ENOENT"


def test_read_only_without_upper(lower):
    o = Overlay(DirLower(lower), None)
    assert o.read_bytes("/etc/config") == b"option=1\n"
    assert errno_of(o.open, "/etc/config", "w") == "EROFS"
    assert errno_of(o.mkdir, "/x") == "EROFS"
    assert errno_of(o.rename, "/etc", "/e") == "EROFS"


def test_read_only_store(rig):
    rig.ovl.write_bytes("/x", b"1")
    rig.ovl.sync()
    o = mount(DirLower(rig.lower_dir), rig.flash, readonly=True)
    assert o.read_bytes("/x") == b"1"
    assert errno_of(o.remove, "/x") == "EROFS"


# ----- firmware verbs ----------------------------------------------------------------

def test_fsck_names_a_partly_copied_file_whose_lower_original_is_gone(rig):
    # one byte rewritten in place: the other 1 MiB still reads from the
    # lower file the upper's origin names
    o = rig.ovl
    with o.open("/lib/big.bin", "r+b") as f:
        f.seek(10)
        f.write(b"X")
    assert o.fsck() == []
    os.remove(os.path.join(rig.lower_dir, "lib/big.bin"))
    problems = o.fsck()
    assert len(problems) == 1, problems
    assert problems[0].startswith("/lib/big.bin: origin /lib/big.bin is "
                                  "missing from the lower"), problems


def test_diff_layer_of_revert_reset(rig):
    o = rig.ovl
    o.write_bytes("/new", b"1")
    with o.open("/etc/config", "a") as f:
        f.write("x")
    o.chmod("/etc/passwd", 0o600)
    o.remove("/etc/init.d/net")
    assert o.diff() == [("modified", "/etc/config"),
                        ("deleted", "/etc/init.d/net"),
                        ("metadata", "/etc/passwd"), ("added", "/new")]
    assert o.layer_of("/new") == "upper"
    assert o.layer_of("/etc/config") == "copied-up"
    assert o.layer_of("/etc/init.d/boot") == "lower"
    o.revert("/etc/config")
    assert o.read_bytes("/etc/config") == b"option=1\n"
    o.revert("/etc/init.d/net")
    assert o.read_bytes("/etc/init.d/net") == b"#!/bin/sh\necho net\n"
    o.revert("/etc")
    assert o.stat("/etc/passwd")[0] & 0o777 == 0o644
    assert o.diff() == [("added", "/new")]
    o.reset()
    assert o.diff() == []
    assert errno_of(o.stat, "/new") == "ENOENT"
    assert rig.remount().diff() == []


def test_a_handle_open_across_a_reset_does_not_write_a_new_file(rig):
    """reset() leaves inode numbers unique within the mount: a handle
    opened before it answers ESTALE, and a file made after it with the
    number the handle's file had keeps its bytes (a review found the
    reset restarting inode numbers)."""
    o = rig.ovl
    f = o.open("/etc/config", "r+b")
    f.write(b"X")
    o.reset()
    o.write_bytes("/a", b"aaaa")
    o.write_bytes("/victim", b"victim data")
    try:
        f.write(b"Y")
        f.close()
    except OSError as e:
        assert compat.errno_name(compat.error_code(e)) == "ESTALE"
    assert o.read_bytes("/victim") == b"victim data"
    assert o.read_bytes("/a") == b"aaaa"
    assert o.read_bytes("/etc/config") == b"option=1\n"
    assert o.fsck() == []


def test_reset_at_next_boot(rig):
    rig.ovl.write_bytes("/keep", b"1")
    rig.ovl.request_reset()
    assert rig.ovl.read_bytes("/keep") == b"1"      # not yet
    o = rig.remount()
    assert errno_of(o.stat, "/keep") == "ENOENT"
    assert not o.reset_requested()


def test_lower_change_is_detected_with_conflicts(rig, tmp_path):
    o = rig.ovl
    with o.open("/etc/config", "a") as f:
        f.write("mine")
    o.write_bytes("/etc/passwd", b"mine")
    o.sync()
    # a firmware update: config changes in the lower too
    with open(os.path.join(rig.lower_dir, "etc/config"), "wb") as f:
        f.write(b"option=2\nnew=1\n")
    o = rig.remount()
    assert o.lower_changed
    assert o.conflicts == ["/etc/config"]
    o = rig.remount()
    assert not o.lower_changed


def test_changes_persist_across_remount(rig):
    o = rig.ovl
    o.mkdir("/d")
    o.write_bytes("/d/f", b"hello")
    o.symlink("f", "/d/l")
    o.rename("/etc/init.d", "/init")
    o.chmod("/d/f", 0o640)
    o.link("/d/f", "/d/g")
    tree = snapshot(o)
    assert snapshot(rig.remount()) == tree


def snapshot(o, top="/"):
    out = {}
    pending = [top]
    while pending:
        path = pending.pop()
        s = o.lstat(path)
        item = (s[0], s[1], s[6])
        if st_mod.S_ISDIR(s[0]):
            for n in o.listdir(path):
                pending.append(path.rstrip("/") + "/" + n)
        elif st_mod.S_ISREG(s[0]):
            item += (o.read_bytes(path), s[3])
        elif st_mod.S_ISLNK(s[0]):
            item += (o.readlink(path),)
        out[path] = item
    return out


def test_squashfs_lower(tmp_path, lower):
    import shutil
    import subprocess
    if not shutil.which("mksquashfs"):
        pytest.skip("mksquashfs not installed")
    image = str(tmp_path / "lower.sqfs")
    subprocess.run(["mksquashfs", lower, image, "-noappend", "-quiet",
                    "-all-root"], check=True, capture_output=True)
    from ovl.squashfs import SquashFS
    from ovl.flash import BytesSource
    flash = SimFlash(FLASH_SIZE, ERASE, PAGE)
    LogStore.format(flash)
    with open(image, "rb") as f:
        o = mount(SquashFS(BytesSource(f)), flash)
        with o.open("/lib/big.bin", "r+b") as g:
            g.write(b"AB")
        assert o.read_bytes("/lib/big.bin")[:4] == b"AB\x02\x03"
        o.rename("/share", "/share2")
        assert o.read_bytes("/share2/a/b/c.txt") == b"deep\n"
        assert o.listdir("/etc") == sorted(os.listdir(os.path.join(lower,
                                                                   "etc")))


def test_stat_fields_and_lazy_parts(runtime, tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "config").write_bytes(b"option=1\n")
    runtime.run_checks("overlay_stat_and_lazy.py", {
        "lazy modules after mount and IO": [],
        "stat is a 10-tuple": [True, 10],
        "st_* name its fields": [True] * 10,
        "st_size": 12,
        "unknown st_ field": "AttributeError",
        "chmod then lstat mode": 0o600,
        "diff": [["metadata", "/etc/config"], ["added", "/etc/new"]],
        "lazy modules after chmod and diff": ["ovl.overlay.hostops",
                                              "ovl.overlay.verbs"],
        "after rename and remove": [["config"], [
            "ovl.overlay.hostops", "ovl.overlay.unlink", "ovl.overlay.verbs"]],
    }, args=[str(tmp_path)])


def test_a_name_that_is_not_utf8_is_refused_with_einval(runtime, tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "a").write_bytes(b"a\n")
    if runtime.name == "cpython":
        # MicroPython's DirLower cannot list such a name (no surrogateescape)
        os.makedirs(os.path.join(os.fsencode(str(tmp_path)), b"nu"))
        with open(os.path.join(os.fsencode(str(tmp_path)), b"nu",
                               b"bad\xff"), "wb") as f:
            f.write(b"lower\n")
    made = ("open w", "mkdir", "rename to")
    expect = {"vfs " + op: "EINVAL" for op in made}
    # looked up, such a name is absent on CPython; MicroPython's VFS
    # refuses the bytes before the overlay sees them
    looked_up = "ENOENT" if runtime.name == "cpython" else "EINVAL"
    expect.update({"vfs rename from": looked_up, "vfs stat": looked_up})
    if runtime.name == "cpython":
        for op in ("write_bytes", "open x", "mkdir", "rename to", "symlink",
                   "link", "mknod"):
            expect["api " + op] = "EINVAL"
        expect["api revert"] = "ENOENT"
        expect["api read a lower one"] = "lower\n"
        expect["api rename a lower one away"] = "EINVAL"
        expect["api remove a lower one"] = "EINVAL"
    expect.update({"programmed by the refusals": 0, "etc": ["new"],
                   "etc after remount": ["new"], "fsck": []})
    got = runtime.run_checks("non_utf8_names.py", expect,
                             args=[str(tmp_path)])
    assert sorted(got) == sorted(expect), "labels differ: %r" % sorted(got)


def test_a_name_that_is_not_strict_utf8_is_refused_on_both_runtimes(
        runtime, tmp_path):
    # MicroPython's str and bytes decode let surrogates, overlong forms
    # and code points past U+10FFFF through: the upper must not store them
    # (CPython could not list them), so both runtimes refuse them
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "a").write_bytes(b"a\n")
    forms = ["surrogate", "overlong 2", "overlong 3", "overlong 4",
             "past U+10FFFF", "cut short", "not a lead byte"]
    # (MicroPython's decode refuses the last two: no str of them to pass)
    api_forms = forms if runtime.name == "cpython" else forms[:5]
    expect = {}
    for form in forms:
        for op in ("vfs open w", "vfs mkdir", "vfs rename to"):
            expect["%s: %s" % (op, form)] = "EINVAL"
    for form in api_forms:
        for op in ("write_bytes", "open x", "mkdir", "symlink", "link",
                   "rename to"):
            expect["%s: %s" % (op, form)] = "EINVAL"
    good = {"2 bytes": "caf\u00e9", "3 bytes": "\u20ac",
            "4 bytes": "\U0001d11e"}
    for form in good:
        expect["write_bytes: " + form] = "ok"
    expect.update({"mkdir: escaped surrogate": "EINVAL",
                   "programmed by the refusals": 0,
                   "etc": sorted(["a", "new"] + list(good.values())),
                   "fsck": []})
    got = runtime.run_checks("strict_utf8_names.py", expect,
                             args=[str(tmp_path)])
    assert sorted(got) == sorted(expect), "labels differ: %r" % sorted(got)


def test_the_micropython_name_check_agrees_with_the_strict_codec():
    # meta_rare.well_formed is what MicroPython has for CPython's codec:
    # every short sequence of the bytes at the edges of its ranges, and
    # every code point's own encoding, judged as the codec judges them
    import itertools
    from ovl.overlay.meta_rare import well_formed
    edges = [0x00, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1,
             0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE, 0xEF, 0xF0, 0xF1,
             0xF3, 0xF4, 0xF5, 0xFF]
    wrong = []
    for n in range(1, 5):
        for seq in itertools.product(edges, repeat=n):
            raw = bytes(seq)
            try:
                raw.decode()
                codec = True
            except UnicodeDecodeError:
                codec = False
            if well_formed(raw) != codec:
                wrong.append(raw)
    assert wrong == []
    assert all(well_formed(chr(c).encode())
               for c in list(range(0xD800)) + list(range(0xE000, 0x110000,
                                                          97)))


def test_names_an_older_store_holds_that_are_not_utf8_do_not_crash(
        rig, tmp_path, capfd):
    # older firmware on MicroPython stored such names (its str let them
    # through): the host lists them decoded with surrogateescape, fsck
    # names them, and nothing raises UnicodeDecodeError
    from ovl.store import ROOT_INO
    from host_tools.cli import main as cli_main
    rig.ovl.write_bytes("/etc/new", b"new\n")
    store = rig.ovl.store
    txn = store.begin()
    for raw in (b"\xed\xa0\x80", b"\xc0\xaf", b"d\xf4\x90\x80\x80"):
        ino = txn.new_ino()
        txn.put_inode(ino, mode=(0o40755 if raw[:1] == b"d" else 0o100644),
                      nlink=1)
        txn.link(ROOT_INO, raw, ino)
    txn.commit()
    o = rig.remount()
    names = [n.encode("utf-8", "surrogateescape") for n in o.listdir("/")]
    assert b"\xc0\xaf" in names and b"\xed\xa0\x80" in names
    problems = o.fsck()
    assert len([p for p in problems if "not UTF-8" in p]) == 3, problems
    assert [k for k, p in o.diff() if "/etc/new" == p] == ["added"]
    image = str(tmp_path / "upper.img")
    rig.flash.save(image)
    capfd.readouterr()
    for verb in (["ls", "/"], ["ls", "-l", "/"], ["diff"], ["fsck"]):
        status = cli_main(["fs", verb[0], "--lower", rig.lower_dir,
                           "--upper", image] + verb[1:])
        out, err = capfd.readouterr()
        assert "codec can't decode" not in err and "Traceback" not in err
        assert status in (0, 1, 4), (verb, status, err)


def test_names_ls_prints_that_are_not_utf8_are_arguments_to_other_verbs(
        rig, tmp_path, capfdbinary):
    """A name an older ovl on MicroPython stored that is not UTF-8: `ovl fs
    ls` prints its bytes, and those bytes, as an argument (os.fsdecode's
    surrogateescape, the store's own rule), name it to get, rm, rmdir,
    mv and revert (before: ls failed with ENOENT, and so did each verb;
    rm and mv of it EINVAL)."""
    from ovl.store import ROOT_INO
    from host_tools.cli import main as cli_main
    store = rig.ovl.store
    txn = store.begin()
    for raw in (b"get\xc0\xaf", b"rm\xff", b"d\xed\xa0\x80", b"mv\xfe",
                b"rev\xf4\x90\x80\x80"):
        ino = txn.new_ino()
        directory = raw[:1] == b"d"
        txn.put_inode(ino, mode=0o40755 if directory else 0o100644,
                      nlink=2 if directory else 1, size=0 if directory else 4)
        if not directory:
            txn.write(ino, 0, raw[:3] + b"\n")
        txn.link(ROOT_INO, raw, ino)
    txn.commit()
    rig.remount()
    image = str(tmp_path / "upper.img")
    rig.flash.save(image)
    layers = ["--lower", rig.lower_dir, "--upper", image]

    def fs(*words):
        status = cli_main(["fs", words[0]] + layers + list(words[1:]))
        out, err = capfdbinary.readouterr()
        assert status == 0 and err == b"", (words, status, err)
        return out

    capfdbinary.readouterr()
    printed = fs("ls", "/").splitlines()
    odd = [n for n in printed if not n.isascii()]
    assert sorted(odd) == [b"d\xed\xa0\x80", b"get\xc0\xaf", b"mv\xfe",
                           b"rev\xf4\x90\x80\x80", b"rm\xff"], printed
    assert [line.split()[-1] for line in fs("ls", "-l", "/").splitlines()
            if not line.isascii()] == sorted(odd)
    # each printed name as the shell passes it back: os.fsdecode(bytes)
    arg = dict((n.rstrip(b"\x80\x90\xa0\xaf\xc0\xed\xf4\xfe\xff"),
                "/" + os.fsdecode(n)) for n in odd)
    dest = tmp_path / "got"
    fs("get", arg[b"get"], str(dest))
    assert dest.read_bytes() == b"get\n"
    fs("rm", arg[b"rm"])
    fs("rmdir", arg[b"d"])
    fs("mv", arg[b"mv"], "/moved")
    fs("revert", arg[b"rev"])
    assert [n for n in fs("ls", "/").splitlines() if not n.isascii()] == \
        [b"get\xc0\xaf"]
    assert fs("cat", "/moved") == b"mv\xfe\n"
    # fsck names what is left, which an older ovl stored
    status = cli_main(["fs", "fsck"] + layers)
    out, err = capfdbinary.readouterr()
    assert (status, out.splitlines()) == (4, [
        b"/get\xc0\xaf: name is not UTF-8 (an older ovl on MicroPython"
        b" stored it): rename or remove it", b"fsck: 1 problem(s)"]), err
    fs("rm", arg[b"get"])
    assert fs("fsck") == b"fsck: clean\n"


def test_a_symlink_target_empty_or_holding_nul_is_refused(runtime,
                                                         tmp_path):
    (tmp_path / "etc").mkdir()
    runtime.run_checks("symlink_targets.py", {
        "empty": "ENOENT", "NUL": "EINVAL", "NUL at the end": "EINVAL",
        "surrogate": "EINVAL", "empty onto an existing name": "ENOENT",
        "programmed by the refusals": 0, "proper": "ok",
        "proper reads back": True, "root": ["etc", "made", "s5"],
        "fsck": [],
    }, args=[str(tmp_path)])


def test_a_handle_whose_file_went_answers_estale(runtime, tmp_path):
    # Linux keeps an unlinked open file until its last close; ovl does
    # not (docs/OVERLAY.md, errno table): the handle answers ESTALE, and
    # the file that took its name keeps its own bytes
    expect = {"fsck": []}
    for how, left in (("renamed over", "new"), ("removed", None)):
        expect.update({how + ": write": "ESTALE", how + ": read": "ESTALE",
                       how + ": close": "ok", how + ": /a": left})
    runtime.run_checks("stale_handle.py", expect, args=[str(tmp_path)])


def test_open_with_truncation_reads_empty_before_the_first_write(rig):
    # O_TRUNC: the cut waits in the file's write-back buffer for the first
    # write; a read before it sees the cut file, not the old bytes
    o = rig.ovl
    o.write_bytes("/etc/edited", b"upper bytes")
    for path in ("/etc/edited", "/etc/config"):     # upper, lower file
        with o.open(path, "w+b") as f:
            assert f.read(5) == b""
            assert f.read() == b""
            f.write(b"new")
            f.seek(0)
            assert f.read() == b"new"
        assert o.read_bytes(path) == b"new"


def test_overlay_refuses_dot_names_as_linux(runtime, tmp_path):
    """tests/scripts/overlay_dot_names.py: a last name ".", ".." or "/"
    and ".." after a file get Linux's errors (the rows as a Linux host
    answers them, but for "/", which a test cannot ask of its host)."""
    ops = ("rmdir", "remove", "mkdir", "open for writing", "rename",
           "rename to", "link to", "stat")
    rows = {
        "/": ["EBUSY", "EISDIR", "EEXIST", "EISDIR", "EBUSY", "EBUSY",
              "EEXIST", "ok"],
        "/d/.": ["EINVAL", "EISDIR", "EEXIST", "EISDIR", "EBUSY", "EBUSY",
                 "EEXIST", "ok"],
        "/d/..": ["ENOTEMPTY", "EISDIR", "EEXIST", "EISDIR", "EBUSY",
                  "EBUSY", "EEXIST", "ok"],
        "/f/.": ["ENOTDIR"] * 8,
        "/n/.": ["ENOENT"] * 8,
    }
    rows["/d/./"] = rows["/d/."]
    expected = {"%s %s" % (op, path): errno
                for path, errnos in rows.items()
                for op, errno in zip(ops, errnos)}
    expected["stat f/../d"] = "ENOTDIR"
    expected["names left"] = ["d", "f"]
    runtime.run_checks("overlay_dot_names.py", expected,
                       args=[str(tmp_path)])


def test_read_only_calls_commit_no_pending_writes(runtime, tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "config").write_bytes(b"option=1\n")
    (tmp_path / "etc" / "other").write_bytes(b"other\n")
    runtime.run_checks("read_only_calls_commit_nothing.py", {
        "its stat: pending size and time": [24, 200, 200],
        "listdir": ["config", "other"],
        "another file read": "other\n",
        "a second handle reads the pending bytes": "rewritten, not committed",
        "after a cut": "option=1\n",
        "after its close": "rewritten, not committed",
        "a created file found": 3,
        "its creation committed": "abc",
    }, args=[str(tmp_path)])


def test_stored_bytes_count_no_holes(runtime, tmp_path):
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "config").write_bytes(b"option=1\n")
    runtime.run_checks("stored_bytes.py", {
        "sparse: size, stored": [(100 << 20) + 1, 1],
        "a second island: stored": 101,
        "dense: stored": 12,
        "cut: stored": 5,
        "lower only: stored": 9,
        "copied up, data in the lower: stored": 9,
        "lower head and an upper byte: stored": 3,
        "created: stored": 1,
        "pending: stored": 1001,
        "pending committed: stored": 2,
        "a directory: its size": True,
        "missing": "ENOENT",
    }, args=[str(tmp_path)])
