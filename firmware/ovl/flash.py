"""The raw-flash interface every store and reader in ovl talks to.

A Flash has a geometry (size, erase_size, page_size, erased value) and five
operations: read, readinto, program, erase, sync.  Implementations enforce
nothing here; the simulator (simflash) enforces the medium's rules, and the
board adapters (blockdev, mtd) pass operations to real hardware.

Region is a window onto a Flash (a partition): addresses are relative and
every operation is bounds-checked against the window.

BytesSource (images in RAM or in host files) lives in ovl.flash_host,
which a board never imports; FlashRuleError, the checks' messages and
write_blocks live in ovl.flash_rare, which a board imports at their first
use (a broken rule, bad geometry, a firmware write): ovl.flash still names
them all.  The simulator's power loss, PowerCut, is ovl_sim.simflash's.
"""

from ovl.compat import const

# The failures the checks below report (flash_rare.FAILURES holds each
# one's class and message, in this order)
_E_KIND = const(0)
_E_SIZE = const(1)
_E_PAGE_SIZE = const(2)
_E_RANGE = const(3)
_E_REGION_ALIGN = const(4)
_E_REGION_RANGE = const(5)
_E_REGION_ERASE = const(6)


def __getattr__(name):
    if name == "BytesSource":
        from ovl import flash_host
        return getattr(flash_host, name)
    if name[:1] == "_":     # (__path__ and the like: nothing imported)
        raise AttributeError(name)
    from ovl import flash_rare
    return getattr(flash_rare, name)


class FlashError(OSError):
    """A flash operation failed (the medium or the driver reported it)."""


class BadBlockError(FlashError):
    """The block failed to program or erase and must be retired."""

    def __init__(self, block, what):
        super().__init__("block %d: %s failed" % (block, what))
        self.block = block


class Flash:
    """Base class and documentation of the interface.

    Attributes (all ints): size, erase_size, page_size, erased (0xFF);
    kind is "nor" or "nand".  block_count = size // erase_size
    (ovl.flash_host.geometry: all of them in a dict, for reports).

    A subclass defines readinto(addr, buf), program(addr, data) and
    erase(block) (no stubs here: a board's heap would keep a function
    for each); read(addr, n) and sync() have defaults.
    """

    kind = "nor"
    erased = 0xFF

    def __init__(self, size, erase_size, page_size, kind="nor"):
        # (a typo would otherwise format as NAND: the store programs a
        # "nor" chip in 4-byte units and any other in pages)
        if kind != "nor" and kind != "nand":
            from ovl import flash_rare
            raise flash_rare.error(_E_KIND, kind)
        if erase_size <= 0 or size <= 0 or size % erase_size:
            from ovl import flash_rare
            raise flash_rare.error(_E_SIZE, size, erase_size)
        if page_size <= 0 or erase_size % page_size:
            from ovl import flash_rare
            raise flash_rare.error(_E_PAGE_SIZE, erase_size, page_size)
        self.size = size
        self.erase_size = erase_size
        self.page_size = page_size
        self.kind = kind
        self.block_count = size // erase_size

    def check_range(self, addr, n):
        if addr < 0 or n < 0 or addr + n > self.size:
            from ovl import flash_rare
            raise flash_rare.error(_E_RANGE, addr, n, self.size)

    def read(self, addr, n):
        buf = bytearray(n)
        self.readinto(addr, buf)
        return bytes(buf)

    def sync(self):
        pass


class Region(Flash):
    """A window [offset, offset+size) of a Flash, itself a Flash.

    offset and size must be multiples of the parent's erase size, so that
    erase(block) of the region never touches a neighbour.
    """

    def __init__(self, parent, offset, size, name=None):
        if offset % parent.erase_size or size % parent.erase_size:
            from ovl import flash_rare
            raise flash_rare.error(_E_REGION_ALIGN, offset, size,
                                   parent.erase_size)
        if offset < 0 or size <= 0 or offset + size > parent.size:
            from ovl import flash_rare
            raise flash_rare.error(_E_REGION_RANGE, offset, size,
                                   parent.size)
        Flash.__init__(self, size, parent.erase_size, parent.page_size,
                       parent.kind)
        self.parent = parent
        self.offset = offset
        self.name = name
        self.erased = parent.erased

    def readinto(self, addr, buf):
        self.check_range(addr, len(buf))
        self.parent.readinto(self.offset + addr, buf)

    def program(self, addr, data):
        self.check_range(addr, len(data))
        self.parent.program(self.offset + addr, data)

    def erase(self, block):
        if block < 0 or block >= self.block_count:
            from ovl import flash_rare
            raise flash_rare.error(_E_REGION_ERASE, block, self.block_count)
        self.parent.erase(self.offset // self.erase_size + block)

    def sync(self):
        self.parent.sync()

