"""The MicroPython VFS adapter under the real micropython executable: the
overlay mounted with vfs.mount, driven by builtin open(), os.* and import."""

import os

import pytest

LOWER_TREE = {
    "lib/lowmod.py": b"WHERE = 'lower'\ndef twice(x):\n    return 2 * x\n",
    "etc/config": b"option=1\n",
    "etc/hosts": b"127.0.0.1 localhost\n",
}

SCRIPT = r"""
import os, sys, vfs
from ovl_sim.simflash import SimFlash
from ovl.store import LogStore
from ovl.dirlower import DirLower
from ovl.overlay import mount
from ovl.vfs import OvlVfs
from ovl.paths import S_IFMT

flash = SimFlash(1 << 19, 4096, 256)
LogStore.format(flash)
ovl = mount(DirLower(LOWER), flash)
vfs.mount(OvlVfs(ovl), "/ovl")

print("ls", sorted(os.listdir("/ovl/etc")))
print("stat", os.stat("/ovl/etc/config")[6], os.stat("/ovl/etc")[0] & S_IFMT)
print("read", repr(open("/ovl/etc/config").read()))
with open("/ovl/etc/config", "a") as f:
    f.write("added=2\n")
print("after", repr(open("/ovl/etc/config").read()))
print("layer", ovl.layer_of("/etc/config"))
os.rename("/ovl/etc/hosts", "/ovl/etc/hosts.bak")
print("renamed", sorted(os.listdir("/ovl/etc")))
os.mkdir("/ovl/app")
with open("/ovl/app/upmod.py", "w") as f:
    f.write("WHERE = 'upper'\n")
sys.path.insert(0, "/ovl/lib")
sys.path.insert(0, "/ovl/app")
import lowmod, upmod
print("import", lowmod.WHERE, lowmod.twice(21), upmod.WHERE)
# import, whole reads and writes use none of a file's rarer operations
print("fileops", "ovl.overlay.fileops" in sys.modules)
os.chdir("/ovl/app")
print("cwd", os.getcwd(), os.listdir(""))
try:
    os.stat("/ovl/nope")
except OSError as e:
    print("errno", e.errno)
try:
    os.rmdir("/ovl/etc")
except OSError as e:
    print("errno", e.errno)
os.remove("/ovl/etc/config")
print("removed", sorted(os.listdir("/ovl/etc")))
os.mkdir("/ovl/tmp")
os.rmdir("/ovl/tmp")
print("rmdir", "tmp" in os.listdir("/ovl"))
st = os.statvfs("/ovl")
print("os.statvfs", len(st), st[0] > 0 and st[2] >= st[3] > 0)
os.chdir("/")
vfs.umount("/ovl")
ovl2 = mount(DirLower(LOWER), flash)
print("remount", sorted(ovl2.listdir("/etc")), ovl2.read_bytes("/app/upmod.py"))
print("statvfs", len(ovl2.statvfs("/")))
"""


@pytest.fixture
def lower_dir(tmp_path):
    root = tmp_path / "lower"
    for rel, data in LOWER_TREE.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return str(root)


def test_vfs_under_micropython(mpy, lower_dir):
    out = mpy("LOWER = %r\n" % lower_dir + SCRIPT).splitlines()
    assert out == [
        "ls ['config', 'hosts']",
        "stat 9 16384",
        "read 'option=1\\n'",
        "after 'option=1\\nadded=2\\n'",
        "layer copied-up",
        "renamed ['config', 'hosts.bak']",
        "import lower 42 upper",
        "fileops False",
        "cwd /ovl/app ['upmod.py']",
        "errno 2",
        "errno 39",
        "removed ['hosts.bak']",
        "rmdir False",
        "os.statvfs 10 True",
        "remount ['hosts.bak'] b\"WHERE = 'upper'\\n\"",
        "statvfs 10",
    ]


