"""The host's side of the flash interface (ovl.flash): what tools and
tests use and a board's boot never does, kept apart so that a board's heap
holds none of it.  ovl.flash.BytesSource names it too (ovl.flash imports
this module when a caller asks for it).  The simulator's power loss,
PowerCut, is the simulator's own (ovl_sim.simflash).
"""

from ovl.flash import FlashRuleError


def geometry(flash):
    """A Flash's geometry as a dict (for reports)."""
    return {"kind": flash.kind, "size": flash.size,
            "erase_size": flash.erase_size, "page_size": flash.page_size,
            "block_count": flash.block_count, "erased": flash.erased}


class BytesSource:
    """Read-only Flash-like view of a bytes object or an open binary file.

    The SquashFS reader takes any object with read(addr, n) and size; this
    serves images held in RAM or in a host file.
    """

    def __init__(self, data_or_file, size=None):
        self._data = None
        self._file = None
        if isinstance(data_or_file, (bytes, bytearray, memoryview)):
            self._data = data_or_file
            self.size = len(data_or_file)
        else:
            self._file = data_or_file
            if size is None:
                data_or_file.seek(0, 2)
                size = data_or_file.tell()
            self.size = size

    def read(self, addr, n):
        if addr < 0 or n < 0 or addr + n > self.size:
            raise FlashRuleError("range 0x%x+%d outside source of %d bytes"
                                 % (addr, n, self.size))
        if self._data is not None:
            return bytes(self._data[addr:addr + n])
        self._file.seek(addr)
        return self._file.read(n)

    def readinto(self, addr, buf):
        buf[:] = self.read(addr, len(buf))
