"""DirLower: a host directory behind the Lower interface, on both runtimes."""

import errno
import os

import pytest

from ovl.paths import S_IFMT, S_IFDIR, S_IFIFO, S_IFLNK


def make_tree(root):
    os.makedirs(os.path.join(root, "sub", "deeper"))
    with open(os.path.join(root, "file"), "wb") as f:
        f.write(b"0123456789" * 500)
    with open(os.path.join(root, "sub", "small"), "wb") as f:
        f.write(b"tiny")
    os.symlink("sub/small", os.path.join(root, "link"))
    os.link(os.path.join(root, "file"), os.path.join(root, "hard"))
    os.mkfifo(os.path.join(root, "fifo"))
    for name in ("\u00e9t\u00e9", "Zed", "apple", "b"):
        open(os.path.join(root, "sub", name), "w").close()


def test_dirlower_contract(tmp_path, runtime):
    make_tree(str(tmp_path))
    out = runtime.run_checks("dirlower_contract.py", {
        # Sorted by UTF-8 bytes: uppercase before lowercase, e-acute last.
        "sub listing": ["Zed", "apple", "b", "deeper", "small",
                        "\u00e9t\u00e9"],
        "read across the end": "56789",
        "read at the start": "012",
        "read more than the file": 5000,
        "read past the end": "",
        "lookup /nope": errno.ENOENT,
        "lookup /file/x": errno.ENOTDIR,
        "lookup /link/x": errno.ENOTDIR,     # a symlink is not followed
        "lookup /sub/../file": errno.ENOENT,  # dot names stay to the overlay
        "lookup relative": errno.ENOENT,
        "read of a directory": errno.EISDIR,
        # MicroPython has no readlink: EOPNOTSUPP there
        "readlink /link": "sub/small" if runtime.name == "cpython"
        else errno.EOPNOTSUPP,
    }, args=[str(tmp_path)])
    rows = out["root listing [name, mode, size, nlink, ino]"]
    assert [row[0] for row in rows] == ["fifo", "file", "hard", "link", "sub"]
    rows = dict((row[0], row) for row in rows)
    st = os.lstat(str(tmp_path / "file"))
    assert rows["file"][1] == st.st_mode, "mode of /file"
    assert rows["file"][2] == 5000, "size of /file"
    assert rows["file"][3] == 2, "nlink of a hard-linked file"
    assert rows["hard"][4] == rows["file"][4], "hard links share an ino"
    assert rows["fifo"][1] & S_IFMT == S_IFIFO, "type of /fifo"
    assert rows["sub"][1] & S_IFMT == S_IFDIR, "type of /sub"
    assert out["mode of /link"] & S_IFMT == S_IFLNK
    assert out["identity"].startswith("dir:"), out["identity"]


def test_dirlower_identity_changes(tmp_path):
    from ovl.dirlower import DirLower
    make_tree(str(tmp_path))
    before = DirLower(str(tmp_path)).identity()
    assert DirLower(str(tmp_path)).identity() == before
    with open(str(tmp_path / "sub" / "b"), "wb") as f:
        f.write(b"changed")
    assert DirLower(str(tmp_path)).identity() != before


def test_dirlower_rejects_non_directory(tmp_path):
    from ovl.dirlower import DirLower
    p = tmp_path / "plain"
    p.write_bytes(b"x")
    with pytest.raises(OSError):
        DirLower(str(p))


def test_names_that_are_not_utf8_never_break_a_mount(tmp_path, runtime):
    """MicroPython cannot hold such a name in a str: DirLower leaves it
    out there (it was a UnicodeError at mount); CPython lists it as
    os.fsdecode does."""
    root = os.fsencode(str(tmp_path))
    os.makedirs(os.path.join(root, b"sub"))
    os.makedirs(os.path.join(root, b"d\xfe"))
    for rel, data in ((b"ok", b"ok\n"), (b"d\xfe/in", b"in\n"),
                      (b"sub/bad\xff", b"bad\n"), (b"sub/good", b"good\n")):
        with open(os.path.join(root, rel), "wb") as f:
            f.write(data)
    if runtime.name == "cpython":
        bad_dir, bad = [os.fsdecode(b"d\xfe")], [os.fsdecode(b"bad\xff")]
    else:
        bad_dir, bad = [], []
    runtime.run_checks("dirlower_non_utf8.py", {
        "lower root": bad_dir + ["ok", "sub"],
        "lower sub": bad + ["good"],
        "identity": "ok",
        "mount": "ok",
        "root": bad_dir + ["ok", "sub"],
        "sub after a write": bad + ["good", "new"],
        "read /sub/good": "good\n",
        "sub after remount": bad + ["good", "new"],
        "fsck": [],
    }, args=[str(tmp_path)])
