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
from ovl.simflash import SimFlash
from ovl.logstore import LogStore
from ovl.dirlower import DirLower
from ovl.overlay import mount
from ovl.vfs import OvlVfs

flash = SimFlash(1 << 19, 4096, 256)
LogStore.format(flash)
ovl = mount(DirLower(LOWER), flash)
vfs.mount(OvlVfs(ovl), "/ovl")

print("ls", sorted(os.listdir("/ovl/etc")))
print("stat", os.stat("/ovl/etc/config")[6], os.stat("/ovl/etc")[0] & 0o170000)
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
        "cwd /ovl/app ['upmod.py']",
        "errno 2",
        "errno 39",
        "removed ['hosts.bak']",
        "remount ['hosts.bak'] b\"WHERE = 'upper'\\n\"",
        "statvfs 10",
    ]


def test_overlay_module_runs_on_both_runtimes(runtime, lower_dir):
    script = "LOWER = %r\n" % lower_dir + r"""
from ovl.simflash import SimFlash
from ovl.logstore import LogStore
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
