"""Firmware upgrades and lower hard links (ovl.upgrade, the link index).

A copied-up hard-linked lower file records one of its names as its origin
path and is found from its other lower names through the link index,
keyed by the lower inode number.  A new image numbers its inodes anew and
may name another file at that path: after an upgrade no name may read
another file's bytes or mix them with the user's (docs/OVERLAY.md)."""

import json
import os

import pytest

from host_tools.image.mkimage import build_image

MTIME = 1700000000

# v1: h1 and h2 are one file.  v2: they are two files (h1 changed, h2 has
# the old bytes), and a1/a2 are a new hard-linked pair that the image
# numbers with the old pair's inode number (checked in the scenario).
TREES = {
    "v1": ({"h1": b"one\n"}, [("h1", "h2")]),
    "v2": ({"a1": b"other\n", "h1": b"different\n", "h2": b"one\n"},
           [("a1", "a2")]),
}


def build(root):
    for version, (files, links) in TREES.items():
        top = os.path.join(root, version)
        os.makedirs(top)
        for name, data in files.items():
            with open(os.path.join(top, name), "wb") as f:
                f.write(data)
            os.chmod(os.path.join(top, name), 0o644)
        for src, dst in links:
            os.link(os.path.join(top, src), os.path.join(top, dst))
        build_image(top, top + ".sqfs", mtime=MTIME)


SCRIPT = r"""
import json, sys
from ovl.flash import BytesSource
from ovl_sim.simflash import SimFlash
from ovl.squashfs import SquashFS
from ovl.store import LogStore
from ovl.overlay import mount
from ovl import upgrade, compat

root, how = sys.argv[-1], sys.argv[-2]

def image(v):
    with open(root + "/" + v + ".sqfs", "rb") as f:
        return SquashFS(BytesSource(f.read()))

def read(fs, path):
    try:
        return ["ok", fs.read_bytes(path).decode()]
    except OSError as e:
        return ["err", compat.errno_name(compat.error_code(e))]

def state(fs):
    return {"reads": {p: read(fs, p) for p in ("/a1", "/a2", "/h1", "/h2")
                      if fs.exists(p)},
            "modes": {p: fs.stat(p)[0] & 0o777 for p in ("/a1", "/h2")
                      if fs.exists(p)},
            "nlinks": {p: fs.stat(p)[3] for p in ("/a1", "/h2")
                       if fs.exists(p)},
            "conflicts": [list(c) for c in upgrade.conflicts(fs)],
            "diff": [list(d) for d in fs.diff()],
            "fsck": fs.fsck()}

v2 = image("v2")
assert v2.lookup("/a1").ino == image("v1").lookup("/h1").ino
flash = SimFlash(1 << 18, 4096, 256)
LogStore.format(flash)
fs = mount(image("v1"), flash)
if how == "rm":
    fs.remove("/h1")       # copies the file up through /h1 (its origin)
fs.chmod("/h2", 0o600)
fs.sync()
out = {"before": state(fs)}
# read-only, nothing of the rebase is written: marks and index kept in RAM
out["readonly"] = state(mount(v2, flash, readonly=True))
fs = mount(v2, flash)
out["after"] = state(fs)
out["remount"] = state(mount(image("v2"), flash))
fs = mount(image("v2"), flash)
fs.revert("/h2")
out["reverted"] = state(fs)
print(json.dumps(out))
"""


def run(runtime, root, how):
    build(root)
    return json.loads(runtime(SCRIPT, args=[how, root], heap="4M"))


def test_a_hard_link_copied_up_through_a_removed_name_never_reads_another_file(
        runtime, tmp_path):
    out = run(runtime, str(tmp_path), "rm")
    before = out["before"]
    assert before["reads"] == {"/h2": ["ok", "one\n"]}
    assert before["diff"] == [["deleted", "/h1"], ["metadata", "/h2"]]
    assert before["fsck"] == []
    for after in (out["readonly"], out["after"], out["remount"]):
        # its bytes were the old firmware's; /h1 now names another file:
        # a conflict (EIO), never v2's /h1 under the user's /h2
        assert after["reads"]["/h2"] == ["err", "EIO"]
        assert after["conflicts"] == [["conflict", "/h2"]]
        assert after["diff"] == [["deleted", "/h1"], ["conflict", "/h2"]]
        assert after["modes"]["/h2"] == 0o600
        assert after["nlinks"]["/h2"] == 1
        # the new pair with the old pair's inode number is the firmware's
        assert after["reads"]["/a1"] == after["reads"]["/a2"] == \
            ["ok", "other\n"]
        assert after["modes"]["/a1"] == 0o644
        assert after["nlinks"]["/a1"] == 2
        assert [p for p in after["fsck"] if "conflict" not in p] == []
    reverted = out["reverted"]
    assert reverted["reads"]["/h2"] == ["ok", "one\n"]
    assert reverted["modes"]["/h2"] == 0o644
    assert reverted["conflicts"] == []
    assert reverted["diff"] == [["deleted", "/h1"]]
    assert reverted["fsck"] == []


