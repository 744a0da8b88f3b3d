"""Board adapters: MicroPython block devices and Linux MTD devices."""

import glob
import os
import struct

import pytest

from ovl import mtd
from ovl.flash import FlashError

SCRIPT = "flash_adapters.py"


def test_blockdev_bridge_both_ways(runtime):
    """SimFlash -> block device -> BlockDevFlash keeps the flash rules."""
    runtime.run_checks(SCRIPT, {
        "geometry [size, erase_size, block_count]": [65536, 4096, 16],
        "program reaches the chip": True,
        "read back through the bridge": True,
        "program over programmed bytes": "FlashRuleError",
        "erase reaches the chip": True,
        "chip erase count of block 1": 1,
        "program crossing a block end": "FlashError",
        "kind typo refused": "ValueError",
        "kind of a nand bridge": "nand",
    }, args=["blockdev_bridge"])


def test_littlefs_runs_on_simulated_flash(mpy):
    """MicroPython's littlefs mounts on a SimFlash through FlashBlockDevice
    (the peer used by the store benchmark), and counters see its traffic."""
    mpy.run_checks(SCRIPT, {
        "file reads back after a remount": True,
        "bytes programmed exceed the file": True,
        "erases counted": True,
    }, args=["littlefs"])


def test_mtd_file_emulation(runtime, tmp_path):
    path = str(tmp_path / "mtd.bin")
    with open(path, "wb") as f:
        f.write(b"\xff" * 65536)
    runtime.run_checks(SCRIPT, {
        "emulated": True,
        "geometry [size, block_count]": [65536, 4],
        "second program ANDs with the first": True,
        "erase sets every bit": True,
        "a plain file without erase_size": "ValueError",
        "an emulation of kind 'nandd'": "ValueError",
    }, args=["mtd_emulation", path])


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
