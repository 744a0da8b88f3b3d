"""Writing whole erase blocks of a Flash, skipping what already holds its
bytes: the agent's flash job (ovl.agent) and the demo's image writer.

Kept out of ovl.flash, which every mount imports, since a board's boot and
mount never write this way; ovl.flash.write_blocks names it.
"""

from ovl.flash import FlashRuleError


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
