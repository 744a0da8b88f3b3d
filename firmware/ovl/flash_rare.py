"""ovl.flash's parts a board's mount never runs, imported at their first
use: FlashRuleError and the messages of ovl.flash's checks (a caller broke
a rule of the medium, or gave a bad geometry), and write_blocks (the
agent's firmware writes).  ovl.flash names them all (its __getattr__), so
`from ovl.flash import FlashRuleError` still works; keeping them here
keeps a class, a function and seven messages off a board's import heap.
"""

from ovl.flash import FlashError


class FlashRuleError(FlashError):
    """The caller broke a rule of the medium (e.g. programmed a 0 bit to 1)."""


# ovl.flash's failures, by its _E_ consts: (class, message)
FAILURES = (
    (ValueError, "flash kind must be 'nor' or 'nand', not %r"),
    (ValueError, "flash size %d is not a multiple of erase size %d"),
    (ValueError, "erase size %d is not a multiple of page size %d"),
    (FlashRuleError, "range 0x%x+%d outside flash of %d bytes"),
    (ValueError, "region 0x%x+0x%x is not aligned to erase size 0x%x"),
    (ValueError, "region 0x%x+0x%x outside flash of 0x%x bytes"),
    (FlashRuleError, "erase of block %d outside region of %d blocks"),
)


def error(kind, *args):
    """The exception for ovl.flash's failure `kind`, its message formatted
    with args."""
    cls, message = FAILURES[kind]
    return cls(message % args)


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
