"""What `ovl mount` needs from the device package, on both runtimes:
Overlay.rdev, utime of a symlink itself, and MtdFlash writing each program
and erase through to its file (a killed server is a power cut)."""


def test_rdev_and_symlink_utime(runtime, tmp_path):
    out = runtime(r"""
from ovl_sim.simflash import SimFlash
from ovl.store import LogStore
from ovl.dirlower import DirLower
from ovl.overlay import mount
flash = SimFlash(1 << 19, 4096, 256)
LogStore.format(flash)
o = mount(DirLower(%r), flash)
o.mknod("/null", 0o020644, 0x103)
o.write_bytes("/f", b"x")
o.symlink("/f", "/l")
o.utime("/f", (1000, 1000))
o.utime("/l", (5, 5), follow=False)
o = mount(DirLower(%r), flash)
print(o.rdev("/null"), o.rdev("/f"), o.lstat("/l")[8], o.stat("/l")[8])
""" % (str(tmp_path), str(tmp_path)))
    assert out.split() == ["259", "0", "5", "1000"]


def test_mtd_emulation_writes_through_and_keeps_the_kind(runtime, tmp_path):
    path = str(tmp_path / "nand.img")
    with open(path, "wb") as f:
        f.write(b"\xff" * 65536)
    out = runtime(r"""
from ovl.mtd import MtdFlash
f = MtdFlash(%r, 65536, 16384, 2048, ioctl=None, kind="nand")
f.program(20000, b"\x12\x34")
with open(%r, "rb") as g:      # another reader sees it at once
    data = g.read()
f.erase(1)
with open(%r, "rb") as g:
    after = g.read()
print(f.kind, f.page_size, data[20000:20002] == b"\x12\x34",
      after[20000:20002] == b"\xff\xff")
""" % (path, path, path))
    assert out.split() == ["nand", "2048", "True", "True"]
