"""DirLower: a host directory behind the Lower interface, on both runtimes."""

import json
import os

import pytest


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


SCRIPT = r"""
import json
from ovl.dirlower import DirLower
from ovl import compat
d = DirLower(%r)
out = {}
root = d.lookup("/")
out["root"] = [[n, e.mode, e.size, e.nlink, e.ino] for n, e in d.readdir(root)]
out["sub"] = [n for n, e in d.readdir(d.lookup("/sub"))]
f = d.lookup("/file")
out["read"] = [d.read(f, 4995, 10).decode(), d.read(f, 0, 3).decode(),
               len(d.read(f, 0, 100000)), d.read(f, 6000, 5).decode()]
out["link_mode"] = d.lookup("/link").mode
errs = []
for p in ("/nope", "/file/x", "/link/x", "/sub/../file", "relative"):
    try:
        d.lookup(p)
        errs.append(None)
    except OSError as e:
        errs.append(compat.error_code(e))
out["errors"] = errs
try:
    d.read(d.lookup("/sub"), 0, 1)
except OSError as e:
    out["read_dir"] = compat.error_code(e)
try:
    out["readlink"] = d.readlink(d.lookup("/link"))
except OSError as e:
    out["readlink"] = compat.error_code(e)
out["identity"] = d.identity()
print(json.dumps(out))
"""


def test_dirlower_contract(tmp_path, runtime):
    make_tree(str(tmp_path))
    out = json.loads(runtime(SCRIPT % str(tmp_path)).strip().splitlines()[-1])
    names = [row[0] for row in out["root"]]
    assert names == ["fifo", "file", "hard", "link", "sub"]
    rows = dict((row[0], row) for row in out["root"])
    st = os.lstat(str(tmp_path / "file"))
    assert rows["file"][1] == st.st_mode and rows["file"][2] == 5000
    assert rows["file"][3] == 2 and rows["hard"][4] == rows["file"][4]
    assert rows["fifo"][1] & 0o170000 == 0o010000
    assert rows["sub"][1] & 0o170000 == 0o040000
    # Sorted by UTF-8 bytes: uppercase before lowercase, e-acute last.
    assert out["sub"] == ["Zed", "apple", "b", "deeper", "small",
                          "\u00e9t\u00e9"]
    assert out["read"] == ["56789", "012", 5000, ""]
    assert out["link_mode"] & 0o170000 == 0o120000
    assert out["errors"] == [2, 20, 20, 2, 2]
    assert out["read_dir"] == 21
    if runtime.name == "cpython":
        assert out["readlink"] == "sub/small"
    else:
        assert out["readlink"] == 95    # EOPNOTSUPP: no readlink there
    assert out["identity"].startswith("dir:")


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
