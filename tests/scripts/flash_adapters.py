"""Board adapters on a runtime: run by tests/test_flash_adapters.py with
the case as argv[1] (and a file path as argv[2] where it needs one); the
last line is the labelled results."""
import sys

from checklib import outcome, report
from ovl_sim.simflash import SimFlash


def blockdev_bridge(r):
    """SimFlash -> block device -> BlockDevFlash keeps the flash rules."""
    from ovl.blockdev import BlockDevFlash, FlashBlockDevice
    sim = SimFlash(64 * 1024, 4096, 256)
    flash = BlockDevFlash(FlashBlockDevice(sim), page_size=256)
    r["geometry [size, erase_size, block_count]"] = [
        flash.size, flash.erase_size, flash.block_count]
    flash.program(4096 + 10, b"hello")
    r["program reaches the chip"] = sim.read(4096 + 10, 5) == b"hello"
    r["read back through the bridge"] = flash.read(4096 + 10, 5) == b"hello"
    # would set 0 bits to 1
    r["program over programmed bytes"] = outcome(flash.program, 4096 + 10,
                                                 b"world")
    flash.erase(1)
    r["erase reaches the chip"] = sim.read(4096 + 10, 5) == b"\xff" * 5
    r["chip erase count of block 1"] = sim.erase_counts[1]
    r["program crossing a block end"] = outcome(flash.program, 4090,
                                                b"0123456789")
    # only "nor" and "nand" exist: anything else is refused, never taken
    # for NAND (the store would program it in pages)
    r["kind typo refused"] = outcome(BlockDevFlash, FlashBlockDevice(sim),
                                     256, "NOR")
    r["kind of a nand bridge"] = BlockDevFlash(FlashBlockDevice(sim), 256,
                                               "nand").kind


def littlefs(r):
    """MicroPython's littlefs mounts on a SimFlash through FlashBlockDevice
    (the peer used by the store benchmark); counters see its traffic."""
    import vfs
    from ovl.blockdev import FlashBlockDevice
    sim = SimFlash(128 * 1024, 4096, 256)
    bdev = FlashBlockDevice(sim)
    vfs.VfsLfs2.mkfs(bdev)
    vfs.mount(vfs.VfsLfs2(bdev), "/lfs")
    with open("/lfs/a.txt", "w") as f:
        f.write("x" * 1000)
    vfs.umount("/lfs")
    vfs.mount(vfs.VfsLfs2(bdev), "/lfs")
    r["file reads back after a remount"] = \
        open("/lfs/a.txt").read() == "x" * 1000
    r["bytes programmed exceed the file"] = sim.bytes_programmed > 1000
    r["erases counted"] = sim.erases > 0


def mtd_emulation(r, path):
    from ovl.mtd import MtdFlash
    f = MtdFlash(path, erase_size=16384, ioctl=None)
    r["emulated"] = f.emulated
    r["geometry [size, block_count]"] = [f.size, f.block_count]
    f.program(100, b"\x0f\xf0")
    f.program(100, b"\xff\x0f")         # NOR rule: cells keep old AND new
    r["second program ANDs with the first"] = f.read(100, 2) == b"\x0f\x00"
    f.erase(0)
    r["erase sets every bit"] = f.read(100, 2) == b"\xff\xff"
    f.close()
    r["a plain file without erase_size"] = outcome(
        lambda: MtdFlash(path, ioctl=None))
    r["an emulation of kind 'nandd'"] = outcome(
        lambda: MtdFlash(path, erase_size=16384, ioctl=None, kind="nandd"))


results = {}
globals()[sys.argv[1]](results, *sys.argv[2:])
report(results)
