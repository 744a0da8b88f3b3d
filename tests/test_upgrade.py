"""Firmware upgrades under a kept upper (ovl.upgrade), on both runtimes.

The scenario of issue 16: over firmware v1 the user edits 1 byte of A and
of B, chmods C and creates D; v2 changes A and C and adds D.  After the
upgrade A and B read exactly as the user left them, C has v2's content
with the user's mode, D is the user's and listed as a conflict."""

import json
import os

import pytest

from host_tools.image.mkimage import build_image

MTIME = 1700000000      # one mtime for every file: only content tells


def firmware_trees(root):
    """v1 and v2 source trees; A's change keeps its size (and mtime), so
    only a digest of its bytes can tell the versions apart."""
    a1 = b"".join(b"option ip%02d 192.168.1.%03d\n" % (i, i) for i in range(40))
    a2 = b"".join(b"option ad%02d 10.000.00.%03d\n" % (i, i) for i in range(40))
    assert len(a1) == len(a2) and a1 != a2
    b = bytes(range(256)) * 20
    e1 = b"e=1\n" * 300
    e2 = b"e=2\n" * 310
    files = {
        "v1": {"etc/A": a1, "etc/B": b, "etc/C": b"c=1\n", "etc/E": e1,
               "etc/keep": b"k\n"},
        "v2": {"etc/A": a2, "etc/B": b, "etc/C": b"c=2 and more\n",
               "etc/D": b"firmware D\n", "etc/E": e2, "etc/keep": b"k\n"},
    }
    out = {}
    for version, tree in files.items():
        top = os.path.join(root, version)
        for rel, data in tree.items():
            path = os.path.join(top, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
            os.chmod(path, 0o644)
        out[version] = tree
    return out


def build(root):
    trees = firmware_trees(root)
    for version in trees:
        build_image(os.path.join(root, version),
                    os.path.join(root, version + ".sqfs"), mtime=MTIME)
    return trees


EDITS = {"/etc/A": (7, b"X"), "/etc/B": (1000, b"Y"), "/etc/E": (600, b"Z")}


def user_edits(fs, paths=("/etc/A", "/etc/B", "/etc/C", "/etc/D")):
    """The user's changes over v1: 1 byte of A and B, chmod C, create D
    (and, when asked, 1 byte of E)."""
    for path in paths:
        if path in EDITS:
            with fs.open(path, "r+b") as f:
                f.seek(EDITS[path][0])
                f.write(EDITS[path][1])
        elif path == "/etc/C":
            fs.chmod(path, 0o600)
        elif path == "/etc/D":
            fs.write_bytes(path, b"mine\n")
    fs.sync()


def expected(trees, edited=("/etc/A", "/etc/B")):
    """What each file must read after the upgrade."""
    out = {"/etc/C": trees["v2"]["etc/C"], "/etc/D": b"mine\n",
           "/etc/E": trees["v2"]["etc/E"]}
    for path in edited:
        data = bytearray(trees["v1"][path[1:]])
        off, byte = EDITS[path]
        data[off:off + 1] = byte
        out[path] = bytes(data)
    return out


# An upper on a simulated chip, mounted over image v1 of the directory
# given as the last argument (the scripts run under both runtimes).
PREAMBLE = r"""
import json, sys
from ovl.flash import BytesSource
from ovl_sim.simflash import SimFlash
from ovl.squashfs import SquashFS
from ovl.store import LogStore
from ovl.overlay import mount
from ovl import upgrade, compat

root = sys.argv[-1]

def image(v):
    with open(root + "/" + v + ".sqfs", "rb") as f:
        return SquashFS(BytesSource(f.read()))

flash = SimFlash(1 << 19, 4096, 256)
LogStore.format(flash)
fs = mount(image("v1"), flash)
"""

SCRIPT = PREAMBLE + r"""
how = sys.argv[-2]

def read(fs, path):
    try:
        return ["ok", compat.hexdigest(compat.sha256(fs.read_bytes(path)))]
    except OSError as e:
        return ["err", compat.errno_name(compat.error_code(e))]

%(edits)s
user_edits(fs)
out = {"partial": [f[0] for f in upgrade.scan(fs)]}
if how == "keep":
    # what `ovl flash` does through the agent: compare, then materialize
    v2 = image("v2")
    todo = [p for p, lp, n, d in upgrade.scan(fs)
            if upgrade.differs(v2, lp, n, d)]
    out["kept"] = todo
    out["programmed"] = [upgrade.materialize(fs, p) for p in todo]
    out["again"] = [upgrade.materialize(fs, p) for p in todo]
    fs = mount(image("v2"), flash)
elif how == "carry":
    fs = mount(image("v2"), flash, previous=image("v1"))
else:   # the lower replaced behind ovl's back
    fs = mount(image("v2"), flash)
out["conflicts"] = [list(c) for c in upgrade.conflicts(fs)]
out["attr"] = fs.conflicts
out["diff"] = [list(d) for d in fs.diff("/etc")]
out["layers"] = [fs.layer_of("/etc/" + n) for n in "ABCD"]
out["mode_c"] = fs.stat("/etc/C")[0] & 0o777
out["reads"] = {p: read(fs, p) for p in ("/etc/A", "/etc/B", "/etc/C", "/etc/D", "/etc/E")}
fs = mount(image("v2"), flash)      # marks survive a remount
out["reads2"] = {p: read(fs, p) for p in ("/etc/A", "/etc/B")}
out["conflicts2"] = [list(c) for c in upgrade.conflicts(fs)]
fs.revert("/etc/A")
out["reverted"] = read(fs, "/etc/A")
out["conflicts3"] = [list(c) for c in upgrade.conflicts(fs)]
out["fsck"] = fs.fsck()
print(json.dumps(out))
"""


def edits_source():
    import inspect
    return "EDITS = %r\n%s" % (EDITS, inspect.getsource(user_edits))


def run_scenario(runtime, root, how):
    script = SCRIPT % {"edits": edits_source()}
    return json.loads(runtime(script, args=[how, root], heap="16M"))


def sha(data):
    import hashlib
    return ["ok", hashlib.sha256(data).hexdigest()]


@pytest.mark.parametrize("how", ["keep", "carry"])
def test_upgrade_keeps_the_users_files_whole(runtime, tmp_path, how):
    trees = build(str(tmp_path))
    want = expected(trees)
    out = run_scenario(runtime, str(tmp_path), how)
    assert out["partial"] == ["/etc/A", "/etc/B"]
    if how == "keep":
        # only A's lower bytes change: B is left partial
        assert out["kept"] == ["/etc/A"]
        assert 0 < out["programmed"][0] < 4 * len(want["/etc/A"])
        assert out["again"] == [0]
    for path, data in want.items():
        assert out["reads"][path] == sha(data), path
    assert out["mode_c"] == 0o600
    assert out["conflicts"] == [["modified", "/etc/A"], ["created", "/etc/D"]]
    assert out["attr"] == ["/etc/A", "/etc/D"]
    assert out["layers"] == ["copied-up", "copied-up", "copied-up", "upper"]
    assert out["reads2"] == {"/etc/A": sha(want["/etc/A"]),
                             "/etc/B": sha(want["/etc/B"])}
    assert out["reverted"] == sha(trees["v2"]["etc/A"])
    assert out["conflicts3"] == [["created", "/etc/D"]]
    assert out["fsck"] == []


def test_a_replaced_lower_gives_eio_never_mixed_bytes(runtime, tmp_path):
    trees = build(str(tmp_path))
    want = expected(trees)
    out = run_scenario(runtime, str(tmp_path), "dd")
    assert out["reads"]["/etc/A"] == ["err", "EIO"]
    assert out["reads2"]["/etc/A"] == ["err", "EIO"]
    # B's lower did not change: it reads as the user left it
    assert out["reads"]["/etc/B"] == sha(want["/etc/B"])
    assert out["reads"]["/etc/C"] == sha(trees["v2"]["etc/C"])
    assert out["mode_c"] == 0o600
    assert out["conflicts"] == [["conflict", "/etc/A"], ["created", "/etc/D"]]
    assert ["conflict", "/etc/A"] in out["diff"]
    assert out["layers"][0] == "conflict"
    # revert takes the new firmware's version
    assert out["reverted"] == sha(trees["v2"]["etc/A"])
    assert out["conflicts3"] == [["created", "/etc/D"]]
    assert out["fsck"] == []


def test_cli_conflicts_eio_and_both_versions(tmp_path, capsys, monkeypatch):
    """The issue's measured case from the command line: the lower replaced
    under an upper holding a 1-byte edit."""
    import io
    import sys
    from host_tools.cli import main
    trees = build(str(tmp_path))
    v1, v2 = str(tmp_path / "v1.sqfs"), str(tmp_path / "v2.sqfs")
    upper = str(tmp_path / "up.img")
    assert main(["format", upper, "--size", "512k", "--erase-size", "4k"]) == 0
    (tmp_path / "d").write_bytes(b"mine\n")
    monkeypatch.setattr(sys, "stdin", io.StringIO(
        "write /etc/A r+ 7 X\nchmod 600 /etc/C\nput %s /etc/D\n"
        % (tmp_path / "d")))
    assert main(["shell", "--lower", v1, "--upper", upper]) == 0
    capsys.readouterr()

    def ovl(*argv):
        status = main(list(argv[:1]) + list(argv[1:2]) +
                      ["--lower", v2, "--upper", upper] + list(argv[2:]))
        out, err = capsys.readouterr()
        return status, out, err

    # (a reader shows the rebase, applied in RAM: its image stays as it
    # was until a session that writes)
    status, out, err = ovl("fs", "cat", "/etc/A")
    assert status == 1 and out == ""
    assert len(err.splitlines()) == 1 and "revert it or rewrite it" in err
    status, out, err = ovl("fs", "conflicts")
    assert out.split("\n")[:2] == ["conflict  /etc/A", "created   /etc/D"]
    status, out, err = ovl("fs", "ls", "-l", "/etc")
    line_a = [line for line in out.splitlines() if line.endswith(" A")][0]
    assert "conflict" in line_a
    status, out, err = ovl("fs", "diff")
    assert "conflict /etc/A" in out
    # fsck --lower names it: an unreadable file is an error left (4)
    assert main(["fsck", "--lower", v2, upper]) == 4
    out = capsys.readouterr().out
    assert "/etc/A: conflict" in out and "/etc/B" not in out, out
    # both versions: the firmware's, and (C) the new content, user's mode
    status, out, err = ovl("fs", "cat", "--layer", "lower", "/etc/A")
    assert out.encode() == trees["v2"]["etc/A"]
    status, out, err = ovl("fs", "cat", "--layer", "lower", "/etc/D")
    assert out == "firmware D\n"
    status, out, err = ovl("fs", "cat", "/etc/D")
    assert out == "mine\n"
    status, out, err = ovl("fs", "cat", "/etc/C")
    assert out.encode() == trees["v2"]["etc/C"]
    status, out, err = ovl("fs", "stat", "/etc/C")
    mode = json.loads(out)["mode"]        # an octal string
    assert int(mode, 8) & 0o777 == 0o600
    assert ovl("fs", "revert", "/etc/A")[0] == 0
    status, out, err = ovl("fs", "cat", "/etc/A")
    assert status == 0 and out.encode() == trees["v2"]["etc/A"]
    status, out, err = ovl("fs", "conflicts")
    assert out.split("\n")[:1] == ["created   /etc/D"]
    # without an upper there is nothing to conflict
    assert main(["fs", "conflicts", "--lower", v2]) == 0
    assert capsys.readouterr().out.strip() == ""


MOVED = PREAMBLE + r"""
with fs.open("/etc/E", "r+b") as f:
    f.seek(5)
    f.write(b"!")
fs.rename("/etc/E", "/etc/E.mine")
v2 = image("v2")
files = list(upgrade.scan(fs))
todo = [p for p, lp, n, d in files if upgrade.differs(v2, lp, n, d)]
kept = [upgrade.materialize(fs, p) > 0 for p in todo]
gone = upgrade.materialize(fs, "/etc/nothing")
fs = mount(v2, flash)
print(json.dumps({"files": [f[:3] for f in files], "todo": todo,
                  "kept": kept, "gone": gone,
                  "data": fs.read_bytes("/etc/E.mine").decode(),
                  "conflicts": [list(c) for c in upgrade.conflicts(fs)]}))
"""


def test_a_renamed_partial_file_is_compared_at_its_lower_path(runtime,
                                                              tmp_path):
    trees = build(str(tmp_path))
    out = json.loads(runtime(MOVED, args=[str(tmp_path)], heap="16M"))
    e1 = trees["v1"]["etc/E"]
    assert out["files"] == [["/etc/E.mine", "/etc/E", len(e1)]]
    assert out["todo"] == ["/etc/E.mine"] and out["kept"] == [True]
    assert out["gone"] == 0
    assert out["data"].encode() == e1[:5] + b"!" + e1[6:]
    # the firmware changed the file it came from: changed in both
    assert out["conflicts"] == [["modified", "/etc/E.mine"]]


APPENDED = PREAMBLE + r"""
with fs.open("/etc/A", "r+b") as f:
    f.seek(7)
    f.write(b"X")
v3 = image("v3")
todo = [p for p, lp, n, d in upgrade.scan(fs) if upgrade.differs(v3, lp, n, d)]
fs = mount(v3, flash)
print(json.dumps({"todo": todo, "data": fs.read_bytes("/etc/A").decode(),
                  "conflicts": [list(c) for c in upgrade.conflicts(fs)]}))
"""


def test_a_firmware_that_only_appends_leaves_a_partial_file_readable(
        runtime, tmp_path):
    """The bytes the partial file reads from the lower are the same in the
    new firmware: nothing to keep, and no EIO after, but the firmware's
    version changed too."""
    trees = build(str(tmp_path))
    v3 = tmp_path / "v3"
    (v3 / "etc").mkdir(parents=True)
    (v3 / "etc" / "A").write_bytes(trees["v1"]["etc/A"] + b"option new\n")
    build_image(str(v3), str(tmp_path / "v3.sqfs"), mtime=MTIME)
    out = json.loads(runtime(APPENDED, args=[str(tmp_path)], heap="16M"))
    assert out["todo"] == []
    a = trees["v1"]["etc/A"]
    assert out["data"].encode() == a[:7] + b"X" + a[8:]
    assert out["conflicts"] == [["modified", "/etc/A"]]


BIG_KEEP = r"""
import sys
from ovl.flash import BytesSource
from ovl.mtd import MtdFlash
from ovl.squashfs import SquashFS
from ovl.store import LogStore
from ovl.overlay import mount
from ovl import upgrade

image, upper = sys.argv[-2], sys.argv[-1]
lower = SquashFS(BytesSource(open(image, "rb"), 1 << 20), cache_blocks=1)
flash = MtdFlash(upper, 1 << 20, 4096, 256, ioctl=None)
LogStore.format(flash)
fs = mount(lower, flash)
with fs.open("/etc/big", "r+b") as f:
    f.seek(1000)
    f.write(b"X")
print(upgrade.materialize(fs, "/etc/big"))
with fs.open("/etc/big", "rb") as f:
    f.seek(999)
    print(f.read(3))
"""


def test_keeping_a_big_file_needs_no_room_for_it_in_ram(mpy, tmp_path):
    """A 512 KiB file edited in 1 byte is hashed for its base and then
    completed in a 640 KiB MicroPython heap, which could not hold the file
    beside what the imports and the store take (about 384 KiB): both work
    a window at a time (the upper on a file, so the chip is not in RAM)."""
    import random
    src = tmp_path / "src" / "etc"
    src.mkdir(parents=True)
    rng = random.Random(1)
    data = bytes(rng.getrandbits(8) for _ in range(512 * 1024))
    (src / "big").write_bytes(data)
    build_image(str(tmp_path / "src"), str(tmp_path / "big.sqfs"),
                block_size="4K", mtime=MTIME)
    (tmp_path / "up.bin").write_bytes(b"\xff" * (1 << 20))
    out = mpy(BIG_KEEP, args=[str(tmp_path / "big.sqfs"),
                              str(tmp_path / "up.bin")], heap="640K")
    programmed, got = out.split()
    assert int(programmed) > len(data)      # incompressible: all of it
    assert got == repr(data[999:1000] + b"X" + data[1001:1002])


def test_a_file_replaced_by_rename_is_no_conflict_if_firmware_kept_it(
        tmp_path, capsys):
    """The CLI: `fs put` of a temporary and `fs mv` over the firmware's
    file (what `ovl remote put` does on the board) is a modified file; v2
    kept the firmware's version, so no conflict."""
    from host_tools.cli import main
    root = tmp_path / "fw"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hostname").write_bytes(b"router\n")
    (root / "etc" / "version").write_bytes(b"1\n")
    v1, v2 = str(tmp_path / "v1.sqfs"), str(tmp_path / "v2.sqfs")
    build_image(str(root), v1, mtime=1700000000)
    (root / "etc" / "version").write_bytes(b"2\n")      # hostname kept
    build_image(str(root), v2, mtime=1700000001)
    upper = str(tmp_path / "up.img")
    assert main(["format", upper, "--size", "256k", "--erase-size",
                 "4k"]) == 0
    mine = tmp_path / "mine"
    mine.write_bytes(b"kitchen\n")
    # the agent's atomic put: a temporary beside it, renamed over the name
    assert main(["fs", "put", "--lower", v1, "--upper", upper, str(mine),
                 "/etc/.put-hostname"]) == 0
    assert main(["fs", "mv", "--lower", v1, "--upper", upper,
                 "/etc/.put-hostname", "/etc/hostname"]) == 0
    capsys.readouterr()
    assert main(["fs", "conflicts", "--lower", v2, "--upper", upper]) == 0
    out = capsys.readouterr().out
    assert "/etc/hostname" not in out, out


def replacement_trees(root):
    """v1 and v2 for the replacement cases (a symlink beside the files)."""
    files = {
        "v1": {"hostname": b"router\n", "motd": b"hi\n", "shell": b"sh\n",
               "gone": b"g\n", "version": b"1\n", "issue": b"i1\n",
               "banner": b"b\n"},
        "v2": {"hostname": b"router\n", "motd": b"hello\n",
               "shell": b"sh\n", "version": b"2\n", "issue": b"i2\n",
               "banner": b"b\n", "D": b"firmware D\n"},
    }
    for tree in files.values():
        tree.update({"sub/x": b"x\n", "hosts": b"h1\n"})
    files["v2"]["hosts"] = b"h2\n"
    for version, tree in files.items():
        etc = os.path.join(root, version, "etc")
        os.makedirs(os.path.join(etc, "sub"))
        for name, data in tree.items():
            with open(os.path.join(etc, name), "wb") as f:
                f.write(data)
        os.symlink("UTC", os.path.join(etc, "zone"))
        build_image(os.path.join(root, version),
                    os.path.join(root, version + ".sqfs"), mtime=MTIME +
                    (version == "v2"))
    return files


REPLACED = PREAMBLE + r"""
from ovl.agent import PutJob

def put(path, data):
    # the agent's put: a temporary beside the name, renamed over it
    job = PutJob(fs, path, len(data), compat.sha256(data).digest())
    job.write(data)
    job.finish()

put("/etc/hostname", b"kitchen\n")         # v2 keeps the firmware's
put("/etc/motd", b"mine\n")                # v2 changes it
put("/etc/gone", b"mine\n")                # v2 drops it
fs.remove("/etc/shell")                     # unlink, then create
fs.write_bytes("/etc/shell", b"mine\n")
fs.remove("/etc/zone")                      # ln -sf
fs.symlink("Europe/Paris", "/etc/zone")
fs.write_bytes("/etc/D", b"mine\n")         # v2 ships it too
put("/etc/version", b"mine\n")             # then moved where v1 has none
fs.rename("/etc/version", "/etc/version.mine")
put("/etc/issue", b"mine\n")               # then moved over another
fs.rename("/etc/issue", "/etc/banner")
put("/etc/hosts", b"mine\n")               # v2 changes it; a hard link
fs.link("/etc/hosts", "/etc/a-hosts")       # lists first
fs.remove("/etc/sub/x")                     # a directory made again:
fs.rmdir("/etc/sub")                        # what is in it is the user's
fs.mkdir("/etc/sub")
fs.write_bytes("/etc/sub/x", b"mine\n")
fs.sync()
out = {"diff": [list(d) for d in fs.diff("/etc")],
       "layers": dict((n, fs.layer_of("/etc/" + n)) for n in fs.listdir(
           "/etc")), "fsck": fs.fsck(),
       "partial": [f[0] for f in upgrade.scan(fs)]}
fs = mount(image("v2"), flash)
out["conflicts"] = [list(c) for c in upgrade.conflicts(fs)]
names = ("hostname", "motd", "gone", "shell", "D", "version.mine", "banner",
         "version", "issue", "hosts", "a-hosts", "sub/x")
out["reads"] = {}
for n in names:
    try:
        out["reads"][n] = fs.read_bytes("/etc/" + n).decode()
    except OSError as e:
        out["reads"][n] = compat.errno_name(compat.error_code(e))
out["zone"] = fs.readlink("/etc/zone")
out["fsck2"] = fs.fsck()
fs = mount(image("v2"), flash)
out["conflicts2"] = [list(c) for c in upgrade.conflicts(fs)]
fs.revert("/etc/motd")
fs.revert("/etc/hostname")
out["reverted"] = [fs.read_bytes("/etc/motd").decode(),
                   fs.read_bytes("/etc/hostname").decode()]
out["conflicts3"] = [list(c) for c in upgrade.conflicts(fs)]
out["fsck3"] = fs.fsck()
print(json.dumps(out))
"""


def test_a_replaced_firmware_file_is_a_modified_one(runtime, tmp_path):
    """Every way a name comes to hide a firmware file (the agent's put:
    rename over; unlink then create; a symlink made again) gives a file
    that the upgrade treats as modified: kept, and a conflict only when
    the new firmware changed (or dropped) its version.  Moved elsewhere,
    the file is judged at its new name."""
    files = replacement_trees(str(tmp_path))
    out = json.loads(runtime(REPLACED, args=[str(tmp_path)], heap="16M"))
    # before the upgrade: replaced names read as modified, not added
    assert out["diff"] == [
        ["added", "/etc/D"], ["added", "/etc/a-hosts"],
        ["modified", "/etc/banner"], ["modified", "/etc/gone"],
        ["modified", "/etc/hostname"], ["modified", "/etc/hosts"],
        ["deleted", "/etc/issue"], ["modified", "/etc/motd"],
        ["modified", "/etc/shell"], ["added", "/etc/sub"],
        ["added", "/etc/sub/x"], ["deleted", "/etc/version"],
        ["added", "/etc/version.mine"], ["modified", "/etc/zone"]]
    # the layer says what diff says: a name hiding the firmware's file
    # (copied up, or replaced in any of these ways) is "copied-up", as
    # `ovl fs put` (in place) and `ovl remote put` (renamed over) leave it
    hidden = ("banner", "gone", "hostname", "hosts", "motd", "shell", "zone")
    assert out["layers"] == dict(
        (n, "copied-up" if n in hidden else "upper")
        for n in ("D", "a-hosts", "sub", "version.mine") + hidden)
    assert out["fsck"] == [] and out["partial"] == []
    # a hard link elsewhere does not hide the change; the directory made
    # again over one v2 left alone is no conflict, nor what is in it
    want = [["created", "/etc/D"], ["modified", "/etc/a-hosts"],
            ["modified", "/etc/gone"], ["modified", "/etc/hosts"],
            ["modified", "/etc/motd"]]
    assert out["conflicts"] == want
    assert out["conflicts2"] == want        # the marks survive a remount
    assert out["reads"]["hostname"] == "kitchen\n"
    for n in ("motd", "gone", "shell", "D", "version.mine", "banner",
              "hosts", "a-hosts", "sub/x"):
        assert out["reads"][n] == "mine\n", n
    # the moved names stay removed
    assert out["reads"]["version"] == out["reads"]["issue"] == "ENOENT"
    assert out["zone"] == "Europe/Paris"
    assert out["fsck2"] == [] and out["fsck3"] == []
    # revert takes the firmware's version, and its mark goes
    assert out["reverted"] == [files["v2"]["motd"].decode(),
                               files["v2"]["hostname"].decode()]
    assert out["conflicts3"] == [w for w in want if w[1] != "/etc/motd"]


def test_an_upgrade_changing_only_fragment_bytes_is_noticed(tmp_path,
                                                          capsys):
    """Two reproducible builds (same --mtime) differing in a few bytes of a
    small file inside an uncompressed fragment have the same identity, so
    no rebase runs; the file's base digest, checked at its first read of a
    mount, still keeps the user's byte off the new firmware's others."""
    from host_tools.cli import main
    root = tmp_path / "fw"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "version").write_bytes(b"ab\n")
    v1, v2 = str(tmp_path / "v1.sqfs"), str(tmp_path / "v2.sqfs")
    build_image(str(root), v1, mtime=1700000000)
    (root / "etc" / "version").write_bytes(b"ac\n")
    build_image(str(root), v2, mtime=1700000000)
    upper = str(tmp_path / "up.img")
    assert main(["format", upper, "--size", "256k", "--erase-size",
                 "4k"]) == 0
    import io
    import sys
    old = sys.stdin
    sys.stdin = io.StringIO("write /etc/version r+ 0 X\n")
    try:
        assert main(["shell", "--lower", v1, "--upper", upper]) == 0
    finally:
        sys.stdin = old
    capsys.readouterr()
    status = main(["fs", "cat", "--lower", v2, "--upper", upper,
                   "/etc/version"])
    out = capsys.readouterr().out
    # "Xb\n" (the user's file kept whole) or a conflict (EIO), never the
    # user's byte over the new firmware's: "Xc\n"
    assert out != "Xc\n", (status, out)
