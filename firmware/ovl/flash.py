"""The raw-flash interface every store and reader in ovl talks to.

A Flash has a geometry (size, erase_size, page_size, erased value) and five
operations: read, readinto, program, erase, sync.  Implementations enforce
nothing here; the simulator (simflash) enforces the medium's rules, and the
board adapters (blockdev, mtd) pass operations to real hardware.

Region is a window onto a Flash (a partition): addresses are relative and
every operation is bounds-checked against the window.

BytesSource (images in RAM or in host files) lives in ovl.flash_host,
which a board never imports; ovl.flash.BytesSource still names it.  The
simulator's power loss, PowerCut, is ovl_sim.simflash's.
"""


def __getattr__(name):
    if name == "BytesSource":
        from ovl import flash_host
        return getattr(flash_host, name)
    raise AttributeError(name)


class FlashError(OSError):
    """A flash operation failed (the medium or the driver reported it)."""


class FlashRuleError(FlashError):
    """The caller broke a rule of the medium (e.g. programmed a 0 bit to 1)."""


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
            raise ValueError("flash kind must be 'nor' or 'nand', not %r"
                             % (kind,))
        if erase_size <= 0 or size <= 0 or size % erase_size:
            raise ValueError("flash size %d is not a multiple of erase size %d"
                             % (size, erase_size))
        if page_size <= 0 or erase_size % page_size:
            raise ValueError("erase size %d is not a multiple of page size %d"
                             % (erase_size, page_size))
        self.size = size
        self.erase_size = erase_size
        self.page_size = page_size
        self.kind = kind
        self.block_count = size // erase_size

    def check_range(self, addr, n):
        if addr < 0 or n < 0 or addr + n > self.size:
            raise FlashRuleError("range 0x%x+%d outside flash of %d bytes"
                                 % (addr, n, self.size))

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
            raise ValueError("region 0x%x+0x%x is not aligned to erase size 0x%x"
                             % (offset, size, parent.erase_size))
        if offset < 0 or size <= 0 or offset + size > parent.size:
            raise ValueError("region 0x%x+0x%x outside flash of 0x%x bytes"
                             % (offset, size, parent.size))
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
            raise FlashRuleError("erase of block %d outside region of %d blocks"
                                 % (block, self.block_count))
        self.parent.erase(self.offset // self.erase_size + block)

    def sync(self):
        self.parent.sync()


def write_blocks(flash, addr, data):
    """Write `data` (whole erase blocks) at the block-aligned `addr`: each
    block that does not already hold its bytes is erased, then programmed a
    page at a time, skipping blank pages.  Returns how many blocks were
    written (a differential flash writes only what changed)."""
    erase = flash.erase_size
    page = flash.page_size
    if addr % erase or len(data) % erase:
        raise FlashRuleError("write of 0x%x+%d is not whole erase blocks"
                             % (addr, len(data)))
    blank = b"\xff" * page
    mv = memoryview(data)
    written = 0
    for off in range(0, len(data), erase):
        if flash.read(addr + off, erase) == mv[off:off + erase]:
            continue
        flash.erase((addr + off) // erase)
        for p in range(off, off + erase, page):
            chunk = bytes(mv[p:p + page])
            if chunk != blank:
                flash.program(addr + p, chunk)
        written += 1
    return written