def test_overlay_module_runs_on_both_runtimes(runtime, lower_dir):
    script = "LOWER = %r\n" % lower_dir + r"""
from ovl_sim.simflash import SimFlash
from ovl.store import LogStore
from ovl.dirlower import DirLower
from ovl.overlay import mount
flash = SimFlash(1 << 19, 4096, 256)
LogStore.format(flash)
o = mount(DirLower(LOWER), flash)
with o.open("/etc/config", "r+b") as f:
    f.seek(7)
    f.write(b"9")
o.rename("/lib", "/lib2")
o.link("/etc/hosts", "/hosts")
o.remove("/etc/hosts")
o = mount(DirLower(LOWER), flash)
print(o.read_bytes("/etc/config"), o.listdir("/"), o.listdir("/lib2"))
print(o.diff())
"""
    out = runtime(script).splitlines()
    assert out[0] == "b'option=9\\n' ['etc', 'hosts', 'lib2'] ['lowmod.py']"
    assert out[1] == ("[('modified', '/etc/config'), ('deleted', '/etc/hosts'), "
                      "('added', '/hosts'), ('deleted', '/lib'), "
                      "('added', '/lib2')]")


PREAMBLE = r"""
import os
from ovl_sim.simflash import SimFlash
from ovl.store import LogStore
from ovl.dirlower import DirLower
from ovl.overlay import mount
flash = SimFlash(1 << 19, 4096, 256)
LogStore.format(flash)
o = mount(DirLower(LOWER), flash)
"""


def test_vfs_text_mode_counts_characters_as_vfslfs2(mpy, lower_dir):
    out = mpy("LOWER = %r\n" % lower_dir + PREAMBLE + r"""
import vfs
from ovl.vfs import OvlVfs
vfs.mount(OvlVfs(o), "/ovl")
with open("/ovl/t", "w") as f:
    f.write("h\u00e9llo\n")
    print("w\u00f6rld", file=f)
f = open("/ovl/t")
print(repr(f.read(2)), repr(f.read(1)), repr(f.readline()), repr(f.read()))
f.close()
print([repr(line) for line in open("/ovl/t")])
print(repr(open("/ovl/t", "rb").read(2)))
""").splitlines()
    assert out == ["'h\\xe9' 'l' 'lo\\n' 'w\\xf6rld\\n'",
                   "[\"'h\\\\xe9llo\\\\n'\", \"'w\\\\xf6rld\\\\n'\"]",
                   "b'h\\xc3'"]


def test_vfs_takes_bytes_paths_as_vfslfs2(mpy, lower_dir):
    out = mpy("LOWER = %r\n" % lower_dir + PREAMBLE + r"""
import vfs
from ovl.vfs import OvlVfs
vfs.mount(OvlVfs(o), "/ovl")
print(os.stat(b"/ovl/etc/config")[6], sorted(os.listdir(b"/ovl/etc")))
print(sorted(os.listdir("/ovl/etc")))
print(sorted(os.ilistdir(b"/ovl/etc"))[0][0])
os.mkdir(b"/ovl/d")
with open(b"/ovl/d/f", "wb") as f:
    f.write(b"x")
os.rename(b"/ovl/d/f", b"/ovl/d/g")
print(open(b"/ovl/d/g").read(), os.listdir("/ovl/d"))
os.remove(b"/ovl/d/g")
os.rmdir(b"/ovl/d")
os.chdir(b"/ovl/etc")
print(os.getcwd(), sorted(os.listdir(b"")), os.stat(b"hosts")[6])
""").splitlines()
    assert out == ["9 [b'config', b'hosts']", "['config', 'hosts']",
                   "b'config'", "x ['g']", "/ovl/etc [b'config', b'hosts'] 20"]


def test_exclusive_open_never_follows_a_final_symlink(runtime, lower_dir):
    """O_CREAT|O_EXCL: EEXIST on any existing name, a dangling symlink
    included, and nothing is created where the link points."""
    out = runtime("LOWER = %r\n" % lower_dir + PREAMBLE + r"""
o.mkdir("/deep")
o.symlink("config", "/deep/x")
o.symlink("/nowhere/at/all", "/deep/abs")
o.symlink("/etc/newfile", "/deep/abs2")
for path in ("/deep/x", "/deep/abs", "/deep/abs2", "/etc/config", "/etc",
             "/deep"):
    try:
        o.open(path, "x").close()
        print(path, "created")
    except OSError as e:
        print(path, e.args[0])
print(sorted(o.listdir("/deep")), o.exists("/etc/newfile"))
with o.open("/deep/new", "x") as f:
    f.write("fresh")
print(o.read_bytes("/deep/new"))
""").splitlines()
    assert out == ["/deep/x 17", "/deep/abs 17", "/deep/abs2 17",
                   "/etc/config 17", "/etc 17", "/deep 17",
                   "['abs', 'abs2', 'x'] False", "b'fresh'"]


