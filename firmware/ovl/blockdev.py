"""Bridges between ovl's Flash interface and MicroPython block devices.

BlockDevFlash: a Flash over a MicroPython block device that speaks the
extended protocol (readblocks/writeblocks with a byte offset, ioctl 6 to
erase), such as esp32.Partition, rp2.Flash or pyb.Flash, so real boards run
ovl's stores.  Devices of the simple protocol erase inside writeblocks and
cannot give program-only semantics; they are refused.

FlashBlockDevice: the other direction, a block device over any Flash, so
MicroPython's own filesystems (littlefs) can be measured on the same
simulated chip as ovl's store.
"""

from ovl.flash import Flash, FlashError

# ioctl operations of MicroPython's block-device protocol
IOCTL_INIT = 1
IOCTL_DEINIT = 2
IOCTL_SYNC = 3
IOCTL_BLOCK_COUNT = 4
IOCTL_BLOCK_SIZE = 5
IOCTL_BLOCK_ERASE = 6


class BlockDevFlash(Flash):
    """A Flash over an extended-protocol MicroPython block device."""

    def __init__(self, bdev, page_size=256, kind="nor"):
        count = bdev.ioctl(IOCTL_BLOCK_COUNT, 0)
        bsize = bdev.ioctl(IOCTL_BLOCK_SIZE, 0)
        if not count or not bsize:
            raise ValueError("block device does not report its geometry"
                             " (ioctl 4 and 5)")
        Flash.__init__(self, count * bsize, bsize, min(page_size, bsize),
                       kind)
        self.bdev = bdev
        bdev.ioctl(IOCTL_INIT, 0)

    def readinto(self, addr, buf):
        self.check_range(addr, len(buf))
        bs = self.erase_size
        self.bdev.readblocks(addr // bs, buf, addr % bs)

    def program(self, addr, data):
        self.check_range(addr, len(data))
        bs = self.erase_size
        if addr // bs != (addr + len(data) - 1) // bs:
            raise FlashError("program 0x%x+%d crosses an erase block"
                             % (addr, len(data)))
        try:
            ret = self.bdev.writeblocks(addr // bs, data, addr % bs)
        except TypeError:
            raise ValueError("block device lacks the extended protocol"
                             " (writeblocks with offset)")
        if ret:
            raise FlashError("writeblocks failed (%r) at 0x%x" % (ret, addr))

    def erase(self, block):
        if block < 0 or block >= self.block_count:
            raise FlashError("erase of block %d outside %d blocks"
                             % (block, self.block_count))
        ret = self.bdev.ioctl(IOCTL_BLOCK_ERASE, block)
        if ret:
            raise FlashError("erase of block %d failed (%r)" % (block, ret))

    def sync(self):
        self.bdev.ioctl(IOCTL_SYNC, 0)


class FlashBlockDevice:
    """An extended-protocol block device over a Flash (for vfs.VfsLfs2)."""

    def __init__(self, flash):
        self.flash = flash
        self.block_size = flash.erase_size

    def readblocks(self, block_num, buf, offset=0):
        self.flash.readinto(block_num * self.block_size + offset, buf)

    def writeblocks(self, block_num, buf, offset=None):
        if offset is None:
            # simple protocol: the device erases whole blocks itself
            for i in range(len(buf) // self.block_size):
                self.flash.erase(block_num + i)
            offset = 0
        addr = block_num * self.block_size + offset
        # split at erase-block and page boundaries, as a driver would
        pos = 0
        n = len(buf)
        step = self.flash.page_size
        while pos < n:
            chunk = step - (addr + pos) % step
            if chunk > n - pos:
                chunk = n - pos
            self.flash.program(addr + pos, bytes(buf[pos:pos + chunk]))
            pos += chunk

    def ioctl(self, op, arg):
        if op == IOCTL_BLOCK_COUNT:
            return self.flash.block_count
        if op == IOCTL_BLOCK_SIZE:
            return self.block_size
        if op == IOCTL_BLOCK_ERASE:
            self.flash.erase(arg)
            return 0
        if op == IOCTL_SYNC:
            self.flash.sync()
            return 0
        if op in (IOCTL_INIT, IOCTL_DEINIT):
            return 0
        return None
