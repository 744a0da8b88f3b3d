"""Board adapters: MicroPython block devices and Linux MTD devices."""

import glob
import os
import struct

import pytest

from ovl import mtd
from ovl.flash import FlashError


def test_blockdev_bridge_both_ways(runtime):
    """SimFlash -> block device -> BlockDevFlash keeps the flash rules."""
    out = runtime("""
from ovl_sim.simflash import SimFlash
from ovl.flash import FlashRuleError
from ovl.blockdev import BlockDevFlash, FlashBlockDevice
sim = SimFlash(64 * 1024, 4096, 256)
flash = BlockDevFlash(FlashBlockDevice(sim), page_size=256)
print(flash.size, flash.erase_size, flash.block_count)
flash.program(4096 + 10, b'hello')
print(sim.read(4096 + 10, 5) == b'hello', flash.read(4096 + 10, 5) == b'hello')
try:
    flash.program(4096 + 10, b'world')   # would set 0 bits to 1
    print('accepted')
except FlashRuleError:
    print('refused')
flash.erase(1)
print(sim.read(4096 + 10, 5) == b'\\xff' * 5, sim.erase_counts[1])
try:
    flash.program(4090, b'0123456789')
except Exception as e:
    print(type(e).__name__)
""")
    assert out.split() == ["65536", "4096", "16", "True", "True", "refused",
                           "True", "1", "FlashError"]


def test_littlefs_runs_on_simulated_flash(mpy):
    """MicroPython's littlefs mounts on a SimFlash through FlashBlockDevice
    (the peer used by the store benchmark), and counters see its traffic."""
    out = mpy("""
import vfs, os
from ovl_sim.simflash import SimFlash
from ovl.blockdev import FlashBlockDevice
sim = SimFlash(128 * 1024, 4096, 256)
bdev = FlashBlockDevice(sim)
vfs.VfsLfs2.mkfs(bdev)
vfs.mount(vfs.VfsLfs2(bdev), '/lfs')
with open('/lfs/a.txt', 'w') as f:
    f.write('x' * 1000)
vfs.umount('/lfs')
vfs.mount(vfs.VfsLfs2(bdev), '/lfs')
print(open('/lfs/a.txt').read() == 'x' * 1000, sim.bytes_programmed > 1000,
      sim.erases > 0)
""")
    assert out.split() == ["True", "True", "True"]


def test_mtd_file_emulation(runtime, tmp_path):
    path = str(tmp_path / "mtd.bin")
    with open(path, "wb") as f:
        f.write(b"\xff" * 65536)
    out = runtime("""
from ovl.mtd import MtdFlash
f = MtdFlash(%r, erase_size=16384, ioctl=None)
print(f.emulated, f.size, f.block_count)
f.program(100, b'\\x0f\\xf0')
f.program(100, b'\\xff\\x0f')            # NOR rule: cells keep old AND new
print(f.read(100, 2) == b'\\x0f\\x00')
f.erase(0)
print(f.read(100, 2) == b'\\xff\\xff')
f.close()
try:
    MtdFlash(%r, ioctl=None)
except ValueError as e:
    print('needs-erase-size')
""" % (path, path))
    assert out.split() == ["True", "65536", "4", "True", "True", "needs-erase-size"]


class FakeMtdIoctl:
    """Answers MEMGETINFO/MEMERASE as the kernel would, over a plain file."""

    def __init__(self, path, erasesize, writesize, mtd_type=mtd.MTD_NANDFLASH):
        self.path = path
        self.erasesize = erasesize
        self.writesize = writesize
        self.type = mtd_type
        self.erased = []

    def __call__(self, fd, request, arg):
        if request == mtd.MEMGETINFO:
            assert len(arg) == 32
            size = os.path.getsize(self.path)
            return struct.pack("<B3xIIIIIQ", self.type, 0, size, self.erasesize,
                               self.writesize, 64, 0)
        if request == mtd.MEMERASE:
            start, length = struct.unpack("<II", arg)
            assert length == self.erasesize and start % self.erasesize == 0
            self.erased.append(start)
            os.pwrite(fd, b"\xff" * length, start)
            return arg
        raise OSError(25, "ENOTTY")


def test_mtd_ioctls_encoded_as_linux_expects(tmp_path):
    assert mtd.MEMGETINFO == 0x80204D01 and mtd.MEMERASE == 0x40084D02
    path = str(tmp_path / "nand.bin")
    with open(path, "wb") as f:
        f.write(b"\x00" * (4 * 131072))
    fake = FakeMtdIoctl(path, 131072, 2048)
    flash = mtd.MtdFlash(path, ioctl=fake)
    assert not flash.emulated
    assert (flash.kind, flash.size, flash.erase_size, flash.page_size) == \
        ("nand", 4 * 131072, 131072, 2048)
    flash.erase(2)
    assert fake.erased == [2 * 131072]
    assert flash.read(2 * 131072, 4) == b"\xff" * 4
    with pytest.raises(FlashError):
        flash.erase(4)


def test_plain_file_without_ioctl_support(tmp_path):
    """The real fcntl.ioctl on a regular file fails with ENOTTY: fallback."""
    path = str(tmp_path / "plain.bin")
    with open(path, "wb") as f:
        f.write(b"\xff" * 8192)
    flash = mtd.MtdFlash(path, erase_size=4096)
    assert flash.emulated and flash.block_count == 2


def test_real_mtd_device_if_present():
    devices = sorted(glob.glob("/dev/mtd[0-9]*"))
    devices = [d for d in devices if not d.endswith("ro")]
    if not devices:
        pytest.skip("no /dev/mtdN on this machine (kernel without MTD/mtdram): "
                    "the ioctl path is covered by test_mtd_ioctls_encoded_as_linux_expects")
    flash = mtd.MtdFlash(devices[0])
    assert flash.size > 0 and flash.size % flash.erase_size == 0
    assert len(flash.read(0, 16)) == 16