def test_nlink_after_a_lower_hard_link_is_removed_before_copy_up(runtime,
                                                                  tmp_path):
    """Three lower names of one file; one is removed, then another is
    written: the others count 2 links, as kernel overlayfs (index=on)."""
    low = tmp_path / "low"
    low.mkdir()
    (low / "h1").write_bytes(b"shared\n")
    os.link(str(low / "h1"), str(low / "h2"))
    os.link(str(low / "h1"), str(low / "h3"))
    out = runtime("LOWER = %r\n" % str(low) + PREAMBLE + r"""
o.remove("/h1")
print(o.stat("/h2")[3], o.stat("/h3")[3])
with o.open("/h2", "r+b") as f:
    f.write(b"S")
print(o.stat("/h2")[3], o.stat("/h3")[3], o.read_bytes("/h3"))
o.remove("/h3")
print(o.stat("/h2")[3], o.fsck())
o = mount(DirLower(LOWER), flash)
print(o.stat("/h2")[3], o.read_bytes("/h2"), sorted(o.listdir("/")), o.fsck())
o.revert("/h1")                 # the name comes back, sharing the copy
print(o.stat("/h1")[3], o.stat("/h2")[3], o.read_bytes("/h1"), o.fsck())
""").splitlines()
    assert out == ["2 2", "2 2 b'Shared\\n'", "1 []",
                   "1 b'Shared\\n' ['h2'] []", "2 2 b'Shared\\n' []"]


def test_vfs_paths_reach_the_overlay_as_given(mpy, tmp_path):
    """tests/scripts/vfs_paths.py: the VFS joins a relative path with its
    cwd and passes the rest through, so a trailing "/", a final "/." and a
    ".." after a symlink get the overlay's answers (Linux's); a read-only
    mount refuses writes itself; and the smaller points where VfsLfs2 and
    OvlVfs differed."""
    erofs = ["EROFS"] * 4
    mpy.run_checks("vfs_paths.py", {
        "stat f/": "ENOTDIR",
        "open f/": "ENOTDIR",
        "open new/ for writing": "EISDIR",
        "remove f/": "ENOTDIR",
        "rename f/": "ENOTDIR",
        "rename f to g/": "ENOTDIR",
        "stat f/.": "ENOTDIR",
        "remove f/.": "ENOTDIR",
        "rmdir d/.": "EINVAL",
        "rmdir d/./": "EINVAL",
        "rmdir d/..": "ENOTEMPTY",
        "rename e/.": "EBUSY",
        "mkdir n/.": "ENOENT",
        "mkdir d/.": "EEXIST",
        "open new/. for writing": "ENOENT",
        "open f/.. (f a file)": "ENOTDIR",
        "names left": ["alink", "d", "e", "f", "fw", "keep", "link"],
        "type of d/ and d/.": [0o40000, 0o40000],
        "rmdir d/ then": False,
        "read link/../keep": "fw",
        "read alink/../keep": "fw",
        "getcwd in link": "/ovl/fw/sub",
        "listdir . in link": ["f"],
        "read ../keep from link": "fw",
        "written ../new from link": [["alink", "e", "f", "fw", "keep", "link"],
                                     ["keep", "new", "sub"]],
        "chdir .. from link": "/ovl/fw",
        "chdir sub/": "/ovl/fw/sub",
        "read /ovl/../keep": "top",
        "chdir ../.. from /ovl/fw": "/ovl",
        "chdir f (a file)": "ENOTDIR",
        "chdir nope": "ENOENT",
        "read-only mount: open for writing": erofs,
        "read-only mount: mkdir, remove, rmdir, rename": erofs,
        "read-only mount: read, listdir, statvfs": ["top", True, 10],
        "API and writable mount while /ro is mounted": ["ok", "ok"],
        "API and writable mount after /ro": ["ok", "ok"],
        "mkfs=True keeps the files": "top",
        "ilistdir of a missing directory, not iterated": "ENOENT",
        "ilistdir of a file, not iterated": "ENOTDIR",
        "ilistdir bytes": ["keep", "new", "sub"],
        "readinto(buf, 2): count, buffer": [2, [116, 111, 0, 0, 0]],
        "readinto(buf, 9) of a 2-byte buffer: count": 2,
        "message of ENOENT": "[Errno 2] ENOENT: /nope",
        "ENOTEMPTY named once": 1,
    }, args=[str(tmp_path)])

