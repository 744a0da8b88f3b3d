"""fsck over a directory with a damaged entry (docs/STORE.md, "Checking:
fsck"): the names that still read reach their inodes, the damaged
entry's inode is not an orphan, so `--repair` keeps it, and the union's
fsck (`ovl fsck --lower`, `ovl fs fsck`, the agent's FS_FSCK) reports
the damage instead of giving up with EIO."""

import json
import shutil
import struct

from test_backup import ovl


def expected(case, closed, known, dir_eio, by_name="hello f2"):
    """What tests/scripts/fsck_damaged_dirs.py finds for a case: the
    victim's block closed or not; whether the damage left the inode its
    entry named (else no unreached inode is an orphan); whether its
    directory answers EIO (it reads by name until that is known)."""
    return {
        case + " in a closed block": closed,
        case + " reads by name": by_name,
        case + " orphans": ["orphan"] if known else [],
        case + " unlisted": ["victim"] if known else ["victim", "orphan"],
        case + " entry named": known,
        case + " inodes reached": 31,
        case + " after repair": [by_name, by_name.replace("f2", "f30")],
        case + " inodes kept": ["f2", "f30", "victim"] if known
        else ["f2", "f30", "orphan", "victim"],
        case + " union": [[], dir_eio, True],
    }


def test_a_damaged_entry_loses_nothing_to_fsck(tmp_path, runtime):
    lower = tmp_path / "lower"
    lower.mkdir()
    want = {}
    want.update(expected("closed-header", True, True, True))
    want.update(expected("closed-body", True, True, True))
    # junk in the open block: no key survives, so no orphan is sure
    want.update(expected("open-header", False, False, False))
    # mount itself finds the damage: the directory answers EIO at once
    want.update(expected("open-body", False, True, True, by_name="EIO"))
    # the root's inode damaged: named "/" by both checks, nothing raised
    want["root store"] = ["/"]
    want["root union"] = ["/"]
    # a directory's own inode damaged: its entries still reach theirs
    want["dir inode store"] = [["/d"], ["orphan"], []]
    want["dir inode kept"] = ["f2", "f30", "victim"]
    runtime.run_checks("fsck_damaged_dirs.py", want, args=[str(lower)],
                       heap="4M")


def flip_entry(image, name):
    """Flip a bit of the last byte of name in its dirent node (the first
    block's nodes walked from its header: magic "oN", type, body length;
    3 is a dirent)."""
    with open(image, "r+b") as f:
        data = bytearray(f.read())
        off = 32
        while data[off:off + 2] == b"oN":
            kind = data[off + 2]
            n = struct.unpack_from("<I", data, off + 4)[0]
            if kind == 3 and data[off + 24:off + 24 + n].endswith(name):
                data[off + 24 + n - 1] ^= 8
                f.seek(0)
                f.write(data)
                return
            off += (24 + n + 3) & ~3
    raise AssertionError("no dirent named %r" % name)


def damaged_upper(tmp_path):
    """(lower, upper): an empty lower directory and an upper image holding
    /d/f1 .. /d/f30 ("hello1" ...), the entry f1 damaged on flash."""
    lower = tmp_path / "lower"
    lower.mkdir()
    upper = str(tmp_path / "up.img")
    ovl("format", "--size", "256k", "--erase-size", "4k", upper)
    status, out, err = ovl("shell", "--lower", lower, "--upper", upper,
                           stdin="mkdir /d\n" + "".join(
                               "write /d/f%d w 0 hello%d\n" % (i, i)
                               for i in range(1, 31)))
    assert status == 0, out + err
    flip_entry(upper, b"f1")
    return lower, upper


def test_the_cli_keeps_and_reports_what_a_damaged_entry_hides(tmp_path):
    lower, upper = damaged_upper(tmp_path)
    damaged = str(tmp_path / "damaged.img")
    shutil.copy(upper, damaged)
    layers = ("--lower", lower, "--upper", upper)
    # the store's check: the damaged entry and its inode named, no orphan
    status, out, err = ovl("fsck", upper)
    assert status == 4, out + err
    assert "orphan inode(s)" not in out and "warning:" not in out, out
    lines = [line for line in out.splitlines() if "/d/f1" in line]
    assert len(lines) == 2 and "--repair restores it" in lines[0] and \
        "not an orphan, --repair restores the entry" in lines[1], out
    # a repair deletes nothing: every file reads by name as before
    # (tests/test_fsck_repair_dirent.py: and the damaged entry again)
    status, out, err = ovl("fsck", "--repair", upper)
    assert status == 1 and "deleted" not in out, out + err
    for i in (2, 17, 30):
        copy = tmp_path / ("f%d" % i)
        status, out, err = ovl("fs", "get", "/d/f%d" % i, copy, *layers)
        assert status == 0 and copy.read_bytes() == b"hello%d" % i, err
    # the union's check reports the damage and goes on: exit 4, listed
    status, out, err = ovl("fsck", "--lower", lower, damaged, "--json")
    assert status == 4 and err == "", err
    report = json.loads(out)
    assert [p for p in report["overlay"]
            if p.startswith("/d: ") and "EIO" in p], report["overlay"]
    assert report["orphans"] == [] and len(report["unlisted"]) == 1
    status, out, err = ovl("fs", "fsck", "--lower", lower, "--upper", damaged)
    assert status == 4 and err == "", err
    assert [p for p in out.splitlines() if p.startswith("/d: ")
            and "EIO" in p] and "store: inode" in out, out
