"""A Flash over a Linux MTD character device (/dev/mtdN), for embedded Linux.

Geometry comes from the MEMGETINFO ioctl and erase uses MEMERASE.  Where the
ioctls are unavailable (a plain file standing in for the device, or a
runtime without fcntl such as the MicroPython unix port), the geometry must
be given and the file behaves like NOR flash: erase writes 0xFF and program
stores old AND new, as the chip would.
"""

import struct

from ovl.flash import Flash, FlashError

# struct mtd_info_user { u8 type; u32 flags; u32 size; u32 erasesize;
#                        u32 writesize; u32 oobsize; u64 padding; }
# With C alignment the u32 fields start at offset 4 and the struct is 32 bytes.
MTD_INFO_SIZE = 32
# struct erase_info_user { u32 start; u32 length; }
ERASE_INFO_FORMAT = "<II"

MTD_NORFLASH = 3
MTD_NANDFLASH = 4
MTD_MLCNANDFLASH = 8


def _ioc(direction, kind, nr, size):
    return (direction << 30) | (size << 16) | (ord(kind) << 8) | nr


MEMGETINFO = _ioc(2, "M", 1, MTD_INFO_SIZE)        # _IOR('M', 1, mtd_info_user)
MEMERASE = _ioc(1, "M", 2, 8)                      # _IOW('M', 2, erase_info_user)


def parse_mtd_info(raw):
    """(kind, size, erase_size, write_size) from a mtd_info_user buffer."""
    mtd_type, = struct.unpack_from("<B", raw, 0)
    flags, size, erasesize, writesize, oobsize = struct.unpack_from("<IIIII", raw, 4)
    if mtd_type in (MTD_NANDFLASH, MTD_MLCNANDFLASH):
        kind = "nand"
    else:
        kind = "nor"
    return kind, size, erasesize, max(writesize, 1)


def system_ioctl():
    """fcntl.ioctl where the runtime has it, else None."""
    try:
        import fcntl
        return fcntl.ioctl
    except ImportError:
        return None


class MtdFlash(Flash):
    """Flash on /dev/mtdN (or a plain file standing in for one).

    ioctl: a function like fcntl.ioctl(fd, request, buf) -> bytes; tests pass
    a fake to check the request encoding; None means "use the file emulation".
    """

    def __init__(self, path, size=None, erase_size=None, page_size=None,
                 ioctl="system", kind="nor"):
        if ioctl == "system":
            ioctl = system_ioctl()
        self.path = path
        # unbuffered: a program reaches the device before program() returns
        # (a killed process is a power cut after its last program), and a
        # read never comes from a buffer older than a MEMERASE
        self.file = open(path, "r+b", buffering=0)
        self._ioctl = ioctl
        self.emulated = True
        geometry = None
        if ioctl is not None:
            try:
                raw = ioctl(self.file.fileno(), MEMGETINFO, bytes(MTD_INFO_SIZE))
                geometry = parse_mtd_info(raw)
                self.emulated = False
            except OSError:
                geometry = None   # ENOTTY: a plain file
        if geometry is None:
            if size is None:
                self.file.seek(0, 2)
                size = self.file.tell()
            if not erase_size:
                self.file.close()
                raise ValueError("%s is not an MTD device: give the erase size"
                                 % path)
            # the emulation applies the NOR cell rule to either kind; kind
            # only tells the store how the chip wants to be programmed
            page_size = page_size or 1
        else:
            kind, size, erase_size, write_size = geometry
            page_size = page_size or write_size
        try:
            Flash.__init__(self, size, erase_size, page_size, kind)
        except ValueError:
            self.file.close()       # (a bad geometry or kind)
            raise

    def close(self):
        self.file.close()

    def readinto(self, addr, buf):
        self.check_range(addr, len(buf))
        self.file.seek(addr)
        data = self.file.read(len(buf))
        if len(data) != len(buf):
            raise FlashError("short read at 0x%x from %s" % (addr, self.path))
        buf[:] = data

    def program(self, addr, data):
        self.check_range(addr, len(data))
        if self.emulated:
            # a file has no cells: apply the NOR rule (old AND new) ourselves
            old = self.read(addr, len(data))
            if old != b"\xff" * len(old):   # erased cells take data as is
                data = bytes(a & b for a, b in zip(old, data))
        self.file.seek(addr)
        self._write_all(data)

    def _write_all(self, data):
        view = memoryview(data)
        while len(view):
            n = self.file.write(view)
            if not n:
                raise FlashError("write to %s made no progress" % self.path)
            view = view[n:]

    def erase(self, block):
        if block < 0 or block >= self.block_count:
            raise FlashError("erase of block %d outside %d blocks"
                             % (block, self.block_count))
        start = block * self.erase_size
        if self.emulated:
            self.file.seek(start)
            self._write_all(b"\xff" * self.erase_size)
            return
        req = struct.pack(ERASE_INFO_FORMAT, start, self.erase_size)
        try:
            self._ioctl(self.file.fileno(), MEMERASE, req)
        except OSError as e:
            raise FlashError("MEMERASE of block %d on %s failed: %s"
                             % (block, self.path, e))

    def sync(self):
        self.file.flush()