def test_a_chmod_hard_link_follows_the_new_firmware_at_its_own_name(
        runtime, tmp_path):
    out = run(runtime, str(tmp_path), "chmod")
    before = out["before"]
    assert before["reads"] == {"/h1": ["ok", "one\n"], "/h2": ["ok", "one\n"]}
    assert before["nlinks"]["/h2"] == 2
    assert before["fsck"] == []
    # read-only, its new size cannot be recorded: EIO, as for any
    # chmod-only file, and the old index joins no new file
    readonly = out["readonly"]
    assert readonly["reads"] == dict(out["after"]["reads"],
                                     **{"/h2": ["err", "EIO"]})
    assert readonly["modes"]["/a1"] == 0o644
    assert readonly["nlinks"]["/a1"] == 2
    for after in (out["after"], out["remount"]):
        # copied up through /h2 itself: the new /h2 with the user's mode,
        # and the old link index no longer joins it to any lower name
        assert after["reads"] == {"/a1": ["ok", "other\n"],
                                  "/a2": ["ok", "other\n"],
                                  "/h1": ["ok", "different\n"],
                                  "/h2": ["ok", "one\n"]}
        assert after["modes"] == {"/a1": 0o644, "/h2": 0o600}
        assert after["nlinks"] == {"/a1": 2, "/h2": 1}
        assert after["conflicts"] == []
        assert after["diff"] == [["metadata", "/h2"]]
        assert after["fsck"] == []
    assert out["reverted"]["diff"] == []
    assert out["reverted"]["fsck"] == []


def cli_images(tmp_path):
    """The report's images (l1: h1 and h2 one file; l2: two files, h1
    changed) and an empty upper, made by the CLI: (l1, l2, upper)."""
    from host_tools.cli import main
    s1, s2 = tmp_path / "s1", tmp_path / "s2"
    s1.mkdir()
    s2.mkdir()
    (s1 / "h1").write_bytes(b"one\n")
    os.link(s1 / "h1", s1 / "h2")
    (s2 / "h1").write_bytes(b"different\n")
    (s2 / "h2").write_bytes(b"one\n")
    l1, l2 = str(tmp_path / "l1.sqfs"), str(tmp_path / "l2.sqfs")
    up = str(tmp_path / "up.img")
    assert main(["mkimage", str(s1), l1]) == 0
    assert main(["mkimage", str(s2), l2]) == 0
    assert main(["format", "--size", "256k", "--erase-size", "4k", up]) == 0
    return l1, l2, up


def test_cli_the_reviewers_case(tmp_path, capsys):
    """The report's reproduction through `ovl fs`: /h2 never prints v2's
    /h1, diff does not call it added, fsck finds no broken link index."""
    from host_tools.cli import main
    l1, l2, up = cli_images(tmp_path)
    assert main(["fs", "rm", "/h1", "--lower", l1, "--upper", up]) == 0
    assert main(["fs", "chmod", "600", "/h2", "--lower", l1,
                 "--upper", up]) == 0
    capsys.readouterr()

    def fs(*argv):
        status = main(["fs", argv[0], "--lower", l2, "--upper", up] +
                      list(argv[1:]))
        out, err = capsys.readouterr()
        return status, out, err

    status, out, err = fs("cat", "/h2")
    assert "different" not in out
    assert status == 1 and len(err.splitlines()) == 1
    status, out, err = fs("diff")
    assert "added" not in out and "conflict /h2" in out, out
    status, out, err = fs("conflicts")
    assert out.split() == ["conflict", "/h2"]
    status, out, err = fs("fsck")
    assert "link index" not in out + err and "nlink" not in out + err


def test_cli_a_chmod_hard_link_no_longer_linked_is_fsck_clean(tmp_path,
                                                              capsys):
    from host_tools.cli import main
    l1, l2, up = cli_images(tmp_path)
    assert main(["fs", "chmod", "600", "/h2", "--lower", l1,
                 "--upper", up]) == 0
    capsys.readouterr()
    assert main(["fs", "fsck", "--lower", l2, "--upper", up]) == 0
    assert main(["fs", "cat", "/h2", "--lower", l2, "--upper", up]) == 0
    assert capsys.readouterr().out.endswith("one\n")


def _state(fs):
    from ovl import compat, upgrade

    def read(path):
        try:
            return fs.read_bytes(path)
        except OSError as e:
            return compat.error_code(e)
    return ({p: read(p) for p in ("/a1", "/a2", "/h1", "/h2")},
            {p: tuple(fs.stat(p))[:7] for p in ("/a1", "/h2")},
            upgrade.conflicts(fs), fs.diff(), fs.fsck())


@pytest.mark.parametrize("how", ["rm", "chmod"])
def test_a_power_cut_in_the_rebase_of_a_hard_link_rebases_it_again(
        tmp_path, how):
    """A cut at any flash operation of the first mount over v2 (the
    rebase: the link index entry, nlink, fix and mark of a file go in one
    transaction) leaves a chip whose next mount ends as the uncut one."""
    from ovl.flash import BytesSource
    from ovl.overlay import mount
    from ovl.squashfs import SquashFS
    from ovl.store import LogStore
    from ovl_sim.simflash import PowerCut, SimFlash
    build(str(tmp_path))

    def image(version):
        return SquashFS(BytesSource((tmp_path / (version + ".sqfs"))
                                    .read_bytes()))
    flash = SimFlash(1 << 18, 4096, 256)
    LogStore.format(flash)
    fs = mount(image("v1"), flash)
    if how == "rm":
        fs.remove("/h1")
    fs.chmod("/h2", 0o600)
    fs.sync()
    base = flash.snapshot()
    start = flash.ops
    want = _state(mount(image("v2"), flash))
    cost = flash.ops - start
    assert cost > 0
    for torn in ("clean", "prefix"):
        for n in range(cost):
            flash.restore(base)
            flash.arm_power_cut(n, torn, seed=n)
            with pytest.raises(PowerCut):
                mount(image("v2"), flash)
            flash.power_on()
            assert _state(mount(image("v2"), flash)) == want, (n, torn)
